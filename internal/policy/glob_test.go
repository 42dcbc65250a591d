package policy

import (
	"strings"
	"testing"
	"time"
)

func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, s string
		fold       bool
		want       bool
	}{
		{"", "", false, true},
		{"", "a", false, false},
		{"*", "", false, true},
		{"**", "abc", false, true},
		{"a*", "a", false, true},
		{"*a", "ba", false, true},
		{"*a", "ab", false, false},
		{"a*b*c", "aXbYc", false, true},
		{"a*b*c", "aXbYcZ", false, false},
		{"a*b*c*", "abcabc", false, true},
		{"*abc*abc", "abcabcabc", false, true},
		{"ab*ba", "aba", false, false},
		{"?", "", false, false},
		{"??", "日本", false, true},
		{"*?", "", false, false},
		{"a?*", "ab", false, true},
		{"*.csv", "x.csv.csv", false, true},
		{"*x?z", "xyzxz", false, false},
		{"*x?z", "xyzxaz", false, true},
		{"KMS:ENC*", "kms:Encrypt", true, true},
		{"kms:encrypt", "KMS:ENCRYPT", true, true},
		{"kms:?ncrypt", "kms:Encrypt", true, true},
		{"kms:encrypt", "kms:Encrypts", true, false},
	}
	for _, tc := range tests {
		g := compileGlob(tc.pattern, true, false, tc.fold)
		if got, _ := g.match(tc.s, tc.fold, nil); got != tc.want {
			t.Errorf("glob(%q).match(%q, fold=%v) = %v, want %v", tc.pattern, tc.s, tc.fold, got, tc.want)
		}
	}
}

// TestGlobPathological: patterns that make backtracking matchers exponential
// stay fast here.
func TestGlobPathological(t *testing.T) {
	t.Parallel()
	text := strings.Repeat("a", 4096)
	patterns := []string{
		strings.Repeat("*a", 200) + "b",
		strings.Repeat("a*", 200) + "b",
		"*" + strings.Repeat("?", 300) + "b",
		strings.Repeat("*?a", 100) + "*b",
	}
	for _, p := range patterns {
		start := time.Now()
		g := compileGlob(p, true, false, false)
		if ok, _ := g.match(text, false, nil); ok {
			t.Errorf("%.20q... matched", p)
		}
		a := compileARN("arn:aws:s3:::"+p, false)
		a.match("arn:aws:s3:::"+text, nil)
		if d := time.Since(start); d > time.Second {
			t.Errorf("%.20q... took %v", p, d)
		}
	}
}
