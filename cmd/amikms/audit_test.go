package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// estate is a small estate on the local AWS: the central account and a member account, each with
// images in two regions, some shared with accounts their keys let in, some not.
type estate struct {
	env    *localaws.Env
	world  *scenario.World
	broken map[string]bool // "image account code" expected
	// images by name
	img map[string]string
}

const (
	member    = "222233334444" // a member account with the member role
	healthy   = "333344445555" // an account whose every share works
	otherRgn  = "eu-west-1"
	centralRA = "arn:aws:iam::" + scenario.Owner + ":role/ami-kms-remediator-central"
)

func seedEstate(t *testing.T) *estate {
	t.Helper()
	if testing.Short() {
		t.Skip("needs the local AWS (moto)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env, err := localaws.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { env.Close() })
	env.Filler.MapAccessKey(scenario.CentralAccessKey, scenario.Owner)
	w := scenario.New(env.URL)
	e := &estate{env: env, world: w, img: map[string]string{}, broken: map[string]bool{}}
	for _, a := range []string{scenario.Owner, member, healthy} {
		if err := w.MemberStack(ctx, a, scenario.Region, otherRgn); err != nil {
			t.Fatal(err)
		}
	}
	key := func(account, region string, grant ...string) string {
		k, err := w.CreateKeyLettingIn(ctx, account, region, grant...)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	image := func(name, account, region, keyARN string, encrypted bool, shareWith ...string) {
		id := env.Filler.CreateImage(account, region, name, []localaws.SnapshotSpec{{Encrypted: encrypted, KmsKeyID: keyARN}})
		for _, a := range shareWith {
			if !env.Filler.ShareImage(id, a) {
				t.Fatalf("share %s with %s", id, a)
			}
		}
		e.img[name] = id
	}
	k1 := key(scenario.Owner, scenario.Region)                  // lets nobody else in
	k2 := key(scenario.Owner, scenario.Region, scenario.Target) // lets the target in
	k3 := key(member, otherRgn)
	k4 := key(healthy, scenario.Region, scenario.Target)
	image("broken-share", scenario.Owner, scenario.Region, k1, true, scenario.Target)
	image("fine-share", scenario.Owner, scenario.Region, k2, true, scenario.Target)
	image("unshared", scenario.Owner, scenario.Region, k1, true)
	image("aws-managed", scenario.Owner, scenario.Region, "", true, scenario.Target)
	image("untrusted-share", scenario.Owner, otherRgn, key(scenario.Owner, otherRgn), true, scenario.Untrusted)
	image("member-broken", member, otherRgn, k3, true, scenario.Target)
	image("plain", member, otherRgn, "", false, scenario.Target)
	image("healthy-1", healthy, scenario.Region, k4, true, scenario.Target)
	image("healthy-2", healthy, scenario.Region, k4, true)
	for _, b := range []string{
		"broken-share 444455556666 key-policy-missing-use", "broken-share 444455556666 key-policy-missing-grant",
		"aws-managed 444455556666 aws-managed-key",
		"untrusted-share 999988887777 untrusted-account", "untrusted-share 999988887777 key-policy-missing-use", "untrusted-share 999988887777 key-policy-missing-grant",
		"member-broken 444455556666 key-policy-missing-use", "member-broken 444455556666 key-policy-missing-grant",
	} {
		e.broken[b] = true
	}
	t.Setenv("AWS_ENDPOINT_URL", env.URL)
	t.Setenv("AWS_REGION", scenario.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", scenario.CentralAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "local-secret")
	t.Setenv("AWS_MAX_ATTEMPTS", "2")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("MODE", "alert")
	t.Setenv("TRUSTED_ACCOUNT_IDS", strings.Join([]string{scenario.Target, member, healthy}, ","))
	t.Setenv("MEMBER_ROLE_NAME", scenario.MemberRoleName)
	t.Setenv("ALERT_TOPIC_ARN", "")
	return e
}

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	code := dispatch(args, strings.NewReader(""), &out, &errw)
	return code, out.String(), errw.String()
}

// findings lists "image account code" for every finding of an audit's JSON, with image names.
func (e *estate) findings(t *testing.T, stdout string) (got []string, res auditResult) {
	t.Helper()
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("audit's JSON: %v\n%s", err, stdout)
	}
	names := map[string]string{}
	for n, id := range e.img {
		names[id] = n
	}
	for _, r := range res.Records {
		if r.Error != "" {
			t.Errorf("record %s failed: %s", r.EventID, r.Error)
		}
		for _, f := range r.Findings {
			got = append(got, fmt.Sprintf("%s %s %s", names[r.ImageID], f.Account, f.Code))
		}
	}
	sort.Strings(got)
	return got, res
}

func (e *estate) want(only func(string) bool) []string {
	var out []string
	for b := range e.broken {
		if only == nil || only(b) {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

// TestAuditFindsEveryBrokenShare: on the local AWS, audit finds every broken share of a seeded
// estate and nothing in a healthy one; --mode fix fixes what is fixable (and is refused without
// the central role), and a run after it finds only what no fix may change.
func TestAuditFindsEveryBrokenShare(t *testing.T) {
	e := seedEstate(t)
	accounts := "--accounts=" + scenario.Owner + "," + member
	regions := "--regions=" + scenario.Region + "," + otherRgn

	code, stdout, stderr := runCLI(t, "audit", "--accounts", healthy, "--regions", scenario.Region, "--format", "json")
	got, _ := e.findings(t, stdout)
	if code != 0 || len(got) != 0 {
		t.Fatalf("healthy estate: exit %d, findings %v\n%s", code, got, stderr)
	}

	code, stdout, stderr = runCLI(t, "audit", accounts, regions, "--format", "json", "--parallel", "3")
	got, res := e.findings(t, stdout)
	if code != 3 || strings.Join(got, "\n") != strings.Join(e.want(nil), "\n") {
		t.Fatalf("exit %d, findings\n%s\nwant\n%s\n%s", code, strings.Join(got, "\n"), strings.Join(e.want(nil), "\n"), stderr)
	}
	checked := 0
	for _, r := range res.Records {
		if r.Trigger == "estate-image" {
			checked++
		}
	}
	if checked != 6 || len(res.Skipped) != 0 {
		t.Errorf("%d images checked (want the 6 encrypted ones), skipped %v", checked, res.Skipped)
	}
	for _, a := range res.Actions {
		if a.Status != report.StatusPlanned {
			t.Errorf("alert mode: action %+v", a)
		}
	}

	if code, _, stderr := runCLI(t, "audit", accounts, regions, "--mode", "fix"); code != 2 || !strings.Contains(stderr, "--central-role") {
		t.Fatalf("fix without the central role: exit %d, %s", code, stderr)
	}
	code, stdout, stderr = runCLI(t, "audit", accounts, regions, "--mode", "fix", "--central-role", centralRA, "--format", "json")
	_, res = e.findings(t, stdout)
	applied := map[string]bool{}
	for _, a := range res.Actions {
		if a.Status == report.StatusApplied {
			applied[a.Target] = true
		}
	}
	if code != 3 || len(applied) != 2 {
		t.Fatalf("fix: exit %d (want 3: the unfixable remain), applied %v\n%s", code, applied, stderr)
	}

	code, stdout, stderr = runCLI(t, "audit", accounts, regions, "--format", "json")
	got, _ = e.findings(t, stdout)
	unfixable := e.want(func(b string) bool {
		return strings.HasPrefix(b, "aws-managed ") || strings.HasPrefix(b, "untrusted-share ")
	})
	if code != 3 || strings.Join(got, "\n") != strings.Join(unfixable, "\n") {
		t.Fatalf("after the fix: exit %d, findings\n%s\nwant only\n%s\n%s", code, strings.Join(got, "\n"), strings.Join(unfixable, "\n"), stderr)
	}

	// A person's table: every image, account and key once, the broken ones with what to do.
	code, stdout, _ = runCLI(t, "audit", accounts, regions, "--format", "table")
	if code != 3 || !strings.Contains(stdout, e.img["fine-share"]) || !strings.Contains(stdout, "broken: aws-managed-key") ||
		!strings.Contains(stdout, "6 images checked, 4 findings, 4 not fixed") {
		t.Errorf("table (exit %d):\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, "audit", accounts, regions, "--format", "csv")
	if lines := strings.Count(stdout, "\n"); code != 3 || !strings.HasPrefix(stdout, "image,region,owner,shared with,key,status,what to do\n") || lines < 10 {
		t.Errorf("csv (exit %d, %d lines):\n%s", code, lines, stdout)
	}
}

// TestAuditUsage: bad input is refused before any AWS call.
func TestAuditUsage(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9") // nothing listens: any AWS call would fail
	for name, args := range map[string][]string{
		"neither accounts nor organization": {"audit"},
		"both":                              {"audit", "--accounts", "111122223333", "--organization"},
		"a bad account":                     {"audit", "--accounts", "11112222333"},
		"a bad region":                      {"audit", "--accounts", "111122223333", "--regions", "us-east-1.evil.example"},
		"a bad mode":                        {"audit", "--accounts", "111122223333", "--mode", "yolo"},
		"a bad format":                      {"audit", "--accounts", "111122223333", "--format", "xml"},
		"too parallel":                      {"audit", "--accounts", "111122223333", "--parallel", "0"},
		"fix without the central role":      {"audit", "--accounts", "111122223333", "--mode", "fix"},
		"a central role that is no role":    {"audit", "--accounts", "111122223333", "--central-role", "arn:aws:iam::111122223333:user/x"},
		"status without a table":            {"status", "--table", ""},
		"status, a bad account":             {"status", "--table", "t", "--account", "x"},
	} {
		if code, _, stderr := runCLI(t, args...); code != 2 {
			t.Errorf("%s: exit %d, want 2 (%s)", name, code, stderr)
		}
	}
}
