package benchmark

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/rie"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/scenario"
)

// lambdaEnv is the environment the emulator gives bootstrap: the template's variables plus the
// SDK's endpoint, region and central credentials, as `sam local invoke` would.
//
// The emulator's function ARN always names account 012345678912, which the remediator takes as
// its own account (on Lambda the ARN is real). So under the emulator the owner account is a
// member account like any other: it must be trusted and have the member role, and the first call
// as the owner costs one sts:AssumeRole that Lambda does not make.
func lambdaEnv(endpoint, topicARN, mode string, trusted []string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_REGION=" + scenario.Region,
		"AWS_ACCESS_KEY_ID=" + scenario.CentralAccessKey,
		"AWS_SECRET_ACCESS_KEY=local-secret",
		"AWS_MAX_ATTEMPTS=2",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"MODE=" + mode,
		"TRUSTED_ACCOUNT_IDS=" + strings.Join(trusted, ","),
		"ALERT_TOPIC_ARN=" + topicARN,
		"MEMBER_ROLE_NAME=" + scenario.MemberRoleName,
		"LOG_LEVEL=info",
	}
}

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

func (s *series) add(st Start) {
	s.init = append(s.init, st.Init)
	s.first = append(s.first, st.FirstInvoke)
}
