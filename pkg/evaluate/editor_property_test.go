// The editor/evaluator property: whenever keypolicy.EnsureAccountsForKey returns a changed
// document, the evaluator allows each added account's root every request EC2 makes on it, and
// decides every other request exactly as before. Run over real GetKeyPolicy recordings, the
// repository's key-policy fixtures and generated policy shapes, for several keys and
// organizations. External test package: keypolicy imports evaluate.
package evaluate_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

const (
	propOwner  = "111122223333"
	propKey    = "arn:aws:kms:us-east-1:" + propOwner + ":key/1234abcd-12ab-34cd-56ef-1234567890ab"
	propOther  = "arn:aws:kms:us-east-1:" + propOwner + ":key/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
	propOrg    = "o-a1b2c3d4e5"
	propRegion = "us-east-1"
)

var propAdded = []string{"444455556666", "210987654321"}

// editorInputs are the key policies the property runs over: every GetKeyPolicy recording in the
// shared corpus (and the copies in pkg/policy/testdata/corpus) and the key-policy fixtures of
// this package and of pkg/keypolicy.
func editorInputs(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var recordings []string
	for _, g := range []string{"../../../shared/corpus/api/*getkeypolicy*.json", "../policy/testdata/corpus/*.json"} {
		files, err := filepath.Glob(g)
		if err != nil {
			t.Fatal(err)
		}
		recordings = append(recordings, files...)
	}
	if len(recordings) == 0 {
		t.Fatal("no GetKeyPolicy recordings found")
	}
	for _, f := range recordings {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rec struct {
			Data struct{ Policy string } `json:"data"`
		}
		if err := json.Unmarshal(b, &rec); err != nil || rec.Data.Policy == "" {
			t.Fatalf("%s: not a GetKeyPolicy recording", f)
		}
		out["corpus/"+filepath.Base(f)] = []byte(rec.Data.Policy)
	}
	fixtures := []string{"testdata/default-key-policy.json", "testdata/console-key-policy.json", "testdata/aws-ebs-key-policy.json"}
	edits, err := filepath.Glob("../keypolicy/testdata/edit/*.json")
	if err != nil || len(edits) == 0 {
		t.Fatalf("no keypolicy fixtures (%v)", err)
	}
	for _, f := range append(fixtures, edits...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[f] = b
	}
	return out
}

// editorKeys are the keys (and what is known of the added accounts' organizations) each input
// is edited for.
func editorKeys() map[string]keypolicy.Key {
	member := map[string]evaluate.Org{}
	none := map[string]evaluate.Org{}
	for _, a := range propAdded {
		member[a] = evaluate.Org{ID: propOrg, Paths: []string{propOrg + "/r-ab12/ou-ab12-11111111/"}}
		none[a] = evaluate.Org{}
	}
	return map[string]keypolicy.Key{
		"key unknown":            {},
		"key, org unknown":       {ARN: propKey},
		"key, member":            {ARN: propKey, Orgs: member},
		"key, no organization":   {ARN: propKey, Orgs: none},
		"other key, org unknown": {ARN: propOther},
	}
}

// ec2Request is the request the editor reads for key: EC2Request for a known key, the context
// EC2Context gives (kms:ViaService not known) against a resource only "*" covers otherwise.
func ec2Request(key keypolicy.Key, principal, action string, forAWSResource bool) evaluate.Request {
	if key.ARN == "" {
		ctx := evaluate.EC2Context(propRegion, principal, forAWSResource)
		delete(ctx, "kms:ViaService")
		return evaluate.Request{PrincipalARN: principal, Action: action, Context: ctx, Unknown: []string{"kms:ViaService"}}
	}
	var org *evaluate.Org
	if o, ok := key.Orgs[accountOf(principal)]; ok {
		org = &o
	}
	req := evaluate.EC2Request(key.ARN, principal, action, org)
	if !forAWSResource {
		req.Context["kms:GrantIsForAWSResource"] = nil
	}
	return req
}

func accountOf(principal string) string {
	parts := strings.Split(principal, ":")
	if len(parts) >= 5 {
		return parts[4]
	}
	return ""
}

// The requests EC2 makes (what the editor must allow) and others (which must not change).
var (
	ec2Requests   = append(append([]string{}, keypolicy.UseRequests...), keypolicy.GrantRequests...)
	otherRequests = []string{"kms:ScheduleKeyDeletion", "kms:PutKeyPolicy", "kms:DisableKey", "kms:GetKeyPolicy", "kms:RetireGrant",
		"kms:Sign", "kms:Verify", "kms:GetKeyRotationStatus", "kms:TagResource", "kms:GenerateMac"}
)

