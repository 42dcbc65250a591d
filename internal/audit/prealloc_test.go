package audit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDataEnd(t *testing.T) {
	rec := `{"arcaSequence":1}` + "\n"
	z := func(n int) string { return strings.Repeat("\x00", n) }
	for _, tc := range []struct {
		name      string
		data      string
		end, good int
	}{
		{"empty", "", 0, 0},
		{"records only (the old format, or a closed segment)", rec + rec, 2 * len(rec), 2 * len(rec)},
		{"preallocated zeros after the records", rec + rec + z(100), 2 * len(rec), 2 * len(rec)},
		{"only zeros", z(50), 0, 0},
		{"a torn record before the zeros", rec + `{"arcaSeq` + z(100), len(rec) + 9, len(rec)},
		{"a torn record, no zeros", rec + `{"arcaSeq`, len(rec) + 9, len(rec)},
		{"a hole, then a whole record (never acknowledged)", rec + z(30) + rec + z(10), 2*len(rec) + 30, len(rec)},
		{"a hole inside a record", rec + `{"arca` + z(5) + `Seq":2}` + "\n", len(rec) + 19, len(rec)},
	} {
		end, good := dataEnd([]byte(tc.data))
		if end != tc.end || good != tc.good {
			t.Errorf("%s: dataEnd = %d, %d; want %d, %d", tc.name, end, good, tc.end, tc.good)
		}
	}
}

// FuzzDataEnd checks dataEnd's promises on any bytes: the zeros after end
// are the whole tail, the records before good hold no zero byte and end at
// a newline.
func FuzzDataEnd(f *testing.F) {
	f.Add([]byte("{}\n{}\n\x00\x00"))
	f.Add([]byte("{}\n\x00\x00{}\n\x00"))
	f.Add([]byte("{}\n{\"a\x00\x00"))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, data []byte) {
		end, good := dataEnd(data)
		if good > end || end > len(data) {
			t.Fatalf("good %d, end %d, len %d", good, end, len(data))
		}
		if bytes.ContainsFunc(data[end:], func(r rune) bool { return r != 0 }) {
			t.Fatalf("non-zero bytes after end %d", end)
		}
		if end > 0 && data[end-1] == 0 {
			t.Fatalf("end %d is inside the zero tail", end)
		}
		if bytes.IndexByte(data[:good], 0) >= 0 {
			t.Fatalf("a zero byte before good %d", good)
		}
		if good > 0 && data[good-1] != '\n' {
			t.Fatalf("good %d is not after a newline", good)
		}
	})
}

