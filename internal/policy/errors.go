package policy

import "fmt"

// AWS's own wording for the reasons a policy document is refused. The KMS and
// IAM APIs return these texts verbatim in MalformedPolicyDocumentException, so
// clients that match on them keep working against Arca.
const (
	ReasonSyntax            = "Syntax errors in policy."
	ReasonVersion           = "Policy document must be version 2012-10-17 or greater."
	ReasonLegacy            = "The policy failed legacy parsing"
	ReasonDuplicateSid      = "Statement IDs (SID) in a single policy must be unique."
	ReasonSidCharacters     = "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
	ReasonNoActions         = "Policy statement must contain actions."
	ReasonNoResources       = "Policy statement must contain resources."
	ReasonPrincipalNotAllow = "Policy document should not specify a principal."
	ReasonNoPrincipal       = "Missing required field Principal"
	ReasonKeyPrincipal      = "Policy contains a statement with one or more invalid principals."
	ReasonTrustResource     = "Has prohibited field Resource"
	ReasonNotPrincipalAllow = "NotPrincipal must be used with \"Effect\":\"Deny\"."
	ReasonNotPrincipalKind  = "Has prohibited field NotPrincipal"
	ReasonVendor            = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
	ReasonActionColons      = "Actions/Condition can contain only one colon."
	ReasonResourceVendor    = "Resource vendor must be fully qualified and cannot contain regexes."
	ReasonCharacters        = "Value at 'policy' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+"
)

// MalformedError reports why a policy document was refused.
//
// Reason is the message AWS returns for the same document (send it to the
// client); Detail says precisely where and what, for logs and tests, and is
// never sent because AWS's messages carry no such detail.
type MalformedError struct {
	Reason string
	Detail string
	// TooLarge marks a size-quota failure, which AWS reports with a different
	// error code (IAM's LimitExceeded, KMS's validation error) than a
	// malformed document.
	TooLarge bool
}

// Error returns the reason with the detail, for logs.
func (e *MalformedError) Error() string {
	if e.Detail == "" {
		return "policy: " + e.Reason
	}
	return "policy: " + e.Reason + " (" + e.Detail + ")"
}

func malformed(reason, format string, args ...any) *MalformedError {
	return &MalformedError{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
