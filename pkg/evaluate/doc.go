// How this evaluator reads policies, and the choices it makes where AWS leaves room.
//
// One policy (Policy, KeyPolicy): explicit Deny wins over Allow; nothing matching is an implicit
// deny. A statement applies when its principal, action, resource and every condition match. Each
// part is true, false or "not evaluated"; a statement with a false part never applies and is not
// reported, one with a "not evaluated" part and no false part is reported in NotEvaluated.
//   - An Allow that cannot be evaluated never counts as a match.
//   - A Deny that cannot be evaluated might apply. It is reported in NotEvaluated and, when the
//     policy would otherwise allow, the decision is downgraded to implicit-deny with a reason
//     saying the allow is not confirmed: a remediator must not act on an allow it cannot prove.
//     It never becomes explicit-deny, which would claim a deny we cannot prove either. In KMS,
//     such a side is not listed in Missing (adding an allow would not change it): only
//     NotEvaluated and the reasons explain the denial.
//
// Statements AWS never applies are listed in Result.Ineffective: in a key policy a statement
// without Principal is invalid, and one without Resource or Action has no effect (KMS
// PutKeyPolicy). An identity policy statement has no Principal and applies to its caller.
//
// When the answer is not allow, Reasons also lists the near misses: Allow statements whose
// principal and action matched but whose resource or a condition did not, with what the request
// has ("condition Bool kms:GrantIsForAWSResource ["true"] does not hold (the request has no
// kms:GrantIsForAWSResource)"). Matched and Reasons are in document order.
//
// Principals (IAM "Principal" element rules):
//   - "*" and {"AWS": "*"} match every principal, AWS services included.
//   - An account ID or arn:PARTITION:iam::ACCT:root means the account: it matches every principal
//     of that account (user, role, assumed-role session, root). Such a match is a delegation
//     (Result.Delegates) unless the request principal is the root user itself.
//   - An assumed-role session arn:aws:sts::ACCT:assumed-role/ROLE/SESSION matches its role's ARN
//     (a grant to the role, which its permissions boundary limits). The session ARN does not
//     carry the role's path, so a role ARN with a path (arn:aws:iam::ACCT:role/some/path/ROLE)
//     matches by account and role name; role names are unique in an account whatever the path,
//     so this is exact.
//   - {"Service": "x.amazonaws.com"} matches only a request principal that is that service name
//     (case-insensitive). Federated and CanonicalUser values match only an identical principal.
//   - NotPrincipal with Deny: a request carries several identities (the session ARN, its role,
//     the account). The statement is skipped only when every one of them is listed, as the IAM
//     documentation describes (list the session, the role and the account); it always applies
//     to a principal with a permissions boundary. NotPrincipal with Allow is not supported by
//     AWS: it grants nothing and is reported in NotEvaluated.
//
// Actions match case-insensitively with * and ?. Resources match case-sensitively with * and ?,
// where * also spans ':' (so "arn:aws:kms:*" covers every key ARN). One matcher does both
// (policy.WildcardMatch).
//
// Conditions (IAM "Condition operators" and "multiple context keys or values"): keys are
// case-insensitive, operators/keys in a block are ANDed, values of a key are ORed, and negated
// operators (StringNotEquals, ArnNotLike, NotIpAddress, ...) are a NOR of the positive operator.
// A key missing from the request makes a positive operator false and a negated one true;
// ...IfExists turns a missing key into a match; Null tests presence; ForAllValues over a missing
// key is true and ForAnyValue over a missing key is false. A multi-valued request key under an
// operator without ForAnyValue/ForAllValues is read as "any request value matches" (negated: no
// request value matches). Arn operators compare the six ARN components one by one, as AWS
// documents. Dates accept ISO 8601 and epoch seconds. A key the request may carry but whose
// value is not known (Request.Unknown), an unknown operator, and a value that does not parse as
// the operator's type (a date, number, IP address or ARN, policy or request side) are "not
// evaluated": a negated operator on them never counts towards an Allow.
//
// Policy variables (${aws:username}, ${aws:PrincipalTag/K}, ${*}, defaults, ...) are substituted
// in Resource/NotResource and in the string and ARN operators of documents whose Version is
// 2012-10-17 (elsewhere they are literal text); see vars.go.
//
// KMS (key policy + IAM): see KMS. The identity side is the union of the identity policies
// (explicit deny wins), intersected with the permissions boundary when one is set. The root user
// is not governed by identity policies. A boundary's explicit deny always denies; its allow is
// required only where AWS applies it (another account, a grant to the account or to the role).
// EC2Request is the request EC2 makes to KMS for a principal, with what AWS puts in its context.
package evaluate
