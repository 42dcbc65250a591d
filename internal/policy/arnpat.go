package policy

import "strings"

// arnPattern matches ARNs the way AWS matches the Resource element and the
// Arn* condition operators: the six colon-separated components
// (arn:partition:service:region:account:resource) are matched one by one, so a
// wildcard in the region never swallows the account. The resource component is
// the rest of the ARN, colons included. A pattern with fewer than six
// components whose last component ends in "*" lets that star run to the end of
// the ARN ("arn:aws:kms:*" matches every KMS ARN), which is AWS's rule that a
// trailing "*" in a segment "can expand to match beyond the colon boundaries".
type arnPattern struct {
	all   bool // "*" alone
	comps []glob
	trail bool // the last component ends with "*"
}

func compileARN(s string, vars bool) arnPattern {
	if s == "*" {
		return arnPattern{all: true}
	}
	raw := splitPattern(s, vars)
	p := arnPattern{comps: make([]glob, len(raw))}
	for i, c := range raw {
		p.comps[i] = compileGlob(c, true, vars, false)
	}
	last := raw[len(raw)-1]
	p.trail = strings.HasSuffix(last, "*") && !strings.HasSuffix(last, "${*}")
	return p
}

// splitPattern splits a pattern into at most six components at colons outside
// "${...}", since a variable's key ("${aws:username}") has a colon of its own.
func splitPattern(s string, vars bool) []string {
	out := make([]string, 0, 6)
	start := 0
	for i := 0; i < len(s) && len(out) < 5; i++ {
		if vars && s[i] == '$' && i+1 < len(s) && s[i+1] == '{' {
			if end := strings.IndexByte(s[i:], '}'); end >= 0 {
				i += end
				continue
			}
		}
		if s[i] == ':' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// arnComps splits an ARN (no variables) into up to six components without
// allocating: starts[i] is where component i begins; component i ends one byte
// before starts[i+1] (or at len(s) for the last).
func arnComps(s string) (starts [6]int, n int) {
	n = 1
	for i := 0; i < len(s) && n < 6; i++ {
		if s[i] == ':' {
			starts[n] = i + 1
			n++
		}
	}
	return starts, n
}

func comp(s string, starts *[6]int, n, i int) string {
	if i == n-1 {
		return s[starts[i]:]
	}
	return s[starts[i] : starts[i+1]-1]
}

// match reports whether the ARN s matches; unknown as in glob.match.
func (p *arnPattern) match(s string, c *Context) (ok, unknown bool) {
	if p.all {
		return true, false
	}
	starts, n := arnComps(s)
	L := len(p.comps)
	if L == 6 && n != 6 {
		return false, false
	}
	if L < 6 && n < L {
		return false, false
	}
	for i := 0; i < L-1; i++ {
		m, u := p.comps[i].match(comp(s, &starts, n, i), false, c)
		if u {
			return false, true
		}
		if !m {
			return false, false
		}
	}
	lastText := comp(s, &starts, n, L-1)
	if L < 6 && n > L {
		if !p.trail {
			return false, false
		}
		lastText = s[starts[L-1]:]
	}
	return p.comps[L-1].match(lastText, false, c)
}
