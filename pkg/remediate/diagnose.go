package remediate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// EC2's concrete KMS requests: the use actions (what kms:Encrypt, kms:Decrypt, kms:ReEncrypt*,
// kms:GenerateDataKey*, kms:DescribeKey cover) and the grant EC2 creates to attach a volume.
var (
	useRequests   = []string{"kms:Decrypt", "kms:Encrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"}
	grantRequests = []string{"kms:CreateGrant"}
)

// diagnose resolves what the record is about and records findings: its kind's Diagnose does,
// through a diagnosis of the record. A returned error is the record's error (transient ones are
// retried). Decoding yields registered kinds only; a record built otherwise is an error.
func (r *run) diagnose(ctx context.Context, it *item) error {
	d, ok := trigger.Lookup(it.trig.Kind)
	if !ok || d.Diagnose == nil {
		return fmt.Errorf("trigger %q is not handled", it.trig.Kind)
	}
	return d.Diagnose(ctx, diagnosis{r: r, it: it}, it.trig)
}

// checkRequestedKey checks a key a request named (CopyImage's kmsKeyId) for the targets. A key
// of another account than the requesting one is reported, never fixed (reportForeignCopyKey).
func (r *run) checkRequestedKey(ctx context.Context, it *item, keyID, account, region string, targets []string) error {
	k, err := r.inv.key(ctx, keyID, account, region)
	if err != nil {
		return err
	}
	if k.Err == nil && k.Account != account && k.Manager != kmstypes.KeyManagerTypeAws && k.State == kmstypes.KeyStateEnabled {
		// Not in it.keys either: the IAM side does not write a usage policy for such a key.
		r.reportForeignCopyKey(ctx, it, k, targets)
		return nil
	}
	it.keys = append(it.keys, k)
	r.checkKey(ctx, it, k, account, targets)
	return nil
}

// reportForeignCopyKey reports, never fixes, what the key policy of a copy's key misses when the
// key belongs to another account than the one copying. A CopyImage request names its key freely
// (EC2 checks it only when the copy runs), so it is no evidence that anyone should use that key:
// fixing it would let whoever may call ec2:CopyImage in a trusted account (or put such an event
// on the bus) obtain the use of any key the remediator can edit (SECURITY.md). Keys of
// the copying account itself, and the keys of images (their snapshots), are checked as usual.
func (r *run) reportForeignCopyKey(ctx context.Context, it *item, k *key, targets []string) {
	seen := map[string]bool{}
	for _, target := range targets {
		if seen[target] || !awsid.IsAccountID(target) || target == k.Account {
			continue
		}
		seen[target] = true
		it.targets = appendUnique(it.targets, target)
		principal := "arn:aws:iam::" + target + ":root"
		use, grant := evaluateKey(k, principal, r.orgOf(ctx, target, k.Doc))
		why := fmt.Sprintf("the copy %s names key %s of account %s, which the copying account %s does not own: a CopyImage request can name any key, so it is never fixed automatically; add the account by hand if it should use this key",
			clip(it.trig.ImageID, 64), k.ARN, k.Account, it.trig.Account)
		switch {
		case use.Decision == evaluate.ExplicitDeny || grant.Decision == evaluate.ExplicitDeny:
			it.addFinding(report.Finding{Code: report.ExplicitDeny, Account: target, KeyARN: k.ARN, PrincipalARN: principal,
				Message: fmt.Sprintf("a Deny in the key policy of %s blocks %s: never fixed automatically", k.ARN, principal)})
			continue
		}
		if use.KeyPolicy.Decision != evaluate.Allow {
			it.addFinding(report.Finding{Code: report.KeyPolicyMissingUse, Account: target, KeyARN: k.ARN, PrincipalARN: principal, Message: why})
		}
		if grant.KeyPolicy.Decision != evaluate.Allow {
			it.addFinding(report.Finding{Code: report.KeyPolicyMissingGrant, Account: target, KeyARN: k.ARN, PrincipalARN: principal, Message: why})
		}
	}
	r.log.Info().Str("event_id", clip(it.rec.EventID, 256)).Str("key", k.ARN).Str("account", it.trig.Account).
		Str("decision", "foreign-copy-key").Msg("copy names another account's key: reported, not fixed")
}

