// Package awsid recognises AWS identifiers. Every guardrail that decides "is this an account?"
// asks here, so there is one definition of an account ID in the project.
package awsid

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
