// Package identity gathers what an IAM user or role is allowed by its own account: its inline
// and attached managed policies, its groups' inline and attached managed policies (users), and
// its permissions boundary. It reads through the narrow awsapi.IAM interface and reads every
// principal, group and managed policy once per Gatherer (one Gatherer per invocation).
//
// What this package cannot see, and so never claims to have evaluated: SCPs, RCPs, session
// policies (NotEvaluated lists them).
package identity

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// Kind is the kind of principal whose policies can be gathered.
type Kind string

const (
	User Kind = "user"
	Role Kind = "role"
)

// Principal names an IAM user or role in its account.
type Principal struct {
	Account string
	Kind    Kind
	Name    string // without path
}

func (p Principal) String() string { return string(p.Kind) + "/" + p.Name + " in " + p.Account }

// Source kinds.
const (
	SourceInline       = "inline"
	SourceManaged      = "managed"
	SourceGroupInline  = "group-inline"
	SourceGroupManaged = "group-managed"
	SourceBoundary     = "boundary"
)

// Source is one policy that applies to the principal.
type Source struct {
	Kind  string // Source* constants
	Name  string // inline policy name, or managed policy ARN
	Group string // the group it comes through (group-* kinds)
	// Version is the managed policy's default version ("" for inline policies).
	Version string
	// Description is the managed policy's description ("" for inline policies).
	Description string
	Doc         *policy.Document // nil when Unparsed is set
	// Unparsed says why the document could not be parsed; such a source is not evaluated.
	Unparsed string
}

// Describe names the source for people: "inline policy deploy", "managed policy arn:...".
func (s Source) Describe() string {
	var d string
	switch s.Kind {
	case SourceInline:
		d = "inline policy " + s.Name
	case SourceGroupInline:
		d = "inline policy " + s.Name + " of group " + s.Group
	case SourceGroupManaged:
		d = "managed policy " + s.Name + " attached to group " + s.Group
	case SourceBoundary:
		d = "permissions boundary " + s.Name
	default:
		d = "managed policy " + s.Name
	}
	return d
}

// Set is everything gathered for one principal.
type Set struct {
	Principal Principal
	ARN       string // as IAM reports it (with path)
	Policies  []Source
	Boundary  *Source // nil when the principal has none
	// Attached lists the managed policy ARNs attached directly to the principal.
	Attached []string
	Groups   []string
}

// NotEvaluated is what an evaluation of a Set can never include.
var NotEvaluated = []string{"service control policies (SCPs)", "resource control policies (RCPs)", "session policies"}

// Documents returns the parsed identity policies (the boundary not included).
func (s *Set) Documents() []*policy.Document {
	var out []*policy.Document
	for _, src := range s.Policies {
		if src.Doc != nil {
			out = append(out, src.Doc)
		}
	}
	return out
}

// BoundaryDocument returns the parsed boundary, nil when there is none (or it did not parse:
// see Unparsed).
func (s *Set) BoundaryDocument() *policy.Document {
	if s.Boundary == nil {
		return nil
	}
	return s.Boundary.Doc
}

// Unparsed lists the sources that could not be parsed, described.
func (s *Set) Unparsed() []string {
	var out []string
	all := s.Policies
	if s.Boundary != nil {
		all = append(append([]Source{}, all...), *s.Boundary)
	}
	for _, src := range all {
		if src.Unparsed != "" {
			out = append(out, src.Describe()+": "+src.Unparsed)
		}
	}
	return out
}

// IsAttached reports whether the managed policy is attached directly to the principal.
func (s *Set) IsAttached(policyARN string) bool {
	for _, a := range s.Attached {
		if a == policyARN {
			return true
		}
	}
	return false
}

