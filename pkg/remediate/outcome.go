package remediate

import (
	"errors"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
)

// How a write ends is decided by error values and the action's Cause, never by the wording of a
// reason: reasons are for people.

// reasonDeadline is what people read when a write was not started for the deadline.
const reasonDeadline = "too close to the invocation deadline to start a write: handed back for retry"

var (
	// errDeadline: too close to the invocation's deadline to start a write.
	errDeadline = errors.New(reasonDeadline)
	// errConcurrentWriter: the read-back kept missing our change, a bounded number of times.
	errConcurrentWriter = errors.New("a concurrent writer kept replacing the policy; handed back for retry")
)

// refusal is an error that makes the remediator refuse a write (the input is not safe to act on,
// or the key is not the remediator's to write); cause says which, for the alert.
type refusal struct {
	err   error
	cause report.Cause
}

func (e *refusal) Error() string { return e.err.Error() }
func (e *refusal) Unwrap() error { return e.err }

func refuse(err error) error { return &refusal{err: err} }

// refuseFor is refuse with the cause the action reports.
func refuseFor(cause report.Cause, err error) error { return &refusal{err: err, cause: cause} }

// ended sets the status, cause and reason of an action that stopped on err.
func ended(act report.Action, err error) report.Action {
	act.Reason = err.Error()
	if r := new(refusal); errors.As(err, &r) {
		act.Status, act.Cause = report.StatusRefused, r.cause
		return act
	}
	act.Status, act.Cause = report.StatusFailed, causeOf(err)
	if act.Cause == report.CauseTransient || act.Cause == report.CauseConcurrentWriter {
		act.Reason = "transient: " + act.Reason
	}
	return act
}

// causeOf is the cause of a failure: the remediator's own sentinels, else the AWS error's class.
func causeOf(err error) report.Cause {
	switch {
	case errors.Is(err, errDeadline):
		return report.CauseDeadline
	case errors.Is(err, errConcurrentWriter):
		return report.CauseConcurrentWriter
	case errors.Is(err, errOptInNotInEffect):
		return report.CauseTransient
	case awsapi.Transient(err), errors.Is(err, errGrantNotAllowedYet), errors.Is(err, store.ErrLeaseHeld):
		return report.CauseTransient
	}
	return report.CauseNone
}
