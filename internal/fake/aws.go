// Package fake is an in-memory AWS for the remediator's decision logic: recording fakes of the
// narrow interfaces in pkg/awsapi (each embeds its interface, so a method the fake lacks panics
// instead of failing to compile) over one shared state of images, snapshots, launch
// permissions, instances, keys and their policies, tags and grants, CloudFormation stacks, IAM
// principals and managed policies with their versions and attachments, and SNS publishes. AWS is also an
// awsapi.Factory. Every call is recorded; errors are injected per operation with real AWS error
// codes (as smithy.GenericAPIError, what the SDK returns for a code it has no type for), so
// awsapi's one code table classifies them exactly as it classifies AWS's.
//
// The fakes answer the way AWS does where the remediator's decisions depend on it (who may see an
// image, a key read only by its owner, ListGrants' filters, a stack found by a resource's ID); the
// SDK's wire formats are the local AWS's business (internal/localaws).
package fake

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/aws/smithy-go"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
)

// Call is one recorded call.
type Call struct {
	Op      string // "Service:Operation", as awsapi.Counter names it: "KMS:PutKeyPolicy"
	Account string // the account the client acts in
	Region  string
	Input   any // the operation's *Input
	// Succeeded: the fake answered without an error (false for an injected fault or an error AWS
	// would answer).
	Succeeded bool
}

// Error is an AWS error with code, as the SDK returns one it has no modeled type for. The fault
// (client or server) follows the code's class, as AWS's does.
func Error(code, message string) error {
	if message == "" {
		message = code
	}
	fault := smithy.FaultClient
	if awsapi.Classify(&smithy.GenericAPIError{Code: code}) == awsapi.ClassTransient {
		fault = smithy.FaultServer
	}
	return &smithy.GenericAPIError{Code: code, Message: message, Fault: fault}
}

// fault is an injected error: for every call of op (matching match, when set), times times (0:
// until Heal).
type fault struct {
	op    string
	match func(Call) bool
	err   error
	times int
}

// AWS is the in-memory cloud. The zero value is not usable: use New.
type AWS struct {
	central, region string
	centralKnown    bool

	mu          sync.Mutex
	seq         int
	images      map[string]*Image
	snapshots   map[string]*Snapshot
	instances   map[string]*Instance
	templates   map[string]Template    // account/region/launch template ID or name
	ebsDefaults map[string]ebsDefaults // account/region
	groups      map[string]*Group      // account/region/name (Auto Scaling)
	trail       map[string][]TrailEvent
	stacks      map[string][]StackResource // account/region
	keys        map[string]*Key            // by ARN
	users       map[string]*Principal      // account/name
	roles       map[string]*Principal      // account/name
	iamGroups   map[string]*Principal      // account/name
	policies    map[string]*ManagedPolicy  // by ARN
	members     map[string]string          // account -> organization ID
	org         string                     // "" when the remediator's account is in no organization
	published   []Published
	calls       []Call
	faults      []*fault
	before      map[string][]func(Call)
	after       map[string][]func(Call)
	forwards    map[string]bool // account/region: a member stack forwards events from there (estate.go)
}

// New returns an empty cloud whose remediator runs in central, in region.
func New(central, region string) *AWS {
	return &AWS{central: central, region: region,
		images: map[string]*Image{}, snapshots: map[string]*Snapshot{}, instances: map[string]*Instance{},
		templates: map[string]Template{}, ebsDefaults: map[string]ebsDefaults{}, groups: map[string]*Group{}, trail: map[string][]TrailEvent{}, stacks: map[string][]StackResource{},
		keys: map[string]*Key{}, users: map[string]*Principal{}, roles: map[string]*Principal{},
		iamGroups: map[string]*Principal{}, policies: map[string]*ManagedPolicy{}, members: map[string]string{},
		before: map[string][]func(Call){}, after: map[string][]func(Call){}, forwards: map[string]bool{}}
}

// Fail makes every call of op fail with err until Heal(op).
func (a *AWS) Fail(op string, err error) { a.addFault(&fault{op: op, err: err}) }

