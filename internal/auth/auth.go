// Package auth defines who is calling: the authenticated principal and the
// request facts (region, source address, request ID) that services use for
// authorization and audit.
//
// It imports nothing of Arca's, so every layer may use it.
package auth

// PrincipalType is the kind of identity behind a request, spelled as
// CloudTrail's userIdentity.type.
type PrincipalType string

// Principal types.
const (
	Root        PrincipalType = "Root"
	IAMUser     PrincipalType = "IAMUser"
	AssumedRole PrincipalType = "AssumedRole"
)

// Principal is an authenticated identity.
type Principal struct {
	// Type is the kind of identity.
	Type PrincipalType
	// Account is the 12-digit account the identity belongs to.
	Account string
	// ARN is the identity's ARN, e.g. arn:aws:iam::000000000000:root.
	ARN string
	// UserID is the unique ID, as aws:userid (the account ID for root).
	UserID string
	// AccessKeyID is the access key that signed the request.
	AccessKeyID string
}

// Caller is one authenticated request: who, from where, into which region.
type Caller struct {
	Principal
	// Region is the signing region of the request; it selects the region
	// whose resources the request sees.
	Region string
	// SourceIP is the client address without port.
	SourceIP string
	// UserAgent is the client's User-Agent header.
	UserAgent string
	// RequestID is the ID returned to the client in x-amzn-RequestId.
	RequestID string
	// SecureTransport reports whether the request arrived over TLS.
	SecureTransport bool
}
