package policy

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Wildcard patterns are compiled once at Parse into a list of parts and matched
// by an iterative algorithm with no backtracking: the text between two stars
// (a "chunk") always matches at its leftmost possible position, which is
// optimal for patterns whose only wildcards are "*" and "?". Each chunk is
// searched once from where the previous one ended, so a match costs at most
// O(len(text) × len(chunk)) steps, and O(len(text)) for chunks without "?"
// (which use strings.Index). No pattern can make evaluation exponential.

type partKind uint8

const (
	partLit   partKind = iota // literal text
	partStar                  // "*": any run of characters
	partQuest                 // "?": exactly one character
	partVar                   // "${key}" or "${key, 'default'}"
)

type part struct {
	kind   partKind
	text   string // literal text, or the variable's key
	def    string // a variable's default
	hasDef bool
	slot   int // a variable's index among the pattern's variables
}

// glob is a compiled pattern. With neither wildcards nor variables it is a
// plain string compared directly.
type glob struct {
	src    string
	parts  []part
	plain  bool   // no wildcards, no variables: compare with lit
	lit    string // the literal when plain
	nvars  int
	chunks []span // runs of non-star parts
	lead   bool   // pattern starts with a star
	trail  bool   // pattern ends with a star
	fixed  []int  // per chunk: byte length if it has no "?" and no variable, else -1
}

type span struct{ from, to int }

