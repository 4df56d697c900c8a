package remediate

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// TRUSTED_ORGANIZATION_ID: an account is trusted only when organizations:DescribeAccount confirms
// it belongs to that organization (moto models Organizations in the owner account).
func TestTrustedOrganizationMembership(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	orgs := organizations.NewFromConfig(scenario.Config(world.Endpoint, scenario.Owner, 2))
	var org *orgtypes.Organization
	created0, err := orgs.CreateOrganization(ctx, &organizations.CreateOrganizationInput{FeatureSet: orgtypes.OrganizationFeatureSetAll})
	if err == nil {
		org = created0.Organization
	} else { // the package's local AWS already has it (go test -count=N)
		d, derr := orgs.DescribeOrganization(ctx, &organizations.DescribeOrganizationInput{})
		if derr != nil {
			t.Fatal(err, derr)
		}
		org = d.Organization
	}
	created, err := orgs.CreateAccount(ctx, &organizations.CreateAccountInput{AccountName: aws.String("member"), Email: aws.String(fmt.Sprintf("member-%d@example.com", fixtureSeq.Add(1)))})
	if err != nil {
		t.Fatal(err)
	}
	member := aws.ToString(created.CreateAccountStatus.AccountId)
	orgID := aws.ToString(org.Id)

	f := newFixture(t, "", member, scenario.Untrusted)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix})
	rm.cfg.TrustedOrganizationID = orgID
	res := invokeEvent(t, rm, "share-image.json", f.replace())

	rec := res.Records[0]
	if len(res.Actions) != 1 || joined(res.Actions[0].Accounts) != member || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("want only the organization member %s added: %+v", member, res.Actions)
	}
	untrusted := false
	for _, fd := range rec.Findings {
		if fd.Code == report.UntrustedAccount && fd.Account == scenario.Untrusted {
			untrusted = true
		}
		if fd.Account == scenario.Untrusted && fd.Fixable {
			t.Errorf("an account outside the organization is fixable: %+v", fd)
		}
	}
	if !untrusted {
		t.Errorf("no untrusted-account finding for %s: %+v", scenario.Untrusted, rec.Findings)
	}
	if res.Stats["Organizations:DescribeAccount"] != 2 {
		t.Errorf("membership is asked once per account: %v", res.Stats)
	}
	pol := keyPolicy(t, f.key)
	if !allowsAccount(t, f.key, pol, member) || allowsAccount(t, f.key, pol, scenario.Untrusted) {
		t.Error("key policy grants the wrong accounts")
	}
}
