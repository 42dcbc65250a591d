package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestIndexLookup(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	clock := base
	var mu sync.Mutex
	l, err := Open(dir, key, Options{MaxSegmentBytes: 4 << 10, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		ev := event(i)
		ev.EventTime = base.Add(time.Duration(i) * time.Hour).Format(time.RFC3339)
		ev.EventID = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		ev.RecipientAccountID = []string{"111111111111", "222222222222"}[i%2]
		ev.UserIdentity.UserName = fmt.Sprintf("user%d", i%5)
		ev.Resources = []Resource{{ARN: fmt.Sprintf("arn:aws:kms:us-east-1:%s:key/k%d", ev.RecipientAccountID, i%10), Type: "AWS::KMS::Key"}}
		if i == 7 {
			ev.EventType = "ArcaIntent" // never indexed
		}
		if err := l.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	check := func(ix *Index, name string) {
		names := func(p Page) []string {
			var out []string
			for _, b := range p.Events {
				var e Event
				if err := json.Unmarshal(b, &e); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				out = append(out, e.RequestID)
			}
			return out
		}
		// By resource, newest first, paged.
		q := Query{Account: "111111111111", Attr: AttrResourceName, Value: "arn:aws:kms:us-east-1:111111111111:key/k4", Max: 5}
		p, err := ix.Lookup(q)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(names(p)); got != "[req-194 req-184 req-174 req-164 req-154]" || p.Next == 0 {
			t.Errorf("%s: by resource = %s (next %d)", name, got, p.Next)
		}
		q.Before = p.Next
		p, _ = ix.Lookup(q)
		if got := fmt.Sprint(names(p)); got != "[req-144 req-134 req-124 req-114 req-104]" {
			t.Errorf("%s: second page = %s", name, got)
		}
		// Another account's key: nothing.
		p, _ = ix.Lookup(Query{Account: "222222222222", Attr: AttrResourceName, Value: "arn:aws:kms:us-east-1:111111111111:key/k4"})
		if len(p.Events) != 0 {
			t.Errorf("%s: cross-account lookup returned %d events", name, len(p.Events))
		}
		// By user within a time range.
		p, _ = ix.Lookup(Query{Account: "222222222222", Attr: AttrUsername, Value: "user2", Start: base.Add(100 * time.Hour), End: base.Add(130 * time.Hour)})
		if got := fmt.Sprint(names(p)); got != "[req-127 req-117 req-107]" {
			t.Errorf("%s: by user in range = %s", name, got)
		}
		// By event ID, only in its own account; intents are not indexed.
		p, _ = ix.Lookup(Query{Account: "111111111111", Attr: AttrEventID, Value: "00000000-0000-4000-8000-000000000042"})
		if len(p.Events) != 1 {
			t.Errorf("%s: by event ID: %d events", name, len(p.Events))
		}
		p, _ = ix.Lookup(Query{Account: "222222222222", Attr: AttrEventID, Value: "00000000-0000-4000-8000-000000000042"})
		if len(p.Events) != 0 {
			t.Errorf("%s: another account's event ID found", name)
		}
		p, _ = ix.Lookup(Query{Attr: AttrEventID, Value: "00000000-0000-4000-8000-000000000007"})
		if len(p.Events) != 0 {
			t.Errorf("%s: intent record indexed", name)
		}
		if _, err := ix.Lookup(Query{Attr: "Bogus", Value: "x"}); err != ErrUnknownAttribute {
			t.Errorf("%s: unknown attribute: %v", name, err)
		}
		if n := ix.Len(); n != 199 {
			t.Errorf("%s: %d events indexed, want 199", name, n)
		}
	}
	check(l.Index(), "incremental")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _ := segments(dir)
	if len(segs) < 3 {
		t.Fatalf("want several segments, got %d", len(segs))
	}
	ix, err := OpenIndex(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ix.Close()
	check(ix, "rebuilt")
}

// writeSynthetic writes n chained events (1,000 keys, 50 users, 3
// accounts, one per 10 ms) straight to segment files, as the log would.
func writeSynthetic(b *testing.B, dir string, n int) { writeSyntheticSegments(b, dir, n, 0) }

// writeSyntheticSegments writes n events, starting a new segment past
// segBytes (0: one segment).
func writeSyntheticSegments(b *testing.B, dir string, n int, segBytes int64) {
	seg := 1
	f, err := os.Create(filepath.Join(dir, segmentName(seg)))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	var size int64
	prev := ZeroHash
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		e := event(i)
		acct := []string{"111111111111", "222222222222", "333333333333"}[i%3]
		e.RecipientAccountID = acct
		e.UserIdentity.UserName = fmt.Sprintf("user%d", i%50)
		e.UserIdentity.AccessKeyID = fmt.Sprintf("AKIA%016d", i%50)
		e.EventID = fmt.Sprintf("%08x-0000-4000-8000-000000000000", i)
		e.EventTime = base.Add(time.Duration(i) * 10 * time.Millisecond).Format(time.RFC3339)
		e.Resources = []Resource{{ARN: fmt.Sprintf("arn:aws:kms:us-east-1:%s:key/%08d-0000-4000-8000-000000000000", acct, i%1000), Type: "AWS::KMS::Key"}}
		e.EventVersion, e.Sequence, e.PreviousHash = EventVersion, uint64(i+1), prev
		if e.Hash, err = e.computeHash(); err != nil {
			b.Fatal(err)
		}
		line, _ := json.Marshal(e)
		w.Write(line)
		w.WriteByte('\n')
		prev = e.Hash
		if size += int64(len(line)) + 1; segBytes > 0 && size >= segBytes {
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			f.Close()
			seg++
			if f, err = os.Create(filepath.Join(dir, segmentName(seg))); err != nil {
				b.Fatal(err)
			}
			w.Reset(f)
			size = 0
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
}

// BenchmarkLookupMillion: the first page (50 events) of a lookup by
// resource and by user over a log of one million events. Setup writes and
// indexes the log once (tens of seconds).
func BenchmarkLookupMillion(b *testing.B) {
	dir := b.TempDir()
	const n = 1_000_000
	writeSynthetic(b, dir, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	ix, err := OpenIndex(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer ix.Close()
	built := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.Logf("indexed %d events in %v, %.0f MiB of heap", ix.Len(), built, float64(after.HeapAlloc-before.HeapAlloc)/(1<<20))
	for _, q := range []struct {
		name string
		q    Query
	}{
		{"resource", Query{Account: "222222222222", Attr: AttrResourceName, Value: "arn:aws:kms:us-east-1:222222222222:key/00000500-0000-4000-8000-000000000000"}},
		{"user", Query{Account: "111111111111", Attr: AttrUsername, Value: "user21"}},
		{"user-timerange", Query{Account: "111111111111", Attr: AttrUsername, Value: "user21",
			Start: time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 1, 1, 30, 0, 0, time.UTC)}},
		{"all", Query{Account: "333333333333"}},
	} {
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				p, err := ix.Lookup(q.q)
				if err != nil || len(p.Events) != 50 {
					b.Fatalf("%d events, %v", len(p.Events), err)
				}
			}
		})
	}
}

// BenchmarkIndexOpenMillion: building the lookup index of one million
// events in 64 MiB segments, first by decoding them (which also saves the
// sidecars), then from the sidecars, as the log does at every start.
func BenchmarkIndexOpenMillion(b *testing.B) {
	dir := b.TempDir()
	writeSyntheticSegments(b, dir, 1_000_000, 64<<20)
	segs, _ := segments(dir)
	for _, pass := range []string{"decode", "sidecars"} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		start := time.Now()
		ix := newIndex(dir)
		if err := ix.build(true); err != nil {
			b.Fatal(err)
		}
		built := time.Since(start)
		runtime.GC()
		runtime.ReadMemStats(&after)
		var idxBytes int64
		for _, n := range segs {
			if st, err := os.Stat(filepath.Join(dir, sidecarName(n))); err == nil {
				idxBytes += st.Size()
			}
		}
		b.Logf("%s: %d events in %d segments indexed in %v, %.0f MiB of heap, %.1f MiB of sidecars", pass, ix.Len(), len(segs), built,
			float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), float64(idxBytes)/(1<<20))
		ix.close()
	}
	for b.Loop() {
	}
}

// TestIndexSkipsPrunedSegments: once retention removes a segment, its
// events are no longer returned, even through a file the index had open.
func TestIndexSkipsPrunedSegments(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, newKey(t), Options{MaxSegmentBytes: 2 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 40; i++ {
		if err := l.Append(context.Background(), event(i)); err != nil {
			t.Fatal(err)
		}
	}
	all, err := l.Index().Lookup(Query{Max: 50})
	if err != nil || len(all.Events) != 40 {
		t.Fatalf("before: %d events, %v", len(all.Events), err)
	}
	if err := os.Remove(filepath.Join(dir, segmentName(1))); err != nil {
		t.Fatal(err)
	}
	after, err := l.Index().Lookup(Query{Max: 50})
	if err != nil || len(after.Events) == 0 || len(after.Events) >= 40 {
		t.Fatalf("after removing segment 1: %d events, %v", len(after.Events), err)
	}
}
