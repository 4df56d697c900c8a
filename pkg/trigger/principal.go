package trigger

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// ErrUnresolvable marks a userIdentity that is well-formed JSON but names no principal this
// project may act on: an ARN that does not parse, an account ID that is not 12 ASCII digits, an
// assumed-role session without its issuer. The decoder turns it into a Trigger note and a nil
// Principal; it is never a reason to reject the event.
var ErrUnresolvable = errors.New("principal not resolvable")

// AutoScalingService is the invokedBy value of calls Auto Scaling makes for a group.
const AutoScalingService = "autoscaling.amazonaws.com"

// AutoScalingSLRPath and AutoScalingSLRName name the default Auto Scaling service-linked role.
// Groups may use a custom-suffix SLR instead (AWSServiceRoleForAutoScaling_suffix); CloudTrail
// records for those name it in sessionContext.sessionIssuer, which wins when present.
const (
	AutoScalingSLRPath = "/aws-service-role/autoscaling.amazonaws.com/"
	AutoScalingSLRName = "AWSServiceRoleForAutoScaling"
)

// AutoScalingSLRARN returns the ARN of the default Auto Scaling service-linked role in account.
// It returns "" unless account is 12 ASCII digits.
func AutoScalingSLRARN(partition, account string) string {
	if !awsid.IsAccountID(account) || !awsid.IsPartition(partition) {
		return ""
	}
	return "arn:" + partition + ":iam::" + account + ":role" + AutoScalingSLRPath + AutoScalingSLRName
}

// parseIAMARN parses the ARN of an IAM principal of one of the kinds in want strictly (see
// awsid.Principal.Check). Anything else is ErrUnresolvable.
func parseIAMARN(arn string, want ...awsid.PrincipalKind) (awsid.Principal, error) {
	p, ok := awsid.ParsePrincipal(arn)
	if !ok || p.Service != "iam" {
		return awsid.Principal{}, fmt.Errorf("%w: %q is not an IAM ARN", ErrUnresolvable, arn)
	}
	if err := p.Check(); err != nil && p.Kind != awsid.PrincipalOther {
		return awsid.Principal{}, fmt.Errorf("%w: %q: %v", ErrUnresolvable, arn, err)
	}
	if !slices.Contains(want, p.Kind) {
		return awsid.Principal{}, fmt.Errorf("%w: %q is not an IAM %s ARN", ErrUnresolvable, arn, want[0])
	}
	return p, nil
}

// arnPartition returns the partition of any ARN, or "aws" when it has none we know.
func arnPartition(arn string) string {
	if a, ok := awsid.ParseARN(arn); ok && awsid.IsPartition(a.Partition) {
		return a.Partition
	}
	return "aws"
}

// ResolvePrincipal resolves a CloudTrail userIdentity object to the IAM principal to check.
//
//   - absent or null: nil, nil (there is nobody to check).
//   - IAMUser: the user ARN (type user).
//   - AssumedRole: the issuing role's ARN from sessionContext.sessionIssuer, with path (type
//     role, SessionARN = the session); a role under /aws-service-role/ is a service-linked role.
//   - invokedBy autoscaling.amazonaws.com without a role issuer (older records show type Root):
//     the default Auto Scaling service-linked role of the account.
//   - Root: the account root.
//   - AWSService, AWSAccount, FederatedUser, anything else: type other, ARN as given, never fixed.
//
// Wrong JSON types are an error naming the member. A principal that cannot be built safely
// (ARN that does not parse, account ID not 12 ASCII digits, session without issuer) is an error
// wrapping ErrUnresolvable.
func ResolvePrincipal(userIdentity []byte) (*Principal, error) {
	raw := json.RawMessage(userIdentity)
	if isNull(raw) {
		return nil, nil
	}
	ui, err := parseObject(raw, "userIdentity")
	if err != nil {
		return nil, err
	}
	typ, err := ui.str("type")
	if err != nil {
		return nil, err
	}
	arn, err := ui.str("arn")
	if err != nil {
		return nil, err
	}
	account, err := ui.text("accountId")
	if err != nil {
		return nil, err
	}
	invokedBy, err := ui.str("invokedBy")
	if err != nil {
		return nil, err
	}

	switch typ {
	case "IAMUser":
		return resolveUser(arn, account, invokedBy)
	case "AssumedRole":
		p, err := resolveAssumedRole(ui, arn, account, invokedBy)
		if err != nil && invokedBy == AutoScalingService && errors.Is(err, ErrUnresolvable) {
			// The session's issuer is unusable but the caller is Auto Scaling: its SLR is the
			// principal that needs key access.
			return autoScalingSLR(arn, account, invokedBy)
		}
		return p, err
	case "Root":
		if invokedBy == AutoScalingService {
			return autoScalingSLR(arn, account, invokedBy)
		}
		if !awsid.IsAccountID(account) {
			return nil, fmt.Errorf("%w: root: accountId %q is not 12 digits", ErrUnresolvable, account)
		}
		return &Principal{
			ARN:       "arn:" + arnPartition(arn) + ":iam::" + account + ":root",
			Account:   account,
			Type:      PrincipalRoot,
			InvokedBy: invokedBy,
		}, nil
	default:
		if invokedBy == AutoScalingService {
			return autoScalingSLR(arn, account, invokedBy)
		}
		p := &Principal{ARN: arn, Type: PrincipalOther, InvokedBy: invokedBy}
		if awsid.IsAccountID(account) {
			p.Account = account
		}
		if typ == "" && arn == "" && account == "" && invokedBy == "" {
			return nil, nil // an empty userIdentity object names nobody
		}
		return p, nil
	}
}

