package localaws

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// DefaultAccount is the account moto (and the filler) assume when a request names none.
const DefaultAccount = "123456789012"

const (
	defaultRegion   = "us-east-1"
	motoAccountHdr  = "x-moto-account-id"
	maxRequestBody  = 8 << 20
	motoCallTimeout = 10 * time.Second
)

// Filler is the gap-filling front: an http.Handler that answers what moto does not model and
// forwards everything else to moto. One mutex guards its state; moto is never called while it
// is held.
type Filler struct {
	moto   *url.URL
	proxy  *httputil.ReverseProxy
	client *http.Client

	mu         sync.Mutex
	staticKeys map[string]keyHolder // access key ID -> holder (MapAccessKey, MapAccessKeyPrincipal)
	learned    map[string]keyHolder // access key ID -> holder learned from moto's answers
	images     map[string]*image
	snapshots  map[string]*snapshot
	instances  map[string]*instance
	order      []string // image IDs in creation order, for stable listings
	instOrder  []string
	autoCopies bool
	syncCopies bool
	checkIAM   bool
	// ebsDefaults: account/region -> the key ModifyEbsDefaultKmsKeyId set (ebsdefault.go).
	ebsDefaults map[string]string
	// groupRoles: account/region/group -> the ServiceLinkedRoleARN CreateAutoScalingGroup named
	// (autoscaling.go).
	groupRoles map[string]string
	log        io.Writer // one line per request when set (SetLog, LOCALAWS_LOG=1)
	events     []json.RawMessage
	trail      []json.RawMessage // CloudTrail records of calls the filler did not see (RecordTrail)

	optedIn        map[string]bool // account/region: opt-in regions enabled (account.go)
	accountManager string          // the account that may list other accounts' regions
	requireRoles   bool            // AssumeRole of a missing role is refused (assumerole.go)

	dynamoWriting sync.Mutex // DynamoDB writes one at a time (dynamodb.go); not fi.mu
}

// keyHolder is who an access key belongs to.
type keyHolder struct {
	account     string
	principal   string // IAM ARN of the role or user, when known
	sessionARN  string // STS assumed-role session ARN, for role sessions
	principalID string
}

// NewFiller returns a filler that forwards to the moto_server at motoURL.
func NewFiller(motoURL string) (*Filler, error) {
	u, err := url.Parse(motoURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("filler: bad moto URL %q", motoURL)
	}
	f := &Filler{}
	f.moto = u
	// Loopback to one host: keep enough idle connections for many concurrent callers (the
	// default transport keeps 2 and would re-dial for every other request).
	transport := &http.Transport{Proxy: nil, MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	f.client = &http.Client{Timeout: motoCallTimeout, Transport: transport}
	f.proxy = &httputil.ReverseProxy{
		Transport: transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = u.Host
		},
		ModifyResponse: f.learnFromResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "filler: moto unreachable: "+err.Error(), http.StatusBadGateway)
		},
	}
	f.resetState()
	if os.Getenv("LOCALAWS_LOG") != "" {
		f.log = os.Stderr
	}
	return f, nil
}

// SetLog makes the filler write one line per request (account, region, service, action,
// status, duration) to w; nil turns it off. LOCALAWS_LOG=1 in the environment logs to stderr.
func (f *Filler) SetLog(w io.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = w
}

// statusWriter remembers the status code for the request log; it keeps http.Hijacker and
// http.Flusher reachable through Unwrap (http.ResponseController).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (fi *Filler) resetState() {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if fi.staticKeys == nil {
		fi.staticKeys = map[string]keyHolder{}
	}
	fi.events = nil
	fi.trail = nil
	fi.learned = map[string]keyHolder{}
	fi.images = map[string]*image{}
	fi.snapshots = map[string]*snapshot{}
	fi.instances = map[string]*instance{}
	fi.ebsDefaults = map[string]string{}
	fi.groupRoles = map[string]string{}
	fi.order = nil
	fi.instOrder = nil
	fi.optedIn = map[string]bool{}
}

// Reset forgets every modeled image, snapshot and instance and every learned access key.
// Static mappings (MapAccessKey) are kept.
func (f *Filler) Reset() { f.resetState() }

// MapAccessKey makes requests signed with accessKeyID count as account's (in the filler, and in
// moto: the filler adds x-moto-account-id when it forwards them).
func (f *Filler) MapAccessKey(accessKeyID, account string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.staticKeys[accessKeyID] = keyHolder{account: account}
}

