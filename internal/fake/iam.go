package fake

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
)

// Principal is an IAM user, role or group.
type Principal struct {
	ARN, Account, Name string
	Inline             map[string]string // inline policy name -> document
	Attached           []string          // managed policy ARNs
	Boundary           string            // permissions boundary (managed policy ARN); not for groups
	Groups             []string          // a user's groups
}

// ManagedPolicy is a customer managed policy.
type ManagedPolicy struct {
	ARN, Account, Name string
	Description        string
	Default            string // version ID
	Versions           []PolicyVersion
	next               int
}

// PolicyVersion is one version of a managed policy.
type PolicyVersion struct {
	ID, Document string
	Created      time.Time
}

// Document is the policy's default version's document.
func (p ManagedPolicy) Document() string {
	for _, v := range p.Versions {
		if v.ID == p.Default {
			return v.Document
		}
	}
	return ""
}

// epoch is the fake clock: each policy version is created a second after the one before.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// AddRole creates a role and returns its ARN.
func (a *AWS) AddRole(account, name string) string {
	return a.addPrincipal(a.roles, account, name, "arn:aws:iam::"+account+":role/"+name)
}

// AddServiceLinkedRole creates a service-linked role of service (e.g. "autoscaling.amazonaws.com")
// and returns its ARN.
func (a *AWS) AddServiceLinkedRole(account, service, name string) string {
	return a.addPrincipal(a.roles, account, name, "arn:aws:iam::"+account+":role/aws-service-role/"+service+"/"+name)
}

// AddUser creates a user and returns its ARN.
func (a *AWS) AddUser(account, name string) string {
	return a.addPrincipal(a.users, account, name, "arn:aws:iam::"+account+":user/"+name)
}

func (a *AWS) addPrincipal(m map[string]*Principal, account, name, arn string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	m[account+"/"+name] = &Principal{ARN: arn, Account: account, Name: name, Inline: map[string]string{}}
	return arn
}

// Principal calls f with the stored user, role or group arn names (to add inline policies, a
// boundary, groups, attachments).
func (a *AWS) Principal(arn string, f func(*Principal)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.principal(arn); p != nil {
		f(p)
	}
}

func (a *AWS) principal(arn string) *Principal {
	for _, m := range []map[string]*Principal{a.roles, a.users, a.iamGroups} {
		for _, p := range m {
			if p.ARN == arn {
				return p
			}
		}
	}
	return nil
}

// AddIAMGroup creates a group and returns its ARN (add policies with Principal).
func (a *AWS) AddIAMGroup(account, name string) string {
	return a.addPrincipal(a.iamGroups, account, name, "arn:aws:iam::"+account+":group/"+name)
}

// AddManagedPolicy creates a customer managed policy with doc as v1 and returns its ARN.
func (a *AWS) AddManagedPolicy(account, name, doc string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.createPolicy(account, name, doc).ARN
}

func (a *AWS) createPolicy(account, name, doc string) *ManagedPolicy {
	p := &ManagedPolicy{ARN: "arn:aws:iam::" + account + ":policy/" + name, Account: account, Name: name}
	a.policies[p.ARN] = p
	a.addVersion(p, doc, true)
	return p
}

func (a *AWS) addVersion(p *ManagedPolicy, doc string, setDefault bool) string {
	p.next++
	a.seq++
	v := PolicyVersion{ID: fmt.Sprintf("v%d", p.next), Document: doc, Created: epoch.Add(time.Duration(a.seq) * time.Second)}
	p.Versions = append(p.Versions, v)
	if setDefault {
		p.Default = v.ID
	}
	return v.ID
}

// AddPolicyVersion adds a version to a managed policy and returns its ID.
func (a *AWS) AddPolicyVersion(policyARN, doc string, setDefault bool) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.policies[policyARN]
	if p == nil {
		return ""
	}
	return a.addVersion(p, doc, setDefault)
}

// DescribePolicy sets a managed policy's description.
func (a *AWS) DescribePolicy(arn, description string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.policies[arn]; p != nil {
		p.Description = description
	}
}

// ManagedPolicy returns a copy of a managed policy.
func (a *AWS) ManagedPolicy(arn string) (ManagedPolicy, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.policies[arn]
	if p == nil {
		return ManagedPolicy{}, false
	}
	c := *p
	c.Versions = slices.Clone(p.Versions)
	return c, true
}

// AttachedTo returns the managed policies attached to a user or role.
func (a *AWS) AttachedTo(principalARN string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.principal(principalARN); p != nil {
		return slices.Clone(p.Attached)
	}
	return nil
}

// IAM is the fake IAM of one account. Documents are answered URL-encoded, as IAM does.
type IAM struct {
	awsapi.IAM
	aws     *AWS
	Account string
}

func encodeDoc(doc string) *string {
	return aws.String(strings.ReplaceAll(url.PathEscape(doc), "+", "%2B"))
}

// The kinds of principal, as the operations name them.
const (
	user  = "user"
	role  = "role"
	group = "group"
)