func resolveUser(arn, account, invokedBy string) (*Principal, error) {
	a, err := parseIAMARN(arn, awsid.PrincipalUser)
	if err != nil {
		return nil, fmt.Errorf("IAMUser: %w", err)
	}
	if account != "" && account != a.Account {
		return nil, fmt.Errorf("%w: IAMUser: arn account %s differs from accountId %q", ErrUnresolvable, a.Account, account)
	}
	return &Principal{
		ARN:       arn,
		Account:   a.Account,
		Type:      PrincipalUser,
		Name:      a.Name,
		InvokedBy: invokedBy,
	}, nil
}

func resolveAssumedRole(ui object, arn, account, invokedBy string) (*Principal, error) {
	sc, ok, err := ui.obj("sessionContext")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: AssumedRole without sessionContext.sessionIssuer", ErrUnresolvable)
	}
	issuer, ok, err := sc.obj("sessionIssuer")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: AssumedRole without sessionContext.sessionIssuer", ErrUnresolvable)
	}
	issuerType, err := issuer.str("type")
	if err != nil {
		return nil, err
	}
	issuerARN, err := issuer.str("arn")
	if err != nil {
		return nil, err
	}
	if issuerType != "" && issuerType != "Role" {
		return nil, fmt.Errorf("%w: AssumedRole issued by a %s, not a role", ErrUnresolvable, issuerType)
	}
	a, err := parseIAMARN(issuerARN, awsid.PrincipalRole, awsid.PrincipalServiceLinkedRole)
	if err != nil {
		return nil, fmt.Errorf("AssumedRole issuer: %w", err)
	}
	if account != "" && account != a.Account {
		return nil, fmt.Errorf("%w: AssumedRole: issuer account %s differs from accountId %q", ErrUnresolvable, a.Account, account)
	}
	typ := PrincipalRole
	if a.Kind == awsid.PrincipalServiceLinkedRole {
		typ = PrincipalServiceLinkedRole
	}
	return &Principal{
		ARN:        issuerARN,
		SessionARN: arn,
		Account:    a.Account,
		Type:       typ,
		Name:       a.Name,
		InvokedBy:  invokedBy,
	}, nil
}

func autoScalingSLR(arn, account, invokedBy string) (*Principal, error) {
	slr := AutoScalingSLRARN(arnPartition(arn), account)
	if slr == "" {
		return nil, fmt.Errorf("%w: %s: accountId %q is not 12 digits", ErrUnresolvable, AutoScalingService, account)
	}
	p := &Principal{
		ARN:       slr,
		Account:   account,
		Type:      PrincipalServiceLinkedRole,
		Name:      AutoScalingSLRName,
		InvokedBy: invokedBy,
	}
	if strings.Contains(arn, ":assumed-role/") {
		p.SessionARN = arn
	}
	return p, nil
}
