package awsapi

import (
	"reflect"
	"strings"
	"testing"
)

// What the code can call is what these interfaces declare: the function and its member roles
// only ever get clients through them. IAM is read only (no CreatePolicy, Attach*, Put*Policy:
// the identity side is fixed with grants), and the only writes anywhere are a key policy, a
// grant and an alert (and, through its own client, the estate store's table in the central
// account).
func TestWriteSurface(t *testing.T) {
	writes := map[string]bool{
		"KMS.PutKeyPolicy": true, "KMS.CreateGrant": true, "SNS.Publish": true,
	}
	reads := []string{"Get", "List", "Describe", "Lookup", "Search"}
	for _, iface := range []any{(*EC2)(nil), (*KMS)(nil), (*IAM)(nil), (*SNS)(nil), (*Organizations)(nil), (*AutoScaling)(nil),
		(*CloudTrail)(nil), (*CloudFormation)(nil), (*EventBridge)(nil)} {
		typ := reflect.TypeOf(iface).Elem()
		for i := range typ.NumMethod() {
			m := typ.Method(i).Name
			name := typ.Name() + "." + m
			read := false
			for _, p := range reads {
				read = read || strings.HasPrefix(m, p)
			}
			if !read && !writes[name] {
				t.Errorf("%s is a write the remediator must not be able to make", name)
			}
			if typ.Name() == "IAM" && !strings.HasPrefix(m, "Get") && !strings.HasPrefix(m, "List") {
				t.Errorf("%s: IAM must be read only", name)
			}
		}
	}
}
