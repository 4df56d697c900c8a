package evaluate

import (
	"slices"
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// GrantRequest is the CreateGrant request a principal makes itself, not through an AWS service:
// the one AWS's Auto Scaling guide has a principal of the group's account run ("aws kms
// create-grant --key-id KEY --grantee-principal ROLE --operations ..."), giving grantee the
// operations on keyARN. Its context is EC2Request's for the principal and kms:CreateGrant, less
// what only a service's call carries, plus the grant's parameters (KMS developer guide, KMS
// condition keys):
//   - kms:ViaService is absent (the caller calls KMS directly), and so is
//     kms:GrantIsForAWSResource ("only when an AWS service integrated with AWS KMS calls the
//     operation on the user's behalf");
//   - kms:GranteePrincipal is grantee and kms:GrantOperations the operations (multi-valued);
//     kms:RetiringPrincipal and kms:GrantConstraintType are absent (the grant has neither);
//   - aws:RequestedRegion is the key's region, the key ARN's region.
//
// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-operations
// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grantee-principal
// https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html
func GrantRequest(keyARN, callerARN, grantee string, operations []string, org *Org) Request {
	req := EC2Request(keyARN, callerARN, "kms:CreateGrant", org)
	delete(req.Context, "kms:ViaService")
	req.Context["kms:GrantIsForAWSResource"] = nil
	req.Context["kms:GranteePrincipal"] = []string{grantee}
	req.Context["kms:GrantOperations"] = slices.Clone(operations)
	req.Context["kms:RetiringPrincipal"] = nil
	req.Context["kms:GrantConstraintType"] = nil
	known := map[string]bool{"kms:viaservice": true, "kms:granteeprincipal": true, "kms:grantoperations": true,
		"kms:retiringprincipal": true, "kms:grantconstrainttype": true}
	unknown := req.Unknown[:0:0]
	for _, u := range req.Unknown {
		if !known[strings.ToLower(u)] {
			unknown = append(unknown, u)
		}
	}
	req.Unknown = unknown
	return req
}

// KeyPolicyAllowsAdding is KeyPolicyDecisionAdding that also says whether the allow only
// delegates (Result.Delegates): what adding a principal that has no identity policies for the
// key (a service-linked role) would really give it.
func KeyPolicyAllowsAdding(doc *policy.Document, stmt int, with string, req Request) (Decision, bool) {
	r, _ := evaluate(doc, req, options{kind: keyDoc, extend: stmt, with: with, quiet: true})
	return r.Decision, r.Delegates
}
