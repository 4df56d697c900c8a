package remediate

// Harness for the guardrail, fault, concurrency and redelivery tests: a recording
// handler in front of the local AWS that sees every request the remediator really sends, and the
// checks every recorded key-policy write must pass whatever the input.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// keyWrite is one PutKeyPolicy request as it reached the local AWS.
type keyWrite struct {
	KeyID  string
	Policy string
	// Bypass is the BypassPolicyLockoutSafetyCheck member exactly as sent; nil when absent.
	Bypass json.RawMessage
	Status int // the local AWS's answer (0 while in flight)
}

// awsRecorder forwards to the local AWS and records what passes: a request count and every
// PutKeyPolicy body. afterPut, when set, runs after a PutKeyPolicy was answered (to play a
// writer outside this process).
type awsRecorder struct {
	proxy    *httputil.ReverseProxy
	URL      string
	afterPut func(w keyWrite)

	mu       sync.Mutex
	requests int
	writes   []keyWrite
}

// newRecorder serves a recorder in front of target (the local AWS, or another proxy).
func newRecorder(t *testing.T, target string) *awsRecorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &awsRecorder{proxy: &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = u.Host
	}}}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (r *awsRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.requests++
	r.mu.Unlock()
	if req.Header.Get("X-Amz-Target") != "TrentService.PutKeyPolicy" {
		r.proxy.ServeHTTP(w, req)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	var in map[string]json.RawMessage
	_ = json.Unmarshal(body, &in)
	kw := keyWrite{Bypass: in["BypassPolicyLockoutSafetyCheck"]}
	_ = json.Unmarshal(in["KeyId"], &kw.KeyID)
	_ = json.Unmarshal(in["Policy"], &kw.Policy)
	// Recorded in arrival order (before forwarding): writes to one key are serialised by the
	// remediator, so arrival order is the order KMS applied them.
	r.mu.Lock()
	i := len(r.writes)
	r.writes = append(r.writes, kw)
	r.mu.Unlock()
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	r.proxy.ServeHTTP(sw, req)
	r.mu.Lock()
	r.writes[i].Status = sw.status
	kw = r.writes[i]
	r.mu.Unlock()
	if r.afterPut != nil {
		r.afterPut(kw)
	}
}

// Writes returns the PutKeyPolicy requests recorded so far.
func (r *awsRecorder) Writes() []keyWrite {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]keyWrite(nil), r.writes...)
}

// Requests is how many requests reached the recorder.
func (r *awsRecorder) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// acceptedWrites counts the PutKeyPolicy requests KMS accepted, by key.
func acceptedWrites(ws []keyWrite) map[string]int {
	out := map[string]int{}
	for _, w := range ws {
		if w.Status == http.StatusOK {
			out[w.KeyID]++
		}
	}
	return out
}