// MapAccessKeyPrincipal is MapAccessKey for a key that belongs to an IAM role or user
// (arn:aws:iam::ACCOUNT:role/NAME or :user/NAME): the account comes from the ARN, key-policy
// checks also match the ARN, and recorded events name it (a role as an assumed-role session
// "localaws"). It reports false when principalARN is not such an ARN.
func (f *Filler) MapAccessKeyPrincipal(accessKeyID, principalARN string) bool {
	account := arnAccount(principalARN)
	parts := splitARN(principalARN)
	if account == "" || parts[2] != "iam" || !(strings.HasPrefix(parts[5], "role/") || strings.HasPrefix(parts[5], "user/")) {
		return false
	}
	h := keyHolder{account: account, principal: principalARN}
	if strings.HasPrefix(parts[5], "role/") {
		h.sessionARN = "arn:aws:sts::" + account + ":assumed-role/" + lastPathPart(parts[5]) + "/localaws"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.staticKeys[accessKeyID] = h
	return true
}

func lastPathPart(s string) string { return s[strings.LastIndex(s, "/")+1:] }

// AccountOf returns the account the filler attributes to an access key ID, and whether it knows it.
func (f *Filler) AccountOf(accessKeyID string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if h, ok := f.staticKeys[accessKeyID]; ok {
		return h.account, true
	}
	h, ok := f.learned[accessKeyID]
	return h.account, ok
}

// call is what the filler knows about one incoming request.
type call struct {
	account   string
	region    string
	service   string // from the SigV4 credential scope: ec2, kms, sts, iam, ...
	accessKey string
	principal string
	holder    keyHolder // who the access key belongs to, when known
	userAgent string
	action    string     // query protocol Action
	target    string     // JSON protocol X-Amz-Target
	params    url.Values // query protocol parameters (form body + URL query)
	body      []byte
	bodyRead  bool // body holds the whole request body (query protocol)
	static    bool // the account came from a static access-key mapping
}

var credentialRE = regexp.MustCompile(`Credential=([^/,\s]+)/[^/]*/([^/]*)/([^/]*)/`)

func (fi *Filler) parseCall(r *http.Request) (*call, error) {
	c := &call{region: defaultRegion, target: r.Header.Get("X-Amz-Target")}
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
		c.accessKey, c.region, c.service = m[1], m[2], m[3]
		if c.region == "" {
			c.region = defaultRegion
		}
	}
	c.params = r.URL.Query()
	// Only query-protocol bodies are read (they carry Action and its parameters); anything else
	// streams to moto untouched.
	if c.target == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		if len(body) > maxRequestBody {
			return nil, fmt.Errorf("query request body over %d bytes", maxRequestBody)
		}
		r.Body.Close()
		c.body, c.bodyRead = body, true
		if form, err := url.ParseQuery(string(body)); err == nil {
			for k, v := range form {
				c.params[k] = append(c.params[k], v...)
			}
		}
	}
	c.action = c.params.Get("Action")

	fi.mu.Lock()
	defer fi.mu.Unlock()
	switch {
	case r.Header.Get(motoAccountHdr) != "":
		c.account = r.Header.Get(motoAccountHdr)
	case c.accessKey != "" && fi.staticKeys[c.accessKey].account != "":
		c.account, c.static = fi.staticKeys[c.accessKey].account, true
	case c.accessKey != "" && fi.learned[c.accessKey].account != "":
		c.account = fi.learned[c.accessKey].account
	default:
		c.account = DefaultAccount
	}
	if h, ok := fi.staticKeys[c.accessKey]; ok && h.account == c.account {
		c.holder = h
	} else if h, ok := fi.learned[c.accessKey]; ok && h.account == c.account {
		c.holder = h
	}
	c.principal = c.holder.principal
	c.userAgent = r.Header.Get("User-Agent")
	return c, nil
}

type callKey struct{}

