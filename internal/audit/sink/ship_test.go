package sink

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/audit"
)

// memShip is a shared store in memory that can be switched off.
type memShip struct {
	mu     sync.Mutex
	down   bool
	recs   map[uint64][]byte
	order  []uint64
	cps    map[int][]byte
	anchor []byte
}

var errDown = errors.New("database down")

func (m *memShip) opts(dir string) ShipOptions {
	return ShipOptions{LogDir: dir, Logger: quiet(), Interval: 20 * time.Millisecond,
		Records: func(_ context.Context, recs []Record) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.down {
				return errDown
			}
			for _, r := range recs {
				if _, ok := m.recs[r.Seq]; !ok {
					m.recs[r.Seq] = append([]byte(nil), r.Line...)
				}
				m.order = append(m.order, r.Seq)
			}
			return nil
		},
		Checkpoints: func(_ context.Context, first int, lines [][]byte) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			if m.down {
				return errDown
			}
			for i, l := range lines {
				m.cps[first+i] = append([]byte(nil), l...)
			}
			return nil
		},
		Anchor: func(_ context.Context, a []byte, pruned uint64) error {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.anchor = a
			for s := range m.recs {
				if s <= pruned {
					delete(m.recs, s)
				}
			}
			return nil
		},
	}
}

func (m *memShip) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs)
}

// TestShipCopiesTheLogVerbatim: a store that is down while events are
// appended receives every record, in order and byte for byte, once it is
// back, and the checkpoints and the anchor follow.
func TestShipCopiesTheLogVerbatim(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	store := &memShip{recs: map[uint64][]byte{}, cps: map[int][]byte{}, down: true}
	ship := NewShip(store.opts(dir))
	// A new ship starts at the store's end (0 here): the whole log.
	if err := InitCursor(filepath.Join(dir, "sinks"), "ship", 0); err != nil {
		t.Fatal(err)
	}
	l, m := testLog(t, dir, Named{Name: "ship", Sink: ship, Tuning: fastTuning()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ship.Run(ctx)
	start := time.Now()
	appendN(t, l, 300)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("300 appends with the store down took %v", d)
	}
	if store.count() != 0 {
		t.Fatal("records stored while the store was down")
	}
	store.mu.Lock()
	store.down = false
	store.mu.Unlock()
	waitFor(t, "every record shipped", func() bool { return store.count() == 300 })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	m.Close()
	for i, s := range store.order {
		if i > 0 && s < store.order[i-1] {
			t.Fatalf("record %d shipped after record %d", s, store.order[i-1])
		}
	}
	// Byte for byte what the segments hold.
	n := 0
	err := auditReadFrom(dir, func(seq uint64, line []byte) {
		n++
		if !bytes.Equal(store.recs[seq], line) {
			t.Errorf("record %d differs from the log", seq)
		}
	})
	if err != nil || n != 300 {
		t.Fatalf("read %d records: %v", n, err)
	}
	// The final checkpoint, written at Close, ships on the next Sync.
	if err := ship.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	cps, _ := os.ReadFile(filepath.Join(dir, "checkpoints.jsonl"))
	lines := bytes.Split(bytes.TrimSuffix(cps, []byte{'\n'}), []byte{'\n'})
	if len(store.cps) != len(lines) || !bytes.Equal(store.cps[len(lines)], lines[len(lines)-1]) {
		t.Errorf("checkpoints shipped: %d; the file has %d", len(store.cps), len(lines))
	}
	// More checkpoints; a new Ship told the store holds all but the last
	// sends only that one.
	f, _ := os.OpenFile(filepath.Join(dir, "checkpoints.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString("{\"x\":1}\n{\"x\":2}\n")
	f.Close()
	cps, _ = os.ReadFile(filepath.Join(dir, "checkpoints.jsonl"))
	lines = bytes.Split(bytes.TrimSuffix(cps, []byte{'\n'}), []byte{'\n'})
	if err := ship.Sync(context.Background()); err != nil || len(store.cps) != len(lines) {
		t.Fatalf("appended checkpoints: %d shipped of %d, %v", len(store.cps), len(lines), err)
	}
	store.mu.Lock()
	delete(store.cps, len(lines))
	store.cps[1] = []byte("kept")
	store.mu.Unlock()
	o := store.opts(dir)
	o.CheckpointsShipped = len(lines) - 1
	if err := NewShip(o).Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(store.cps) != len(lines) || !bytes.Equal(store.cps[len(lines)], lines[len(lines)-1]) || string(store.cps[1]) != "kept" {
		t.Errorf("after a restart: checkpoints %v", store.cps)
	}
	// An anchor ships, and drops the records it covers.
	os.WriteFile(filepath.Join(dir, "anchor.json"), []byte(`{"sequence":100}`), 0o600)
	if err := ship.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if string(store.anchor) != `{"sequence":100}` || store.count() != 200 {
		t.Errorf("anchor %q, %d records left; want 200", store.anchor, store.count())
	}
	// InitCursor keeps a cursor that exists.
	InitCursor(filepath.Join(dir, "sinks"), "ship", 5)
	if c, _, _ := readCursor(filepath.Join(dir, "sinks", "ship.cursor")); c != 300 {
		t.Errorf("cursor = %d after InitCursor on an existing one; want 300", c)
	}
}

func auditReadFrom(dir string, fn func(uint64, []byte)) error {
	return audit.ReadFrom(dir, 1, func(seq uint64, line []byte) error { fn(seq, line); return nil })
}
