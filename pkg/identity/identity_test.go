package identity

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
)

// fakeIAM is an IAM account in memory that records every call. Documents are returned
// URL-encoded, as IAM does. Methods the gatherer must not call are left to the nil embedded
// interface (calling one panics the test).
type fakeIAM struct {
	awsapi.IAM
	mu          sync.Mutex
	calls       map[string]int
	inline      map[string]map[string]string // "user/x", "role/x", "group/x" -> name -> doc
	attached    map[string][]string          // same keys -> policy ARNs
	groups      map[string][]string          // user -> groups
	managed     map[string]string            // ARN -> default doc
	boundary    map[string]string            // "user/x"/"role/x" -> ARN
	failManaged error
}

func newFake() *fakeIAM {
	return &fakeIAM{calls: map[string]int{}, inline: map[string]map[string]string{}, attached: map[string][]string{},
		groups: map[string][]string{}, managed: map[string]string{}, boundary: map[string]string{}}
}

func (f *fakeIAM) call(op string) {
	f.mu.Lock()
	f.calls[op]++
	f.mu.Unlock()
}

func enc(doc string) *string { return aws.String(strings.ReplaceAll(url.PathEscape(doc), "+", "%2B")) }

var errNoSuchEntity = &iamtypes.NoSuchEntityException{Message: aws.String("not found")}

func (f *fakeIAM) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	f.call("GetRole")
	k := "role/" + aws.ToString(in.RoleName)
	if _, ok := f.inline[k]; !ok {
		return nil, errNoSuchEntity
	}
	r := &iamtypes.Role{Arn: aws.String("arn:aws:iam::444455556666:" + k)}
	if b := f.boundary[k]; b != "" {
		r.PermissionsBoundary = &iamtypes.AttachedPermissionsBoundary{PermissionsBoundaryArn: aws.String(b)}
	}
	return &iam.GetRoleOutput{Role: r}, nil
}

func (f *fakeIAM) GetUser(_ context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	f.call("GetUser")
	k := "user/" + aws.ToString(in.UserName)
	if _, ok := f.inline[k]; !ok {
		return nil, errNoSuchEntity
	}
	u := &iamtypes.User{Arn: aws.String("arn:aws:iam::444455556666:" + k)}
	if b := f.boundary[k]; b != "" {
		u.PermissionsBoundary = &iamtypes.AttachedPermissionsBoundary{PermissionsBoundaryArn: aws.String(b)}
	}
	return &iam.GetUserOutput{User: u}, nil
}

func (f *fakeIAM) names(k string) []string {
	var out []string
	for n := range f.inline[k] {
		out = append(out, n)
	}
	return out
}

func (f *fakeIAM) ListRolePolicies(_ context.Context, in *iam.ListRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListRolePoliciesOutput, error) {
	f.call("ListRolePolicies")
	return &iam.ListRolePoliciesOutput{PolicyNames: f.names("role/" + aws.ToString(in.RoleName))}, nil
}

func (f *fakeIAM) ListUserPolicies(_ context.Context, in *iam.ListUserPoliciesInput, _ ...func(*iam.Options)) (*iam.ListUserPoliciesOutput, error) {
	f.call("ListUserPolicies")
	return &iam.ListUserPoliciesOutput{PolicyNames: f.names("user/" + aws.ToString(in.UserName))}, nil
}

func (f *fakeIAM) ListGroupPolicies(_ context.Context, in *iam.ListGroupPoliciesInput, _ ...func(*iam.Options)) (*iam.ListGroupPoliciesOutput, error) {
	f.call("ListGroupPolicies")
	return &iam.ListGroupPoliciesOutput{PolicyNames: f.names("group/" + aws.ToString(in.GroupName))}, nil
}

