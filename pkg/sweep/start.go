package sweep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/rs/zerolog"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/trigger"
)

// Input is what the schedule hands the starter: its fixed Input names the sweep, and EventBridge
// Scheduler fills in when it was due (the context attribute <aws.scheduler.scheduled-time>:
// https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html),
// so that a retried start sends the same tasks again rather than a second sweep.
type Input struct {
	Sweep         string `json:"sweep"`
	ScheduledTime string `json:"scheduled_time"`
}

var sweepName = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// ParseInput reads the starter's payload. Anything but an object naming the sweep is refused: a
// schedule whose Input does not name it, or any other event, starts nothing.
func ParseInput(raw []byte) (Input, error) {
	var in Input
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Input{}, fmt.Errorf("sweep input: want {\"sweep\": NAME, \"scheduled_time\": TIME}: %w", err)
	}
	if len(in.Sweep) > 64 || !sweepName.MatchString(in.Sweep) {
		return Input{}, fmt.Errorf("sweep input: sweep %q: want 1 to 64 letters, digits, '.', '_' or '-'", in.Sweep)
	}
	if in.ScheduledTime != "" {
		if _, err := time.Parse(time.RFC3339, in.ScheduledTime); err != nil {
			return Input{}, fmt.Errorf("sweep input: scheduled_time %q: %w", in.ScheduledTime, err)
		}
	}
	return in, nil
}

// Config is the starter's configuration.
type Config struct {
	Layout   Layout // Self is learned when the starter runs
	QueueURL string // the sweep's own queue
}

