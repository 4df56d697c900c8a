package localaws

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// moto's sts:AssumeRole never fails: "the role does not need to exist". On AWS, assuming a role
// that does not exist (a member account without the member stack) is refused with AccessDenied
// ("... is not authorized to perform: sts:AssumeRole on resource ..."). With
// Filler.RequireExistingRoles the filler answers so when moto's IAM has no such role in the
// role's account; otherwise AssumeRole goes to moto as before.

// RequireExistingRoles turns the refusal of AssumeRole for missing roles on or off.
func (f *Filler) RequireExistingRoles(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requireRoles = on
}

func (fi *Filler) refusesAssumeRole(ctx context.Context, w http.ResponseWriter, c *call) bool {
	if c.service != "sts" || c.action != "AssumeRole" {
		return false
	}
	fi.mu.Lock()
	on := fi.requireRoles
	fi.mu.Unlock()
	if !on {
		return false
	}
	roleARN := c.params.Get("RoleArn")
	account := arnAccount(roleARN)
	parts := splitARN(roleARN)
	if account == "" || !strings.HasPrefix(parts[5], "role/") {
		return false // moto answers malformed ARNs itself
	}
	status, _, err := fi.queryRaw(ctx, "iam", account, defaultRegion, url.Values{
		"Action": {"GetRole"}, "Version": {"2010-05-08"}, "RoleName": {lastPathPart(parts[5])}})
	if err != nil || status == http.StatusOK {
		return false
	}
	caller := c.principal
	if caller == "" {
		caller = "arn:aws:iam::" + c.account + ":root"
	}
	writeQueryError(w, http.StatusForbidden, "Sender", "AccessDenied",
		"User: "+caller+" is not authorized to perform: sts:AssumeRole on resource: "+roleARN)
	return true
}
