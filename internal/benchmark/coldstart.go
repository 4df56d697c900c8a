package benchmark

import (
	"context"
	"fmt"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/rie"
)

// Start is one fresh start of a function under the emulator: its init and first invoke as the
// emulator reports them, in ms.
type Start struct {
	Init, FirstInvoke float64
	PeakRSSKB         int // the bootstrap's VmHWM after the invoke (0 if it could not be read)
	Response          []byte
}

// ColdStart starts bootstrap fresh under the emulator, invokes payload once and reads the
// emulator's INIT REPORT and INVOKE RTDONE lines.
func ColdStart(ctx context.Context, rieBin, bootstrap string, env []string, payload []byte) (Start, error) {
	em, err := rie.Start(ctx, rieBin, bootstrap, env)
	if err != nil {
		return Start{}, err
	}
	body, err := em.Invoke(ctx, payload)
	peak := 0
	if pid, perr := em.BootstrapPID(); perr == nil {
		peak, _ = PeakRSSKB(pid)
	}
	em.Close()
	if err != nil {
		return Start{}, fmt.Errorf("%w\n%s", err, em.Logs())
	}
	t := rie.ParseLogs(em.Logs())
	if t.Init == 0 || len(t.Handler) == 0 {
		return Start{}, fmt.Errorf("no INIT REPORT / INVOKE RTDONE in the emulator's log:\n%s", em.Logs())
	}
	return Start{Init: t.Init, FirstInvoke: t.Handler[0], PeakRSSKB: peak, Response: body}, nil
}

// series collects n fresh starts.
type series struct{ init, first []float64 }

// coldStart is each start's init plus first invoke: what the first event waits for.
func (s *series) coldStart() []float64 {
	out := make([]float64, len(s.init))
	for i := range s.init {
		out[i] = s.init[i]
		if i < len(s.first) {
			out[i] += s.first[i]
		}
	}
	return out
}

func (s *series) add(st Start) {
	s.init = append(s.init, st.Init)
	s.first = append(s.first, st.FirstInvoke)
}
