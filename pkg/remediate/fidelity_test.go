package remediate

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// The editor extends only what the evaluator says applies to this key. A key policy whose "Allow
// use of the key" and "Allow attachment of persistent resources" statements name another key's
// ARN in Resource does not let anyone use this key: adding the account to them would write a
// policy that changes nothing (and, read back, look like another writer's work). The fix appends
// AWS's default statements instead, the read-back proves it, the alert tells it, and the
// statements about the other key are left exactly as they were.
func TestStatementsAboutAnotherKeyAreNotExtended(t *testing.T) {
	needsLocalAWS(t)
	otherKey := "arn:aws:kms:" + scenario.Region + ":" + scenario.Owner + ":key/0b5e4a2c-9d1f-4e8a-b6c3-7f2d1e0a9b8c"
	other := `"Principal": {"AWS": "arn:aws:iam::` + scenario.Untrusted + `:root"}`
	doc := `{
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + scenario.Owner + `:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Allow use of the key", "Effect": "Allow", ` + other + `,
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "` + otherKey + `"},
        {"Sid": "Allow attachment of persistent resources", "Effect": "Allow", ` + other + `,
         "Action": ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"], "Resource": "` + otherKey + `",
         "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}}}
    ]
}`
	f := newFixture(t, doc, scenario.Target)
	before := keyPolicy(t, f.key)
	rm, sink := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true})

	res := invokeEvent(t, rm, "share-image.json", f.replace())

	if len(res.Actions) != 1 || res.Actions[0].Status != report.StatusApplied {
		t.Fatalf("actions %+v: want the key policy fixed", res.Actions)
	}
	after := keyPolicy(t, f.key)
	if !allowsAccount(t, f.key, after, scenario.Target) {
		t.Fatalf("the policy in KMS does not let %s use the key:\n%s", scenario.Target, after)
	}
	// The statements about the other key keep their one principal, byte for byte.
	if n := strings.Count(after, other); n != 2 {
		t.Errorf("the statements about the other key changed (%d unchanged principals, want 2):\n%s", n, after)
	}
	if err := statementsKept(before, after); err != nil {
		t.Errorf("an original statement was changed: %v", err)
	}
	if !res.Alert.Published {
		t.Fatalf("no alert for an applied fix: %+v", res.Alert)
	}
	alerts, err := sink.Drain(context.Background())
	if err != nil || len(alerts) != 1 || !strings.Contains(alerts[0].Message, f.key) {
		t.Fatalf("alert read back: %v %+v", err, alerts)
	}

	// Redelivered: nothing left to do, no write, no alert.
	again := invokeEvent(t, rm, "share-image.json", f.replace())
	if len(again.Records[0].Findings) != 0 || len(again.Actions) != 0 || again.Alert.Published || keyPolicy(t, f.key) != after {
		t.Errorf("re-run did something: %+v", again)
	}
}

// A key owned by a member account is read through the member role in that account: KMS key
// policies cannot be read across accounts (AWS KMS API Reference, GetKeyPolicy: "Cross-account
// use: No"). Every DescribeKey and GetKeyPolicy on it reaches the local AWS with credentials of
// the key's account (the member role's session), none with the central account's. A healthy
// image encrypted with its owner's own key is then no alert.
func TestMemberOwnedKeyIsReadThroughTheMemberRole(t *testing.T) {
	needsLocalAWS(t)
	ctx := context.Background()
	key, err := world.CreateKey(ctx, scenario.Target, scenario.Region, scenario.DefaultKeyPolicy(scenario.Target))
	if err != nil {
		t.Fatal(err)
	}
	img, err := world.EncryptedImage(ctx, scenario.Target, scenario.Region, "member-owned", key)
	if err != nil {
		t.Fatal(err)
	}
	kms := &kmsCallers{accounts: map[string][]string{}}
	u, err := url.Parse(env.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "TrentService."); op != r.Header.Get("X-Amz-Target") {
			kms.add(op, r.Header.Get("Authorization"))
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: []string{scenario.Target}, alerts: true}, srv.URL, 2)

	ev, err := scenario.Event("../../events/ami-available.json", map[string]string{scenario.PlaceholderImage: img, scenario.Owner: scenario.Target})
	if err != nil {
		t.Fatal(err)
	}
	res := invokeRaw(t, rm, ev)

	if len(res.Records) != 1 || res.Records[0].Error != "" || len(res.Records[0].Findings) != 0 || len(res.Actions) != 0 || res.Alert.Published {
		t.Fatalf("a healthy image on its owner's key: want no finding, action or alert: %+v", res)
	}
	for _, op := range []string{"DescribeKey", "GetKeyPolicy"} {
		callers := kms.of(op)
		if len(callers) == 0 {
			t.Fatalf("no %s reached the local AWS", op)
		}
		for _, akid := range callers {
			if acct, _ := env.Filler.AccountOf(akid); acct != scenario.Target {
				t.Errorf("%s signed with %s (account %q), want the member role's credentials in %s", op, akid, acct, scenario.Target)
			}
		}
	}
}

// kmsCallers records the access key ID that signed each KMS request.
type kmsCallers struct {
	mu       sync.Mutex
	accounts map[string][]string
}

var credentialPattern = regexp.MustCompile(`Credential=([A-Z0-9]+)/`)

func (k *kmsCallers) add(op, authorization string) {
	m := credentialPattern.FindStringSubmatch(authorization)
	if m == nil {
		return
	}
	k.mu.Lock()
	k.accounts[op] = append(k.accounts[op], m[1])
	k.mu.Unlock()
}

func (k *kmsCallers) of(op string) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.accounts[op]...)
}
