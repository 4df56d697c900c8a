package localaws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

func startImpl(ctx context.Context) (*Env, error) {
	m, err := StartMoto(ctx)
	if err != nil {
		return nil, err
	}
	env, err := Attach(m)
	if err != nil {
		_ = m.Close()
		return nil, err
	}
	return env, nil
}

// Attach puts a new filler, served on 127.0.0.1 on a free port, in front of a running moto.
// Close on the returned Env also stops m.
func Attach(m *Moto) (*Env, error) {
	f, err := NewFiller(m.URL)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the filler: %w", err)
	}
	srv := &http.Server{Handler: f, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return &Env{URL: "http://" + l.Addr().String(), Moto: m, Filler: f, server: srv}, nil
}

// Close stops the filler and moto.
func (e *Env) Close() error {
	if e == nil {
		return nil
	}
	var errs []error
	if e.server != nil {
		if err := e.server.Close(); err != nil {
			errs = append(errs, fmt.Errorf("stop filler: %w", err))
		}
	}
	if e.Moto != nil {
		errs = append(errs, e.Moto.Close())
	}
	return errors.Join(errs...)
}

// Reset clears all state in moto and in the filler. Static access-key mappings (MapAccessKey)
// are configuration and survive; mappings learned from moto's responses do not.
func (e *Env) Reset(ctx context.Context) error {
	if err := e.Moto.Reset(ctx); err != nil {
		return err
	}
	e.Filler.Reset()
	return nil
}
