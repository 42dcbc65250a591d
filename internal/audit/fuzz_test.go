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
	// A preallocated zero tail, a record torn before it, and a hole.
	f.Add([]byte("{\"arcaSequence\":1,\"arcaHash\":\"ab\"}\n\x00\x00\x00"), []byte{})
	f.Add([]byte("{\"arcaSequence\":1,\"arcaHash\":\"ab\"}\n{\"arcaSeq\x00\x00"), []byte{})
	f.Add([]byte("\x00\x00{\"arcaSequence\":1}\n\x00"), []byte{})
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

// FuzzEventRoundTrip feeds arbitrary lines to the event decoder Verify and
// the index use: a line that decodes must re-encode to a canonical form
// that decodes to the same canonical form again (Verify recomputes hashes
// from parsed lines, so this is what makes a hash reproducible), and the
// index must accept it without panicking.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add([]byte(`{"eventVersion":"1.08","userIdentity":{"type":"Root","principalId":"111122223333"},"eventTime":"2026-12-03T18:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Encrypt","requestParameters":{"keyId":"k","encryptionContext":{"a":"b"}},"responseElements":null,"eventType":"AwsApiCall","resources":[{"ARN":"arn:aws:kms:us-east-1:111122223333:key/k"}],"recipientAccountId":"111122223333","arcaSequence":1,"arcaPreviousHash":"00","arcaHash":"ab"}`))
	f.Add([]byte(`{"requestParameters":{"x":1e400},"eventType":"AwsApiCall","eventID":"0000-00"}`))
	f.Add([]byte(`{"userIdentity":{"sessionContext":{"sessionIssuer":{"type":"Role"},"attributes":{}}},"additionalEventData":"\u00e9"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		var e Event
		if json.Unmarshal(line, &e) != nil {
			return
		}
		c1, err := e.canonical()
		if err != nil {
			return // raw members that are not valid JSON cannot be hashed; Verify reports them as modified
		}
		var e2 Event
		if err := json.Unmarshal(c1, &e2); err != nil {
			t.Fatalf("canonical form does not decode: %v\n%s", err, c1)
		}
		c2, err := e2.canonical()
		if err != nil || !bytes.Equal(c1, c2) {
			t.Fatalf("canonical form is not stable:\n%s\n%s", c1, c2)
		}
		ix := newIndex(t.TempDir())
		ix.add(&e, 1, 0, len(line))
		ix.Lookup(Query{Account: e.Account(), Attr: AttrUsername, Value: e.Username()})
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
