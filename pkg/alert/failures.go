package alert

import (
	"fmt"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The remedies of the failure codes: a record that ended in an error carries one finding of one
// of them, whose message says what was being checked and the error. Each renders one todo per
// distinct (code, account, image) with what to do; the record's own "could not be processed"
// todo (otherTodos) is then left out.

var (
	assumeRoleRemedy = failureRemedy(func(a *analysis, it item, w, more *todoWriter) (title, why, where string) {
		role := it.f.PrincipalARN
		name := "MEMBER_ROLE_NAME"
		if p, ok := awsid.ParsePrincipal(role); ok && p.Name != "" {
			name = p.Name
		}
		w.say("Check that the role exists and trusts the central stack's RemediatorRoleArn; if it is missing, deploy member-account.yaml here:")
		w.run("aws iam get-role --role-name", shellArg(name), "--query Role.AssumeRolePolicyDocument")
		more.say("STS answers AccessDenied both for a missing role and for a trust policy that does not allow the caller (README: Deploy).")
		more.say("Then check the image again:")
		a.checkAgain(it, more)
		return fmt.Sprintf("The remediator cannot assume %s (assume-role-denied).", orNone(role)),
			"without its member role the remediator can read nothing in the account (images, instances, identity policies)",
			"in account " + orNone(it.f.Account)
	})
	imageNotFoundRemedy = failureRemedy(func(a *analysis, it item, w, more *todoWriter) (title, why, where string) {
		image, region := orPlaceholder(it.rec.ImageID, "IMAGE_ID"), a.regionOf("", it.rec)
		w.say("Check whether it still exists; if it was deregistered, update what still launches it (launch template, Auto Scaling group):")
		w.run("aws ec2 describe-images --image-ids", shellArg(image), "--region", shellArg(region))
		w.say("If it exists, share it with the account (the share event then checks its keys).")
		return fmt.Sprintf("Image %s is gone or not visible to account %s (image-not-found).", orNone(it.rec.ImageID), orNone(it.f.Account)),
			"without the image there is no snapshot, and so no key, to check",
			"in account " + orNone(it.f.Account)
	})
	snapshotRemedy = failureRemedy(func(a *analysis, it item, w, more *todoWriter) (title, why, where string) {
		image, region := orPlaceholder(it.rec.ImageID, "IMAGE_ID"), a.regionOf("", it.rec)
		w.say("As the image's owner, check that its snapshots can be described (the member role needs ec2:DescribeSnapshots):")
		w.run("aws ec2 describe-images --image-ids", shellArg(image), "--region", shellArg(region),
			"--query 'Images[0].BlockDeviceMappings[].Ebs.SnapshotId'")
		w.run("aws ec2 describe-snapshots --region", shellArg(region), "--snapshot-ids SNAPSHOT_ID")
		more.say("Once they can be read, check the image again: amikms check --image IMAGE --region REGION --account ACCOUNT.")
		return fmt.Sprintf("The snapshots of image %s cannot be read (snapshot-unreadable).", orNone(it.rec.ImageID)),
			"only the snapshots say which KMS keys the image needs",
			"in the account that owns image " + orNone(it.rec.ImageID)
	})
	lookupRemedy = failureRemedy(func(a *analysis, it item, w, more *todoWriter) (title, why, where string) {
		principal := orPlaceholder(it.f.PrincipalARN, "PRINCIPAL_ARN")
		w.say("Check the identity policies of whoever launched it (CloudTrail's RunInstances record names them):")
		w.run("amikms check --image", shellArg(orPlaceholder(it.rec.ImageID, "IMAGE_ID")), "--region", shellArg(a.regionOf("", it.rec)),
			"--account", shellArg(orPlaceholder(it.f.Account, "ACCOUNT")), "--principal", shellArg(principal))
		more.say("Who launched it: aws cloudtrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=RunInstances (in that account and Region).")
		return fmt.Sprintf("An optional lookup for account %s did not succeed (lookup-unavailable): identity policies were not checked.", orNone(it.f.Account)),
			"the identity side needs that lookup; the key side was checked (and fixed where it could be) without it",
			""
	})
	accessDeniedRemedy = failureRemedy(func(a *analysis, it item, w, more *todoWriter) (title, why, where string) {
		w.say("Give the role the permission the error names: the central stack's function role (template.yaml), or the member")
		w.say("role (member-account.yaml; README: Member role permissions): update the stacks, then check the image again:")
		a.checkAgain(it, w)
		return fmt.Sprintf("The remediator was denied a read for account %s (access-denied).", orNone(it.f.Account)),
			"the check cannot finish without that permission", ""
	})
	unavailableRemedy = failureRemedy(func(a *analysis, it item, w, more *todoWriter) (title, why, where string) {
		w.say("Once AWS answers again (AWS Health Dashboard, or a throttle that has passed), redrive the event from the")
		w.say("dead-letter queue (README: \"Dead-letter queue redrive\"): it is checked again from what is there then.")
		return fmt.Sprintf("AWS stayed unavailable for event %s (aws-unavailable).", orNone(it.rec.EventID)),
			"every delivery failed transiently (throttling, 5xx), the last one included", ""
	})
	unusableRemedy = failureRemedy(func(a *analysis, it item, w, more *todoWriter) (title, why, where string) {
		w.say("Find the event in the logs for request %s and where it came from: a forwarding rule, or someone", orNone(a.ctx.RequestID))
		w.say("putting events on the bus (the central bus policy admits the watched and trusted accounts).")
		return fmt.Sprintf("Event %s (%s) cannot be used (unusable-input).", orNone(it.rec.EventID), orNone(it.rec.Trigger)),
			"a field fails validation or the event is malformed: nothing was called, and a retry cannot help", ""
	})
	recordFailedRemedy = failureRemedy(func(a *analysis, it item, w, more *todoWriter) (title, why, where string) {
		r := it.rec
		w.say("Find the cause in the function's logs for request %s; once it is fixed, check the image again:", orNone(a.ctx.RequestID))
		a.checkAgain(it, w)
		return fmt.Sprintf("Event %s (%s) could not be processed (record-failed).", orNone(r.EventID), orNone(r.Trigger)),
			"the check did not finish", ""
	})
)

// failureRemedy renders one todo per distinct (code, account, image, event) of its open
// findings: what failed (the finding's message: what was being checked, and the error), then
// the steps say writes; say returns the title, why nothing was fixed, and where to run them.
func failureRemedy(say func(a *analysis, it item, w, more *todoWriter) (title, why, where string)) *remedy {
	return &remedy{render: func(a *analysis, _ detail, open []item) []todo {
		var out []todo
		done := map[string]bool{}
		for _, it := range open {
			k := string(it.f.Code) + " " + it.f.Account + " " + it.rec.ImageID + " " + it.rec.EventID
			if done[k] {
				continue
			}
			done[k] = true
			var w, more todoWriter
			w.say("What failed: %s", orNoneSentence(it.f.Message))
			title, why, where := say(a, it, &w, &more)
			out = append(out, todo{title: title, why: why, where: where, body: w.String(), more: more.String()})
		}
		return out
	}}
}

// HasFailure reports whether the record carries a finding of a failure code (a row with
// Failure), which says what its error means.
func HasFailure(r report.Record) bool {
	for _, f := range r.Findings {
		if m, ok := CodeInfo(f.Code); ok && m.Failure {
			return true
		}
	}
	return false
}

// checkAgain writes the command that checks the record's image again for its account, or says
// that the next event for the image does, when the record does not name them.
func (a *analysis) checkAgain(it item, w *todoWriter) {
	r := it.rec
	if r.ImageID != "" && awsid.IsAccountID(r.Account) && r.Region != "" {
		w.run("amikms check --image", shellArg(r.ImageID), "--region", shellArg(r.Region), "--account", r.Account)
		return
	}
	w.say("the next event for the image checks it again (or redrive it, if it reached the dead-letter queue).")
}

func orPlaceholder(s, placeholder string) string {
	if s == "" {
		return placeholder
	}
	return s
}
