package awsid

import "strings"

// IsRegion reports whether s has the form of an AWS Region name: lowercase ASCII words joined by
// hyphens, ending in a number of one or two digits ("us-east-1", "ap-southeast-7",
// "us-gov-west-1", "eusc-de-east-1"): a geographic prefix of two letters (four for the European
// Sovereign Cloud's "eusc"), at least one more word, and the number. Anything else (spaces,
// dots, Unicode, a missing number) is not a Region and must never reach an endpoint or an ARN.
// The prefixes and partitions are those of the SDK's endpoint rules (partitions.json of
// aws-sdk-go-v2, internal/endpoints/awsrulesfn) and
// https://docs.aws.amazon.com/whitepapers/latest/aws-fault-isolation-boundaries/partitions.html.
func IsRegion(s string) bool {
	if len(s) > 32 {
		return false
	}
	words := strings.Split(s, "-")
	if len(words) < 3 {
		return false
	}
	if p := words[0]; !(len(p) == 2 || p == "eusc") || !lowerASCII(p) {
		return false
	}
	for _, w := range words[1 : len(words)-1] {
		if w == "" || !lowerASCII(w) {
			return false
		}
	}
	n := words[len(words)-1]
	if len(n) < 1 || len(n) > 2 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

func lowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}

// RegionPartition returns the partition of a Region name: aws-cn for cn-*, aws-us-gov for
// us-gov-*, the isolated partitions for us-iso-*, us-isob-*, eu-isoe-*, us-isof-*, aws-eusc for
// eusc-*, and aws for every other Region (as the SDK resolves a Region it does not know yet).
// It does not check the form: ask IsRegion first.
func RegionPartition(region string) string {
	for _, p := range [...]struct{ prefix, partition string }{
		{"cn-", "aws-cn"}, {"us-gov-", "aws-us-gov"}, {"us-iso-", "aws-iso"}, {"us-isob-", "aws-iso-b"},
		{"eu-isoe-", "aws-iso-e"}, {"us-isof-", "aws-iso-f"}, {"eusc-", "aws-eusc"},
	} {
		if strings.HasPrefix(region, p.prefix) {
			return p.partition
		}
	}
	return "aws"
}
