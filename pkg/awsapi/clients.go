package awsapi

import (
	"context"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// SessionName is the role session name the remediator uses in member accounts, so CloudTrail
// shows who made a change.
const SessionName = "ami-kms-remediator"

// Clients builds AWS clients lazily, per account and region, and keeps them (and the assumed-role
// credentials behind them) for the life of the Lambda environment: warm invocations reuse both.
// Nothing here touches the network until a client makes its first call.
type Clients struct {
	base      aws.Config
	roleName  string
	partition string

	centralMu sync.Mutex // serialises the one GetCallerIdentity
	mu        sync.Mutex
	central   string
	creds     map[string]aws.CredentialsProvider // by account
	ec2s      map[string]*ec2.Client             // by account/region
	kmss      map[string]*kms.Client
	iams      map[string]*iam.Client
	snss      map[string]*sns.Client
	asgs      map[string]*autoscaling.Client
	trails    map[string]*cloudtrail.Client
	stacks    map[string]*cloudformation.Client
	orgs      *organizations.Client
	stsCl     *sts.Client

	// The estate's clients (clients_estate.go).
	callerARN string
	buses     map[string]*eventbridge.Client // by account/region
	dynamo    *dynamodb.Client
}

var _ Factory = (*Clients)(nil)

// NewClients wraps base (the central account's configuration). roleName is MEMBER_ROLE_NAME.
// central may be "" to discover the account with sts:GetCallerIdentity on first need.
func NewClients(base aws.Config, roleName, central string) *Clients {
	base = base.Copy()
	base.APIOptions = append(base.APIOptions, countCalls)
	return &Clients{
		base:      base,
		roleName:  roleName,
		partition: "aws",
		central:   central,
		creds:     map[string]aws.CredentialsProvider{},
		ec2s:      map[string]*ec2.Client{},
		kmss:      map[string]*kms.Client{},
		iams:      map[string]*iam.Client{},
		snss:      map[string]*sns.Client{},
		asgs:      map[string]*autoscaling.Client{},
		trails:    map[string]*cloudtrail.Client{},
		stacks:    map[string]*cloudformation.Client{},
		buses:     map[string]*eventbridge.Client{},
	}
}

// Region is the region of the base configuration (the function's own region).
func (c *Clients) Region() string { return c.base.Region }

// CentralAccount returns the account the remediator runs in (asked of STS once, unless the
// Lambda's own ARN already said it).
func (c *Clients) CentralAccount(ctx context.Context) (string, error) {
	c.centralMu.Lock()
	defer c.centralMu.Unlock()
	c.mu.Lock()
	central := c.central
	c.mu.Unlock()
	if central != "" {
		return central, nil
	}
	out, err := c.sts().GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("get caller identity: %w", err)
	}
	c.mu.Lock()
	c.central, c.callerARN = aws.ToString(out.Account), aws.ToString(out.Arn)
	c.mu.Unlock()
	return aws.ToString(out.Account), nil
}

func (c *Clients) sts() *sts.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stsCl == nil {
		c.stsCl = sts.NewFromConfig(c.base)
	}
	return c.stsCl
}

// configFor returns the configuration for account in region: the base credentials for the
// central account, cached AssumeRole credentials for MEMBER_ROLE_NAME elsewhere.
func (c *Clients) configFor(ctx context.Context, account, region string) (aws.Config, error) {
	central, err := c.CentralAccount(ctx)
	if err != nil {
		return aws.Config{}, err
	}
	cfg := c.base.Copy()
	if region != "" {
		cfg.Region = region
	}
	if account == "" || account == central {
		return cfg, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.creds[account]
	if !ok {
		roleARN := fmt.Sprintf("arn:%s:iam::%s:role/%s", c.partition, account, c.roleName)
		if c.stsCl == nil {
			c.stsCl = sts.NewFromConfig(c.base)
		}
		p = aws.NewCredentialsCache(assumeRole{account: account, roleARN: roleARN,
			inner: stscreds.NewAssumeRoleProvider(c.stsCl, roleARN, func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = SessionName
			})})
		c.creds[account] = p
	}
	cfg.Credentials = p
	return cfg, nil
}

// EC2 returns an EC2 client acting in account and region.
func (c *Clients) EC2(ctx context.Context, account, region string) (EC2, error) {
	return client(ctx, c, c.ec2s, account, region, func(cfg aws.Config) *ec2.Client { return ec2.NewFromConfig(cfg) })
}

// KMS returns a KMS client acting in account and region.
func (c *Clients) KMS(ctx context.Context, account, region string) (KMS, error) {
	return client(ctx, c, c.kmss, account, region, func(cfg aws.Config) *kms.Client { return kms.NewFromConfig(cfg) })
}

// AutoScaling returns an Auto Scaling client acting in account and region.
func (c *Clients) AutoScaling(ctx context.Context, account, region string) (AutoScaling, error) {
	return client(ctx, c, c.asgs, account, region, func(cfg aws.Config) *autoscaling.Client { return autoscaling.NewFromConfig(cfg) })
}

// CloudTrail returns a CloudTrail client acting in account and region.
func (c *Clients) CloudTrail(ctx context.Context, account, region string) (CloudTrail, error) {
	return client(ctx, c, c.trails, account, region, func(cfg aws.Config) *cloudtrail.Client { return cloudtrail.NewFromConfig(cfg) })
}

// CloudFormation returns a CloudFormation client acting in account and region.
func (c *Clients) CloudFormation(ctx context.Context, account, region string) (CloudFormation, error) {
	return client(ctx, c, c.stacks, account, region, func(cfg aws.Config) *cloudformation.Client { return cloudformation.NewFromConfig(cfg) })
}

// IAM returns an IAM client acting in account.
func (c *Clients) IAM(ctx context.Context, account string) (IAM, error) {
	return client(ctx, c, c.iams, account, "", func(cfg aws.Config) *iam.Client { return iam.NewFromConfig(cfg) })
}

// SNS returns an SNS client for the central account in region (the topic's region).
func (c *Clients) SNS(ctx context.Context, region string) (SNS, error) {
	return client(ctx, c, c.snss, "", region, func(cfg aws.Config) *sns.Client { return sns.NewFromConfig(cfg) })
}

// Organizations returns the central account's Organizations client.
func (c *Clients) Organizations() Organizations {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.orgs == nil {
		c.orgs = organizations.NewFromConfig(c.base)
	}
	return c.orgs
}

func client[T any](ctx context.Context, c *Clients, cache map[string]T, account, region string, build func(aws.Config) T) (T, error) {
	key := account + "/" + region
	c.mu.Lock()
	cl, ok := cache[key]
	c.mu.Unlock()
	if ok {
		return cl, nil
	}
	cfg, err := c.configFor(ctx, account, region)
	if err != nil {
		var zero T
		return zero, err
	}
	cl = build(cfg)
	c.mu.Lock()
	if existing, ok := cache[key]; ok {
		cl = existing
	} else {
		cache[key] = cl
	}
	c.mu.Unlock()
	return cl, nil
}