// ServeHTTP implements http.Handler: modeled EC2 actions are answered here, everything else goes
// to moto unchanged (plus x-moto-account-id for statically mapped access keys).
func (f *Filler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := f.parseCall(r)
	if err != nil {
		http.Error(w, "filler: "+err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	logTo := f.log
	f.mu.Unlock()
	if logTo != nil {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		w = sw
		defer func() {
			name := c.action
			if c.target != "" {
				name = c.target
			}
			fmt.Fprintf(logTo, "localaws %s %s %s %s -> %d in %s\n", c.account, c.region, c.service, name, sw.status, time.Since(start).Round(time.Millisecond))
		}()
	}
	if c.isEC2() && f.serveEC2(w, r, c) {
		return
	}
	if strings.HasPrefix(c.target, "TrentService.") && f.serveKMS(w, r, c) {
		return
	}
	if c.service == "autoscaling" && c.target == "" && f.serveAutoScaling(w, r, c) {
		return
	}
	if isLookupEvents(c) {
		f.lookupEvents(w, r, c)
		return
	}
	if isStackResourcesByPhysicalID(c) {
		f.describeStackResourcesByPhysicalID(w, r, c)
		return
	}
	if isListRegions(c, r) {
		f.listRegions(w, r, c)
		return
	}
	if f.refusesAssumeRole(r.Context(), w, c) {
		return
	}
	if isDynamoDBWrite(c) {
		f.dynamoWriting.Lock()
		defer f.dynamoWriting.Unlock()
	}
	f.forward(w, r, c)
}

func (c *call) isEC2() bool {
	if c.target != "" || c.action == "" {
		return false
	}
	return c.service == "ec2" || (c.service == "" && c.params.Get("Version") == "2016-11-15")
}

// forward sends the request to moto as it came, with its original body.
func (fi *Filler) forward(w http.ResponseWriter, r *http.Request, c *call) {
	if c.bodyRead {
		r.Body = io.NopCloser(bytes.NewReader(c.body))
		r.ContentLength = int64(len(c.body))
	}
	if c.static {
		r.Header.Set(motoAccountHdr, c.account)
	}
	r = r.WithContext(context.WithValue(r.Context(), callKey{}, c))
	fi.proxy.ServeHTTP(w, r)
}

// learnFromResponse records which account (and principal) the access keys moto hands out belong
// to, so that later requests signed with them are attributed as moto attributes them.
func (fi *Filler) learnFromResponse(resp *http.Response) error {
	c, _ := resp.Request.Context().Value(callKey{}).(*call)
	if c == nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	if c.target == "TrentService.DescribeKey" {
		return fi.fixKeyManager(resp)
	}
	if c.target != "" {
		return nil
	}
	var learn func(body []byte)
	switch c.action {
	case "AssumeRole":
		roleARN := c.params.Get("RoleArn")
		account := arnAccount(roleARN)
		if account == "" {
			return nil
		}
		learn = func(body []byte) {
			var out struct {
				AccessKeyID string `xml:"AssumeRoleResult>Credentials>AccessKeyId"`
				SessionARN  string `xml:"AssumeRoleResult>AssumedRoleUser>Arn"`
				RoleID      string `xml:"AssumeRoleResult>AssumedRoleUser>AssumedRoleId"`
			}
			if xml.Unmarshal(body, &out) == nil && out.AccessKeyID != "" {
				fi.remember(out.AccessKeyID, keyHolder{account: account, principal: roleARN, sessionARN: out.SessionARN, principalID: out.RoleID})
			}
		}
	case "CreateAccessKey":
		account := c.account
		learn = func(body []byte) {
			var out struct {
				UserName    string `xml:"CreateAccessKeyResult>AccessKey>UserName"`
				AccessKeyID string `xml:"CreateAccessKeyResult>AccessKey>AccessKeyId"`
			}
			if xml.Unmarshal(body, &out) == nil && out.AccessKeyID != "" {
				fi.remember(out.AccessKeyID, keyHolder{account: account, principal: "arn:aws:iam::" + account + ":user/" + out.UserName})
			}
		}
	default:
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read %s response: %w", c.action, err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	learn(body)
	return nil
}

func (fi *Filler) remember(accessKeyID string, h keyHolder) {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	fi.learned[accessKeyID] = h
}

// arnAccount returns the account field of an ARN ("" if s is not an ARN with one).
func arnAccount(s string) string {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) < 6 || parts[0] != "arn" || !isAccountID(parts[4]) {
		return ""
	}
	return parts[4]
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

var customerManagerRE = regexp.MustCompile(`"KeyManager":\s*"CUSTOMER"`)

// fixKeyManager corrects moto's DescribeKey answer for AWS managed keys (alias/aws/...), which
// moto reports as KeyManager CUSTOMER. Only those bytes change.
func (fi *Filler) fixKeyManager(resp *http.Response) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("read DescribeKey response: %w", err)
	}
	var out struct {
		KeyMetadata keyMetadata `json:"KeyMetadata"`
	}
	if customerManagerRE.Match(body) && json.Unmarshal(body, &out) == nil &&
		fi.isAWSManagedKey(resp.Request.Context(), out.KeyMetadata.Arn) {
		body = customerManagerRE.ReplaceAll(body, []byte(`"KeyManager": "AWS"`))
		resp.Header.Del("Content-Length")
		resp.ContentLength = int64(len(body))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return nil
}
