package remediate

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/fake"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// launchGrantOps are the operations of AWS's launch grant (EC2 Auto Scaling User Guide, example 2).
var launchGrantOps = []kmstypes.GrantOperation{kmstypes.GrantOperationEncrypt, kmstypes.GrantOperationDecrypt,
	kmstypes.GrantOperationReEncryptFrom, kmstypes.GrantOperationReEncryptTo, kmstypes.GrantOperationGenerateDataKey,
	kmstypes.GrantOperationGenerateDataKeyWithoutPlaintext, kmstypes.GrantOperationDescribeKey, kmstypes.GrantOperationCreateGrant}

// A grant naming the launching principal counts as its identity side: with one for every EC2
// operation nothing is missing; a grant that lacks one, or is constrained to an encryption context,
// leaves the findings; a grant that cannot be read is said so, and the findings stay.
func TestGrantSatisfiesTheIdentitySide(t *testing.T) {
	for name, tc := range map[string]struct {
		grant    *kmstypes.GrantListEntry
		fail     error
		use      bool // iam-missing-use stays
		grantOp  bool // iam-missing-grant stays
		note     string
		retry    bool
		grantees int // ListGrants calls
	}{
		"no grant":                    {use: true, grantOp: true, grantees: 1},
		"a full grant":                {grant: &kmstypes.GrantListEntry{Operations: launchGrantOps}, grantees: 1},
		"a grant without CreateGrant": {grant: &kmstypes.GrantListEntry{Operations: launchGrantOps[:7]}, grantOp: true, grantees: 1},
		"a grant of CreateGrant only": {grant: &kmstypes.GrantListEntry{Operations: launchGrantOps[7:]}, use: true, grantees: 1},
		"a constrained grant": {grant: &kmstypes.GrantListEntry{Operations: launchGrantOps,
			Constraints: &kmstypes.GrantConstraints{EncryptionContextSubset: map[string]string{"aws:ebs:id": "vol-0123"}}}, use: true, grantOp: true, grantees: 1},
		"grants not readable": {fail: fake.Error("AccessDeniedException", "no"), use: true, grantOp: true, note: "grants on", grantees: 1},
		"grants throttled":    {fail: fake.Error("ThrottlingException", "slow"), use: true, grantOp: true, note: "grants on", retry: true, grantees: 1},
	} {
		t.Run(name, func(t *testing.T) {
			u := newUnit(t, unitSetup{mode: config.ModeAlert, trusted: []string{scenario.Target}})
			k := u.key(allowingTarget(t))
			role := u.cloud.AddRole(scenario.Target, "app-deployer")
			if tc.grant != nil {
				g := *tc.grant
				g.GrantId, g.GranteePrincipal, g.KeyId = aws.String("g-1"), aws.String(role), aws.String(k)
				u.cloud.Key(k, func(key *fake.Key) { key.Grants = append(key.Grants, g) })
			}
			if tc.fail != nil {
				u.cloud.Fail("KMS:ListGrants", tc.fail)
			}
			event := launchEvent(t, u.image([]string{k}, scenario.Target), "app-deployer")
			u.confirmLaunch(t, event)
			resp := u.deliver(event)
			codes := findingCodes(resp.Records)
			if got := strings.Contains(codes, string(report.IAMMissingUse)); got != tc.use {
				t.Errorf("findings %s: iam-missing-use %v, want %v", codes, got, tc.use)
			}
			if got := strings.Contains(codes, string(report.IAMMissingGrant)); got != tc.grantOp {
				t.Errorf("findings %s: iam-missing-grant %v, want %v", codes, got, tc.grantOp)
			}
			if got := u.cloud.Count("KMS:ListGrants"); got != tc.grantees {
				t.Errorf("%d ListGrants calls, want %d", got, tc.grantees)
			}
			for _, c := range u.cloud.Calls("KMS:ListGrants") {
				if c.Account != scenario.Owner {
					t.Errorf("grants read in %s, want the key's account", c.Account)
				}
			}
			if notes := strings.Join(resp.Records[0].Notes, "\n"); !strings.Contains(notes, tc.note) {
				t.Errorf("notes %q lack %q", notes, tc.note)
			}
			if got := len(failed(resp)) == 1; got != tc.retry {
				t.Errorf("handed back %v, want %v", got, tc.retry)
			}
		})
	}
}
