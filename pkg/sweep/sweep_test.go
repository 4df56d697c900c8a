package sweep

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

type fakeOrgs struct{ pages [][]orgtypes.Account }

func (f *fakeOrgs) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	i := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &i)
	}
	out := &organizations.ListAccountsOutput{Accounts: f.pages[i]}
	if i+1 < len(f.pages) {
		out.NextToken = aws.String(fmt.Sprint(i + 1))
	}
	return out, nil
}

// fakeAccount answers ListRegions from enabled regions per account; others denied refuses
// naming another account (not a management account or delegated administrator).
type fakeAccount struct {
	enabled      map[string][]string
	self         string
	othersDenied bool
	calls        []string
}

func (f *fakeAccount) ListRegions(_ context.Context, in *account.ListRegionsInput, _ ...func(*account.Options)) (*account.ListRegionsOutput, error) {
	who := f.self
	if in.AccountId != nil {
		who = *in.AccountId
		if f.othersDenied {
			f.calls = append(f.calls, who+" denied")
			return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "no"}
		}
	}
	f.calls = append(f.calls, who)
	out := &account.ListRegionsOutput{}
	for _, r := range f.enabled[who] {
		out.Regions = append(out.Regions, accounttypes.Region{RegionName: aws.String(r), RegionOptStatus: accounttypes.RegionOptStatusEnabled})
	}
	return out, nil
}

func active(id string) orgtypes.Account {
	return orgtypes.Account{Id: aws.String(id), State: orgtypes.AccountStateActive}
}

func TestLay(t *testing.T) {
	const self, a, b = "111122223333", "444455556666", "777788889999"
	enabled := map[string][]string{self: {"eu-west-1", "us-east-1"}, a: {"us-east-1"}, b: {"ap-east-1", "us-east-1"}}
	orgs := &fakeOrgs{pages: [][]orgtypes.Account{
		{active(self), active(a)},
		{{Id: aws.String("222233334444"), State: orgtypes.AccountStateSuspended}, {Id: aws.String(b), Status: orgtypes.AccountStatusActive}},
	}}
	scopes := func(p Plan) []string {
		var out []string
		for _, s := range p.Scopes {
			out = append(out, s.String())
		}
		return out
	}
	t.Run("the organization's active accounts, in the regions asked for that each enabled", func(t *testing.T) {
		acct := &fakeAccount{enabled: enabled, self: self}
		p, err := Lay(context.Background(), orgs, acct, Layout{Organization: true, Regions: []string{"us-east-1", "eu-west-1"}, Self: self})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{self + "/us-east-1", self + "/eu-west-1", a + "/us-east-1", b + "/us-east-1"}
		if !reflect.DeepEqual(scopes(p), want) {
			t.Errorf("scopes %v, want %v", scopes(p), want)
		}
		if len(p.Skipped) != 2 || p.Skipped[0].Scope != (Scope{a, "eu-west-1"}) || !strings.Contains(p.Skipped[0].Reason, "not enabled") {
			t.Errorf("skipped %+v, want a and b in eu-west-1", p.Skipped)
		}
	})
	t.Run("every enabled region when none is asked for", func(t *testing.T) {
		acct := &fakeAccount{enabled: enabled, self: self}
		p, err := Lay(context.Background(), nil, acct, Layout{Accounts: []string{b, b, "not-an-id"}, Self: self})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{b + "/ap-east-1", b + "/us-east-1"}; !reflect.DeepEqual(scopes(p), want) {
			t.Errorf("scopes %v, want %v", scopes(p), want)
		}
	})
	t.Run("not the management account: the regions asked for, one refusal only", func(t *testing.T) {
		acct := &fakeAccount{enabled: enabled, self: self, othersDenied: true}
		p, err := Lay(context.Background(), nil, acct, Layout{Accounts: []string{self, a, b}, Regions: []string{"us-east-1", "eu-west-1"}, Self: self})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{self + "/us-east-1", self + "/eu-west-1", a + "/us-east-1", a + "/eu-west-1", b + "/us-east-1", b + "/eu-west-1"}
		if !reflect.DeepEqual(scopes(p), want) {
			t.Errorf("scopes %v, want %v", scopes(p), want)
		}
		if want := []string{self, a + " denied"}; !reflect.DeepEqual(acct.calls, want) {
			t.Errorf("ListRegions calls %v, want %v", acct.calls, want)
		}
		if len(p.Notes) != 2 {
			t.Errorf("notes %v, want one per account swept unchecked", p.Notes)
		}
	})
	t.Run("no regions asked for and none listable: an error", func(t *testing.T) {
		acct := &fakeAccount{enabled: enabled, self: self, othersDenied: true}
		if _, err := Lay(context.Background(), nil, acct, Layout{Accounts: []string{a}, Self: self}); err == nil {
			t.Error("no error")
		}
	})
	t.Run("no account: an error", func(t *testing.T) {
		if _, err := Lay(context.Background(), nil, &fakeAccount{}, Layout{Accounts: []string{"x"}}); err == nil {
			t.Error("no error")
		}
	})
}

