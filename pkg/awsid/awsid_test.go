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

func TestParseARN(t *testing.T) {
	tests := map[string]struct {
		in   string
		want ARN
		ok   bool
	}{
		"key":          {"arn:aws:kms:us-east-1:111122223333:key/abc", ARN{"aws", "kms", "us-east-1", "111122223333", "key/abc"}, true},
		"iam role":     {"arn:aws-cn:iam::111122223333:role/a/b", ARN{"aws-cn", "iam", "", "111122223333", "role/a/b"}, true},
		"colons kept":  {"arn:aws:logs:us-east-1:1:log-group:x:*", ARN{"aws", "logs", "us-east-1", "1", "log-group:x:*"}, true},
		"too few":      {"arn:aws:iam::111122223333", ARN{}, false},
		"not arn":      {"urn:aws:iam::111122223333:root", ARN{}, false},
		"empty":        {"", ARN{}, false},
		"account only": {"111122223333", ARN{}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := ParseARN(tc.in)
			if ok != tc.ok || got != tc.want {
				t.Errorf("ParseARN(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}
