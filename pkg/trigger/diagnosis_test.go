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
	images     map[string]ImageInfo // by image ID; others: imageErr, or an available image
	imageErr   error
	shared     []string
	sharedErr  error
	instance   Instance
	launcher   *Principal
	group      GroupInfo
	launchErr  map[string]error // CheckLaunch's answer, by template ID (or image ID)
	transient  bool             // what Transient answers
	owned      []string
	ownedErr   error
	stack      MemberStack
	stackErr   error
	usingKey   []ImageRef
	remediator bool // what IsRemediator answers

	calls     []string // every request, in order
	checks    []ImageCheck
	launches  []LaunchCheck
	findings  []report.Finding
	notes     []string
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

func (f *fakeDiagnosis) CheckLaunch(_ context.Context, l LaunchCheck) error {
	what := l.ImageID
	if l.Template != nil {
		what = l.Template.ID
	}
	f.ask("CheckLaunch %s", what)
	f.launches = append(f.launches, l)
	return f.launchErr[what]
}

func (f *fakeDiagnosis) Image(_ context.Context, account, region, imageID string) (ImageInfo, error) {
	f.ask("Image %s %s %s", account, region, imageID)
	if img, ok := f.images[imageID]; ok {
		return img, nil
	}
	return ImageInfo{State: "available"}, f.imageErr
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

func (f *fakeDiagnosis) Group(_ context.Context, account, region, name string) (GroupInfo, error) {
	f.ask("Group %s %s %s", account, region, name)
	return f.group, nil
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
func (f *fakeDiagnosis) Note(n string)                 { f.notes = append(f.notes, n) }
func (f *fakeDiagnosis) Ignore(reason string)          { f.ignored = reason }
func (f *fakeDiagnosis) Transient(error) bool          { return f.transient }

// diagnoseCase runs one kind's Diagnose on a trigger against a fake and checks what it asked.
type diagnoseCase struct {
	trig      Trigger
	fake      fakeDiagnosis
	wantErr   string        // substring; "" = no error
	calls     []string      // the requests, in order
	checks    []ImageCheck  // the images checked
	launches  []LaunchCheck // the launches checked
	notes     []string      // substrings of the notes, in order
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
			if !reflect.DeepEqual(f.launches, tc.launches) {
				t.Errorf("launch checks:\n %+v\nwant\n %+v", f.launches, tc.launches)
			}
			if len(f.notes) != len(tc.notes) {
				t.Errorf("notes %q, want %q", f.notes, tc.notes)
			}
			for i := range min(len(f.notes), len(tc.notes)) {
				if !strings.Contains(f.notes[i], tc.notes[i]) {
					t.Errorf("note %d %q, want %q", i, f.notes[i], tc.notes[i])
				}
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
