// Package awsid recognises AWS identifiers. Every guardrail that decides "is this an account?"
// asks here, so there is one definition of an account ID in the project.
package awsid

import "strings"

// IsAccountID reports whether s is exactly 12 ASCII digits. Unicode digits, signs, spaces and
// other lengths are not account IDs.
func IsAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ARN is an Amazon Resource Name split into its six fields:
// arn:Partition:Service:Region:Account:Resource (the resource keeps any further ':' and '/').
type ARN struct{ Partition, Service, Region, Account, Resource string }

// ParseARN splits s into its fields; false when s is not shaped like an ARN. It checks the
// shape only: callers check the fields they rely on (IsAccountID on Account, and so on).
func ParseARN(s string) (ARN, bool) {
	rest, ok := strings.CutPrefix(s, "arn:")
	if !ok {
		return ARN{}, false
	}
	var f [4]string // partition, service, region, account; the resource keeps any further ':'
	for i := range f {
		if f[i], rest, ok = strings.Cut(rest, ":"); !ok {
			return ARN{}, false
		}
	}
	return ARN{f[0], f[1], f[2], f[3], rest}, true
}

// AllBytes reports whether s is not empty and every byte of s satisfies ok.
func AllBytes(s string, ok func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}
