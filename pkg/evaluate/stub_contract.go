package evaluate

import "github.com/ami-kms-remediator/ami-kms-remediator/pkg/policy"

// Policy evaluates one policy document for one request.
func Policy(doc *policy.Document, req Request) Result { return Result{Decision: ImplicitDeny} }

// KMS evaluates a KMS request under the key-policy + identity-policy rules AWS documents.
func KMS(in KMSInput) KMSResult { return KMSResult{Decision: ImplicitDeny} }

// EC2Context is the request context EC2 presents when it uses a key on behalf of a principal
// (kms:ViaService, kms:CallerAccount, aws:PrincipalAccount, aws:PrincipalArn, and
// kms:GrantIsForAWSResource=true when grant is set).
func EC2Context(region, principalARN string, grant bool) map[string][]string { return nil }