// diagnoseImage reads the image as c.Viewer, then checks every encrypted snapshot's key for
// each target account. c.WithShares adds the accounts the image is shared with.
func (r *run) diagnoseImage(ctx context.Context, it *item, c trigger.ImageCheck) error {
	viewer, region, imageID, targets := c.Viewer, c.Region, c.ImageID, c.Targets
	if imageID == "" {
		return errors.New("no image to check")
	}
	img, err := r.inv.image(ctx, viewer, region, imageID)
	if err != nil {
		if errors.Is(err, errImageNotFound) || awsapi.IsNotFound(err) {
			return fmt.Errorf("image %s not visible to %s in %s: %w", imageID, viewer, region, err)
		}
		return err
	}
	if c.ViewerOwns && img.Owner != viewer {
		return fmt.Errorf("image %s is owned by %s, not by the event's account %s: refusing to act", imageID, img.Owner, viewer)
	}
	if c.WithShares {
		shares, err := r.inv.launchPermissions(ctx, img.Owner, region, imageID)
		if err != nil {
			return err
		}
		targets = append(targets, r.shareTargets(it, shares)...)
		if img.Public && !it.trig.SharePublic {
			it.addFinding(report.Finding{Code: report.PublicImage, Account: "all",
				Message: fmt.Sprintf("image %s is public: never fixed", imageID)})
		}
	}
	ownerTrusted, err := r.ownerTrusted(ctx, img.Owner)
	if err != nil {
		return err
	}
	for _, s := range img.Snapshots {
		if !s.Encrypted || s.KMSKeyID == "" {
			continue
		}
		k, err := r.inv.key(ctx, s.KMSKeyID, img.Owner, region)
		if err != nil {
			return err
		}
		it.keys = append(it.keys, k)
		if !ownerTrusted {
			it.addFinding(report.Finding{Code: report.UntrustedAccount, Account: img.Owner, KeyARN: k.ARN,
				Message: fmt.Sprintf("image %s is owned by %s, which is not trusted: nothing is changed for it", imageID, img.Owner)})
			continue
		}
		// A snapshot can use a key of another account: that account must be trusted too, or its
		// key policy would be edited on the image owner's word (issue 6).
		if k.Err == nil && k.Account != img.Owner {
			keyTrusted, err := r.ownerTrusted(ctx, k.Account)
			if err != nil {
				return err
			}
			if !keyTrusted {
				it.addFinding(report.Finding{Code: report.UntrustedAccount, Account: k.Account, KeyARN: k.ARN,
					Message: fmt.Sprintf("the snapshots of %s use key %s of account %s, which is not trusted: its key policy is not changed", imageID, k.ARN, k.Account)})
				continue
			}
		}
		r.checkKey(ctx, it, k, img.Owner, targets)
	}
	r.noteChecked(it, img, c, targets)
	return nil
}

func (r *run) ownerTrusted(ctx context.Context, owner string) (bool, error) {
	central, err := r.clients.CentralAccount(ctx)
	if err != nil {
		return false, err
	}
	if owner == central {
		return true, nil
	}
	return r.trusted(ctx, owner)
}

// shareTargets turns launch permissions into target accounts; public and organization shares
// become findings (never fixed).
func (r *run) shareTargets(it *item, shares []share) []string {
	var out []string
	for _, s := range shares {
		switch {
		case s.UserID != "":
			out = append(out, s.UserID)
		case s.Group == "all":
			if !it.trig.SharePublic {
				it.trig.SharePublic = true
				it.addFinding(report.Finding{Code: report.PublicImage, Account: "all",
					Message: "image is shared with everyone (group all): never fixed"})
			}
		}
	}
	return out
}

