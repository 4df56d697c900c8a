package benchmark

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// Why each AWS call is needed: the minimum an event needs is the sum of these, per resource.
// A call the remediator makes beyond them is excess (the table says OVER).
var callReasons = map[string]string{
	"STS:AssumeRole":                         "1 per member account and Lambda environment: the member role's credentials (cached for warm invocations; the central account uses the function's own)",
	"EC2:DescribeInstances":                  "1 per terminated instance: its image and state reason (the event carries neither)",
	"CloudTrail:LookupEvents":                "1 per terminated instance: who launched it (its RunInstances record); or, for a failed launch whose principal lacks access, the RunInstances record by its eventID, which confirms the launch before the principal may get a grant",
	"EC2:DescribeImages":                     "1 per image and viewing account: what that account sees (owner, snapshots), so a stale or forged event cannot make the remediator act on an image the account cannot see",
	"EC2:DescribeSnapshots":                  "1 per image, as its owner: DescribeImages does not report the snapshots' KMS keys",
	"EC2:DescribeImageAttribute":             "1 per image whose shares matter (share, AMI available, copy): who may launch it, read from EC2 rather than trusted from the event",
	"EC2:DescribeLaunchTemplateVersions":     "1 per Auto Scaling launch: the image behind the group's launch template",
	"Auto Scaling:DescribeAutoScalingGroups": "1 per Auto Scaling launch failure: the group's launch template",
	"KMS:DescribeKey":                        "1 per key: its ARN, manager (AWS managed keys cannot be edited) and state",
	"KMS:GetKeyPolicy":                       "1 per key, plus 3 per write: the policy as it is just before the write, the read-back that verifies it, and a second read-back a second later that catches a writer in another environment (pkg/remediate/crosswrite.go)",
	"KMS:PutKeyPolicy":                       "1 per key whose policy changes (fix mode), however many records and accounts need it",
	"KMS:ListGrants":                         "1 per key a launching principal or service-linked role lacks access to, in the key's account: a grant may give it what the policies do not; plus 1 per grant created, to verify it",
	"KMS:CreateGrant":                        "1 per grant a launching principal or service-linked role needs (fix mode), created from its own account",
	"KMS:ListResourceTags":                   "1 per key whose policy a plan changes: its opt-in to the write scope and the tags of infrastructure as code (in alert mode too, so the plan says what fix mode would do)",
	"CloudFormation:DescribeStackResources":  "1 per opted-in key whose policy a plan changes and whose tags name no owner: the stack that has it, if any (CloudFormation does not tag every key)",
	"EC2:GetEbsDefaultKmsKeyId":              "1 per launching account and region whose volume is re-encrypted with no key named (a snapshot it does not own): the account's default EBS key is the launch's destination key",
	"IAM:GetRole":                            "1 per role principal: it exists, and its permissions boundary",
	"IAM:ListRolePolicies":                   "1 per role principal: its inline policies",
	"IAM:ListAttachedRolePolicies":           "1 per role principal: its attached managed policies",
	"IAM:GetPolicy":                          "1 per attached managed policy: its default version (and whether an earlier version of the remediator created it)",
	"IAM:GetPolicyVersion":                   "1 per attached managed policy: its document",
	"SNS:Publish":                            "1 per invocation with anything to report, whatever the number of records",
	"STS:GetCallerIdentity":                  "1 per Lambda environment that calls AWS at all: the account the function runs in (the function ARN cannot say: the runtime emulator and sam local invoke give a placeholder account)",
}

// Minimums are the AWS calls each benched event needs at least, by "Service:Operation" (see
// callReasons for why each is needed). The scenarios are those of CallScenarios on the seeded
// local AWS; every sample runs in a fresh Lambda environment. A trigger kind's sample needs what
// its descriptor says (trigger.Descriptor.MinCalls); the rows here are the rest.
var Minimums = minimums()

// SampleRow names the calls row of an events/ sample.
func SampleRow(sample string) string { return sample + " (alert)" }

