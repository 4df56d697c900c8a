package awsid

import (
	"errors"
	"fmt"
	"strings"
)

// PrincipalKind says what a principal ARN names.
type PrincipalKind string

const (
	PrincipalOther             PrincipalKind = "other" // an ARN, but not one of the shapes below
	PrincipalRoot              PrincipalKind = "root"  // arn:P:iam::ACCOUNT:root
	PrincipalUser              PrincipalKind = "user"  // arn:P:iam::ACCOUNT:user/[PATH/]NAME
	PrincipalRole              PrincipalKind = "role"  // arn:P:iam::ACCOUNT:role/[PATH/]NAME
	PrincipalServiceLinkedRole PrincipalKind = "service-linked-role"
	PrincipalAssumedRole       PrincipalKind = "assumed-role"   // arn:P:sts::ACCOUNT:assumed-role/ROLE/SESSION
	PrincipalFederated         PrincipalKind = "federated-user" // arn:P:sts::ACCOUNT:federated-user/NAME
)

// ServiceLinkedRolePath starts the path of every service-linked role
// (arn:aws:iam::ACCOUNT:role/aws-service-role/SERVICE/NAME).
// https://docs.aws.amazon.com/IAM/latest/UserGuide/using-service-linked-roles.html
const ServiceLinkedRolePath = "/aws-service-role/"

// Principal is a principal ARN taken apart. The embedded ARN keeps the six fields (Partition
// and Account among them).
type Principal struct {
	ARN
	Kind    PrincipalKind
	Path    string // users and roles: "/" or "/a/b/"; a service-linked role's is /aws-service-role/SERVICE/
	Name    string // user or role name (an assumed-role session: its role's; a federated user: the name given)
	Session string // assumed-role sessions: the session name
}

// ParsePrincipal classifies a principal ARN by its shape (see PrincipalKind); false when s is
// not an ARN at all. An ARN of any other shape, or one whose name is empty, is PrincipalOther
// with its fields still split. The shape is all it checks: Check says whether every part is one
// IAM would accept. A policy's bare account ID ("111122223333") is not an ARN: callers that
// take the policy shorthand handle it first.
//
// Formats: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns
func ParsePrincipal(s string) (Principal, bool) {
	a, ok := ParseARN(s)
	if !ok {
		return Principal{}, false
	}
	p := Principal{ARN: a, Kind: PrincipalOther}
	typ, rest, _ := strings.Cut(a.Resource, "/")
	switch {
	case a.Service == "iam" && a.Resource == "root":
		p.Kind = PrincipalRoot
	case a.Service == "iam" && (typ == "user" || typ == "role") && strings.Contains(a.Resource, "/"):
		i := strings.LastIndexByte(rest, '/')
		if rest[i+1:] == "" {
			break
		}
		p.Path, p.Name = "/"+rest[:i+1], rest[i+1:]
		switch {
		case typ == "user":
			p.Kind = PrincipalUser
		case strings.HasPrefix(p.Path, ServiceLinkedRolePath):
			p.Kind = PrincipalServiceLinkedRole
		default:
			p.Kind = PrincipalRole
		}
	case a.Service == "sts" && typ == "assumed-role":
		role, session, _ := strings.Cut(rest, "/")
		if role != "" && session != "" {
			p.Kind, p.Name, p.Session = PrincipalAssumedRole, role, session
		}
	case a.Service == "sts" && typ == "federated-user" && rest != "":
		p.Kind, p.Name = PrincipalFederated, rest
	}
	return p, true
}

// Check reports what makes p unfit to act on: a partition that is not one of AWS's, a region
// (principal ARNs have none), an account that is not 12 ASCII digits, or a path, name or session
// that is empty, longer than 128 characters or holds a character IAM does not allow
// ([\w+=,.@-]). nil means IAM could have issued it. PrincipalOther is always an error: its
// parts mean nothing here.
func (p Principal) Check() error {
	switch {
	case p.Kind == "" || p.Kind == PrincipalOther:
		return errors.New("not an IAM or STS principal")
	case !IsPartition(p.Partition):
		return fmt.Errorf("unknown partition %q", p.Partition)
	case p.Region != "":
		return fmt.Errorf("region %q in a principal ARN", p.Region)
	case !IsAccountID(p.Account):
		return fmt.Errorf("account %q is not 12 digits", p.Account)
	}
	var parts []string
	if len(p.Path) > 1 { // "/" is the empty path; any other starts and ends with "/"
		parts = strings.Split(p.Path[1:len(p.Path)-1], "/")
	}
	switch p.Kind {
	case PrincipalUser, PrincipalRole, PrincipalServiceLinkedRole, PrincipalFederated:
		parts = append(parts, p.Name)
	case PrincipalAssumedRole:
		parts = append(parts, p.Name, p.Session)
	}
	for _, s := range parts {
		if s == "" || len(s) > 128 {
			return errors.New("bad path or name")
		}
		for i := 0; i < len(s); i++ {
			if !IsIAMNameChar(s[i]) {
				return errors.New("bad character in path or name")
			}
		}
	}
	return nil
}

// IsIAMNameChar reports whether c may appear in an IAM user or role name, a path segment or a
// session name ([\w+=,.@-]).
func IsIAMNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.IndexByte("+=,.@_-", c) >= 0
}

// IsPartition reports whether p is an AWS partition: aws, aws-cn, aws-us-gov
// (https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html)
// and the isolated and sovereign partitions the SDK's endpoint rules name.
func IsPartition(p string) bool {
	switch p {
	case "aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b", "aws-iso-e", "aws-iso-f", "aws-eusc":
		return true
	}
	return false
}

// SamePrincipal reports whether grantee (a user, role or role-session ARN, as a KMS grant or a
// resource policy names one) is the principal p names: the same user, the same role or a session
// of it, or the same session. Role and user names are unique in an account whatever their path,
// so a session ARN (which has no path) matches its role by name.
func SamePrincipal(grantee, p string) bool {
	g, ok1 := ParsePrincipal(grantee)
	q, ok2 := ParsePrincipal(p)
	if !ok1 || !ok2 || g.Account != q.Account || g.Partition != q.Partition || g.Name == "" {
		return false
	}
	role := func(k PrincipalKind) bool {
		return k == PrincipalRole || k == PrincipalServiceLinkedRole || k == PrincipalAssumedRole
	}
	switch {
	case g.Kind == PrincipalUser:
		return q.Kind == PrincipalUser && g.Name == q.Name
	case g.Kind == PrincipalAssumedRole: // a grant to one session is that session's only
		return q.Kind == PrincipalAssumedRole && g.Name == q.Name && g.Session == q.Session
	case role(g.Kind):
		return role(q.Kind) && g.Name == q.Name
	}
	return false
}
