package remediate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/ami-kms-remediator/ami-kms-remediator/internal/localaws"
	"github.com/ami-kms-remediator/ami-kms-remediator/internal/scenario"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/config"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/keypolicy"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/store"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/sweep"
)

// The estate view on the local AWS: sweep tasks, the estate store's alerts, drift, missing member
// stacks, and sweep tasks of several environments writing one key.

var estateSeq atomic.Int64

// estateAccount is a new account with the member stack (role, and forwarding rules in regions).
func estateAccount(t *testing.T, regions ...string) string {
	t.Helper()
	a := fmt.Sprintf("61%010d", estateSeq.Add(1))
	if err := world.MemberStack(context.Background(), a, regions...); err != nil {
		t.Fatal(err)
	}
	return a
}

// estateStore is a new estate table and the store over it.
func estateStore(t *testing.T) *store.Store {
	t.Helper()
	name, err := scenario.EstateTable(context.Background(), scenario.Config(world.Endpoint, "", 2), fmt.Sprintf("estate-r-%d", estateSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	return store.New(world.DynamoDB(""), name)
}

// sweepBatch is the SQS batch of one sweep task for account in region.
func sweepBatch(t *testing.T, account, region string) []byte {
	t.Helper()
	body, err := sweep.Task("estate-test", "estate", sweep.Scope{Account: account, Region: region}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return sqsRecords(t, []string{"task-" + account + "-" + region}, [][]byte{body})
}

// keyIn creates a key in account with the console's default policy, letting grant in too.
func keyIn(t *testing.T, account string, grant ...string) string {
	t.Helper()
	k, err := world.CreateKeyLettingIn(context.Background(), account, scenario.Region, grant...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func imageOn(t *testing.T, owner, keyARN string, shareWith ...string) string {
	t.Helper()
	id := env.Filler.CreateImage(owner, scenario.Region, fmt.Sprintf("estate-%d", estateSeq.Add(1)), []localaws.SnapshotSpec{{Encrypted: true, KmsKeyID: keyARN}})
	for _, a := range shareWith {
		if !env.Filler.ShareImage(id, a) {
			t.Fatalf("share %s with %s", id, a)
		}
	}
	return id
}

func putPolicy(t *testing.T, keyARN, account, policy string) {
	t.Helper()
	if _, err := world.KMS(account, scenario.Region).PutKeyPolicy(context.Background(), &kms.PutKeyPolicyInput{
		KeyId: aws.String(keyARN), PolicyName: aws.String("default"), Policy: aws.String(policy)}); err != nil {
		t.Fatal(err)
	}
}

func triggersOf(res report.Result) []string {
	var out []string
	for _, r := range res.Records {
		out = append(out, r.Trigger)
	}
	return out
}

// TestSweepTaskFansOutAndCoalescesPerKey: one sweep task checks every encrypted image its account
// owns, each as its own record, with one page of images, one batch of snapshots, each key read
// once and written once however many images and accounts need it (and read again just before its
// write and after it: without a store no lease keeps other environments out).
func TestSweepTaskFansOutAndCoalescesPerKey(t *testing.T) {
	needsLocalAWS(t)
	a := estateAccount(t, scenario.Region)
	targets := concurrentAccounts("620000", 3)
	k1, k2 := keyIn(t, a), keyIn(t, a)
	imageOn(t, a, k1, targets[0])
	imageOn(t, a, k1, targets[1])
	imageOn(t, a, k1, targets[0])
	imageOn(t, a, k2, targets[2])
	imageOn(t, a, k2)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: append([]string{a}, targets...)})
	resp := invokeSQS(t, context.Background(), rm, sweepBatch(t, a, scenario.Region))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("batch item failures %v", resp.BatchItemFailures)
	}
	want := []string{"sweep-task", "estate-image", "estate-image", "estate-image", "estate-image", "estate-image"}
	if got := triggersOf(resp.Result); !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
	for _, r := range resp.Records {
		if r.Error != "" {
			t.Errorf("record %s: %s", r.EventID, r.Error)
		}
	}
	added := map[string][]string{}
	for _, act := range resp.Actions {
		if act.Status != report.StatusApplied {
			t.Errorf("action %+v", act)
		}
		added[act.Target] = act.Accounts
	}
	if len(resp.Actions) != 2 || joined(added[k1]) != joined([]string{targets[0], targets[1]}) || joined(added[k2]) != targets[2] {
		t.Errorf("actions %v, want one per key: %s gains %v, %s gains %s", added, k1, targets[:2], k2, targets[2])
	}
	for op, n := range map[string]int{"EC2:DescribeImages": 1, "EC2:DescribeSnapshots": 1, "EC2:DescribeImageAttribute": 5,
		"KMS:DescribeKey": 2, "KMS:GetKeyPolicy": 6, "KMS:PutKeyPolicy": 2, "STS:AssumeRole": 1, "EventBridge:ListRuleNamesByTarget": 1} {
		if resp.Stats[op] != n {
			t.Errorf("%s = %d, want %d (all: %v)", op, resp.Stats[op], n, resp.Stats)
		}
	}
	for _, k := range []string{k1, k2} {
		if pol := keyPolicy(t, k); !strings.Contains(pol, targets[0]) && !strings.Contains(pol, targets[2]) {
			t.Errorf("key %s was not fixed: %s", k, pol)
		}
	}
}

// TestEstateStoreAlertsOnChangeOnly: a sweep alerts once for a new finding, not when the next
// sweep sees it again, once when a complete sweep no longer finds it, and then never.
func TestEstateStoreAlertsOnChangeOnly(t *testing.T) {
	needsLocalAWS(t)
	a := estateAccount(t, scenario.Region)
	target := concurrentAccounts("630000", 1)[0]
	k := keyIn(t, a)
	img := imageOn(t, a, k, target)
	st := estateStore(t)
	_, sink := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{a, target}, alerts: true})
	sweepOnce := func(step string, wantAlerts int) []scenario.Alert {
		t.Helper()
		// A new environment each time: what is not told again is the store's doing, not memory.
		rm, _ := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{a, target}})
		rm.cfg.AlertTopicARN, rm.store = sink.TopicARN, st
		resp := invokeSQS(t, context.Background(), rm, sweepBatch(t, a, scenario.Region))
		if len(resp.BatchItemFailures) != 0 {
			t.Fatalf("%s: batch item failures %v", step, resp.BatchItemFailures)
		}
		alerts, err := sink.Drain(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(alerts) != wantAlerts {
			var subjects []string
			for _, al := range alerts {
				subjects = append(subjects, al.Subject)
			}
			t.Fatalf("%s: %d alerts %q, want %d", step, len(alerts), subjects, wantAlerts)
		}
		return alerts
	}
	first := sweepOnce("first sweep", 1)
	if !strings.Contains(first[0].Message, img) || !strings.Contains(first[0].Message, target) {
		t.Errorf("the alert does not name the image and the account:\n%s", first[0].Message)
	}
	open, err := st.OpenFindings(context.Background(), target)
	if err != nil || len(open) != 2 {
		t.Fatalf("open findings after the first sweep: %+v %v, want the two key-policy gaps", open, err)
	}
	sweepOnce("second sweep", 0)
	sweepOnce("third sweep", 0)

	// Someone fixes the key policy by hand; the next complete sweep resolves both findings.
	edit, err := keypolicy.EnsureAccounts([]byte(keyPolicy(t, k)), []string{target})
	if err != nil {
		t.Fatal(err)
	}
	putPolicy(t, k, a, string(edit.Document))
	resolved := sweepOnce("sweep after the fix", 1)
	if !strings.Contains(resolved[0].Subject, "RESOLVED 2 findings") || !strings.Contains(resolved[0].Message, img) {
		t.Errorf("resolution alert: %q\n%s", resolved[0].Subject, resolved[0].Message)
	}
	if open, err := st.OpenFindings(context.Background(), ""); err != nil || len(open) != 0 {
		t.Errorf("open findings after the fix: %+v %v", open, err)
	}
	sweepOnce("sweep after the resolution", 0)
}