// TestEditorPropertyClassification: the requests EC2 makes are exactly what the editor's actions
// cover; the others are outside them (so they must never change).
func TestEditorPropertyClassification(t *testing.T) {
	grants := policy.Object(policy.Member{Key: "Statement", Value: policy.List(
		policy.Object(
			policy.Member{Key: "Effect", Value: policy.String("Allow")},
			policy.Member{Key: "Action", Value: policy.Strings(keypolicy.UseActions...)},
			policy.Member{Key: "Resource", Value: policy.String("*")}),
		policy.Object(
			policy.Member{Key: "Effect", Value: policy.String("Allow")},
			policy.Member{Key: "Action", Value: policy.Strings(keypolicy.GrantActions...)},
			policy.Member{Key: "Resource", Value: policy.String("*")}),
	)})
	d, err := policy.Parse(policy.Encode(grants, ""))
	if err != nil {
		t.Fatal(err)
	}
	covered := func(a string) bool {
		return evaluate.Policy(d, evaluate.Request{PrincipalARN: "arn:aws:iam::444455556666:root", Action: a, Resource: propKey}).Decision == evaluate.Allow
	}
	for _, a := range ec2Requests {
		if !covered(a) {
			t.Errorf("%s is not covered by keypolicy.UseActions/GrantActions", a)
		}
	}
	for _, a := range otherRequests {
		if covered(a) {
			t.Errorf("%s is covered by the editor's actions; it cannot be an unchanged request", a)
		}
	}
	for _, a := range keypolicy.GrantRequests {
		if !evaluate.GrantAction(a) {
			t.Errorf("%s is not a grant operation", a)
		}
	}
}

func principalsOf(part, acct string) []string {
	return []string{
		"arn:" + part + ":iam::" + acct + ":root",
		"arn:" + part + ":iam::" + acct + ":user/alice",
		"arn:" + part + ":iam::" + acct + ":role/app",
		"arn:" + part + ":sts::" + acct + ":assumed-role/app/i-0abc",
		"arn:" + part + ":iam::" + acct + ":role/KeyAdmin",
	}
}

// partitionOf is the partition of the principals the editor adds: the key's, else the one
// the policy's own principals use.
func partitionOf(d *policy.Document, key keypolicy.Key) string {
	if key.ARN != "" {
		return strings.Split(key.ARN, ":")[1]
	}
	for _, s := range d.Statements() {
		for _, p := range []*policy.Principal{s.Principal, s.NotPrincipal} {
			if p == nil {
				continue
			}
			for _, v := range p.By["AWS"] {
				if parts := strings.Split(v, ":"); len(parts) > 1 && parts[0] == "arn" && strings.HasPrefix(parts[1], "aws") {
					return parts[1]
				}
			}
		}
	}
	return "aws"
}

