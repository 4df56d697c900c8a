package remediate

import (
	"strings"
	"testing"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/identity"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/usagepolicy"
)

// Pure parts of the IAM half: no AWS.

const (
	unitKey  = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	unitRole = "arn:aws:iam::444455556666:role/app-deployer"
)

func mustDoc(t *testing.T, s string) *policy.Document {
	t.Helper()
	d, err := policy.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func unitKeyWith(t *testing.T, keyPolicy string) *key {
	return &key{ARN: unitKey, Account: scenario.Owner, Region: "us-east-1", Manager: kmstypes.KeyManagerTypeCustomer,
		State: kmstypes.KeyStateEnabled, Policy: []byte(keyPolicy), Doc: mustDoc(t, keyPolicy)}
}

func TestEvaluateIdentity(t *testing.T) {
	usage := string(usagepolicy.New([]string{unitKey}))
	allowAll := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`
	ec2Only := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:*","Resource":"*"}]}`
	denyDecrypt := `{"Version":"2012-10-17","Statement":[{"Sid":"NoDecrypt","Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]}`
	grantNoCondition := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Decrypt","kms:Encrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:DescribeKey"],"Resource":"` + unitKey + `"}]}`
	otherKeyOnly := string(usagepolicy.New([]string{"arn:aws:kms:us-east-1:111122223333:key/other"}))
	crossAccount := scenario.DefaultKeyPolicy(scenario.Owner) // names only the owner: the identity side is evaluated on its own
	namesRole := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/builder"},"Action":"kms:*","Resource":"*"}]}`
	keyDeny := `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"kms:*","Resource":"*"}]}`
	rootOnly := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`

	src := func(doc string) identity.Source {
		return identity.Source{Kind: identity.SourceManaged, Name: "p", Doc: mustDoc(t, doc)}
	}
	for name, tc := range map[string]struct {
		keyPolicy   string
		principal   string
		policies    []identity.Source
		boundary    *identity.Source
		wantUse     int
		wantGrant   bool
		wantDeny    bool
		wantBlocks  bool
		wantKeyDeny bool
	}{
		"no policies: everything missing":             {keyPolicy: crossAccount, principal: unitRole, wantUse: 7, wantGrant: true},
		"the usage policy covers everything":          {keyPolicy: crossAccount, principal: unitRole, policies: []identity.Source{src(usage)}},
		"kms:* on * covers everything":                {keyPolicy: crossAccount, principal: unitRole, policies: []identity.Source{src(allowAll)}},
		"use only: grant missing":                     {keyPolicy: crossAccount, principal: unitRole, policies: []identity.Source{src(grantNoCondition)}, wantGrant: true},
		"policy for another key does not count":       {keyPolicy: crossAccount, principal: unitRole, policies: []identity.Source{src(otherKeyOnly)}, wantUse: 7, wantGrant: true},
		"identity deny is reported as a deny":         {keyPolicy: crossAccount, principal: unitRole, policies: []identity.Source{src(usage), src(denyDecrypt)}, wantDeny: true},
		"boundary without kms blocks":                 {keyPolicy: crossAccount, principal: unitRole, policies: []identity.Source{src(usage)}, boundary: &identity.Source{Kind: identity.SourceBoundary, Name: "b", Doc: mustDoc(t, ec2Only)}, wantUse: 7, wantGrant: true, wantBlocks: true},
		"boundary allowing kms does not block":        {keyPolicy: crossAccount, principal: unitRole, policies: []identity.Source{src(usage)}, boundary: &identity.Source{Kind: identity.SourceBoundary, Name: "b", Doc: mustDoc(t, allowAll)}},
		"unparsable boundary blocks what is missing":  {keyPolicy: crossAccount, principal: unitRole, boundary: &identity.Source{Kind: identity.SourceBoundary, Name: "b", Unparsed: "bad"}, wantUse: 7, wantGrant: true, wantBlocks: true},
		"same account, key policy names the role":     {keyPolicy: namesRole, principal: "arn:aws:iam::111122223333:role/builder"},
		"same account, root delegation needs IAM":     {keyPolicy: rootOnly, principal: "arn:aws:iam::111122223333:role/builder", wantUse: 7, wantGrant: true},
		"key policy deny: IAM cannot help":            {keyPolicy: keyDeny, principal: unitRole, wantUse: 7, wantGrant: true, wantKeyDeny: true},
		"same account, root delegation and IAM allow": {keyPolicy: rootOnly, principal: "arn:aws:iam::111122223333:role/builder", policies: []identity.Source{src(usage)}},
	} {
		t.Run(name, func(t *testing.T) {
			set := &identity.Set{Policies: tc.policies, Boundary: tc.boundary}
			g := evaluateIdentity(set, unitKeyWith(t, tc.keyPolicy), tc.principal, nil)
			if len(g.use) != tc.wantUse || g.grant != tc.wantGrant || (len(g.denies) > 0) != tc.wantDeny || g.boundaryBlocks() != tc.wantBlocks || g.keyDenies != tc.wantKeyDeny {
				t.Errorf("gap = use %v grant %v denies %v boundary %v (bad %v); want use %d grant %v deny %v blocks %v",
					g.use, g.grant, g.denies, g.boundary, g.boundaryBad, tc.wantUse, tc.wantGrant, tc.wantDeny, tc.wantBlocks)
			}
			if tc.wantDeny && !strings.Contains(strings.Join(g.denies, " "), "NoDecrypt") {
				t.Errorf("deny reasons do not name the statement: %v", g.denies)
			}
		})
	}
}

func TestIdentityPrincipal(t *testing.T) {
	for name, tc := range map[string]struct {
		in   trigger.Principal
		want identity.Principal
	}{
		"role with a path":   {trigger.Principal{ARN: "arn:aws:iam::444455556666:role/team/app", Account: "444455556666", Type: trigger.PrincipalRole, Name: "app"}, identity.Principal{Account: "444455556666", Kind: identity.Role, Name: "app"}},
		"user":               {trigger.Principal{ARN: "arn:aws:iam::444455556666:user/ops/alice", Account: "444455556666", Type: trigger.PrincipalUser, Name: "alice"}, identity.Principal{Account: "444455556666", Kind: identity.User, Name: "alice"}},
		"name from the ARN":  {trigger.Principal{ARN: "arn:aws:iam::444455556666:role/team/app", Account: "444455556666", Type: trigger.PrincipalRole}, identity.Principal{Account: "444455556666", Kind: identity.Role, Name: "app"}},
		"user name from ARN": {trigger.Principal{ARN: "arn:aws:iam::444455556666:user/bob", Account: "444455556666", Type: trigger.PrincipalUser}, identity.Principal{Account: "444455556666", Kind: identity.User, Name: "bob"}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := identityPrincipal(&tc.in); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestIAMKeysSkipsKeysWithTheirOwnFindings(t *testing.T) {
	ok := unitKeyWith(t, scenario.DefaultKeyPolicy(scenario.Owner))
	dup := *ok
	disabled, managed, unreadable := *ok, *ok, *ok
	disabled.ARN, disabled.State = unitKey+"-disabled", kmstypes.KeyStateDisabled
	managed.ARN, managed.Manager = unitKey+"-aws", kmstypes.KeyManagerTypeAws
	unreadable.ARN, unreadable.Doc = unitKey+"-unreadable", nil
	got := iamKeys([]*key{ok, &dup, &disabled, &managed, &unreadable, nil})
	if len(got) != 1 || got[0] != ok {
		t.Errorf("got %d keys", len(got))
	}
}

func TestUseSummary(t *testing.T) {
	if got := useSummary(useRequests); got != "kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey" {
		t.Errorf("all: %s", got)
	}
	if got := useSummary([]string{"kms:Decrypt"}); got != "kms:Decrypt" {
		t.Errorf("one: %s", got)
	}
}