// TestDriftRechecksTheImagesUsingTheKey: a PutKeyPolicy by another principal (IaC reverting the
// policy) re-checks at once the images the store saw use the key, and fixes them again in fix
// mode; the remediator's own write is no drift.
func TestDriftRechecksTheImagesUsingTheKey(t *testing.T) {
	needsLocalAWS(t)
	a := estateAccount(t, scenario.Region)
	target := concurrentAccounts("640000", 1)[0]
	k := keyIn(t, a, target)
	img := imageOn(t, a, k, target)
	st := estateStore(t)
	rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: []string{a, target}})
	rm.store = st
	if resp := invokeSQS(t, context.Background(), rm, sweepBatch(t, a, scenario.Region)); len(resp.Actions) != 0 || len(resp.Records) != 2 {
		t.Fatalf("the healthy sweep: records %v, actions %+v", triggersOf(resp.Result), resp.Actions)
	}
	// IaC puts the policy back as it was before the account was added.
	putPolicy(t, k, a, scenario.DefaultKeyPolicy(a))
	drift := func(role, session string) report.Result {
		raw, err := scenario.Event("../../events/key-policy-changed.json", map[string]string{scenario.PlaceholderKey: k, "111122223333": a})
		if err != nil {
			t.Fatal(err)
		}
		// In this order: the session's ARN names the role too.
		ev := strings.ReplaceAll(string(raw), "assumed-role/terraform-deployer/terraform-apply", "assumed-role/"+role+"/"+session)
		ev = strings.ReplaceAll(ev, "terraform-deployer", role)
		return invokeRaw(t, rm, []byte(ev))
	}
	res := drift("terraform-deployer", "terraform-apply")
	if got := triggersOf(res); !slices.Equal(got, []string{"key-policy-changed", "estate-image"}) || res.Records[1].ImageID != img {
		t.Fatalf("drift records %v (%+v), want the image re-checked", got, res.Records)
	}
	if !hasCode(res.Records[1], report.KeyPolicyMissingUse) || len(res.Actions) != 1 || res.Actions[0].Status != report.StatusApplied {
		t.Errorf("the re-check found %v and did %+v, want the gap found and fixed", codes(res.Records[1]), res.Actions)
	}
	if !strings.Contains(keyPolicy(t, k), target) {
		t.Error("the revert was not fixed again")
	}
	own := drift(scenario.MemberRoleName, "ami-kms-remediator")
	if len(own.Records) != 1 || !strings.Contains(own.Records[0].IgnoredReason, "remediator's own session") {
		t.Errorf("the remediator's own write: %+v, want it ignored", own.Records)
	}
}

