package audit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

func sampleSummaries() []summary {
	id, _ := parseUUID("0a1b2c3d-0000-4000-8000-00000000abcd")
	return []summary{
		{time: 1796328245, off: 0, n: 812, id: id, hasID: true, readOnly: true, account: "111122223333",
			name: "Encrypt", username: "alice", source: "kms.amazonaws.com", accessKeyID: "AKIAEXAMPLE",
			resources: []Resource{{Type: "AWS::KMS::Key", ARN: "arn:aws:kms:us-east-1:111122223333:key/k1"}}},
		{time: -5, off: 813, n: 90, account: "111122223333", name: "CreateKey", username: "alice", source: "kms.amazonaws.com"},
		{time: 1796328246, off: 904, n: 1, name: "ListKeys", resources: []Resource{{Type: "", ARN: "x"}, {Type: "AWS::KMS::Key", ARN: "arn:aws:kms:us-east-1:111122223333:key/k1"}}},
	}
}

type fakeInfo struct {
	os.FileInfo
	size  int64
	mtime time.Time
}

func (f fakeInfo) Size() int64        { return f.size }
func (f fakeInfo) ModTime() time.Time { return f.mtime }

func TestSidecarRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := fakeInfo{size: 905, mtime: time.Unix(1796328245, 123456789)}
	want := sampleSummaries()
	if err := writeSidecar(dir, 7, st, want); err != nil {
		t.Fatal(err)
	}
	got, err := readSidecar(dir, 7, st)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	if err := writeSidecar(dir, 8, st, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := readSidecar(dir, 8, st); err != nil || len(got) != 0 {
		t.Fatalf("empty sidecar: %v, %v", got, err)
	}
}

// TestSidecarRejects: a sidecar that does not match its segment, or is
// damaged in any byte, is refused, so the segment is decoded instead.
func TestSidecarRejects(t *testing.T) {
	dir := t.TempDir()
	st := fakeInfo{size: 905, mtime: time.Unix(1796328245, 0)}
	if err := writeSidecar(dir, 1, st, sampleSummaries()); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, sidecarName(1)))
	if err != nil {
		t.Fatal(err)
	}
	for name, st := range map[string]fakeInfo{
		"segment grew":     {size: 906, mtime: st.mtime},
		"segment modified": {size: 905, mtime: st.mtime.Add(time.Nanosecond)},
	} {
		if _, err := readSidecar(dir, 1, st); !errors.Is(err, errStaleSidecar) {
			t.Errorf("%s: err %v, want errStaleSidecar", name, err)
		}
	}
	for i := range good {
		b := slices.Clone(good)
		b[i] ^= 0x20
		if _, err := parseSidecar(b, 905, st.mtime.UnixNano()); !errors.Is(err, errStaleSidecar) {
			t.Fatalf("byte %d flipped: err %v, want errStaleSidecar", i, err)
		}
	}
	for n := range len(good) {
		if _, err := parseSidecar(good[:n], 905, st.mtime.UnixNano()); !errors.Is(err, errStaleSidecar) {
			t.Fatalf("truncated to %d bytes: err %v, want errStaleSidecar", n, err)
		}
	}
}

// TestIndexFromSidecars: a reopened log indexes its closed segments from
// the sidecars the log wrote, with the same lookup answers as decoding
// every segment; a segment changed since its sidecar is decoded again;
// retention removes sidecars with their segments.
func TestIndexFromSidecars(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	l, err := Open(dir, key, Options{MaxSegmentBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		e := event(i)
		e.EventID = fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		e.UserIdentity.UserName = fmt.Sprintf("user%d", i%4)
		e.Resources = []Resource{{Type: "AWS::KMS::Key", ARN: fmt.Sprintf("arn:aws:kms:us-east-1:111122223333:key/k%d", i%5)}}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := segments(dir)
	if len(segs) < 4 {
		t.Fatalf("only %d segments; the test needs several closed ones", len(segs))
	}
	// The writer saved a sidecar for every segment it left.
	withSidecar, _ := sidecarSegments(dir)
	if !slices.Equal(withSidecar, segs[:len(segs)-1]) {
		t.Fatalf("sidecars for %v, want every closed segment %v", withSidecar, segs[:len(segs)-1])
	}

	queries := []Query{
		{Max: 50}, {Attr: AttrUsername, Value: "user1"}, {Attr: AttrResourceName, Value: "arn:aws:kms:us-east-1:111122223333:key/k3"},
		{Attr: AttrEventID, Value: fmt.Sprintf("%08x-0000-4000-8000-000000000000", 17)}, {Attr: AttrReadOnly, Value: "true"},
	}
	lookups := func(ix *Index) [][][]byte {
		var out [][][]byte
		for _, q := range queries {
			p, err := ix.Lookup(q)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p.Events)
		}
		return out
	}
	decoded := newIndex(dir)
	for _, n := range segs {
		sums, err := scanSegment(dir, n)
		if err != nil {
			t.Fatal(err)
		}
		for i := range sums {
			decoded.addSummary(n, &sums[i])
		}
	}
	defer decoded.close()
	want := lookups(decoded)

	l, err = Open(dir, key, Options{MaxSegmentBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := lookups(l.Index()); !reflect.DeepEqual(got, want) {
		t.Fatal("lookups over sidecars differ from lookups over decoded segments")
	}
	l.Close()

	// A closed segment rewritten behind the log's back (here with the same
	// bytes, at a new mtime): its sidecar no longer matches, and the
	// segment is decoded.
	path := filepath.Join(dir, segmentName(segs[0]))
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(string(b[:len(b)-1])+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	os.Chtimes(path, later, later)
	st, _ := os.Stat(path)
	if _, err := readSidecar(dir, segs[0], st); !errors.Is(err, errStaleSidecar) {
		t.Fatalf("sidecar of an altered segment: %v, want errStaleSidecar", err)
	}
	ix, err := OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := lookups(ix); !reflect.DeepEqual(got, want) {
		t.Fatal("lookups after decoding the altered segment differ")
	}
	ix.Close()

	// Retention takes the sidecars with the segments.
	if _, err := Prune(dir, key, time.Now().Add(time.Hour), PruneOptions{}); err != nil {
		t.Fatal(err)
	}
	left, _ := segments(dir)
	withSidecar, _ = sidecarSegments(dir)
	for _, n := range withSidecar {
		if !slices.Contains(left, n) {
			t.Fatalf("sidecar of pruned segment %d left behind (segments left %v)", n, left)
		}
	}
}

func FuzzParseSidecar(f *testing.F) {
	dir := f.TempDir()
	st := fakeInfo{size: 905, mtime: time.Unix(1796328245, 0)}
	if err := writeSidecar(dir, 1, st, sampleSummaries()); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(dir, sidecarName(1)))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-4])
	f.Add([]byte(sidecarMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		sums, err := parseSidecar(b, 905, st.mtime.UnixNano())
		if err != nil && !errors.Is(err, errStaleSidecar) {
			t.Fatalf("unexpected error %v", err)
		}
		if err == nil && len(sums) > len(b) {
			t.Fatalf("%d summaries from %d bytes", len(sums), len(b))
		}
		// With a valid checksum appended, the fuzzer reaches the decoder
		// behind it.
		if len(b) >= len(sidecarMagic) {
			b = append(append([]byte(sidecarMagic), b[len(sidecarMagic):]...), 0, 0, 0, 0)
			binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], castagnoli))
			if _, err := parseSidecar(b, 905, st.mtime.UnixNano()); err != nil && !errors.Is(err, errStaleSidecar) {
				t.Fatalf("unexpected error %v", err)
			}
		}
	})
}
