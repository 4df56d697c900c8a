package fake

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
)

// maxKeyPolicyBytes is KMS's limit on a key policy (32 KB).
const maxKeyPolicyBytes = 32768

// Key is a KMS key.
type Key struct {
	ARN, Account, Region, ID string
	Manager                  kmstypes.KeyManagerType
	State                    kmstypes.KeyState
	MultiRegion              bool
	Policy                   string
	Grants                   []kmstypes.GrantListEntry
	Tags                     map[string]string
}

// OptInTag is the tag AddKey gives every customer managed key: the keys opted in to the
// remediator's default write scope, as an operator who deployed it tags the keys it may fix.
var OptInTag = map[string]string{config.OptInTagKey: config.OptInTagValue}

// AddKey creates an enabled customer managed key of account in region with policy, opted in to
// the default write scope (tagged OptInTag), and returns its ARN.
func (a *AWS) AddKey(account, region, policy string) string {
	arn := a.addKey(account, region, policy, kmstypes.KeyManagerTypeCustomer)
	a.Key(arn, func(k *Key) {
		for t, v := range OptInTag {
			k.Tags[t] = v
		}
	})
	return arn
}

// AddUntaggedKey is AddKey without any tag: a key that has not opted in.
func (a *AWS) AddUntaggedKey(account, region, policy string) string {
	return a.addKey(account, region, policy, kmstypes.KeyManagerTypeCustomer)
}

// AddAWSManagedKey creates an AWS managed key (aws/ebs) of account in region and returns its ARN.
func (a *AWS) AddAWSManagedKey(account, region string) string {
	return a.addKey(account, region, `{"Version":"2012-10-17","Statement":[]}`, kmstypes.KeyManagerTypeAws)
}

func (a *AWS) addKey(account, region, policy string, manager kmstypes.KeyManagerType) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := a.next("", 8) + "-1111-2222-3333-444455556666"
	k := &Key{ID: id, Account: account, Region: region, ARN: "arn:aws:kms:" + region + ":" + account + ":key/" + id,
		Manager: manager, State: kmstypes.KeyStateEnabled, Policy: policy, Tags: map[string]string{}}
	a.keys[k.ARN] = k
	return k.ARN
}

// Key calls f with the stored key (to change its state, policy or grants).
func (a *AWS) Key(arn string, f func(*Key)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if k := a.keys[arn]; k != nil {
		f(k)
	}
}

// KeyPolicy returns a key's policy as stored.
func (a *AWS) KeyPolicy(arn string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if k := a.keys[arn]; k != nil {
		return k.Policy
	}
	return ""
}

// KMS is the fake KMS of one account and region. A key is found by ARN or key ID in the caller's
// own account and region only: the remediator always acts on a key as its owner.
type KMS struct {
	awsapi.KMS
	aws             *AWS
	Account, Region string
}

// key returns the key keyID names, or KMS's NotFoundException. The caller holds the lock.
func (k *KMS) key(op, keyID string) (*Key, error) {
	arn := keyID
	if !strings.HasPrefix(keyID, "arn:") {
		arn = "arn:aws:kms:" + k.Region + ":" + k.Account + ":key/" + keyID
	}
	key := k.aws.keys[arn]
	if key == nil || key.Account != k.Account || key.Region != k.Region {
		return nil, apiError(op, "NotFoundException", "Key '%s' does not exist", arn)
	}
	return key, nil
}

// DescribeKey answers a key's metadata.
func (k *KMS) DescribeKey(ctx context.Context, in *kms.DescribeKeyInput, _ ...func(*kms.Options)) (*kms.DescribeKeyOutput, error) {
	const op = "KMS:DescribeKey"
	return answer(k.aws, op, k.Account, k.Region, in, func() (*kms.DescribeKeyOutput, error) {
		key, err := k.key(op, aws.ToString(in.KeyId))
		if err != nil {
			return nil, err
		}
		return &kms.DescribeKeyOutput{KeyMetadata: &kmstypes.KeyMetadata{KeyId: aws.String(key.ID), Arn: aws.String(key.ARN),
			AWSAccountId: aws.String(key.Account), KeyManager: key.Manager, KeyState: key.State, Enabled: key.State == kmstypes.KeyStateEnabled,
			MultiRegion: aws.Bool(key.MultiRegion)}}, nil
	})
}

// GetKeyPolicy answers the policy named "default" (the only one KMS has).
func (k *KMS) GetKeyPolicy(ctx context.Context, in *kms.GetKeyPolicyInput, _ ...func(*kms.Options)) (*kms.GetKeyPolicyOutput, error) {
	const op = "KMS:GetKeyPolicy"
	return answer(k.aws, op, k.Account, k.Region, in, func() (*kms.GetKeyPolicyOutput, error) {
		key, err := k.key(op, aws.ToString(in.KeyId))
		if err != nil {
			return nil, err
		}
		if in.PolicyName != nil && aws.ToString(in.PolicyName) != "default" {
			return nil, apiError(op, "NotFoundException", "Policy '%s' does not exist", aws.ToString(in.PolicyName))
		}
		return &kms.GetKeyPolicyOutput{Policy: aws.String(key.Policy), PolicyName: aws.String("default")}, nil
	})
}

