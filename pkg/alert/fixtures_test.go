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

func missing(code report.Code, account string) report.Finding {
	return report.Finding{
		Code: code, Account: account, KeyARN: keyARN, Fixable: true,
		Message: "key policy does not allow account " + account + " " + string(code[len("key-policy-missing-"):]) + " from EC2",
	}
}

// fixedResult: fix mode, a share to a trusted account, key policy fixed.
func fixedResult() report.Result {
	return report.Result{
		Records: []report.Record{shareRecord(
			missing(report.KeyPolicyMissingUse, target), missing(report.KeyPolicyMissingGrant, target))},
		Actions: []report.Action{{
			Type: report.ActionKeyPolicy, Target: keyARN, Accounts: []string{target},
			Status: report.StatusApplied, Reason: "added account root to 2 statements; verified by GetKeyPolicy",
			Diff: sampleDiff,
		}},
	}
}

// plannedResult: alert mode, the same share: the plan with its diff and the whole document.
func plannedResult() report.Result {
	res := fixedResult()
	res.Actions[0].Status = report.StatusPlanned
	res.Actions[0].Reason = "alert mode"
	res.Actions[0].Document = sampleDocument
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