// newRemediatorOn builds a remediator like newRemediator, whose AWS clients talk to endpoint (a
// recorder or a fault proxy) with the SDK's standard retryer bounded to attempts.
func newRemediatorOn(t *testing.T, s setup, endpoint string, attempts int, opts ...Option) (*Remediator, *scenario.AlertSink) {
	t.Helper()
	needsLocalAWS(t)
	cfg := config.Config{Mode: s.mode, TrustedAccountIDs: append([]string{}, s.trusted...), MemberRoleName: scenario.MemberRoleName,
		IAMPolicyName: config.DefaultIAMPolicyName, LogLevel: "debug"}
	if cfg.Mode == "" {
		cfg.Mode = config.ModeAlert
	}
	sort.Strings(cfg.TrustedAccountIDs)
	var sink *scenario.AlertSink
	if s.alerts {
		var err error
		sink, err = world.NewAlertSink(context.Background(), fmt.Sprintf("alerts-g-%d", sinkSeq.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		cfg.AlertTopicARN = sink.TopicARN
	}
	base := scenario.Config(endpoint, "", attempts)
	return New(cfg, awsapi.NewClients(base, cfg.MemberRoleName, ""), newRemediatorLog(t), append([]Option{WithKeySettle(0)}, opts...)...), sink
}

// newRemediatorLog logs to the test's output with -v, and nowhere otherwise.
func newRemediatorLog(t *testing.T) zerolog.Logger {
	var logw io.Writer = io.Discard
	if testing.Verbose() {
		logw = zerolog.NewTestWriter(t)
	}
	return zerolog.New(logw)
}

// sqsRecords wraps bodies as the SQS records Lambda delivers, with the given message IDs.
func sqsRecords(t *testing.T, ids []string, bodies [][]byte) []byte {
	t.Helper()
	type rec struct {
		MessageID      string `json:"messageId"`
		ReceiptHandle  string `json:"receiptHandle"`
		Body           string `json:"body"`
		EventSource    string `json:"eventSource"`
		EventSourceARN string `json:"eventSourceARN"`
		AWSRegion      string `json:"awsRegion"`
	}
	recs := make([]rec, 0, len(bodies))
	for i, b := range bodies {
		recs = append(recs, rec{MessageID: ids[i], ReceiptHandle: "rh-" + ids[i], Body: string(b), EventSource: "aws:sqs",
			EventSourceARN: "arn:aws:sqs:us-east-1:111122223333:ami-kms-remediator-events", AWSRegion: "us-east-1"})
	}
	raw, err := json.Marshal(map[string]any{"Records": recs})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// invokeSQS runs an SQS batch through the Lambda handler and returns its answer.
func invokeSQS(t *testing.T, ctx context.Context, rm *Remediator, raw []byte) SQSResponse {
	t.Helper()
	out, err := rm.Invoke(ctx, raw)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	resp, ok := out.(SQSResponse)
	if !ok {
		t.Fatalf("SQS invocation answered %T", out)
	}
	return resp
}

// imagesOnKey registers n more AMIs in Owner whose one snapshot is encrypted with keyARN (one
// snapshot, shared by all: the gap filler models each image's block devices), each shared with
// the matching account of shareWith ("" for none).
func imagesOnKey(t *testing.T, keyARN string, shareWith []string) []string {
	t.Helper()
	ctx := context.Background()
	snap, err := world.EncryptedSnapshot(ctx, scenario.Owner, scenario.Region, keyARN)
	if err != nil {
		t.Fatal(err)
	}
	cl := world.EC2(scenario.Owner, scenario.Region)
	var out []string
	for _, acct := range shareWith {
		img, err := cl.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String(fmt.Sprintf("guard-%d", fixtureSeq.Add(1))),
			Architecture: ec2types.ArchitectureValuesX8664, RootDeviceName: aws.String("/dev/xvda"), VirtualizationType: aws.String("hvm"),
			BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"),
				Ebs: &ec2types.EbsBlockDevice{SnapshotId: aws.String(snap), VolumeType: ec2types.VolumeTypeGp3}}}})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(img.ImageId)
		if acct != "" {
			if err := world.Share(ctx, scenario.Owner, scenario.Region, id, acct); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, id)
	}
	return out
}

// makePublic shares an image with everyone (launch permission group all).
func makePublic(t *testing.T, image string) {
	t.Helper()
	_, err := world.EC2(scenario.Owner, scenario.Region).ModifyImageAttribute(context.Background(), &ec2.ModifyImageAttributeInput{
		ImageId: aws.String(image), LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{Group: ec2types.PermissionGroupAll}}}})
	if err != nil {
		t.Fatal(err)
	}
}

// checkWrites asserts what must hold for every PutKeyPolicy that reached KMS, whatever the
// input: the lockout safety check is not bypassed; the document is at most 32 KB and parses;
// every statement of the policy before it is still there, byte for byte, except that its AWS
// principal may gain values (a string principal becoming a list); nothing was removed; the only
// principals added are the roots of the 12-digit accounts in mayAdd[key] and the Auto Scaling
// service-linked roles of the key's own account that mayAdd[key] names by exact ARN (the roles
// the test's groups report); and no principal gained a power beyond EC2's launch (launchPowers).
// initial is each key's policy before the test; a write to any other key fails the test. Writes
// must be in per-key order (the process-wide key lock).
func checkWrites(t *testing.T, writes []keyWrite, initial map[string]string, mayAdd map[string][]string) {
	t.Helper()
	current := map[string]string{}
	for k, p := range initial {
		current[k] = p
	}
	for i, w := range writes {
		if len(w.Bypass) > 0 && string(w.Bypass) != "false" {
			t.Errorf("write %d to %s sets BypassPolicyLockoutSafetyCheck=%s", i, w.KeyID, w.Bypass)
		}
		if w.Status != http.StatusOK {
			continue
		}
		before, ok := current[w.KeyID]
		if !ok {
			t.Errorf("write %d to a key the test did not expect to change: %s", i, w.KeyID)
			continue
		}
		if len(w.Policy) > keypolicy.MaxPolicyBytes {
			t.Errorf("write %d to %s: %d bytes, over the 32 KB limit", i, w.KeyID, len(w.Policy))
		}
		if _, err := policy.Parse([]byte(w.Policy)); err != nil {
			t.Errorf("write %d to %s does not parse: %v", i, w.KeyID, err)
		}
		if err := statementsKept(before, w.Policy); err != nil {
			t.Errorf("write %d to %s: %v\nbefore:\n%s\nafter:\n%s", i, w.KeyID, err, before, w.Policy)
		}
		added := addedPrincipals(before, w.Policy)
		for _, p := range added {
			if !allowedPrincipal(p, w.KeyID, mayAdd[w.KeyID]) {
				t.Errorf("write %d to %s adds principal %q (may add only the roots of the accounts and the Auto Scaling service-linked roles of %v)", i, w.KeyID, p, mayAdd[w.KeyID])
			}
		}
		for _, err := range launchPowers(w.KeyID, before, w.Policy, added) {
			t.Errorf("write %d to %s: %v\nafter:\n%s", i, w.KeyID, err, w.Policy)
		}
		current[w.KeyID] = w.Policy
	}
}