// regionPattern is the form of a region name.
var regionPattern = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d{1,2}$`)

// ConfigFromEnv reads SWEEP_ACCOUNTS ("organization", or account IDs separated by commas),
// SWEEP_REGIONS (region names separated by commas; empty: every region enabled for each account)
// and SWEEP_QUEUE_URL.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	accounts := strings.TrimSpace(getenv("SWEEP_ACCOUNTS"))
	switch {
	case accounts == "":
		return Config{}, errors.New(`SWEEP_ACCOUNTS: not set (want "organization" or account IDs)`)
	case accounts == "organization":
		c.Layout.Organization = true
	default:
		for _, a := range splitList(accounts) {
			if !awsid.IsAccountID(a) {
				return Config{}, fmt.Errorf("SWEEP_ACCOUNTS: %q is not a 12-digit account ID", a)
			}
			c.Layout.Accounts = append(c.Layout.Accounts, a)
		}
	}
	regions, err := ParseRegions(getenv("SWEEP_REGIONS"))
	if err != nil {
		return Config{}, fmt.Errorf("SWEEP_REGIONS: %w", err)
	}
	c.Layout.Regions = regions
	if c.QueueURL = strings.TrimSpace(getenv("SWEEP_QUEUE_URL")); c.QueueURL == "" {
		return Config{}, errors.New("SWEEP_QUEUE_URL: not set")
	}
	return c, nil
}

// ParseRegions reads region names separated by commas or spaces.
func ParseRegions(s string) ([]string, error) {
	var out []string
	for _, r := range splitList(s) {
		if !regionPattern.MatchString(r) {
			return nil, fmt.Errorf("%q is not a region name", r)
		}
		out = append(out, r)
	}
	return out, nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
}

// SQS sends the tasks.
type SQS interface {
	SendMessageBatch(ctx context.Context, params *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)
}

// Starter starts sweeps: it lays out the accounts and regions and sends one task for each.
type Starter struct {
	Config Config
	Orgs   Organizations
	Acct   Account
	SQS    SQS
	// Self returns the account the starter runs in.
	Self func(ctx context.Context) (string, error)
	Log  zerolog.Logger
	Now  func() time.Time
}

// Started is what a start did.
type Started struct {
	SweepID string    `json:"sweep_id"`
	Tasks   int       `json:"tasks"`
	Skipped []Skipped `json:"skipped"`
	Notes   []string  `json:"notes"`
}

// Start lays out the sweep in and sends its tasks. It fails when any task could not be sent
// (a retried start sends them all again: a task sent twice is swept twice, which changes nothing).
func (s *Starter) Start(ctx context.Context, in Input) (Started, error) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	at := now().UTC()
	if in.ScheduledTime != "" {
		if t, err := time.Parse(time.RFC3339, in.ScheduledTime); err == nil {
			at = t.UTC()
		}
	}
	st := Started{SweepID: in.Sweep + "-" + at.Format(time.RFC3339), Skipped: []Skipped{}, Notes: []string{}}
	layout := s.Config.Layout
	self, err := s.Self(ctx)
	if err != nil {
		return st, fmt.Errorf("learn the starter's own account: %w", err)
	}
	layout.Self = self
	plan, err := Lay(ctx, s.Orgs, s.Acct, layout)
	if err != nil {
		return st, err
	}
	st.Skipped = append(st.Skipped, plan.Skipped...)
	st.Notes = append(st.Notes, plan.Notes...)
	var entries []sqstypes.SendMessageBatchRequestEntry
	for i, sc := range plan.Scopes {
		body, err := Task(st.SweepID, in.Sweep, sc, at)
		if err != nil {
			return st, err
		}
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body))})
	}
	for len(entries) > 0 {
		n := min(maxBatch, len(entries))
		if err := s.send(ctx, entries[:n]); err != nil {
			return st, err
		}
		st.Tasks += n
		entries = entries[n:]
	}
	s.Log.Info().Str("sweep_id", st.SweepID).Int("tasks", st.Tasks).Int("skipped", len(st.Skipped)).Strs("notes", st.Notes).Msg("sweep started")
	return st, nil
}

// maxBatch is SendMessageBatch's limit of messages per call.
const maxBatch = 10

// send sends one batch, resending the entries SQS failed (throttling, a transient fault) a few times.
func (s *Starter) send(ctx context.Context, entries []sqstypes.SendMessageBatchRequestEntry) error {
	pause := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := s.SQS.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(s.Config.QueueURL), Entries: entries})
		if err != nil {
			return fmt.Errorf("send sweep tasks to %s: %w", s.Config.QueueURL, err)
		}
		if len(out.Failed) == 0 {
			return nil
		}
		failed := map[string]bool{}
		var why []string
		for _, f := range out.Failed {
			failed[aws.ToString(f.Id)] = true
			why = append(why, aws.ToString(f.Code)+": "+aws.ToString(f.Message))
			if f.SenderFault {
				return fmt.Errorf("send sweep tasks: SQS refused a task: %s", strings.Join(why, "; "))
			}
		}
		if attempt == 3 {
			return fmt.Errorf("send sweep tasks: %d not sent after %d attempts: %s", len(failed), attempt, strings.Join(why, "; "))
		}
		var retry []sqstypes.SendMessageBatchRequestEntry
		for _, e := range entries {
			if failed[aws.ToString(e.Id)] {
				retry = append(retry, e)
			}
		}
		entries = retry
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// task is a sweep task's message: an EventBridge-shaped envelope the remediator decodes as the
// sweep-task trigger.
type task struct {
	Version    string     `json:"version"`
	ID         string     `json:"id"`
	DetailType string     `json:"detail-type"`
	Source     string     `json:"source"`
	Account    string     `json:"account"`
	Time       string     `json:"time"`
	Region     string     `json:"region"`
	Resources  []string   `json:"resources"`
	Detail     taskDetail `json:"detail"`
}

type taskDetail struct {
	Sweep   string `json:"sweep"`
	SweepID string `json:"sweep_id"`
	Account string `json:"account"`
	Region  string `json:"region"`
}

// Task is the message of one scope of a sweep. Its ID (the sweep's ID and the scope) stays the
// same when the start is retried.
func Task(sweepID, name string, sc Scope, at time.Time) ([]byte, error) {
	b, err := json.Marshal(task{Version: "0", ID: sweepID + "/" + sc.Account + "/" + sc.Region, DetailType: trigger.DetailTypeSweepTask,
		Source: trigger.SourceSweep, Account: sc.Account, Time: at.UTC().Format(time.RFC3339), Region: sc.Region, Resources: []string{},
		Detail: taskDetail{Sweep: name, SweepID: sweepID, Account: sc.Account, Region: sc.Region}})
	if err != nil {
		return nil, fmt.Errorf("encode sweep task %s: %w", sc, err)
	}
	return b, nil
}

func (sc Scope) String() string { return sc.Account + "/" + sc.Region }

// STS tells who the credentials belong to.
type STS interface {
	GetCallerIdentity(ctx context.Context, params *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// SelfFromSTS returns a Starter.Self that asks STS once and remembers the answer.
func SelfFromSTS(cl STS) func(context.Context) (string, error) {
	var mu sync.Mutex
	var self string
	return func(ctx context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		if self != "" {
			return self, nil
		}
		out, err := cl.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil {
			return "", fmt.Errorf("get caller identity: %w", err)
		}
		self = aws.ToString(out.Account)
		return self, nil
	}
}
