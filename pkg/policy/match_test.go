package policy

import (
	"strings"
	"testing"
)

// [wildcards] IAM User Guide, "IAM JSON policy elements: Resource" and "Condition operators"
// (StringLike): '*' matches any run of characters, '?' exactly one.
// [special] IAM User Guide, "Variables and tags", special characters: ${*} and ${?} stand for a
// literal '*' and '?'.
func TestWildcardMatch(t *testing.T) {
	tests := map[string]struct {
		pattern, s string
		literal    []bool // nil: no literal bytes
		fold       bool
		want       bool
	}{
		"star":                 {pattern: "kms:*", s: "kms:decrypt", want: true},
		"suffix star":          {pattern: "kms:reencrypt*", s: "kms:reencrypt*", want: true},
		"suffix star 2":        {pattern: "kms:generatedatakey*", s: "kms:generatedatakeywithoutplaintext", want: true},
		"question":             {pattern: "kms:?ncrypt", s: "kms:encrypt", want: true},
		"question not empty":   {pattern: "a?", s: "a", want: false},
		"star at end":          {pattern: "kms:create*", s: "kms:creategrantx", want: true},
		"prefix differs":       {pattern: "kms:list*", s: "kms:revokegrant", want: false},
		"exact":                {pattern: "kms:decrypt", s: "kms:decrypt", want: true},
		"longer":               {pattern: "kms:decrypt", s: "kms:decrypts", want: false},
		"inner star":           {pattern: "k*:*key", s: "kms:describekey", want: true},
		"only star":            {pattern: "*", s: "anything", want: true},
		"star matches empty":   {pattern: "*", s: "", want: true},
		"empty pattern":        {pattern: "", s: "x", want: false},
		"both empty":           {pattern: "", s: "", want: true},
		"backtracking":         {pattern: "a*b*c", s: "aXbYbZc", want: true},
		"backtracking fails":   {pattern: "a*b*c", s: "axxbyy", want: false},
		"star crosses colons":  {pattern: "arn:aws:kms:*", s: "arn:aws:kms:us-east-1:111122223333:key/k", want: true},
		"case-sensitive":       {pattern: "arn:aws:kms:*:key/ABC", s: "arn:aws:kms:us-east-1:1:key/abc", want: false},
		"fold":                 {pattern: "KMS:Decrypt", s: "kms:DECRYPT", fold: true, want: true},
		"fold with star":       {pattern: "kms:ReEncrypt*", s: "KMS:REENCRYPTFROM", fold: true, want: true},
		"many stars no blowup": {pattern: strings.Repeat("*a", 40) + "b", s: strings.Repeat("a", 200), want: false},
		// [special] a literal star matches only '*'.
		"literal star":            {pattern: "a*b", literal: []bool{false, true, false}, s: "a*b", want: true},
		"literal star not wild":   {pattern: "a*b", literal: []bool{false, true, false}, s: "axb", want: false},
		"literal question":        {pattern: "a?", literal: []bool{false, true}, s: "ab", want: false},
		"literal then wildcard":   {pattern: "**", literal: []bool{true, false}, s: "*anything", want: true},
		"literal star at the end": {pattern: "a*", literal: []bool{false, true}, s: "a", want: false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got bool
			switch {
			case tc.literal != nil:
				got = WildcardMatchLiteral(tc.pattern, tc.literal, tc.s, tc.fold)
			case tc.fold:
				got = WildcardMatchFold(tc.pattern, tc.s)
			default:
				got = WildcardMatch(tc.pattern, tc.s)
			}
			if got != tc.want {
				t.Fatalf("match(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}
