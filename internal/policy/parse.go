package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// Kind is the kind of policy document, which decides what the grammar allows.
type Kind uint8

// Policy kinds.
const (
	// KindResource is a resource-based policy such as a KMS key policy: every
	// statement names a Principal (or NotPrincipal, with Deny). As KMS does,
	// a statement without Action or Resource is accepted but has no effect.
	KindResource Kind = iota + 1
	// KindIdentity is an identity-based policy attached to a user, group or
	// role: no Principal; Version must be 2012-10-17, as IAM requires.
	KindIdentity
	// KindTrust is a role trust policy: Principal required, Resource and
	// NotPrincipal forbidden.
	KindTrust
	// KindSession is a session policy passed to AssumeRole or
	// GetFederationToken: grammar of an identity policy.
	KindSession
)

// String names the kind, for messages.
func (k Kind) String() string {
	switch k {
	case KindResource:
		return "resource"
	case KindIdentity:
		return "identity"
	case KindTrust:
		return "trust"
	case KindSession:
		return "session"
	}
	return "unknown"
}

// AWS's size quotas. IAM counts characters other than white space against its
// quotas; KMS counts the bytes of a key policy; STS counts the characters of
// an inline session policy.
const (
	MaxKeyPolicyBytes        = 32768 // a KMS key policy
	MaxManagedPolicyChars    = 6144  // an IAM managed policy
	MaxInlineUserPolicyChars = 2048  // all inline policies of one user, together
	MaxInlineGroupChars      = 5120  // all inline policies of one group, together
	MaxInlineRolePolicyChars = 10240 // all inline policies of one role, together
	MaxTrustPolicyChars      = 2048  // a role trust policy (default quota)
	MaxSessionPolicyChars    = 2048  // an inline session policy

	// MaxPolicyDocumentChars is the length limit of the IAM API's policy
	// document parameters (PolicyDocument, AssumeRolePolicyDocument), checked
	// as a validation error before any quota.
	MaxPolicyDocumentChars = 131072
)

// IAMSize is the size IAM charges a policy document against its quotas: its
// characters, not counting white space. Use it to enforce the aggregate
// inline-policy quotas, which span several documents.
func IAMSize(doc []byte) int {
	n := 0
	for _, r := range string(doc) {
		switch r {
		case ' ', '\t', '\n', '\r':
		default:
			n++
		}
	}
	return n
}

// Options tune Parse.
type Options struct {
	// Kind is the kind of document; zero means KindResource.
	Kind Kind
	// MaxSize overrides the kind's size quota: 0 keeps AWS's default
	// (32768 bytes for KindResource, 6144 characters for KindIdentity, 2048
	// for KindTrust and KindSession); a negative value disables the check.
	MaxSize int
}

// Policy is a parsed and compiled policy document. It is immutable after
// Parse and safe for concurrent evaluation.
type Policy struct {
	// Version is the policy language version, "2012-10-17" or "2008-10-17"
	// (the default when the document has none).
	Version string
	// ID is the optional Id element.
	ID string
	// Kind is the kind the document was parsed as.
	Kind Kind
	// Statements are the policy's statements in document order. Treat them as
	// read-only.
	Statements []Statement
}

// Effect is a statement's effect, or the outcome of evaluating a policy.
type Effect uint8

// Effects. NotApplicable is only an evaluation outcome: no statement applied
// (AWS's implicit deny).
const (
	NotApplicable Effect = iota
	Allow
	Deny
)

// String returns "Allow", "Deny" or "NotApplicable".
func (e Effect) String() string {
	switch e {
	case Allow:
		return "Allow"
	case Deny:
		return "Deny"
	}
	return "NotApplicable"
}

