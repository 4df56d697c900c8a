package remediate

// Guardrail tests: each one tries to make the remediator widen access, write what it
// must not, or forge alert structure, through the real handler and real AWS calls against the
// local AWS. A recorder in front of the local AWS sees every PutKeyPolicy the remediator sends.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/alert"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// shareItem builds a share-image event for image whose launchPermission.add item is itemJSON
// (the members of the item object, e.g. `"userId": 444455556666`).
func shareItem(t *testing.T, image, itemJSON string) []byte {
	t.Helper()
	raw, err := scenario.Event("../../events/share-image.json", map[string]string{scenario.PlaceholderImage: image, `"userId": "444455556666"`: itemJSON})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// assertNothingGranted: no write reached KMS, the policy is byte-identical, no action was
// applied or planned and no finding is marked fixable.
func assertNothingGranted(t *testing.T, rec *awsRecorder, keyARN, before string, res report.Result) {
	t.Helper()
	if ws := rec.Writes(); len(ws) != 0 {
		t.Errorf("PutKeyPolicy reached KMS %d times: %+v", len(ws), ws)
	}
	if after := keyPolicy(t, keyARN); after != before {
		t.Errorf("key policy changed:\n%s", PolicyDiff([]byte(before), []byte(after)))
	}
	for _, a := range res.Actions {
		if a.Status == report.StatusApplied || a.Status == report.StatusPlanned {
			t.Errorf("action %+v", a)
		}
	}
	for _, r := range res.Records {
		for _, f := range r.Findings {
			if f.Fixable {
				t.Errorf("finding marked fixable: %+v", f)
			}
		}
	}
}

// Crafted launch-permission userIds never lead to a grant, even when EC2 itself reports the
// crafted value and even when a sloppy TRUSTED_ACCOUNT_IDS lists it: only 12 ASCII digits are
// ever an account.
func TestGuardrailCraftedUserIDsNeverGranted(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "")
	before := keyPolicy(t, f.key)
	cases := map[string]struct {
		item string // the launchPermission item's members in the event
		ec2  string // a launch permission really set in EC2 ("" for none)
	}{
		"star":                 {item: `"userId": "*"`, ec2: "*"},
		"root ARN":             {item: `"userId": "arn:aws:iam::444455556666:root"`, ec2: "arn:aws:iam::444455556666:root"},
		"13 digits":            {item: `"userId": "4444555566667"`, ec2: "4444555566667"},
		"11 digits":            {item: `"userId": "44445555666"`, ec2: "44445555666"},
		"arabic-indic digits":  {item: `"userId": "٤٤٤٤٥٥٥٥٦٦٦٦"`, ec2: "٤٤٤٤٥٥٥٥٦٦٦٦"},
		"fullwidth digits":     {item: `"userId": "４４４４５５５５６６６６"`},
		"number":               {item: `"userId": 444455556666`},
		"number with exponent": {item: `"userId": 4.44455556666e11`},
		"padded":               {item: `"userId": " 444455556666"`, ec2: " 444455556666"},
		"trailing newline":     {item: `"userId": "444455556666\n"`},
		"null":                 {item: `"userId": null`},
		"organization ARN":     {item: `"organizationArn": "arn:aws:organizations::111122223333:organization/o-a1b2c3d4e5"`},
		"OU ARN":               {item: `"organizationalUnitArn": "arn:aws:organizations::111122223333:ou/o-a1b2c3d4e5/ou-ab12-cdef3456"`},
	}
	// A sloppy configuration that lists the crafted values too: the 12-digit check must not
	// depend on TRUSTED_ACCOUNT_IDS having been validated.
	trusted := []string{scenario.Target, "*", "arn:aws:iam::444455556666:root", "4444555566667", "44445555666", "٤٤٤٤٥٥٥٥٦٦٦٦", " 444455556666"}
	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: trusted}, rec.URL, 2)
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			imgs := imagesOnKey(t, f.key, []string{""})
			if c.ec2 != "" {
				_, err := world.EC2(scenario.Owner, scenario.Region).ModifyImageAttribute(context.Background(), &ec2.ModifyImageAttributeInput{
					ImageId: aws.String(imgs[0]), LaunchPermission: &ec2types.LaunchPermissionModifications{Add: []ec2types.LaunchPermission{{UserId: aws.String(c.ec2)}}}})
				// EC2 (and the local EC2) refuses launch permissions that are not 12-digit
				// account IDs (InvalidAMIAttributeItemValue): then only the event carries the value.
				_ = err
			}
			raw := shareItem(t, imgs[0], c.item)
			out, err := rm.Invoke(context.Background(), raw)
			if err != nil {
				// Refused at decoding: nothing was called, which is also safe.
				t.Logf("event refused: %v", err)
				assertNothingGranted(t, rec, f.key, before, report.Result{})
				return
			}
			res := out.(report.Result)
			assertNothingGranted(t, rec, f.key, before, res)
			if allowsAccount(t, f.key, keyPolicy(t, f.key), scenario.Target) {
				t.Error("the target account is allowed")
			}
		})
	}
}

