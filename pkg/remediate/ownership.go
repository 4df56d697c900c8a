package remediate

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Before any key-policy write the remediator asks the key itself whether the write is its to
// make, so that an alert explains a refusal before IAM denies the write:
//
//   - the write scope: under tagged-keys (the default) the roles may put the policy only of keys
//     tagged ami-kms-remediator=managed (their aws:ResourceTag condition). Tag changes take up
//     to five minutes to affect authorization, so a write refused right after the key was
//     tagged is retried, not given up.
//     https://docs.aws.amazon.com/kms/latest/developerguide/tag-authorization.html
//   - infrastructure as code: a key whose policy a stack (or a tool the configured tags name)
//     owns is reported, never edited (unless EDIT_IAC_MANAGED_KEYS): its next deployment would
//     revert the edit. CloudFormation tags a resource with aws:cloudformation:stack-id only
//     where the resource type propagates stack tags, so a missing tag proves nothing: the stack
//     is then asked by the key's ID (DescribeStackResources with PhysicalResourceId: "the
//     associated resources of the stack that the resource belongs to", or a ValidationError
//     when no stack has it). An answer that is neither is unknown, and unknown is not "no".
//     https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-resource-tags.html
//     https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStackResources.html
//
// Both are read in the key's own account (ListResourceTags has no cross-account use), through
// the member role for a member account's key: one ListResourceTags per key, and one
// DescribeStackResources when the tags do not settle it.

// CloudFormation's own tags on the resources of a stack.
const (
	cfnStackIDTag   = "aws:cloudformation:stack-id"
	cfnStackNameTag = "aws:cloudformation:stack-name"
	cfnLogicalIDTag = "aws:cloudformation:logical-id"
)

// errOptInNotInEffect: the key carries the opt-in tag, yet the write was denied; tag-based
// authorization lags tagging by up to five minutes, so a later delivery may succeed.
var errOptInNotInEffect = errors.New("the key is tagged " + config.OptInTagKey + "=" + config.OptInTagValue +
	" but the write was denied: a new tag takes up to five minutes to affect authorization; handed back for retry")

// ownership is what the key's tags and stacks say about writing its policy.
type ownership struct {
	optedIn bool              // tagged OptInTagKey = OptInTagValue
	managed *report.ManagedBy // nil: no IaC owner is known
	unknown error             // whether an IaC tool owns the key could not be told
	tagsErr error             // the tags could not be read: neither the opt-in nor IaC tags are known
}

// ownerCache keeps each key's ownership for one invocation: the key-policy stage and the grants
// ask about the same key once.
type ownerCache struct {
	mu    sync.Mutex
	byKey map[string]*ownerRead
}

type ownerRead struct {
	once sync.Once
	own  ownership
	err  error
}

// ownershipOf reads the key's tags and, when they do not say, the stack that has it, once per
// invocation. An error is returned only when retrying may help (throttling, 5xx, the deadline);
// an answer that cannot be read for good goes to unknown.
func (r *run) ownershipOf(ctx context.Context, k *key) (ownership, error) {
	r.owners.mu.Lock()
	if r.owners.byKey == nil {
		r.owners.byKey = map[string]*ownerRead{}
	}
	o, ok := r.owners.byKey[k.ARN]
	if !ok {
		o = &ownerRead{}
		r.owners.byKey[k.ARN] = o
	}
	r.owners.mu.Unlock()
	o.once.Do(func() { o.own, o.err = r.readOwnership(ctx, k) })
	return o.own, o.err
}

func (r *run) readOwnership(ctx context.Context, k *key) (ownership, error) {
	var own ownership
	tags, err := r.keyTags(ctx, k)
	switch {
	case awsapi.Transient(err):
		return own, err
	case err != nil:
		own.tagsErr = fmt.Errorf("its tags could not be read (kms:ListResourceTags in account %s): %w", k.Account, err)
		return own, nil
	}
	own.optedIn = tags[config.OptInTagKey] == config.OptInTagValue
	if id := tags[cfnStackIDTag]; id != "" {
		own.managed = &report.ManagedBy{Tool: report.ManagedByCloudFormation, StackID: id,
			StackName: cmp.Or(tags[cfnStackNameTag], stackNameOf(id)), LogicalResourceID: tags[cfnLogicalIDTag]}
		return own, nil
	}
	for _, t := range r.cfg.IaCTags {
		if v, ok := tags[t.Key]; ok && (t.Value == "" || strings.EqualFold(v, t.Value)) {
			own.managed = &report.ManagedBy{Tool: report.ManagedByTag, Tag: t.Key + "=" + v}
			return own, nil
		}
	}
	if (r.cfg.TaggedKeysOnly() && !own.optedIn) || r.cfg.EditIaCManagedKeys {
		return own, nil // refused for the scope anyway, or edited whatever owns it: no need to ask
	}
	own.managed, err = r.keyStack(ctx, k)
	switch {
	case awsapi.Transient(err):
		return own, err
	case err != nil:
		own.unknown = fmt.Errorf("CloudFormation could not say whether a stack has it (cloudformation:DescribeStackResources in account %s, %s): %w", k.Account, k.Region, err)
	}
	return own, nil
}

