// Package auth defines who is calling: the authenticated principal and the
// request facts (region, source address, request ID) that services use for
// authorization and audit.
//
// It imports nothing of Arca's, so every layer may use it.
package auth

import "time"

// PrincipalType is the kind of identity behind a request, spelled as
// CloudTrail's userIdentity.type.
type PrincipalType string

// Principal types.
const (
	Root        PrincipalType = "Root"
	IAMUser     PrincipalType = "IAMUser"
	AssumedRole PrincipalType = "AssumedRole"
	// FederatedUser is a GetFederationToken session; Arca does not issue
	// them yet, but policies and audit spell the type.
	FederatedUser PrincipalType = "FederatedUser"
)

// Principal is an authenticated identity.
type Principal struct {
	// Type is the kind of identity.
	Type PrincipalType
	// Account is the 12-digit account the identity belongs to.
	Account string
	// ARN is the identity's ARN, e.g. arn:aws:iam::000000000000:root, or
	// arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION for a role session.
	ARN string
	// UserID is the unique ID, as aws:userid: the account ID for root, the
	// user ID (AIDA...) for a user, ROLEID:SESSION for a role session.
	UserID string
	// AccessKeyID is the access key that signed the request.
	AccessKeyID string

	// UserName is the IAM user's name (aws:username); empty for others.
	UserName string
	// SourceARN is the identity a session was made from, as
	// aws:PrincipalArn sees it: the role's ARN for a role session, the
	// user's ARN for a GetSessionToken session. Empty for long-term keys.
	SourceARN string
	// SessionName is a role session's name.
	SessionName string
	// SourceIdentity is the source identity set on a role session.
	SourceIdentity string
	// Tags are the principal's tags (aws:PrincipalTag/*): a user's tags, or
	// a role's tags overlaid with the session's tags. Never modified.
	Tags map[string]string
	// Expiration is when temporary credentials stop working; zero for
	// long-term access keys.
	Expiration time.Time
	// Temporary reports whether the request was signed with temporary
	// (session) credentials.
	Temporary bool
}

// PolicyType is the principal's type as the aws:PrincipalType condition key
// spells it ("Account" for root, "User", "AssumedRole", "FederatedUser").
func (p *Principal) PolicyType() string {
	switch p.Type {
	case Root:
		return "Account"
	case AssumedRole:
		return "AssumedRole"
	case FederatedUser:
		return "FederatedUser"
	}
	return "User"
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
	// ViaService is set when another Arca service calls on the caller's
	// behalf (kms:ViaService, e.g. "secretsmanager.us-east-1.amazonaws.com").
	ViaService string
}
