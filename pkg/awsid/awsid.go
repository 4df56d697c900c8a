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

// IsRegion reports whether s has the form of an AWS region name: two lowercase letters, one or
// more lowercase words, and a number of one or two digits, each after a hyphen ("us-east-1",
// "ap-southeast-2", "us-gov-west-1", "eu-central-12"): ^[a-z]{2}(-[a-z]+)+-\d{1,2}$.
func IsRegion(s string) bool {
	words := strings.Split(s, "-")
	if len(words) < 3 || len(words[0]) != 2 || !allBytes(words[0], isLower) {
		return false
	}
	for _, w := range words[1 : len(words)-1] {
		if w == "" || !allBytes(w, isLower) {
			return false
		}
	}
	n := words[len(words)-1]
	return len(n) >= 1 && len(n) <= 2 && allBytes(n, isDigit)
}

// AllBytes reports whether s is not empty and every byte of s satisfies ok.
func AllBytes(s string, ok func(byte) bool) bool { return allBytes(s, ok) }

func allBytes(s string, ok func(byte) bool) bool {
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

func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// RegionPartition is the partition a region belongs to ("aws", "aws-cn", "aws-us-gov").
func RegionPartition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}
