package policy

import "testing"

func TestValuesSameSet(t *testing.T) {
	tests := map[string]struct {
		v    *Values
		want []string
		same bool
	}{
		"same order":       {&Values{List: []string{"kms:Encrypt", "kms:Decrypt"}}, []string{"kms:Encrypt", "kms:Decrypt"}, true},
		"other order/case": {&Values{List: []string{"KMS:decrypt", "kms:Encrypt"}}, []string{"kms:Encrypt", "kms:Decrypt"}, true},
		"one more":         {&Values{List: []string{"kms:Encrypt", "kms:Decrypt", "kms:*"}}, []string{"kms:Encrypt", "kms:Decrypt"}, false},
		"one less":         {&Values{List: []string{"kms:Encrypt"}}, []string{"kms:Encrypt", "kms:Decrypt"}, false},
		"duplicate":        {&Values{List: []string{"kms:Encrypt", "kms:Encrypt"}}, []string{"kms:Encrypt", "kms:Decrypt"}, false},
		"nil":              {nil, []string{"kms:Encrypt"}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.v.SameSet(tc.want); got != tc.same {
				t.Errorf("SameSet = %v, want %v", got, tc.same)
			}
		})
	}
}
