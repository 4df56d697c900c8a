package stack

import (
	"fmt"
	"reflect"
	"testing"
)

// TestMemberRulesMatchCentral: member accounts forward exactly what the central rules route.
func TestMemberRulesMatchCentral(t *testing.T) {
	t.Parallel()
	central, member := loadTemplate(t, "template.yaml"), loadTemplate(t, "member-account.yaml")
	cRules, mRules := central.triggerRules(t), member.triggerRules(t)
	if !reflect.DeepEqual(cRules, mRules) {
		t.Fatalf("member rules %v, central rules %v: want the same set", mRules, cRules)
	}
	for _, id := range cRules {
		t.Run(id, func(t *testing.T) {
			c := central.resource(t, id, "AWS::Events::Rule")
			m := member.resource(t, id, "AWS::Events::Rule")
			if !reflect.DeepEqual(c["EventPattern"], m["EventPattern"]) {
				t.Errorf("patterns differ:\ncentral %s\nmember  %s", mustJSON(t, c["EventPattern"]), mustJSON(t, m["EventPattern"]))
			}
			// A day of retries, then the member account's dead-letter queue: nothing is dropped.
			want := []any{map[string]any{
				"Id":               "CentralBus",
				"Arn":              map[string]any{"Ref": "CentralEventBusArn"},
				"RoleArn":          map[string]any{"Fn::GetAtt": []any{"ForwardRole", "Arn"}},
				"DeadLetterConfig": map[string]any{"Arn": map[string]any{"Fn::GetAtt": []any{"ForwardDeadLetterQueue", "Arn"}}},
				"RetryPolicy":      map[string]any{"MaximumEventAgeInSeconds": float64(86400), "MaximumRetryAttempts": float64(185)},
			}}
			if !reflect.DeepEqual(m["Targets"], want) {
				t.Errorf("member targets = %s, want %s", mustJSON(t, m["Targets"]), mustJSON(t, want))
			}
		})
	}
}

// evalCondition evaluates a CloudFormation condition made of Fn::Equals/And/Or/Not, Condition
// and Ref (to parameters and pseudo parameters given in refs).
func evalCondition(t *testing.T, conds map[string]any, expr any, refs map[string]string) bool {
	t.Helper()
	value := func(v any) string {
		if name, ok := dig(v, "Ref").(string); ok {
			val, ok := refs[name]
			if !ok {
				t.Fatalf("condition refers to %s, not given", name)
			}
			return val
		}
		s, ok := v.(string)
		if !ok {
			t.Fatalf("unsupported condition value %s", mustJSON(t, v))
		}
		return s
	}
	m, _ := expr.(map[string]any)
	switch {
	case m["Condition"] != nil:
		return evalCondition(t, conds, conds[fmt.Sprint(m["Condition"])], refs)
	case m["Fn::Equals"] != nil:
		args, _ := m["Fn::Equals"].([]any)
		return len(args) == 2 && value(args[0]) == value(args[1])
	case m["Fn::Not"] != nil:
		args, _ := m["Fn::Not"].([]any)
		return len(args) == 1 && !evalCondition(t, conds, args[0], refs)
	case m["Fn::And"] != nil, m["Fn::Or"] != nil:
		isAnd := m["Fn::And"] != nil
		args, _ := m["Fn::And"].([]any)
		if !isAnd {
			args, _ = m["Fn::Or"].([]any)
		}
		for _, a := range args {
			if v := evalCondition(t, conds, a, refs); v != isAnd {
				return v
			}
		}
		return isAnd
	}
	t.Fatalf("unsupported condition %s", mustJSON(t, expr))
	return false
}

// TestMemberStackInstances: what one StackSet creates in each kind of account and region. One
// role per member account (IAM is global), none in the central account, forwarding everywhere
// except where the central bus lives (that would loop), and never an empty stack.
func TestMemberStackInstances(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t, "member-account.yaml")
	conds, _ := tpl["Conditions"].(map[string]any)
	resources, _ := tpl["Resources"].(map[string]any)
	const central, member = "111122223333", "444455556666"
	cases := map[string]struct {
		account, region string
		role, forward   bool
	}{
		"member account, central region":  {account: member, region: "us-east-1", role: true, forward: true},
		"member account, other region":    {account: member, region: "eu-west-1", role: false, forward: true},
		"central account, central region": {account: central, region: "us-east-1", role: false, forward: false},
		"central account, other region":   {account: central, region: "eu-west-1", role: false, forward: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			refs := map[string]string{
				"AWS::AccountId": tc.account, "AWS::Region": tc.region,
				"CentralAccountId": central, "CentralRegion": "us-east-1",
			}
			created := map[string]bool{}
			for id, r := range resources {
				cond, ok := dig(r, "Condition").(string)
				created[id] = !ok || evalCondition(t, conds, conds[cond], refs)
			}
			if created["MemberRole"] != tc.role {
				t.Errorf("MemberRole created = %v, want %v", created["MemberRole"], tc.role)
			}
			for _, id := range tpl.resourcesOfType("AWS::Events::Rule") {
				if created[id] != tc.forward {
					t.Errorf("%s created = %v, want %v", id, created[id], tc.forward)
				}
			}
			for _, id := range []string{"ForwardRole", "ForwardDeadLetterQueue", "ForwardDeadLetterQueuePolicy", "ForwardingFailedAlarm", "ForwardDeadLetterAlarm"} {
				if created[id] != tc.forward {
					t.Errorf("%s created = %v, want %v", id, created[id], tc.forward)
				}
			}
			nonEmpty := false
			for _, c := range created {
				nonEmpty = nonEmpty || c
			}
			if !nonEmpty {
				t.Error("the stack would have no resources (CloudFormation refuses that)")
			}
		})
	}
}