// FailNext makes the next len(errs) calls of op fail, with errs in order.
func (a *AWS) FailNext(op string, errs ...error) {
	for _, err := range errs {
		a.addFault(&fault{op: op, err: err, times: 1})
	}
}

// FailIf makes every call of op for which match is true fail with err until Heal(op).
func (a *AWS) FailIf(op string, match func(Call) bool, err error) {
	a.addFault(&fault{op: op, match: match, err: err})
}

// Heal drops every fault injected for op.
func (a *AWS) Heal(op string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.faults = slices.DeleteFunc(a.faults, func(f *fault) bool { return f.op == op })
}

func (a *AWS) addFault(f *fault) {
	a.mu.Lock()
	a.faults = append(a.faults, f)
	a.mu.Unlock()
}

// After runs f after every call of op that succeeded, outside the fake's lock, so f may call
// the fakes itself (to play another writer, for example). The caller waits for f.
func (a *AWS) After(op string, f func(Call)) {
	a.mu.Lock()
	a.after[op] = append(a.after[op], f)
	a.mu.Unlock()
}

// Before runs f before every call of op is answered, outside the fake's lock (to play a writer
// that gets in just before the call). The caller waits for f.
func (a *AWS) Before(op string, f func(Call)) {
	a.mu.Lock()
	a.before[op] = append(a.before[op], f)
	a.mu.Unlock()
}

