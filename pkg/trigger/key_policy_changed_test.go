package trigger

import (
	"strings"
	"testing"
)

func TestDiagnoseKeyPolicyChanged(t *testing.T) {
	key := "arn:aws:kms:us-east-1:111122223333:key/k1"
	iac := &Principal{ARN: "arn:aws:iam::111122223333:role/terraform-deployer", Account: "111122223333", Type: PrincipalRole, Name: "terraform-deployer"}
	change := Trigger{Kind: KeyPolicyChanged, EventID: "ev1", Source: "aws.kms", DetailType: DetailTypeCloudTrailAPICall,
		Account: "111122223333", Region: "us-east-1", KMSKeyID: key, Principal: iac}
	recheck := func(owner, region, image string) Trigger {
		return Trigger{Kind: EstateImage, EventID: "ev1/" + image, Source: "aws.kms", DetailType: DetailTypeCloudTrailAPICall,
			Account: owner, Region: region, ImageID: image}
	}
	images := []ImageRef{{Owner: "111122223333", Region: "us-east-1", ImageID: "ami-1"}, {Owner: "555566667777", Region: "eu-west-1", ImageID: "ami-2"}}
	anonymous := change
	anonymous.Principal = nil
	runDiagnoseCases(t, KeyPolicyChanged, map[string]diagnoseCase{
		"another principal: every image known to use the key is checked again": {
			trig: change, fake: fakeDiagnosis{usingKey: images},
			calls:   []string{"IsRemediator " + iac.ARN, "ImagesUsingKey " + key},
			spawned: []Trigger{recheck("111122223333", "us-east-1", "ami-1"), recheck("555566667777", "eu-west-1", "ami-2")},
		},
		"the remediator's own session: ignored, nothing read": {
			trig: change, fake: fakeDiagnosis{remediator: true, usingKey: images},
			calls: []string{"IsRemediator " + iac.ARN}, ignored: "the remediator's own session",
		},
		"an unresolved principal is not the remediator": {
			trig: anonymous, fake: fakeDiagnosis{usingKey: images[:1]},
			calls: []string{"ImagesUsingKey " + key}, spawned: []Trigger{recheck("111122223333", "us-east-1", "ami-1")},
		},
		"a key no image is known to use: ignored": {
			trig: change, calls: []string{"IsRemediator " + iac.ARN, "ImagesUsingKey " + key}, ignored: "no image is known to use key",
		},
	})
}

func TestDecodeKeyPolicyChanged(t *testing.T) {
	record := func(requestParameters, resources, errorCode string) []byte {
		return []byte(`{"eventSource":"kms.amazonaws.com","eventName":"PutKeyPolicy","awsRegion":"eu-west-1","recipientAccountId":"111122223333",` +
			`"eventID":"e1","errorCode":"` + errorCode + `","requestParameters":` + requestParameters + `,"resources":` + resources +
			`,"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"}}`)
	}
	const arn = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	for name, tc := range map[string]struct {
		raw            []byte
		key, ignored   string
		principal, err string
	}{
		"key ARN in the request":   {raw: record(`{"keyId":"`+arn+`"}`, `[]`, ""), key: arn, principal: "arn:aws:iam::111122223333:user/alice"},
		"key ID, ARN in resources": {raw: record(`{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}`, `[{"type":"AWS::KMS::Key","ARN":"`+arn+`"}]`, ""), key: arn},
		"lower-case arn member":    {raw: record(`{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}`, `[{"type":"AWS::KMS::Key","arn":"`+arn+`"}]`, ""), key: arn},
		"key ID only":              {raw: record(`{"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}`, `null`, ""), key: arn},
		"no key at all":            {raw: record(`{"policyName":"default"}`, `[]`, ""), ignored: "names no key"},
		"a failed call":            {raw: record(`{"keyId":"`+arn+`"}`, `[]`, "MalformedPolicyDocumentException"), ignored: "only its success is a trigger"},
		"an alias is no key ID":    {raw: record(`{"keyId":"alias/x"}`, `[]`, ""), err: "no key ID"},
		"not a key ARN":            {raw: record(`{"keyId":"arn:aws:kms:eu-west-1:111122223333:alias/x"}`, `[]`, ""), err: "is not a KMS key ARN"},
		"keyId of the wrong type":  {raw: record(`{"keyId":7}`, `[]`, ""), err: "keyId"},
	} {
		t.Run(name, func(t *testing.T) {
			inv, err := Decode(tc.raw)
			if err == nil && len(inv.Records) == 1 {
				err = inv.Records[0].Err
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Decode: %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tr := inv.Records[0].Trigger
			if tc.ignored != "" {
				if tr.Kind != Ignored || !strings.Contains(tr.IgnoredReason, tc.ignored) {
					t.Errorf("kind %s reason %q, want ignored with %q", tr.Kind, tr.IgnoredReason, tc.ignored)
				}
				return
			}
			if tr.Kind != KeyPolicyChanged || tr.KMSKeyID != tc.key {
				t.Errorf("kind %s key %q, want %s %q", tr.Kind, tr.KMSKeyID, KeyPolicyChanged, tc.key)
			}
			if tc.principal != "" && (tr.Principal == nil || tr.Principal.ARN != tc.principal) {
				t.Errorf("principal %+v, want %s", tr.Principal, tc.principal)
			}
		})
	}
}
