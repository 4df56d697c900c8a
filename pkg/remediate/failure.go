package remediate

import (
	"errors"
	"fmt"
	"strings"

	"github.com/aws/smithy-go"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Nothing fails silently. A record that ends in an error is reported with one finding of a
// failure code (what was being checked, the error, what to do), and so is an optional part of
// a check that stayed missing. Whether that is told now is decided here, by the delivery: a
// failure a later delivery may not have (throttling, 5xx) is handed back without a word until
// the delivery that is the last before the dead-letter queue; a failure no retry can fix is told
// at once. The wording of errors decides nothing: their values and AWS's error codes do.

// errInternal marks a failure on a bug in the remediator (a panic): handed back, since the next
// attempt may take another path.
var errInternal = errors.New("internal error")

// missingPart is an optional part of a check that could not be done, and why.
type missingPart struct {
	part string // report.PartLauncher | report.PartIdentity | report.PartIdentityGrant
	err  error
}

// errNotInTrailYet: the account's CloudTrail does not show a RunInstances record the event
// claims to be. Records are searchable in CloudTrail minutes after the call, so a later
// delivery may find it.
var errNotInTrailYet = errors.New("the account's CloudTrail does not show the RunInstances record (yet: records are searchable minutes after the call)")

// retryable reports whether a later delivery may not meet err.
func retryable(err error) bool {
	return awsapi.Transient(err) || errors.Is(err, errInternal) || errors.Is(err, errNotInTrailYet)
}

// fail records that the record ended in err (the first error is the record's); transient
// errors hand it back for retry.
func (it *item) fail(err error) {
	if it.err == nil {
		it.err = err
		it.rec.Error = err.Error()
	}
	it.retry = it.retry || retryable(err)
}

// unusable marks the record as unusable input: reported, acknowledged, never retried.
func (it *item) unusable(err error) {
	it.fail(&UnusableInputError{Err: err})
	it.isUnusable = true
}

// missingPart records an optional part that could not be done: the rest of the check goes on
// without it, and the record says which part is missing (once: the first error is the part's).
func (it *item) missingPart(part string, err error) {
	for _, p := range it.rec.Incomplete {
		if p == part {
			return
		}
	}
	it.missing = append(it.missing, missingPart{part: part, err: err})
	it.rec.Incomplete = append(it.rec.Incomplete, part)
}

// lastDelivery reports whether a failure of this record can no longer be retried: it did not
// come from SQS (nothing redelivers it), or SQS has delivered it MAX_RECEIVE_COUNT times, after
// which a record handed back goes to the dead-letter queue
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html:
// "when the ReceiveCount for a message exceeds the maxReceiveCount for a queue, Amazon SQS moves
// the message to a dead-letter-queue"). An SQS record whose count is unknown is not the last.
func (r *run) lastDelivery(fromSQS bool, it *item) bool {
	if !fromSQS {
		return true
	}
	max := r.cfg.MaxReceiveCount
	if max <= 0 {
		max = config.DefaultMaxReceiveCount
	}
	root := it // a record spawned while diagnosing is delivered with the message of its parent
	for root.parent != nil {
		root = root.parent
	}
	return root.receives > 0 && root.receives >= max
}

// settle decides, once the record's work is over, what it owes: a record handed back for
// another attempt before its last delivery is told by that attempt (told false); otherwise its
// error and each optional part still missing become findings. A missing part that a later
// delivery may get hands the record back (the key side is done by then: the redelivery only
// re-reads it and retries what is missing).
func (r *run) settle(it *item, last bool) {
	deferred := it.retry && !last
	it.told, it.last = !deferred, last
	for _, m := range it.missing {
		transient := retryable(m.err)
		if transient {
			it.retry = true
		}
		if !deferred && (!transient || last) {
			it.addFinding(r.missingFinding(it, m))
		}
	}
	if it.err != nil && !deferred {
		it.addFinding(r.failureFinding(it, it.err))
	}
}

// failureFinding is the finding of a record that ended in err: its code says what an operator
// can do about it, its message what was being checked and the error.
func (r *run) failureFinding(it *item, err error) report.Finding {
	f := report.Finding{Account: it.rec.Account, Message: fmt.Sprintf("%s did not finish: %s", r.checking(it), clip(err.Error(), 600))}
	var assume *awsapi.AssumeRoleError
	var unusable *UnusableInputError
	switch {
	case errors.As(err, &unusable):
		f.Code, f.Account = report.UnusableInput, ""
		f.Message = fmt.Sprintf("the event cannot be used, so nothing was called; it is acknowledged and never retried: %s", clip(unusable.Err.Error(), 600))
	case errors.Is(err, errInternal):
		f.Code = report.RecordFailed
	case awsapi.Classify(err) == awsapi.ClassDeadline:
		f.Code = report.RecordFailed
	case awsapi.Transient(err):
		f.Code = report.AWSUnavailable
		if errors.As(err, &assume) {
			f.Account = assume.Account
		}
		f.Message = fmt.Sprintf("%s did not finish: AWS stayed unavailable (%s) through the last delivery: %s", r.checking(it), awsapi.Classify(err), clip(err.Error(), 600))
	case errors.As(err, &assume):
		f.Code, f.Account = report.AssumeRoleDenied, assume.Account
		f.PrincipalARN = r.memberRoleARN(assume.Account)
	case errors.Is(err, errImageNotFound) || awsapi.IsNotFound(err) && failedOp(err) == "EC2:DescribeImages":
		f.Code = report.ImageNotFound
	case failedOp(err) == "EC2:DescribeSnapshots":
		f.Code = report.SnapshotUnreadable
	case awsapi.IsAccessDenied(err):
		f.Code = report.AccessDenied
	default:
		f.Code = report.RecordFailed
	}
	return f
}

// missingFinding is the finding of an optional part that stayed missing.
func (r *run) missingFinding(it *item, m missingPart) report.Finding {
	f := report.Finding{Code: report.LookupUnavailable, Account: it.rec.Account}
	how := "was denied or failed for good"
	if retryable(m.err) {
		how = "stayed unavailable through the last delivery"
	}
	switch m.part {
	case report.PartIdentity:
		if p := it.trig.Principal; p != nil {
			f.Account, f.PrincipalARN = p.Account, p.ARN
		}
		f.Message = fmt.Sprintf("reading the identity policies of %s %s: the key side was checked without them; the identity side was not: %s",
			orDash(f.PrincipalARN), how, clip(m.err.Error(), 600))
	case report.PartIdentityGrant:
		if p := it.trig.Principal; p != nil {
			f.Account, f.PrincipalARN = p.Account, p.ARN
		}
		f.Message = fmt.Sprintf("confirming that %s may get a grant %s: the key side was checked without it; no grant was created for it: %s",
			orDash(f.PrincipalARN), how, clip(m.err.Error(), 600))
	default: // report.PartLauncher
		f.Message = fmt.Sprintf("looking up who launched %s (CloudTrail LookupEvents in %s/%s) %s: the key side was checked without it; no identity policy was checked: %s",
			orDash(it.trig.InstanceID), it.rec.Account, it.rec.Region, how, clip(m.err.Error(), 600))
	}
	return f
}

// checking says what the record was checking, for a finding's message.
func (r *run) checking(it *item) string {
	what := "checking " + string(it.trig.Kind)
	if it.rec.Trigger != "" {
		what = "checking " + it.rec.Trigger
	}
	switch {
	case it.rec.ImageID != "":
		what += " image " + clip(it.rec.ImageID, 64)
	case it.trig.InstanceID != "":
		what += " instance " + clip(it.trig.InstanceID, 64)
	}
	if awsid.IsAccountID(it.rec.Account) {
		what += " for account " + it.rec.Account
	}
	if awsid.IsRegion(it.rec.Region) {
		what += " in " + it.rec.Region
	}
	return what
}

// memberRoleARN is MEMBER_ROLE_NAME's ARN in account, in the function's partition.
func (r *run) memberRoleARN(account string) string {
	return fmt.Sprintf("arn:%s:iam::%s:role/%s", awsid.RegionPartition(r.clients.Region()), account, r.cfg.MemberRoleName)
}

// failedOp is the "Service:Operation" of the innermost AWS call err comes from (the SDK wraps
// every error of an operation in a smithy.OperationError), or "".
func failedOp(err error) string {
	op := ""
	walkErrors(err, func(e error) {
		if oe, ok := e.(*smithy.OperationError); ok {
			op = oe.ServiceID + ":" + oe.OperationName
		}
	})
	return op
}

// walkErrors calls f for err and every error it wraps, outermost first.
func walkErrors(err error, f func(error)) {
	for err != nil {
		f(err)
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walkErrors(e, f)
			}
			return
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		default:
			return
		}
	}
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
