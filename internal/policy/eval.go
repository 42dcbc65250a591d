package policy

// Result is the outcome of evaluating one policy.
type Result struct {
	// Effect is Deny if any applicable statement denies, else Allow if any
	// allows, else NotApplicable (an implicit deny).
	Effect Effect
	// Sid and Statement identify the deciding statement: the denying one, or
	// the first allowing one. Statement is -1 when Effect is NotApplicable.
	Sid       string
	Statement int
	// Matches collects how the Principal element of every allowing
	// statement matched the caller (MatchSelf for identity-based policies).
	Matches Match
}

// Evaluate evaluates p for r. It does not allocate.
func (p *Policy) Evaluate(r *Request) Result {
	res := Result{Statement: -1}
	for i := range p.Statements {
		s := &p.Statements[i]
		m, ok := s.applies(r)
		if !ok {
			continue
		}
		if s.Effect == Deny {
			return Result{Effect: Deny, Sid: s.Sid, Statement: i}
		}
		if res.Effect != Allow {
			res.Effect, res.Sid, res.Statement = Allow, s.Sid, i
		}
		res.Matches |= m
	}
	return res
}

// applies reports whether s applies to r and, for an Allow with a Principal
// element, how the principal matched. Cheap tests run first.
func (s *Statement) applies(r *Request) (Match, bool) {
	if s.inert || !s.actionMatches(r.Action) || !s.resourceMatches(r.Resource, r.Context) {
		return 0, false
	}
	m := MatchSelf
	if s.hasPrincipal {
		if s.notPrincipal {
			p := &r.Principal
			boundaryQuirk := p.PermissionsBoundary && (p.Type == TypeUser || p.Type == TypeAssumedRole)
			if excludes(s.principals, p) && !boundaryQuirk {
				return 0, false
			}
			m = MatchAny
		} else {
			m = 0
			for i := range s.principals {
				m |= s.principals[i].match(&r.Principal)
			}
			if m == 0 {
				return 0, false
			}
		}
	}
	for i := range s.conds {
		if !s.conds[i].eval(r.Context) {
			return 0, false
		}
	}
	return m, true
}

func (s *Statement) actionMatches(action string) bool {
	for i := range s.actions {
		if ok, _ := s.actions[i].match(action, true, nil); ok {
			return !s.notAction
		}
	}
	return s.notAction
}

// resourceMatches: an entry whose variable cannot be resolved never matches,
// and makes a NotResource statement inapplicable (AWS: the statement is
// invalid), so an unknown never widens a statement.
func (s *Statement) resourceMatches(resource string, c *Context) bool {
	for i := range s.resources {
		ok, unknown := s.resources[i].match(resource, c)
		if ok {
			return !s.notResource
		}
		if unknown && s.notResource {
			return false
		}
	}
	return s.notResource
}
