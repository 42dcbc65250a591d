package audit

import (
	"crypto/ed25519"
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
