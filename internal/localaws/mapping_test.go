package localaws_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Accounts are attributed as moto attributes them: x-moto-account-id, else the access key
// (STS AssumeRole credentials belong to the role's account — AWS STS API Reference, AssumeRole;
// IAM user keys to the user's account), else 123456789012.
func TestAccountMapping(t *testing.T) {
	ctx := testCtx(t)
	base := cfgFor(t, owner, region)

	// A role session in the target account, assumed from the owner account.
	creds, err := sts.NewFromConfig(base).AssumeRole(ctx, &sts.AssumeRoleInput{
		RoleArn: aws.String("arn:aws:iam::" + target + ":role/ami-kms-remediator-member"), RoleSessionName: aws.String("t"),
	})
	if err != nil {
		t.Fatal(err)
	}
	roleCfg := base.Copy()
	roleCfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(creds.Credentials.AccessKeyId),
		aws.ToString(creds.Credentials.SecretAccessKey), aws.ToString(creds.Credentials.SessionToken))
	if acct, ok := env.Filler.AccountOf(aws.ToString(creds.Credentials.AccessKeyId)); !ok || acct != target {
		t.Fatalf("AccountOf(assumed role key) = %s %v, want %s", acct, ok, target)
	}

	// An IAM user's access key in the owner account.
	ic := iam.NewFromConfig(base)
	if _, err := ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("u-" + t.Name())}); err != nil {
		t.Fatal(err)
	}
	key, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("u-" + t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	userCfg := base.Copy()
	userCfg.Credentials = credentials.NewStaticCredentialsProvider(aws.ToString(key.AccessKey.AccessKeyId), aws.ToString(key.AccessKey.SecretAccessKey), "")

	unknownCfg := base.Copy()
	unknownCfg.Credentials = credentials.NewStaticCredentialsProvider("AKIAUNKNOWNUNKNOWN00", "x", "")

	tests := map[string]struct {
		cfg  aws.Config
		want string
	}{
		"static mapping":       {cfg: base, want: owner},
		"assumed role session": {cfg: roleCfg, want: target},
		"iam user key":         {cfg: userCfg, want: owner},
		"unknown key":          {cfg: unknownCfg, want: "123456789012"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// The filler's view: the owner of an image registered with these credentials.
			snap := env.Filler.CreateSnapshot(tc.want, region, "", false, 8)
			out, err := ec2.NewFromConfig(tc.cfg).RegisterImage(testCtx(t), &ec2.RegisterImageInput{Name: aws.String("m"),
				BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{SnapshotId: aws.String(snap)}}}})
			if err != nil {
				t.Fatalf("register: %v", err)
			}
			if info, _ := env.Filler.Image(aws.ToString(out.ImageId)); info.Account != tc.want {
				t.Errorf("filler: image owner %s, want %s", info.Account, tc.want)
			}
			// moto's view agrees: a key created with these credentials lives in that account.
			k, err := kms.NewFromConfig(tc.cfg).CreateKey(testCtx(t), &kms.CreateKeyInput{})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(k.KeyMetadata.AWSAccountId); got != tc.want {
				t.Errorf("moto: key account %s, want %s", got, tc.want)
			}
		})
	}
}
