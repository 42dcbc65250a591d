package sink

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	// CheckpointsShipped is how many checkpoint lines the store already
	// holds (they are not sent again).
	CheckpointsShipped int
	Logger             *slog.Logger
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
	cpRead  int    // checkpoint lines read (cpSize bytes)
	cpSize  int64  // the bytes of checkpoints.jsonl read, whole lines
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
	return &Ship{o: o, cpLines: o.CheckpointsShipped}
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
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() < s.cpSize {
		// Not the file that was read (replaced): count its lines again.
		s.cpSize, s.cpRead = 0, 0
	}
	if st.Size() == s.cpSize {
		return nil
	}
	// The file only grows: read what follows the lines already read.
	if _, err := f.Seek(s.cpSize, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	var todo [][]byte
	flush := func() error {
		if len(todo) == 0 {
			return nil
		}
		if err := s.o.Checkpoints(ctx, s.cpLines+1, todo); err != nil {
			return err
		}
		s.cpLines += len(todo)
		todo = todo[:0]
		return nil
	}
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			break // the end, or a last line still being written
		}
		s.cpSize += int64(len(line))
		s.cpRead++
		if s.cpRead <= s.cpLines {
			continue // shipped before this process started (Shipped)
		}
		todo = append(todo, bytes.TrimSuffix(line, []byte{'\n'}))
		if len(todo) == 1000 {
			if err := flush(); err != nil {
				s.cpSize, s.cpRead = 0, 0 // read again from the start next time
				return err
			}
		}
	}
	if err := flush(); err != nil {
		s.cpSize, s.cpRead = 0, 0
		return err
	}
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
