package evaluate

import (
	"strings"
	"testing"

	"github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"
)

// ctxOf builds a request context; a key given with the value "<absent>" is known to be absent.
func ctxOf(kv ...string) map[string][]string {
	ctx := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "<absent>" {
			ctx[kv[i]] = nil
			continue
		}
		ctx[kv[i]] = append(ctx[kv[i]], kv[i+1])
	}
	return ctx
}

// condRequest prepares a request for one condition, in a 2012-10-17 document (policy variables
// on) unless version says otherwise.
func condRequest(ctx map[string][]string, version string, unknown ...string) *prepared {
	if version == "" {
		version = "2012-10-17"
	}
	doc, err := policy.Parse([]byte(`{"Version":"` + version + `","Statement":[]}`))
	if err != nil {
		panic(err)
	}
	rq := prepare(Request{Context: ctx, Unknown: unknown}, doc, options{})
	return &rq
}

// Doc references used below (IAM User Guide):
//
//	[ops]   "IAM JSON policy elements: Condition operators"
//	[multi] "Creating a condition with multiple context keys or values"
//	[set]   "Single-valued vs. multivalued context keys" (ForAnyValue / ForAllValues)
//	[keys]  "IAM JSON policy elements: Condition" (key names are case-insensitive)
func TestEvalCondition(t *testing.T) {
	tests := map[string]struct {
		op, key string
		values  []string
		ctx     map[string][]string
		want    tri
	}{
		// [ops] String: StringEquals is exact and case-sensitive.
		"StringEquals match":          {"StringEquals", "kms:CallerAccount", []string{"111122223333"}, ctxOf("kms:CallerAccount", "111122223333"), yes},
		"StringEquals case-sensitive": {"StringEquals", "aws:PrincipalTag/team", []string{"Blue"}, ctxOf("aws:PrincipalTag/team", "blue"), no},
		// [ops] StringEquals does not expand wildcards: "*" is a literal star.
		"StringEquals star is literal": {"StringEquals", "kms:CallerAccount", []string{"*"}, ctxOf("kms:CallerAccount", "111122223333"), no},
		// [multi] Several values for one key are ORed.
		"StringEquals OR of values": {"StringEquals", "kms:CallerAccount", []string{"1", "111122223333"}, ctxOf("kms:CallerAccount", "111122223333"), yes},
		// [keys] Condition key names are not case-sensitive.
		"key case-insensitive": {"StringEquals", "KMS:CALLERACCOUNT", []string{"111122223333"}, ctxOf("kms:calleraccount", "111122223333"), yes},
		// [ops] A key missing from the request makes a positive operator false.
		"StringEquals missing key": {"StringEquals", "kms:ViaService", []string{"ec2.us-east-1.amazonaws.com"}, ctxOf(), no},
		// [ops] ...IfExists: a missing key matches.
		"StringEqualsIfExists missing": {"StringEqualsIfExists", "kms:ViaService", []string{"x"}, ctxOf(), yes},
		// [ops] ...IfExists: a present key is compared normally.
		"StringEqualsIfExists present mismatch": {"StringEqualsIfExists", "kms:ViaService", []string{"x"}, ctxOf("kms:ViaService", "y"), no},
		// [ops] StringNotEquals is the negation: true when no value matches (NOR).
		"StringNotEquals none match":  {"StringNotEquals", "kms:CallerAccount", []string{"1", "2"}, ctxOf("kms:CallerAccount", "3"), yes},
		"StringNotEquals one matches": {"StringNotEquals", "kms:CallerAccount", []string{"1", "2"}, ctxOf("kms:CallerAccount", "2"), no},
		// [ops] A negated operator on a missing key is true.
		"StringNotEquals missing key":     {"StringNotEquals", "kms:CallerAccount", []string{"1"}, ctxOf(), yes},
		"StringNotEqualsIfExists missing": {"StringNotEqualsIfExists", "kms:CallerAccount", []string{"1"}, ctxOf(), yes},
		// [ops] StringEqualsIgnoreCase / StringNotEqualsIgnoreCase.
		"StringEqualsIgnoreCase":    {"StringEqualsIgnoreCase", "aws:PrincipalTag/team", []string{"BLUE"}, ctxOf("aws:PrincipalTag/team", "blue"), yes},
		"StringNotEqualsIgnoreCase": {"StringNotEqualsIgnoreCase", "aws:PrincipalTag/team", []string{"BLUE"}, ctxOf("aws:PrincipalTag/team", "blue"), no},
		// [ops] StringLike: * and ? wildcards.
		"StringLike star":     {"StringLike", "kms:ViaService", []string{"ec2.*.amazonaws.com"}, ctxOf("kms:ViaService", "ec2.eu-west-1.amazonaws.com"), yes},
		"StringLike question": {"StringLike", "kms:ViaService", []string{"ec2.eu-west-?.amazonaws.com"}, ctxOf("kms:ViaService", "ec2.eu-west-10.amazonaws.com"), no},
		"StringNotLike":       {"StringNotLike", "kms:ViaService", []string{"s3.*"}, ctxOf("kms:ViaService", "ec2.eu-west-1.amazonaws.com"), yes},
		"StringNotLike match": {"StringNotLike", "kms:ViaService", []string{"ec2.*"}, ctxOf("kms:ViaService", "ec2.eu-west-1.amazonaws.com"), no},
		// [ops] Bool compares true/false case-insensitively.
		"Bool true":            {"Bool", "kms:GrantIsForAWSResource", []string{"true"}, ctxOf("kms:GrantIsForAWSResource", "true"), yes},
		"Bool TRUE vs true":    {"Bool", "kms:GrantIsForAWSResource", []string{"TRUE"}, ctxOf("kms:GrantIsForAWSResource", "true"), yes},
		"Bool false":           {"Bool", "kms:GrantIsForAWSResource", []string{"true"}, ctxOf("kms:GrantIsForAWSResource", "false"), no},
		"Bool missing":         {"Bool", "kms:GrantIsForAWSResource", []string{"true"}, ctxOf(), no},
		"BoolIfExists missing": {"BoolIfExists", "aws:MultiFactorAuthPresent", []string{"true"}, ctxOf(), yes},
		// [ops] Numeric operators.
		"NumericEquals":            {"NumericEquals", "n", []string{"10"}, ctxOf("n", "10.0"), yes},
		"NumericNotEquals":         {"NumericNotEquals", "n", []string{"10"}, ctxOf("n", "11"), yes},
		"NumericLessThan":          {"NumericLessThan", "n", []string{"10"}, ctxOf("n", "9"), yes},
		"NumericLessThan equal":    {"NumericLessThan", "n", []string{"10"}, ctxOf("n", "10"), no},
		"NumericLessThanEquals":    {"NumericLessThanEquals", "n", []string{"10"}, ctxOf("n", "10"), yes},
		"NumericGreaterThan":       {"NumericGreaterThan", "n", []string{"10"}, ctxOf("n", "11"), yes},
		"NumericGreaterThanEquals": {"NumericGreaterThanEquals", "n", []string{"10"}, ctxOf("n", "9"), no},
		// [ops] A request value that does not parse cannot be compared: not evaluated.
		"Numeric request not a number": {"NumericEquals", "n", []string{"10"}, ctxOf("n", "ten"), maybe},
		"Numeric policy not a number":  {"NumericEquals", "n", []string{"ten"}, ctxOf("n", "10"), maybe},
		// [ops] Date operators accept ISO 8601 and epoch seconds.
		"DateGreaterThan ISO":          {"DateGreaterThan", "aws:CurrentTime", []string{"2020-01-01T00:00:00Z"}, ctxOf("aws:CurrentTime", "2026-11-29T03:00:00Z"), yes},
		"DateLessThan ISO":             {"DateLessThan", "aws:CurrentTime", []string{"2020-01-01T00:00:00Z"}, ctxOf("aws:CurrentTime", "2026-11-29T03:00:00Z"), no},
		"DateEquals epoch vs ISO":      {"DateEquals", "aws:EpochTime", []string{"2020-01-01T00:00:00Z"}, ctxOf("aws:EpochTime", "1577836800"), yes},
		"DateNotEquals":                {"DateNotEquals", "aws:CurrentTime", []string{"2020-01-01"}, ctxOf("aws:CurrentTime", "2020-01-02T00:00:00Z"), yes},
		"DateLessThanEquals date-only": {"DateLessThanEquals", "aws:CurrentTime", []string{"2020-01-01"}, ctxOf("aws:CurrentTime", "2020-01-01T00:00:00Z"), yes},
		"DateGreaterThanEquals epoch":  {"DateGreaterThanEquals", "aws:CurrentTime", []string{"1577836800"}, ctxOf("aws:CurrentTime", "2019-12-31T23:59:59Z"), no},
		"Date policy not a date":       {"DateEquals", "aws:CurrentTime", []string{"yesterday"}, ctxOf("aws:CurrentTime", "2020-01-01"), maybe},
		// [ops] IP address operators.
		"IpAddress in CIDR":     {"IpAddress", "aws:SourceIp", []string{"203.0.113.0/24"}, ctxOf("aws:SourceIp", "203.0.113.7"), yes},
		"IpAddress single host": {"IpAddress", "aws:SourceIp", []string{"203.0.113.7"}, ctxOf("aws:SourceIp", "203.0.113.8"), no},
		"IpAddress IPv6":        {"IpAddress", "aws:SourceIp", []string{"2001:db8::/32"}, ctxOf("aws:SourceIp", "2001:db8::1"), yes},
		"NotIpAddress":          {"NotIpAddress", "aws:SourceIp", []string{"203.0.113.0/24"}, ctxOf("aws:SourceIp", "198.51.100.1"), yes},
		// [ops] Binary: base64 value compared as is.
		"BinaryEquals": {"BinaryEquals", "key", []string{"QmluYXJ5VmFsdWU="}, ctxOf("key", "QmluYXJ5VmFsdWU="), yes},
		// [ops] ARN operators: each of the six colon-delimited components is checked separately,
		// with wildcards; ArnEquals and ArnLike behave the same.
		"ArnLike":                             {"ArnLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:role/Admin*"}, ctxOf("aws:PrincipalArn", "arn:aws:iam::111122223333:role/AdminX"), yes},
		"ArnEquals with wildcard":             {"ArnEquals", "aws:PrincipalArn", []string{"arn:aws:iam::111122223333:role/*"}, ctxOf("aws:PrincipalArn", "arn:aws:iam::111122223333:role/R"), yes},
		"ArnLike star stays in its component": {"ArnLike", "aws:SourceArn", []string{"arn:aws:*:*:*:instance/*"}, ctxOf("aws:SourceArn", "arn:aws:ec2:us-east-1:111122223333:volume/v-1"), no},
		// A policy value without the six components cannot be compared: not evaluated.
		"ArnLike pattern of three components": {"ArnLike", "aws:SourceArn", []string{"arn:aws:*"}, ctxOf("aws:SourceArn", "arn:aws:ec2:us-east-1:111122223333:instance/i-1"), maybe},
		"ArnNotEquals":                        {"ArnNotEquals", "aws:PrincipalArn", []string{"arn:aws:iam::111122223333:role/R"}, ctxOf("aws:PrincipalArn", "arn:aws:iam::111122223333:role/S"), yes},
		"ArnNotLike match":                    {"ArnNotLike", "aws:PrincipalArn", []string{"arn:aws:iam::111122223333:role/*"}, ctxOf("aws:PrincipalArn", "arn:aws:iam::111122223333:role/S"), no},
		"ArnNotLike missing":                  {"ArnNotLike", "aws:PrincipalArn", []string{"arn:aws:iam::111122223333:role/*"}, ctxOf(), yes},
		"ArnLikeIfExists missing":             {"ArnLikeIfExists", "aws:SourceArn", []string{"arn:aws:*:*:*:*"}, ctxOf(), yes},
		// [ops] Null: "true" means the key is absent, "false" that it is present.
		"Null true absent":   {"Null", "aws:TokenIssueTime", []string{"true"}, ctxOf(), yes},
		"Null true present":  {"Null", "aws:TokenIssueTime", []string{"true"}, ctxOf("aws:TokenIssueTime", "x"), no},
		"Null false present": {"Null", "aws:TokenIssueTime", []string{"false"}, ctxOf("aws:TokenIssueTime", "x"), yes},
		"Null false absent":  {"Null", "aws:TokenIssueTime", []string{"false"}, ctxOf(), no},
		// [set] ForAnyValue: at least one request value matches; a missing key is false.
		"ForAnyValue one matches": {"ForAnyValue:StringEquals", "kms:GrantOperations", []string{"Decrypt"}, ctxOf("kms:GrantOperations", "Encrypt", "kms:GrantOperations", "Decrypt"), yes},
		"ForAnyValue none":        {"ForAnyValue:StringEquals", "kms:GrantOperations", []string{"Sign"}, ctxOf("kms:GrantOperations", "Encrypt"), no},
		"ForAnyValue missing":     {"ForAnyValue:StringEquals", "kms:GrantOperations", []string{"Sign"}, ctxOf(), no},
		"ForAnyValue negated":     {"ForAnyValue:StringNotEquals", "kms:GrantOperations", []string{"Encrypt"}, ctxOf("kms:GrantOperations", "Encrypt", "kms:GrantOperations", "Decrypt"), yes},
		// [set] ForAllValues: every request value matches; a missing key is true.
		"ForAllValues all match":  {"ForAllValues:StringEquals", "kms:GrantOperations", []string{"Encrypt", "Decrypt"}, ctxOf("kms:GrantOperations", "Encrypt", "kms:GrantOperations", "Decrypt"), yes},
		"ForAllValues one extra":  {"ForAllValues:StringEquals", "kms:GrantOperations", []string{"Encrypt"}, ctxOf("kms:GrantOperations", "Encrypt", "kms:GrantOperations", "Decrypt"), no},
		"ForAllValues missing":    {"ForAllValues:StringEquals", "kms:GrantOperations", []string{"Encrypt"}, ctxOf(), yes},
		"ForAllValues negated":    {"ForAllValues:StringNotLike", "aws:TagKeys", []string{"secret*"}, ctxOf("aws:TagKeys", "team", "aws:TagKeys", "secretive"), no},
		"ForAllValues StringLike": {"ForAllValues:StringLike", "aws:TagKeys", []string{"team*", "env"}, ctxOf("aws:TagKeys", "teamA", "aws:TagKeys", "env"), yes},
		// Multi-valued key without a set operator: read as "any request value" (documented choice);
		// negated: no request value matches.
		"no qualifier multi any":     {"StringEquals", "aws:TagKeys", []string{"env"}, ctxOf("aws:TagKeys", "team", "aws:TagKeys", "env"), yes},
		"no qualifier multi negated": {"StringNotEquals", "aws:TagKeys", []string{"env"}, ctxOf("aws:TagKeys", "team", "aws:TagKeys", "env"), no},
		// [vars] A variable whose key the request lacks has no value: it matches nothing.
		"policy variable without value":    {"StringEquals", "aws:PrincipalTag/owner", []string{"${aws:username}"}, ctxOf("aws:PrincipalTag/owner", "bob"), no},
		"policy variable substituted":      {"StringEquals", "aws:PrincipalTag/owner", []string{"${aws:username}"}, ctxOf("aws:PrincipalTag/owner", "bob", "aws:username", "bob"), yes},
		"policy variable in key":           {"StringEquals", "aws:ResourceTag/${aws:username}", []string{"x"}, ctxOf(), maybe},
		"unknown operator":                 {"StringSoundsLike", "kms:ViaService", []string{"x"}, ctxOf("kms:ViaService", "x"), maybe},
		"Null IfExists is unknown":         {"NullIfExists", "k", []string{"true"}, ctxOf(), maybe},
		"variable but other value matches": {"StringEquals", "k", []string{"${aws:username}", "v"}, ctxOf("k", "v"), yes},
		"operator name case-insensitive":   {"stringequals", "k", []string{"v"}, ctxOf("k", "v"), yes},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := evalCondition(policy.Condition{Operator: tc.op, Key: tc.key, Values: tc.values}, condRequest(tc.ctx, ""))
			if got.t != tc.want {
				t.Fatalf("%s %s %v on %v = %v (%s), want %v", tc.op, tc.key, tc.values, tc.ctx, got.t, got.reason, tc.want)
			}
			if (got.t == maybe) != (got.reason != "") {
				t.Fatalf("reason %q does not fit result %v", got.reason, got.t)
			}
		})
	}
}