// TestSweepFindsMissingMemberStacks: an account without the member role is a finding and is not
// swept (nothing else can be read there); a region without the forwarding rules is a finding and
// is swept all the same.
func TestSweepFindsMissingMemberStacks(t *testing.T) {
	needsLocalAWS(t)
	env.Filler.RequireExistingRoles(true)
	defer env.Filler.RequireExistingRoles(false)
	noRole := fmt.Sprintf("65%010d", estateSeq.Add(1))
	noRules := estateAccount(t) // its role, no rules anywhere
	k := keyIn(t, noRules)
	imageOn(t, noRules, k)
	rm, _ := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{noRole, noRules}})
	res := invokeSQS(t, context.Background(), rm, sweepBatch(t, noRole, scenario.Region)).Result
	if got := triggersOf(res); !slices.Equal(got, []string{"sweep-task"}) || !hasCode(res.Records[0], report.MemberStackMissing) || res.Records[0].Error != "" {
		t.Errorf("no member role: %+v, want one member-stack-missing finding and nothing read", res.Records)
	}
	res = invokeSQS(t, context.Background(), rm, sweepBatch(t, noRules, scenario.Region)).Result
	if got := triggersOf(res); !slices.Equal(got, []string{"sweep-task", "estate-image"}) || !hasCode(res.Records[0], report.MemberStackMissing) {
		t.Errorf("no forwarding rules: %v %+v, want the finding and the image checked", got, res.Records)
	}
}