func (f *fakeIAM) GetRolePolicy(_ context.Context, in *iam.GetRolePolicyInput, _ ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error) {
	f.call("GetRolePolicy")
	return &iam.GetRolePolicyOutput{PolicyDocument: enc(f.inline["role/"+aws.ToString(in.RoleName)][aws.ToString(in.PolicyName)])}, nil
}

func (f *fakeIAM) GetUserPolicy(_ context.Context, in *iam.GetUserPolicyInput, _ ...func(*iam.Options)) (*iam.GetUserPolicyOutput, error) {
	f.call("GetUserPolicy")
	return &iam.GetUserPolicyOutput{PolicyDocument: enc(f.inline["user/"+aws.ToString(in.UserName)][aws.ToString(in.PolicyName)])}, nil
}

func (f *fakeIAM) GetGroupPolicy(_ context.Context, in *iam.GetGroupPolicyInput, _ ...func(*iam.Options)) (*iam.GetGroupPolicyOutput, error) {
	f.call("GetGroupPolicy")
	return &iam.GetGroupPolicyOutput{PolicyDocument: enc(f.inline["group/"+aws.ToString(in.GroupName)][aws.ToString(in.PolicyName)])}, nil
}

func attachedOut(arns []string) []iamtypes.AttachedPolicy {
	var out []iamtypes.AttachedPolicy
	for _, a := range arns {
		out = append(out, iamtypes.AttachedPolicy{PolicyArn: aws.String(a)})
	}
	return out
}

func (f *fakeIAM) ListAttachedRolePolicies(_ context.Context, in *iam.ListAttachedRolePoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedRolePoliciesOutput, error) {
	f.call("ListAttachedRolePolicies")
	return &iam.ListAttachedRolePoliciesOutput{AttachedPolicies: attachedOut(f.attached["role/"+aws.ToString(in.RoleName)])}, nil
}

func (f *fakeIAM) ListAttachedUserPolicies(_ context.Context, in *iam.ListAttachedUserPoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedUserPoliciesOutput, error) {
	f.call("ListAttachedUserPolicies")
	return &iam.ListAttachedUserPoliciesOutput{AttachedPolicies: attachedOut(f.attached["user/"+aws.ToString(in.UserName)])}, nil
}

func (f *fakeIAM) ListAttachedGroupPolicies(_ context.Context, in *iam.ListAttachedGroupPoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedGroupPoliciesOutput, error) {
	f.call("ListAttachedGroupPolicies")
	return &iam.ListAttachedGroupPoliciesOutput{AttachedPolicies: attachedOut(f.attached["group/"+aws.ToString(in.GroupName)])}, nil
}

func (f *fakeIAM) ListGroupsForUser(_ context.Context, in *iam.ListGroupsForUserInput, _ ...func(*iam.Options)) (*iam.ListGroupsForUserOutput, error) {
	f.call("ListGroupsForUser")
	var gs []iamtypes.Group
	for _, g := range f.groups[aws.ToString(in.UserName)] {
		gs = append(gs, iamtypes.Group{GroupName: aws.String(g)})
	}
	return &iam.ListGroupsForUserOutput{Groups: gs}, nil
}

func (f *fakeIAM) GetPolicy(_ context.Context, in *iam.GetPolicyInput, _ ...func(*iam.Options)) (*iam.GetPolicyOutput, error) {
	f.call("GetPolicy")
	if f.failManaged != nil {
		return nil, f.failManaged
	}
	if _, ok := f.managed[aws.ToString(in.PolicyArn)]; !ok {
		return nil, errNoSuchEntity
	}
	return &iam.GetPolicyOutput{Policy: &iamtypes.Policy{Arn: in.PolicyArn, DefaultVersionId: aws.String("v3")}}, nil
}

func (f *fakeIAM) GetPolicyVersion(_ context.Context, in *iam.GetPolicyVersionInput, _ ...func(*iam.Options)) (*iam.GetPolicyVersionOutput, error) {
	f.call("GetPolicyVersion:" + aws.ToString(in.PolicyArn))
	if aws.ToString(in.VersionId) != "v3" {
		return nil, errors.New("asked for a version that is not the default")
	}
	return &iam.GetPolicyVersionOutput{PolicyVersion: &iamtypes.PolicyVersion{Document: enc(f.managed[aws.ToString(in.PolicyArn)])}}, nil
}

