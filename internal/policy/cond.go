package policy

import (
	"encoding/base64"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type family uint8

const (
	famString family = iota
	famStringFold
	famStringLike
	famNumeric
	famDate
	famBool
	famBinary
	famIP
	famARN
	famNull
)

type cmpKind uint8

const (
	cmpEq cmpKind = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

type opInfo struct {
	fam family
	cmp cmpKind
	neg bool // a negated operator: true when no policy value matches
}

// operators are AWS's condition operators, without the ForAllValues:/
// ForAnyValue: qualifiers and the IfExists suffix. Names are case-sensitive,
// like every other element name in the policy grammar.
var operators = map[string]opInfo{
	"StringEquals":              {fam: famString},
	"StringNotEquals":           {fam: famString, neg: true},
	"StringEqualsIgnoreCase":    {fam: famStringFold},
	"StringNotEqualsIgnoreCase": {fam: famStringFold, neg: true},
	"StringLike":                {fam: famStringLike},
	"StringNotLike":             {fam: famStringLike, neg: true},
	"NumericEquals":             {fam: famNumeric, cmp: cmpEq},
	"NumericNotEquals":          {fam: famNumeric, cmp: cmpEq, neg: true},
	"NumericLessThan":           {fam: famNumeric, cmp: cmpLt},
	"NumericLessThanEquals":     {fam: famNumeric, cmp: cmpLe},
	"NumericGreaterThan":        {fam: famNumeric, cmp: cmpGt},
	"NumericGreaterThanEquals":  {fam: famNumeric, cmp: cmpGe},
	"DateEquals":                {fam: famDate, cmp: cmpEq},
	"DateNotEquals":             {fam: famDate, cmp: cmpEq, neg: true},
	"DateLessThan":              {fam: famDate, cmp: cmpLt},
	"DateLessThanEquals":        {fam: famDate, cmp: cmpLe},
	"DateGreaterThan":           {fam: famDate, cmp: cmpGt},
	"DateGreaterThanEquals":     {fam: famDate, cmp: cmpGe},
	"Bool":                      {fam: famBool},
	"BinaryEquals":              {fam: famBinary},
	"IpAddress":                 {fam: famIP},
	"NotIpAddress":              {fam: famIP, neg: true},
	"ArnEquals":                 {fam: famARN},
	"ArnLike":                   {fam: famARN},
	"ArnNotEquals":              {fam: famARN, neg: true},
	"ArnNotLike":                {fam: famARN, neg: true},
	"Null":                      {fam: famNull},
}

type setMode uint8

const (
	setNone setMode = iota
	setForAll
	setForAny
)

// condition is one operator–key pair of a Condition block with its values.
type condition struct {
	opName   string // as written, for Lint
	op       opInfo
	set      setMode
	ifExists bool
	key      string
	values   []condValue
}

type condValue struct {
	raw    string
	g      glob       // string families, and Bool with a variable
	arn    arnPattern // famARN
	num    float64
	t      time.Time
	prefix netip.Prefix
	b      bool // famBool literal; famNull: true means "the key must be absent"
	isVar  bool // famBool: the value holds a variable, resolved at evaluation
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
func parseOperator(name string) (opInfo, setMode, bool, bool) {
	set := setNone
	if rest, ok := strings.CutPrefix(name, "ForAllValues:"); ok {
		set, name = setForAll, rest
	} else if rest, ok := strings.CutPrefix(name, "ForAnyValue:"); ok {
		set, name = setForAny, rest
	}
	ifExists := false
	if op, ok := operators[name]; ok {
		return op, set, false, true
	}
	if base, ok := strings.CutSuffix(name, "IfExists"); ok && base != "Null" {
		if op, ok := operators[base]; ok {
			ifExists = true
			return op, set, ifExists, true
		}
	}
	return opInfo{}, 0, false, false
}

// compileValue prepares one policy value for its operator, rejecting values
// the operator can never compare (AWS rejects bad dates as "failed legacy
// parsing"; the others as syntax errors).
func compileValue(op opInfo, raw string, vars bool) (condValue, *MalformedError) {
	v := condValue{raw: raw}
	switch op.fam {
	case famString:
		v.g = compileGlob(raw, false, vars, false)
	case famStringFold:
		v.g = compileGlob(raw, false, vars, true)
	case famStringLike:
		v.g = compileGlob(raw, true, vars, false)
	case famARN:
		v.arn = compileARN(raw, vars)
	case famNumeric:
		f, ok := parseNumber(raw)
		if !ok {
			return v, malformed(ReasonSyntax, "numeric condition value %q is not a number", raw)
		}
		v.num = f
	case famDate:
		t, ok := parseDate(raw)
		if !ok {
			return v, malformed(ReasonLegacy, "date condition value %q is neither ISO 8601 nor epoch seconds", raw)
		}
		v.t = t
	case famBool:
		if vars && strings.Contains(raw, "${") {
			v.g = compileGlob(raw, false, true, true)
			if v.g.nvars > 0 {
				v.isVar = true
				break
			}
		}
		b, ok := parseBool(raw)
		if !ok {
			return v, malformed(ReasonSyntax, "Bool condition value %q is not true or false", raw)
		}
		v.b = b
	case famBinary:
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return v, malformed(ReasonSyntax, "BinaryEquals value %q is not base64", raw)
		}
		v.raw = base64.StdEncoding.EncodeToString(b)
	case famIP:
		p, ok := parseCIDR(raw)
		if !ok {
			return v, malformed(ReasonSyntax, "IP address condition value %q is not an address or CIDR block", raw)
		}
		v.prefix = p
	case famNull:
		b, ok := parseBool(raw)
		if !ok {
			return v, malformed(ReasonSyntax, "Null condition value %q is not true or false", raw)
		}
		v.b = b
	}
	return v, nil
}

func parseBool(s string) (bool, bool) {
	switch {
	case strings.EqualFold(s, "true"):
		return true, true
	case strings.EqualFold(s, "false"):
		return false, true
	}
	return false, false
}

// parseNumber accepts integers and decimals (with an optional exponent).
// Comparisons use float64: exact for every integer up to 2^53, far beyond any
// KMS numeric key (rotation periods, pending windows).
func parseNumber(s string) (float64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	return f, true
}

// parseCIDR accepts a CIDR block or a bare address (a /32 or /128, as AWS
// documents). IPv4-mapped IPv6 addresses compare as IPv4.
func parseCIDR(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// parseDate parses the W3C profile of ISO 8601 that AWS documents
// (YYYY, YYYY-MM, YYYY-MM-DD, YYYY-MM-DDThh:mm[:ss[.fff]]TZD with TZD "Z",
// "+hh:mm", "-hh:mm", "+hhmm" or absent for UTC; "T" and "Z" in either case),
// or epoch seconds. It does not allocate.
func parseDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	if n, ok := digits(s); ok && len(s) == n {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil || len(s) > 18 {
			return time.Time{}, false
		}
		return time.Unix(sec, 0).UTC(), true
	}
	p := 0
	num := func(width int, lo, hi int) (int, bool) {
		if p+width > len(s) {
			return 0, false
		}
		v := 0
		for i := 0; i < width; i++ {
			c := s[p+i]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		if v < lo || v > hi {
			return 0, false
		}
		p += width
		return v, true
	}
	sep := func(c byte) bool {
		if p < len(s) && (s[p] == c || (c == 'T' && s[p] == 't')) {
			p++
			return true
		}
		return false
	}
	year, ok := num(4, 0, 9999)
	if !ok {
		return time.Time{}, false
	}
	month, day, hour, minute, sec, nsec := 1, 1, 0, 0, 0, 0
	if sep('-') {
		if month, ok = num(2, 1, 12); !ok {
			return time.Time{}, false
		}
		if sep('-') {
			if day, ok = num(2, 1, 31); !ok {
				return time.Time{}, false
			}
			if sep('T') {
				if hour, ok = num(2, 0, 23); !ok || !sep(':') {
					return time.Time{}, false
				}
				if minute, ok = num(2, 0, 59); !ok {
					return time.Time{}, false
				}
				if sep(':') {
					if sec, ok = num(2, 0, 59); !ok {
						return time.Time{}, false
					}
					if sep('.') {
						n, _ := digits(s[p:])
						if n == 0 || n > 9 {
							return time.Time{}, false
						}
						frac, _ := strconv.Atoi(s[p : p+n])
						for i := n; i < 9; i++ {
							frac *= 10
						}
						nsec = frac
						p += n
					}
				}
			}
		}
	}
	offset := 0
	if p < len(s) {
		switch s[p] {
		case 'Z', 'z':
			p++
		case '+', '-':
			sign := 1
			if s[p] == '-' {
				sign = -1
			}
			p++
			oh, ok := num(2, 0, 23)
			if !ok {
				return time.Time{}, false
			}
			om := 0
			if sep(':') {
				if om, ok = num(2, 0, 59); !ok {
					return time.Time{}, false
				}
			} else if p < len(s) {
				if om, ok = num(2, 0, 59); !ok {
					return time.Time{}, false
				}
			}
			offset = sign * (oh*3600 + om*60)
		}
	}
	if p != len(s) || day > daysIn(month, year) {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.Add(-time.Duration(offset) * time.Second), true
}

func daysIn(month, year int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func digits(s string) (int, bool) {
	n := 0
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return n, n > 0
}

// eval evaluates the condition against ctx.
//
// AWS's rules: a key absent from the request fails every positive operator and
// satisfies every negated one; ...IfExists is satisfied by an absent key;
// ForAllValues is true for an absent or empty key and requires every request
// value to pass; ForAnyValue is false for an absent key and requires one
// request value to pass. Several policy values are ORed for a positive
// operator and NORed for a negated one. Without a qualifier, a multivalued
// request key passes a positive operator if any of its values matches and a
// negated one if none does, so a plain operator behaves as ForAnyValue when
// positive and ForAllValues when negated.
func (c *condition) eval(ctx *Context) bool {
	e := ctx.lookup(c.key)
	if c.op.fam == famNull {
		absent := e == nil
		for i := range c.values {
			if c.values[i].b == absent {
				return true
			}
		}
		return false
	}
	set := c.set
	if set == setNone {
		set = setForAny
		if c.op.neg {
			set = setForAll
		}
	}
	if e == nil {
		return c.ifExists || set == setForAll
	}
	n := e.count()
	if set == setForAll {
		for i := 0; i < n; i++ {
			if !c.test(e.at(i), ctx) {
				return false
			}
		}
		return true
	}
	for i := 0; i < n; i++ {
		if c.test(e.at(i), ctx) {
			return true
		}
	}
	return false
}

// test applies the operator to one request value.
func (c *condition) test(v string, ctx *Context) bool {
	m, unknown := c.anyMatch(v, ctx)
	if c.op.neg {
		return !m && !unknown
	}
	return m
}

// anyMatch reports whether v matches any of the policy values under the
// operator's positive form. unknown reports an unresolvable policy variable,
// which makes the whole statement inapplicable (AWS: "any attempt to match it
// fails and causes the statement to be invalid"), so negated operators treat
// it as a failure too.
func (c *condition) anyMatch(v string, ctx *Context) (matched, unknown bool) {
	switch c.op.fam {
	case famNumeric:
		x, ok := parseNumber(v)
		if !ok {
			return false, false
		}
		for i := range c.values {
			if compare(c.op.cmp, cmpFloat(x, c.values[i].num)) {
				return true, false
			}
		}
		return false, false
	case famDate:
		t, ok := parseDate(v)
		if !ok {
			return false, false
		}
		for i := range c.values {
			if compare(c.op.cmp, t.Compare(c.values[i].t)) {
				return true, false
			}
		}
		return false, false
	case famIP:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return false, false
		}
		a = a.Unmap()
		for i := range c.values {
			if c.values[i].prefix.Contains(a) {
				return true, false
			}
		}
		return false, false
	case famBinary:
		for i := range c.values {
			if v == c.values[i].raw {
				return true, false
			}
		}
		return false, false
	case famBool:
		b, ok := parseBool(v)
		for i := range c.values {
			cv := &c.values[i]
			if cv.isVar {
				m, u := cv.g.match(v, true, ctx)
				if m {
					return true, false
				}
				unknown = unknown || u
				continue
			}
			if ok && b == cv.b {
				return true, false
			}
		}
		return false, unknown
	case famARN:
		for i := range c.values {
			m, u := c.values[i].arn.match(v, ctx)
			if m {
				return true, false
			}
			unknown = unknown || u
		}
		return false, unknown
	}
	fold := c.op.fam == famStringFold
	for i := range c.values {
		m, u := c.values[i].g.match(v, fold, ctx)
		if m {
			return true, false
		}
		unknown = unknown || u
	}
	return false, unknown
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compare(k cmpKind, c int) bool {
	switch k {
	case cmpLt:
		return c < 0
	case cmpLe:
		return c <= 0
	case cmpGt:
		return c > 0
	case cmpGe:
		return c >= 0
	}
	return c == 0
}
