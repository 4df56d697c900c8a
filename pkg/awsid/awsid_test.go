package awsid

import "testing"

func TestIsAccountID(t *testing.T) {
	tests := map[string]bool{
		"111122223333":                   true,
		"000000000000":                   true,
		"11112222333":                    false, // 11 digits
		"1111222233334":                  false, // 13 digits
		"":                               false,
		"*":                              false,
		"11112222333a":                   false,
		" 11112222333":                   false,
		"١١١١٢٢٢٢٣٣٣٣":                   false, // Arabic-Indic digits
		"１１１１２２２２３３３３":                   false, // full-width digits
		"arn:aws:iam::111122223333:root": false,
	}
	for in, want := range tests {
		if got := IsAccountID(in); got != want {
			t.Errorf("IsAccountID(%q) = %v, want %v", in, got, want)
		}
	}
}