// checkEditorProperty edits src for key and checks the property; it reports whether the editor
// changed the document.
func checkEditorProperty(t *testing.T, src []byte, key keypolicy.Key) bool {
	t.Helper()
	before, err := policy.Parse(src)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	edit, err := keypolicy.EnsureAccountsForKey(src, key, propAdded)
	if err != nil {
		var re *keypolicy.RefusedError
		if !errors.As(err, &re) {
			t.Fatalf("EnsureAccountsForKey: %v (%T)", err, err)
		}
		if edit.Changed || !bytes.Equal(edit.Document, src) {
			t.Fatalf("a refused edit returned a changed document")
		}
		if re.Reason != "ineffective" && re.Reason != "too-large" && re.Reason != "invalid-characters" {
			t.Fatalf("refused: %v", err)
		}
		return false
	}
	after, err := policy.Parse(edit.Document)
	if err != nil {
		t.Fatalf("edited document does not parse: %v\n%s", err, edit.Document)
	}
	if again, err := keypolicy.EnsureAccountsForKey(edit.Document, key, propAdded); err != nil || again.Changed {
		t.Fatalf("second EnsureAccountsForKey changed=%v err=%v", again.Changed, err)
	}
	resource := func(req evaluate.Request) evaluate.Request {
		if req.Resource == "" && key.ARN != "" {
			req.Resource = key.ARN
		}
		return req
	}
	keyPolicy := func(d *policy.Document, req evaluate.Request) evaluate.Result {
		return evaluate.KeyPolicy(d, resource(req))
	}

	part := partitionOf(before, key)
	if !edit.Changed {
		// Nothing changed: the accounts were already allowed.
		for _, acct := range propAdded {
			root := "arn:" + part + ":iam::" + acct + ":root"
			for _, a := range ec2Requests {
				if got := keyPolicy(before, ec2Request(key, root, a, evaluate.GrantAction(a))); got.Decision != evaluate.Allow {
					t.Fatalf("EnsureAccountsForKey changed nothing although %s %s = %s: %q", root, a, got.Decision, got.Reasons)
				}
			}
		}
		return false
	}

	// Each added account (its root: the grant is to the account) may now use the key from EC2
	// (key-policy side). Its other principals may still be denied by statements naming them.
	for _, acct := range propAdded {
		root := "arn:" + part + ":iam::" + acct + ":root"
		for _, a := range ec2Requests {
			got := keyPolicy(after, ec2Request(key, root, a, evaluate.GrantAction(a)))
			if got.Decision != evaluate.Allow {
				t.Errorf("after edit, %s %s via EC2 = %s, want allow\nreasons: %q %q\n%s", root, a, got.Decision, got.Reasons, got.NotEvaluated, edit.Document)
			}
		}
	}

	check := func(p, a, cname string, req evaluate.Request) {
		b, af := keyPolicy(before, req), keyPolicy(after, req)
		if b.Decision != af.Decision {
			t.Errorf("%s %s (context %s): decision changed %s -> %s\nafter: %q\n%s", p, a, cname, b.Decision, af.Decision, af.Reasons, edit.Document)
		}
	}
	contexts := func(p, a string) map[string]evaluate.Request {
		return map[string]evaluate.Request{
			"none":      {PrincipalARN: p, Action: a, Resource: propKey},
			"ec2":       ec2Request(key, p, a, false),
			"ec2-grant": ec2Request(key, p, a, true),
		}
	}
	// Every other principal's requests are decided as before.
	var principals []string
	for _, acct := range []string{propOwner, "777788889999", "555566667777"} {
		principals = append(principals, principalsOf(part, acct)...)
	}
	principals = append(principals, "ec2.amazonaws.com", "")
	for _, p := range principals {
		for _, a := range append(append([]string{}, ec2Requests...), otherRequests...) {
			for cname, req := range contexts(p, a) {
				check(p, a, cname, req)
			}
		}
	}
	// Added accounts: the actions the editor does not add are unchanged, and the grant
	// operations not made for an AWS resource stay as they were.
	for _, acct := range propAdded {
		for _, p := range principalsOf(part, acct) {
			for _, a := range otherRequests {
				for cname, req := range contexts(p, a) {
					check(p, a, cname, req)
				}
			}
			for _, a := range keypolicy.GrantRequests {
				check(p, a, "ec2", ec2Request(key, p, a, false))
				check(p, a, "none", evaluate.Request{PrincipalARN: p, Action: a, Resource: propKey})
			}
		}
	}
	return true
}

func TestEditorProperty(t *testing.T) {
	changed := 0
	for name, src := range editorInputs(t) {
		for kname, key := range editorKeys() {
			t.Run(name+"/"+kname, func(t *testing.T) {
				if checkEditorProperty(t, src, key) {
					changed++
				}
			})
		}
	}
	if changed < 20 {
		t.Fatalf("only %d edits changed a document: the property is not exercised", changed)
	}
}

