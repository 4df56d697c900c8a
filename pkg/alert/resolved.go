package alert

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/report"
)

// Resolved is a finding the estate store no longer finds: a complete sweep of its account and
// region, or a re-check of its image, saw it gone.
type Resolved struct {
	Finding report.Finding
	// The image it was about, and the image's owner and region.
	ImageID, Owner, Region string
}

// maxResolvedLines bounds the list; the count is always told.
const maxResolvedLines = 200

// ComposeResolved builds the alert that tells operators findings are resolved: nothing to do,
// severity info. It returns false for none.
func ComposeResolved(resolved []Resolved, in Context) (Message, bool) {
	if len(resolved) == 0 {
		return Message{}, false
	}
	sort.Slice(resolved, func(i, j int) bool {
		a, b := resolved[i], resolved[j]
		if a.Owner+a.Region+a.ImageID != b.Owner+b.Region+b.ImageID {
			return a.Owner+a.Region+a.ImageID < b.Owner+b.Region+b.ImageID
		}
		return string(a.Finding.Code)+a.Finding.Account < string(b.Finding.Code)+b.Finding.Account
	})
	var accounts, codes distinct
	for _, r := range resolved {
		for _, acc := range []string{r.Owner, r.Finding.Account} {
			if awsid.IsAccountID(acc) {
				accounts.add(acc)
			}
		}
		if validCode(r.Finding.Code) {
			codes.add(string(r.Finding.Code))
		}
	}
	what := "finding"
	if len(resolved) > 1 {
		what = "findings"
	}
	where := ""
	if len(accounts.list) == 1 {
		where = " in " + accounts.list[0]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "RESOLVED: %d %s no longer found. Nothing to do.\n\n", len(resolved), what)
	b.WriteString("A complete sweep of the image's account and region, or a new check of the image, no longer finds these:\n")
	for i, r := range resolved {
		if i == maxResolvedLines {
			fmt.Fprintf(&b, "- ... and %d more\n", len(resolved)-i)
			break
		}
		f := r.Finding
		fmt.Fprintf(&b, "- %s for account %s, image %s (%s/%s), key %s\n", orNone(cleanValue(string(f.Code))), orNone(cleanValue(f.Account)),
			orNone(cleanValue(r.ImageID)), orNone(cleanValue(r.Owner)), orNone(cleanValue(r.Region)), orNone(cleanValue(f.KeyARN)))
	}
	if in.RequestID != "" {
		fmt.Fprintf(&b, "\nRequest %s (the remediator's logs have the checks).\n", cleanValue(in.RequestID))
	}
	sort.Strings(accounts.list)
	sort.Strings(codes.list)
	rawAccounts, _ := json.Marshal(accounts.list) // a []string always marshals
	rawCodes, _ := json.Marshal(codes.list)
	m := Message{
		Subject: asciiSubject(fmt.Sprintf("ami-kms-remediator: RESOLVED %d %s%s", len(resolved), what, where), MaxSubjectBytes),
		Body:    b.String(),
		Attributes: map[string]Attribute{
			AttrSeverity:     {DataType: "String", Value: SeverityInfo},
			AttrFindingCodes: {DataType: "String.Array", Value: string(rawCodes)},
		},
	}
	if len(accounts.list) > 0 {
		m.Attributes[AttrAccount] = Attribute{DataType: "String.Array", Value: string(rawAccounts)}
	}
	return m, true
}