func TestParseInput(t *testing.T) {
	in, err := ParseInput([]byte(`{"sweep":"estate","scheduled_time":"2026-11-29T06:00:00Z"}`))
	if err != nil || in.Sweep != "estate" || in.ScheduledTime != "2026-11-29T06:00:00Z" {
		t.Fatalf("ParseInput = %+v, %v", in, err)
	}
	for name, raw := range map[string]string{
		"a Scheduler envelope":  `{"version":"0","source":"aws.scheduler","detail-type":"Scheduled Event","detail":"{}"}`,
		"no sweep":              `{"scheduled_time":"2026-11-29T06:00:00Z"}`,
		"a bad name":            `{"sweep":"a b"}`,
		"a bad time":            `{"sweep":"estate","scheduled_time":"yesterday"}`,
		"an unreplaced keyword": `{"sweep":"estate","scheduled_time":"<aws.scheduler.scheduled-time>"}`,
		"not an object":         `"estate"`,
	} {
		if _, err := ParseInput([]byte(raw)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(map[string]string{"SWEEP_ACCOUNTS": "111122223333, 444455556666", "SWEEP_REGIONS": "us-east-1,eu-west-1", "SWEEP_QUEUE_URL": "https://q"}))
	if err != nil || !reflect.DeepEqual(c.Layout.Accounts, []string{"111122223333", "444455556666"}) || !reflect.DeepEqual(c.Layout.Regions, []string{"us-east-1", "eu-west-1"}) || c.QueueURL != "https://q" {
		t.Fatalf("ConfigFromEnv = %+v, %v", c, err)
	}
	c, err = ConfigFromEnv(env(map[string]string{"SWEEP_ACCOUNTS": "organization", "SWEEP_QUEUE_URL": "https://q"}))
	if err != nil || !c.Layout.Organization || c.Layout.Regions != nil {
		t.Fatalf("organization: %+v, %v", c, err)
	}
	for name, m := range map[string]map[string]string{
		"no accounts":    {"SWEEP_QUEUE_URL": "q"},
		"a bad account":  {"SWEEP_ACCOUNTS": "11112222333", "SWEEP_QUEUE_URL": "q"},
		"a bad region":   {"SWEEP_ACCOUNTS": "organization", "SWEEP_REGIONS": "us-east-1.evil.example", "SWEEP_QUEUE_URL": "q"},
		"no queue":       {"SWEEP_ACCOUNTS": "organization"},
		"an odd account": {"SWEEP_ACCOUNTS": "111122223333,all", "SWEEP_QUEUE_URL": "q"},
	} {
		if _, err := ConfigFromEnv(env(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestTaskDecodes: the task the starter sends is what the remediator decodes as a sweep task.
func TestTaskDecodes(t *testing.T) {
	body, err := Task("estate-2026-11-29T06:00:00Z", "estate", Scope{"444455556666", "eu-west-1"}, time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := trigger.Decode(body)
	if err != nil || len(inv.Records) != 1 || inv.Records[0].Err != nil {
		t.Fatalf("Decode: %+v %v", inv, err)
	}
	tr := inv.Records[0].Trigger
	if tr.Kind != trigger.SweepTask || tr.Account != "444455556666" || tr.Region != "eu-west-1" || tr.EventID != "estate-2026-11-29T06:00:00Z/444455556666/eu-west-1" {
		t.Errorf("decoded %+v", tr)
	}
}

type fakeSQS struct {
	batches [][]string // message bodies per call
	fail    map[string]int
	sender  bool
}

func (f *fakeSQS) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	var bodies []string
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		bodies = append(bodies, aws.ToString(e.MessageBody))
		if f.fail[aws.ToString(e.Id)] > 0 {
			f.fail[aws.ToString(e.Id)]--
			out.Failed = append(out.Failed, sqstypes.BatchResultErrorEntry{Id: e.Id, Code: aws.String("InternalError"), SenderFault: f.sender})
		}
	}
	f.batches = append(f.batches, bodies)
	return out, nil
}

func TestStart(t *testing.T) {
	const self = "111122223333"
	var accounts []string
	for i := range 12 {
		accounts = append(accounts, fmt.Sprintf("7000000000%02d", i))
	}
	enabled := map[string][]string{}
	for _, a := range append(accounts, self) {
		enabled[a] = []string{"eu-west-1", "us-east-1"}
	}
	start := func(q *fakeSQS) (Started, error) {
		s := &Starter{Config: Config{Layout: Layout{Accounts: accounts, Regions: []string{"us-east-1", "eu-west-1"}}, QueueURL: "https://q"},
			Acct: &fakeAccount{enabled: enabled, self: self}, SQS: q, Log: zerolog.Nop(),
			Self: func(context.Context) (string, error) { return self, nil }}
		return s.Start(context.Background(), Input{Sweep: "estate", ScheduledTime: "2026-11-29T06:00:00Z"})
	}
	q := &fakeSQS{fail: map[string]int{"3": 1, "17": 2}}
	st, err := start(q)
	if err != nil {
		t.Fatal(err)
	}
	if st.Tasks != 24 || st.SweepID != "estate-2026-11-29T06:00:00Z" {
		t.Errorf("started %+v, want 24 tasks of estate-2026-11-29T06:00:00Z", st)
	}
	// 3 batches of at most 10, plus one resend of entry 3 and two of entry 17.
	if n := len(q.batches); n != 6 || len(q.batches[0]) != 10 || len(q.batches[1]) != 1 {
		t.Errorf("%d SendMessageBatch calls %v", n, q.batches)
	}
	seen := map[string]bool{}
	for _, b := range q.batches {
		for _, body := range b {
			seen[body] = true
		}
	}
	if len(seen) != 24 {
		t.Errorf("%d distinct tasks sent, want 24", len(seen))
	}
	if _, err := start(&fakeSQS{fail: map[string]int{"0": 1}, sender: true}); err == nil {
		t.Error("a task SQS refused as the sender's fault was not an error")
	}
	if _, err := start(&fakeSQS{fail: map[string]int{"0": 5}}); err == nil || !strings.Contains(err.Error(), "not sent after 3 attempts") {
		t.Errorf("a task that kept failing: %v", err)
	}
}
