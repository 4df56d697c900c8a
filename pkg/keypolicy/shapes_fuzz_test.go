package keypolicy

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// choices turns fuzz bytes into a stream of small decisions.
type choices struct{ b []byte }

func (c *choices) pick(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0]) % n
	c.b = c.b[1:]
	return v
}

var shapeAccounts = []string{"111122223333", "444455556666", "555566667777", "777788889999"}

// shapeDoc builds a valid key policy from fuzz decisions: statement shapes that matter to the
// editor (default Sids, Deny, every principal form, exact and broader actions, EC2-compatible and
// incompatible conditions), written compact or pretty.
func shapeDoc(c *choices) []byte {
	sids := []string{"", UseSid, GrantSid, "Other"}
	principals := []policy.Value{
		policy.String("*"),
		policy.Object(policy.Member{Key: "AWS", Value: policy.String("*")}),
		policy.Object(policy.Member{Key: "AWS", Value: policy.String("444455556666")}),
		policy.Object(policy.Member{Key: "AWS", Value: policy.Strings("arn:aws:iam::555566667777:root", "arn:aws:iam::111122223333:role/R")}),
		policy.Object(policy.Member{Key: "Service", Value: policy.String("ec2.amazonaws.com")}),
		policy.Object(),
		policy.Object(policy.Member{Key: "AWS", Value: policy.String("arn:aws:iam::777788889999:root")}),
	}
	actions := []policy.Value{
		policy.Strings(UseActions...),
		policy.Strings(GrantActions...),
		policy.String("kms:*"),
		policy.Strings("kms:Encrypt"),
		policy.Strings("kms:DescribeKey", "kms:GenerateDataKey*", "KMS:ReEncrypt*", "kms:Decrypt", "kms:Encrypt"),
		policy.Strings("kms:RevokeGrant", "kms:CreateGrant", "kms:ListGrants"),
	}
	resources := []policy.Value{policy.String("*"), policy.Strings("arn:aws:kms:us-east-1:111122223333:key/k"), policy.String("arn:aws:s3:::b")}
	bool1 := func(v policy.Value) policy.Value {
		return policy.Object(policy.Member{Key: "Bool", Value: policy.Object(policy.Member{Key: "kms:GrantIsForAWSResource", Value: v})})
	}
	conditions := []policy.Value{
		{},
		bool1(policy.String("true")),
		bool1(policy.Bool(true)),
		bool1(policy.String("false")),
		policy.Object(policy.Member{Key: "StringEquals", Value: policy.Object(policy.Member{Key: "kms:CallerAccount", Value: policy.String("111122223333")})}),
		policy.Object(policy.Member{Key: "StringEquals", Value: policy.Object(policy.Member{Key: "kms:ViaService", Value: policy.String("ec2.us-east-1.amazonaws.com")})}),
	}
	n := c.pick(6)
	stmts := make([]policy.Value, 0, n)
	for range n {
		var ms []policy.Member
		if sid := sids[c.pick(len(sids))]; sid != "" {
			ms = append(ms, policy.Member{Key: "Sid", Value: policy.String(sid)})
		}
		effect := "Allow"
		if c.pick(4) == 0 {
			effect = "Deny"
		}
		ms = append(ms, policy.Member{Key: "Effect", Value: policy.String(effect)})
		ms = append(ms, policy.Member{Key: "Principal", Value: principals[c.pick(len(principals))]})
		ms = append(ms, policy.Member{Key: "Action", Value: actions[c.pick(len(actions))]})
		ms = append(ms, policy.Member{Key: "Resource", Value: resources[c.pick(len(resources))]})
		if ci := c.pick(len(conditions)); ci > 0 { // 0: no Condition member
			ms = append(ms, policy.Member{Key: "Condition", Value: conditions[ci]})
		}
		stmts = append(stmts, policy.Object(ms...))
	}
	statement := policy.List(stmts...)
	if n == 1 && c.pick(2) == 0 {
		statement = stmts[0]
	}
	doc := policy.Object(policy.Member{Key: "Version", Value: policy.String("2012-10-17")}, policy.Member{Key: "Statement", Value: statement})
	return policy.Encode(doc, []string{"", "  ", "    ", "\t"}[c.pick(4)])
}

