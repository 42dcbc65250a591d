package audit

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNodeIDStoredOnceAndFixed(t *testing.T) {
	dir := t.TempDir()
	id, err := NodeID(dir, "")
	if err != nil || !ValidNodeID(id) || len(id) != 16 {
		t.Fatalf("NodeID = %q, %v; want 16 random hex digits", id, err)
	}
	again, err := NodeID(dir, "")
	if err != nil || again != id {
		t.Fatalf("second NodeID = %q, %v; want the stored %q", again, err, id)
	}
	if _, err := NodeID(dir, "other"); err == nil || !strings.Contains(err.Error(), "differs") {
		t.Fatalf("a different configured ID: err = %v; want a refusal", err)
	}
	if got, err := NodeID(dir, id); err != nil || got != id {
		t.Fatalf("the same configured ID: %q, %v", got, err)
	}
	dir2 := t.TempDir()
	if got, err := NodeID(dir2, "node-a"); err != nil || got != "node-a" {
		t.Fatalf("configured on first use: %q, %v", got, err)
	}
	if _, err := NodeID(t.TempDir(), "bad id/"); err == nil {
		t.Fatal("an invalid configured ID was accepted")
	}
	os.WriteFile(filepath.Join(dir2, nodeIDFile), []byte("\x00\n"), 0o600)
	if _, err := NodeID(dir2, ""); err == nil {
		t.Fatal("a corrupt node-id file was accepted")
	}
}

func TestEveryEventCarriesTheNodeID(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	writeLog(t, dir, key, 20, Options{NodeID: "node-a"})
	// A torn tail recovered at the next start is recorded with it too.
	segs, _ := segments(dir)
	f, _ := os.OpenFile(filepath.Join(dir, segmentName(segs[len(segs)-1])), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"eventVersion":"1.0`)
	f.Close()
	writeLog(t, dir, key, 3, Options{NodeID: "node-a"})
	n := 0
	err := ReadFrom(dir, 1, func(seq uint64, line []byte) error {
		n++
		if !bytes.Contains(line, []byte(`"eventCategory":`)) || !bytes.Contains(line, []byte(`,"arcaNodeId":"node-a","arcaSequence":`)) {
			t.Errorf("record %d has no node ID before its chain fields: %s", seq, line)
		}
		return nil
	})
	if err != nil || n != 24 {
		t.Fatalf("read %d records, %v; want 24", n, err)
	}
	rep, err := Verify(dir, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		if p.Fatal() {
			t.Errorf("problem: %+v", p)
		}
	}
}
