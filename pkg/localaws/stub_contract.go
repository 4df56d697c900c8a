package localaws

import (
	"context"
	"errors"
	"net/http"
)

type fillerImpl struct{}

func startImpl(ctx context.Context) (*Env, error) { return nil, errors.New("unimplemented") }

// Close stops the filler and moto.
func (e *Env) Close() error { return nil }

// Reset clears all state in moto and in the filler.
func (e *Env) Reset(ctx context.Context) error { return nil }

// ServeHTTP implements http.Handler.
func (f *Filler) ServeHTTP(w http.ResponseWriter, r *http.Request) {}

// NewFaultProxy returns a handler that injects faults (seeded, at cfg.Rate) in front of target.
// Throttles are AWS-shaped for the service addressed (JSON protocol: {"__type":"ThrottlingException"}
// with HTTP 400; query/XML protocol: <ErrorResponse> with Code Throttling), so the SDK's retryer
// classifies them as it would AWS's.
func NewFaultProxy(target string, cfg FaultConfig) *FaultProxy { return &FaultProxy{} }

// FaultProxy injects faults in front of a local AWS endpoint.
type FaultProxy struct{}

func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {}

// Stats returns a snapshot of the counters.
func (p *FaultProxy) Stats() FaultStats { return FaultStats{} }