// Counts summarises the set: "2 inline, 1 managed, 1 group policy".
func (s *Set) Counts() string {
	n := map[string]int{}
	for _, src := range s.Policies {
		n[src.Kind]++
	}
	parts := []string{fmt.Sprintf("%d inline", n[SourceInline]), fmt.Sprintf("%d attached managed", n[SourceManaged])}
	if s.Principal.Kind == User {
		parts = append(parts, fmt.Sprintf("%d group (%d groups)", n[SourceGroupInline]+n[SourceGroupManaged], len(s.Groups)))
	}
	if s.Boundary != nil {
		parts = append(parts, "a permissions boundary")
	}
	return strings.Join(parts, ", ")
}

// ErrPrincipalNotFound: the user or role does not exist (any more).
var ErrPrincipalNotFound = errors.New("principal not found")

// Gatherer reads principals' policies and caches what it read. Safe for concurrent use.
type Gatherer struct {
	mu      sync.Mutex
	sets    map[string]*once[*Set]
	managed map[string]*once[Source]   // by policy ARN: one read per managed policy
	groups  map[string]*once[[]Source] // by account/group
}

// New returns an empty Gatherer (use one per invocation: policies change between invocations).
func New() *Gatherer {
	return &Gatherer{sets: map[string]*once[*Set]{}, managed: map[string]*once[Source]{}, groups: map[string]*once[[]Source]{}}
}

type once[T any] struct {
	o   sync.Once
	val T
	err error
}

func get[T any](g *Gatherer, m map[string]*once[T], k string, fill func() (T, error)) (T, error) {
	g.mu.Lock()
	e, ok := m[k]
	if !ok {
		e = &once[T]{}
		m[k] = e
	}
	g.mu.Unlock()
	e.o.Do(func() { e.val, e.err = fill() })
	return e.val, e.err
}

// Forget drops what was read about the principal itself (its attachments and inline policies),
// so the next Gather reads them again; managed policies stay cached unless forgotten too.
func (g *Gatherer) Forget(p Principal) {
	g.mu.Lock()
	delete(g.sets, setKey(p))
	g.mu.Unlock()
}

// ForgetPolicy drops a managed policy from the cache (after a new default version).
func (g *Gatherer) ForgetPolicy(policyARN string) {
	g.mu.Lock()
	delete(g.managed, policyARN)
	g.mu.Unlock()
}

func setKey(p Principal) string { return p.Account + "/" + string(p.Kind) + "/" + p.Name }

// Gather returns the principal's policies, read with cl (a client acting in p.Account).
// A principal that does not exist gives an error wrapping ErrPrincipalNotFound.
func (g *Gatherer) Gather(ctx context.Context, cl awsapi.IAM, p Principal) (*Set, error) {
	if p.Kind != User && p.Kind != Role {
		return nil, fmt.Errorf("gather policies of %s: only users and roles have identity policies", p)
	}
	if p.Name == "" {
		return nil, fmt.Errorf("gather policies of %s: no name", p)
	}
	return get(g, g.sets, setKey(p), func() (*Set, error) {
		var (
			s   *Set
			err error
		)
		if p.Kind == User {
			s, err = g.gatherUser(ctx, cl, p)
		} else {
			s, err = g.gatherRole(ctx, cl, p)
		}
		if err != nil {
			return nil, err
		}
		return s, nil
	})
}

func notFound(err error, p Principal) error {
	if awsapi.IsNotFound(err) {
		return fmt.Errorf("%s: %w (%v)", p, ErrPrincipalNotFound, err)
	}
	return nil
}

