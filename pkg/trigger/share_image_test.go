package trigger

import (
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

func TestDiagnoseShareImage(t *testing.T) {
	base := Trigger{Kind: ShareImage, Account: "111122223333", Region: "us-east-1", ImageID: "ami-1"}
	own := ImageCheck{Viewer: "111122223333", Region: "us-east-1", ImageID: "ami-1", WithShares: true, ViewerOwns: true}
	with := func(f func(*Trigger)) Trigger { tr := base; f(&tr); return tr }
	runDiagnoseCases(t, ShareImage, map[string]diagnoseCase{
		"accounts: the shares are read from EC2, as the owner": {
			trig: with(func(tr *Trigger) { tr.ShareUserIDs = []string{"444455556666"} }), calls: []string{"CheckImage ami-1"}, checks: []ImageCheck{own},
		},
		"everyone, an organization and a bad account ID are findings, never targets": {
			trig: with(func(tr *Trigger) {
				tr.SharePublic, tr.ShareOrgARNs, tr.ShareUserIDs = true, []string{"arn:aws:organizations::111122223333:organization/o-1"}, []string{"4444", "444455556666"}
			}),
			calls: []string{"CheckImage ami-1"}, checks: []ImageCheck{own},
			findings: []report.Code{report.PublicImage, report.UntrustedAccount, report.UntrustedAccount},
		},
	})
}
