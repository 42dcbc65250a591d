package audit

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExportKeepsNonRecordLines: paging through Export returns every
// record once, in order, across segments, and a garbage line exactly once
// where it stands; an unterminated last line is left out.
func TestExportKeepsNonRecordLines(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	writeLog(t, dir, key, 40, Options{MaxSegmentBytes: 4096})
	segs, _ := segments(dir)
	if len(segs) < 3 {
		t.Fatalf("%d segments; want several", len(segs))
	}
	// Garbage after the last record of the first segment, and a line
	// still being written at the end of the last.
	f, _ := os.OpenFile(filepath.Join(dir, segmentName(segs[0])), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("garbage\n")
	f.Close()
	f, _ = os.OpenFile(filepath.Join(dir, segmentName(segs[len(segs)-1])), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"eventVersion":"1.0`)
	f.Close()
	for _, limit := range []int{1, 3, 7, 100} {
		var seqs []uint64
		garbage := 0
		var after uint64
		for pages := 0; pages < 200; pages++ {
			recs, err := Export(dir, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range recs {
				if r.Seq == 0 {
					if string(r.Line) != "garbage" {
						t.Fatalf("non-record line %q", r.Line)
					}
					garbage++
					continue
				}
				seqs = append(seqs, r.Seq)
				after = r.Seq
				n++
			}
			if n < limit {
				break
			}
		}
		if len(seqs) != 40 || garbage != 1 {
			t.Fatalf("limit %d: %d records, %d garbage lines; want 40 and 1", limit, len(seqs), garbage)
		}
		for i, s := range seqs {
			if s != uint64(i+1) {
				t.Fatalf("limit %d: record %d at position %d", limit, s, i)
			}
		}
	}
}

// TestHead: the end of the log as Export sees it, found from the
// segments' ends: across segments, in a segment still open (preallocated
// zeros after the records), with an unterminated last line, and for an
// empty log.
func TestHead(t *testing.T) {
	dir := t.TempDir()
	if h, err := Head(dir); err != nil || h != 0 {
		t.Fatalf("empty log: %d, %v", h, err)
	}
	key := newKey(t)
	writeLog(t, dir, key, 40, Options{MaxSegmentBytes: 4096})
	if h, err := Head(dir); err != nil || h != 40 {
		t.Fatalf("closed log: %d, %v; want 40", h, err)
	}
	// Open: the newest segment ends in preallocated zeros.
	l, err := Open(dir, key, Options{MaxSegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := l.Append(t.Context(), event(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := Head(dir); err != nil || h != 43 {
		t.Fatalf("open log: %d, %v; want 43", h, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := segments(dir)
	f, _ := os.OpenFile(filepath.Join(dir, segmentName(segs[len(segs)-1])), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"eventVersion":"1.0`)
	f.Close()
	recs, err := Export(dir, 0, 1000)
	if h, err2 := Head(dir); err != nil || err2 != nil || h != recs[len(recs)-1].Seq {
		t.Fatalf("with a line being written: head %d, %v; Export's last %d, %v", h, err2, recs[len(recs)-1].Seq, err)
	}
}
