package localaws

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
)

// moto has no account:ListRegions. The filler answers it (Account Management API Reference,
// ListRegions: POST /listRegions, JSON) from a model of the commercial regions: the regions
// enabled by default are ENABLED_BY_DEFAULT in every account, opt-in regions are DISABLED until
// Filler.EnableRegion opts an account in. AccountId names another account only when the caller
// is the account Filler.SetAccountManager names (the management account, or a delegated
// administrator for account management), and never the caller's own; otherwise AWS answers
// AccessDeniedException (ValidationException for its own).

// defaultRegions are enabled in every account; optInRegions must be enabled first.
var (
	defaultRegions = []string{"ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1", "ap-southeast-1", "ap-southeast-2",
		"ca-central-1", "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1",
		"us-east-1", "us-east-2", "us-west-1", "us-west-2"}
	optInRegions = []string{"af-south-1", "ap-east-1", "ap-south-2", "ap-southeast-3", "ap-southeast-4", "ca-west-1",
		"eu-central-2", "eu-south-1", "eu-south-2", "il-central-1", "me-central-1", "me-south-1"}
)

// EnableRegion opts account in to an opt-in region (account:ListRegions reports it ENABLED).
func (f *Filler) EnableRegion(account, region string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.optedIn == nil {
		f.optedIn = map[string]bool{}
	}
	f.optedIn[account+"/"+region] = true
}

// SetAccountManager makes account the one whose callers may list other accounts' regions.
func (f *Filler) SetAccountManager(account string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accountManager = account
}

func isListRegions(c *call, r *http.Request) bool {
	return c.service == "account" && r.URL.Path == "/listRegions"
}

func (fi *Filler) listRegions(w http.ResponseWriter, r *http.Request, c *call) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "ValidationException", "cannot read the request")
		return
	}
	var in struct {
		AccountId               *string
		MaxResults              int
		NextToken               string
		RegionOptStatusContains []string
	}
	if len(body) > 0 && json.Unmarshal(body, &in) != nil {
		writeJSONError(w, http.StatusBadRequest, "ValidationException", "the request is not JSON")
		return
	}
	account := c.account
	fi.mu.Lock()
	manager := fi.accountManager
	fi.mu.Unlock()
	if in.AccountId != nil {
		switch {
		case *in.AccountId == c.account:
			writeJSONError(w, http.StatusBadRequest, "ValidationException", "the caller's own account must be listed without AccountId")
			return
		case manager == "" || c.account != manager:
			writeJSONError(w, http.StatusForbidden, "AccessDeniedException", "only the management account or a delegated administrator may name another account")
			return
		}
		account = *in.AccountId
	}
	type region struct {
		RegionName      string
		RegionOptStatus string
	}
	var all []region
	fi.mu.Lock()
	for _, name := range defaultRegions {
		all = append(all, region{name, "ENABLED_BY_DEFAULT"})
	}
	for _, name := range optInRegions {
		status := "DISABLED"
		if fi.optedIn[account+"/"+name] {
			status = "ENABLED"
		}
		all = append(all, region{name, status})
	}
	fi.mu.Unlock()
	var matching []region
	for _, reg := range all {
		if len(in.RegionOptStatusContains) == 0 || slices.Contains(in.RegionOptStatusContains, reg.RegionOptStatus) {
			matching = append(matching, reg)
		}
	}
	slices.SortFunc(matching, func(a, b region) int {
		if a.RegionName < b.RegionName {
			return -1
		}
		return 1
	})
	start, _ := strconv.Atoi(in.NextToken)
	limit := in.MaxResults
	if limit <= 0 || limit > 50 {
		limit = 50
	}
	start = min(max(start, 0), len(matching))
	end := min(start+limit, len(matching))
	out := map[string]any{"Regions": matching[start:end]}
	if end < len(matching) {
		out["NextToken"] = strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