func (g *Gatherer) gatherRole(ctx context.Context, cl awsapi.IAM, p Principal) (*Set, error) {
	out, err := cl.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(p.Name)})
	if err != nil {
		if nf := notFound(err, p); nf != nil {
			return nil, nf
		}
		return nil, fmt.Errorf("get role %s in %s: %w", p.Name, p.Account, err)
	}
	s := &Set{Principal: p, ARN: aws.ToString(out.Role.Arn)}
	var names []string
	pg := iam.NewListRolePoliciesPaginator(cl, &iam.ListRolePoliciesInput{RoleName: aws.String(p.Name)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list inline policies of role %s in %s: %w", p.Name, p.Account, err)
		}
		names = append(names, page.PolicyNames...)
	}
	for _, n := range names {
		doc, err := cl.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(p.Name), PolicyName: aws.String(n)})
		if err != nil {
			return nil, fmt.Errorf("get inline policy %s of role %s in %s: %w", n, p.Name, p.Account, err)
		}
		s.Policies = append(s.Policies, parsed(Source{Kind: SourceInline, Name: n}, aws.ToString(doc.PolicyDocument)))
	}
	apg := iam.NewListAttachedRolePoliciesPaginator(cl, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(p.Name)})
	for apg.HasMorePages() {
		page, err := apg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list attached policies of role %s in %s: %w", p.Name, p.Account, err)
		}
		for _, a := range page.AttachedPolicies {
			s.Attached = append(s.Attached, aws.ToString(a.PolicyArn))
		}
	}
	if err := g.addManaged(ctx, cl, s, s.Attached, SourceManaged, ""); err != nil {
		return nil, err
	}
	if b := out.Role.PermissionsBoundary; b != nil && aws.ToString(b.PermissionsBoundaryArn) != "" {
		if err := g.addBoundary(ctx, cl, s, aws.ToString(b.PermissionsBoundaryArn)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (g *Gatherer) gatherUser(ctx context.Context, cl awsapi.IAM, p Principal) (*Set, error) {
	out, err := cl.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(p.Name)})
	if err != nil {
		if nf := notFound(err, p); nf != nil {
			return nil, nf
		}
		return nil, fmt.Errorf("get user %s in %s: %w", p.Name, p.Account, err)
	}
	s := &Set{Principal: p, ARN: aws.ToString(out.User.Arn)}
	var names []string
	pg := iam.NewListUserPoliciesPaginator(cl, &iam.ListUserPoliciesInput{UserName: aws.String(p.Name)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list inline policies of user %s in %s: %w", p.Name, p.Account, err)
		}
		names = append(names, page.PolicyNames...)
	}
	for _, n := range names {
		doc, err := cl.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(p.Name), PolicyName: aws.String(n)})
		if err != nil {
			return nil, fmt.Errorf("get inline policy %s of user %s in %s: %w", n, p.Name, p.Account, err)
		}
		s.Policies = append(s.Policies, parsed(Source{Kind: SourceInline, Name: n}, aws.ToString(doc.PolicyDocument)))
	}
	apg := iam.NewListAttachedUserPoliciesPaginator(cl, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(p.Name)})
	for apg.HasMorePages() {
		page, err := apg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list attached policies of user %s in %s: %w", p.Name, p.Account, err)
		}
		for _, a := range page.AttachedPolicies {
			s.Attached = append(s.Attached, aws.ToString(a.PolicyArn))
		}
	}
	if err := g.addManaged(ctx, cl, s, s.Attached, SourceManaged, ""); err != nil {
		return nil, err
	}
	gpg := iam.NewListGroupsForUserPaginator(cl, &iam.ListGroupsForUserInput{UserName: aws.String(p.Name)})
	for gpg.HasMorePages() {
		page, err := gpg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list groups of user %s in %s: %w", p.Name, p.Account, err)
		}
		for _, gr := range page.Groups {
			s.Groups = append(s.Groups, aws.ToString(gr.GroupName))
		}
	}
	sort.Strings(s.Groups)
	for _, gr := range s.Groups {
		srcs, err := g.group(ctx, cl, p.Account, gr)
		if err != nil {
			return nil, err
		}
		s.Policies = append(s.Policies, srcs...)
	}
	if b := out.User.PermissionsBoundary; b != nil && aws.ToString(b.PermissionsBoundaryArn) != "" {
		if err := g.addBoundary(ctx, cl, s, aws.ToString(b.PermissionsBoundaryArn)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// group reads a group's inline and attached managed policies once.
func (g *Gatherer) group(ctx context.Context, cl awsapi.IAM, account, name string) ([]Source, error) {
	return get(g, g.groups, account+"/"+name, func() ([]Source, error) {
		var out []Source
		var names []string
		pg := iam.NewListGroupPoliciesPaginator(cl, &iam.ListGroupPoliciesInput{GroupName: aws.String(name)})
		for pg.HasMorePages() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list inline policies of group %s in %s: %w", name, account, err)
			}
			names = append(names, page.PolicyNames...)
		}
		for _, n := range names {
			doc, err := cl.GetGroupPolicy(ctx, &iam.GetGroupPolicyInput{GroupName: aws.String(name), PolicyName: aws.String(n)})
			if err != nil {
				return nil, fmt.Errorf("get inline policy %s of group %s in %s: %w", n, name, account, err)
			}
			out = append(out, parsed(Source{Kind: SourceGroupInline, Name: n, Group: name}, aws.ToString(doc.PolicyDocument)))
		}
		var arns []string
		apg := iam.NewListAttachedGroupPoliciesPaginator(cl, &iam.ListAttachedGroupPoliciesInput{GroupName: aws.String(name)})
		for apg.HasMorePages() {
			page, err := apg.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("list attached policies of group %s in %s: %w", name, account, err)
			}
			for _, a := range page.AttachedPolicies {
				arns = append(arns, aws.ToString(a.PolicyArn))
			}
		}
		s := &Set{}
		if err := g.addManaged(ctx, cl, s, arns, SourceGroupManaged, name); err != nil {
			return nil, err
		}
		return append(out, s.Policies...), nil
	})
}

