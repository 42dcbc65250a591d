package policy

import "strings"

// Context holds the request's condition keys. Key names are case-insensitive,
// as in AWS; values are kept as given. A key set with no values counts as
// absent (Null is true, ...IfExists is satisfied).
//
// A Context is built per request and may be reused with Reset, which keeps its
// storage so a server can pool contexts and build them without allocating.
// It is not safe for concurrent mutation; evaluation only reads it.
type Context struct {
	entries []entry
}

type entry struct {
	key  string
	one  string   // the value of a single-valued key
	many []string // the values of a multivalued key; nil for single-valued
	set  bool     // many is authoritative (a multivalued key, possibly empty)
}

func (e *entry) count() int {
	if e.set {
		return len(e.many)
	}
	return 1
}

func (e *entry) at(i int) string {
	if e.set {
		return e.many[i]
	}
	return e.one
}

// Reset empties c, keeping its storage.
func (c *Context) Reset() { c.entries = c.entries[:0] }

// Set sets the single-valued key to value, replacing any earlier value.
func (c *Context) Set(key, value string) {
	if e := c.find(key); e != nil {
		*e = entry{key: key, one: value}
		return
	}
	c.entries = append(c.entries, entry{key: key, one: value})
}

// Add appends the single-valued key without looking for an earlier value of
// it: the fast path for builders that set each key once. Where a key may
// repeat (case-insensitively), use Set.
func (c *Context) Add(key, value string) {
	c.entries = append(c.entries, entry{key: key, one: value})
}

// SetMulti sets a multivalued key (aws:TagKeys, kms:EncryptionContextKeys,
// kms:GrantOperations, ...). values is kept, not copied: do not change it
// while c is in use. An empty slice makes the key absent.
func (c *Context) SetMulti(key string, values []string) {
	if e := c.find(key); e != nil {
		*e = entry{key: key, many: values, set: true}
		return
	}
	c.entries = append(c.entries, entry{key: key, many: values, set: true})
}

// SetBool sets key to "true" or "false", the spelling the Bool operator
// compares against.
func (c *Context) SetBool(key string, v bool) {
	if v {
		c.Set(key, "true")
	} else {
		c.Set(key, "false")
	}
}

// Delete removes key.
func (c *Context) Delete(key string) {
	for i := range c.entries {
		if strings.EqualFold(c.entries[i].key, key) {
			c.entries = append(c.entries[:i], c.entries[i+1:]...)
			return
		}
	}
}

// Values returns a copy of key's values and whether the key is present.
// It is for callers and tests; evaluation reads the context in place.
func (c *Context) Values(key string) ([]string, bool) {
	e := c.lookup(key)
	if e == nil {
		return nil, false
	}
	out := make([]string, e.count())
	for i := range out {
		out[i] = e.at(i)
	}
	return out, true
}

func (c *Context) find(key string) *entry {
	for i := range c.entries {
		if strings.EqualFold(c.entries[i].key, key) {
			return &c.entries[i]
		}
	}
	return nil
}

// lookup returns the entry for key, or nil if the key is absent or empty.
func (c *Context) lookup(key string) *entry {
	if c == nil {
		return nil
	}
	e := c.find(key)
	if e == nil || e.count() == 0 {
		return nil
	}
	return e
}

// variable resolves a policy variable: only a key with exactly one value can
// stand in for a variable (AWS: multivalued keys cannot be variables).
func (c *Context) variable(key string) (string, bool) {
	e := c.lookup(key)
	if e == nil || e.set {
		return "", false
	}
	return e.one, true
}

// PrincipalType is the kind of identity making a request, spelled as the
// aws:PrincipalType condition key spells it.
type PrincipalType string

// The principal types. Account is an account's root user.
const (
	TypeAccount       PrincipalType = "Account"
	TypeUser          PrincipalType = "User"
	TypeAssumedRole   PrincipalType = "AssumedRole"
	TypeFederatedUser PrincipalType = "FederatedUser"
	TypeService       PrincipalType = "Service"
	TypeAnonymous     PrincipalType = "Anonymous"
)

// Principal is what the authenticator knows about the caller; the Principal
// and NotPrincipal elements are matched against it.
type Principal struct {
	Type PrincipalType
	// Account is the caller's 12-digit account (empty for services and
	// anonymous callers).
	Account string
	// ARN is the caller's own ARN: arn:aws:iam::A:root, arn:aws:iam::A:user/N,
	// arn:aws:sts::A:assumed-role/R/S, arn:aws:sts::A:federated-user/N.
	ARN string
	// SourceARN is the identity a session was made from: the role's ARN
	// (with its path) for an assumed-role session, the IAM user's (or root's)
	// ARN for a federated-user session. It is what aws:PrincipalArn holds for
	// a role session, and what a role ARN in a Principal element matches.
	SourceARN string
	// Service is the service principal ("logs.amazonaws.com") when Type is
	// TypeService.
	Service string
	// FederatedProvider is the web identity or SAML provider a role session
	// was federated through, matched by {"Federated": ...}.
	FederatedProvider string
	// PermissionsBoundary reports that the caller (an IAM user or role) has a
	// permissions boundary. AWS documents that a Deny statement with
	// NotPrincipal then always applies to it; Decide sets it when its input
	// has a boundary.
	PermissionsBoundary bool
}

// SetPrincipal sets the principal keys AWS puts in every authenticated
// request: aws:PrincipalArn, aws:PrincipalAccount and aws:PrincipalType.
// aws:userid and aws:username depend on the credential and are the caller's
// to set.
func (c *Context) SetPrincipal(p Principal) {
	arn := p.ARN
	if p.Type == TypeAssumedRole && p.SourceARN != "" {
		arn = p.SourceARN
	}
	if arn != "" {
		c.Set("aws:PrincipalArn", arn)
	}
	if p.Account != "" {
		c.Set("aws:PrincipalAccount", p.Account)
	}
	if p.Type != "" {
		c.Set("aws:PrincipalType", string(p.Type))
	}
}

// Request is one authorization question: may Principal perform Action on
// Resource, given the condition keys in Context?
type Request struct {
	// Action is "service:Operation", e.g. "kms:Encrypt" (matched
	// case-insensitively).
	Action string
	// Resource is the resource's ARN, or "*" for actions on no resource.
	Resource string
	// Principal is the caller, matched against Principal/NotPrincipal.
	Principal Principal
	// Context holds the condition keys; nil means none.
	Context *Context
}