// PutKeyPolicy replaces the policy. It refuses what KMS refuses for the remediator's purposes: a
// document that is not JSON or is over 32 KB (MalformedPolicyDocumentException; KMS also
// rejects other shapes), and a key pending deletion (KMSInvalidStateException).
func (k *KMS) PutKeyPolicy(ctx context.Context, in *kms.PutKeyPolicyInput, _ ...func(*kms.Options)) (*kms.PutKeyPolicyOutput, error) {
	const op = "KMS:PutKeyPolicy"
	return answer(k.aws, op, k.Account, k.Region, in, func() (*kms.PutKeyPolicyOutput, error) {
		key, err := k.key(op, aws.ToString(in.KeyId))
		policy := aws.ToString(in.Policy)
		switch {
		case err != nil:
			return nil, err
		case !json.Valid([]byte(policy)) || len(policy) > maxKeyPolicyBytes:
			return nil, apiError(op, "MalformedPolicyDocumentException", "The policy is not valid JSON or is larger than %d bytes.", maxKeyPolicyBytes)
		case key.State == kmstypes.KeyStatePendingDeletion || key.State == kmstypes.KeyStatePendingReplicaDeletion:
			return nil, apiError(op, "KMSInvalidStateException", "%s is pending deletion.", key.ARN)
		}
		key.Policy = policy
		return &kms.PutKeyPolicyOutput{}, nil
	})
}

// ListGrants answers a key's grants, in one page, filtered as KMS filters them: by
// GranteePrincipal and GrantId when given.
func (k *KMS) ListGrants(ctx context.Context, in *kms.ListGrantsInput, _ ...func(*kms.Options)) (*kms.ListGrantsOutput, error) {
	const op = "KMS:ListGrants"
	return answer(k.aws, op, k.Account, k.Region, in, func() (*kms.ListGrantsOutput, error) {
		key, err := k.key(op, aws.ToString(in.KeyId))
		if err != nil {
			return nil, err
		}
		out := &kms.ListGrantsOutput{Grants: []kmstypes.GrantListEntry{}}
		for _, g := range key.Grants {
			if (in.GranteePrincipal == nil || aws.ToString(g.GranteePrincipal) == aws.ToString(in.GranteePrincipal)) &&
				(in.GrantId == nil || aws.ToString(g.GrantId) == aws.ToString(in.GrantId)) {
				out.Grants = append(out.Grants, g)
			}
		}
		return out, nil
	})
}

// ListResourceTags answers a key's tags, sorted by key, in one page.
func (k *KMS) ListResourceTags(ctx context.Context, in *kms.ListResourceTagsInput, _ ...func(*kms.Options)) (*kms.ListResourceTagsOutput, error) {
	const op = "KMS:ListResourceTags"
	return answer(k.aws, op, k.Account, k.Region, in, func() (*kms.ListResourceTagsOutput, error) {
		key, err := k.key(op, aws.ToString(in.KeyId))
		if err != nil {
			return nil, err
		}
		out := &kms.ListResourceTagsOutput{Tags: []kmstypes.Tag{}}
		for _, t := range sortedKeys(key.Tags) {
			out.Tags = append(out.Tags, kmstypes.Tag{TagKey: aws.String(t), TagValue: aws.String(key.Tags[t])})
		}
		return out, nil
	})
}

// CreateGrant creates a grant on a key by ARN, from any account (KMS serves CreateGrant across
// accounts; whether the key policy lets the caller is the test's to decide, with FailIf). With a
// Name, a grant identical to an existing one (grantee, operations, name) is a retry: the existing
// grant's ID is answered and nothing is created (KMS API Reference, CreateGrant Name).
func (k *KMS) CreateGrant(ctx context.Context, in *kms.CreateGrantInput, _ ...func(*kms.Options)) (*kms.CreateGrantOutput, error) {
	const op = "KMS:CreateGrant"
	return answer(k.aws, op, k.Account, k.Region, in, func() (*kms.CreateGrantOutput, error) {
		key := k.aws.keys[aws.ToString(in.KeyId)]
		if key == nil || key.Region != k.Region || (key.Account != k.Account && !strings.HasPrefix(aws.ToString(in.KeyId), "arn:")) {
			return nil, apiError(op, "NotFoundException", "Key '%s' does not exist", aws.ToString(in.KeyId))
		}
		if len(in.Operations) == 0 || aws.ToString(in.GranteePrincipal) == "" {
			return nil, apiError(op, "ValidationException", "GranteePrincipal and Operations are required")
		}
		for _, g := range key.Grants {
			if aws.ToString(in.Name) != "" && aws.ToString(g.Name) == aws.ToString(in.Name) &&
				aws.ToString(g.GranteePrincipal) == aws.ToString(in.GranteePrincipal) && sameOperations(g.Operations, in.Operations) {
				return &kms.CreateGrantOutput{GrantId: g.GrantId, GrantToken: aws.String(k.aws.next("token-", 8))}, nil
			}
		}
		id := k.aws.next("grant-", 8)
		key.Grants = append(key.Grants, kmstypes.GrantListEntry{GrantId: aws.String(id), KeyId: aws.String(key.ARN), Name: in.Name,
			GranteePrincipal: in.GranteePrincipal, Operations: append([]kmstypes.GrantOperation(nil), in.Operations...),
			IssuingAccount: aws.String("arn:aws:iam::" + k.Account + ":root")})
		return &kms.CreateGrantOutput{GrantId: aws.String(id), GrantToken: aws.String(k.aws.next("token-", 8))}, nil
	})
}

func sameOperations(a, b []kmstypes.GrantOperation) bool {
	if len(a) != len(b) {
		return false
	}
	for _, o := range a {
		if !slices.Contains(b, o) {
			return false
		}
	}
	return true
}