// compileGlob compiles s. wild makes "*" and "?" wildcards; vars enables
// policy variables (Version 2012-10-17 only). fold lowercases literals so the
// pattern matches case-insensitively.
func compileGlob(s string, wild, vars, fold bool) glob {
	g := glob{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			t := lit.String()
			if fold {
				t = strings.ToLower(t)
			}
			g.parts = append(g.parts, part{kind: partLit, text: t})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if vars && c == '$' && i+1 < len(s) && s[i+1] == '{' {
			if end := strings.IndexByte(s[i+2:], '}'); end >= 0 {
				inner := s[i+2 : i+2+end]
				switch inner {
				case "*", "?", "$":
					lit.WriteString(inner)
					i += end + 3
					continue
				}
				if p, ok := parseVariable(inner); ok {
					flush()
					p.slot = g.nvars
					g.nvars++
					g.parts = append(g.parts, p)
					i += end + 3
					continue
				}
			}
		}
		if wild && (c == '*' || c == '?') {
			flush()
			if c == '*' {
				if n := len(g.parts); n == 0 || g.parts[n-1].kind != partStar {
					g.parts = append(g.parts, part{kind: partStar})
				}
			} else {
				g.parts = append(g.parts, part{kind: partQuest})
			}
			i++
			continue
		}
		lit.WriteByte(c)
		i++
	}
	flush()
	if len(g.parts) == 0 {
		g.plain = true
		return g
	}
	if len(g.parts) == 1 && g.parts[0].kind == partLit {
		g.plain, g.lit = true, g.parts[0].text
		return g
	}
	g.lead = g.parts[0].kind == partStar
	g.trail = g.parts[len(g.parts)-1].kind == partStar
	start := -1
	for i, p := range g.parts {
		if p.kind == partStar {
			if start >= 0 {
				g.chunks = append(g.chunks, span{start, i})
				start = -1
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		g.chunks = append(g.chunks, span{start, len(g.parts)})
	}
	g.fixed = make([]int, len(g.chunks))
	for ci, ch := range g.chunks {
		n := 0
		for _, p := range g.parts[ch.from:ch.to] {
			if p.kind != partLit {
				n = -1
				break
			}
			n += len(p.text)
		}
		g.fixed[ci] = n
	}
	return g
}

// parseVariable parses the inside of "${...}": a key name, optionally
// followed by ", 'default'". A malformed variable stays literal text.
func parseVariable(inner string) (part, bool) {
	name, def, hasDef := inner, "", false
	if i := strings.Index(inner, ", '"); i >= 0 && strings.HasSuffix(inner, "'") && len(inner) >= i+4 {
		name, def, hasDef = inner[:i], inner[i+3:len(inner)-1], true
	}
	if name == "" || strings.ContainsAny(name, " ${}'") {
		return part{}, false
	}
	return part{kind: partVar, text: name, def: def, hasDef: hasDef}, true
}

const inlineVars = 8

// vals holds a pattern's resolved variables for one match, on the stack.
type vals struct {
	v [inlineVars]string
	c *Context
}

func (v *vals) get(p *part) string {
	if p.slot < inlineVars {
		return v.v[p.slot]
	}
	s, _ := resolve(p, v.c)
	return s
}

func resolve(p *part, c *Context) (string, bool) {
	if s, ok := c.variable(p.text); ok {
		return s, true
	}
	if p.hasDef {
		return p.def, true
	}
	return "", false
}

// match reports whether s matches g. fold compares case-insensitively (the
// pattern was compiled with fold). unknown reports that a variable could not
// be resolved: AWS then treats the statement as not matching at all, which
// callers implement by failing both positive and negated tests.
func (g *glob) match(s string, fold bool, c *Context) (ok, unknown bool) {
	if g.plain {
		if fold {
			return equalFold(s, g.lit), false
		}
		return s == g.lit, false
	}
	var v vals
	v.c = c
	if g.nvars > 0 {
		for i := range g.parts {
			p := &g.parts[i]
			if p.kind != partVar {
				continue
			}
			r, ok := resolve(p, c)
			if !ok {
				return false, true
			}
			if p.slot < inlineVars {
				v.v[p.slot] = r
			}
		}
	}
	return g.matchResolved(s, fold, &v), false
}

func (g *glob) matchResolved(s string, fold bool, v *vals) bool {
	chunks := g.chunks
	if len(chunks) == 0 { // only stars
		return true
	}
	pos := 0
	if !g.lead {
		end, ok := g.matchChunk(chunks[0], s, 0, fold, v)
		if !ok {
			return false
		}
		if len(chunks) == 1 && !g.trail {
			return end == len(s)
		}
		pos = end
		chunks = chunks[1:]
	}
	first := len(g.chunks) - len(chunks)
	var last *span
	lastIdx := -1
	if !g.trail && len(chunks) > 0 {
		last = &chunks[len(chunks)-1]
		lastIdx = first + len(chunks) - 1
		chunks = chunks[:len(chunks)-1]
	}
	for _, ch := range chunks {
		end, ok := g.findChunk(ch, s, pos, fold, v)
		if !ok {
			return false
		}
		pos = end
	}
	if last == nil {
		return true
	}
	if n := g.fixed[lastIdx]; n >= 0 {
		start := len(s) - n
		if start < pos || !utf8.RuneStart(byteAt(s, start)) {
			return false
		}
		end, ok := g.matchChunk(*last, s, start, fold, v)
		return ok && end == len(s)
	}
	for start := pos; start <= len(s); start++ {
		if start < len(s) && !utf8.RuneStart(s[start]) {
			continue
		}
		if end, ok := g.matchChunk(*last, s, start, fold, v); ok && end == len(s) {
			return true
		}
	}
	return false
}

func byteAt(s string, i int) byte {
	if i >= len(s) {
		return 0
	}
	return s[i]
}

// findChunk finds the leftmost match of ch in s at or after pos.
func (g *glob) findChunk(ch span, s string, pos int, fold bool, v *vals) (int, bool) {
	p0 := &g.parts[ch.from]
	for start := pos; start <= len(s); {
		if p0.kind == partLit && !fold {
			i := strings.Index(s[start:], p0.text)
			if i < 0 {
				return 0, false
			}
			start += i
		} else if start < len(s) && !utf8.RuneStart(s[start]) {
			start++
			continue
		}
		if end, ok := g.matchChunk(ch, s, start, fold, v); ok {
			return end, true
		}
		start++
	}
	return 0, false
}

// matchChunk matches the star-free parts ch at s[pos:], returning where the
// match ends. A chunk's match at a given position is unique.
func (g *glob) matchChunk(ch span, s string, pos int, fold bool, v *vals) (int, bool) {
	for i := ch.from; i < ch.to; i++ {
		p := &g.parts[i]
		switch p.kind {
		case partLit, partVar:
			t := p.text
			if p.kind == partVar {
				t = v.get(p)
			}
			n, ok := hasPrefix(s[pos:], t, fold)
			if !ok {
				return 0, false
			}
			pos += n
		case partQuest:
			if pos >= len(s) {
				return 0, false
			}
			_, size := utf8.DecodeRuneInString(s[pos:])
			pos += size
		}
	}
	return pos, true
}

// hasPrefix reports whether s starts with prefix and how many bytes of s the
// prefix covers (which can differ from len(prefix) under Unicode folding).
func hasPrefix(s, prefix string, fold bool) (int, bool) {
	if !fold {
		if strings.HasPrefix(s, prefix) {
			return len(prefix), true
		}
		return 0, false
	}
	i := 0
	for j := 0; j < len(prefix); {
		if i >= len(s) {
			return 0, false
		}
		a, b := s[i], prefix[j]
		if a < utf8.RuneSelf && b < utf8.RuneSelf {
			if lower(a) != lower(b) {
				return 0, false
			}
			i++
			j++
			continue
		}
		ra, na := utf8.DecodeRuneInString(s[i:])
		rb, nb := utf8.DecodeRuneInString(prefix[j:])
		if !foldEq(ra, rb) {
			return 0, false
		}
		i += na
		j += nb
	}
	return i, true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func foldEq(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

func equalFold(a, b string) bool {
	n, ok := hasPrefix(a, b, true)
	return ok && n == len(a)
}
