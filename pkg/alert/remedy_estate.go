package alert

import (
	"fmt"
	"strings"
)

// memberStackRemedy renders one item per account whose member stack is missing somewhere.
var memberStackRemedy = &remedy{render: (*analysis).memberStackRemedies}

func (a *analysis) memberStackRemedies(_ detail, open []item) []string {
	var accounts distinct
	regions := map[string]*distinct{}
	for _, it := range open {
		accounts.add(it.f.Account)
		if regions[it.f.Account] == nil {
			regions[it.f.Account] = &distinct{}
		}
		regions[it.f.Account].add(cleanValue(a.regionOf("", it.rec)))
	}
	var out []string
	for _, acc := range accounts.list {
		var b strings.Builder
		rs := regions[acc].list
		fmt.Fprintf(&b, "Account %s lacks the member stack in %s (member-stack-missing): without its role the remediator cannot read or fix anything there, without its rules it sees none of that region's events.\n",
			orNone(cleanValue(acc)), strings.Join(rs, ", "))
		fmt.Fprintf(&b, "%sDeploy member-account.yaml there: a stack instance of the member StackSet (its instance in the central region creates the role).\n", textIndent)
		args := append([]string{"aws cloudformation create-stack-instances --stack-set-name ami-kms-remediator-member --accounts", shellArg(acc), "--regions"}, shellArgs(rs)...)
		b.WriteString(command(args...))
		b.WriteString(messages(openOf(open, acc)))
		out = append(out, b.String())
	}
	return out
}

func shellArgs(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = shellArg(s)
	}
	return out
}

// openOf keeps the items about account.
func openOf(items []item, account string) []item {
	var out []item
	for _, it := range items {
		if it.f.Account == account {
			out = append(out, it)
		}
	}
	return out
}
