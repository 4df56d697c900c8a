package trigger

import (
	"errors"
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

func TestDiagnoseSweepTask(t *testing.T) {
	task := Trigger{Kind: SweepTask, EventID: "estate-1/111122223333/eu-west-1", Source: SourceSweep, DetailType: DetailTypeSweepTask,
		Account: "111122223333", Region: "eu-west-1"}
	child := func(image string) Trigger {
		return Trigger{Kind: EstateImage, EventID: task.EventID + "/" + image, Source: SourceSweep, DetailType: DetailTypeSweepTask,
			Account: "111122223333", Region: "eu-west-1", ImageID: image}
	}
	listed := []string{"MemberStack 111122223333 eu-west-1", "OwnedImages 111122223333 eu-west-1"}
	runDiagnoseCases(t, SweepTask, map[string]diagnoseCase{
		"every owned encrypted image is its own record, and the scope is swept": {
			trig: task, fake: fakeDiagnosis{stack: MemberStack{Role: true, Rules: true}, owned: []string{"ami-1", "ami-2"}},
			calls: listed, spawned: []Trigger{child("ami-1"), child("ami-2")}, sweeps: "111122223333/eu-west-1",
		},
		"no image: swept all the same (what was open there is resolved)": {
			trig: task, fake: fakeDiagnosis{stack: MemberStack{Role: true, Rules: true}}, calls: listed, sweeps: "111122223333/eu-west-1",
		},
		"no forwarding rules in the region: a finding, and swept": {
			trig: task, fake: fakeDiagnosis{stack: MemberStack{Role: true}, owned: []string{"ami-1"}},
			calls: listed, findings: []report.Code{report.MemberStackMissing}, spawned: []Trigger{child("ami-1")}, sweeps: "111122223333/eu-west-1",
		},
		"no member role: a finding, nothing read, not swept": {
			trig: task, fake: fakeDiagnosis{}, calls: listed[:1], findings: []report.Code{report.MemberStackMissing},
		},
		"listing fails: the record's error, not swept": {
			trig: task, fake: fakeDiagnosis{stack: MemberStack{Role: true, Rules: true}, owned: []string{"ami-1"}, ownedErr: errTransient},
			calls: listed, spawned: []Trigger{child("ami-1")}, wantErr: "throttled",
		},
		"the member stack cannot be checked: the record's error": {
			trig: task, fake: fakeDiagnosis{stackErr: errors.New("AccessDenied")}, calls: listed[:1], wantErr: "AccessDenied",
		},
	})
}

func TestDiagnoseEstateImage(t *testing.T) {
	runDiagnoseCases(t, EstateImage, map[string]diagnoseCase{
		"as share-image, and for the owner too": {
			trig:   Trigger{Kind: EstateImage, Account: "111122223333", Region: "us-east-1", ImageID: "ami-1"},
			calls:  []string{"CheckImage ami-1"},
			checks: []ImageCheck{{Viewer: "111122223333", Region: "us-east-1", ImageID: "ami-1", Targets: []string{"111122223333"}, WithShares: true, ViewerOwns: true}},
		},
	})
}

func TestDecodeSweepTask(t *testing.T) {
	body := func(envAccount, detail string) []byte {
		return []byte(`{"version":"0","id":"t1","detail-type":"Sweep Task","source":"ami-kms-remediator","account":"` + envAccount +
			`","region":"us-east-1","detail":` + detail + `}`)
	}
	tr := decodeOne(t, body("444455556666", `{"sweep":"estate","account":"444455556666","region":"us-east-1"}`))
	if tr.Kind != SweepTask || tr.Account != "444455556666" || tr.Region != "us-east-1" || tr.EventID != "t1" {
		t.Errorf("decoded %+v", tr)
	}
	for name, tc := range map[string]struct{ envAccount, detail, err string }{
		"no sweep":               {"444455556666", `{"account":"444455556666","region":"us-east-1"}`, "detail.sweep: missing"},
		"bad account":            {"", `{"sweep":"estate","account":" 444455556666","region":"us-east-1"}`, "not a 12-digit account ID"},
		"no region":              {"444455556666", `{"sweep":"estate","account":"444455556666"}`, "detail.region: missing"},
		"envelope disagrees":     {"111122223333", `{"sweep":"estate","account":"444455556666","region":"us-east-1"}`, "the envelope names"},
		"account of wrong type":  {"444455556666", `{"sweep":"estate","account":444455556666,"region":"us-east-1"}`, "account"},
		"detail a string, as {}": {"444455556666", `"{}"`, "detail"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(body(tc.envAccount, tc.detail))
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Decode: %v, want an error containing %q", err, tc.err)
			}
		})
	}
}
