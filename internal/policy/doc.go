// Package policy parses and evaluates AWS IAM policy documents (key policies,
// identity policies, trust policies, session policies) the way AWS does, and
// combines them into a KMS authorization decision.
//
// It is pure: it imports only the standard library and internal/arn, does no
// I/O and keeps no state, so it can be fuzzed and benchmarked in isolation.
//
// # Use
//
// Parse (or ParseWith, for other kinds) validates a document with AWS's rules
// and messages and compiles it once: wildcard patterns, dates, CIDR blocks and
// numbers are prepared at parse time so evaluation does not allocate. A
// *Policy is immutable and safe for concurrent use. For each request, fill a
// Request (action, resource ARN, caller facts in Principal, condition keys in
// a Context) and call Decide with the key policy and the caller's identity
// policies, or (*Policy).Evaluate for a single policy.
//
// # Evaluation model
//
// A statement applies when its Action (or NotAction), Resource (or
// NotResource), Principal (or NotPrincipal) and every condition match. Within
// a policy an applicable Deny wins over any Allow. Decide then applies AWS
// KMS's combination rules, documented on Decide: explicit deny anywhere wins;
// the key policy must allow; a grant to the caller's account delegates to its
// identity policies; cross-account access needs both sides; session policies
// and permissions boundaries narrow.
//
// Matching follows AWS:
//   - Actions match case-insensitively with "*" and "?" wildcards.
//   - Resources and the Arn* operators match the six ARN components
//     separately, case-sensitively; a trailing "*" in a shorter pattern runs
//     to the end of the ARN.
//   - Principal values allow no wildcard except "*" alone. An account ID
//     means that account's root ARN; a role ARN matches every session of the
//     role; a session ARN matches that session only.
//   - Condition key names are case-insensitive; values are case-sensitive
//     except under the IgnoreCase operators (and Bool).
//   - Policy variables (${aws:username}, ${aws:PrincipalTag/team},
//     ${key, 'default'}, and ${*}, ${?}, ${$} for literal characters) are
//     expanded in Resource and in the values of the String, Arn and Bool
//     operators, only in Version 2012-10-17 documents. A variable whose key is
//     absent (or multivalued) and has no default makes its statement
//     inapplicable: it never grants and never denies. Substituted values are
//     literal text, never wildcards.
//
// Wildcard matching is iterative and never backtracks exponentially (see
// glob.go), so evaluating any parsed policy takes time polynomial in the sizes
// of the pattern and the value.
//
// # Condition keys
//
// The engine is generic over keys: a Context holds whatever the caller sets.
// Arca's KMS service supplies these, with AWS's types:
//
//	aws:SourceIp                 IP address       caller's address
//	aws:PrincipalArn             ARN              the role's ARN for a role session
//	aws:PrincipalAccount         string
//	aws:PrincipalType            string           Account, User, AssumedRole, FederatedUser
//	aws:userid                   string
//	aws:username                 string           IAM users only
//	aws:CurrentTime              date             ISO 8601
//	aws:EpochTime                date or numeric  epoch seconds
//	aws:SecureTransport          bool
//	aws:PrincipalTag/KEY         string
//	aws:RequestTag/KEY           string
//	aws:TagKeys                  multivalued string
//	aws:ResourceTag/KEY          string
//	kms:EncryptionContext:KEY    string           one key per encryption context pair
//	kms:EncryptionContextKeys    multivalued string
//	kms:CallerAccount            string
//	kms:KeySpec                  string
//	kms:KeyUsage                 string
//	kms:KeyOrigin                string
//	kms:EncryptionAlgorithm      string
//	kms:SigningAlgorithm         string
//	kms:MacAlgorithm             string
//	kms:GrantOperations          multivalued string
//	kms:GranteePrincipal         string
//	kms:RetiringPrincipal        string
//	kms:RequestAlias             string
//	kms:ResourceAliases          multivalued string
//	kms:RotationPeriodInDays     numeric
//	kms:ScheduleKeyDeletionPendingWindowInDays  numeric
//	kms:MultiRegion              bool
//	kms:ViaService               string
//
// Context.SetPrincipal fills aws:PrincipalArn, aws:PrincipalAccount and
// aws:PrincipalType from a Principal.
//
// # Lint
//
// Lint reports risky but valid grants (public principals, wildcard actions,
// cross-account "*" resources, privilege-escalation actions), each with a
// stable ID, a severity and a suggested fix.
package policy