// keyTags reads every tag of k, in its own account.
func (r *run) keyTags(ctx context.Context, k *key) (map[string]string, error) {
	cl, err := r.clients.KMS(ctx, k.Account, k.Region)
	if err != nil {
		return nil, err
	}
	tags := map[string]string{}
	pg := kms.NewListResourceTagsPaginator(cl, &kms.ListResourceTagsInput{KeyId: aws.String(k.ARN)})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tags of %s: %w", k.ARN, err)
		}
		for _, t := range page.Tags {
			tags[aws.ToString(t.TagKey)] = aws.ToString(t.TagValue)
		}
	}
	return tags, nil
}

// keyStack asks CloudFormation, in the key's account and region, which stack has the key (an
// AWS::KMS::Key's physical ID is its key ID). nil when none does, or only a deleted stack that
// left the key behind (DELETE_SKIPPED) or deleted it.
func (r *run) keyStack(ctx context.Context, k *key) (*report.ManagedBy, error) {
	cl, err := r.clients.CloudFormation(ctx, k.Account, k.Region)
	if err != nil {
		return nil, err
	}
	id := keyID(k.ARN)
	out, err := cl.DescribeStackResources(ctx, &cloudformation.DescribeStackResourcesInput{PhysicalResourceId: aws.String(id)})
	if err != nil {
		if awsapi.IsInvalid(err) { // ValidationError: "Stack for ... does not exist"
			return nil, nil
		}
		return nil, fmt.Errorf("describe the stack resources of %s: %w", id, err)
	}
	for _, res := range out.StackResources {
		phys := aws.ToString(res.PhysicalResourceId)
		if phys != id && phys != k.ARN {
			continue
		}
		switch res.ResourceStatus {
		case cfntypes.ResourceStatusDeleteComplete, cfntypes.ResourceStatusDeleteSkipped:
			continue
		}
		return &report.ManagedBy{Tool: report.ManagedByCloudFormation, StackID: aws.ToString(res.StackId),
			StackName: aws.ToString(res.StackName), LogicalResourceID: aws.ToString(res.LogicalResourceId)}, nil
	}
	return nil, nil
}

// keyID is the key ID at the end of a key ARN.
func keyID(keyARN string) string { return keyARN[strings.LastIndex(keyARN, "/")+1:] }

// stackNameOf reads the name out of a stack ID (arn:aws:cloudformation:REGION:ACCOUNT:stack/NAME/UUID).
func stackNameOf(stackID string) string {
	_, rest, ok := strings.Cut(stackID, ":stack/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}

// gate decides, from the key's ownership, whether the planned change may be written. A refusal
// says why and what to do; an IaC owner also becomes a key-managed-by-iac finding, one per account
// the change was for, of every record that needs the key (returned, for the caller to add in
// order).
func (r *run) gate(k *key, own ownership, accounts []string) ([]report.Finding, error) {
	switch {
	case own.tagsErr != nil && (r.cfg.TaggedKeysOnly() || !r.cfg.EditIaCManagedKeys):
		return nil, refuseFor(report.CauseIaCUnknown, fmt.Errorf(
			"the key is not edited: %v, so neither its opt-in to the write scope nor whether infrastructure as code manages it is known (deploy the current central stack or member-account.yaml, which allow kms:ListResourceTags)", own.tagsErr))
	case r.cfg.TaggedKeysOnly() && !own.optedIn:
		return nil, refuseFor(report.CauseNotInWriteScope, fmt.Errorf(
			"the key has not opted in to the remediator's write scope (KeyWriteScope=tagged-keys): tag it %s=%s (aws kms tag-resource) to let it add %s, or add the statements by hand",
			config.OptInTagKey, config.OptInTagValue, strings.Join(accounts, ", ")))
	case r.cfg.EditIaCManagedKeys:
		return nil, nil
	case own.managed != nil:
		what := own.managed.Describe()
		var found []report.Finding
		for _, a := range accounts {
			found = append(found, report.Finding{Code: report.KeyManagedByIaC, Account: a, KeyARN: k.ARN, ManagedBy: own.managed,
				Message: fmt.Sprintf("the key policy of %s is managed by %s: an edit outside it would be reverted by its next deployment, so it is never edited here; add the statements for account %s to its template (EDIT_IAC_MANAGED_KEYS=true lets the remediator edit such keys anyway)",
					k.ARN, what, a)})
		}
		return found, refuseFor(report.CauseManagedByIaC, fmt.Errorf("the key is managed by %s: add the statements to its template instead", what))
	case own.unknown != nil:
		return nil, refuseFor(report.CauseIaCUnknown, fmt.Errorf(
			"whether infrastructure as code manages the key is not known, so it is not edited: %v (deploy the current member-account.yaml or central stack, or set EDIT_IAC_MANAGED_KEYS=true)", own.unknown))
	}
	return nil, nil
}
