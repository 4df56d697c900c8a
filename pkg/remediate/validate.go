package remediate

import (
	"fmt"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// validateTrigger checks, before any AWS call, the fields of a decoded event that become part
// of a role ARN, an endpoint or a client's scope: the accounts (12 ASCII digits) and the
// Regions (AWS's Region name form, in the function's own partition: a client here signs for
// that partition only). A field that fails makes the record unusable input: reported,
// acknowledged, never retried. Empty Regions are left to the kinds, which use the function's
// own Region for them. The decoder keeps values as the event gave them; deciding what may reach
// AWS is the remediator's job.
func validateTrigger(t trigger.Trigger, partition string) error {
	if t.Kind == trigger.Ignored {
		return nil
	}
	if !awsid.IsAccountID(t.Account) {
		return fmt.Errorf("account %q (the event's recipientAccountId or account) is not 12 ASCII digits", clip(t.Account, 64))
	}
	for _, f := range []struct{ name, value string }{{"region", t.Region}, {"source region", t.SourceRegion}} {
		if f.value == "" {
			continue
		}
		if err := validRegion(f.value, partition); err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if a, ok := awsid.ParseARN(t.KMSKeyID); ok {
		if !awsid.IsAccountID(a.Account) {
			return fmt.Errorf("kmsKeyId %q: account %q is not 12 ASCII digits", clip(t.KMSKeyID, 256), clip(a.Account, 64))
		}
		if err := validRegion(a.Region, partition); err != nil {
			return fmt.Errorf("kmsKeyId %q: %w", clip(t.KMSKeyID, 256), err)
		}
		if a.Partition != partition {
			return fmt.Errorf("kmsKeyId %q: partition %q is not the function's %s", clip(t.KMSKeyID, 256), clip(a.Partition, 32), partition)
		}
	}
	if p := t.Principal; p != nil && p.Type != trigger.PrincipalOther {
		if !awsid.IsAccountID(p.Account) {
			return fmt.Errorf("principal %q: account %q is not 12 ASCII digits", clip(p.ARN, 256), clip(p.Account, 64))
		}
		if a, ok := awsid.ParseARN(p.ARN); !ok || a.Partition != partition {
			return fmt.Errorf("principal %q is not an ARN of the function's partition %s", clip(p.ARN, 256), partition)
		}
	}
	return nil
}

// validRegion checks a Region name's form and partition.
func validRegion(region, partition string) error {
	if !awsid.IsRegion(region) {
		return fmt.Errorf("%q is not an AWS Region name", clip(region, 64))
	}
	if p := awsid.RegionPartition(region); p != partition {
		return fmt.Errorf("%q is in partition %s, not in the function's %s", region, p, partition)
	}
	return nil
}