// Statement is one compiled statement.
type Statement struct {
	// Sid is the statement's Sid, or "".
	Sid string
	// Effect is Allow or Deny.
	Effect Effect

	inert        bool // a key policy statement without Action or Resource: no effect
	notAction    bool
	actions      []glob
	actionSrc    []string
	notResource  bool
	resources    []arnPattern
	resourceSrc  []string
	hasPrincipal bool
	notPrincipal bool
	principals   []principalEntry
	conds        []condition
}

// Parse parses a resource-based policy (such as a KMS key policy) under AWS's
// rules for PutKeyPolicy. Use ParseWith for other kinds.
func Parse(doc []byte) (*Policy, error) {
	return ParseWith(doc, Options{Kind: KindResource})
}

var (
	topElements       = map[string]bool{"Version": true, "Id": true, "Statement": true}
	statementElements = map[string]bool{
		"Sid": true, "Effect": true, "Principal": true, "NotPrincipal": true, "Action": true,
		"NotAction": true, "Resource": true, "NotResource": true, "Condition": true,
	}
)

// rawStatement is a statement after the syntax pass.
type rawStatement struct {
	sid                  string
	effect               string
	actions, resources   []string
	hasAction            bool
	hasResource          bool
	notAction            bool
	notResource          bool
	notPrincipal         bool
	hasPrincipal         bool
	conds                []rawCond
	principalAny         bool
	principalMap         map[string][]string
	principalMapKeyOrder []string
}

type rawCond struct {
	op     string
	key    string
	values []string
}