func minimums() map[string]map[string]int {
	m := map[string]map[string]int{
		SampleRow("events/ignored-dryrun.json"):               {},
		SampleRow("events/ignored-runinstances-success.json"): {},
		SampleRow("events/ignored-unshare.json"):              {},
		// share-image + launch-failed + ignored-unshare about one image and key: the image is seen
		// by two accounts (2 DescribeImages); snapshots, key and shares are read once.
		SampleRow("events/sqs-batch.json"): merge(shareReads(1), iamReads(), launchReads, owned(1), confirmation, map[string]int{"STS:AssumeRole": 1, "EC2:DescribeImages": 1}),
		// launch-failed through a launch template: the template's version too.
		SampleRow("events/launch-template-failed.json"): merge(memberImageReads(), iamReads(), launchReads, owned(1), confirmation, publish,
			map[string]int{"EC2:DescribeLaunchTemplateVersions": 1}),
		// launch-failed naming its volume's key (Ebs.KmsKeyId): that key is the destination, read
		// through the member role (it does not exist in the seeded world), and no default key.
		SampleRow("events/launch-failed-kms-key.json"): merge(memberImageReads(), iamReads(), owned(1), confirmation, publish, map[string]int{"KMS:DescribeKey": 1}),
		"share-fix (fix)":     merge(shareReads(1), owned(1), write),
		"share-alert (alert)": merge(shareReads(1), owned(1)),
		"already-fine (fix)":  merge(shareReads(1), map[string]int{"SNS:Publish": -1}),
		// The grant: created from the launching account, then listed in the key's to verify it.
		"launch-failed + grant (fix)": merge(memberImageReads(), iamReads(), launchReads, owned(1), confirmation, write, publish,
			map[string]int{"KMS:CreateGrant": 1, "KMS:ListGrants": 1}),
		"instance-terminated (fix)": merge(memberImageReads(), launchReads, owned(1), map[string]int{"EC2:DescribeInstances": 1, "CloudTrail:LookupEvents": 1}, write, publish),
		// 100 share records over 10 images/keys and 20 accounts: per image and per key, never per record.
		BatchScenario: merge(shareReads(10), owned(10), map[string]int{"KMS:GetKeyPolicy": 30, "KMS:PutKeyPolicy": 10}),
	}
	for _, d := range trigger.Kinds() {
		if d.Sample != "" {
			m[SampleRow(d.Sample)] = merge(d.MinCalls) // a copy: the descriptor stays as it is
		}
	}
	// Every benched run is a fresh Lambda environment: one that calls AWS at all first learns its
	// own account.
	for _, calls := range m {
		if len(calls) > 0 {
			calls["STS:GetCallerIdentity"] = 1
		}
	}
	return m
}

// BatchScenario names section 3's batch in the calls section.
const BatchScenario = "batch: 100 records, 10 keys, 20 accounts (fix)"

var (
	publish = map[string]int{"SNS:Publish": 1}
	// launchReads: the launching account's default EBS key, the destination of a shared
	// snapshot's volume when the launch names no key.
	launchReads = map[string]int{"EC2:GetEbsDefaultKmsKeyId": 1}
	write       = map[string]int{"KMS:PutKeyPolicy": 1, "KMS:GetKeyPolicy": 3}
	// confirmation: the failed launch's own RunInstances record, looked up by its eventID in the
	// launching account's CloudTrail before its principal may get a grant.
	confirmation = map[string]int{"CloudTrail:LookupEvents": 1}
)

// owned: a key whose policy a plan changes is asked whether the write is the remediator's to make
// (its tags, then its stack).
func owned(keys int) map[string]int {
	return map[string]int{"KMS:ListResourceTags": keys, "CloudFormation:DescribeStackResources": keys}
}

// shareReads: an image seen by its owner, its shares, its key, and one alert.
func shareReads(images int) map[string]int {
	return map[string]int{"EC2:DescribeImages": images, "EC2:DescribeSnapshots": images, "EC2:DescribeImageAttribute": images,
		"KMS:DescribeKey": images, "KMS:GetKeyPolicy": images, "SNS:Publish": 1}
}

// memberImageReads: an image seen from a member account (one AssumeRole), snapshots as the owner,
// its key.
func memberImageReads() map[string]int {
	return map[string]int{"STS:AssumeRole": 1, "EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "KMS:DescribeKey": 1, "KMS:GetKeyPolicy": 1}
}

// iamReads: one role principal with no policies, and the grants on its key (one may name it).
func iamReads() map[string]int {
	return map[string]int{"IAM:GetRole": 1, "IAM:ListRolePolicies": 1, "IAM:ListAttachedRolePolicies": 1, "KMS:ListGrants": 1}
}

func merge(ms ...map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for k, v := range m {
			out[k] += v
			if out[k] == 0 {
				delete(out, k)
			}
		}
	}
	return out
}

// Compare checks counts against a minimum: over lists the operations above it ("IAM:GetRole 2
// (min 1)"), under those below it (the minimum or the scenario is wrong).
func Compare(got, min map[string]int) (over, under []string) {
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range min {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		switch g, m := got[k], min[k]; {
		case g > m:
			over = append(over, fmt.Sprintf("%s %d (min %d)", k, g, m))
		case g < m:
			under = append(under, fmt.Sprintf("%s %d (min %d)", k, g, m))
		}
	}
	return over, under
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// MinimumsText renders callReasons for the README.
func MinimumsText() string {
	keys := make([]string, 0, len(callReasons))
	for k := range callReasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "- `%s`: %s\n", k, callReasons[k])
	}
	return b.String()
}

// CallReasonLines are callReasons as the Markdown list of docs/PERFORMANCE.md, by operation.
func CallReasonLines() []string {
	ops := make([]string, 0, len(callReasons))
	for op := range callReasons {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	out := make([]string, len(ops))
	for i, op := range ops {
		out[i] = "- `" + op + "` — " + callReasons[op] + "."
	}
	return out
}