var rootARN = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):root$`)

// allowedPrincipal: p is the root of an account of allowed, or an Auto Scaling service-linked
// role of keyARN's account that allowed names exactly (SECURITY.md: the only principal other than
// an account root ever added to a key policy).
func allowedPrincipal(p, keyARN string, allowed []string) bool {
	if m := rootARN.FindStringSubmatch(p); m != nil {
		return slices.Contains(allowed, m[1])
	}
	if !slices.Contains(allowed, p) {
		return false
	}
	pr, ok := awsid.ParsePrincipal(p)
	r, launching := awsid.LaunchRoleOf(pr)
	return ok && launching && r.Service == awsid.AutoScalingService && pr.Account == evaluate.KeyAccount(keyARN)
}

// launchPowers checks what a write lets the principals it added do beyond EC2's launch, by
// evaluating the policy before and after: a service-linked role never gains a CreateGrant of its
// own (only for AWS resources, through EC2); an account root never gains a grant for another
// account's principal, or one with an operation beyond keypolicy.LaunchGrantOperations; and an
// added AllowEC2LaunchGrants statement has exactly the documented shape.
func launchPowers(keyARN, before, after string, added []string) []error {
	if !strings.HasPrefix(keyARN, "arn:") {
		return []error{fmt.Errorf("the write names the key %q, not its ARN", keyARN)}
	}
	was, err1 := policy.Parse([]byte(before))
	now, err2 := policy.Parse([]byte(after))
	if err1 != nil || err2 != nil {
		return nil // reported by checkWrites
	}
	var errs []error
	gained := func(req evaluate.Request) bool {
		return evaluate.KeyPolicyDecision(now, req) == evaluate.Allow && evaluate.KeyPolicyDecision(was, req) != evaluate.Allow
	}
	// A service-linked role has no identity policy for the key: only an allow that names it
	// (not one that delegates to its account) gives it anything.
	direct := func(doc *policy.Document, req evaluate.Request) bool {
		r := evaluate.KeyPolicy(doc, req)
		return r.Decision == evaluate.Allow && !r.Delegates
	}
	for _, p := range added {
		pr, ok := awsid.ParsePrincipal(p)
		if !ok {
			continue
		}
		own := "arn:aws:iam::" + pr.Account + ":role/x"
		other := "arn:aws:iam::999988887777:role/x"
		wider := append(slices.Clone(keypolicy.LaunchGrantOperations), "RetireGrant")
		switch {
		case pr.Kind == awsid.PrincipalServiceLinkedRole:
			if req := evaluate.GrantRequest(keyARN, p, own, []string{"Decrypt"}, nil); direct(now, req) && !direct(was, req) {
				errs = append(errs, fmt.Errorf("%s may now create grants itself, not only for AWS resources", p))
			}
		default:
			if gained(evaluate.GrantRequest(keyARN, p, other, []string{"Decrypt"}, nil)) {
				errs = append(errs, fmt.Errorf("%s may now grant the key to another account's principal", p))
			}
			if gained(evaluate.GrantRequest(keyARN, p, own, wider, nil)) {
				errs = append(errs, fmt.Errorf("%s may now create grants with operations beyond EC2's", p))
			}
		}
	}
	old := map[string]bool{}
	for _, st := range was.Statements() {
		old[st.Sid] = true
	}
	for _, st := range now.Statements() {
		if !strings.HasPrefix(st.Sid, keypolicy.LaunchGrantSid) || old[st.Sid] {
			continue
		}
		raw, _ := rawStatements(after)
		var got map[string]any
		if st.Index >= len(raw) || decodeNumber(raw[st.Index], &got) != nil {
			errs = append(errs, fmt.Errorf("statement %q cannot be read", st.Sid))
			continue
		}
		want := map[string]any{"Sid": st.Sid, "Effect": "Allow", "Principal": got["Principal"], "Action": "kms:CreateGrant", "Resource": "*",
			"Condition": map[string]any{
				"ForAllValues:StringEquals": map[string]any{"kms:GrantOperations": anyStrings(keypolicy.LaunchGrantOperations)},
				"StringLike":                map[string]any{"kms:GranteePrincipal": "arn:aws:iam::${aws:PrincipalAccount}:*"}}}
		if !reflect.DeepEqual(got, want) {
			errs = append(errs, fmt.Errorf("statement %q is not the launch-grant statement: %s", st.Sid, raw[st.Index]))
		}
		pr, _ := got["Principal"].(map[string]any)
		for _, v := range awsValues(pr["AWS"]) {
			if s, _ := v.(string); !rootARN.MatchString(s) || len(pr) != 1 {
				errs = append(errs, fmt.Errorf("statement %q names %v: only account roots may create launch grants", st.Sid, pr))
			}
		}
	}
	return errs
}

func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// statementsKept: every byte of before survives in order, and every statement of before is in
// after verbatim, or at the same index with only values added to its AWS principal.
func statementsKept(before, after string) error {
	if !isSubsequence(before, after) {
		return fmt.Errorf("bytes of the old policy were removed or reordered")
	}
	old, err := rawStatements(before)
	if err != nil {
		return fmt.Errorf("old policy: %w", err)
	}
	now, err := rawStatements(after)
	if err != nil {
		return fmt.Errorf("new policy: %w", err)
	}
	for i, s := range old {
		if strings.Contains(after, s) {
			continue
		}
		if i >= len(now) || !sameButPrincipalList(s, now[i]) {
			return fmt.Errorf("statement %d was rewritten beyond a string principal becoming a list:\n%s", i, s)
		}
	}
	return nil
}

func isSubsequence(a, b string) bool {
	j := 0
	for i := 0; i < len(b) && j < len(a); i++ {
		if a[j] == b[i] {
			j++
		}
	}
	return j == len(a)
}

// rawStatements returns the exact text of each statement ("Statement" as a list or one object).
func rawStatements(doc string) ([]string, error) {
	var d struct{ Statement json.RawMessage }
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return nil, err
	}
	raw := bytes.TrimSpace(d.Statement)
	if len(raw) == 0 {
		return nil, nil
	}
	if raw[0] != '[' {
		return []string{string(raw)}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = string(s)
	}
	return out, nil
}

// sameButPrincipalList: the statements are equal except that the AWS principal gained values
// after the ones it had (a string becoming a list that starts with it, a list growing at its
// end, or an AWS member added beside other principal types).
func sameButPrincipalList(old, now string) bool {
	var a, b map[string]any
	if decodeNumber(old, &a) != nil || decodeNumber(now, &b) != nil {
		return false
	}
	pa, _ := a["Principal"].(map[string]any)
	pb, _ := b["Principal"].(map[string]any)
	if pa == nil || pb == nil {
		return false
	}
	was, now2 := awsValues(pa["AWS"]), awsValues(pb["AWS"])
	if was == nil || now2 == nil || len(now2) <= len(was) {
		return false
	}
	for i := range was {
		if was[i] != now2[i] {
			return false
		}
	}
	if _, had := pa["AWS"]; had {
		pb["AWS"] = pa["AWS"]
	} else {
		delete(pb, "AWS")
	}
	return reflect.DeepEqual(a, b)
}

// awsValues is an AWS principal member as a list ([] when absent, nil when not strings).
func awsValues(v any) []any {
	switch x := v.(type) {
	case nil:
		return []any{}
	case string:
		return []any{x}
	case []any:
		for _, e := range x {
			if _, ok := e.(string); !ok {
				return nil
			}
		}
		return x
	}
	return nil
}

func decodeNumber(s string, v any) error {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	return d.Decode(v)
}

// addedPrincipals lists AWS principals in after that before does not have.
func addedPrincipals(before, after string) []string {
	had := principalsOf(before)
	var out []string
	for p := range principalsOf(after) {
		if !had[p] {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func principalsOf(doc string) map[string]bool {
	out := map[string]bool{}
	d, err := policy.Parse([]byte(doc))
	if err != nil {
		return out
	}
	for _, st := range d.Statements() {
		for _, p := range []*policy.Principal{st.Principal, st.NotPrincipal} {
			if p == nil {
				continue
			}
			if p.Wildcard {
				out["*"] = true
			}
			for typ, vs := range p.By {
				for _, v := range vs {
					out[typ+":"+v] = true
				}
			}
		}
	}
	// Report AWS principals by their ARN, others with their type so they never look allowed.
	norm := map[string]bool{}
	for p := range out {
		norm[strings.TrimPrefix(p, "AWS:")] = true
	}
	return norm
}
