package remediate

import (
	"context"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// applyIAM checks and fixes the principals' identity policies (issue 4). Pending.
func (r *run) applyIAM(ctx context.Context) []report.Action { return nil }

// diagnoseASG resolves the image behind an Auto Scaling launch failure. Pending.
func (r *run) diagnoseASG(ctx context.Context, it *item) error {
	it.rec.IgnoredReason = "Auto Scaling launch failures are not resolved to an image yet"
	return nil
}