const (
	allowDecrypt = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"arn:aws:kms:us-east-1:111122223333:key/a+b"}]}`
	shared       = "arn:aws:iam::444455556666:policy/shared"
	boundaryARN  = "arn:aws:iam::444455556666:policy/boundary"
	awsManaged   = "arn:aws:iam::aws:policy/ReadOnlyAccess"
)

// world: two users in a group; the group and one user attach the same managed policy; a role
// with an inline policy, an AWS managed policy and a boundary.
func world() *fakeIAM {
	f := newFake()
	f.inline["user/alice"] = map[string]string{"own": allowDecrypt}
	f.inline["user/bob"] = map[string]string{}
	f.inline["group/builders"] = map[string]string{"g-inline": allowDecrypt}
	f.inline["group/ops"] = map[string]string{}
	f.inline["role/app"] = map[string]string{"deploy": allowDecrypt}
	f.groups["alice"] = []string{"ops", "builders"}
	f.groups["bob"] = []string{"builders"}
	f.attached["user/alice"] = []string{shared}
	f.attached["group/builders"] = []string{shared}
	f.attached["role/app"] = []string{awsManaged, shared}
	f.managed[shared] = allowDecrypt
	f.managed[awsManaged] = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ec2:Describe*"],"Resource":"*"}]}`
	f.managed[boundaryARN] = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`
	f.boundary["role/app"] = boundaryARN
	return f
}

func TestGatherReadsEachPolicyOnce(t *testing.T) {
	f := world()
	g := New()
	ctx := context.Background()
	alice, err := g.Gather(ctx, f, Principal{Account: "444455556666", Kind: User, Name: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := g.Gather(ctx, f, Principal{Account: "444455556666", Kind: User, Name: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := g.Gather(ctx, f, Principal{Account: "444455556666", Kind: Role, Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Gather(ctx, f, Principal{Account: "444455556666", Kind: User, Name: "alice"}); err != nil {
		t.Fatal(err)
	}

	// alice: own inline, attached shared, builders' inline + shared; ops has nothing.
	if got := kinds(alice); got != "inline,managed,group-inline,group-managed" {
		t.Errorf("alice sources = %s", got)
	}
	if fmt.Sprint(alice.Groups) != "[builders ops]" || !alice.IsAttached(shared) || alice.Boundary != nil {
		t.Errorf("alice: groups %v attached %v boundary %v", alice.Groups, alice.Attached, alice.Boundary)
	}
	if got := kinds(bob); got != "group-inline,group-managed" {
		t.Errorf("bob sources = %s", got)
	}
	if got := kinds(app); got != "inline,managed,managed" || app.Boundary == nil || app.Boundary.Name != boundaryARN || app.BoundaryDocument() == nil {
		t.Errorf("app sources = %s, boundary %+v", got, app.Boundary)
	}
	if app.IsAttached(boundaryARN) {
		t.Error("a boundary is not an attached policy")
	}
	for _, s := range append(append(alice.Policies, bob.Policies...), app.Policies...) {
		if s.Doc == nil || s.Unparsed != "" {
			t.Errorf("%s not parsed: %s", s.Describe(), s.Unparsed)
			continue
		}
		// The '+' in the key ARN survives URL decoding (path unescaping).
		if s.Name != awsManaged && !strings.Contains(s.Doc.String(), "key/a+b") {
			t.Errorf("%s decoded wrongly: %s", s.Describe(), s.Doc.String())
		}
	}
	for op, want := range map[string]int{
		"GetUser": 2, "GetRole": 1, "ListGroupsForUser": 2,
		"GetGroupPolicy": 1, "ListGroupPolicies": 2, "ListAttachedGroupPolicies": 2, // builders once, ops once
		"GetPolicy":                       3, // shared, ReadOnlyAccess, boundary
		"GetPolicyVersion:" + shared:      1,
		"GetPolicyVersion:" + boundaryARN: 1,
		"GetPolicyVersion:" + awsManaged:  1,
		"GetUserPolicy":                   1,
		"GetRolePolicy":                   1,
		"ListAttachedUserPolicies":        2,
		"ListAttachedRolePolicies":        1,
		"ListUserPolicies":                2,
		"ListRolePolicies":                1,
	} {
		if f.calls[op] != want {
			t.Errorf("%s called %d times, want %d (all: %v)", op, f.calls[op], want, f.calls)
		}
	}
}

func TestForgetReadsAgain(t *testing.T) {
	f := world()
	g := New()
	ctx := context.Background()
	p := Principal{Account: "444455556666", Kind: Role, Name: "app"}
	if _, err := g.Gather(ctx, f, p); err != nil {
		t.Fatal(err)
	}
	f.attached["role/app"] = append(f.attached["role/app"], boundaryARN)
	g.Forget(p)
	g.ForgetPolicy(shared)
	s, err := g.Gather(ctx, f, p)
	if err != nil {
		t.Fatal(err)
	}
	if !s.IsAttached(boundaryARN) || f.calls["GetRole"] != 2 || f.calls["GetPolicyVersion:"+shared] != 2 || f.calls["GetPolicyVersion:"+awsManaged] != 1 {
		t.Errorf("after Forget: attached %v calls %v", s.Attached, f.calls)
	}
}

func TestGatherErrors(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		p        Principal
		prepare  func(*fakeIAM)
		notFound bool
		wantErr  string
	}{
		"missing role":          {p: Principal{Account: "444455556666", Kind: Role, Name: "gone"}, notFound: true},
		"missing user":          {p: Principal{Account: "444455556666", Kind: User, Name: "gone"}, notFound: true},
		"not a user or role":    {p: Principal{Account: "444455556666", Kind: "group", Name: "x"}, wantErr: "only users and roles"},
		"no name":               {p: Principal{Account: "444455556666", Kind: Role}, wantErr: "no name"},
		"managed policy denied": {p: Principal{Account: "444455556666", Kind: Role, Name: "app"}, prepare: func(f *fakeIAM) { f.failManaged = errors.New("AccessDenied") }, wantErr: "get policy"},
	} {
		t.Run(name, func(t *testing.T) {
			f := world()
			if tc.prepare != nil {
				tc.prepare(f)
			}
			_, err := New().Gather(ctx, f, tc.p)
			if err == nil {
				t.Fatal("no error")
			}
			if errors.Is(err, ErrPrincipalNotFound) != tc.notFound || (tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v", err)
			}
		})
	}
}

func TestUnparsableDocumentIsReportedNotEvaluated(t *testing.T) {
	f := world()
	f.inline["role/app"]["broken"] = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`
	f.managed[boundaryARN] = `not json`
	s, err := New().Gather(context.Background(), f, Principal{Account: "444455556666", Kind: Role, Name: "app"})
	if err != nil {
		t.Fatal(err)
	}
	un := s.Unparsed()
	if len(un) != 2 || !strings.Contains(strings.Join(un, "|"), "inline policy broken") || !strings.Contains(strings.Join(un, "|"), "permissions boundary "+boundaryARN) {
		t.Errorf("unparsed = %v", un)
	}
	if s.BoundaryDocument() != nil || len(s.Documents()) != 3 {
		t.Errorf("documents %d, boundary %v", len(s.Documents()), s.BoundaryDocument())
	}
}

func kinds(s *Set) string {
	var out []string
	for _, p := range s.Policies {
		out = append(out, p.Kind)
	}
	return strings.Join(out, ",")
}
