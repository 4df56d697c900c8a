package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/evaluate"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

const explainUsage = `usage: amikms explain --key-policy FILE [--identity-policy FILE]... [--boundary FILE]
                      [--identity-unknown] --principal ARN --action kms:ACTION --resource KEY_ARN
                      [--context KEY=VALUE]... [--via-ec2 REGION [--org ID|none] [--org-path PATH]...]

Explains whether a KMS request is allowed under AWS's key-policy rules and prints the decision as
JSON: {"decision", "key_policy", "identity", "missing", "not_evaluated"}.

A FILE (at most 1 MiB) holds a policy document, a GetKeyPolicy response ({"Policy": "..."}), a
GetPolicyVersion response ({"PolicyVersion": {"Document": "<url-encoded>"}}) or a
GetRolePolicy/GetUserPolicy response ({"PolicyDocument": "<url-encoded>"}).

The --identity-policy files are all the identity policies the principal has: without any, it has
none, as AWS would evaluate it. --identity-unknown says they (and the boundary) are not known: the
decision is then never "allow" where AWS requires the identity side. Policy types that are never
read (SCPs, RCPs, session policies, grants) are listed in not_evaluated.

--context may repeat a key for multi-valued keys. --via-ec2 adds the context EC2 presents when it
uses the key for the principal in REGION (kms:ViaService, kms:CallerAccount, aws:PrincipalArn,
kms:GrantIsForAWSResource=true for grant operations, ...); keys AWS sends whose values are not
known here (the principal's tags, the caller's IP, ...) are not evaluated. --org gives the
principal's organization ID (aws:PrincipalOrgID; "none": in no organization) and --org-path its
organization paths; without --org, conditions on them are not evaluated. --context values are
added to the EC2 context. The key's account is the account in KEY_ARN.

flags:
`

// maxPolicyFile bounds what explain reads from one policy file: KMS key policies are at most
// 32 KB and IAM policies smaller, so anything bigger is not a policy (and /dev/zero never ends).
const maxPolicyFile = 1 << 20

// kmsAction is a request action: the kms prefix and an operation name, no wildcard (a request
// is one API call).
var kmsAction = regexp.MustCompile(`^(?i:kms):[A-Za-z]+$`)

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
		keyPolicy       = fs.String("key-policy", "", "key policy `FILE` (required)")
		boundary        = fs.String("boundary", "", "permissions boundary `FILE` of the principal")
		principal       = fs.String("principal", "", "principal `ARN` making the request (required)")
		action          = fs.String("action", "", "`ACTION` with its service prefix, e.g. kms:Decrypt (required)")
		resource        = fs.String("resource", "", "`KEY_ARN` of the key (required)")
		identityUnknown = fs.Bool("identity-unknown", false, "the principal's identity policies and boundary are not known")
		identityKnown   = fs.Bool("identity-known", false, "the given identity policies are all the principal has (the default)")
		viaEC2          = fs.String("via-ec2", "", "add the context EC2 presents in `REGION`")
		org             = fs.String("org", "", "with --via-ec2: the principal's organization `ID` (o-...), or none")
		identityFiles   stringList
		orgPaths        stringList
		ctx             = contextFlag{}
	)
	fs.Var(&identityFiles, "identity-policy", "identity policy `FILE` of the principal (repeatable)")
	fs.Var(&orgPaths, "org-path", "with --via-ec2 and --org: an organization `PATH` of the principal's account (repeatable)")
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
	if !kmsAction.MatchString(*action) {
		return fail("--action %q is not a KMS action: give the service prefix and the operation, e.g. kms:Decrypt", *action)
	}
	keyAccount := evaluate.KeyAccount(*resource)
	if keyAccount == "" {
		return fail("--resource %q is not a key ARN with a 12-digit account (arn:aws:kms:REGION:ACCOUNT:key/ID)", *resource)
	}
	if *identityUnknown && (*identityKnown || len(identityFiles) > 0 || *boundary != "") {
		return fail("--identity-unknown cannot be used with --identity-known, --identity-policy or --boundary")
	}
	if *viaEC2 == "" && (*org != "" || len(orgPaths) > 0) {
		return fail("--org and --org-path describe EC2's request: use them with --via-ec2")
	}
	if len(orgPaths) > 0 && (*org == "" || *org == "none") {
		return fail("--org-path needs --org with the organization ID")
	}

	req := evaluate.Request{PrincipalARN: *principal, Action: *action, Resource: *resource, Context: ctx}
	if *viaEC2 != "" {
		req = ec2Request(*viaEC2, *resource, *principal, *action, *org, orgPaths, ctx)
	}
	in := evaluate.KMSInput{KeyAccount: keyAccount, IdentityKnown: !*identityUnknown, Request: req}
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

// ec2Request is the request EC2 makes in region for the principal (evaluate.EC2Request), with
// the organization given by --org/--org-path and the --context values added.
func ec2Request(region, keyARN, principal, action, orgID string, orgPaths []string, extra contextFlag) evaluate.Request {
	var org *evaluate.Org
	switch orgID {
	case "":
	case "none":
		org = &evaluate.Org{}
	default:
		org = &evaluate.Org{ID: orgID, Paths: orgPaths}
	}
	req := evaluate.EC2Request(keyARN, principal, action, org)
	req.Context["kms:ViaService"] = []string{"ec2." + region + ".amazonaws.com"}
	req.Context["aws:RequestedRegion"] = []string{region}
	for k, v := range extra {
		req.Context[k] = append(req.Context[k], v...)
	}
	return req
}

// loadPolicyFile reads a policy document from a file holding either the document or one of the
// AWS API responses that carry it; a file over maxPolicyFile bytes is refused unread.
func loadPolicyFile(what, path string) (*policy.Document, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPolicyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", what, path, err)
	}
	if len(b) > maxPolicyFile {
		return nil, fmt.Errorf("%s %s is larger than 1 MiB: not a policy document (KMS key policies are at most 32 KB)", what, path)
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