// TestSegmentPreallocated: while the log is open its segment ends in
// zeros, which readers and Verify skip; Close cuts them off.
func TestSegmentPreallocated(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newKey(t)
	l, err := Open(dir, key, Options{CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := l.Append(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, segmentName(1))
	data, _ := os.ReadFile(path)
	end, good := dataEnd(data)
	if end != good || end == len(data) || len(data) < preallocBytes {
		t.Fatalf("open segment: %d bytes, records end at %d (good %d); want zeros after them, to at least %d bytes", len(data), end, good, preallocBytes)
	}
	if n := bytes.Count(data[:end], []byte{'\n'}); n != 10 {
		t.Fatalf("%d records before the zeros", n)
	}
	rep := verify(t, dir, key)
	if !rep.OK() || rep.LastSeq != 10 || len(rep.Problems) != 1 || rep.Problems[0].Kind != Unanchored {
		t.Fatalf("verify while open: %+v", rep)
	}
	var seen int
	if err := ReadFrom(dir, 1, func(uint64, []byte) error { seen++; return nil }); err != nil || seen != 10 {
		t.Fatalf("ReadFrom while open: %d records, %v", seen, err)
	}
	if h, err := Head(dir); err != nil || h != 10 {
		t.Fatalf("Head while open = %d, %v", h, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Size() != int64(end) {
		t.Fatalf("after Close the segment is %d bytes; want its %d bytes of records", st.Size(), end)
	}
}

// TestSegmentsRollOverWithoutZeros: a segment the writer has left holds
// only its records.
func TestSegmentsRollOverWithoutZeros(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newKey(t)
	l, err := Open(dir, key, Options{MaxSegmentBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := l.Append(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := segments(dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments", len(segs))
	}
	for _, n := range segs[:len(segs)-1] {
		b, _ := os.ReadFile(filepath.Join(dir, segmentName(n)))
		if bytes.IndexByte(b, 0) >= 0 || !bytes.HasSuffix(b, []byte{'\n'}) {
			t.Errorf("left segment %d still ends in zeros or a partial line", n)
		}
	}
	l.Close()
	if rep := verify(t, dir, key); !rep.OK() || rep.LastSeq != 40 || len(rep.Problems) != 0 {
		t.Fatalf("verify: %+v", rep)
	}
}

// TestRecoverZeroTailVersusTorn: after a crash the last segment may end in
// preallocated zeros (nothing torn: the log continues as if they were not
// there), a record cut short before the zeros, or a hole of zeros followed
// by a record no sync covered (both torn: cut off and recorded, and Verify
// reports them precisely until then).
func TestRecoverZeroTailVersusTorn(t *testing.T) {
	t.Parallel()
	partial := `{"eventVersion":"1.08","eventName":"Enc`
	for _, tc := range []struct {
		name string
		// tail is appended to the closed segment of 5 records: what a
		// crash could have left of the next batch.
		tail func(last string) string
		// tornBytes is the torn length recovery records (0: none), and
		// verifyBefore the problem Verify reports before the restart.
		tornBytes    int
		verifyBefore string
	}{
		{"zero tail", func(string) string { return strings.Repeat("\x00", 4096) }, 0, ""},
		{"torn record before the zeros", func(string) string { return partial + strings.Repeat("\x00", 4096) },
			len(partial), "torn: the last line is cut short"},
		{"hole then a whole record", func(last string) string {
			return strings.Repeat("\x00", 700) + last + "\n" + strings.Repeat("\x00", 300)
		}, -1, "torn: not a record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir, key := t.TempDir(), newKey(t)
			writeLog(t, dir, key, 5, Options{})
			path := filepath.Join(dir, segmentName(1))
			b, _ := os.ReadFile(path)
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			tail := tc.tail(lines[len(lines)-1])
			want := tc.tornBytes
			if want < 0 {
				want = len(strings.TrimRight(tail, "\x00"))
			}
			f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			f.WriteString(tail)
			f.Close()

			rep := verify(t, dir, key)
			got := ""
			for _, p := range rep.Problems {
				if p.Fatal() {
					got += fmt.Sprintf("%s: %s; ", p.Kind, p.Detail)
				}
			}
			if tc.verifyBefore == "" && got != "" || tc.verifyBefore != "" && !strings.HasPrefix(got, tc.verifyBefore) {
				t.Errorf("verify before restart: %q; want %q", got, tc.verifyBefore)
			}

			writeLog(t, dir, key, 2, Options{})
			rep = verify(t, dir, key)
			wantLast := uint64(7)
			if want > 0 {
				wantLast = 8 // the TornRecord event
			}
			if !rep.OK() || rep.LastSeq != wantLast {
				t.Fatalf("after recovery: %+v", rep)
			}
			k := kinds(rep)
			switch {
			case want == 0 && len(k) != 0:
				t.Errorf("a zero tail was reported: %+v", rep.Problems)
			case want > 0 && (len(k) != 1 || k[0] != string(TornRecovered) ||
				!strings.Contains(rep.Problems[0].Detail, fmt.Sprintf(`"tornBytes":%d`, want))):
				t.Errorf("problems = %+v; want one torn-recovered notice naming %d torn bytes", rep.Problems, want)
			}
			if b, _ := os.ReadFile(path); bytes.IndexByte(b, 0) >= 0 {
				t.Errorf("zeros left in the closed segment")
			}
		})
	}
}

// TestReadFromStopsAtZeros: ReadFrom (sinks, other nodes) never skips a
// line with a zero byte (a batch seen half-written over the preallocated
// zeros) to return records after it: it stops there.
func TestReadFromStopsAtZeros(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newKey(t)
	writeLog(t, dir, key, 5, Options{})
	path := filepath.Join(dir, segmentName(1))
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"arcaSequence":6,` + strings.Repeat("\x00", 20) + "}\n" + lines[4] + "\n" + strings.Repeat("\x00", 100))
	f.Close()
	var got []uint64
	if err := ReadFrom(dir, 1, func(seq uint64, _ []byte) error { got = append(got, seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[4] != 5 {
		t.Fatalf("ReadFrom read %v; want records 1 to 5 and a stop at the zeros", got)
	}
}

// TestSidecarFromWriterMatchesDecode: the sidecars the writer saves from
// the summaries it indexed hold exactly what decoding the segment gives.
func TestSidecarFromWriterMatchesDecode(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newKey(t)
	l, err := Open(dir, key, Options{MaxSegmentBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 60 {
		e := event(i)
		e.EventID = fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		e.UserIdentity.UserName = fmt.Sprintf("user%d", i%4)
		e.Resources = []Resource{{Type: "AWS::KMS::Key", ARN: fmt.Sprintf("arn:aws:kms:us-east-1:111122223333:key/k%d", i%5)}}
		if i%7 == 0 {
			e.EventType = "ArcaIntent" // not indexed
		}
		if err := l.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := segments(dir)
	if len(segs) < 4 {
		t.Fatalf("only %d segments", len(segs))
	}
	for _, n := range segs[:len(segs)-1] {
		st, err := os.Stat(filepath.Join(dir, segmentName(n)))
		if err != nil {
			t.Fatal(err)
		}
		fromWriter, err := readSidecar(dir, n, st)
		if err != nil {
			t.Fatalf("segment %d: sidecar: %v", n, err)
		}
		decoded, err := scanSegment(dir, n)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprintf("%+v", fromWriter) != fmt.Sprintf("%+v", decoded) {
			t.Errorf("segment %d: sidecar from the writer\n%+v\ndecoded\n%+v", n, fromWriter, decoded)
		}
	}
}
