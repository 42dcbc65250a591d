package policy

import (
	"fmt"
	"strings"
)

// Severity ranks a lint finding.
type Severity uint8

// Severities, lowest first.
const (
	Info Severity = iota + 1
	Low
	Medium
	High
)

// String returns the severity in lower case.
func (s Severity) String() string {
	switch s {
	case Info:
		return "info"
	case Low:
		return "low"
	case Medium:
		return "medium"
	case High:
		return "high"
	}
	return "unknown"
}

// Finding is one lint result.
type Finding struct {
	// ID is stable across releases, e.g. "ARCA-POL-001".
	ID       string
	Severity Severity
	// Statement is the statement's index and Sid its Sid ("" if none).
	Statement int
	Sid       string
	// Message says what is wrong; Fix says how to narrow it.
	Message string
	Fix     string
}

// Lint finding IDs.
const (
	LintPublicPrincipal  = "ARCA-POL-001" // Principal "*" with no restricting condition
	LintWildcardAction   = "ARCA-POL-002" // "*" or "service:*" granted
	LintCrossAccountAll  = "ARCA-POL-003" // Resource "*" granted to another account
	LintEscalation       = "ARCA-POL-004" // privilege-escalation action on every resource
	LintNoEffect         = "ARCA-POL-005" // key policy statement without Action or Resource
	LintNegatedGrant     = "ARCA-POL-006" // Allow with NotAction or NotResource
	LintForAllValuesOpen = "ARCA-POL-007" // Allow with ForAllValues, true on an absent key
)

// LintOption configures Lint.
type LintOption func(*lintConfig)

type lintConfig struct{ account string }

// WithAccount names the account that owns the policy (the key's account), so
// that grants to other accounts can be told apart from grants to its own.
func WithAccount(account string) LintOption {
	return func(c *lintConfig) { c.account = account }
}

// restrictingKeys are condition keys that narrow "who": a public grant
// conditioned on one of them (with a positive operator, without IfExists or
// ForAllValues, which are true when the key is absent) is not public.
var restrictingKeys = map[string]bool{
	"aws:principalaccount": true, "aws:principalarn": true, "aws:principalorgid": true,
	"aws:principalorgpaths": true, "aws:sourceaccount": true, "aws:sourcearn": true,
	"aws:sourceorgid": true, "aws:sourceorgpaths": true, "aws:sourcevpc": true,
	"aws:sourcevpce": true, "aws:sourceip": true, "aws:userid": true, "aws:username": true,
	"aws:principalservicename": true, "kms:calleraccount": true, "kms:viaservice": true,
	"kms:granteeprincipal": true,
}

// escalationActions let a principal give itself more power when granted on
// every resource.
var escalationActions = []string{
	"iam:PassRole", "iam:PutRolePolicy", "iam:CreateAccessKey", "iam:AttachRolePolicy", "sts:AssumeRole",
}

// Lint reports risky grants in p, parsed as kind. It never reports Deny
// statements: they only narrow.
func Lint(p *Policy, kind Kind, opts ...LintOption) []Finding {
	var cfg lintConfig
	for _, o := range opts {
		o(&cfg)
	}
	var out []Finding
	add := func(i int, id string, sev Severity, msg, fix string) {
		out = append(out, Finding{ID: id, Severity: sev, Statement: i, Sid: p.Statements[i].Sid, Message: msg, Fix: fix})
	}
	for i := range p.Statements {
		s := &p.Statements[i]
		if kind == KindResource && s.inert {
			add(i, LintNoEffect, Low, "statement has no Action or no Resource, so KMS accepts it but it has no effect",
				"add the missing Action or Resource element (in a key policy, Resource \"*\" means this key)")
			continue
		}
		if s.Effect != Allow {
			continue
		}
		public := false
		for _, e := range s.principals {
			if e.kind == pkAny {
				public = true
			}
		}
		if public && !s.restricted() {
			add(i, LintPublicPrincipal, High, "Principal \"*\" grants every AWS principal, in any account, with no condition narrowing who",
				"name the principals, or add a condition such as StringEquals on kms:CallerAccount or aws:PrincipalOrgID")
		}
		if !s.notAction {
			for _, a := range s.actionSrc {
				if a != "*" && !strings.HasSuffix(a, ":*") {
					continue
				}
				sev := Medium
				if s.onlyAccountPrincipals() {
					sev = Info // AWS's default key policy: delegation of kms:* to the account's IAM
				}
				add(i, LintWildcardAction, sev, fmt.Sprintf("Action %q grants every current and future action", a),
					"list the actions the principal needs, e.g. kms:Encrypt and kms:Decrypt; keep kms:* only for the account-root statement that delegates to IAM")
			}
		}
		if s.notAction || s.notResource {
			add(i, LintNegatedGrant, Medium, "Allow with NotAction or NotResource grants everything not listed, including actions and resources added later",
				"list the allowed actions and resources with Action and Resource instead")
		}
		// A trust policy's Resource is implicitly its own role, never "*"
		// in the sense these two rules mean.
		trust := kind == KindTrust
		if other := s.otherAccount(cfg.account); other != "" && s.allResources() && !trust {
			add(i, LintCrossAccountAll, Medium, fmt.Sprintf("Resource \"*\" is granted to %s, outside this account", other),
				"grant the other account only the actions it needs, and restrict it with conditions such as kms:ViaService or aws:PrincipalArn")
		}
		if s.allResources() && !trust {
			for _, a := range escalationActions {
				if s.actionMatches(a) {
					add(i, LintEscalation, High, fmt.Sprintf("%s on every resource lets the principal escalate its own privileges", a),
						"name the specific roles or users in Resource, and condition iam:PassRole on iam:PassedToService")
				}
			}
		}
		for _, c := range s.conds {
			if c.set == setForAll && !c.op.neg {
				add(i, LintForAllValuesOpen, Low, fmt.Sprintf("%s on %s is true when the request lacks the key, so this Allow also applies then", c.opName, c.key),
					"add a Null condition with \"false\" for the key, or use ForAnyValue")
			}
		}
	}
	return out
}

func (s *Statement) restricted() bool {
	for _, c := range s.conds {
		if restrictingKeys[strings.ToLower(c.key)] && !c.op.neg && !c.ifExists && c.set != setForAll && c.op.fam != famNull {
			return true
		}
	}
	return false
}

func (s *Statement) onlyAccountPrincipals() bool {
	if len(s.principals) == 0 {
		return false
	}
	for _, e := range s.principals {
		if e.kind != pkAccount {
			return false
		}
	}
	return true
}

// otherAccount returns a principal outside account that s grants to ("" if
// none). Without a known account, naming more than one account, or "*",
// counts as granting another account.
func (s *Statement) otherAccount(account string) string {
	var first string
	for _, e := range s.principals {
		switch {
		case e.kind == pkAny:
			return "\"*\""
		case e.account == "":
		case account != "" && e.account != account:
			return "account " + e.account
		case account == "" && first == "":
			first = e.account
		case account == "" && e.account != first:
			return "account " + e.account
		}
	}
	return ""
}

func (s *Statement) allResources() bool {
	if s.notResource {
		return true
	}
	for _, r := range s.resources {
		if r.all {
			return true
		}
	}
	return false
}
