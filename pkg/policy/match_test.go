package policy

import "testing"

func TestWildcardMatch(t *testing.T) {
	tests := map[string]struct {
		pattern, s string
		want       bool
	}{
		"star":           {"kms:*", "kms:decrypt", true},
		"suffix star":    {"kms:reencrypt*", "kms:reencrypt*", true},
		"suffix star 2":  {"kms:generatedatakey*", "kms:generatedatakeywithoutplaintext", true},
		"question":       {"kms:?ncrypt", "kms:encrypt", true},
		"star at end":    {"kms:create*", "kms:creategrantx", true},
		"prefix differs": {"kms:list*", "kms:revokegrant", false},
		"exact":          {"kms:decrypt", "kms:decrypt", true},
		"longer":         {"kms:decrypt", "kms:decrypts", false},
		"inner star":     {"k*:*key", "kms:describekey", true},
		"only star":      {"*", "anything", true},
		"empty pattern":  {"", "x", false},
		"both empty":     {"", "", true},
		"backtracking":   {"a*b*c", "aXbYbZc", true},
		"case-sensitive": {"arn:aws:kms:*:key/ABC", "arn:aws:kms:us-east-1:1:key/abc", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := WildcardMatch(tc.pattern, tc.s); got != tc.want {
				t.Fatalf("WildcardMatch(%q, %q) = %v", tc.pattern, tc.s, got)
			}
		})
	}
}
