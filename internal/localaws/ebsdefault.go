package localaws

import (
	"context"
	"net/http"
)

// The default KMS key for EBS encryption of an account and Region (EC2 API Reference,
// GetEbsDefaultKmsKeyId / ModifyEbsDefaultKmsKeyId / ResetEbsDefaultKmsKeyId). moto implements
// ModifyEbsDefaultKmsKeyId but not GetEbsDefaultKmsKeyId, and keeps what it sets where nothing
// else reads it; the filler answers all three and uses the key wherever EC2 does: a launch or a
// copy that encrypts a volume or snapshot without a KmsKeyId of its own (see runInstances and
// copyImage). The key is used whatever GetEbsEncryptionByDefault says: encryption by default
// decides only whether unencrypted snapshots are encrypted.
//
//   - ModifyEbsDefaultKmsKeyId stores the key (ID, alias, key ARN or alias ARN, resolved to the
//     key ARN when the key exists; AWS checks the key asynchronously, so an unknown one is
//     stored as given) and answers its ARN.
//   - ResetEbsDefaultKmsKeyId goes back to the AWS managed key aws/ebs.
//   - GetEbsDefaultKmsKeyId answers the stored key ARN, or, when none was set, the ARN of the
//     alias aws/ebs (arn:aws:kms:REGION:ACCOUNT:alias/aws/ebs). AWS documents the answer only
//     as "the ARN of the default KMS key"; the alias ARN is what accounts that never changed it
//     report.

func (fi *Filler) serveEBSDefault(w http.ResponseWriter, r *http.Request, c *call) bool {
	if dryRun(w, c) {
		return true
	}
	k := c.account + "/" + c.region
	switch c.action {
	case "GetEbsDefaultKmsKeyId":
		writeEC2(w, c.action, "<kmsKeyId>"+xmlText(fi.ebsDefaultKeyID(c.account, c.region))+"</kmsKeyId>")
	case "ModifyEbsDefaultKmsKeyId":
		ref := c.params.Get("KmsKeyId")
		if ref == "" {
			writeEC2Error(w, http.StatusBadRequest, "MissingParameter", "The request must contain the parameter KmsKeyId")
			return true
		}
		arn := ref
		if md, err := fi.describeKey(r.Context(), c.account, c.region, ref); err == nil && md.Arn != "" {
			arn = md.Arn
		}
		fi.mu.Lock()
		fi.ebsDefaults[k] = arn
		fi.mu.Unlock()
		writeEC2(w, c.action, "<kmsKeyId>"+xmlText(arn)+"</kmsKeyId>")
	case "ResetEbsDefaultKmsKeyId":
		fi.mu.Lock()
		delete(fi.ebsDefaults, k)
		fi.mu.Unlock()
		writeEC2(w, c.action, "<kmsKeyId>"+xmlText(fi.defaultEBSKey(r.Context(), c.account, c.region))+"</kmsKeyId>")
	default:
		return false
	}
	return true
}

// ebsDefaultKeyID is what GetEbsDefaultKmsKeyId answers.
func (fi *Filler) ebsDefaultKeyID(account, region string) string {
	fi.mu.Lock()
	defer fi.mu.Unlock()
	if arn := fi.ebsDefaults[account+"/"+region]; arn != "" {
		return arn
	}
	return "arn:aws:kms:" + region + ":" + account + ":alias/aws/ebs"
}

// SetEBSDefaultKey makes keyARN the default EBS key of account in region, as
// ModifyEbsDefaultKmsKeyId does; "" resets it to aws/ebs.
func (f *Filler) SetEBSDefaultKey(account, region, keyARN string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if keyARN == "" {
		delete(f.ebsDefaults, account+"/"+region)
		return
	}
	f.ebsDefaults[account+"/"+region] = keyARN
}

// defaultEBSKey is the key EC2 encrypts with in account and region when nothing names one: the
// key set with ModifyEbsDefaultKmsKeyId, else the AWS managed key aws/ebs (moto creates it on
// first use, as AWS does).
func (fi *Filler) defaultEBSKey(ctx context.Context, account, region string) string {
	fi.mu.Lock()
	arn := fi.ebsDefaults[account+"/"+region]
	fi.mu.Unlock()
	if arn != "" {
		return arn
	}
	md, err := fi.describeKey(ctx, account, region, "alias/aws/ebs")
	if err != nil {
		return "arn:aws:kms:" + region + ":" + account + ":alias/aws/ebs"
	}
	return md.Arn
}
