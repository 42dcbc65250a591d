package policy

// Inputs are the policies and facts behind one KMS authorization.
type Inputs struct {
	// Request is the action, the key's ARN, the caller and the condition keys.
	Request Request
	// KeyPolicy is the key's policy (a KindResource policy). Nil denies
	// everything, as a key without a policy would.
	KeyPolicy *Policy
	// IdentityPolicies are the caller's identity-based policies (those
	// attached to the user, its groups, or the role). The root user has none;
	// its identity permissions are implicitly complete.
	IdentityPolicies []*Policy
	// SessionPolicy is the session policy of a role or federated-user
	// session, if any. It narrows; it never grants.
	SessionPolicy *Policy
	// PermissionsBoundary is the user's or role's permissions boundary, if
	// any. It narrows identity-based grants and grants to a role ARN.
	PermissionsBoundary *Policy
	// KeyAccount is the account that owns the key. The caller's account is
	// Request.Principal.Account.
	KeyAccount string
}

// PolicyType names the kind of policy behind a decision, as AWS's access
// denied messages name it.
type PolicyType uint8

// Policy types.
const (
	ResourcePolicy PolicyType = iota + 1
	IdentityPolicy
	SessionPolicyType
	PermissionsBoundaryType
)

// String names the policy type as AWS's access denied messages do.
func (t PolicyType) String() string {
	switch t {
	case ResourcePolicy:
		return "resource-based policy"
	case IdentityPolicy:
		return "identity-based policy"
	case SessionPolicyType:
		return "session policy"
	case PermissionsBoundaryType:
		return "permissions boundary"
	}
	return "policy"
}

// Decision is the outcome of Decide.
type Decision struct {
	// Allowed is the answer.
	Allowed bool
	// ExplicitDeny reports that a Deny statement decided; otherwise a denial
	// is implicit (no policy of type Policy allowed).
	ExplicitDeny bool
	// Policy is the policy type that decided: for an allow, ResourcePolicy
	// (the key policy granted directly) or IdentityPolicy (the key policy
	// delegated to IAM and an identity-based policy granted); for a denial,
	// the policy that denied or failed to allow.
	Policy PolicyType
	// Sid and Statement identify the deciding statement within that policy
	// when there is one (Statement is -1 otherwise).
	Sid       string
	Statement int
}

// Message returns AWS's AccessDeniedException text for a denial of action on
// resource to the caller whose ARN is principal ("User: ... is not authorized
// to perform: ... with an explicit deny in a resource-based policy").
func (d Decision) Message(principal, action, resource string) string {
	head := "User: " + principal + " is not authorized to perform: " + action + " on resource: " + resource
	if d.ExplicitDeny {
		article := "a "
		if d.Policy == IdentityPolicy {
			article = "an "
		}
		return head + " with an explicit deny in " + article + d.Policy.String()
	}
	return head + " because no " + d.Policy.String() + " allows the " + action + " action"
}

// Decide combines the key policy, the caller's identity-based policies, its
// session policy and permissions boundary the way AWS KMS does:
//
//   - An explicit Deny in any of them denies.
//   - The key policy must always allow: unlike other AWS resources, a KMS key
//     is not reachable through identity-based policies alone, and the root
//     user of the key's own account is no exception (this is why KMS refuses
//     a key policy that would lock its caller out).
//   - When the key policy allows by naming the caller's account (its root
//     ARN or its bare ID), it delegates to IAM: an identity-based policy must
//     also allow (always true for the root user).
//   - Across accounts, the caller's identity-based policies must allow
//     whatever the key policy names.
//   - Within the account, a key policy that names the principal grants
//     directly. A grant to a role ARN is still limited by the session's
//     session policy and the role's permissions boundary; a grant to an IAM
//     user's ARN by a federated session's session policy; a grant to the
//     exact session ARN, or to "*", by neither.
//   - A session policy and a permissions boundary limit every grant made
//     through identity-based policies.
func Decide(in Inputs) Decision {
	req := in.Request
	v, d, denied := evaluate(&in, &req)
	if denied {
		return d
	}
	if v.resource.Effect != Allow {
		return implicit(ResourcePolicy)
	}
	p := &req.Principal
	m := v.resource.Matches
	cross := p.Type != TypeService && p.Type != TypeAnonymous && p.Account != in.KeyAccount
	if cross {
		if v.identityOK {
			return allowed(IdentityPolicy, v.identity)
		}
		return implicit(v.identityFail)
	}
	switch {
	case m&(MatchAny|MatchSession|MatchUser) != 0:
		return allowed(ResourcePolicy, v.resource)
	case m&MatchParentUser != 0 && v.sessionOK:
		return allowed(ResourcePolicy, v.resource)
	case m&MatchRole != 0 && v.sessionOK && v.boundaryOK:
		return allowed(ResourcePolicy, v.resource)
	case m&MatchAccount != 0 && v.identityOK:
		return allowed(IdentityPolicy, v.identity)
	}
	// Say why the nearest grant failed.
	switch {
	case m&MatchAccount != 0:
		return implicit(v.identityFail)
	case m&MatchRole != 0 && !v.boundaryOK:
		return implicit(PermissionsBoundaryType)
	case !v.sessionOK:
		return implicit(SessionPolicyType)
	}
	return implicit(ResourcePolicy)
}

