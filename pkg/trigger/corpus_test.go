package trigger

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// want is the expected classification of one record. For ignored records only the reason
// (substring), account and region are checked; for triggers every key field is.
type want struct {
	kind      Kind
	reason    string
	account   string
	region    string
	image     string
	instance  string
	principal string
	share     []string
	public    bool
}

func ig(reason, account, region string) want {
	return want{kind: Ignored, reason: reason, account: account, region: region}
}

const notTrigger = "is not a trigger"
const selfMade = "a call the remediator itself makes"
const runOK = "RunInstances succeeded"

// corpusWant names, for every file in the shared corpus (cloudtrail/ and eventbridge/), what
// each record must decode to. A corpus file missing here fails the test.
var corpusWant = map[string][]want{
	"cloudtrail/awsdocs-kms-creategrant.json":                                 ig(selfMade, "111122223333", "us-east-1").list(),
	"cloudtrail/awsdocs-kms-decrypt-symmetric.json":                           ig("kms.amazonaws.com/Decrypt "+notTrigger, "111122223333", "us-west-2").list(),
	"cloudtrail/awsdocs-kms-decrypt-xks-kmsinvalidstate-error.json":           ig(notTrigger, "111122223333", "us-west-2").list(),
	"cloudtrail/awsdocs-kms-disablekey.json":                                  ig(notTrigger, "111122223333", "us-east-1").list(),
	"cloudtrail/awsdocs-kms-ec2one-createvolume-generatedatakey-records.json": {ig("CreateVolume "+notTrigger, "123456789012", "us-east-1"), ig("GenerateDataKeyWithoutPlaintext "+notTrigger, "111122223333", "us-east-1")},
	"cloudtrail/awsdocs-kms-ec2two-runinstances-creategrant-decrypt-records.json": {
		ig(runOK, "111122223333", "us-west-2"), ig(selfMade, "111122223333", "us-east-1"),
		ig(notTrigger, "111122223333", "us-east-1"), ig(notTrigger, "111122223333", "us-east-1"),
	},
	"cloudtrail/awsdocs-kms-putkeypolicy.json": {{kind: KeyPolicyChanged, account: "111122223333", region: "us-west-2",
		principal: "arn:aws:iam::111122223333:user/Alice"}},
	"cloudtrail/awsdocs-kms-retiregrant.json":                                                        ig(notTrigger, "111122223333", "us-west-2").list(),
	"cloudtrail/awsdocs-kms-revokegrant.json":                                                        ig(notTrigger, "111122223333", "us-west-2").list(),
	"cloudtrail/awsdocs-kms-schedulekeydeletion.json":                                                ig(notTrigger, "111122223333", "us-east-1").list(),
	"cloudtrail/custodian-createvolume-encrypted-from-snapshot.json":                                 ig("CreateVolume "+notTrigger, "101010101111", "us-east-1").list(),
	"cloudtrail/custodian-eb-envelope-deletetransitgatewayvpcattachment.json":                        ig("DeleteTransitGatewayVpcAttachment "+notTrigger, "012345678912", "us-west-2").list(),
	"cloudtrail/custodian-runinstances-assumedrole-success.json":                                     ig(runOK, "644160558196", "us-east-1").list(),
	"cloudtrail/custodian-runinstances-autoscaling-success.json":                                     ig(runOK, "619193117841", "us-west-1").list(),
	"cloudtrail/custodian-runinstances-iamuser-success.json":                                         ig(runOK, "644160558196", "us-east-1").list(),
	"cloudtrail/elastic-modifyimageattribute-remove-public.json":                                     ig("launchPermission.remove", "000000000", "us-east-1").list(),
	"cloudtrail/elastic-modifysnapshotattribute-remove-public.json":                                  ig("ModifySnapshotAttribute "+notTrigger, "000000000", "us-east-1").list(),
	"cloudtrail/elastic-runinstances-cli-success.json":                                               ig(runOK, "1010101010101", "us-east-1").list(),
	"cloudtrail/elastic-terminateinstances-terraform.json":                                           ig("TerminateInstances "+notTrigger, "111111111111", "us-east-2").list(),
	"cloudtrail/panther-createimage-ec2-monitoring-copyimage-useridentity-null.json":                 ig("CreateImage "+notTrigger, "123456789101", "us-east-1").list(),
	"cloudtrail/panther-createimage-ec2-monitoring-copyimage.json":                                   ig("CreateImage "+notTrigger, "123456789101", "us-east-1").list(),
	"cloudtrail/panther-decrypt-cloudtrail-created-kms-decrypt-event.json":                           ig(notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-decrypt-imds-credential-exfiltration-aws-service-hostname-as-source-ip.json": ig(notTrigger, "123456789012", "us-east-1").list(),
	"cloudtrail/panther-decrypt-kms-cmk-loss-kms-key-non-deletion-event.json":                        ig(notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-decrypt-unused-region-unauthorized-region-read-only.json":                    ig(notTrigger, "123456789012", "ap-east-1").list(),
	"cloudtrail/panther-disablekey-kms-cmk-loss-kms-disable-key-error.json":                          ig(notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-disablekey-kms-cmk-loss-kms-key-disabled.json":                               ig(notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-modifyimageattribute-ami-modified-for-public-access-access-granted-to-unknown-user.json": {{
		kind: ShareImage, account: "123456789012", region: "us-west-2", image: "ami-1111", share: []string{"012345678901"},
	}},
	// userId "bob" is kept raw: rejecting it is the remediator's job (it is not 12 digits).
	"cloudtrail/panther-modifyimageattribute-ami-modified-for-public-access-ami-added-to-user.json": {{
		kind: ShareImage, account: "123456789012", region: "us-west-2", image: "ami-1111", share: []string{"bob"},
	}},
	"cloudtrail/panther-modifyimageattribute-ami-modified-for-public-access-ami-launch-permissions-not-modified.json": ig("not launchPermission", "123456789012", "us-west-2").list(),
	"cloudtrail/panther-modifyimageattribute-ami-modified-for-public-access-ami-made-public.json": {{
		kind: ShareImage, account: "123456789012", region: "us-west-2", image: "ami-1111", public: true,
	}},
	"cloudtrail/panther-modifyimageattribute-ami-modified-for-public-access-ami-not-made-public.json":                ig("names no account", "123456789012", "us-west-2").list(),
	"cloudtrail/panther-modifyimageattribute-ami-modified-for-public-access-error-making-ami-public.json":            ig("failed (UnauthorizedOperation)", "123456789012", "us-west-2").list(),
	"cloudtrail/panther-modifysnapshotattribute-snapshot-made-public-error-making-snapshot-publicly-accessible.json": ig("ModifySnapshotAttribute "+notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-modifysnapshotattribute-snapshot-made-public-snapshot-made-publicly-accessible.json":         ig("ModifySnapshotAttribute "+notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-modifysnapshotattribute-snapshot-made-public-snapshot-mader-available-to-single-person.json": ig("ModifySnapshotAttribute "+notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-modifysnapshotattribute-snapshot-made-public-snapshot-not-made-publicly-accessible.json":     ig("ModifySnapshotAttribute "+notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-putkeypolicy-resource-made-public-kms-key-restricted-access-should-not-alert.json": {{kind: KeyPolicyChanged,
		account: "123456789012", region: "us-west-2", principal: "arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/AWSReservedSSO_ExampleRole_xxxxxxxxxxxxxxxx"}},
	// Minimal record: no recipientAccountId and no accountId anywhere.
	"cloudtrail/panther-putkeypolicy-resource-made-public-wildcard-principal-no-conditions-should-alert.json": ig("PutKeyPolicy names no key", "", "us-west-2").list(),
	"cloudtrail/panther-runinstances-attacker-cloudtrail-log11.json":                                          ig(runOK, "493859302102", "us-east-1").list(),
	"cloudtrail/panther-runinstances-ec2-launch-unusual-ec2-instances-failed-unusual-ec2.json": {{
		kind: LaunchFailed, account: "900138736586", region: "ca-south-3r", image: "ami-aCBbfd13bdb1d1E4b",
		principal: "arn:aws:iam::900138736586:role/stratus-red-team-ec2lui-role-idtzskbvtd",
	}},
	"cloudtrail/panther-runinstances-ec2-launch-unusual-ec2-instances-successful-unusual-ec2-dictionary.json":                 ig(runOK, "111122223333", "us-west-2").list(),
	"cloudtrail/panther-runinstances-ec2-launch-unusual-ec2-instances-successful-unusual-ec2.json":                            ig(runOK, "111122223333", "us-west-2").list(),
	"cloudtrail/panther-runinstances-ec2-monitoring-runinstance-dry-run.json":                                                 ig("dry run", "123123123123", "us-west-2").list(),
	"cloudtrail/panther-runinstances-ec2-monitoring-runinstance.json":                                                         ig(runOK, "123123123123", "us-east-1").list(),
	"cloudtrail/panther-runinstances-ec2-vulnerable-xz-image-launched-multiple-vulnerable-amis-launched.json":                 ig(runOK, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-runinstances-ec2-vulnerable-xz-image-launched-non-vulnerable-ami-launched.json":                       ig(runOK, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-runinstances-ec2-vulnerable-xz-image-launched-single-vulnerable-ami-launched.json":                    ig(runOK, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-runinstances-modify-cloud-compute-infrastructure-terminate-instance-from-webui-with-assumedrole.json": ig(runOK, "123412341234", "us-west-2").list(),
	"cloudtrail/panther-runinstances-modify-cloud-compute-infrastructure-weird-aws-internal-message.json":                     ig("dry run", "123412341234", "us-west-2").list(),
	"cloudtrail/panther-schedulekeydeletion-kms-cmk-loss-kms-key-scheduled-for-deletion-missing-resources.json":               ig(notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/panther-schedulekeydeletion-kms-cmk-loss-kms-key-scheduled-for-deletion.json":                                 ig(notTrigger, "123456789012", "us-west-2").list(),
	"cloudtrail/stratus-modifyimageattribute-share-ami.json": {{
		kind: ShareImage, account: "118238665043", region: "me-south-1r", image: "ami-de1fbCab6ccB03e6D", share: []string{"846424999548"},
	}},
	"cloudtrail/stratus-modifysnapshotattribute-share-snapshot.json": ig("ModifySnapshotAttribute "+notTrigger, "756680937392", "me-central-3r").list(),
	"cloudtrail/stratus-runinstances-unauthorized-with-assumerole.json": {
		{
			kind: LaunchFailed, account: "900138736586", region: "ca-south-3r", image: "ami-aCBbfd13bdb1d1E4b",
			principal: "arn:aws:iam::900138736586:role/stratus-red-team-ec2lui-role-idtzskbvtd",
		},
		ig("AssumeRole: "+selfMade, "900138736586", "ca-south-3r"),
		ig("AssumeRole: "+selfMade, "900138736586", "ca-south-3r"),
	},
	"cloudtrail/stratus-sharedsnapshotcopyinitiated-docs-example.json": ig("SharedSnapshotCopyInitiated "+notTrigger, "111111111111", "us-east-1").list(),

	"eventbridge/awsdocs-eb-asg-instance-launch-successful.json": ig(`detail-type "EC2 Instance Launch Successful"`, "123456789012", "us-east-1").list(),
	// The documentation typo " i-1234567890abcdef0" is trimmed.
	"eventbridge/awsdocs-eb-instance-state-change-terminated-2.json": {{
		kind: InstanceTerminated, account: "111122223333", region: "us-west-1", instance: "i-1234567890abcdef0",
	}},
	"eventbridge/awsdocs-eb-instance-state-change-terminated.json": {{
		kind: InstanceTerminated, account: "111122223333", region: "us-west-1", instance: "i-1234567890abcdef0",
	}},
	"eventbridge/awsdocs-ebs-attachvolume-failed-kms-pending-deletion.json": ig(`"EBS Volume Notification"`, "012345678901", "us-east-1").list(),
	"eventbridge/awsdocs-ebs-copysnapshot-failed.json":                      ig(`"EBS Snapshot Notification"`, "123456789012", "us-east-1").list(),
	"eventbridge/awsdocs-ebs-copysnapshot-succeeded.json":                   ig(`"EBS Snapshot Notification"`, "123456789012", "us-east-1").list(),
	"eventbridge/awsdocs-ec2-ami-state-change-available.json": {{
		kind: AMIAvailable, account: "012345678901", region: "us-east-1", image: "ami-0123456789example",
	}},
	"eventbridge/awsdocs-ec2-ami-state-change-deregistered.json": ig(`State Change" with State "deregistered"`, "012345678901", "us-east-1").list(),
	"eventbridge/awsdocs-ec2-ami-state-change-failed.json": {{
		kind: AMIFailed, account: "012345678901", region: "us-east-1", image: "ami-0123456789example",
	}},
	"eventbridge/awsdocs-ec2-instance-state-change-pending.json": ig(`State-change Notification" with state "pending"`, "123456789012", "us-east-1").list(),
	"eventbridge/awslambdago-asg-launch-successful.json":         ig(`"EC2 Instance Launch Successful"`, "123456789012", "us-west-2").list(),
	"eventbridge/awslambdago-asg-launch-unsuccessful.json":       ig("does not point at KMS", "123456789012", "us-west-2").list(),
	"eventbridge/custodian-asg-launch-unsuccessful.json":         ig("does not point at KMS", "619193117841", "us-west-2").list(),
	"eventbridge/custodian-guardduty-finding-ec2.json":           ig(`"GuardDuty Finding"`, "101010101111", "us-east-1").list(),
	"eventbridge/custodian-health-ec2-retirement.json":           ig(`"AWS Health Event"`, "011122335622", "us-east-1").list(),
	"eventbridge/custodian-instance-state-pending.json":          ig(`State-change Notification" with state "pending"`, "101010101111", "us-east-1").list(),
	// The documentation's placeholder StatusMessage says nothing of KMS.
	"eventbridge/awsdocs-asg-instance-launch-unsuccessful.json": ig("does not point at KMS", "123456789012", "us-west-2").list(),
	"cloudtrail/awsdocs-asg-createlaunchconfiguration.json":     ig("autoscaling.amazonaws.com/CreateLaunchConfiguration "+notTrigger, "123456789012", "us-west-2").list(),
	// Schedules are not events about images: ignored whatever their detail (Scheduler sends the
	// string "{}"), never unusable input.
	"eventbridge/awsdocs-eb-scheduled-event.json":           ig(`"Scheduled Event"`, "123456789012", "us-east-1").list(),
	"eventbridge/custodian-scheduled-event.json":            ig(`"Scheduled Event"`, "101010101111", "us-east-1").list(),
	"eventbridge/powertools-scheduler-scheduled-event.json": ig(`source "aws.scheduler", detail-type "Scheduled Event"`, "533568316194", "us-east-1").list(),
	"eventbridge/samcli-scheduled-event-template.json":      ig(`"Scheduled Event"`, "{{{account_id}}}", "{{{region}}}").list(),
}

func (w want) list() []want { return []want{w} }

func TestCorpusClassification(t *testing.T) {
	dir := corpusDir(t)
	seen := map[string]bool{}
	for _, sub := range []string{"cloudtrail", "eventbridge"} {
		for _, f := range jsonFiles(t, filepath.Join(dir, sub)) {
			name := sub + "/" + filepath.Base(f)
			seen[name] = true
			t.Run(name, func(t *testing.T) {
				wants, ok := corpusWant[name]
				if !ok {
					t.Fatalf("corpus file %s has no expectation in corpusWant", name)
				}
				inv, err := Decode(readFile(t, f))
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if inv.FromSQS {
					t.Errorf("FromSQS = true for a non-SQS input")
				}
				if len(inv.Records) != len(wants) {
					t.Fatalf("got %d records, want %d", len(inv.Records), len(wants))
				}
				for i, w := range wants {
					rec := inv.Records[i]
					if rec.Err != nil {
						t.Fatalf("record %d: %v", i, rec.Err)
					}
					checkWant(t, i, rec.Trigger, w)
				}
			})
		}
	}
	for name := range corpusWant {
		if !seen[name] {
			t.Errorf("corpusWant names %s, which is not in the corpus", name)
		}
	}
}

func checkWant(t *testing.T, i int, tr Trigger, w want) {
	t.Helper()
	if tr.Kind != w.kind {
		t.Errorf("record %d: Kind = %q (%s), want %q", i, tr.Kind, tr.IgnoredReason, w.kind)
	}
	if (tr.Kind == Ignored) != (tr.IgnoredReason != "") {
		t.Errorf("record %d: Kind %q with IgnoredReason %q", i, tr.Kind, tr.IgnoredReason)
	}
	if !strings.Contains(tr.IgnoredReason, w.reason) {
		t.Errorf("record %d: IgnoredReason = %q, want it to contain %q", i, tr.IgnoredReason, w.reason)
	}
	if tr.Account != w.account || tr.Region != w.region {
		t.Errorf("record %d: account/region = %q/%q, want %q/%q", i, tr.Account, tr.Region, w.account, w.region)
	}
	if w.kind == Ignored {
		return
	}
	if tr.ImageID != w.image {
		t.Errorf("record %d: ImageID = %q, want %q", i, tr.ImageID, w.image)
	}
	if tr.InstanceID != w.instance {
		t.Errorf("record %d: InstanceID = %q, want %q", i, tr.InstanceID, w.instance)
	}
	if got := principalARN(tr); got != w.principal {
		t.Errorf("record %d: principal = %q, want %q", i, got, w.principal)
	}
	if !reflect.DeepEqual(tr.ShareUserIDs, w.share) || tr.SharePublic != w.public {
		t.Errorf("record %d: share = %q public=%v, want %q public=%v", i, tr.ShareUserIDs, tr.SharePublic, w.share, w.public)
	}
	if tr.EventID == "" {
		t.Errorf("record %d: no EventID", i)
	}
}