// find returns the principal of kind named name in the caller's account. The caller holds the lock.
func (c *IAM) find(op, kind, name string) (*Principal, error) {
	m := map[string]map[string]*Principal{user: c.aws.users, role: c.aws.roles, group: c.aws.iamGroups}[kind]
	if p := m[c.Account+"/"+name]; p != nil {
		return p, nil
	}
	return nil, apiError(op, "NoSuchEntity", "The %s with name %s cannot be found.", kind, name)
}

func (c *IAM) policy(op, arn string) (*ManagedPolicy, error) {
	if p := c.aws.policies[arn]; p != nil && p.Account == c.Account {
		return p, nil
	}
	return nil, apiError(op, "NoSuchEntity", "Policy %s does not exist or is not attachable.", arn)
}

// onPrincipal answers op from the principal of kind named name.
func onPrincipal[O any](c *IAM, op, kind, name string, in any, f func(*Principal) (O, error)) (O, error) {
	return answer(c.aws, op, c.Account, "", in, func() (O, error) {
		p, err := c.find(op, kind, name)
		if err != nil {
			var zero O
			return zero, err
		}
		return f(p)
	})
}

// inline returns a principal's inline policy document, URL-encoded.
func inline(op string, p *Principal, name string) (*string, error) {
	doc, ok := p.Inline[name]
	if !ok {
		return nil, apiError(op, "NoSuchEntity", "The policy with name %s cannot be found.", name)
	}
	return encodeDoc(doc), nil
}

func boundary(p *Principal) *iamtypes.AttachedPermissionsBoundary {
	if p.Boundary == "" {
		return nil
	}
	return &iamtypes.AttachedPermissionsBoundary{PermissionsBoundaryArn: aws.String(p.Boundary),
		PermissionsBoundaryType: iamtypes.PermissionsBoundaryAttachmentTypePolicy}
}

func (c *IAM) attachedPolicies(p *Principal) []iamtypes.AttachedPolicy {
	var out []iamtypes.AttachedPolicy
	for _, a := range p.Attached {
		name := a
		if mp := c.aws.policies[a]; mp != nil {
			name = mp.Name
		}
		out = append(out, iamtypes.AttachedPolicy{PolicyArn: aws.String(a), PolicyName: aws.String(name)})
	}
	return out
}

func (c *IAM) GetUser(ctx context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	return onPrincipal(c, "IAM:GetUser", user, aws.ToString(in.UserName), in, func(p *Principal) (*iam.GetUserOutput, error) {
		return &iam.GetUserOutput{User: &iamtypes.User{Arn: aws.String(p.ARN), UserName: aws.String(p.Name), PermissionsBoundary: boundary(p)}}, nil
	})
}

func (c *IAM) GetRole(ctx context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	return onPrincipal(c, "IAM:GetRole", role, aws.ToString(in.RoleName), in, func(p *Principal) (*iam.GetRoleOutput, error) {
		return &iam.GetRoleOutput{Role: &iamtypes.Role{Arn: aws.String(p.ARN), RoleName: aws.String(p.Name), PermissionsBoundary: boundary(p)}}, nil
	})
}

func (c *IAM) ListUserPolicies(ctx context.Context, in *iam.ListUserPoliciesInput, _ ...func(*iam.Options)) (*iam.ListUserPoliciesOutput, error) {
	return onPrincipal(c, "IAM:ListUserPolicies", user, aws.ToString(in.UserName), in, func(p *Principal) (*iam.ListUserPoliciesOutput, error) {
		return &iam.ListUserPoliciesOutput{PolicyNames: sortedKeys(p.Inline)}, nil
	})
}

func (c *IAM) ListRolePolicies(ctx context.Context, in *iam.ListRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	return onPrincipal(c, "IAM:ListRolePolicies", role, aws.ToString(in.RoleName), in, func(p *Principal) (*iam.ListRolePoliciesOutput, error) {
		return &iam.ListRolePoliciesOutput{PolicyNames: sortedKeys(p.Inline)}, nil
	})
}

func (c *IAM) ListGroupPolicies(ctx context.Context, in *iam.ListGroupPoliciesInput, _ ...func(*iam.Options)) (*iam.ListGroupPoliciesOutput, error) {
	return onPrincipal(c, "IAM:ListGroupPolicies", group, aws.ToString(in.GroupName), in, func(p *Principal) (*iam.ListGroupPoliciesOutput, error) {
		return &iam.ListGroupPoliciesOutput{PolicyNames: sortedKeys(p.Inline)}, nil
	})
}

func (c *IAM) GetUserPolicy(ctx context.Context, in *iam.GetUserPolicyInput, _ ...func(*iam.Options)) (*iam.GetUserPolicyOutput, error) {
	const op = "IAM:GetUserPolicy"
	return onPrincipal(c, op, user, aws.ToString(in.UserName), in, func(p *Principal) (*iam.GetUserPolicyOutput, error) {
		doc, err := inline(op, p, aws.ToString(in.PolicyName))
		return &iam.GetUserPolicyOutput{UserName: in.UserName, PolicyName: in.PolicyName, PolicyDocument: doc}, err
	})
}