// checkKey decides, for one key and each target account, what the key policy is missing.
func (r *run) checkKey(ctx context.Context, it *item, k *key, imageOwner string, targets []string) {
	seen := map[string]bool{}
	for _, target := range targets {
		if seen[target] || !awsid.IsAccountID(target) {
			continue
		}
		seen[target] = true
		it.targets = appendUnique(it.targets, target)
		r.checkKeyForAccount(ctx, it, k, imageOwner, target)
	}
}

func (r *run) checkKeyForAccount(ctx context.Context, it *item, k *key, imageOwner, target string) {
	log := r.log.With().Str("event_id", clip(it.rec.EventID, 256)).Str("image", clip(it.rec.ImageID, 256)).Str("key", k.ARN).Str("account", target).Logger()
	switch {
	case k.Err != nil:
		it.addFinding(report.Finding{Code: k.Problem, Account: target, KeyARN: k.ARN, Message: keyProblemMessage(k)})
		return
	case k.Manager == kmstypes.KeyManagerTypeAws:
		if target != k.Account {
			it.addFinding(report.Finding{Code: report.AWSManagedKey, Account: target, KeyARN: k.ARN,
				Message: fmt.Sprintf("snapshots of %s use the AWS managed key %s, which no other account can use; copy the image with a customer managed key", it.rec.ImageID, k.ARN)})
		}
		return
	case k.State == kmstypes.KeyStatePendingDeletion || k.State == kmstypes.KeyStatePendingReplicaDeletion:
		it.addFinding(report.Finding{Code: report.KeyPendingDeletion, Account: target, KeyARN: k.ARN,
			Message: fmt.Sprintf("key %s is %s: cancel the deletion (aws kms cancel-key-deletion) before anyone can launch", k.ARN, k.State)})
		return
	case k.State != kmstypes.KeyStateEnabled:
		it.addFinding(report.Finding{Code: report.KeyDisabled, Account: target, KeyARN: k.ARN,
			Message: fmt.Sprintf("key %s is %s: enable it (aws kms enable-key) before anyone can launch", k.ARN, k.State)})
		return
	}
	if target == k.Account {
		return // the key's own account: its IAM decides (the IAM check covers it)
	}
	principal := "arn:aws:iam::" + target + ":root"
	if p := it.trig.Principal; p != nil && p.Account == target && p.ARN != "" {
		principal = p.ARN
	}
	use, grant := evaluateKey(k, principal, r.orgOf(ctx, target, k.Doc))
	if use.Decision == evaluate.ExplicitDeny || grant.Decision == evaluate.ExplicitDeny {
		it.addFinding(report.Finding{Code: report.ExplicitDeny, Account: target, KeyARN: k.ARN, PrincipalARN: principal,
			Message: fmt.Sprintf("a Deny in the key policy of %s blocks %s: never fixed automatically (%s)", k.ARN, principal, strings.Join(append(use.KeyPolicy.Reasons, grant.KeyPolicy.Reasons...), "; "))})
		log.Info().Str("decision", "explicit-deny").Msg("key policy denies")
		return
	}
	missingUse, missingGrant := use.KeyPolicy.Decision != evaluate.Allow, grant.KeyPolicy.Decision != evaluate.Allow
	if !missingUse && !missingGrant {
		log.Debug().Str("decision", "allow").Msg("key policy allows the account")
		return
	}
	trusted, err := r.trusted(ctx, target)
	if err != nil {
		it.fail(err)
		return
	}
	fixable := trusted
	if !trusted && !it.untrusted[target] {
		it.untrusted[target] = true
		it.addFinding(report.Finding{Code: report.UntrustedAccount, Account: target, KeyARN: k.ARN,
			Message: fmt.Sprintf("account %s is not in TRUSTED_ACCOUNT_IDS or the trusted organization: the key policy is not changed for it", target)})
	}
	if missingUse {
		it.addFinding(report.Finding{Code: report.KeyPolicyMissingUse, Account: target, KeyARN: k.ARN, PrincipalARN: principal, Fixable: fixable,
			Message: fmt.Sprintf("the key policy of %s does not let account %s use the key (kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey)", k.ARN, target)})
	}
	if missingGrant {
		it.addFinding(report.Finding{Code: report.KeyPolicyMissingGrant, Account: target, KeyARN: k.ARN, PrincipalARN: principal, Fixable: fixable,
			Message: fmt.Sprintf("the key policy of %s does not let account %s create grants for EC2 (kms:CreateGrant with kms:GrantIsForAWSResource)", k.ARN, target)})
	}
	log.Info().Str("decision", "missing").Bool("missing_use", missingUse).Bool("missing_grant", missingGrant).Bool("trusted", trusted).Msg("key policy gap")
	if fixable {
		r.need(k, target, it)
	}
}

