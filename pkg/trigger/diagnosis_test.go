package trigger

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// fakeDiagnosis answers a kind's Diagnose from its fields and records what it was asked.
type fakeDiagnosis struct {
	state      string
	shared     []string
	sharedErr  error
	instance   Instance
	launcher   *Principal
	groupImage string
	transient  bool // what Transient answers
	owned      []string
	ownedErr   error
	stack      MemberStack
	stackErr   error
	usingKey   []ImageRef
	remediator bool // what IsRemediator answers

	calls     []string // every request, in order
	checks    []ImageCheck
	findings  []report.Finding
	ignored   string
	image     string
	principal *Principal
	spawned   []Trigger
	sweeps    string
}

func (f *fakeDiagnosis) ask(format string, args ...any) {
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeDiagnosis) CheckImage(_ context.Context, c ImageCheck) error {
	f.ask("CheckImage %s", c.ImageID)
	f.checks = append(f.checks, c)
	return nil
}

func (f *fakeDiagnosis) CheckRequestedKey(_ context.Context, keyID, account, region string, targets []string) error {
	f.ask("CheckRequestedKey %s %s %s %v", keyID, account, region, targets)
	return nil
}

func (f *fakeDiagnosis) ImageState(_ context.Context, account, region, imageID string) (string, error) {
	f.ask("ImageState %s %s %s", account, region, imageID)
	return f.state, nil
}

func (f *fakeDiagnosis) SharedWith(_ context.Context, owner, region, imageID string) ([]string, error) {
	f.ask("SharedWith %s %s %s", owner, region, imageID)
	return f.shared, f.sharedErr
}

func (f *fakeDiagnosis) Instance(_ context.Context, account, region, instanceID string) (Instance, error) {
	f.ask("Instance %s %s %s", account, region, instanceID)
	return f.instance, nil
}

func (f *fakeDiagnosis) Launcher(_ context.Context, account, region, instanceID string) (*Principal, error) {
	f.ask("Launcher %s %s %s", account, region, instanceID)
	return f.launcher, nil
}

func (f *fakeDiagnosis) GroupImage(_ context.Context, account, region, group string) (string, error) {
	f.ask("GroupImage %s %s %s", account, region, group)
	return f.groupImage, nil
}

func (f *fakeDiagnosis) OwnedImages(_ context.Context, account, region string, each func(string)) error {
	f.ask("OwnedImages %s %s", account, region)
	for _, id := range f.owned {
		each(id)
	}
	return f.ownedErr
}

func (f *fakeDiagnosis) MemberStack(_ context.Context, account, region string) (MemberStack, error) {
	f.ask("MemberStack %s %s", account, region)
	return f.stack, f.stackErr
}

func (f *fakeDiagnosis) ImagesUsingKey(_ context.Context, keyARN string) ([]ImageRef, error) {
	f.ask("ImagesUsingKey %s", keyARN)
	return f.usingKey, nil
}

func (f *fakeDiagnosis) IsRemediator(_ context.Context, p *Principal) (bool, error) {
	f.ask("IsRemediator %s", p.ARN)
	return f.remediator, nil
}

func (f *fakeDiagnosis) Spawn(t Trigger)               { f.spawned = append(f.spawned, t) }
func (f *fakeDiagnosis) Sweeps(account, region string) { f.sweeps = account + "/" + region }
func (f *fakeDiagnosis) SetImage(imageID string)       { f.image = imageID }
func (f *fakeDiagnosis) SetPrincipal(p *Principal)     { f.principal = p }
func (f *fakeDiagnosis) AddFinding(x report.Finding)   { f.findings = append(f.findings, x) }
func (f *fakeDiagnosis) Ignore(reason string)          { f.ignored = reason }
func (f *fakeDiagnosis) Transient(error) bool          { return f.transient }

// diagnoseCase runs one kind's Diagnose on a trigger against a fake and checks what it asked.
type diagnoseCase struct {
	trig      Trigger
	fake      fakeDiagnosis
	wantErr   string        // substring; "" = no error
	calls     []string      // the requests, in order
	checks    []ImageCheck  // the images checked
	ignored   string        // substring of the ignore reason; "" = not ignored
	image     string        // SetImage
	principal *Principal    // SetPrincipal
	findings  []report.Code // finding codes, in order
	spawned   []Trigger     // the records spawned, in order
	sweeps    string        // "account/region" the record says it sweeps
}

func runDiagnoseCases(t *testing.T, kind Kind, tests map[string]diagnoseCase) {
	t.Helper()
	d, ok := Lookup(kind)
	if !ok {
		t.Fatalf("kind %s is not registered", kind)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			f := tc.fake
			err := d.Diagnose(context.Background(), &f, tc.trig)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Diagnose: %v, want error %q", err, tc.wantErr)
			}
			if !reflect.DeepEqual(f.calls, tc.calls) {
				t.Errorf("requests:\n %q\nwant\n %q", f.calls, tc.calls)
			}
			if !reflect.DeepEqual(f.checks, tc.checks) {
				t.Errorf("image checks:\n %+v\nwant\n %+v", f.checks, tc.checks)
			}
			if (tc.ignored == "") != (f.ignored == "") || !strings.Contains(f.ignored, tc.ignored) {
				t.Errorf("ignored %q, want %q", f.ignored, tc.ignored)
			}
			if f.image != tc.image || !reflect.DeepEqual(f.principal, tc.principal) {
				t.Errorf("set image %q principal %+v, want %q %+v", f.image, f.principal, tc.image, tc.principal)
			}
			var codes []report.Code
			for _, x := range f.findings {
				codes = append(codes, x.Code)
			}
			if !reflect.DeepEqual(codes, tc.findings) {
				t.Errorf("findings %q, want %q", codes, tc.findings)
			}
			if !reflect.DeepEqual(f.spawned, tc.spawned) {
				t.Errorf("spawned:\n %+v\nwant\n %+v", f.spawned, tc.spawned)
			}
			if f.sweeps != tc.sweeps {
				t.Errorf("sweeps %q, want %q", f.sweeps, tc.sweeps)
			}
		})
	}
}

var errTransient = errors.New("throttled")

// launchCheck is the image check of a launch by account a.
func launchCheck(a, region, image string) ImageCheck {
	return ImageCheck{Viewer: a, Region: region, ImageID: image, Targets: []string{a}}
}
