package localaws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Start starts moto_server (MOTO_EC2_LOAD_DEFAULT_AMIS=false, on 127.0.0.1, a free port) and the
// filler in front of it. Close stops both.
func Start(ctx context.Context) (*Env, error) {
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
	go f.warmUp()
	return &Env{URL: "http://" + l.Addr().String(), Moto: m, Filler: f, server: srv}, nil
}

// warmUp makes moto import its EC2, KMS, IAM and STS modules now rather than on a test's first
// call (the EC2 import alone takes seconds on a busy 2-core machine). Best effort.
func (fi *Filler) warmUp() {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	query := func(service string, params url.Values) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, fi.moto.String()+"/", strings.NewReader(params.Encode()))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", fakeAuth(defaultRegion, service))
		if resp, err := fi.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		query("ec2", url.Values{"Action": {"DescribeImages"}, "Version": {"2016-11-15"}, "Owner.1": {"self"}})
	})
	wg.Go(func() { _ = fi.kmsCall(ctx, DefaultAccount, defaultRegion, "ListKeys", map[string]string{}, nil) })
	wg.Go(func() { query("sts", url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}) })
	wg.Go(func() { query("iam", url.Values{"Action": {"ListRoles"}, "Version": {"2010-05-08"}}) })
	wg.Wait()
}

// Close stops the filler and moto.
func (e *Env) Close() error {
	if e == nil {
		return nil
	}
	var errs []error
	e.faultMu.Lock()
	for _, srv := range e.faultServers {
		_ = srv.Close()
	}
	e.faultServers = nil
	e.faultMu.Unlock()
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

// ServeFaultProxy serves a FaultProxy in front of the filler on 127.0.0.1 (a free port) and
// returns its URL (give it to the SDK as the endpoint). Close stops it with the Env.
func (e *Env) ServeFaultProxy(cfg FaultConfig) (string, *FaultProxy, error) {
	p := NewFaultProxy(e.URL, cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listen for the fault proxy: %w", err)
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	e.faultMu.Lock()
	e.faultServers = append(e.faultServers, srv)
	e.faultMu.Unlock()
	return "http://" + l.Addr().String(), p, nil
}
