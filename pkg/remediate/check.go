package remediate

import (
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// CheckKind is the trigger kind of `amikms check`: a launch of the image by the account, checked
// before (or without) any event.
const CheckKind trigger.Kind = "check"

// PrincipalFromARN builds the principal to check from an IAM user or role ARN given by an operator.
func PrincipalFromARN(s string) (*trigger.Principal, error) {
	a, ok := awsid.ParseARN(s)
	if !ok || a.Service != "iam" || !awsid.IsAccountID(a.Account) {
		return nil, fmt.Errorf("--principal %q: want arn:aws:iam::ACCOUNT:user/NAME or arn:aws:iam::ACCOUNT:role/NAME", s)
	}
	p := &trigger.Principal{ARN: s, Account: a.Account}
	name := a.Resource[strings.LastIndex(a.Resource, "/")+1:]
	switch {
	case strings.HasPrefix(a.Resource, "user/"):
		p.Type, p.Name = trigger.PrincipalUser, name
	case strings.HasPrefix(a.Resource, "role/aws-service-role/"):
		p.Type, p.Name = trigger.PrincipalServiceLinkedRole, name
	case strings.HasPrefix(a.Resource, "role/"):
		p.Type, p.Name = trigger.PrincipalRole, name
	default:
		return nil, fmt.Errorf("--principal %q: only IAM users and roles can be checked", s)
	}
	return p, nil
}
