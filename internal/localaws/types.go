package localaws

import (
	"net/http"
	"sync"
)

// Env is a running local AWS: moto plus the gap filler in front of it.
type Env struct {
	URL    string // the endpoint to give the SDK (AWS_ENDPOINT_URL): the filler, on 127.0.0.1
	Moto   *Moto
	Filler *Filler
	server *http.Server

	faultMu      sync.Mutex
	faultServers []*http.Server // ServeFaultProxy's servers, closed by Close
}

// Moto is a moto_server process on a free loopback port.
type Moto struct {
	URL  string
	pid  int
	proc *motoProc
}

// FaultConfig configures the fault injector.
type FaultConfig struct {
	Seed int64
	Rate float64 // 0..1: share of requests that get a fault
	// Kinds to draw from; empty means all: "throttle", "500", "503", "reset", "latency".
	Kinds []string
	// Latency added by the "latency" kind (the request is then forwarded normally).
	LatencyMillis int
}

// FaultStats counts what the injector did.
type FaultStats struct {
	Requests  int64
	Faults    int64
	ByKind    map[string]int64
	Forwarded int64
}

var _ http.Handler = (*Filler)(nil)