// keyProblemMessage says what went wrong reading k, and in which account's name the remediator
// read it (the central role, or the member role of the key's account).
func keyProblemMessage(k *key) string {
	switch k.Problem {
	case report.KeyNotFound:
		return fmt.Sprintf("key %s does not exist in account %s, region %s: %s", k.ARN, k.Account, k.Region, clip(k.Err.Error(), 300))
	case report.KeyPolicyInvalid:
		return fmt.Sprintf("the key policy of %s does not parse as a policy, so nothing can be decided or changed: %s", k.ARN, clip(k.Err.Error(), 300))
	}
	return fmt.Sprintf("key %s of account %s could not be read (kms:DescribeKey and kms:GetKeyPolicy are needed, from the key policy and the reading role): %s",
		k.ARN, k.Account, clip(k.Err.Error(), 300))
}

// evaluateKey evaluates the key policy alone (the identity side is the IAM check's job) for the
// requests EC2 makes on the principal's behalf, with the context EC2 sends (org: what is known of
// the principal's organization, nil when nothing is).
func evaluateKey(k *key, principal string, org *evaluate.Org) (use, grant evaluate.KMSResult) {
	use = evaluateAll(k, principal, useRequests, org)
	grant = evaluateAll(k, principal, grantRequests, org)
	return use, grant
}

// evaluateAll is allow only when every action is allowed; an explicit deny on any action wins.
func evaluateAll(k *key, principal string, actions []string, org *evaluate.Org) evaluate.KMSResult {
	var out evaluate.KMSResult
	for i, a := range actions {
		res := evaluate.KMS(evaluate.KMSInput{KeyPolicy: k.Doc, KeyAccount: k.Account, Request: evaluate.EC2Request(k.ARN, principal, a, org)})
		switch {
		case i == 0:
			out = res
		case res.KeyPolicy.Decision == evaluate.ExplicitDeny:
			return res
		case res.KeyPolicy.Decision != evaluate.Allow && out.KeyPolicy.Decision == evaluate.Allow:
			out = res
		}
	}
	return out
}

func (r *run) need(k *key, account string, it *item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.needs[k.ARN]
	if !ok {
		n = &keyNeed{key: k, accounts: map[string]bool{}}
		r.needs[k.ARN] = n
	}
	n.accounts[account] = true
	for _, x := range n.items {
		if x == it {
			return
		}
	}
	n.items = append(n.items, it)
}

func (it *item) addFinding(f report.Finding) {
	for _, g := range it.rec.Findings {
		if g.Code == f.Code && g.Account == f.Account && g.KeyARN == f.KeyARN && g.PrincipalARN == f.PrincipalARN {
			return
		}
	}
	it.rec.Findings = append(it.rec.Findings, f)
}

func appendUnique(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// clip cuts a value taken from an event so it cannot flood a message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