// The event's account must own the image: an event that names another account (a forged event
// put on the bus by a member, or by a non-member account) changes nothing and is not retried.
func TestGuardrailEventAccountMustOwnImage(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	before := keyPolicy(t, f.key)
	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, rec.URL, 2)
	for name, account := range map[string]string{"member account": scenario.Target, "non-member account": scenario.Untrusted} {
		t.Run(name, func(t *testing.T) {
			raw, err := scenario.Event("../../events/share-image.json", map[string]string{scenario.PlaceholderImage: f.image, scenario.Owner: account})
			if err != nil {
				t.Fatal(err)
			}
			resp := invokeSQS(t, context.Background(), rm, sqsRecords(t, []string{"forged"}, [][]byte{raw}))
			if len(resp.Records) != 1 || resp.Records[0].Account != account || resp.Records[0].Error == "" {
				t.Fatalf("want a refused record for account %s: %+v", account, resp.Records)
			}
			if len(resp.BatchItemFailures) != 0 {
				t.Errorf("a refusal is final, not retried: %+v", resp.BatchItemFailures)
			}
			assertNothingGranted(t, rec, f.key, before, resp.Result)
		})
	}
}

// An image owned by an account that is not trusted: its key is never touched, even though the
// image is shared with a trusted account.
func TestGuardrailUntrustedImageOwner(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	key, err := world.CreateKey(ctx, scenario.Untrusted, scenario.Region, scenario.DefaultKeyPolicy(scenario.Untrusted))
	if err != nil {
		t.Fatal(err)
	}
	img, err := world.EncryptedImage(ctx, scenario.Untrusted, scenario.Region, "untrusted-owner", key)
	if err != nil {
		t.Fatal(err)
	}
	if err := world.Share(ctx, scenario.Untrusted, scenario.Region, img, scenario.Target); err != nil {
		t.Fatal(err)
	}
	before := keyPolicy(t, key)
	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, rec.URL, 2)
	raw, err := scenario.Event("../../events/share-image.json", map[string]string{scenario.PlaceholderImage: img, scenario.Owner: scenario.Untrusted})
	if err != nil {
		t.Fatal(err)
	}
	res := invokeRaw(t, rm, raw)
	if len(res.Records) != 1 || res.Records[0].Error != "" || !hasCode(res.Records[0], report.UntrustedAccount) {
		t.Fatalf("want an untrusted-account finding: %+v", res.Records)
	}
	assertNothingGranted(t, rec, key, before, res)
}

// A trusted image whose snapshot uses a key of an untrusted account: that key's policy is never
// edited on the image owner's word.
func TestGuardrailKeyOfUntrustedAccountNeverWritten(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	key, err := world.CreateKey(ctx, scenario.Untrusted, scenario.Region, scenario.DefaultKeyPolicy(scenario.Untrusted))
	if err != nil {
		t.Fatal(err)
	}
	img, err := world.EncryptedImage(ctx, scenario.Owner, scenario.Region, "foreign-key", key)
	if err != nil {
		t.Fatal(err)
	}
	if err := world.Share(ctx, scenario.Owner, scenario.Region, img, scenario.Target); err != nil {
		t.Fatal(err)
	}
	before := keyPolicy(t, key)
	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, rec.URL, 2)
	res := invokeRaw(t, rm, shareEvent(t, img, scenario.Target))
	if len(res.Records) != 1 || !hasCode(res.Records[0], report.UntrustedAccount) {
		t.Fatalf("want an untrusted-account finding for the key's account: %+v", res.Records)
	}
	assertNothingGranted(t, rec, key, before, res)
}

