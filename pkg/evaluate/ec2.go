package evaluate

import (
	"strings"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/awsid"
)

// EC2Context is the request context EC2 presents when it uses a key on behalf of a principal
// (kms:ViaService, kms:CallerAccount, aws:PrincipalAccount, aws:PrincipalArn, and
// kms:GrantIsForAWSResource=true when grant is set). For an assumed-role session
// aws:PrincipalArn is the role's ARN, as AWS sets it; the session ARN carries no role path, so
// the role ARN built here has none. Every other key reads as absent; EC2Request also says which
// keys AWS sends that the caller cannot know.
func EC2Context(region, principalARN string, grant bool) map[string][]string {
	p := parsePrincipal(principalARN)
	ctx := map[string][]string{
		"kms:ViaService":       {"ec2." + region + ".amazonaws.com"},
		"aws:PrincipalArn":     {contextPrincipalARN(p)},
		"kms:CallerAccount":    {p.account},
		"aws:PrincipalAccount": {p.account},
	}
	if p.account == "" {
		delete(ctx, "kms:CallerAccount")
		delete(ctx, "aws:PrincipalAccount")
	}
	if grant {
		ctx["kms:GrantIsForAWSResource"] = []string{"true"}
	}
	return ctx
}

// contextPrincipalARN is aws:PrincipalArn: for a role session the role's ARN, for the root user
// the root ARN (IAM User Guide, global condition keys, aws:PrincipalArn).
func contextPrincipalARN(p principal) string {
	switch p.kind {
	case kindSession:
		return p.roleARN()
	case kindRoot:
		return p.rootARN()
	}
	return p.raw
}

// GrantAction reports whether a KMS action is one of the grant operations that
// kms:GrantIsForAWSResource governs (CreateGrant, ListGrants, RevokeGrant).
// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-grant-is-for-aws-resource
func GrantAction(action string) bool {
	switch strings.ToLower(action) {
	case "kms:creategrant", "kms:listgrants", "kms:revokegrant":
		return true
	}
	return false
}

// EC2Request is the request EC2 makes to KMS when it uses keyARN on behalf of principalARN
// (action e.g. "kms:CreateGrant"), with the request context AWS documents for it. org is the
// organization of the principal's account, nil when not known.
//
// EC2 calls KMS with the principal's own identity (a forward access session), so the context
// holds the principal's keys and the service's (IAM User Guide, "Forward access sessions";
// global condition context keys; KMS condition keys):
//   - known: kms:ViaService = ec2.REGION.amazonaws.com (the key's region), kms:CallerAccount,
//     aws:PrincipalAccount, aws:PrincipalArn (a session's role ARN), aws:PrincipalType,
//     aws:PrincipalIsAWSService = false, aws:RequestedRegion, aws:ResourceAccount (the key's
//     account), aws:username (IAM users only), aws:userid (the root user: its account ID),
//     kms:GrantIsForAWSResource = true (grant operations only), and aws:PrincipalOrgID /
//     aws:PrincipalOrgPaths from org;
//   - sent but not knowable here (Request.Unknown, so conditions on them are not evaluated):
//     the principal's tags, its unique ID, the caller's network (aws:SourceIp, aws:SourceVpc,
//     aws:SourceVpce, ...), the time and MFA keys, aws:CalledVia*, aws:ViaAWSService, the
//     key's tags, aliases and properties, the encryption context, the grant's parameters, and
//     the organization keys when org is nil (or the paths when org.Paths is nil);
//   - every other key (keys of other services, aws:SourceArn/aws:SourceAccount that only
//     service principals carry, kms:RecipientAttestation:* that only Nitro enclave requests
//     carry, ...) is absent.
//
// https://docs.aws.amazon.com/IAM/latest/UserGuide/access_forward_access_sessions.html
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
// https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
func EC2Request(keyARN, principalARN, action string, org *Org) Request {
	p := parsePrincipal(principalARN)
	ctx := make(map[string][]string, 16)
	base := ec2Unknown
	if strings.EqualFold(action, "kms:CreateGrant") {
		base = ec2UnknownCreateGrant
	}
	unknown := append(make([]string, 0, len(base)+6), base...)

	var region, keyAccount string
	if parts, ok := splitARN(keyARN); ok && parts[0] == "arn" && parts[3] != "" {
		region = parts[3]
		if awsid.IsAccountID(parts[4]) {
			keyAccount = parts[4]
		}
	}
	if region != "" {
		ctx["kms:ViaService"] = []string{"ec2." + region + ".amazonaws.com"}
		ctx["aws:RequestedRegion"] = []string{region}
	} else {
		unknown = append(unknown, "kms:ViaService", "aws:RequestedRegion")
	}
	if keyAccount != "" {
		ctx["aws:ResourceAccount"] = []string{keyAccount}
	} else {
		unknown = append(unknown, "aws:ResourceAccount")
	}

	ctx["aws:PrincipalArn"] = []string{contextPrincipalARN(p)}
	if p.account != "" {
		ctx["kms:CallerAccount"] = []string{p.account}
		ctx["aws:PrincipalAccount"] = []string{p.account}
	}
	ctx["aws:PrincipalIsAWSService"] = []string{"false"}
	ctx["aws:username"] = nil // present for IAM users only
	switch p.kind {
	case kindRoot:
		ctx["aws:PrincipalType"] = []string{"Account"}
		ctx["aws:userid"] = []string{p.account}
	case kindUser:
		ctx["aws:PrincipalType"] = []string{"User"}
		ctx["aws:username"] = []string{p.raw[strings.LastIndexByte(p.raw, '/')+1:]}
		unknown = append(unknown, "aws:userid")
	case kindRole, kindSession:
		ctx["aws:PrincipalType"] = []string{"AssumedRole"}
		unknown = append(unknown, "aws:userid")
	case kindFederated:
		ctx["aws:PrincipalType"] = []string{"FederatedUser"}
		ctx["aws:userid"] = []string{p.account + ":" + p.raw[strings.LastIndexByte(p.raw, '/')+1:]}
	default:
		unknown = append(unknown, "aws:PrincipalType", "aws:userid")
	}

	if GrantAction(action) {
		ctx["kms:GrantIsForAWSResource"] = []string{"true"}
	} else {
		ctx["kms:GrantIsForAWSResource"] = nil
	}

	// aws:PrincipalOrgID and aws:PrincipalOrgPaths are "included in the request context only if
	// the principal is a member of an organization".
	switch {
	case org == nil:
		unknown = append(unknown, "aws:PrincipalOrgID", "aws:PrincipalOrgPaths")
	case org.ID == "":
		ctx["aws:PrincipalOrgID"], ctx["aws:PrincipalOrgPaths"] = nil, nil
	default:
		ctx["aws:PrincipalOrgID"] = []string{org.ID}
		if org.Paths != nil {
			ctx["aws:PrincipalOrgPaths"] = append([]string(nil), org.Paths...)
		} else {
			unknown = append(unknown, "aws:PrincipalOrgPaths")
		}
	}
	return Request{PrincipalARN: principalARN, Action: action, Resource: keyARN, Context: ctx, Unknown: unknown}
}

