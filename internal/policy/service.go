package policy

// DecideService combines policies the way IAM's standard evaluation logic
// does for services whose resource-based policy is optional (Secrets
// Manager's secrets, unlike KMS keys): in.KeyPolicy is the resource's
// policy (nil when it has none) and in.KeyAccount the resource's account.
//
//   - An explicit Deny in any policy denies.
//   - Within the resource's account, either side grants: an identity-based
//     policy (narrowed by the session policy and permissions boundary; the
//     root user's identity permissions are complete), or a resource policy
//     statement that names the caller. A statement naming the caller's
//     account delegates to the identity side, as in Decide; a grant to a
//     role ARN is still narrowed by the session policy and boundary.
//   - Across accounts, both the resource policy and the caller's identity
//     side must allow.
func DecideService(in Inputs) Decision {
	req := in.Request
	if in.PermissionsBoundary != nil {
		req.Principal.PermissionsBoundary = true
	}
	deny := func(t PolicyType, r Result) Decision {
		return Decision{ExplicitDeny: true, Policy: t, Sid: r.Sid, Statement: r.Statement}
	}
	implicit := func(t PolicyType) Decision { return Decision{Policy: t, Statement: -1} }
	allowed := func(t PolicyType, r Result) Decision {
		return Decision{Allowed: true, Policy: t, Sid: r.Sid, Statement: r.Statement}
	}

	var rp Result
	if in.KeyPolicy != nil {
		if rp = in.KeyPolicy.Evaluate(&req); rp.Effect == Deny {
			return deny(ResourcePolicy, rp)
		}
	}
	id := Result{Statement: -1}
	for _, p := range in.IdentityPolicies {
		r := p.Evaluate(&req)
		if r.Effect == Deny {
			return deny(IdentityPolicy, r)
		}
		if r.Effect == Allow && id.Effect != Allow {
			id = r
		}
	}
	var bd, ss Result
	if in.PermissionsBoundary != nil {
		if bd = in.PermissionsBoundary.Evaluate(&req); bd.Effect == Deny {
			return deny(PermissionsBoundaryType, bd)
		}
	}
	if in.SessionPolicy != nil {
		if ss = in.SessionPolicy.Evaluate(&req); ss.Effect == Deny {
			return deny(SessionPolicyType, ss)
		}
	}
	p := &req.Principal
	boundaryOK := in.PermissionsBoundary == nil || bd.Effect == Allow
	sessionOK := in.SessionPolicy == nil || ss.Effect == Allow
	identityOK, identityFail := true, PolicyType(0)
	switch {
	case p.Type == TypeAccount:
	case id.Effect != Allow:
		identityOK, identityFail = false, IdentityPolicy
	case !boundaryOK:
		identityOK, identityFail = false, PermissionsBoundaryType
	case !sessionOK:
		identityOK, identityFail = false, SessionPolicyType
	}
	cross := p.Type != TypeService && p.Type != TypeAnonymous && p.Account != in.KeyAccount
	if cross {
		switch {
		case rp.Effect != Allow:
			return implicit(ResourcePolicy)
		case !identityOK:
			return implicit(identityFail)
		}
		return allowed(IdentityPolicy, id)
	}
	if rp.Effect == Allow {
		m := rp.Matches
		switch {
		case m&(MatchAny|MatchSession|MatchUser) != 0:
			return allowed(ResourcePolicy, rp)
		case m&MatchParentUser != 0 && sessionOK:
			return allowed(ResourcePolicy, rp)
		case m&MatchRole != 0 && sessionOK && boundaryOK:
			return allowed(ResourcePolicy, rp)
		}
	}
	if identityOK {
		return allowed(IdentityPolicy, id)
	}
	return implicit(identityFail)
}
