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
	v, d, denied := evaluate(&in, &req)
	if denied {
		return d
	}
	p := &req.Principal
	cross := p.Type != TypeService && p.Type != TypeAnonymous && p.Account != in.KeyAccount
	if cross {
		switch {
		case v.resource.Effect != Allow:
			return implicit(ResourcePolicy)
		case !v.identityOK:
			return implicit(v.identityFail)
		}
		return allowed(IdentityPolicy, v.identity)
	}
	if v.resource.Effect == Allow {
		m := v.resource.Matches
		switch {
		case m&(MatchAny|MatchSession|MatchUser) != 0:
			return allowed(ResourcePolicy, v.resource)
		case m&MatchParentUser != 0 && v.sessionOK:
			return allowed(ResourcePolicy, v.resource)
		case m&MatchRole != 0 && v.sessionOK && v.boundaryOK:
			return allowed(ResourcePolicy, v.resource)
		}
	}
	if v.identityOK {
		return allowed(IdentityPolicy, v.identity)
	}
	return implicit(v.identityFail)
}
