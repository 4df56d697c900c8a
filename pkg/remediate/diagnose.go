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

// checkRequestedKey checks a key a request named (CopyImage's kmsKeyId: the copy's destination
// key) for the targets. A key of another account than the requesting one is reported, never
// fixed (reportKey): a CopyImage request names its key freely (EC2 checks it only when the copy
// runs), so it is no evidence that anyone should use that key, and fixing it would let whoever
// may call ec2:CopyImage in a trusted account (or put such an event on the bus) obtain the use of
// any key the remediator can edit (SECURITY.md). Keys of the copying account itself, and the
// keys of images (their snapshots), are checked as usual.
func (r *run) checkRequestedKey(ctx context.Context, it *item, keyID, account, region string, targets []string) error {
	k, err := r.inv.key(ctx, keyID, account, region)
	if err != nil {
		return err
	}
	prev := it.tag
	it.tag.role = report.KeyRoleDestination
	defer func() { it.tag = prev }()
	if k.Err == nil && k.Account != account && k.Manager != kmstypes.KeyManagerTypeAws && k.State == kmstypes.KeyStateEnabled {
		// Not in it.keys either: the identity side gets no grant on such a key.
		r.reportKey(ctx, it, k, targets, fmt.Sprintf("the copy %s names key %s of account %s, which the copying account %s does not own: a CopyImage request can name any key, so it is never fixed automatically; add the account by hand if it should use this key",
			clip(it.trig.ImageID, 64), k.ARN, k.Account, it.trig.Account))
		r.log.Info().Str("event_id", clip(it.rec.EventID, 256)).Str("key", k.ARN).Str("account", it.trig.Account).
			Str("decision", "foreign-copy-key").Msg("copy names another account's key: reported, not fixed")
		return nil
	}
	it.keys = append(it.keys, k)
	r.checkKey(ctx, it, k, account, targets)
	return nil
}

// reportKey reports, never fixes, what key k misses for each target account: its state, then
// what its key policy does not allow the target's launching principal (or its root). why says,
// first in every message, why the key is only reported.
func (r *run) reportKey(ctx context.Context, it *item, k *key, targets []string, why string) {
	seen := map[string]bool{}
	for _, target := range targets {
		if seen[target] || !awsid.IsAccountID(target) {
			continue
		}
		seen[target] = true
		it.targets = appendUnique(it.targets, target)
		if r.keyStateFindings(it, k, target) || target == k.Account {
			continue
		}
		principal := "arn:aws:iam::" + target + ":root"
		if p := it.trig.Principal; p != nil && p.Account == target && p.ARN != "" && p.Type != trigger.PrincipalServiceLinkedRole {
			principal = p.ARN
		}
		use, grant := evaluateKey(k, principal, r.orgOf(ctx, target, k.Doc))
		if use.Decision == evaluate.ExplicitDeny || grant.Decision == evaluate.ExplicitDeny {
			it.addFinding(report.Finding{Code: report.ExplicitDeny, Account: target, KeyARN: k.ARN, PrincipalARN: principal,
				Message: fmt.Sprintf("%s; a Deny in its key policy blocks %s", why, principal)})
			continue
		}
		if use.KeyPolicy.Decision != evaluate.Allow {
			it.addFinding(report.Finding{Code: report.KeyPolicyMissingUse, Account: target, KeyARN: k.ARN, PrincipalARN: principal,
				Message: why + "; its key policy does not let account " + target + " use it"})
		}
		if grant.KeyPolicy.Decision != evaluate.Allow {
			it.addFinding(report.Finding{Code: report.KeyPolicyMissingGrant, Account: target, KeyARN: k.ARN, PrincipalARN: principal,
				Message: why + "; its key policy does not let account " + target + " create grants for EC2"})
		}
	}
}

