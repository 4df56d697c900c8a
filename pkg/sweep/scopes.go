// Package sweep lays out a sweep of the estate: which accounts and regions it covers (the
// organization's accounts or a list, each in the enabled ones of the configured regions), and the
// task message each account and region gets. The scheduled starter (functions/sweeper) sends the
// tasks to the sweep's queue; `amikms audit` runs them itself.
package sweep

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/account"
	accounttypes "github.com/aws/aws-sdk-go-v2/service/account/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsapi"
	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// Organizations lists the organization's accounts.
type Organizations interface {
	ListAccounts(ctx context.Context, params *organizations.ListAccountsInput, optFns ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error)
}

// Account lists an account's regions with their opt-in status.
type Account interface {
	ListRegions(ctx context.Context, params *account.ListRegionsInput, optFns ...func(*account.Options)) (*account.ListRegionsOutput, error)
}

// Scope is one account in one region.
type Scope struct {
	Account, Region string
}

// Skipped is a scope a sweep leaves out, and why.
type Skipped struct {
	Scope
	Reason string
}

// Plan is what a sweep covers.
type Plan struct {
	Scopes  []Scope
	Skipped []Skipped
	// Notes are what the plan could not check (an account whose regions could not be listed is
	// swept in every region asked for).
	Notes []string
}

// Layout says what to sweep: the organization's accounts (Organization) or Accounts, in Regions
// (empty: every region enabled for each account).
type Layout struct {
	Organization bool
	Accounts     []string
	Regions      []string
	// Self is the account the credentials belong to: account:ListRegions names no AccountId for it
	// (the management account cannot name its own).
	Self string
}

// Lay lays out the sweep. organizations:ListAccounts works only from the organization's
// management account or a delegated administrator
// (https://docs.aws.amazon.com/organizations/latest/APIReference/API_ListAccounts.html); only
// ACTIVE accounts are swept. account:ListRegions tells each account's enabled regions: for
// another account it needs the management account or a delegated administrator for account
// management (https://docs.aws.amazon.com/accounts/latest/reference/API_ListRegions.html); a
// disabled or not opted-in region is skipped, not an error. When an account's regions cannot be
// listed, the regions asked for are swept anyway (a region not enabled then fails its task).
func Lay(ctx context.Context, orgs Organizations, acct Account, l Layout) (Plan, error) {
	var plan Plan
	accounts := l.Accounts
	if l.Organization {
		var err error
		if accounts, err = organizationAccounts(ctx, orgs); err != nil {
			return Plan{}, err
		}
	}
	accounts = distinctAccounts(accounts)
	if len(accounts) == 0 {
		return Plan{}, fmt.Errorf("no account to sweep")
	}
	othersListable := true // false once ListRegions was refused for another account: it will be for all
	for _, a := range accounts {
		var enabled []string
		err := fmt.Errorf("account:ListRegions was refused for another account before")
		if a == l.Self || othersListable {
			enabled, err = enabledRegions(ctx, acct, a, a == l.Self)
			if err != nil && a != l.Self && awsapi.Classify(err) == awsapi.ClassAccessDenied {
				othersListable = false
			}
		}
		if err != nil {
			if len(l.Regions) == 0 {
				return Plan{}, fmt.Errorf("list the regions of %s (give the regions to sweep, or run where account:ListRegions works for it): %w", a, err)
			}
			plan.Notes = append(plan.Notes, fmt.Sprintf("the regions of %s could not be listed (%v): sweeping %v as asked", a, err, l.Regions))
			for _, r := range l.Regions {
				plan.Scopes = append(plan.Scopes, Scope{a, r})
			}
			continue
		}
		regions := l.Regions
		if len(regions) == 0 {
			regions = enabled
		}
		for _, r := range regions {
			if slices.Contains(enabled, r) {
				plan.Scopes = append(plan.Scopes, Scope{a, r})
			} else {
				plan.Skipped = append(plan.Skipped, Skipped{Scope{a, r}, "region not enabled for the account (disabled, or an opt-in region not opted in)"})
			}
		}
	}
	return plan, nil
}

func organizationAccounts(ctx context.Context, orgs Organizations) ([]string, error) {
	var out []string
	p := organizations.NewListAccountsPaginator(orgs, &organizations.ListAccountsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			if awsapi.Classify(err) == awsapi.ClassAccessDenied {
				return nil, fmt.Errorf("list the organization's accounts: %w (organizations:ListAccounts works only from the management account or a delegated administrator)", err)
			}
			return nil, fmt.Errorf("list the organization's accounts: %w", err)
		}
		for _, a := range page.Accounts {
			if a.State == orgtypes.AccountStateActive || a.State == "" && a.Status == orgtypes.AccountStatusActive {
				out = append(out, aws.ToString(a.Id))
			}
		}
	}
	return out, nil
}

// enabledRegions lists the regions enabled for account, sorted.
func enabledRegions(ctx context.Context, acct Account, accountID string, self bool) ([]string, error) {
	in := &account.ListRegionsInput{RegionOptStatusContains: []accounttypes.RegionOptStatus{
		accounttypes.RegionOptStatusEnabled, accounttypes.RegionOptStatusEnabledByDefault}}
	if !self {
		in.AccountId = aws.String(accountID)
	}
	var out []string
	p := account.NewListRegionsPaginator(acct, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range page.Regions {
			out = append(out, aws.ToString(r.RegionName))
		}
	}
	sort.Strings(out)
	return out, nil
}

// distinctAccounts keeps 12-digit account IDs, each once, sorted.
func distinctAccounts(in []string) []string {
	var out []string
	for _, a := range in {
		if awsid.IsAccountID(a) && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	sort.Strings(out)
	return out
}
