package alert

import (
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The accounts of the demo: the image and key owner, the account the image is shared with, and
// one nobody trusts.
const (
	owner     = "111122223333"
	target    = "444455556666"
	untrusted = "999988887777"
	keyARN    = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	ebsKeyARN = "arn:aws:kms:us-east-1:111122223333:key/0b5a1f7e-aaaa-bbbb-cccc-0123456789ab"
	imageID   = "ami-0a1b2c3d4e5f67890"
	roleARN   = "arn:aws:iam::444455556666:role/launcher"
)

const sampleDiff = `--- before
+++ after
@@ statement 1 @@
     {
       "Sid": "Allow use of the key",
       "Effect": "Allow",
-      "Principal": {"AWS": "arn:aws:iam::555566667777:root"},
+      "Principal": {"AWS": ["arn:aws:iam::555566667777:root", "arn:aws:iam::444455556666:root"]},
`

const sampleDocument = `{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
      "Action": "kms:*",
      "Resource": "*"
    },
    {
      "Sid": "Allow use of the key",
      "Effect": "Allow",
      "Principal": {"AWS": ["arn:aws:iam::555566667777:root", "arn:aws:iam::444455556666:root"]},
      "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"],
      "Resource": "*"
    }
  ]
}`

func shareRecord(findings ...report.Finding) report.Record {
	return report.Record{
		EventID: "3f2d8c1e-5b7a-4c9d-8e6f-0a1b2c3d4e5f", Trigger: "share-image",
		Account: owner, Region: "us-east-1", ImageID: imageID, Findings: findings,
	}
}

// missing is a key-policy finding for account, worded as the remediator words it (it names
// the key).
func missing(code report.Code, account string) report.Finding {
	what := "use the key (kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey)"
	if code == report.KeyPolicyMissingGrant {
		what = "create grants for EC2 (kms:CreateGrant with kms:GrantIsForAWSResource)"
	}
	return report.Finding{
		Code: code, Account: account, KeyARN: keyARN, Fixable: true,
		Message: "the key policy of " + keyARN + " does not let account " + account + " " + what,
	}
}

// keyPolicyReason is what the remediator says of its key-policy edit: longer than any value
// taken from an event may be, and never cut.
const keyPolicyReason = `allow arn:aws:iam::444455556666:root to use the key (kms:Encrypt, kms:Decrypt, kms:ReEncrypt*, kms:GenerateDataKey*, kms:DescribeKey): added to statement 2 "Allow use of the key"; allow arn:aws:iam::444455556666:root to attach persistent resources (kms:CreateGrant, kms:ListGrants, kms:RevokeGrant when kms:GrantIsForAWSResource is true): added to statement 3 "Allow attachment of persistent resources"`

// policyHunk is one statement's change in policyDiff.
const policyHunk = `              "Effect": "Allow",
              "Principal": {
-                 "AWS": "arn:aws:iam::111122223333:role/ImageBuilder"
+                 "AWS": [
+                     "arn:aws:iam::111122223333:role/ImageBuilder",
+                     "arn:aws:iam::444455556666:root"
+                 ]
              },
              "Action": [
`

// policyDiff is the diff the remediator shows for that edit of the console's default key policy:
// the same change in its two statements.
const policyDiff = "  ...\n" + policyHunk + "  ...\n" + policyHunk + "  ...\n"

// fixedResult: fix mode, a share to a trusted account, key policy fixed.
func fixedResult() report.Result {
	return report.Result{
		Records: []report.Record{shareRecord(
			missing(report.KeyPolicyMissingUse, target), missing(report.KeyPolicyMissingGrant, target))},
		Actions: []report.Action{{
			Type: report.ActionKeyPolicy, Target: keyARN, Accounts: []string{target},
			Status: report.StatusApplied, Reason: keyPolicyReason, Diff: sampleDiff,
		}},
	}
}

// plannedResult: alert mode, the same share: the plan with its diff and the whole document.
func plannedResult() report.Result {
	res := fixedResult()
	res.Actions[0].Status = report.StatusPlanned
	res.Actions[0].Reason = "MODE=alert: " + keyPolicyReason
	res.Actions[0].Document = sampleDocument
	return res
}

// withPolicyDiff gives res's actions the diff of a real key policy (the console's default).
func withPolicyDiff(res report.Result) report.Result {
	for i := range res.Actions {
		if res.Actions[i].Type == report.ActionKeyPolicy {
			res.Actions[i].Diff = policyDiff
		}
	}
	return res
}

// untrustedResult: a share to an account nobody trusts.
func untrustedResult() report.Result {
	use := missing(report.KeyPolicyMissingUse, untrusted)
	use.Fixable = false
	return report.Result{
		Records: []report.Record{shareRecord(
			report.Finding{Code: report.UntrustedAccount, Account: untrusted, KeyARN: keyARN,
				Message: "account 999988887777 is not in TRUSTED_ACCOUNT_IDS"},
			use)},
		Actions: []report.Action{{
			Type: report.ActionKeyPolicy, Target: keyARN, Accounts: []string{untrusted},
			Status: report.StatusRefused, Reason: "untrusted-account",
		}},
	}
}

// awsManagedResult: a launch in the target account failed on an image encrypted with aws/ebs.
func awsManagedResult() report.Result {
	return report.Result{
		Records: []report.Record{{
			EventID: "e1", Trigger: "launch-failed", Account: target, Region: "us-east-1", ImageID: imageID,
			PrincipalARN: roleARN,
			Findings: []report.Finding{{
				Code: report.AWSManagedKey, Account: target, KeyARN: ebsKeyARN,
				Message: "snapshot snap-0123456789abcdef0 is encrypted with alias/aws/ebs",
			}},
		}},
		Actions: []report.Action{},
	}
}

// iamRoleResult: a launch by a role failed; the key policy was fixed, the role's identity
// policies do not allow the key and IAM fixing planned nothing.
func iamRoleResult() report.Result {
	return report.Result{
		Records: []report.Record{{
			EventID: "b7c9e0f1-1111-2222-3333-444455556666", Trigger: "launch-failed", Account: target,
			Region: "us-east-1", ImageID: imageID, PrincipalARN: roleARN,
			Findings: []report.Finding{
				missing(report.KeyPolicyMissingUse, target),
				{Code: report.IAMMissingUse, Account: target, KeyARN: keyARN, PrincipalARN: roleARN,
					Message: "no identity policy of role/launcher allows kms:Decrypt on the key (not evaluated: SCPs, session policies)"},
				{Code: report.IAMMissingGrant, Account: target, KeyARN: keyARN, PrincipalARN: roleARN,
					Message: "no identity policy of role/launcher allows kms:CreateGrant with kms:GrantIsForAWSResource"},
			},
		}},
		Actions: []report.Action{{
			Type: report.ActionKeyPolicy, Target: keyARN, Accounts: []string{target},
			Status: report.StatusApplied, Reason: "added account root", Diff: sampleDiff,
		}},
	}
}

// nothingResult: events that needed nothing.
func nothingResult() report.Result {
	return report.Result{
		Records: []report.Record{
			shareRecord(),
			{EventID: "x", Trigger: "ignored", IgnoredReason: "launchPermission.remove"},
		},
		Actions: []report.Action{{Type: report.ActionKeyPolicy, Target: keyARN, Accounts: []string{target}, Status: report.StatusUnchanged}},
	}
}

// iamFixedResult: a launch by a role failed; the key policy was fixed and the role given a grant
// on the key (its identity policies lack it).
func iamFixedResult() report.Result {
	res := iamRoleResult()
	res.Records[0].Findings[1].Fixable, res.Records[0].Findings[2].Fixable = true, true
	res.Actions[0].Reason = keyPolicyReason
	res.Actions = append(res.Actions, report.Action{
		Type: report.ActionKMSGrant, Target: keyARN, Accounts: []string{target}, Principal: roleARN, Status: report.StatusApplied,
		GrantID: "0c1ab3f8e2d4c6b8a0f1e3d5c7b9a1f3e5d7c9b1a3f5e7d9c1b3a5f7e9d1c3b5",
		Reason:  "created grant ami-kms-remediator-3f6c1a2b4d5e6f70 on " + keyARN + " for " + roleARN + " (Encrypt, Decrypt, ReEncryptFrom, ReEncryptTo, GenerateDataKey, GenerateDataKeyWithoutPlaintext, DescribeKey, CreateGrant), created from account 444455556666, verified with ListGrants in account 111122223333; it takes effect within about five minutes",
	})
	return res
}

// denyResult: a share to a trusted account that a Deny in the key policy blocks.
func denyResult() report.Result {
	return report.Result{
		Records: []report.Record{shareRecord(report.Finding{
			Code: report.ExplicitDeny, Account: target, KeyARN: keyARN, PrincipalARN: "arn:aws:iam::444455556666:root",
			Message: "a Deny in the key policy of " + keyARN + ` blocks arn:aws:iam::444455556666:root: never fixed automatically (statement 4 "DenyOutsideOrg" denies kms:CreateGrant)`,
		})},
		Actions: []report.Action{},
	}
}

// disabledResult: a launch failed on a disabled key.
func disabledResult() report.Result {
	return report.Result{
		Records: []report.Record{{
			EventID: "e2", Trigger: "instance-terminated", Account: target, Region: "us-east-1", ImageID: imageID,
			Findings: []report.Finding{{
				Code: report.KeyDisabled, Account: target, KeyARN: keyARN,
				Message: "key " + keyARN + " is Disabled: enable it (aws kms enable-key) before anyone can launch",
			}},
		}},
		Actions: []report.Action{},
	}
}

// errorResult: a record whose check could not finish.
func errorResult() report.Result {
	return report.Result{
		Records: []report.Record{{
			EventID: "c0ffee00-1111-2222-3333-444455556666", Trigger: "launch-failed", Account: target, Region: "us-east-1", ImageID: imageID,
			PrincipalARN: roleARN, Findings: []report.Finding{},
			Error: "assume role arn:aws:iam::444455556666:role/ami-kms-remediator-member: operation error STS: AssumeRole, https response error StatusCode: 403, RequestID: 5b1e6c9a-0000-4000-8000-000000000000, api error AccessDenied: User: arn:aws:sts::111122223333:assumed-role/remediator/fn is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/ami-kms-remediator-member",
		}},
		Actions: []report.Action{},
	}
}

// assumeRoleFailedResult: the same failed record as the remediator reports it now, with the
// finding of its failure's code.
func assumeRoleFailedResult() report.Result {
	res := errorResult()
	rec := &res.Records[0]
	rec.Findings = []report.Finding{{Code: report.AssumeRoleDenied, Account: target,
		PrincipalARN: "arn:aws:iam::444455556666:role/ami-kms-remediator-member",
		Message:      "checking launch-failed image " + imageID + " for account " + target + " in us-east-1 did not finish: " + rec.Error}}
	return res
}

// lookupMissingResult: a terminated instance whose key policy was fixed while CloudTrail stayed
// throttled through the last delivery: who launched it is not known.
func lookupMissingResult() report.Result {
	res := fixedResult()
	rec := &res.Records[0]
	rec.Trigger, rec.Account, rec.EventID = "instance-terminated", target, "2b4d6f8a-0c2e-4b4d-8f6a-0c2e4b6d8f1a"
	rec.Incomplete = []string{report.PartLauncher}
	rec.Findings = append(rec.Findings, report.Finding{Code: report.LookupUnavailable, Account: target,
		Message: "looking up who launched i-0abcd1234ef567890 (CloudTrail LookupEvents in 444455556666/us-east-1) stayed unavailable through the last delivery: " +
			"the key side was checked without it; no identity policy was checked: look up who launched i-0abcd1234ef567890: operation error CloudTrail: LookupEvents, " +
			"exceeded maximum number of attempts, 5, api error ThrottlingException: Rate exceeded"})
	return res
}

// unusableResult: an event whose recipientAccountId is not 12 ASCII digits.
func unusableResult() report.Result {
	return report.Result{Records: []report.Record{{
		EventID: "7f1b3d5e-9a2c-4e6f-8b0d-1c3e5a7b9d24", Trigger: "launch-failed", Account: " 444455556666", Region: "us-east-1",
		Findings: []report.Finding{{Code: report.UnusableInput, Message: "the event cannot be used, so nothing was called; it is acknowledged and never retried: " +
			"account \" 444455556666\" (the event's recipientAccountId or account) is not 12 ASCII digits"}},
		Error: "unusable input: account \" 444455556666\" (the event's recipientAccountId or account) is not 12 ASCII digits",
	}}, Actions: []report.Action{}}
}

// mixedResult: one batch of four records: a key policy fixed, a share to an untrusted account,
// an image on aws/ebs whose launch failed, and a record that failed.
func mixedResult() report.Result {
	fixed := fixedResult()
	untrustedRec := untrustedResult().Records[0]
	untrustedRec.EventID = "9a8b7c6d-0000-4000-8000-000000000001"
	untrustedRec.ImageID = "ami-0fedcba9876543210"
	managed := awsManagedResult().Records[0]
	failed := errorResult().Records[0]
	return report.Result{
		Records: []report.Record{fixed.Records[0], untrustedRec, managed, failed},
		Actions: append(fixed.Actions, untrustedResult().Actions...),
		Stats:   map[string]int{"EC2:DescribeImages": 4, "KMS:GetKeyPolicy": 3, "KMS:PutKeyPolicy": 1, "SNS:Publish": 1},
	}
}

// notOptedInResult: fix mode, a share to a trusted account, the key not tagged for the default
// write scope: the plan is refused, and the alert says how to opt the key in.
func notOptedInResult() report.Result {
	res := fixedResult()
	res.Actions[0].Status, res.Actions[0].Cause, res.Actions[0].Document = report.StatusRefused, report.CauseNotInWriteScope, sampleDocument
	res.Actions[0].Reason = "the key has not opted in to the remediator's write scope (KeyWriteScope=tagged-keys): tag it ami-kms-remediator=managed (aws kms tag-resource) to let it add 444455556666, or add the statements by hand"
	return res
}

// iacResult: fix mode, a share to a trusted account, the key owned by a CloudFormation stack:
// never edited, and the alert names the stack and the statements to add to its template.
func iacResult() report.Result {
	res := notOptedInResult()
	stack := &report.ManagedBy{Tool: report.ManagedByCloudFormation, StackName: "golden-images",
		StackID: "arn:aws:cloudformation:us-east-1:111122223333:stack/golden-images/0a1b2c3d-0000-4000-8000-000000000000", LogicalResourceID: "ImageKey"}
	res.Records[0].Findings = append(res.Records[0].Findings, report.Finding{Code: report.KeyManagedByIaC, Account: target, KeyARN: keyARN, ManagedBy: stack,
		Message: "the key policy of " + keyARN + " is managed by " + stack.Describe() + ": an edit outside it would be reverted by its next deployment"})
	res.Actions[0].Cause = report.CauseManagedByIaC
	res.Actions[0].Reason = "the key is managed by " + stack.Describe() + ": add the statements to its template instead"
	return res
}
