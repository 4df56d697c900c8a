package remediate

import (
	"fmt"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// PrincipalFromARN builds the principal to check from an IAM user or role ARN given by an operator.
func PrincipalFromARN(s string) (*trigger.Principal, error) {
	a, ok := awsid.ParsePrincipal(s)
	if !ok || a.Service != "iam" || !awsid.IsAccountID(a.Account) {
		return nil, fmt.Errorf("--principal %q: want arn:aws:iam::ACCOUNT:user/NAME or arn:aws:iam::ACCOUNT:role/NAME", s)
	}
	p := &trigger.Principal{ARN: s, Account: a.Account, Name: a.Name}
	switch a.Kind {
	case awsid.PrincipalUser:
		p.Type = trigger.PrincipalUser
	case awsid.PrincipalServiceLinkedRole:
		p.Type = trigger.PrincipalServiceLinkedRole
	case awsid.PrincipalRole:
		p.Type = trigger.PrincipalRole
	default:
		return nil, fmt.Errorf("--principal %q: only IAM users and roles can be checked", s)
	}
	return p, nil
}