func FuzzEnsureAccountsShapes(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{2, 1, 0, 2, 0, 0, 0, 2, 0, 2, 1, 0, 1, 0, 1, 0, 1})
	f.Add([]byte{3, 1, 0, 3, 0, 0, 4, 2, 1, 3, 1, 0, 5, 1, 1, 0, 0, 0, 2, 0, 9})
	f.Add([]byte{1, 1, 1, 2, 0, 0, 0, 1, 3, 7})
	f.Add([]byte{5, 1, 0, 5, 4, 0, 0, 2, 1, 5, 1, 0, 2, 1, 0, 3, 0, 0, 6, 0, 0, 1, 0, 0, 2, 0, 2, 3, 3, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &choices{b: data}
		doc := shapeDoc(c)
		var accounts []string
		for i, a := range shapeAccounts {
			if c.pick(2) == 1 || (i == 1 && len(accounts) == 0) {
				accounts = append(accounts, a)
			}
		}
		before, err := policy.Parse(doc)
		if err != nil {
			t.Fatalf("generated document does not parse: %v\n%s", err, doc)
		}
		edit, err := EnsureAccounts(doc, accounts)
		var re *RefusedError
		if errors.As(err, &re) && re.Reason == "ineffective" {
			// Refused only when even AWS's default statements would leave an account out.
			if edit.Changed || !bytes.Equal(edit.Document, doc) {
				t.Fatal("a refused edit changed the document")
			}
			if !defaultsIneffective(t, doc, accounts) {
				t.Fatalf("refused as ineffective, but the default statements would work: %v\n%s", err, doc)
			}
			return
		}
		if err != nil {
			t.Fatalf("EnsureAccounts: %v\n%s", err, doc)
		}
		after, err := policy.Parse(edit.Document)
		if err != nil {
			t.Fatalf("output does not parse: %v\n%s", err, edit.Document)
		}
		if edit.Changed != (len(edit.Changes) > 0) || edit.Changed == bytes.Equal(doc, edit.Document) {
			t.Fatalf("Changed %v with %d changes", edit.Changed, len(edit.Changes))
		}
		if !isSubsequence(doc, edit.Document) {
			t.Fatalf("bytes removed:\n%s\n%s", doc, edit.Document)
		}
		r := newReader(Key{}, "aws")
		for _, a := range accounts {
			for _, n := range needs {
				if why := r.denied(after, a, n); why != "" {
					t.Fatalf("%s cannot %s: %s\n%s", a, n.what, why, edit.Document)
				}
			}
		}
		// Existing statements are unchanged, except that a statement doing exactly one need may
		// gain root ARNs of the requested accounts in Principal.AWS.
		for i, old := range before.Statements() {
			cur := after.Statements()[i]
			if reflect.DeepEqual(old, cur) {
				continue
			}
			if !candidate(old, needs[0]) && !candidate(old, needs[1]) {
				t.Fatalf("statement %d changed but it may not be extended:\n%s\n%s", i, doc, edit.Document)
			}
			gained := slices.Clone(cur.Principal.By["AWS"])
			for _, v := range old.Principal.By["AWS"] {
				if len(gained) == 0 || gained[0] != v {
					t.Fatalf("statement %d: existing principals changed", i)
				}
				gained = gained[1:]
			}
			for _, g := range gained {
				if !slices.ContainsFunc(accounts, func(a string) bool { return g == RootARN("aws", a) }) {
					t.Fatalf("statement %d gained %q, not a requested root", i, g)
				}
			}
			old.Principal, cur.Principal = nil, nil
			if !reflect.DeepEqual(old, cur) {
				t.Fatalf("statement %d changed beyond its principals", i)
			}
		}
		again, err := EnsureAccounts(edit.Document, accounts)
		if err != nil || again.Changed || !bytes.Equal(again.Document, edit.Document) {
			t.Fatalf("second run: err %v changes %+v\n%s", err, again.Changes, edit.Document)
		}
	})
}

// defaultsIneffective reports whether appending AWS's default statements for the accounts
// would still leave one of them without a need (a Deny, or one that cannot be evaluated).
func defaultsIneffective(t *testing.T, doc []byte, accounts []string) bool {
	t.Helper()
	d, err := policy.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	r := newReader(Key{}, partitionOf(d, ""))
	for _, n := range needs {
		if _, err := r.appendFor(d, n, r.roots(accounts), n.what); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range accounts {
		for _, n := range needs {
			if r.denied(d, a, n) != "" {
				return true
			}
		}
	}
	return false
}