func (g *Gatherer) addManaged(ctx context.Context, cl awsapi.IAM, s *Set, arns []string, kind, group string) error {
	for _, a := range arns {
		src, err := g.Managed(ctx, cl, a)
		if err != nil {
			return err
		}
		src.Kind, src.Group = kind, group
		s.Policies = append(s.Policies, src)
	}
	return nil
}

func (g *Gatherer) addBoundary(ctx context.Context, cl awsapi.IAM, s *Set, arn string) error {
	src, err := g.Managed(ctx, cl, arn)
	if err != nil {
		return fmt.Errorf("permissions boundary of %s: %w", s.Principal, err)
	}
	src.Kind = SourceBoundary
	s.Boundary = &src
	return nil
}

// Managed reads a managed policy's default version once per Gatherer.
func (g *Gatherer) Managed(ctx context.Context, cl awsapi.IAM, policyARN string) (Source, error) {
	return get(g, g.managed, policyARN, func() (Source, error) {
		p, err := cl.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(policyARN)})
		if err != nil {
			return Source{}, fmt.Errorf("get policy %s: %w", policyARN, err)
		}
		if p.Policy == nil {
			return Source{}, fmt.Errorf("get policy %s: the answer has no policy", policyARN)
		}
		version := aws.ToString(p.Policy.DefaultVersionId)
		v, err := cl.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(policyARN), VersionId: aws.String(version)})
		if err != nil {
			return Source{}, fmt.Errorf("get policy %s version %s: %w", policyARN, version, err)
		}
		src := Source{Kind: SourceManaged, Name: policyARN, Version: version, Description: aws.ToString(p.Policy.Description)}
		if v.PolicyVersion == nil {
			src.Unparsed = "the answer has no policy version"
			return src, nil
		}
		doc, err := policy.DecodeIAM(aws.ToString(v.PolicyVersion.Document))
		if err != nil {
			src.Unparsed = err.Error()
			return src, nil
		}
		return parseDoc(src, doc), nil
	})
}

// parsed decodes (URL-encoded, as IAM returns documents) and parses a document into src.
func parsed(src Source, raw string) Source {
	text, err := policy.DecodeIAM(raw)
	if err != nil {
		src.Unparsed = err.Error()
		return src
	}
	return parseDoc(src, text)
}

// parseDoc parses an already decoded document into src.
func parseDoc(src Source, text string) Source {
	doc, err := policy.Parse([]byte(text))
	if err != nil {
		src.Unparsed = err.Error()
		return src
	}
	src.Doc = doc
	return src
}
