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
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, false
	}
	return ARN{parts[1], parts[2], parts[3], parts[4], parts[5]}, true
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