// ec2Unknown are the keys AWS sends with EC2's KMS requests whose values the remediator cannot
// know (see EC2Request). An entry ending in ':' or '/' is a prefix.
var ec2Unknown = []string{
	"aws:PrincipalTag/", "aws:SourceIdentity", "aws:FederatedProvider", "aws:AssumedRoot",
	"aws:SourceIp", "aws:SourceVpc", "aws:SourceVpce", "aws:VpcSourceIp", "aws:SecureTransport",
	"aws:UserAgent", "aws:Referer", "aws:CurrentTime", "aws:EpochTime", "aws:TokenIssueTime",
	"aws:MultiFactorAuthPresent", "aws:MultiFactorAuthAge", "aws:CalledVia", "aws:CalledViaFirst",
	"aws:CalledViaLast", "aws:ViaAWSService", "aws:Ec2InstanceSourceVpc",
	"aws:Ec2InstanceSourcePrivateIPv4", "ec2:SourceInstanceARN", "ec2:RoleDelivery",
	"aws:ResourceTag/", "aws:ResourceOrgID", "aws:ResourceOrgPaths",
	"kms:EncryptionContext:", "kms:EncryptionContextKeys", "kms:EncryptionAlgorithm",
	"kms:KeySpec", "kms:KeyUsage", "kms:KeyOrigin", "kms:MultiRegion", "kms:MultiRegionKeyType",
	"kms:CustomerMasterKeySpec", "kms:CustomerMasterKeyUsage", "kms:ResourceAliases",
	"kms:RequestAlias", "kms:ReEncryptOnSameKey",
}

// ec2UnknownCreateGrant adds the parameters of the grant EC2 creates.
var ec2UnknownCreateGrant = append(append([]string(nil), ec2Unknown...),
	"kms:GrantOperations", "kms:GranteePrincipal", "kms:RetiringPrincipal", "kms:GrantConstraintType")

// keyAccountOf returns the account of a key ARN, "" when it is not one.
func keyAccountOf(arn string) string {
	parts, ok := splitARN(arn)
	if !ok || parts[0] != "arn" || !awsid.IsAccountID(parts[4]) {
		return ""
	}
	return parts[4]
}

// KeyAccount returns the account that owns a KMS key ARN, or "" when keyARN is not an ARN with
// a 12-digit account.
func KeyAccount(keyARN string) string { return keyAccountOf(keyARN) }