// ParseWith parses doc as a policy of opts.Kind. Every refusal is a
// *MalformedError whose Reason is AWS's message for the same document.
func ParseWith(doc []byte, opts Options) (*Policy, error) {
	kind := opts.Kind
	if kind == 0 {
		kind = KindResource
	}
	if err := checkSize(doc, kind, opts.MaxSize); err != nil {
		return nil, err
	}
	if err := checkCharacters(doc); err != nil {
		return nil, err
	}

	// Syntax: the JSON shape of every element.
	top, ok := object(doc)
	if !ok {
		return nil, malformed(ReasonSyntax, "the document is not a JSON object")
	}
	for _, k := range sortedKeys(top) {
		if !topElements[k] {
			return nil, malformed(ReasonSyntax, "unknown top-level element %q", k)
		}
	}
	p := &Policy{Version: "2008-10-17", Kind: kind}
	if raw, ok := top["Version"]; ok {
		v, ok := str(raw)
		if !ok || (v != "2012-10-17" && v != "2008-10-17") {
			return nil, malformed(ReasonSyntax, "Version must be \"2012-10-17\" or \"2008-10-17\"")
		}
		p.Version = v
	}
	if raw, ok := top["Id"]; ok {
		v, ok := str(raw)
		if !ok {
			return nil, malformed(ReasonSyntax, "Id must be a string")
		}
		p.ID = v
	}
	rawStmts, err := statements(top)
	if err != nil {
		return nil, err
	}
	stmts := make([]rawStatement, len(rawStmts))
	for i, raw := range rawStmts {
		if err := parseStatementSyntax(raw, &stmts[i], i); err != nil {
			return nil, err
		}
	}

	// The language version, as IAM requires of identity policies.
	if kind == KindIdentity && p.Version != "2012-10-17" {
		return nil, malformed(ReasonVersion, "Version is %q", p.Version)
	}

	// What AWS calls legacy parsing: effect case, date values, resource shape.
	for i := range stmts {
		s := &stmts[i]
		if s.effect != "Allow" && s.effect != "Deny" {
			return nil, malformed(ReasonLegacy, "statement %d: Effect %q must be spelled Allow or Deny", i, s.effect)
		}
		for _, c := range s.conds {
			op, _, _, _ := parseOperator(c.op)
			if op.fam != famDate {
				continue
			}
			for _, v := range c.values {
				if _, ok := parseDate(v); !ok {
					return nil, malformed(ReasonLegacy, "statement %d: %s value %q is not a date", i, c.op, v)
				}
			}
		}
		for _, r := range s.resources {
			if r == "*" {
				continue
			}
			if strings.Contains(r, "::") && strings.Count(r, ":") < 5 {
				return nil, malformed(ReasonLegacy, "statement %d: resource %q has too few components", i, r)
			}
		}
	}

	// Statement IDs.
	seen := map[string]bool{}
	for i := range stmts {
		s := &stmts[i]
		if s.sid == "" {
			continue
		}
		if seen[s.sid] {
			return nil, malformed(ReasonDuplicateSid, "Sid %q appears twice", s.sid)
		}
		seen[s.sid] = true
		if kind != KindResource && !alnum(s.sid) {
			return nil, malformed(ReasonSidCharacters, "statement %d: Sid %q", i, s.sid)
		}
	}

	// Principals, by kind.
	for i := range stmts {
		s := &stmts[i]
		switch kind {
		case KindIdentity, KindSession:
			if s.hasPrincipal {
				return nil, malformed(ReasonPrincipalNotAllow, "statement %d has a principal", i)
			}
		case KindTrust:
			if !s.hasPrincipal {
				return nil, malformed(ReasonNoPrincipal, "statement %d has no Principal", i)
			}
			if s.notPrincipal {
				return nil, malformed(ReasonNotPrincipalKind, "statement %d uses NotPrincipal", i)
			}
		case KindResource:
			if !s.hasPrincipal {
				return nil, malformed(ReasonNoPrincipal, "statement %d has no Principal", i)
			}
			if s.notPrincipal && s.effect == "Allow" {
				return nil, malformed(ReasonNotPrincipalAllow, "statement %d uses NotPrincipal with Allow", i)
			}
		}
	}

	// Actions and resources must be present (KMS only ignores such a
	// statement); a trust policy must not name resources.
	for i := range stmts {
		s := &stmts[i]
		if len(s.actions) == 0 && kind != KindResource {
			return nil, malformed(ReasonNoActions, "statement %d has no Action or NotAction", i)
		}
	}
	for i := range stmts {
		s := &stmts[i]
		switch {
		case kind == KindTrust && s.hasResource:
			return nil, malformed(ReasonTrustResource, "statement %d names resources", i)
		case kind == KindTrust, kind == KindResource:
		case len(s.resources) == 0:
			return nil, malformed(ReasonNoResources, "statement %d has no Resource or NotResource", i)
		}
	}
	for i := range stmts {
		for _, r := range stmts[i].resources {
			if err := checkResource(r); err != nil {
				err.Detail = fmt.Sprintf("statement %d: %s", i, err.Detail)
				return nil, err
			}
		}
	}
	for i := range stmts {
		for _, a := range stmts[i].actions {
			if err := checkAction(a); err != nil {
				err.Detail = fmt.Sprintf("statement %d: %s", i, err.Detail)
				return nil, err
			}
		}
	}

	// Compile.
	vars := p.Version == "2012-10-17"
	p.Statements = make([]Statement, len(stmts))
	for i := range stmts {
		if err := compileStatement(&stmts[i], &p.Statements[i], kind, vars, i); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9') && !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

func checkSize(doc []byte, kind Kind, max int) error {
	if max < 0 {
		return nil
	}
	var size int
	var reason string
	switch kind {
	case KindResource:
		if max == 0 {
			max = MaxKeyPolicyBytes
		}
		size = len(doc)
		reason = fmt.Sprintf("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", max)
	case KindIdentity:
		if max == 0 {
			max = MaxManagedPolicyChars
		}
		size = IAMSize(doc)
		reason = fmt.Sprintf("Cannot exceed quota for PolicySize: %d", max)
	case KindTrust:
		if max == 0 {
			max = MaxTrustPolicyChars
		}
		size = IAMSize(doc)
		reason = fmt.Sprintf("Cannot exceed quota for ACLSizePerRole: %d", max)
	default:
		if max == 0 {
			max = MaxSessionPolicyChars
		}
		size = utf8.RuneCount(doc)
		reason = fmt.Sprintf("1 validation error detected: Value at 'policy' failed to satisfy constraint: Member must have length less than or equal to %d", max)
	}
	if size > max {
		return &MalformedError{Reason: reason, Detail: fmt.Sprintf("size %d exceeds %d", size, max), TooLarge: true}
	}
	return nil
}

// checkCharacters enforces the character set AWS allows in IAM and KMS policy
// documents: tab, line feed, carriage return, and U+0020 through U+00FF.
func checkCharacters(doc []byte) error {
	for i := 0; i < len(doc); {
		r, n := utf8.DecodeRune(doc[i:])
		if r == utf8.RuneError && n <= 1 {
			return malformed(ReasonCharacters, "invalid UTF-8 at byte %d", i)
		}
		if r != '\t' && r != '\n' && r != '\r' && (r < 0x20 || r > 0xFF) {
			return malformed(ReasonCharacters, "character %U at byte %d", r, i)
		}
		i += n
	}
	return nil
}

// object decodes a JSON object into its members, refusing anything else.
func object(raw []byte) (map[string]json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, false
	}
	return m, true
}

func str(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// strOrList decodes a string or an array of strings.
func strOrList(raw json.RawMessage) ([]string, bool) { return oneOrList(raw, str) }

// oneOrList decodes one element or an array of elements, each decoded by elem.
func oneOrList(raw json.RawMessage, elem func(json.RawMessage) (string, bool)) ([]string, bool) {
	if v, ok := elem(raw); ok {
		return []string{v}, true
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, false
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		v, ok := elem(it)
		if !ok {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// scalar decodes a condition value: a string, or a number or boolean taken as
// the text AWS compares (policies often write "Bool": {"k": true}).
func scalar(raw json.RawMessage) (string, bool) {
	if s, ok := str(raw); ok {
		return s, true
	}
	if len(raw) == 0 {
		return "", false
	}
	switch c := raw[0]; {
	case c == 't' || c == 'f':
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return "", false
		}
		return string(raw), true
	case c == '-' || ('0' <= c && c <= '9'):
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return "", false
		}
		return n.String(), true
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func statements(top map[string]json.RawMessage) ([]json.RawMessage, error) {
	raw, ok := top["Statement"]
	if !ok {
		return nil, malformed(ReasonSyntax, "no Statement element")
	}
	if len(raw) > 0 && raw[0] == '{' {
		return []json.RawMessage{raw}, nil
	}
	if len(raw) == 0 || raw[0] != '[' {
		return nil, malformed(ReasonSyntax, "Statement must be an object or an array")
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, malformed(ReasonSyntax, "Statement: %v", err)
	}
	if len(list) == 0 {
		return nil, malformed(ReasonSyntax, "Statement is empty")
	}
	return list, nil
}

func parseStatementSyntax(raw json.RawMessage, s *rawStatement, i int) error {
	m, ok := object(raw)
	if !ok {
		return malformed(ReasonSyntax, "statement %d is not an object", i)
	}
	for _, k := range sortedKeys(m) {
		if !statementElements[k] {
			return malformed(ReasonSyntax, "statement %d: unknown element %q", i, k)
		}
	}
	pairs := [][2]string{{"Action", "NotAction"}, {"Resource", "NotResource"}, {"Principal", "NotPrincipal"}}
	for _, pr := range pairs {
		if _, a := m[pr[0]]; a {
			if _, b := m[pr[1]]; b {
				return malformed(ReasonSyntax, "statement %d has both %s and %s", i, pr[0], pr[1])
			}
		}
	}
	if raw, ok := m["Sid"]; ok {
		if s.sid, ok = str(raw); !ok {
			return malformed(ReasonSyntax, "statement %d: Sid must be a string", i)
		}
	}
	rawEffect, ok := m["Effect"]
	if !ok {
		return malformed(ReasonSyntax, "statement %d has no Effect", i)
	}
	if s.effect, ok = str(rawEffect); !ok || (!strings.EqualFold(s.effect, "Allow") && !strings.EqualFold(s.effect, "Deny")) {
		return malformed(ReasonSyntax, "statement %d: Effect must be Allow or Deny", i)
	}
	for _, name := range []string{"Action", "NotAction"} {
		if raw, ok := m[name]; ok {
			if s.actions, ok = strOrList(raw); !ok {
				return malformed(ReasonSyntax, "statement %d: %s must be a string or an array of strings", i, name)
			}
			s.hasAction, s.notAction = true, name == "NotAction"
		}
	}
	for _, name := range []string{"Resource", "NotResource"} {
		if raw, ok := m[name]; ok {
			if s.resources, ok = strOrList(raw); !ok {
				return malformed(ReasonSyntax, "statement %d: %s must be a string or an array of strings", i, name)
			}
			s.hasResource, s.notResource = true, name == "NotResource"
		}
	}
	for _, name := range []string{"Principal", "NotPrincipal"} {
		raw, ok := m[name]
		if !ok {
			continue
		}
		s.hasPrincipal, s.notPrincipal = true, name == "NotPrincipal"
		if v, ok := str(raw); ok {
			if v != "*" {
				return malformed(ReasonSyntax, "statement %d: %s must be \"*\" or an object", i, name)
			}
			s.principalAny = true
			continue
		}
		pm, ok := object(raw)
		if !ok || len(pm) == 0 {
			return malformed(ReasonSyntax, "statement %d: %s must be \"*\" or a non-empty object", i, name)
		}
		s.principalMap = map[string][]string{}
		for _, typ := range sortedKeys(pm) {
			vals, ok := strOrList(pm[typ])
			if !ok {
				return malformed(ReasonSyntax, "statement %d: %s %q must be a string or an array of strings", i, name, typ)
			}
			s.principalMap[typ] = vals
			s.principalMapKeyOrder = append(s.principalMapKeyOrder, typ)
		}
	}
	if raw, ok := m["Condition"]; ok {
		cm, ok := object(raw)
		if !ok {
			return malformed(ReasonSyntax, "statement %d: Condition must be an object", i)
		}
		for _, opName := range sortedKeys(cm) {
			if _, _, _, ok := parseOperator(opName); !ok {
				return malformed(ReasonSyntax, "statement %d: unknown condition operator %q", i, opName)
			}
			keys, ok := object(cm[opName])
			if !ok {
				return malformed(ReasonSyntax, "statement %d: %s must map condition keys to values", i, opName)
			}
			for _, key := range sortedKeys(keys) {
				vals, ok := condValues(keys[key])
				if !ok {
					return malformed(ReasonSyntax, "statement %d: %s %q must be a string, number, boolean or an array of them", i, opName, key)
				}
				s.conds = append(s.conds, rawCond{op: opName, key: key, values: vals})
			}
		}
	}
	return nil
}

// condValues decodes a condition value: a scalar or an array of scalars.
func condValues(raw json.RawMessage) ([]string, bool) { return oneOrList(raw, scalar) }

// checkResource applies AWS's rules for a Resource value: "*" or an ARN whose
// partition is real and whose service is spelled out.
func checkResource(r string) *MalformedError {
	if r == "*" {
		return nil
	}
	if !strings.Contains(r, ":") {
		return malformed(fmt.Sprintf("Resource %s must be in ARN format or \"*\".", r), "resource %q", r)
	}
	parts := strings.SplitN(r, ":", 4)
	if parts[0] != "arn" && !strings.ContainsAny(parts[0], "*?") {
		return malformed(fmt.Sprintf("Resource %s must be in ARN format or \"*\".", r), "resource %q", r)
	}
	if len(parts) < 3 {
		return malformed(ReasonResourceVendor, "resource %q has no service", r)
	}
	if !partitions[parts[1]] && !strings.ContainsAny(parts[1], "*?") {
		return malformed(fmt.Sprintf("Partition \"%s\" is not valid for resource \"%s\".", parts[1], r), "resource %q", r)
	}
	if parts[2] == "" || strings.ContainsAny(parts[2], "*?$") {
		return malformed(ReasonResourceVendor, "resource %q: service %q", r, parts[2])
	}
	return nil
}

// checkAction applies AWS's rules for an Action value: "*" or
// "service:action", the service made of letters, digits, "-" and ".".
func checkAction(a string) *MalformedError {
	if a == "*" {
		return nil
	}
	vendor, name, ok := strings.Cut(a, ":")
	if !ok {
		return malformed(ReasonVendor, "action %q", a)
	}
	if strings.Contains(name, ":") {
		return malformed(ReasonActionColons, "action %q", a)
	}
	if vendor == "" {
		return malformed(fmt.Sprintf("Vendor %s is not valid", vendor), "action %q", a)
	}
	for i := 0; i < len(vendor); i++ {
		c := vendor[i]
		if !('a' <= c && c <= 'z') && !('A' <= c && c <= 'Z') && !('0' <= c && c <= '9') && c != '-' && c != '.' {
			return malformed(fmt.Sprintf("Vendor %s is not valid", vendor), "action %q", a)
		}
	}
	return nil
}

func compileStatement(r *rawStatement, s *Statement, kind Kind, vars bool, i int) error {
	s.Sid = r.sid
	s.Effect = Allow
	if r.effect == "Deny" {
		s.Effect = Deny
	}
	s.inert = kind == KindResource && (len(r.actions) == 0 || len(r.resources) == 0)
	s.notAction = r.notAction
	s.actionSrc = r.actions
	for _, a := range r.actions {
		s.actions = append(s.actions, compileGlob(a, true, false, true))
	}
	s.notResource = r.notResource
	s.resourceSrc = r.resources
	for _, res := range r.resources {
		s.resources = append(s.resources, compileARN(res, vars))
	}
	if kind == KindTrust {
		// A trust policy names no resource: it is about the role it is
		// attached to, whatever ARN the request gives for it.
		s.resources = []arnPattern{compileARN("*", false)}
	}
	s.hasPrincipal, s.notPrincipal = r.hasPrincipal, r.notPrincipal
	if r.principalAny {
		s.principals = []principalEntry{{typ: "AWS", value: "*", kind: pkAny}}
	}
	for _, typ := range r.principalMapKeyOrder {
		for _, v := range r.principalMap[typ] {
			e, ok := compilePrincipal(typ, v)
			if !ok {
				reason := ReasonKeyPrincipal
				if kind == KindTrust {
					reason = fmt.Sprintf("Invalid principal in policy: \"%s\":\"%s\"", typ, v)
				}
				return malformed(reason, "statement %d: principal %s %q", i, typ, v)
			}
			s.principals = append(s.principals, e)
		}
	}
	if s.hasPrincipal && len(s.principals) == 0 {
		reason := ReasonKeyPrincipal
		if kind == KindTrust {
			reason = "Invalid principal in policy"
		}
		return malformed(reason, "statement %d: empty principal list", i)
	}
	for _, rc := range r.conds {
		op, set, ifExists, _ := parseOperator(rc.op)
		vendor, name, ok := strings.Cut(rc.key, ":")
		if !ok || vendor == "" || name == "" {
			return malformed(ReasonVendor, "statement %d: condition key %q", i, rc.key)
		}
		c := condition{opName: rc.op, op: op, set: set, ifExists: ifExists, key: rc.key}
		for _, v := range rc.values {
			cv, err := compileValue(op, v, vars)
			if err != nil {
				err.Detail = fmt.Sprintf("statement %d: %s", i, err.Detail)
				return err
			}
			c.values = append(c.values, cv)
		}
		s.conds = append(s.conds, c)
	}
	return nil
}