// verdicts is what every policy of an Inputs says of one request, once no
// policy denies explicitly.
type verdicts struct {
	// resource is the resource (key) policy's result; identity the first
	// identity-based statement that allows.
	resource, identity Result
	// boundaryOK and sessionOK: the permissions boundary and the session
	// policy are absent or allow.
	boundaryOK, sessionOK bool
	// identityOK: what IAM grants the caller after its limits allows
	// (always, for the root user); otherwise identityFail names the policy
	// type that fell short.
	identityOK   bool
	identityFail PolicyType
}

// evaluate runs every policy of in on req in AWS's order (resource,
// identity, boundary, session) and returns the first explicit Deny as a
// decision with denied true, or every policy's verdict. It is the part
// Decide and DecideService share; req is in.Request, adjusted.
func evaluate(in *Inputs, req *Request) (v verdicts, d Decision, denied bool) {
	if in.PermissionsBoundary != nil {
		req.Principal.PermissionsBoundary = true
	}
	if in.KeyPolicy != nil {
		if v.resource = in.KeyPolicy.Evaluate(req); v.resource.Effect == Deny {
			return v, explicitDeny(ResourcePolicy, v.resource), true
		}
	}
	v.identity = Result{Statement: -1}
	for _, p := range in.IdentityPolicies {
		r := p.Evaluate(req)
		if r.Effect == Deny {
			return v, explicitDeny(IdentityPolicy, r), true
		}
		if r.Effect == Allow && v.identity.Effect != Allow {
			v.identity = r
		}
	}
	var bd, ss Result
	if in.PermissionsBoundary != nil {
		if bd = in.PermissionsBoundary.Evaluate(req); bd.Effect == Deny {
			return v, explicitDeny(PermissionsBoundaryType, bd), true
		}
	}
	if in.SessionPolicy != nil {
		if ss = in.SessionPolicy.Evaluate(req); ss.Effect == Deny {
			return v, explicitDeny(SessionPolicyType, ss), true
		}
	}
	v.boundaryOK = in.PermissionsBoundary == nil || bd.Effect == Allow
	v.sessionOK = in.SessionPolicy == nil || ss.Effect == Allow
	v.identityOK = true
	switch {
	case req.Principal.Type == TypeAccount:
		// The root user's identity permissions are complete.
	case v.identity.Effect != Allow:
		v.identityOK, v.identityFail = false, IdentityPolicy
	case !v.boundaryOK:
		v.identityOK, v.identityFail = false, PermissionsBoundaryType
	case !v.sessionOK:
		v.identityOK, v.identityFail = false, SessionPolicyType
	}
	return v, Decision{}, false
}

func explicitDeny(t PolicyType, r Result) Decision {
	return Decision{ExplicitDeny: true, Policy: t, Sid: r.Sid, Statement: r.Statement}
}

func implicit(t PolicyType) Decision { return Decision{Policy: t, Statement: -1} }

func allowed(t PolicyType, r Result) Decision {
	return Decision{Allowed: true, Policy: t, Sid: r.Sid, Statement: r.Statement}
}

// DecideIdentity decides an action that names no resource-based policy (in
// KMS: CreateKey, ListKeys, ListAliases, GenerateRandom and the like, whose
// resource is "*"): the identity-based policies alone grant, an explicit
// Deny in any policy wins, and a session policy and a permissions boundary
// narrow. The root user's identity permissions are complete, as in Decide;
// in.KeyPolicy and in.KeyAccount are ignored.
func DecideIdentity(in Inputs) Decision {
	req := in.Request
	if in.PermissionsBoundary != nil {
		req.Principal.PermissionsBoundary = true
	}
	id := Result{Statement: -1}
	for _, p := range in.IdentityPolicies {
		r := p.Evaluate(&req)
		if r.Effect == Deny {
			return Decision{ExplicitDeny: true, Policy: IdentityPolicy, Sid: r.Sid, Statement: r.Statement}
		}
		if r.Effect == Allow && id.Effect != Allow {
			id = r
		}
	}
	limits := []struct {
		p *Policy
		t PolicyType
	}{{in.PermissionsBoundary, PermissionsBoundaryType}, {in.SessionPolicy, SessionPolicyType}}
	for _, l := range limits {
		if l.p == nil {
			continue
		}
		r := l.p.Evaluate(&req)
		if r.Effect == Deny {
			return Decision{ExplicitDeny: true, Policy: l.t, Sid: r.Sid, Statement: r.Statement}
		}
		if r.Effect != Allow && req.Principal.Type != TypeAccount {
			return Decision{Policy: l.t, Statement: -1}
		}
	}
	if req.Principal.Type == TypeAccount {
		return Decision{Allowed: true, Policy: IdentityPolicy, Statement: -1}
	}
	if id.Effect != Allow {
		return Decision{Policy: IdentityPolicy, Statement: -1}
	}
	return Decision{Allowed: true, Policy: IdentityPolicy, Sid: id.Sid, Statement: id.Statement}
}
