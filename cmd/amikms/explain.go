package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

const explainUsage = `usage: amikms explain --key-policy FILE [--identity-policy FILE]... [--boundary FILE]
                      [--identity-known] --principal ARN --action ACTION --resource KEY_ARN
                      [--context KEY=VALUE]... [--via-ec2 REGION]

Explains whether a KMS request is allowed under AWS's key-policy rules and prints the decision as
JSON: {"decision", "key_policy", "identity", "missing", "not_evaluated"}.

A FILE holds a policy document, a GetKeyPolicy response ({"Policy": "..."}), a GetPolicyVersion
response ({"PolicyVersion": {"Document": "<url-encoded>"}}) or a GetRolePolicy/GetUserPolicy
response ({"PolicyDocument": "<url-encoded>"}). Without --identity-policy (or --identity-known) the
principal's identity policies are not evaluated and the answer says so. --context may repeat a
key for multi-valued keys. --via-ec2 adds the context EC2 presents when it uses the key for the
principal in REGION (kms:ViaService, kms:CallerAccount, aws:PrincipalAccount, aws:PrincipalArn,
and kms:GrantIsForAWSResource=true for grant operations); --context values are added to it. The
key's account is the account in KEY_ARN.

flags:
`

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// contextFlag collects repeatable KEY=VALUE pairs; a repeated key gathers several values.
type contextFlag map[string][]string

func (c contextFlag) String() string { return fmt.Sprint(map[string][]string(c)) }

func (c contextFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want KEY=VALUE, got %q", v)
	}
	c[k] = append(c[k], val)
	return nil
}

// runExplain implements `amikms explain`. Exit codes: 0 answered, 2 unusable input.
func runExplain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("amikms explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), explainUsage)
		fs.PrintDefaults()
	}
	var (
		keyPolicy     = fs.String("key-policy", "", "key policy `FILE` (required)")
		boundary      = fs.String("boundary", "", "permissions boundary `FILE` of the principal")
		principal     = fs.String("principal", "", "principal `ARN` making the request (required)")
		action        = fs.String("action", "", "`ACTION`, e.g. kms:Decrypt (required)")
		resource      = fs.String("resource", "", "`KEY_ARN` of the key (required)")
		identityKnown = fs.Bool("identity-known", false, "the given identity policies are all the principal has (none if no --identity-policy)")
		viaEC2        = fs.String("via-ec2", "", "add the context EC2 presents in `REGION`")
		identityFiles stringList
		ctx           = contextFlag{}
	)
	fs.Var(&identityFiles, "identity-policy", "identity policy `FILE` of the principal (repeatable)")
	fs.Var(ctx, "context", "request context `KEY=VALUE` (repeatable; repeat a key for several values)")

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "amikms explain: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	for _, req := range []struct{ name, val string }{
		{"--key-policy", *keyPolicy}, {"--principal", *principal}, {"--action", *action}, {"--resource", *resource},
	} {
		if strings.TrimSpace(req.val) == "" {
			return fail("%s is required (see amikms explain -h)", req.name)
		}
	}
	keyAccount := evaluate.KeyAccount(*resource)
	if keyAccount == "" {
		return fail("--resource %q is not a key ARN with a 12-digit account (arn:aws:kms:REGION:ACCOUNT:key/ID)", *resource)
	}

	if *viaEC2 != "" {
		grant := strings.HasSuffix(strings.ToLower(*action), "grant") || strings.EqualFold(*action, "kms:ListGrants")
		for k, v := range evaluate.EC2Context(*viaEC2, *principal, grant) {
			ctx[k] = append(v, ctx[k]...)
		}
	}

	in := evaluate.KMSInput{
		KeyAccount:    keyAccount,
		IdentityKnown: *identityKnown || len(identityFiles) > 0 || *boundary != "",
		Request:       evaluate.Request{PrincipalARN: *principal, Action: *action, Resource: *resource, Context: ctx},
	}
	var err error
	if in.KeyPolicy, err = loadPolicyFile("key policy", *keyPolicy); err != nil {
		return fail("%v", err)
	}
	for _, f := range identityFiles {
		d, err := loadPolicyFile("identity policy", f)
		if err != nil {
			return fail("%v", err)
		}
		in.IdentityPolicies = append(in.IdentityPolicies, d)
	}
	if *boundary != "" {
		if in.Boundary, err = loadPolicyFile("permissions boundary", *boundary); err != nil {
			return fail("%v", err)
		}
	}

	out, err := json.MarshalIndent(evaluate.KMS(in), "", "  ")
	if err != nil {
		return fail("encode result: %v", err)
	}
	out = append(out, '\n')
	if _, err := stdout.Write(out); err != nil {
		return fail("write result: %v", err)
	}
	return 0
}

// loadPolicyFile reads a policy document from a file holding either the document or one of the
// AWS API responses that carry it.
func loadPolicyFile(what, path string) (*policy.Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	src, err := extractPolicy(b, 0)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	d, err := policy.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return d, nil
}

// extractPolicy finds the policy document in b: the document itself, {"Policy": "..."}
// (GetKeyPolicy), {"PolicyVersion": {"Document": ...}} (GetPolicyVersion),
// {"PolicyDocument": ...} (GetRolePolicy, GetUserPolicy, ...), or a recording wrapping one of
// those in {"data": ...}. Documents given as strings are URL-decoded the way IAM encodes them.
func extractPolicy(b []byte, depth int) ([]byte, error) {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '%' {
		s, err := policy.DecodeIAM(string(t))
		return []byte(s), err
	}
	var m map[string]json.RawMessage
	if depth > 3 || json.Unmarshal(t, &m) != nil {
		return b, nil // not an object we know: let the parser say what is wrong
	}
	if _, ok := m["Statement"]; ok {
		return b, nil
	}
	if raw, ok := m["Policy"]; ok {
		return documentValue(raw, "Policy")
	}
	if raw, ok := m["PolicyDocument"]; ok {
		return documentValue(raw, "PolicyDocument")
	}
	if raw, ok := m["PolicyVersion"]; ok {
		var pv struct{ Document json.RawMessage }
		if err := json.Unmarshal(raw, &pv); err != nil || pv.Document == nil {
			return nil, errors.New("PolicyVersion has no Document")
		}
		return documentValue(pv.Document, "PolicyVersion.Document")
	}
	if raw, ok := m["data"]; ok {
		return extractPolicy(raw, depth+1)
	}
	return b, nil
}

// documentValue takes a document given as a JSON string (possibly URL-encoded) or as an object.
func documentValue(raw json.RawMessage, where string) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%s is neither a string nor an object", where)
	}
	out, err := policy.DecodeIAM(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return []byte(out), nil
}
