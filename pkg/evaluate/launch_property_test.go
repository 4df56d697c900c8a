package evaluate_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// The launch-grant property: whenever keypolicy.EnsureLaunchGrantsForKey returns a changed
// document, each grantee's account may create (itself) the grant AWS's Auto Scaling example
// creates for its service-linked role, and every other request is decided exactly as before:
// EC2's requests of every principal, the other actions, and the grants the statement must never
// allow (to another account's principal, with more operations). The same for
// EnsureServiceLinkedRolesForKey, whose roles must be allowed themselves.

func launchGrantees(part string) []string {
	out := make([]string, len(propAdded))
	for i, a := range propAdded {
		out[i] = "arn:" + part + ":iam::" + a + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	}
	return out
}

func checkLaunchProperty(t *testing.T, src []byte, key keypolicy.Key) bool {
	t.Helper()
	before, err := policy.Parse(src)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	part := partitionOf(before, key)
	grantees := launchGrantees(part)
	slr := "arn:" + part + ":iam::" + propOwner + ":role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
	want := keypolicy.Want{ServiceLinkedRoles: []string{slr}, LaunchGrantees: grantees}
	edit, err := keypolicy.EnsureForKey(src, key, want)
	if err != nil {
		var re *keypolicy.RefusedError
		if !errors.As(err, &re) {
			t.Fatalf("EnsureForKey: %v (%T)", err, err)
		}
		if edit.Changed || !bytes.Equal(edit.Document, src) {
			t.Fatalf("a refused edit returned a changed document")
		}
		switch re.Reason {
		case "ineffective", "too-large", "invalid-characters", "too-broad":
		default:
			t.Fatalf("refused: %v", err)
		}
		return false
	}
	if again, err := keypolicy.EnsureForKey(edit.Document, key, want); err != nil || again.Changed {
		t.Fatalf("second EnsureForKey changed=%v err=%v", again.Changed, err)
	}
	after, err := policy.Parse(edit.Document)
	if err != nil {
		t.Fatalf("edited document does not parse: %v", err)
	}
	root := func(a string) string { return "arn:" + part + ":iam::" + a + ":root" }
	for i, a := range propAdded {
		req := evaluate.GrantRequest(key.ARN, root(a), grantees[i], keypolicy.LaunchGrantOperations, orgOf(key, a))
		if got := evaluate.KeyPolicy(after, req); got.Decision != evaluate.Allow {
			t.Errorf("%s may not create the launch grant: %s %q %q\n%s", a, got.Decision, got.Reasons, got.NotEvaluated, edit.Document)
		}
	}
	for _, a := range ec2Requests {
		got := evaluate.KeyPolicy(after, ec2Request(key, slr, a, evaluate.GrantAction(a)))
		if got.Decision != evaluate.Allow || got.Delegates {
			t.Errorf("%s %s = %s (delegates %v), want its own allow\n%s", slr, a, got.Decision, got.Delegates, edit.Document)
		}
	}
	check := func(what string, req evaluate.Request) {
		b, af := evaluate.KeyPolicy(before, req), evaluate.KeyPolicy(after, req)
		if b.Decision != af.Decision {
			t.Errorf("%s: decision changed %s -> %s\n%s", what, b.Decision, af.Decision, edit.Document)
		}
	}
	// Grants the launch-grant statement must never allow.
	for _, a := range propAdded {
		for _, p := range principalsOf(part, a) {
			other := "arn:" + part + ":iam::777788889999:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
			check(p+" grants to another account", evaluate.GrantRequest(key.ARN, p, other, keypolicy.LaunchGrantOperations, orgOf(key, a)))
			wider := append(append([]string{}, keypolicy.LaunchGrantOperations...), "RetireGrant")
			check(p+" grants more operations", evaluate.GrantRequest(key.ARN, p, grantees[0], wider, orgOf(key, a)))
			for _, act := range otherRequests {
				check(p+" "+act, evaluate.Request{PrincipalARN: p, Action: act, Resource: key.ARN})
				check(p+" "+act+" via EC2", ec2Request(key, p, act, false))
			}
		}
	}
	// EC2's own requests, for the added accounts too, and every request of the principals that
	// are not added, are decided as before.
	for _, acct := range propAdded {
		for _, p := range principalsOf(part, acct) {
			for _, a := range ec2Requests {
				check(p+" "+a, ec2Request(key, p, a, evaluate.GrantAction(a)))
			}
		}
	}
	for _, acct := range []string{propOwner, "777788889999"} {
		for _, p := range principalsOf(part, acct) {
			for _, a := range append(append([]string{}, ec2Requests...), otherRequests...) {
				check(p+" "+a, ec2Request(key, p, a, evaluate.GrantAction(a)))
				check(p+" "+a+" direct", evaluate.Request{PrincipalARN: p, Action: a, Resource: key.ARN})
			}
		}
	}
	return edit.Changed
}

func orgOf(key keypolicy.Key, account string) *evaluate.Org {
	if o, ok := key.Orgs[account]; ok {
		return &o
	}
	return nil
}

// knownKeys are editorKeys with a key ARN: launch grants and roles need one.
func knownKeys() map[string]keypolicy.Key {
	out := map[string]keypolicy.Key{}
	for n, k := range editorKeys() {
		if k.ARN != "" {
			out[n] = k
		}
	}
	return out
}

func TestLaunchProperty(t *testing.T) {
	changed := 0
	for name, src := range editorInputs(t) {
		for kname, key := range knownKeys() {
			t.Run(name+"/"+kname, func(t *testing.T) {
				if checkLaunchProperty(t, src, key) {
					changed++
				}
			})
		}
	}
	if changed < 20 {
		t.Fatalf("only %d edits changed a document: the property is not exercised", changed)
	}
}

func TestLaunchPropertyShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2026))
	keys := knownKeys()
	var names []string
	for n := range keys {
		names = append(names, n)
	}
	slices.Sort(names)
	changed := 0
	for i := range 200 {
		src := shapeDoc(func(n int) int { return rng.IntN(n) })
		key := keys[names[i%len(names)]]
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if checkLaunchProperty(t, src, key) {
				changed++
			}
		})
	}
	if changed < 50 {
		t.Fatalf("only %d of 200 shapes were edited: the property is not exercised", changed)
	}
}
