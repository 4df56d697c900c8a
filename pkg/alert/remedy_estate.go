package alert

import (
	"fmt"
	"strings"
)

// memberStackRemedy: one todo per account whose member stack is missing somewhere.
var memberStackRemedy = &remedy{render: (*analysis).memberStackTodos}

func (a *analysis) memberStackTodos(_ detail, open []item) []todo {
	var accounts distinct
	regions := map[string]*distinct{}
	for _, it := range open {
		accounts.add(it.f.Account)
		if regions[it.f.Account] == nil {
			regions[it.f.Account] = &distinct{}
		}
		regions[it.f.Account].add(cleanValue(a.regionOf("", it.rec)))
	}
	var out []todo
	for _, acc := range accounts.list {
		rs := regions[acc].list
		var w todoWriter
		w.say("Deploy member-account.yaml there: a stack instance of the member StackSet (its instance in the central region creates the role):")
		args := []string{"aws cloudformation create-stack-instances --stack-set-name ami-kms-remediator-member --accounts", shellArg(acc), "--regions"}
		for _, r := range rs {
			args = append(args, shellArg(r))
		}
		w.run(args...)
		out = append(out, todo{
			title: fmt.Sprintf("Account %s lacks the member stack in %s (member-stack-missing).", orNone(cleanValue(acc)), strings.Join(rs, ", ")),
			why:   "without its role the remediator can read and fix nothing there, and without its rules it hears of nothing that happens there",
			where: "in the organization's management account (or the StackSet's delegated administrator)",
			body:  w.String(),
		})
	}
	return out
}