func (c *IAM) GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, _ ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	const op = "IAM:GetRolePolicy"
	return onPrincipal(c, op, role, aws.ToString(in.RoleName), in, func(p *Principal) (*iam.GetRolePolicyOutput, error) {
		doc, err := inline(op, p, aws.ToString(in.PolicyName))
		return &iam.GetRolePolicyOutput{RoleName: in.RoleName, PolicyName: in.PolicyName, PolicyDocument: doc}, err
	})
}

func (c *IAM) GetGroupPolicy(ctx context.Context, in *iam.GetGroupPolicyInput, _ ...func(*iam.Options)) (*iam.GetGroupPolicyOutput, error) {
	const op = "IAM:GetGroupPolicy"
	return onPrincipal(c, op, group, aws.ToString(in.GroupName), in, func(p *Principal) (*iam.GetGroupPolicyOutput, error) {
		doc, err := inline(op, p, aws.ToString(in.PolicyName))
		return &iam.GetGroupPolicyOutput{GroupName: in.GroupName, PolicyName: in.PolicyName, PolicyDocument: doc}, err
	})
}

func (c *IAM) ListAttachedUserPolicies(ctx context.Context, in *iam.ListAttachedUserPoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedUserPoliciesOutput, error) {
	return onPrincipal(c, "IAM:ListAttachedUserPolicies", user, aws.ToString(in.UserName), in, func(p *Principal) (*iam.ListAttachedUserPoliciesOutput, error) {
		return &iam.ListAttachedUserPoliciesOutput{AttachedPolicies: c.attachedPolicies(p)}, nil
	})
}

func (c *IAM) ListAttachedRolePolicies(ctx context.Context, in *iam.ListAttachedRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	return onPrincipal(c, "IAM:ListAttachedRolePolicies", role, aws.ToString(in.RoleName), in, func(p *Principal) (*iam.ListAttachedRolePoliciesOutput, error) {
		return &iam.ListAttachedRolePoliciesOutput{AttachedPolicies: c.attachedPolicies(p)}, nil
	})
}

func (c *IAM) ListAttachedGroupPolicies(ctx context.Context, in *iam.ListAttachedGroupPoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedGroupPoliciesOutput, error) {
	return onPrincipal(c, "IAM:ListAttachedGroupPolicies", group, aws.ToString(in.GroupName), in, func(p *Principal) (*iam.ListAttachedGroupPoliciesOutput, error) {
		return &iam.ListAttachedGroupPoliciesOutput{AttachedPolicies: c.attachedPolicies(p)}, nil
	})
}

func (c *IAM) ListGroupsForUser(ctx context.Context, in *iam.ListGroupsForUserInput, _ ...func(*iam.Options)) (*iam.ListGroupsForUserOutput, error) {
	return onPrincipal(c, "IAM:ListGroupsForUser", user, aws.ToString(in.UserName), in, func(p *Principal) (*iam.ListGroupsForUserOutput, error) {
		out := &iam.ListGroupsForUserOutput{}
		for _, g := range p.Groups {
			out.Groups = append(out.Groups, iamtypes.Group{GroupName: aws.String(g), Arn: aws.String("arn:aws:iam::" + c.Account + ":group/" + g)})
		}
		return out, nil
	})
}

// onPolicy answers op from the managed policy arn names.
func onPolicy[O any](c *IAM, op string, arn *string, in any, f func(*ManagedPolicy) (O, error)) (O, error) {
	return answer(c.aws, op, c.Account, "", in, func() (O, error) {
		p, err := c.policy(op, aws.ToString(arn))
		if err != nil {
			var zero O
			return zero, err
		}
		return f(p)
	})
}

func (c *IAM) GetPolicy(ctx context.Context, in *iam.GetPolicyInput, _ ...func(*iam.Options)) (*iam.GetPolicyOutput, error) {
	return onPolicy(c, "IAM:GetPolicy", in.PolicyArn, in, func(p *ManagedPolicy) (*iam.GetPolicyOutput, error) {
		return &iam.GetPolicyOutput{Policy: &iamtypes.Policy{Arn: aws.String(p.ARN), PolicyName: aws.String(p.Name), DefaultVersionId: aws.String(p.Default),
			Description: optional(p.Description)}}, nil
	})
}

func (c *IAM) GetPolicyVersion(ctx context.Context, in *iam.GetPolicyVersionInput, _ ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error) {
	const op = "IAM:GetPolicyVersion"
	return onPolicy(c, op, in.PolicyArn, in, func(p *ManagedPolicy) (*iam.GetPolicyVersionOutput, error) {
		id := aws.ToString(in.VersionId)
		for _, v := range p.Versions {
			if v.ID == id {
				return &iam.GetPolicyVersionOutput{PolicyVersion: &iamtypes.PolicyVersion{VersionId: aws.String(v.ID), Document: encodeDoc(v.Document),
					IsDefaultVersion: v.ID == p.Default, CreateDate: aws.Time(v.Created)}}, nil
			}
		}
		return nil, apiError(op, "NoSuchEntity", "Policy %s version %s does not exist.", p.ARN, id)
	})
}
