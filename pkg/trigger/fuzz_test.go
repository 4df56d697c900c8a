package trigger

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// FuzzDecode: no input panics, decoding is deterministic, and every result keeps the
// decoder's invariants. Seeds: events/, the shared corpus, and SQS wrappings of both.
func FuzzDecode(f *testing.F) {
	var seeds [][]byte
	for _, dir := range []string{
		eventsDir,
		filepath.Join(corpusDir(f), "cloudtrail"),
		filepath.Join(corpusDir(f), "eventbridge"),
	} {
		for _, file := range jsonFiles(f, dir) {
			seeds = append(seeds, readFile(f, file))
		}
	}
	for _, s := range seeds {
		f.Add(s)
		// The same event as an SQS message body.
		body, err := json.Marshal(string(s))
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(`{"Records":[{"messageId":"m","eventSource":"aws:sqs","body":` + string(body) + `}]}`))
	}
	for _, s := range []string{``, `{}`, `[]`, `null`, `{"Records":null}`, `{"detail":{}}`, `[[[[]]]]`,
		`{"detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"ec2.amazonaws.com","eventName":"ModifyImageAttribute",` +
			`"requestParameters":{"imageId":"ami-1","launchPermission":{"add":{"items":{"userId":1e400}}}}}}`} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, raw []byte) {
		inv, err := Decode(raw)
		inv2, err2 := Decode(raw)
		if errString(err) != errString(err2) || !sameInvocation(inv, inv2) {
			t.Fatalf("not deterministic:\n%+v %v\n%+v %v", inv, err, inv2, err2)
		}
		if err != nil {
			if len(inv.Records) != 0 {
				t.Fatalf("records returned with error %v", err)
			}
			return
		}
		for i, r := range inv.Records {
			if r.Err != nil {
				continue
			}
			checkInvariants(t, i, r.Trigger)
		}
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func sameInvocation(a, b Invocation) bool {
	if a.FromSQS != b.FromSQS || len(a.Records) != len(b.Records) {
		return false
	}
	for i := range a.Records {
		ra, rb := a.Records[i], b.Records[i]
		if ra.MessageID != rb.MessageID || errString(ra.Err) != errString(rb.Err) || !reflect.DeepEqual(ra.Trigger, rb.Trigger) {
			return false
		}
	}
	return true
}

func checkInvariants(t *testing.T, i int, tr Trigger) {
	t.Helper()
	if d, ok := Lookup(tr.Kind); tr.Kind != Ignored && (!ok || d.Synthetic) {
		t.Fatalf("record %d: kind %q is not one events decode to", i, tr.Kind)
	}
	if (tr.Kind == Ignored) != (tr.IgnoredReason != "") {
		t.Fatalf("record %d: kind %q with reason %q", i, tr.Kind, tr.IgnoredReason)
	}
	switch tr.Kind {
	case ShareImage:
		if tr.ImageID == "" || len(tr.ShareUserIDs)+len(tr.ShareOrgARNs)+len(tr.ShareOUARNs) == 0 && !tr.SharePublic {
			t.Fatalf("record %d: share-image without image or target: %+v", i, tr)
		}
		if tr.Principal != nil {
			t.Fatalf("record %d: share-image with a principal", i)
		}
	case InstanceTerminated:
		if tr.InstanceID == "" {
			t.Fatalf("record %d: instance-terminated without instance", i)
		}
	case AMIAvailable:
		if tr.ImageID == "" {
			t.Fatalf("record %d: ami-available without image", i)
		}
	}
	// Any principal the decoder builds is safe to act on: a 12-digit account and an ARN in it.
	if p := tr.Principal; p != nil && p.Type != PrincipalOther {
		if !awsid.IsAccountID(p.Account) || p.ARN == "" {
			t.Fatalf("record %d: unsafe principal %+v", i, *p)
		}
		switch p.Type {
		case PrincipalUser:
			if _, err := parseIAMARN(p.ARN, awsid.PrincipalUser); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		case PrincipalRole, PrincipalServiceLinkedRole:
			if _, err := parseIAMARN(p.ARN, awsid.PrincipalRole, awsid.PrincipalServiceLinkedRole); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	}
}