// [vars]   IAM User Guide, "IAM policy elements: Variables and tags": variables are substituted
//
//	in documents of Version 2012-10-17 only, in the string and ARN operators; a variable with
//	no value makes StringEquals/StringLike not match and StringNotEquals/StringNotLike match;
//	${*}, ${?}, ${$} are literal characters; ${key, 'default'} has a default.
//	https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
//
// [ops]    "Condition operators": a key missing from the request makes a positive operator false
//
//	and a negated one true; a key the request carries with a value we cannot know is not
//	evaluated (never guessed either way).
//
// [parse]  A date, number, IP address or ARN that does not parse cannot be compared: the
//
//	condition is not evaluated, so a negated operator on it never counts towards an Allow.
func TestEvalConditionVariablesAndUnknowns(t *testing.T) {
	user := ctxOf("aws:username", "alice", "aws:PrincipalTag/team", "blue", "aws:PrincipalArn", "arn:aws:iam::111122223333:user/alice",
		"aws:PrincipalTag/empty", "<absent>")
	tests := map[string]struct {
		op, key string
		values  []string
		ctx     map[string][]string
		version string   // "" is 2012-10-17
		unknown []string // Request.Unknown
		want    tri
	}{
		// [vars]
		"StringEquals substituted":            {"StringEquals", "aws:PrincipalTag/team", []string{"${aws:PrincipalTag/team}"}, user, "", nil, yes},
		"StringLike with variable and star":   {"StringLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:user/${aws:username}"}, user, "", nil, yes},
		"StringLike other user":               {"StringLike", "aws:PrincipalArn", []string{"arn:aws:iam::*:user/${aws:PrincipalTag/team}"}, user, "", nil, no},
		"ArnLike substituted":                 {"ArnLike", "aws:PrincipalArn", []string{"arn:aws:iam::111122223333:user/${aws:username}"}, user, "", nil, yes},
		"variable case-insensitive key":       {"StringEquals", "aws:username", []string{"${AWS:UserName}"}, user, "", nil, yes},
		"no value: positive false":            {"StringEquals", "aws:username", []string{"${aws:PrincipalTag/missing}"}, user, "", nil, no},
		"no value: negated true":              {"StringNotEquals", "aws:username", []string{"${aws:PrincipalTag/missing}"}, user, "", nil, yes},
		"known absent: no value":              {"StringNotLike", "aws:username", []string{"${aws:PrincipalTag/empty}"}, user, "", nil, yes},
		"default value used":                  {"StringEquals", "aws:username", []string{"${aws:PrincipalTag/missing, 'alice'}"}, user, "", nil, yes},
		"default value not used":              {"StringEquals", "aws:username", []string{"${aws:PrincipalTag/team, 'alice'}"}, user, "", nil, no},
		"literal star is not a wildcard":      {"StringLike", "k", []string{"a${*}"}, ctxOf("k", "abc"), "", nil, no},
		"literal star matches a star":         {"StringLike", "k", []string{"a${*}"}, ctxOf("k", "a*"), "", nil, yes},
		"literal question and dollar":         {"StringEquals", "k", []string{"${?}${$}"}, ctxOf("k", "?$"), "", nil, yes},
		"old Version: variable is literal":    {"StringEquals", "aws:username", []string{"${aws:username}"}, ctxOf("aws:username", "${aws:username}"), "2008-10-17", nil, yes},
		"old Version: no substitution":        {"StringEquals", "aws:username", []string{"${aws:username}"}, user, "2008-10-17", nil, no},
		"no Version: no substitution":         {"StringEquals", "aws:username", []string{"${aws:username}"}, user, "-", nil, no},
		"not in Numeric operators":            {"NumericEquals", "n", []string{"${n}"}, ctxOf("n", "1"), "", nil, maybe},
		"unknown variable value":              {"StringEquals", "aws:username", []string{"${aws:PrincipalTag/x}"}, user, "", []string{"aws:PrincipalTag/"}, maybe},
		"unknown variable, other value holds": {"StringEquals", "aws:username", []string{"${aws:PrincipalTag/x}", "alice"}, user, "", []string{"aws:PrincipalTag/"}, yes},
		"multi-valued variable":               {"StringEquals", "k", []string{"${m}"}, ctxOf("k", "a", "m", "a", "m", "b"), "", nil, maybe},
		"unclosed variable":                   {"StringEquals", "aws:username", []string{"${aws:username"}, user, "", nil, maybe},
		"malformed default":                   {"StringEquals", "aws:username", []string{"${aws:username, x}"}, user, "", nil, maybe},
		// [ops] keys the request carries but whose value is not known
		"unknown key positive":          {"StringEquals", "aws:SourceVpce", []string{"vpce-1"}, ctxOf(), "", []string{"aws:SourceVpce"}, maybe},
		"unknown key negated":           {"StringNotEquals", "aws:SourceVpce", []string{"vpce-1"}, ctxOf(), "", []string{"aws:SourceVpce"}, maybe},
		"unknown key IfExists":          {"StringEqualsIfExists", "aws:SourceVpce", []string{"vpce-1"}, ctxOf(), "", []string{"aws:SourceVpce"}, maybe},
		"unknown key Null":              {"Null", "aws:SourceVpce", []string{"true"}, ctxOf(), "", []string{"aws:SourceVpce"}, maybe},
		"unknown prefix":                {"StringEquals", "aws:PrincipalTag/Team", []string{"x"}, ctxOf(), "", []string{"aws:principaltag/"}, maybe},
		"known value beats unknown":     {"StringEquals", "aws:PrincipalTag/team", []string{"blue"}, user, "", []string{"aws:PrincipalTag/"}, yes},
		"known absent beats unknown":    {"StringNotEquals", "aws:PrincipalTag/empty", []string{"x"}, user, "", []string{"aws:PrincipalTag/"}, yes},
		"unlisted key is absent":        {"StringNotEquals", "s3:prefix", []string{"x"}, ctxOf(), "", []string{"aws:SourceVpce"}, yes},
		"unlisted key absent, IfExists": {"StringEqualsIfExists", "s3:prefix", []string{"x"}, ctxOf(), "", []string{"aws:SourceVpce"}, yes},
		// [parse] negated operators on values that do not parse
		"DateNotEquals bad policy date":   {"DateNotEquals", "aws:CurrentTime", []string{"tomorrow"}, ctxOf("aws:CurrentTime", "2020-01-01T00:00:00Z"), "", nil, maybe},
		"DateNotEquals bad request date":  {"DateNotEquals", "aws:CurrentTime", []string{"2020-01-01"}, ctxOf("aws:CurrentTime", "soon"), "", nil, maybe},
		"NumericNotEquals bad policy":     {"NumericNotEquals", "n", []string{"ten"}, ctxOf("n", "10"), "", nil, maybe},
		"NumericNotEquals bad request":    {"NumericNotEquals", "n", []string{"10"}, ctxOf("n", "ten"), "", nil, maybe},
		"NotIpAddress bad policy CIDR":    {"NotIpAddress", "aws:SourceIp", []string{"10.0.0.0/99"}, ctxOf("aws:SourceIp", "10.0.0.1"), "", nil, maybe},
		"NotIpAddress bad request IP":     {"NotIpAddress", "aws:SourceIp", []string{"10.0.0.0/8"}, ctxOf("aws:SourceIp", "localhost"), "", nil, maybe},
		"ArnNotLike policy not an ARN":    {"ArnNotLike", "aws:PrincipalArn", []string{"role/Admin"}, user, "", nil, maybe},
		"ArnNotEquals request not an ARN": {"ArnNotEquals", "aws:SourceArn", []string{"arn:aws:s3:::b"}, ctxOf("aws:SourceArn", "bucket"), "", nil, maybe},
		"ArnLike policy not an ARN":       {"ArnLike", "aws:PrincipalArn", []string{"role/Admin"}, user, "", nil, maybe},
		"bad value, good one decides":     {"NumericNotEquals", "n", []string{"ten", "10"}, ctxOf("n", "10"), "", nil, no},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			version := tc.version
			var rq *prepared
			if version == "-" {
				doc, _ := policy.Parse([]byte(`{"Statement":[]}`))
				p := prepare(Request{Context: tc.ctx, Unknown: tc.unknown}, doc, options{})
				rq = &p
			} else {
				rq = condRequest(tc.ctx, version, tc.unknown...)
			}
			got := evalCondition(policy.Condition{Operator: tc.op, Key: tc.key, Values: tc.values}, rq)
			if got.t != tc.want {
				t.Fatalf("%s %s %v on %v = %v (%s), want %v", tc.op, tc.key, tc.values, tc.ctx, got.t, got.reason, tc.want)
			}
			if (got.t == maybe) != (got.reason != "") {
				t.Fatalf("reason %q does not fit result %v", got.reason, got.t)
			}
		})
	}
}

func TestGlob(t *testing.T) {
	tests := map[string]struct {
		pattern, s string
		want       bool
	}{
		"exact":                {"kms:Decrypt", "kms:Decrypt", true},
		"star all":             {"*", "", true},
		"star suffix":          {"kms:ReEncrypt*", "kms:ReEncryptFrom", true},
		"star crosses colons":  {"arn:aws:kms:*", "arn:aws:kms:us-east-1:111122223333:key/k", true},
		"question one char":    {"kms:?ecrypt", "kms:Decrypt", true},
		"question not empty":   {"a?", "a", false},
		"middle star":          {"a*b*c", "axxbyyc", true},
		"middle star fail":     {"a*b*c", "axxbyy", false},
		"many stars no blowup": {strings.Repeat("*a", 40) + "b", strings.Repeat("a", 200), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := glob(tc.pattern, tc.s); got != tc.want {
				t.Fatalf("glob(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}