// Calls returns the recorded calls of op, in order ("" for all).
func (a *AWS) Calls(op string) []Call {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []Call
	for _, c := range a.calls {
		if op == "" || c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// Count is the number of recorded calls of op.
func (a *AWS) Count(op string) int { return len(a.Calls(op)) }

// call runs the Before hooks, records the call and returns the injected error for it, if any.
// The caller holds no lock.
func (a *AWS) call(op, account, region string, in any) error {
	c := Call{Op: op, Account: account, Region: region, Input: in}
	a.mu.Lock()
	hooks := slices.Clone(a.before[op])
	a.mu.Unlock()
	for _, h := range hooks {
		h(c)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, c)
	for i, f := range a.faults {
		if f.op != op || (f.match != nil && !f.match(c)) {
			continue
		}
		if f.times > 0 {
			if f.times--; f.times == 0 {
				a.faults = slices.Delete(a.faults, i, i+1)
			}
		}
		return wrap(op, f.err)
	}
	return nil
}

// wrap wraps err the way the SDK wraps every error of an operation.
func wrap(op string, err error) error {
	service, name, _ := strings.Cut(op, ":")
	return &smithy.OperationError{ServiceID: service, OperationName: name, Err: err}
}

// answer is one call of op: recorded, failed when a fault is injected, else answered by f under
// the fake's lock, and when f succeeds marked so and followed by the After hooks.
func answer[O any](a *AWS, op, account, region string, in any, f func() (O, error)) (O, error) {
	var zero O
	if err := a.call(op, account, region, in); err != nil {
		return zero, err
	}
	a.mu.Lock()
	out, err := f()
	a.mu.Unlock()
	if err != nil {
		return zero, err
	}
	a.done(op, account, region, in)
	return out, nil
}

// done marks a call as succeeded and runs its After hooks.
func (a *AWS) done(op, account, region string, in any) {
	a.mu.Lock()
	for i := len(a.calls) - 1; i >= 0; i-- {
		if c := &a.calls[i]; c.Op == op && c.Input == in && c.Account == account {
			c.Succeeded = true
			break
		}
	}
	hooks := slices.Clone(a.after[op])
	a.mu.Unlock()
	for _, h := range hooks {
		h(Call{Op: op, Account: account, Region: region, Input: in})
	}
}

// apiError is an AWS error answer of op, wrapped the way the SDK wraps it.
func apiError(op, code, format string, args ...any) error {
	return wrap(op, Error(code, fmt.Sprintf(format, args...)))
}

// The awsapi.Factory side. A client for a member account is "assumed" through STS: a fault
// injected for "STS:AssumeRole" (matching the Call's Account) makes that fail, as a missing or
// untrusting member role does.

var _ awsapi.Factory = (*AWS)(nil)

// Region is the remediator's own region.
func (a *AWS) Region() string { return a.region }

// CentralAccount is the account the remediator runs in, asked of STS once (as Clients does).
func (a *AWS) CentralAccount(ctx context.Context) (string, error) {
	a.mu.Lock()
	known := a.centralKnown
	a.mu.Unlock()
	if known {
		return a.central, nil
	}
	if err := a.call("STS:GetCallerIdentity", a.central, a.region, nil); err != nil {
		return "", fmt.Errorf("get caller identity: %w", err)
	}
	a.mu.Lock()
	a.centralKnown = true
	a.mu.Unlock()
	return a.central, nil
}

// scope resolves the account and region a client acts in, assuming the member role when needed.
func (a *AWS) scope(account, region string) (string, string, error) {
	if region == "" {
		region = a.region
	}
	if account == "" || account == a.central {
		return a.central, region, nil
	}
	if err := a.call("STS:AssumeRole", account, region, nil); err != nil {
		return "", "", &awsapi.AssumeRoleError{Account: account, Err: err}
	}
	return account, region, nil
}

// scoped builds a client acting in account and region (the central account and the home region
// when empty).
func scoped[T any](a *AWS, account, region string, build func(account, region string) T) (T, error) {
	acct, reg, err := a.scope(account, region)
	if err != nil {
		var zero T
		return zero, err
	}
	return build(acct, reg), nil
}

// EC2 returns the fake EC2 of account in region.
func (a *AWS) EC2(ctx context.Context, account, region string) (awsapi.EC2, error) {
	return scoped(a, account, region, func(acct, reg string) awsapi.EC2 { return &EC2{aws: a, Account: acct, Region: reg} })
}

// KMS returns the fake KMS of account in region.
func (a *AWS) KMS(ctx context.Context, account, region string) (awsapi.KMS, error) {
	return scoped(a, account, region, func(acct, reg string) awsapi.KMS { return &KMS{aws: a, Account: acct, Region: reg} })
}

// IAM returns the fake IAM of account.
func (a *AWS) IAM(ctx context.Context, account string) (awsapi.IAM, error) {
	return scoped(a, account, "", func(acct, _ string) awsapi.IAM { return &IAM{aws: a, Account: acct} })
}

// SNS returns the fake SNS of the central account in region.
func (a *AWS) SNS(ctx context.Context, region string) (awsapi.SNS, error) {
	return scoped(a, "", region, func(_, reg string) awsapi.SNS { return &SNS{aws: a, Region: reg} })
}

// AutoScaling returns the fake Auto Scaling of account in region.
func (a *AWS) AutoScaling(ctx context.Context, account, region string) (awsapi.AutoScaling, error) {
	return scoped(a, account, region, func(acct, reg string) awsapi.AutoScaling {
		return &AutoScaling{aws: a, Account: acct, Region: reg}
	})
}

// CloudTrail returns the fake CloudTrail of account in region.
func (a *AWS) CloudTrail(ctx context.Context, account, region string) (awsapi.CloudTrail, error) {
	return scoped(a, account, region, func(acct, reg string) awsapi.CloudTrail {
		return &CloudTrail{aws: a, Account: acct, Region: reg}
	})
}

// CloudFormation returns the fake CloudFormation of account in region.
func (a *AWS) CloudFormation(ctx context.Context, account, region string) (awsapi.CloudFormation, error) {
	return scoped(a, account, region, func(acct, reg string) awsapi.CloudFormation {
		return &CloudFormation{aws: a, Account: acct, Region: reg}
	})
}

// Organizations returns the central account's fake Organizations.
func (a *AWS) Organizations() awsapi.Organizations { return &Organizations{aws: a} }

func (a *AWS) next(prefix string, width int) string {
	a.seq++
	return fmt.Sprintf("%s%0*x", prefix, width, a.seq)
}