// The event is a hint: who the image is shared with is read from EC2. An event naming a trusted
// account the image is not shared with grants that account nothing; the account EC2 reports is
// the only one added.
func TestGuardrailForgedShareTargetNotGranted(t *testing.T) {
	needsLocalAWS(t)
	const shared = "222233334444"
	f := newFixture(t, "", shared)
	before := keyPolicy(t, f.key)
	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target, shared}}, rec.URL, 2)
	res := invokeRaw(t, rm, shareEvent(t, f.image, scenario.Target))

	after := keyPolicy(t, f.key)
	if allowsAccount(t, f.key, after, scenario.Target) {
		t.Errorf("the account named only by the event was granted:\n%s", after)
	}
	if !allowsAccount(t, f.key, after, shared) {
		t.Errorf("the account EC2 reports was not granted: %+v", res.Actions)
	}
	checkWrites(t, rec.Writes(), map[string]string{f.key: before}, map[string][]string{f.key: {shared}})
	if n := len(rec.Writes()); n != 1 {
		t.Errorf("%d writes, want 1", n)
	}
}

// A CopyImage request names its key freely: a copy in a trusted account that names a key of
// another account (here any key of the central account) gets that account nothing. Before this
// guard, any principal allowed ec2:CopyImage in a trusted account could obtain the use of any
// key the remediator may edit.
func TestGuardrailCopyNamingAnotherAccountsKeyNotGranted(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	victim, err := world.CreateKey(ctx, scenario.Owner, scenario.Region, scenario.DefaultKeyPolicy(scenario.Owner))
	if err != nil {
		t.Fatal(err)
	}
	src, err := world.EncryptedImage(ctx, scenario.Target, scenario.SourceRegion, "copier-own-image", "")
	if err != nil {
		t.Fatal(err)
	}
	before := keyPolicy(t, victim)
	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, rec.URL, 2)
	raw, err := scenario.Event("../../events/copy-image.json", map[string]string{scenario.PlaceholderKey: victim, scenario.PlaceholderSourceImage: src,
		`"account": "111122223333"`: `"account": "444455556666"`, `"accountId": "111122223333"`: `"accountId": "444455556666"`,
		`"recipientAccountId": "111122223333"`: `"recipientAccountId": "444455556666"`})
	if err != nil {
		t.Fatal(err)
	}
	res := invokeRaw(t, rm, raw)
	if len(res.Records) != 1 || res.Records[0].Trigger != "copy-image" || !hasCode(res.Records[0], report.KeyPolicyMissingUse) {
		t.Fatalf("want the gap reported: %+v", res.Records)
	}
	assertNothingGranted(t, rec, victim, before, res)
	if n := res.Stats["IAM:CreatePolicy"] + res.Stats["IAM:CreatePolicyVersion"] + res.Stats["IAM:AttachRolePolicy"] + res.Stats["IAM:AttachUserPolicy"]; n != 0 {
		t.Errorf("%d IAM writes for a key the copy only named", n)
	}
}

// group all: a public-image finding, never fixed.
func TestGuardrailPublicImageNeverFixed(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "")
	makePublic(t, f.image)
	before := keyPolicy(t, f.key)
	rec := newRecorder(t, env.URL)
	rm, sink := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true}, rec.URL, 2)
	res := invokeRaw(t, rm, shareItem(t, f.image, `"group": "all"`))
	if len(res.Records) != 1 || !hasCode(res.Records[0], report.PublicImage) {
		t.Fatalf("want a public-image finding: %+v", res.Records)
	}
	assertNothingGranted(t, rec, f.key, before, res)
	alerts, err := sink.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, string(report.PublicImage)) {
		t.Errorf("want one alert naming the public image: %+v", alerts)
	}
}

// Every PutKeyPolicy the remediator sends leaves KMS's lockout safety check on: the member is
// absent or false in the request body KMS receives.
func TestGuardrailLockoutSafetyCheckNeverBypassed(t *testing.T) {
	needsLocalAWS(t)
	f := newFixture(t, "", scenario.Target)
	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, rec.URL, 2)
	res := invokeRaw(t, rm, shareEvent(t, f.image, scenario.Target))
	ws := rec.Writes()
	if len(ws) != 1 || len(res.Actions) != 1 || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("want one applied write: writes %+v actions %+v", ws, res.Actions)
	}
	for _, w := range ws {
		if len(w.Bypass) != 0 && string(w.Bypass) != "false" {
			t.Errorf("BypassPolicyLockoutSafetyCheck sent as %s", w.Bypass)
		}
	}
}

