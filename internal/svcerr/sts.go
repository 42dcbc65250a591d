package svcerr

// Error codes only AWS STS returns. They are already spelled as the Query
// protocol sends them.
const (
	// InvalidIdentityToken: the web identity token is malformed, unsigned
	// by a trusted issuer, or not meant for this deployment.
	InvalidIdentityToken Code = "InvalidIdentityToken"
	// IDPRejectedClaim: the token is valid but its claims are not accepted
	// (e.g. it is expired or not yet valid).
	IDPRejectedClaim Code = "IDPRejectedClaim"
	// IDPCommunicationError: the issuer's keys could not be fetched.
	IDPCommunicationError Code = "IDPCommunicationError"
	// PackedPolicyTooLarge: the session policy and tags exceed the packed
	// size limit.
	PackedPolicyTooLarge Code = "PackedPolicyTooLarge"
)
