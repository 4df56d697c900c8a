package report

import "testing"

// Only the causes that a later attempt may fix hand the records back, and only on a failed action.
func TestCauseRetry(t *testing.T) {
	for c, want := range map[Cause]bool{CauseNone: false, CauseOtherWriter: false, CauseDeadline: true,
		CauseConcurrentWriter: true, CauseTransient: true, CauseInternal: true,
		CauseNotInWriteScope: false, CauseManagedByIaC: false, CauseIaCUnknown: false} {
		if got := c.Retry(); got != want {
			t.Errorf("%q.Retry() = %v, want %v", c, got, want)
		}
		if got := (Action{Status: StatusFailed, Cause: c}).Retry(); got != want {
			t.Errorf("failed action with cause %q: Retry() = %v, want %v", c, got, want)
		}
		for _, s := range []string{StatusApplied, StatusPlanned, StatusUnchanged, StatusRefused} {
			if (Action{Status: s, Cause: c}).Retry() {
				t.Errorf("%s action with cause %q is retried", s, c)
			}
		}
	}
	if CauseDeadline.String() != "deadline" || Cause(200).String() != "unknown" {
		t.Errorf("names: %q %q", CauseDeadline, Cause(200))
	}
}