// paddedPolicy is the default key policy plus an owner-only statement that brings it to size
// bytes: adding an account would take it over KMS's 32 KB limit.
func paddedPolicy(t *testing.T, size int) string {
	t.Helper()
	base := scenario.DefaultKeyPolicy(scenario.Owner)
	pad := `
        {
            "Sid": "Padding",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::111122223333:role/KeyAdmin"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/team": ["%s"]}}
        },`
	p := strings.Replace(base, `"Statement": [`, `"Statement": [`+pad, 1)
	fill := size - (len(p) - 2)
	if fill < 0 {
		t.Fatal("base policy too large")
	}
	return fmt.Sprintf(p, strings.Repeat("x", fill))
}

// A policy that would go over 32 KB is refused and alerted, never written.
func TestGuardrailPolicyOverSizeLimitRefused(t *testing.T) {
	needsLocalAWS(t)
	pol := paddedPolicy(t, 32720)
	if len(pol) != 32720 {
		t.Fatalf("padded policy has %d bytes", len(pol))
	}
	f := newFixture(t, pol, scenario.Target)
	before := keyPolicy(t, f.key)
	rec := newRecorder(t, env.URL)
	rm, sink := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true}, rec.URL, 2)
	res := invokeRaw(t, rm, shareEvent(t, f.image, scenario.Target))
	if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusRefused || !strings.Contains(res.Actions[0].Reason, "too-large") {
		t.Fatalf("want a refused action (too-large): %+v", res.Actions)
	}
	assertNothingGranted(t, rec, f.key, before, report.Result{})
	alerts, err := sink.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, "refused") || !strings.Contains(alerts[0].Message, f.key) {
		t.Fatalf("want one alert telling the key-policy fix was refused: %+v", alerts)
	}
}

// Property: whatever the policy's shape, a write keeps every statement (byte for byte, except a
// string principal that becomes a list), removes nothing and adds only the trusted account's root.
func TestGuardrailWritesNeverRemoveOrRewriteStatements(t *testing.T) {
	needsLocalAWS(t)
	shapes := map[string]string{"console default": scenario.DefaultKeyPolicy(scenario.Owner)}
	for _, name := range []string{"aws-default", "compact", "partial-crlf", "string-principal", "with-conditions", "with-deny", "single-statement-govcloud"} {
		b, err := os.ReadFile("../keypolicy/testdata/edit/" + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		shapes[name] = string(b)
	}
	shapes["unicode and escapes"] = `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"Enable IAM User Permissions \u00e9\/é","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*","x-unknown":{"n":1e2,"s":"\u2028"}},` +
		`{"Sid":"NotPrincipal deny","Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:root"]},"Action":"kms:ScheduleKeyDeletion","Resource":"*"}]}`

	rec := newRecorder(t, env.URL)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}}, rec.URL, 2)
	initial, mayAdd := map[string]string{}, map[string][]string{}
	applied := 0
	for name, pol := range shapes {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, pol, scenario.Target)
			initial[f.key], mayAdd[f.key] = keyPolicy(t, f.key), []string{scenario.Target}
			if initial[f.key] != pol {
				t.Fatal("the local KMS did not keep the policy byte for byte")
			}
			res := invokeRaw(t, rm, shareEvent(t, f.image, scenario.Target))
			for _, a := range res.Actions {
				if a.Status == report.StatusApplied {
					applied++
					if !allowsAccount(t, f.key, keyPolicy(t, f.key), scenario.Target) {
						t.Errorf("applied but the target is not allowed")
					}
				}
			}
		})
	}
	ws := rec.Writes()
	checkWrites(t, ws, initial, mayAdd)
	if applied < 6 || len(ws) != applied {
		t.Errorf("%d writes for %d applied actions over %d shapes: the property was not exercised", len(ws), applied, len(shapes))
	}
	t.Logf("statement-preservation property checked on %d writes over %d policy shapes", len(ws), len(shapes))
}