// diagnoseImage reads the image as c.Viewer, then checks every encrypted snapshot's key for
// each target account. c.WithShares adds the accounts the image is shared with.
func (r *run) diagnoseImage(ctx context.Context, it *item, c trigger.ImageCheck) error {
	viewer, region, imageID, targets := c.Viewer, c.Region, c.ImageID, c.Targets
	if imageID == "" {
		return errors.New("no image to check")
	}
	prev := it.tag
	it.tag.role = report.KeyRoleSource
	defer func() { it.tag = prev }()
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
		// key policy would be edited on the image owner's word (SECURITY.md).
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
	if r.keyStateFindings(it, k, target) {
		return
	}
	p := it.trig.Principal
	role, launcher := launchRole(p, target)
	if launcher {
		r.checkKeyForLaunchRole(ctx, it, k, p, role, log)
	}
	if target == k.Account {
		return // the key's own account: its IAM decides (the IAM check covers it), or the role's key policy above
	}
	principal := "arn:aws:iam::" + target + ":root"
	if p != nil && p.Account == target && p.ARN != "" && !launcher {
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
	r.untrustedFinding(it, k, target, trusted)
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

// untrustedFinding says, once per record and account, that the account is not trusted.
func (r *run) untrustedFinding(it *item, k *key, target string, trusted bool) {
	if trusted || it.untrusted[target] {
		return
	}
	it.untrusted[target] = true
	it.addFinding(report.Finding{Code: report.UntrustedAccount, Account: target, KeyARN: k.ARN,
		Message: fmt.Sprintf("account %s is not in TRUSTED_ACCOUNT_IDS or the trusted organization: the key policy is not changed for it", target)})
}

// keyStateFindings reports a key EC2 cannot use for target whatever the policies say: unreadable,
// AWS managed (from another account), or in a state other than Enabled. It reports whether it
// found one. Each state's remedy is the one the KMS key-states documentation gives:
//   - PendingDeletion: cancel the deletion (the key is then Disabled: enable it);
//   - PendingReplicaDeletion: a multi-Region primary key scheduled for deletion that still has
//     replicas (it turns PendingDeletion when they are gone): cancel its deletion, then enable it;
//   - Disabled: enable it;
//   - PendingImport: its imported key material is missing or expired: import it again;
//   - Unavailable: its custom key store is disconnected: connect it;
//   - Creating (a replica being made) and Updating (its primary Region changing): transient
//     states of multi-Region keys: wait, then launch again.
//
// https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html
// https://docs.aws.amazon.com/kms/latest/developerguide/deleting-keys-cancelling-key-deletion.html
func (r *run) keyStateFindings(it *item, k *key, target string) bool {
	f := report.Finding{Account: target, KeyARN: k.ARN, KeyState: string(k.State)}
	switch {
	case k.Err != nil:
		f.Code, f.KeyState = k.Problem, ""
		f.Message = keyProblemMessage(k)
	case k.Manager == kmstypes.KeyManagerTypeAws:
		if target == k.Account {
			return true
		}
		f.Code, f.KeyState = report.AWSManagedKey, ""
		f.Message = fmt.Sprintf("snapshots of %s use the AWS managed key %s, which no other account can use; copy the image with a customer managed key", it.rec.ImageID, k.ARN)
	case k.State == kmstypes.KeyStateEnabled:
		return false
	case k.State == kmstypes.KeyStatePendingDeletion:
		f.Code = report.KeyPendingDeletion
		f.Message = fmt.Sprintf("key %s is scheduled for deletion (PendingDeletion): cancel the deletion (aws kms cancel-key-deletion), then enable it, before anyone can launch", k.ARN)
	case k.State == kmstypes.KeyStatePendingReplicaDeletion:
		f.Code = report.KeyPendingDeletion
		f.Message = fmt.Sprintf("key %s is a multi-Region primary key scheduled for deletion (PendingReplicaDeletion: it is deleted once its replicas are): cancel its deletion (aws kms cancel-key-deletion), then enable it, before anyone can launch", k.ARN)
	case k.State == kmstypes.KeyStateDisabled:
		f.Code, f.KeyState = report.KeyDisabled, ""
		f.Message = fmt.Sprintf("key %s is Disabled: enable it (aws kms enable-key) before anyone can launch", k.ARN)
	default:
		f.Code = report.KeyUnusableState
		f.Message = fmt.Sprintf("key %s is %s: %s", k.ARN, k.State, unusableStateRemedy(k.State))
	}
	it.addFinding(f)
	return true
}

// unusableStateRemedy says what ends a key state that is neither Enabled, Disabled nor pending
// deletion (enabling the key does not).
func unusableStateRemedy(s kmstypes.KeyState) string {
	switch s {
	case kmstypes.KeyStatePendingImport:
		return "its imported key material is missing or expired: import it again (aws kms get-parameters-for-import, then aws kms import-key-material) before anyone can launch"
	case kmstypes.KeyStateUnavailable:
		return "its custom key store is disconnected: connect it (aws kms connect-custom-key-store) before anyone can launch"
	case kmstypes.KeyStateCreating:
		return "a multi-Region replica key still being created: wait until it is Enabled, then launch again"
	case kmstypes.KeyStateUpdating:
		return "a multi-Region key whose primary Region is changing: wait until it is Enabled again, then launch again"
	}
	return "EC2 cannot use a key in this state; see the KMS key-states table"
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
	r.needIn(k, it, func(n *keyNeed) { n.accounts[account] = true })
}

// needRole records that k's policy must name an Auto Scaling group's service-linked role itself.
func (r *run) needRole(k *key, role string, it *item) {
	r.needIn(k, it, func(n *keyNeed) { n.roles[role] = true })
}

// needLaunchGrantee records that k's policy must let grantee's account create its launch grant.
func (r *run) needLaunchGrantee(k *key, grantee string, it *item) {
	r.needIn(k, it, func(n *keyNeed) { n.grantees[grantee] = true })
}

func (r *run) needIn(k *key, it *item, add func(*keyNeed)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, ok := r.needs[k.ARN]
	if !ok {
		n = &keyNeed{key: k, accounts: map[string]bool{}, roles: map[string]bool{}, grantees: map[string]bool{}}
		r.needs[k.ARN] = n
	}
	add(n)
	for _, x := range n.items {
		if x == it {
			return
		}
	}
	n.items = append(n.items, it)
}

// addFinding adds f once; a finding about a key that does not say its role or template gets
// what is being checked (it.tag).
func (it *item) addFinding(f report.Finding) {
	if f.KeyARN != "" && f.KeyRole == "" {
		f.KeyRole = it.tag.role
	}
	if f.LaunchTemplate == "" {
		f.LaunchTemplate = it.tag.template
	}
	for _, g := range it.rec.Findings {
		if g.Code == f.Code && g.Account == f.Account && g.KeyARN == f.KeyARN && g.PrincipalARN == f.PrincipalARN &&
			g.KeyRole == f.KeyRole && g.LaunchTemplate == f.LaunchTemplate {
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