func TestEditorPropertyInputsParse(t *testing.T) {
	for name, src := range editorInputs(t) {
		if _, err := policy.Parse(src); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// shapeDoc builds a key policy from decisions: the statement shapes that matter to the editor
// and the evaluator (default Sids, Deny, every principal form, exact and broader actions,
// this key's and another key's ARN, conditions EC2 meets or does not, organization guards,
// NotPrincipal, statements missing an element).
func shapeDoc(pick func(n int) int) []byte {
	sids := []string{"", keypolicy.UseSid, keypolicy.GrantSid, "Other"}
	principals := []policy.Value{
		policy.String("*"),
		policy.Object(policy.Member{Key: "AWS", Value: policy.String("*")}),
		policy.Object(policy.Member{Key: "AWS", Value: policy.String("444455556666")}),
		policy.Object(policy.Member{Key: "AWS", Value: policy.Strings("arn:aws:iam::555566667777:root", "arn:aws:iam::111122223333:role/R")}),
		policy.Object(policy.Member{Key: "Service", Value: policy.String("ec2.amazonaws.com")}),
		policy.Object(),
		policy.Object(policy.Member{Key: "AWS", Value: policy.String("arn:aws:iam::777788889999:root")}),
		policy.Object(policy.Member{Key: "AWS", Value: policy.Strings("arn:aws:iam::777788889999:root", "arn:aws:sts::210987654321:assumed-role/app/s")}),
	}
	actions := []policy.Value{
		policy.Strings(keypolicy.UseActions...),
		policy.Strings(keypolicy.GrantActions...),
		policy.String("kms:*"),
		policy.Strings("kms:Encrypt"),
		policy.Strings("kms:DescribeKey", "kms:GenerateDataKey*", "KMS:ReEncrypt*", "kms:Decrypt", "kms:Encrypt"),
		policy.Strings("kms:RevokeGrant", "kms:CreateGrant", "kms:ListGrants"),
		policy.Strings("kms:CreateGrant"),
	}
	resources := []policy.Value{policy.String("*"), policy.Strings(propKey), policy.String(propOther), policy.String("arn:aws:kms:*:111122223333:key/*"),
		policy.String("arn:aws:s3:::b")}
	cond := func(op, key string, v policy.Value) policy.Value {
		return policy.Object(policy.Member{Key: op, Value: policy.Object(policy.Member{Key: key, Value: v})})
	}
	conditions := []policy.Value{
		{},
		cond("Bool", "kms:GrantIsForAWSResource", policy.String("true")),
		cond("Bool", "kms:GrantIsForAWSResource", policy.Bool(true)),
		cond("Bool", "kms:GrantIsForAWSResource", policy.String("false")),
		cond("StringEquals", "kms:CallerAccount", policy.String("111122223333")),
		cond("StringEquals", "kms:CallerAccount", policy.Strings("777788889999", "444455556666")),
		cond("StringEquals", "kms:ViaService", policy.String("ec2.us-east-1.amazonaws.com")),
		cond("StringLike", "kms:ViaService", policy.String("ec2.*.amazonaws.com")),
		cond("StringEquals", "kms:ViaService", policy.String("ec2.eu-west-1.amazonaws.com")),
		cond("StringEquals", "aws:PrincipalOrgID", policy.String(propOrg)),
		cond("StringNotEquals", "aws:PrincipalOrgID", policy.String(propOrg)),
		cond("StringNotEquals", "aws:SourceVpce", policy.String("vpce-1a2b3c4d")),
		cond("ArnLike", "aws:PrincipalArn", policy.String("arn:aws:iam::*:role/app")),
		cond("StringEquals", "aws:username", policy.String("${aws:username}")),
	}
	n := pick(7)
	stmts := make([]policy.Value, 0, n)
	for range n {
		var ms []policy.Member
		if sid := sids[pick(len(sids))]; sid != "" {
			ms = append(ms, policy.Member{Key: "Sid", Value: policy.String(sid)})
		}
		effect := "Allow"
		if pick(4) == 0 {
			effect = "Deny"
		}
		ms = append(ms, policy.Member{Key: "Effect", Value: policy.String(effect)})
		switch pick(12) {
		case 0:
			ms = append(ms, policy.Member{Key: "NotPrincipal", Value: principals[2+pick(len(principals)-2)]})
		case 1: // no principal: invalid in a key policy
		default:
			ms = append(ms, policy.Member{Key: "Principal", Value: principals[pick(len(principals))]})
		}
		if pick(15) != 0 {
			ms = append(ms, policy.Member{Key: "Action", Value: actions[pick(len(actions))]})
		}
		if pick(15) != 0 {
			ms = append(ms, policy.Member{Key: "Resource", Value: resources[pick(len(resources))]})
		}
		if ci := pick(len(conditions)); ci > 0 {
			ms = append(ms, policy.Member{Key: "Condition", Value: conditions[ci]})
		}
		stmts = append(stmts, policy.Object(ms...))
	}
	statement := policy.List(stmts...)
	if n == 1 && pick(2) == 0 {
		statement = stmts[0]
	}
	doc := policy.Object(policy.Member{Key: "Version", Value: policy.String("2012-10-17")}, policy.Member{Key: "Statement", Value: statement})
	return policy.Encode(doc, []string{"", "  ", "\t"}[pick(3)])
}

func keyOf(i int) keypolicy.Key {
	keys := editorKeys()
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	slices.Sort(names)
	return keys[names[i%len(names)]]
}

// TestEditorPropertyShapes runs the property over generated shapes (a fixed seed: the same
// shapes every run). FuzzEditorProperty explores further.
func TestEditorPropertyShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 2026))
	changed := 0
	for i := range 400 {
		src := shapeDoc(func(n int) int { return rng.IntN(n) })
		key := keyOf(i)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if checkEditorProperty(t, src, key) {
				changed++
			}
		})
	}
	if changed < 100 {
		t.Fatalf("only %d of 400 shapes were edited: the property is not exercised", changed)
	}
}

func FuzzEditorProperty(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{3, 1, 0, 3, 0, 0, 4, 2, 1, 3, 1, 0, 5, 1, 1, 0, 0, 0, 2, 0, 9}, uint8(1))
	f.Add([]byte{5, 2, 0, 4, 0, 0, 6, 1, 2, 2, 0, 5, 9, 1, 1, 0, 6, 3, 3, 7, 0, 1}, uint8(2))
	f.Add([]byte{2, 1, 1, 7, 1, 0, 10, 0, 1, 2, 0, 1, 8, 0, 0, 9}, uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, k uint8) {
		pick := func(n int) int {
			if len(data) == 0 {
				return 0
			}
			v := int(data[0]) % n
			data = data[1:]
			return v
		}
		checkEditorProperty(t, shapeDoc(pick), keyOf(int(k)))
	})
}
