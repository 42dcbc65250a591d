package kmscrypto

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestCanonicalContext(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		ec   map[string]string
		want string // hex
	}{
		{"nil", nil, "00000000"},
		{"empty", map[string]string{}, "00000000"},
		{"one", map[string]string{"k": "v"}, "00000001" + "00000001" + "6b" + "00000001" + "76"},
		{"sorted by byte order", map[string]string{"b": "2", "a": "1", "c": "3"},
			"00000003" + "00000001" + "61" + "00000001" + "31" + "00000001" + "62" + "00000001" + "32" + "00000001" + "63" + "00000001" + "33"},
		// "B" (0x42) sorts before "a" (0x61): bytes, not case-folded letters.
		{"upper before lower", map[string]string{"a": "", "B": ""}, "00000002" + "00000001" + "42" + "00000000" + "00000001" + "61" + "00000000"},
		{"empty key and value", map[string]string{"": ""}, "00000001" + "00000000" + "00000000"},
		{"unicode", map[string]string{"é": "ü"}, "00000001" + "00000002" + "c3a9" + "00000002" + "c3bc"},
	} {
		if got := hex.EncodeToString(CanonicalContext(c.ec)); got != c.want {
			t.Errorf("%s: CanonicalContext = %s, want %s", c.name, got, c.want)
		}
	}
}

// TestCanonicalContextInjective lists contexts that naive encodings would
// confuse; all must encode differently.
func TestCanonicalContextInjective(t *testing.T) {
	t.Parallel()
	distinct := []map[string]string{
		nil,
		{"ab": "c"}, {"a": "bc"}, {"abc": ""}, {"": "abc"}, // concatenation
		{"a": "b=c"}, {"a=b": "c"}, // key=value separators
		{"a": "b", "c": "d"}, {"a": "bc", "": "d"}, {"a": "b,c=d"}, // pair separators
		{"": ""}, {"a": ""}, {"": "a"}, // empties
		{"a\x00": "b"}, {"a": "\x00b"}, // NUL, as a C-string encoder would
		{"é": "ü"}, {"e\u0301": "ü"}, // unicode: no normalization, bytes are bytes
		{"\x00\x00\x00\x01": ""}, // a key that looks like a length
	}
	seen := map[string]int{}
	for i, ec := range distinct {
		enc := string(CanonicalContext(ec))
		if j, ok := seen[enc]; ok {
			t.Errorf("contexts %q and %q encode alike", distinct[j], ec)
		}
		seen[enc] = i
	}
	if !bytes.Equal(CanonicalContext(nil), CanonicalContext(map[string]string{})) {
		t.Error("nil and empty context differ")
	}
	big := map[string]string{}
	for i := range 3 * stackKeys {
		big[string(rune('A'+i))] = "v"
	}
	if enc := CanonicalContext(big); len(enc) != 4+len(big)*(8+2) || enc[3] != byte(len(big)) {
		t.Errorf("context of %d pairs encodes to %d bytes", len(big), len(enc))
	}
}
