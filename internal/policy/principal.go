package policy

import (
	"strings"

	"github.com/arca-kms/arca/internal/arn"
)

type principalKind uint8

const (
	pkAny       principalKind = iota + 1 // "*"
	pkAccount                            // an account: ACCOUNT or arn:...:iam::ACCOUNT:root
	pkUser                               // arn:...:iam::A:user/...
	pkRole                               // arn:...:iam::A:role/...
	pkSession                            // arn:...:sts::A:assumed-role/R/S or federated-user/N
	pkService                            // {"Service": "x.amazonaws.com"}
	pkFederated                          // {"Federated": provider}
)

// principalEntry is one value of a Principal or NotPrincipal element.
type principalEntry struct {
	typ     string // "AWS", "Service" or "Federated", as written
	value   string // as written
	kind    principalKind
	account string // the 12-digit account for AWS principals
	arn     string
}

// Match is a set of ways a resource policy's Principal element matched the
// caller. It matters because AWS limits some of them by the caller's session
// policy and permissions boundary and not others (see Decide).
type Match uint8

// The ways a Principal element can match a caller.
const (
	// MatchAny: "*" (or {"AWS": "*"}). Not limited by session policies or
	// permissions boundaries (AWS documents this for the "*" principal).
	MatchAny Match = 1 << iota
	// MatchAccount: the caller's account ("111122223333" or its root ARN).
	// This delegates to the account: the caller's identity-based policies
	// must also allow (the root user's always do).
	MatchAccount
	// MatchUser: the caller's IAM user ARN. Not limited by a boundary.
	MatchUser
	// MatchParentUser: the IAM user (or root) a federated-user session was
	// made from. Limited by the session policy.
	MatchParentUser
	// MatchRole: the role an assumed-role session was made from. Limited by
	// the session policy and the role's permissions boundary.
	MatchRole
	// MatchSession: the exact session ARN, the calling service, or the
	// federated provider. Granted to the session directly, unlimited.
	MatchSession
	// MatchSelf: an identity-based policy's statement (no Principal element;
	// the principal is the identity the policy is attached to).
	MatchSelf
)

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// partitions are AWS's partitions; a principal or resource ARN must name one.
var partitions = map[string]bool{
	"aws": true, "aws-cn": true, "aws-us-gov": true, "aws-iso": true,
	"aws-iso-b": true, "aws-iso-e": true, "aws-iso-f": true, "aws-eusc": true,
}

// compilePrincipal validates one principal value. AWS allows no wildcard in a
// principal except "*" alone under "AWS" ("You cannot use a wildcard to match
// part of a principal name or ARN"), and a role session must name a session.
func compilePrincipal(typ, v string) (principalEntry, bool) {
	e := principalEntry{typ: typ, value: v}
	switch typ {
	case "AWS":
		if v == "*" {
			e.kind = pkAny
			return e, true
		}
		if strings.ContainsAny(v, "*?") {
			return e, false
		}
		if isAccountID(v) {
			e.kind, e.account = pkAccount, v
			return e, true
		}
		a, err := arn.Parse(v)
		if err != nil || !partitions[a.Partition] || a.Region != "" || !isAccountID(a.Account) {
			return e, false
		}
		e.account, e.arn = a.Account, v
		switch a.Service {
		case "iam":
			switch {
			case a.Resource == "root":
				e.kind = pkAccount
			case strings.HasPrefix(a.Resource, "user/") && len(a.Resource) > len("user/"):
				e.kind = pkUser
			case strings.HasPrefix(a.Resource, "role/") && len(a.Resource) > len("role/"):
				e.kind = pkRole
			default:
				return e, false
			}
		case "sts":
			switch {
			case strings.HasPrefix(a.Resource, "assumed-role/"):
				rest := strings.TrimPrefix(a.Resource, "assumed-role/")
				role, session, ok := strings.Cut(rest, "/")
				if !ok || role == "" || session == "" || strings.Contains(session, "/") {
					return e, false
				}
				e.kind = pkSession
			case strings.HasPrefix(a.Resource, "federated-user/") && len(a.Resource) > len("federated-user/"):
				e.kind = pkSession
			default:
				return e, false
			}
		default:
			return e, false
		}
		return e, true
	case "Service":
		if v == "" || strings.ContainsAny(v, "*? ") {
			return e, false
		}
		e.kind = pkService
		return e, true
	case "Federated":
		if v == "" || strings.ContainsAny(v, "*? ") {
			return e, false
		}
		e.kind = pkFederated
		return e, true
	}
	return e, false
}

// match returns how e matches the caller, or 0.
func (e *principalEntry) match(p *Principal) Match {
	switch e.kind {
	case pkAny:
		return MatchAny
	case pkAccount:
		if p.Account == e.account && p.Type != TypeService && p.Type != TypeAnonymous && p.Type != "" {
			return MatchAccount
		}
	case pkUser:
		switch {
		case p.Type == TypeUser && p.ARN == e.arn:
			return MatchUser
		case p.Type == TypeFederatedUser && p.SourceARN == e.arn:
			return MatchParentUser
		}
	case pkRole:
		if p.Type == TypeAssumedRole && p.SourceARN == e.arn {
			return MatchRole
		}
	case pkSession:
		if (p.Type == TypeAssumedRole || p.Type == TypeFederatedUser) && p.ARN == e.arn {
			return MatchSession
		}
	case pkService:
		if p.Type == TypeService && p.Service == e.value {
			return MatchSession
		}
	case pkFederated:
		if p.FederatedProvider != "" && p.FederatedProvider == e.value {
			return MatchSession
		}
	}
	return 0
}

// excludes reports whether a NotPrincipal list exempts the caller. AWS checks
// a caller's identities from the outside in (account, then role or user, then
// session), and a Deny applies at the first one the list does not name: so an
// IAM user is exempt only if both its account and its user ARN are listed, a
// role session only if its account and its role ARN are listed, and the root
// user if its account is listed ("you must also specify the account ARN of
// the not-denied principal").
func excludes(list []principalEntry, p *Principal) bool {
	var account, identity bool
	for i := range list {
		e := &list[i]
		switch e.kind {
		case pkAny:
			return true
		case pkAccount:
			if p.Account != "" && p.Account == e.account {
				account = true
			}
		case pkUser:
			if (p.Type == TypeUser && p.ARN == e.arn) || (p.Type == TypeFederatedUser && p.SourceARN == e.arn) {
				identity = true
			}
		case pkRole:
			if p.Type == TypeAssumedRole && p.SourceARN == e.arn {
				identity = true
			}
		case pkSession:
			if p.Type == TypeFederatedUser && p.ARN == e.arn {
				identity = true
			}
		case pkService:
			if p.Type == TypeService && p.Service == e.value {
				return true
			}
		case pkFederated:
			if p.FederatedProvider != "" && p.FederatedProvider == e.value {
				identity = true
			}
		}
	}
	if p.Type == TypeAccount {
		return account
	}
	return account && identity
}