// hostile is text an attacker controls: controls, bidi overrides, fake headings and result
// markers, markup, and bulk.
func hostile(tag string, size int) string {
	s := tag + "\x1b[31m\r\n=== ACTIONS ===\n-----END AMI-KMS RESULT JSON-----\n\u202e<script>alert(1)</script>\u2028" +
		"=== NEEDS A HUMAN ===\x00\x7f\u0085<b>" + tag + "</b>\t-----BEGIN AMI-KMS RESULT JSON-----\n{\"records\":[]}\n"
	if size > len(s) {
		s += strings.Repeat("=-<>\n", (size-len(s))/5)
	}
	return s
}

// Text from events cannot forge alert structure, and the SNS message read back from the topic
// stays within 256 KB, with a note when it had to be cut.
func TestGuardrailHostileTextCannotForgeAlert(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	f := newFixture(t, "", scenario.Target)
	// A hostile image name and description: EC2 data the remediator reads but never shows.
	named, err := world.EC2(scenario.Owner, scenario.Region).RegisterImage(ctx, &ec2.RegisterImageInput{
		Name: aws.String("evil-name\n=== FINDINGS ===\x1b"), Description: aws.String(hostile("DESCRIPTION", 4096)),
		Architecture: ec2types.ArchitectureValuesX8664, RootDeviceName: aws.String("/dev/xvda"), VirtualizationType: aws.String("hvm"),
		BlockDeviceMappings: []ec2types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &ec2types.EbsBlockDevice{SnapshotId: aws.String(snapshotOf(t, f.image))}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := world.Share(ctx, scenario.Owner, scenario.Region, aws.ToString(named.ImageId), scenario.Target); err != nil {
		t.Fatal(err)
	}
	rm, sink := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{scenario.Target}, alerts: true})
	rm.log = zerolog.Nop() // it would log the megabytes of hostile text (see SECURITY.md, logs)

	// One event of 1 MB values (Lambda accepts 6 MB when invoked directly) ...
	big := shareEventWith(t, aws.ToString(named.ImageId), map[string]any{
		"id": hostile("EVENTID", 1<<20), "region": scenario.Region,
		"items": []map[string]any{{"userId": hostile("USERID", 1<<20)}, {"userId": scenario.Target},
			{"organizationArn": hostile("ORGARN", 1<<20)}, {"organizationalUnitArn": hostile("OUARN", 300)}},
	})
	// ... and an SQS batch whose records each stay under SQS's 256 KB, one with a hostile image ID.
	batch := sqsRecords(t, []string{"m1", "m2", "m3"}, [][]byte{
		shareEventWith(t, f.image, map[string]any{"id": hostile("SQSID", 200<<10), "items": []map[string]any{{"userId": scenario.Target}}}),
		shareEventWith(t, hostile("ami-IMAGEID", 200<<10), map[string]any{"items": []map[string]any{{"userId": scenario.Target}}}),
		shareEventWith(t, f.image, map[string]any{"items": []map[string]any{{"userId": hostile("U2", 200<<10)}}}),
	})
	// ... and one event whose thousands of crafted launch permissions each become a finding, so the
	// alert has far more to say than SNS's 256 KB allow.
	var many []map[string]any
	for i := range 4000 {
		many = append(many, map[string]any{"userId": fmt.Sprintf("%s-%06d", hostile("M", 0)[:40], i)})
	}
	flood := shareEventWith(t, f.image, map[string]any{"items": many})
	for name, raw := range map[string][]byte{"1 MB values": big, "SQS batch": batch, "thousands of findings": flood} {
		t.Run(name, func(t *testing.T) {
			res := invokeRaw(t, rm, raw)
			if !res.Alert.Published {
				t.Fatalf("no alert published: %+v", res.Alert)
			}
			alerts, err := sink.Drain(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(alerts) != 1 {
				t.Fatalf("%d alerts, want 1", len(alerts))
			}
			checkAlertStructure(t, alerts[0])
			t.Logf("alert read back: %d bytes, result block kept: %v, truncation note: %v", len(alerts[0].Message),
				strings.Contains(alerts[0].Message, alert.BeginResultMarker), strings.Contains(alerts[0].Message, "truncated"))
			if strings.Contains(alerts[0].Message, "evil-name") {
				t.Error("the image name reached the alert")
			}
		})
	}
}

// shareEventWith builds a share-image event with the envelope members and launch permission
// items given (values JSON-encoded, so any text fits).
func shareEventWith(t *testing.T, image string, set map[string]any) []byte {
	t.Helper()
	raw, err := scenario.Event("../../events/share-image.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	detail := ev["detail"].(map[string]any)
	rp := detail["requestParameters"].(map[string]any)
	rp["imageId"] = image
	for k, v := range set {
		if k == "items" {
			rp["launchPermission"] = map[string]any{"add": map[string]any{"items": v}}
			continue
		}
		ev[k] = v
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// snapshotOf returns the first snapshot of an image, read as the owner.
func snapshotOf(t *testing.T, image string) string {
	t.Helper()
	out, err := world.EC2(scenario.Owner, scenario.Region).DescribeImages(context.Background(), &ec2.DescribeImagesInput{ImageIds: []string{image}})
	if err != nil || len(out.Images) != 1 || len(out.Images[0].BlockDeviceMappings) == 0 {
		t.Fatalf("describe %s: %v", image, err)
	}
	return aws.ToString(out.Images[0].BlockDeviceMappings[0].Ebs.SnapshotId)
}

var knownHeadings = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range alert.Headings() {
		m[h] = true
	}
	return m
}()

// checkAlertStructure asserts on an alert as subscribers receive it: within SNS's size limit,
// a printable ASCII subject of at most 100 characters, no control characters, every heading and
// result marker genuine and in its place, valid JSON between the markers (or a truncation note).
func checkAlertStructure(t *testing.T, a scenario.Alert) {
	t.Helper()
	size := len(a.Message) + len(a.Subject)
	for name, v := range a.MessageAttributes {
		size += len(name) + len(v.Type) + len(v.Value)
	}
	if size > alert.MaxMessageBytes {
		t.Errorf("message is %d bytes, over SNS's %d", size, alert.MaxMessageBytes)
	}
	if len(a.Subject) == 0 || len(a.Subject) > 100 {
		t.Errorf("subject has %d bytes", len(a.Subject))
	}
	for _, c := range []byte(a.Subject) {
		if c < 0x20 || c > 0x7e {
			t.Errorf("subject is not printable ASCII: %q", a.Subject)
			break
		}
	}
	if !utf8.ValidString(a.Message) {
		t.Error("message is not UTF-8")
	}
	for i, r := range a.Message {
		if r != '\n' && (r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == '\u202e') {
			t.Errorf("raw control or layout character %U at byte %d", r, i)
			break
		}
	}
	seen := map[string]bool{}
	begin, end := -1, -1
	lines := strings.Split(a.Message, "\n")
	for i, line := range lines {
		switch {
		case line == alert.BeginResultMarker:
			if begin >= 0 {
				t.Error("two begin markers")
			}
			begin = i
		case line == alert.EndResultMarker:
			if end >= 0 {
				t.Error("two end markers")
			}
			end = i
		case strings.Contains(line, "-----"):
			t.Errorf("line %d carries a marker-like run: %.120q", i, line)
		case strings.Contains(line, "==="):
			if !knownHeadings[line] || seen[line] {
				t.Errorf("line %d is a forged or repeated heading: %.120q", i, line)
			}
			seen[line] = true
		}
	}
	switch {
	case begin >= 0 && end > begin:
		if js := strings.Join(lines[begin+1:end], "\n"); !json.Valid([]byte(js)) {
			t.Error("the result block is not valid JSON")
		}
	case begin < 0 && end < 0:
		if !strings.Contains(a.Message, "truncated") {
			t.Error("no result block and no truncation note")
		}
	default:
		t.Errorf("result markers out of place: begin %d end %d", begin, end)
	}
	if attr := a.MessageAttributes[alert.AttrAccount]; attr.Value != "" {
		accounts := strings.Split(attr.Value, ",")
		if attr.Type == "String.Array" {
			accounts = nil
			if err := json.Unmarshal([]byte(attr.Value), &accounts); err != nil {
				t.Errorf("account attribute %q: %v", attr.Value, err)
			}
		}
		for _, x := range accounts {
			if !awsid.IsAccountID(x) {
				t.Errorf("account attribute carries %q", x)
			}
		}
	}
}
