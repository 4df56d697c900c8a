package localaws_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
)

// TestListRegions: account:ListRegions as AWS documents it: default regions enabled by default,
// opt-in regions disabled until enabled, another account only for the account manager, never
// the caller's own by AccountId, paged by MaxResults.
func TestListRegions(t *testing.T) {
	const member = "777700001111"
	env.Filler.EnableRegion(member, "eu-south-1")
	env.Filler.SetAccountManager(owner)
	defer env.Filler.SetAccountManager("")
	list := func(caller string, in *account.ListRegionsInput) ([]string, error) {
		cl := account.NewFromConfig(cfgFor(t, caller, region))
		var out []string
		p := account.NewListRegionsPaginator(cl, in)
		for p.HasMorePages() {
			page, err := p.NextPage(testCtx(t))
			if err != nil {
				return nil, err
			}
			for _, r := range page.Regions {
				out = append(out, aws.ToString(r.RegionName)+"="+string(r.RegionOptStatus))
			}
		}
		return out, nil
	}
	enabled := []accounttypes.RegionOptStatus{accounttypes.RegionOptStatusEnabled, accounttypes.RegionOptStatusEnabledByDefault}

	got, err := list(member, &account.ListRegionsInput{RegionOptStatusContains: enabled, MaxResults: aws.Int32(5)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 18 || !slices.Contains(got, "eu-south-1=ENABLED") || !slices.Contains(got, "us-east-1=ENABLED_BY_DEFAULT") || slices.Contains(got, "ap-east-1=DISABLED") {
		t.Errorf("member's enabled regions (5 a page) = %v", got)
	}
	all, err := list(owner, &account.ListRegionsInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(all, "eu-south-1=DISABLED") || !slices.Contains(all, "ap-east-1=DISABLED") {
		t.Errorf("owner's regions = %v: opt-in regions are disabled until enabled, per account", all)
	}
	viaManager, err := list(owner, &account.ListRegionsInput{AccountId: aws.String(member), RegionOptStatusContains: enabled})
	if err != nil || !slices.Equal(viaManager, got) {
		t.Errorf("the manager listing the member: %v %v, want %v", viaManager, err, got)
	}
	for name, tc := range map[string]struct {
		caller, of, code string
	}{
		"a member listing another account": {member, owner, "AccessDeniedException"},
		"the manager naming itself":        {owner, owner, "ValidationException"},
	} {
		_, err := list(tc.caller, &account.ListRegionsInput{AccountId: aws.String(tc.of)})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != tc.code {
			t.Errorf("%s: %v, want %s", name, err, tc.code)
		}
	}
}

// TestDescribeImagesPages: a listing of modeled images pages by MaxResults with the SDK's
// paginator, every image once, in creation order, and filters apply before paging.
func TestDescribeImagesPages(t *testing.T) {
	const lister = "777700002222"
	key := newKey(t, lister, region)
	var want []string
	for i := range 23 {
		id := env.Filler.CreateImage(lister, region, fmt.Sprintf("page-%d", i), []localaws.SnapshotSpec{{Encrypted: true, KmsKeyID: key}})
		want = append(want, id)
	}
	env.Filler.CreateImage(lister, region, "plain", []localaws.SnapshotSpec{{}})
	cl := ec2For(t, lister, region)
	p := ec2.NewDescribeImagesPaginator(cl, &ec2.DescribeImagesInput{Owners: []string{lister}, MaxResults: aws.Int32(5),
		Filters: []ec2types.Filter{{Name: aws.String("block-device-mapping.encrypted"), Values: []string{"true"}}}})
	var got []string
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, im := range page.Images {
			got = append(got, aws.ToString(im.ImageId))
		}
	}
	if !slices.Equal(got, want) || pages != 5 {
		t.Errorf("%d pages of %v, want 5 pages of the 23 encrypted images in order %v", pages, got, want)
	}
	if _, err := cl.DescribeImages(testCtx(t), &ec2.DescribeImagesInput{Owners: []string{lister}, MaxResults: aws.Int32(4)}); err == nil {
		t.Error("MaxResults 4 was accepted: EC2 wants 5 to 1000")
	}
}

// TestDynamoDBConditionalWritesAreAtomic: through the filler, of many concurrent conditional
// writes of one new item exactly one succeeds, as on DynamoDB.
func TestDynamoDBConditionalWritesAreAtomic(t *testing.T) {
	db := dynamodb.NewFromConfig(cfgFor(t, owner, region))
	table := "atomic-" + fmt.Sprint(time.Now().UnixNano())
	if _, err := db.CreateTable(testCtx(t), &dynamodb.CreateTableInput{TableName: aws.String(table), BillingMode: dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeHash}}}); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				_, err := db.PutItem(testCtx(t), &dynamodb.PutItemInput{TableName: aws.String(table),
					Item:                map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: fmt.Sprint("item-", round)}},
					ConditionExpression: aws.String("attribute_not_exists(pk)")})
				var ccf *dbtypes.ConditionalCheckFailedException
				switch {
				case err == nil:
					won.Add(1)
				case !errors.As(err, &ccf):
					t.Errorf("put: %v", err)
				}
			})
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Errorf("round %d: %d of 8 conditional creates succeeded, want 1", round, won.Load())
		}
	}
}

// TestAssumeRoleOfMissingRole: with RequireExistingRoles, AssumeRole of a role that does not
// exist is refused with AccessDenied, of one that exists answered as moto answers.
func TestAssumeRoleOfMissingRole(t *testing.T) {
	env.Filler.RequireExistingRoles(true)
	defer env.Filler.RequireExistingRoles(false)
	const acct = "777700003333"
	if _, err := iam.NewFromConfig(cfgFor(t, acct, region)).CreateRole(testCtx(t), &iam.CreateRoleInput{RoleName: aws.String("present"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)}); err != nil {
		t.Fatal(err)
	}
	cl := sts.NewFromConfig(cfgFor(t, owner, region))
	if _, err := cl.AssumeRole(testCtx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/present"), RoleSessionName: aws.String("s")}); err != nil {
		t.Errorf("an existing role: %v", err)
	}
	_, err := cl.AssumeRole(testCtx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::" + acct + ":role/absent"), RoleSessionName: aws.String("s")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" {
		t.Errorf("a missing role: %v, want AccessDenied", err)
	}
}
