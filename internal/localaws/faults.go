package localaws

import (
	"math/rand"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault kinds. FaultResetAfter is not drawn unless listed in FaultConfig.Kinds: the request
// reaches AWS (and takes effect) but the connection is reset before the answer, which is how a
// client ends up retrying a write that already happened.
const (
	FaultThrottle   = "throttle"
	Fault500        = "500"
	Fault503        = "503"
	FaultReset      = "reset"
	FaultLatency    = "latency"
	FaultResetAfter = "reset-after"
)

var defaultFaultKinds = []string{FaultThrottle, Fault500, Fault503, FaultReset, FaultLatency}

const defaultFaultLatency = 200 * time.Millisecond

// FaultProxy injects faults in front of a local AWS endpoint.
type FaultProxy struct {
	proxy   *httputil.ReverseProxy
	kinds   []string
	rate    float64
	latency time.Duration

	mu  sync.Mutex // serialises draws so a seed gives the same faults for the same request order
	rng *rand.Rand

	requests  atomic.Int64
	faults    atomic.Int64
	forwarded atomic.Int64
	byKindMu  sync.Mutex
	byKind    map[string]int64
}

// NewFaultProxy returns a handler that injects faults (seeded, at cfg.Rate) in front of target.
// Throttles are AWS-shaped for the service addressed (JSON protocol: {"__type":"ThrottlingException"}
// with HTTP 400; query/XML protocol: <ErrorResponse> with Code Throttling; EC2: RequestLimitExceeded),
// so the SDK's retryer classifies them as it would AWS's. A target that is not a URL makes every
// forwarded request fail with HTTP 502.
func NewFaultProxy(target string, cfg FaultConfig) *FaultProxy {
	p := &FaultProxy{
		kinds:   cfg.Kinds,
		rate:    cfg.Rate,
		latency: time.Duration(cfg.LatencyMillis) * time.Millisecond,
		rng:     rand.New(rand.NewSource(cfg.Seed)),
		byKind:  map[string]int64{},
	}
	if len(p.kinds) == 0 {
		p.kinds = defaultFaultKinds
	}
	if p.latency <= 0 {
		p.latency = defaultFaultLatency
	}
	u, err := url.Parse(target)
	p.proxy = &httputil.ReverseProxy{
		Transport: &http.Transport{Proxy: nil, MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second},
		Rewrite: func(pr *httputil.ProxyRequest) {
			if err == nil {
				pr.SetURL(u)
				pr.Out.Host = u.Host
			}
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "fault proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	return p
}

// draw decides the fault for the next request ("" for none).
func (p *FaultProxy) draw() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rate <= 0 || p.rng.Float64() >= p.rate {
		return ""
	}
	return p.kinds[p.rng.Intn(len(p.kinds))]
}

func (p *FaultProxy) count(kind string) {
	p.faults.Add(1)
	p.byKindMu.Lock()
	p.byKind[kind]++
	p.byKindMu.Unlock()
}

// ServeHTTP implements http.Handler.
func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.requests.Add(1)
	kind := p.draw()
	if kind != "" {
		p.count(kind)
	}
	switch kind {
	case FaultThrottle:
		writeThrottle(w, r)
		return
	case Fault500:
		writeServerError(w, r, http.StatusInternalServerError, "InternalFailure", "We encountered an internal error. Please try again.")
		return
	case Fault503:
		writeServerError(w, r, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unable to handle request.")
		return
	case FaultReset:
		resetConnection(w)
		return
	case FaultLatency:
		t := time.NewTimer(p.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	case FaultResetAfter:
		rec := &discardWriter{header: http.Header{}}
		p.forwarded.Add(1)
		p.proxy.ServeHTTP(rec, r)
		resetConnection(w)
		return
	}
	p.forwarded.Add(1)
	p.proxy.ServeHTTP(w, r)
}

// Stats returns a snapshot of the counters.
func (p *FaultProxy) Stats() FaultStats {
	p.byKindMu.Lock()
	by := make(map[string]int64, len(p.byKind))
	for k, v := range p.byKind {
		by[k] = v
	}
	p.byKindMu.Unlock()
	return FaultStats{Requests: p.requests.Load(), Faults: p.faults.Load(), ByKind: by, Forwarded: p.forwarded.Load()}
}

// protocol tells how the addressed service shapes its errors.
type protocol int

const (
	protoQuery protocol = iota // STS, IAM, SNS, ...: <ErrorResponse>
	protoJSON                  // KMS, EventBridge, Organizations, SQS: {"__type": ...}
	protoEC2                   // EC2: <Response><Errors>
)

func protocolOf(r *http.Request) protocol {
	if r.Header.Get("X-Amz-Target") != "" || strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json") {
		return protoJSON
	}
	if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil && m[3] == "ec2" {
		return protoEC2
	}
	return protoQuery
}

func writeThrottle(w http.ResponseWriter, r *http.Request) {
	switch protocolOf(r) {
	case protoJSON:
		writeJSONError(w, http.StatusBadRequest, "ThrottlingException", "Rate exceeded")
	case protoEC2:
		// EC2 throttles with HTTP 503 RequestLimitExceeded.
		writeEC2Error(w, http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
	default:
		writeQueryError(w, http.StatusBadRequest, "Sender", "Throttling", "Rate exceeded")
	}
}

func writeServerError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	switch protocolOf(r) {
	case protoJSON:
		writeJSONError(w, status, code, message)
	case protoEC2:
		writeEC2Error(w, status, code, message)
	default:
		writeQueryError(w, status, "Receiver", code, message)
	}
}

func writeJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", newRequestID())
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"__type":"` + code + `","message":"` + message + `"}`))
}

func writeQueryError(w http.ResponseWriter, status int, typ, code, message string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<ErrorResponse><Error><Type>` + typ + `</Type><Code>` + code + `</Code><Message>` +
		xmlText(message) + `</Message></Error><RequestId>` + newRequestID() + `</RequestId></ErrorResponse>`))
}

// resetConnection closes the client's connection with a TCP RST and no answer. Where the
// connection cannot be taken over (HTTP/2, a recorder) it answers 503 with Connection: close.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// discardWriter swallows an answer (for FaultResetAfter).
type discardWriter struct{ header http.Header }

func (d *discardWriter) Header() http.Header         { return d.header }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
