package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerify feeds arbitrary segment and checkpoint files to Verify: it must
// never panic, and must never call a log with foreign content OK.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"eventVersion":"1.08","arcaSequence":1,"arcaPreviousHash":"00","arcaHash":"ab"}`+"\n"), []byte(`{"sequence":1,"hash":"ab","keyId":"x","signature":"AA=="}`+"\n"))
	f.Add([]byte("\n\n{\n"), []byte("not json"))
	f.Add([]byte(`{"arcaSequence":18446744073709551615,"arcaHash":"x"}`), []byte{})
	pub, _, _ := ed25519.GenerateKey(nil)
	f.Fuzz(func(t *testing.T, segment, checkpoints []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, segmentName(1)), segment, 0o600)
		if len(checkpoints) > 0 {
			os.WriteFile(filepath.Join(dir, checkpointsFile), checkpoints, 0o600)
		}
		rep, err := Verify(dir, []ed25519.PublicKey{pub})
		if err != nil {
			return
		}
		if rep.Events > 0 && rep.OK() && rep.Checkpoints > 0 {
			t.Fatalf("a log signed by no known key verified: %+v", rep)
		}
	})
}

// FuzzVerifyAnchor feeds arbitrary segment and prune-anchor files to Verify
// with a known key: it must never panic, and only an anchor that key
// signed may be reported as a prune.
func FuzzVerifyAnchor(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	// A genuine anchor for record 5, and a segment continuing from it.
	a := &Anchor{Sequence: 5, Hash: "ab", EventTime: "2026-01-01T00:00:00Z", Time: "2026-02-01T00:00:00Z", KeyID: KeyID(key.Public().(ed25519.PublicKey))}
	a.Signature = ed25519.Sign(key, a.signedBytes())
	good, _ := json.Marshal(a)
	e := &Event{EventName: "Encrypt", Sequence: 6, PreviousHash: "ab"}
	e.Hash, _ = e.computeHash()
	line, _ := json.Marshal(e)
	f.Add(append(line, '\n'), good)
	f.Add(append(line, '\n'), bytes.Replace(good, []byte(`"sequence":5`), []byte(`"sequence":4`), 1))
	f.Add([]byte{}, []byte(`{"sequence":18446744073709551615,"hash":"","keyId":"","signature":null}`))
	f.Add([]byte("{}\n"), []byte("not json"))
	f.Fuzz(func(t *testing.T, segment, anchor []byte) {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, segmentName(1)), segment, 0o600)
		os.WriteFile(filepath.Join(dir, anchorFile), anchor, 0o600)
		rep, err := Verify(dir, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)})
		if err != nil {
			return
		}
		var parsed Anchor
		genuine := json.Unmarshal(anchor, &parsed) == nil && ed25519.Verify(key.Public().(ed25519.PublicKey), parsed.signedBytes(), parsed.Signature)
		for _, p := range rep.Problems {
			if p.Kind == Pruned && !genuine {
				t.Fatalf("an anchor the key never signed was accepted: %s", anchor)
			}
		}
	})
}
