package sink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// ShipOptions configure a Ship sink.
type ShipOptions struct {
	// LogDir is the primary log's directory (checkpoints.jsonl and
	// anchor.json are read from it).
	LogDir string
	// Records stores a batch of records, ascending, all or none; storing a
	// record already present must keep it and succeed (delivery is at
	// least once).
	Records func(ctx context.Context, recs []Record) error
	// Checkpoints stores checkpoint lines numbered from first (1-based
	// line numbers of checkpoints.jsonl), idempotently.
	Checkpoints func(ctx context.Context, first int, lines [][]byte) error
	// Anchor stores the prune anchor (anchor.json's bytes) and drops the
	// stored records up to pruned, its sequence.
	Anchor func(ctx context.Context, anchor []byte, pruned uint64) error
	// Interval is how often checkpoints and the anchor are shipped even
	// without new records (default 5s).
	Interval time.Duration
	Logger   *slog.Logger
}

// Ship copies the log verbatim to a store several nodes share (the
// PostgreSQL audit tables): records through the sink machinery (queue,
// cursor, catch-up), and checkpoints and the prune anchor, which are not
// records, after every delivery and every Interval (Run). The copy is what
// other nodes index and export, so every byte is the log's own.
type Ship struct {
	o ShipOptions

	mu      sync.Mutex
	cpLines int    // checkpoint lines shipped
	cpSize  int64  // the size of checkpoints.jsonl when they were read
	anchor  []byte // the anchor last shipped
}

// NewShip returns a Ship sink. Run it beside the manager.
func NewShip(o ShipOptions) *Ship {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Ship{o: o}
}

// Deliver stores recs in one transaction, then whatever checkpoints and
// anchor are new.
func (s *Ship) Deliver(ctx context.Context, recs []Record) (int, error) {
	if err := s.o.Records(ctx, recs); err != nil {
		return 0, err
	}
	if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
		s.o.Logger.Warn("audit ship: checkpoints not shipped yet", "error", err)
	}
	return len(recs), nil
}

// Run ships checkpoints and the anchor every Interval until ctx ends.
func (s *Ship) Run(ctx context.Context) {
	t := time.NewTicker(s.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Sync(ctx); err != nil && ctx.Err() == nil {
				s.o.Logger.Warn("audit ship: checkpoints not shipped yet", "error", err)
			}
		}
	}
}

// Sync ships the checkpoints and anchor not shipped yet.
func (s *Ship) Sync(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.syncCheckpoints(ctx), s.syncAnchor(ctx))
}

func (s *Ship) syncCheckpoints(ctx context.Context) error {
	path := filepath.Join(s.o.LogDir, "checkpoints.jsonl")
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Size() == s.cpSize {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	// Only complete lines: the last may still be being written.
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	lines := bytes.SplitAfter(data, []byte{'\n'})
	var todo [][]byte
	for i, l := range lines {
		if i < s.cpLines || len(l) == 0 {
			continue
		}
		todo = append(todo, bytes.TrimSuffix(l, []byte{'\n'}))
	}
	for len(todo) > 0 {
		n := min(len(todo), 1000)
		if err := s.o.Checkpoints(ctx, s.cpLines+1, todo[:n]); err != nil {
			return err
		}
		s.cpLines += n
		todo = todo[n:]
	}
	s.cpSize = int64(len(data))
	return nil
}

func (s *Ship) syncAnchor(ctx context.Context) error {
	b, err := os.ReadFile(filepath.Join(s.o.LogDir, "anchor.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if bytes.Equal(b, s.anchor) {
		return nil
	}
	var a struct {
		Sequence uint64 `json:"sequence"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return fmt.Errorf("anchor.json: %w", err)
	}
	if err := s.o.Anchor(ctx, b, a.Sequence); err != nil {
		return err
	}
	s.anchor = b
	return nil
}

// Close does nothing: the store belongs to the server.
func (s *Ship) Close() error { return nil }

// InitCursor sets sink name's cursor in stateDir to seq unless it has one:
// a sink that must copy the whole log (Ship) starts where its store ends
// instead of at the log's current end.
func InitCursor(stateDir, name string, seq uint64) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(stateDir, name+".cursor")
	if _, ok, err := readCursor(path); err != nil || ok {
		return err
	}
	return writeCursor(path, seq)
}
