package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// memRemote is a Remote in memory: node → records by sequence.
type memRemote struct {
	mu   sync.Mutex
	recs map[string][]RemoteRecord
	fail error
}

func (r *memRemote) add(node string, ev *Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.recs == nil {
		r.recs = map[string][]RemoteRecord{}
	}
	ev.NodeID, ev.Sequence = node, uint64(len(r.recs[node])+1)
	b, _ := json.Marshal(ev)
	r.recs[node] = append(r.recs[node], RemoteRecord{Seq: ev.Sequence, Line: b})
}

func (r *memRemote) Nodes(context.Context) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	var out []string
	for n := range r.recs {
		out = append(out, n)
	}
	return out, nil
}

func (r *memRemote) RecordsAfter(_ context.Context, node string, after uint64, limit int) ([]RemoteRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []RemoteRecord
	for _, x := range r.recs[node] {
		if x.Seq > after && len(out) < limit {
			out = append(out, x)
		}
	}
	return out, nil
}

func (r *memRemote) Lines(_ context.Context, node string, seqs []uint64) ([]RemoteRecord, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	var out []RemoteRecord
	for _, x := range r.recs[node] {
		if slices.Contains(seqs, x.Seq) {
			out = append(out, x)
		}
	}
	return out, nil
}

func timedEvent(i int, t time.Time) *Event {
	e := event(i)
	e.EventID = fmt.Sprintf("00000000-0000-0000-0000-%012d", i)
	e.EventTime = t.UTC().Format(time.RFC3339)
	return e
}

// TestMergedLookup: three nodes' events interleaved in time come back
// newest first by time, each exactly once across pages of every size, and
// events arriving after the first page do not disturb the paging.
func TestMergedLookup(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, newKey(t), Options{NodeID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rem := &memRemote{}
	base := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	// Event i happens at base+i seconds on node a, b or c in turn.
	const n = 30
	for i := range n {
		ev := timedEvent(i, base.Add(time.Duration(i)*time.Second))
		switch i % 3 {
		case 0:
			if err := l.Append(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		case 1:
			rem.add("b", ev)
		case 2:
			rem.add("c", ev)
		}
	}
	// A record of this node shipped to the store too must not come twice.
	rem.add("a", timedEvent(999, base))
	m := NewMerged("a", l.Index(), rem, nil)
	if err := m.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.Len() != n {
		t.Fatalf("Len = %d; want %d", m.Len(), n)
	}
	for _, size := range []int{1, 2, 7, 50} {
		var got []string
		q := Query{Max: size}
		for pages := 0; ; pages++ {
			p, err := m.Lookup(q)
			if err != nil {
				t.Fatal(err)
			}
			if pages == 0 {
				// Newer events of every node arrive meanwhile.
				l.Append(context.Background(), timedEvent(1000+2*size, base.Add(time.Hour)))
				rem.add("b", timedEvent(1001+2*size, base.Add(time.Hour)))
				if err := m.Poll(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			for _, b := range p.Events {
				var e Event
				json.Unmarshal(b, &e)
				got = append(got, e.EventID[24:])
			}
			if p.Cursor == nil {
				break
			}
			q.Cursor = p.Cursor
		}
		if size == 1 {
			// The first lookup's view: the 30, newest first.
			want := []string{}
			for i := n - 1; i >= 0; i-- {
				want = append(want, fmt.Sprintf("%012d", i))
			}
			if !slices.Equal(got, want) {
				t.Errorf("page size %d: got %v\nwant %v", size, got, want)
			}
			continue
		}
		// Later lookups start with what arrived meanwhile (newest).
		seen := map[string]int{}
		for _, id := range got {
			seen[id]++
		}
		for id, c := range seen {
			if c != 1 {
				t.Errorf("page size %d: event %s returned %d times", size, id, c)
			}
		}
		if len(seen) < n {
			t.Errorf("page size %d: %d distinct events; want at least %d", size, len(seen), n)
		}
	}
	// By event ID, an event of another node.
	p, err := m.Lookup(Query{Attr: AttrEventID, Value: "00000000-0000-0000-0000-000000000004"})
	if err != nil || len(p.Events) != 1 {
		t.Fatalf("by event ID: %d events, %v", len(p.Events), err)
	}
	if _, err := m.Lookup(Query{Cursor: []byte{1, 'x'}}); !errors.Is(err, ErrBadCursor) {
		t.Errorf("bad cursor: %v", err)
	}
	// The store down: lookups that need it fail rather than skip events.
	rem.fail = errors.New("down")
	if err := m.Poll(context.Background()); err == nil {
		t.Error("Poll with the store down succeeded")
	}
	if _, err := m.Lookup(Query{Max: 5}); err == nil {
		t.Error("Lookup with the store down succeeded")
	}
}

// FuzzMergedCursor feeds arbitrary cursors (NextToken's payload, from the
// client) to a merged lookup: a page or ErrBadCursor, never a panic.
func FuzzMergedCursor(f *testing.F) {
	f.Add([]byte{1, 'a', 3})
	f.Add(encodeCursor(map[string]uint64{"a": 5, "b": 1}))
	f.Add([]byte{0x80})
	f.Add([]byte{64, 'x'})
	f.Add([]byte{1, 'b', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	dir := f.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	l, err := Open(dir, key, Options{NodeID: "a"})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	rem := &memRemote{}
	base := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		if i%2 == 0 {
			l.Append(context.Background(), timedEvent(i, base.Add(time.Duration(i)*time.Second)))
		} else {
			rem.add("b", timedEvent(i, base.Add(time.Duration(i)*time.Second)))
		}
	}
	m := NewMerged("a", l.Index(), rem, nil)
	if err := m.Poll(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cursor []byte) {
		p, err := m.Lookup(Query{Max: 2, Cursor: cursor})
		if err != nil && !errors.Is(err, ErrBadCursor) {
			t.Fatalf("Lookup: %v", err)
		}
		if len(p.Events) > 2 {
			t.Fatalf("%d events for Max 2", len(p.Events))
		}
	})
}
