package trigger

import (
	"context"
	"fmt"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// KeyPolicyChanged: someone other than the remediator replaced a key's policy (a person, or IaC
// reverting it). Every image the estate store knows to use the key is checked again at once,
// instead of at the next failed launch or sweep.
const KeyPolicyChanged Kind = "key-policy-changed"

const eventSourceKMS = "kms.amazonaws.com"

func init() {
	register(&Descriptor{
		Kind:     KeyPolicyChanged,
		Doc:      "re-checks every image the estate store knows to use the key (not for the remediator's own writes): catches a revert at once",
		Sample:   "events/key-policy-changed.json",
		Rule:     "KeyPolicyDriftRule",
		APICalls: []APICall{{EventSource: eventSourceKMS, EventName: "PutKeyPolicy"}},
		Decode:   decodeKeyPolicyChanged,
		Diagnose: diagnoseKeyPolicyChanged,
		// Telling the remediator's own sessions apart needs its own identity; without an estate
		// store (the benchmark's sample run) no image is known to use the key, so nothing else.
		MinCalls: map[string]int{"STS:GetCallerIdentity": 1},
	})
}

// decodeKeyPolicyChanged finds the key's ARN: requestParameters.keyId when it is one, else the
// record's resources, else built from the key ID, the account and the region (PutKeyPolicy takes
// a key ID or ARN, never an alias).
func decodeKeyPolicyChanged(ev Event, tr Trigger) (Trigger, error) {
	rp, _, err := ev.obj.obj("requestParameters")
	if err != nil {
		return Trigger{}, err
	}
	keyID := ""
	if rp.members != nil {
		if keyID, err = rp.str("keyId"); err != nil {
			return Trigger{}, err
		}
	}
	resources, err := ev.obj.items("resources")
	if err != nil {
		return Trigger{}, err
	}
	for _, r := range resources {
		typ, err := r.str("type")
		if err != nil {
			return Trigger{}, err
		}
		arn, err := r.str("ARN")
		if err != nil {
			return Trigger{}, err
		}
		if arn == "" { // some log pipelines lower-case the member
			if arn, err = r.str("arn"); err != nil {
				return Trigger{}, err
			}
		}
		if typ == "AWS::KMS::Key" && arn != "" && tr.KMSKeyID == "" {
			tr.KMSKeyID = arn
		}
	}
	switch a, ok := awsid.ParseARN(keyID); {
	case ok && a.Service == "kms":
		tr.KMSKeyID = keyID
	case tr.KMSKeyID != "":
	case keyID == "":
		return ignore(tr, "PutKeyPolicy names no key (no requestParameters.keyId, no key in resources)"), nil
	case strings.ContainsAny(keyID, ":/") || !awsid.IsAccountID(tr.Account) || tr.Region == "":
		return Trigger{}, fmt.Errorf("%s: %q is no key ID this record's account and region can resolve", join(rp.path, "keyId"), clip(keyID, 128))
	default:
		tr.KMSKeyID = fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", awsid.RegionPartition(tr.Region), tr.Region, tr.Account, keyID)
	}
	if a, ok := awsid.ParseARN(tr.KMSKeyID); !ok || a.Service != "kms" || !strings.HasPrefix(a.Resource, "key/") || !awsid.IsAccountID(a.Account) {
		return Trigger{}, fmt.Errorf("PutKeyPolicy: %q is not a KMS key ARN", clip(tr.KMSKeyID, 256))
	}
	return withPrincipal(ev, tr)
}

// diagnoseKeyPolicyChanged re-checks, each as its own record, the images known to use the key.
func diagnoseKeyPolicyChanged(ctx context.Context, d Diagnosis, t Trigger) error {
	if t.Principal != nil {
		own, err := d.IsRemediator(ctx, t.Principal)
		if err != nil {
			return err
		}
		if own {
			d.Ignore("PutKeyPolicy by the remediator's own session: its own write, never a trigger")
			return nil
		}
	}
	images, err := d.ImagesUsingKey(ctx, t.KMSKeyID)
	if err != nil {
		return err
	}
	if len(images) == 0 {
		d.Ignore(fmt.Sprintf("no image is known to use key %s (no sweep or finding has seen one)", clip(t.KMSKeyID, 256)))
		return nil
	}
	for _, img := range images {
		d.Spawn(Trigger{Kind: EstateImage, EventID: t.EventID + "/" + img.ImageID, Source: t.Source, DetailType: t.DetailType,
			Account: img.Owner, Region: img.Region, ImageID: img.ImageID})
	}
	return nil
}