// TestConcurrentSweepTasksOnOneKey: sweep tasks of several accounts whose images use one key,
// each in its own environment (its own remediator, with the estate store) and all at once: every
// account they need is in the key policy at the end, nothing else changed.
func TestConcurrentSweepTasksOnOneKey(t *testing.T) {
	needsLocalAWS(t)
	const n = 6
	owners := make([]string, n)
	for i := range owners {
		owners[i] = estateAccount(t, scenario.Region)
	}
	targets := concurrentAccounts("660000", n)
	f := newFixture(t, "")
	before := keyPolicy(t, f.key)
	for i := range owners {
		imageOn(t, owners[i], f.key, targets[i])
	}
	st := estateStore(t)
	trusted := append(append([]string{}, owners...), targets...)
	results := make([]SQSResponse, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		rm, _ := newRemediator(t, setup{mode: config.ModeFix, trusted: trusted})
		rm.store = st
		batch := sweepBatch(t, owners[i], scenario.Region)
		wg.Go(func() {
			<-start
			results[i] = invokeSQS(t, context.Background(), rm, batch)
		})
	}
	close(start)
	wg.Wait()
	for i, r := range results {
		if len(r.BatchItemFailures) != 0 {
			t.Errorf("task %d handed back %v: %+v", i, r.BatchItemFailures, r.Records)
		}
	}
	after := keyPolicy(t, f.key)
	var missing []string
	for _, a := range trusted {
		if !strings.Contains(after, "arn:aws:iam::"+a+":root") {
			missing = append(missing, a)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("accounts missing from the key policy after %d concurrent tasks: %v\n%s", n, missing, after)
	}
	if err := statementsKept(before, after); err != nil {
		t.Errorf("a statement of the original policy changed: %v", err)
	}
}

// TestKeyLeaseKeepsWritersApart: while another environment holds a key's lease, no write to the
// key starts (past its wait, the record is handed back before the deadline); when that holder
// writes the key and releases the lease while this invocation waits, this one reads the policy
// again before planning from it, and keeps the other's change.
func TestKeyLeaseKeepsWritersApart(t *testing.T) {
	needsLocalAWS(t)
	accounts := concurrentAccounts("670000", 2)
	target, other := accounts[0], accounts[1]
	f := newFixture(t, "", target)
	st := estateStore(t)
	rm, _ := newRemediatorOn(t, setup{mode: config.ModeFix, trusted: accounts}, world.Endpoint, 2, WithWriteMargin(2*time.Second))
	rm.store = st
	batch := sqsRecords(t, []string{"m1"}, [][]byte{shareEvent(t, f.image, target)})

	held, err := st.Acquire(context.Background(), "key/"+f.key, time.Minute, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	resp := invokeSQS(t, ctx, rm, batch)
	cancel()
	if len(resp.BatchItemFailures) != 1 || resp.Stats["KMS:PutKeyPolicy"] != 0 || len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusFailed {
		t.Fatalf("with the lease held elsewhere: failures %v, actions %+v, stats %v; want handed back, nothing written", resp.BatchItemFailures, resp.Actions, resp.Stats)
	}

	// The other environment writes while this one waits for the lease, then releases it.
	done := make(chan SQSResponse)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		done <- invokeSQS(t, ctx, rm, batch)
	}()
	time.Sleep(time.Second)
	edit, err := keypolicy.EnsureAccounts([]byte(keyPolicy(t, f.key)), []string{other})
	if err != nil {
		t.Fatal(err)
	}
	putPolicy(t, f.key, scenario.Owner, string(edit.Document))
	if err := held.Release(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	resp = <-done
	if len(resp.BatchItemFailures) != 0 || len(resp.Actions) != 1 || resp.Actions[0].Status != report.StatusApplied {
		t.Fatalf("after the release: failures %v, actions %+v", resp.BatchItemFailures, resp.Actions)
	}
	if n := resp.Stats["KMS:GetKeyPolicy"]; n != 3 {
		t.Errorf("GetKeyPolicy %d, want 3: read, read again under the lease (the other holder wrote), verify", n)
	}
	after := keyPolicy(t, f.key)
	for _, a := range accounts {
		if !strings.Contains(after, "arn:aws:iam::"+a+":root") {
			t.Errorf("account %s is missing from the policy after both writes:\n%s", a, after)
		}
	}
}

// TestUnpublishedAlertIsOwedAndSent: with the estate store, an alert SNS refused is kept and the
// next invocation publishes it (once, even when that invocation has nothing new to tell), and
// the findings it tells are not told again.
func TestUnpublishedAlertIsOwedAndSent(t *testing.T) {
	needsLocalAWS(t)
	target := concurrentAccounts("680000", 1)[0]
	f := newFixture(t, "", target)
	st := estateStore(t)
	_, sink := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{target}, alerts: true})
	remediator := func(topic string) *Remediator {
		rm, _ := newRemediator(t, setup{mode: config.ModeAlert, trusted: []string{target}})
		rm.cfg.AlertTopicARN, rm.store = topic, st
		return rm
	}
	gone := sink.TopicARN + "-gone"
	res := invokeEvent(t, remediator(gone), "share-image.json", f.replace())
	if res.Alert.Published || len(res.Records) != 1 || len(res.Records[0].Findings) == 0 {
		t.Fatalf("the first alert was published to a topic that does not exist: %+v", res)
	}
	if owed, err := st.Owed(context.Background()); err != nil || len(owed) != 1 {
		t.Fatalf("owed %+v %v, want the alert kept", owed, err)
	}
	// The next invocation is about something else and has nothing to tell: it pays what is owed.
	invokeEvent(t, remediator(sink.TopicARN), "ignored-dryrun.json", nil)
	alerts, err := sink.Drain(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !strings.Contains(alerts[0].Message, f.image) {
		t.Fatalf("%d alerts after the owed one was paid, want it once: %+v", len(alerts), alerts)
	}
	// Neither the owed alert nor its findings are told again.
	invokeEvent(t, remediator(sink.TopicARN), "share-image.json", f.replace())
	if alerts, err := sink.Drain(context.Background()); err != nil || len(alerts) != 0 {
		t.Errorf("told again: %d alerts (%v)", len(alerts), err)
	}
}
