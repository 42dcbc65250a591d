// Package sink copies the audit log's records to other destinations: a
// JSON-lines file with rotation, syslog (RFC 5424 over TCP, UDP or unix
// sockets) and an HTTP webhook.
//
// The primary log (internal/audit) stays the record of truth. Sinks are fed
// only after a batch is durable there, through audit.Options.Durable (see
// Manager.Durable), each from its own bounded queue, so a slow or dead sink
// never holds up an append. A sink whose queue overflows, or that was down,
// catches up by reading the primary log's segments from the sequence after
// the last one it delivered (its cursor, persisted in the state directory),
// so nothing is dropped: delivery is at least once and in order. Receivers
// deduplicate by arcaSequence or eventID.
package sink

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/audit"
)

// Record is one durable audit record: its sequence number and its JSON
// line (without the newline). Line is shared between sinks: read only.
type Record struct {
	Seq  uint64
	Line []byte
}

// Sink delivers records to one destination.
type Sink interface {
	// Deliver sends recs, in order, and returns how many were delivered
	// (a prefix of recs) and, if not all, why. The manager retries the
	// rest with backoff. It must give up when ctx ends.
	Deliver(ctx context.Context, recs []Record) (int, error)
	// Close releases the sink's connections or files.
	Close() error
}

// Options configure a Manager.
type Options struct {
	// LogDir is the primary audit log's directory, read to catch up.
	LogDir string
	// StateDir keeps one cursor file per sink (NAME.cursor).
	StateDir string
	// Logger receives delivery failures and catch-up notices.
	Logger *slog.Logger
}

// Tuning is the per-sink delivery behaviour; zero fields take defaults.
type Tuning struct {
	// QueueSize bounds the in-memory queue, in records (default 4096).
	// The queue holds the log's group-commit batches whole, one slot per
	// batch of up to 64 records on average (at least 2 slots), so the
	// bound is approximate.
	QueueSize int
	// BatchSize bounds the records handed to one Deliver (default 100).
	BatchSize int
	// MinBackoff and MaxBackoff bound the retry delay, which doubles per
	// failure with full jitter (defaults 500ms and 1m).
	MinBackoff, MaxBackoff time.Duration
}

func (t Tuning) withDefaults() Tuning {
	if t.QueueSize <= 0 {
		t.QueueSize = 4096
	}
	if t.BatchSize <= 0 {
		t.BatchSize = 100
	}
	if t.MinBackoff <= 0 {
		t.MinBackoff = 500 * time.Millisecond
	}
	if t.MaxBackoff < t.MinBackoff {
		t.MaxBackoff = max(time.Minute, t.MinBackoff)
	}
	return t
}

// Named is a sink with its name (which names its cursor file) and tuning.
type Named struct {
	Name   string
	Sink   Sink
	Tuning Tuning
}

// Manager runs the sinks. Create it before opening the log, pass
// m.Durable as audit.Options.Durable, then Start it.
type Manager struct {
	opts    Options
	log     *slog.Logger
	runners []*runner
	head    atomic.Uint64
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type runner struct {
	name   string
	sink   Sink
	tune   Tuning
	m      *Manager
	q      chan []Record
	wake   chan struct{}
	cursor uint64 // owned by the runner goroutine once started
	// delivered mirrors cursor for Stats and tests.
	delivered atomic.Uint64
	dropped   atomic.Uint64
	failures  atomic.Uint64
	// full is Durable's note that the queue was full when the batch came
	// (only the log's writer goroutine, which calls Durable, uses it).
	full bool
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// New returns a manager for sinks, reading each one's cursor from
// opts.StateDir. A sink without a cursor starts at the log's current end:
// it receives the records appended from now on.
func New(opts Options, sinks ...Named) (*Manager, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("audit sinks: %w", err)
	}
	head, err := audit.Head(opts.LogDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	m := &Manager{opts: opts, log: opts.Logger}
	m.head.Store(head)
	seen := map[string]bool{}
	for _, s := range sinks {
		if !nameRE.MatchString(s.Name) || seen[s.Name] {
			return nil, fmt.Errorf("audit sinks: name %q must be unique, 1-64 of A-Z a-z 0-9 _ . -", s.Name)
		}
		seen[s.Name] = true
		t := s.Tuning.withDefaults()
		r := &runner{name: s.Name, sink: s.Sink, tune: t, m: m, q: make(chan []Record, max(2, t.QueueSize/64)), wake: make(chan struct{}, 1)}
		cur, ok, err := readCursor(m.cursorPath(s.Name))
		if err != nil {
			return nil, err
		}
		if !ok {
			cur = head
			if err := writeCursor(m.cursorPath(s.Name), cur); err != nil {
				return nil, err
			}
		}
		r.cursor = cur
		r.delivered.Store(cur)
		m.runners = append(m.runners, r)
	}
	return m, nil
}

func (m *Manager) cursorPath(name string) string {
	return filepath.Join(m.opts.StateDir, name+".cursor")
}

// Durable is the audit.Options.Durable hook. It runs on the log's writer
// goroutine, so it only copies the batch once and offers it to every
// sink's queue with one non-blocking send; a full queue drops the batch from
// memory only (the sink reads it back from the log later).
func (m *Manager) Durable(lines []byte, last uint64) {
	if len(m.runners) == 0 {
		return
	}
	n := uint64(bytes.Count(lines, []byte{'\n'}))
	// A sink whose queue is full (behind, or dead) reads the log later
	// anyway: skip it without taking its channel's lock, and skip the
	// copy if every sink is in that state. len on a channel is a racy
	// read, which is all a hint needs.
	open := 0
	for _, r := range m.runners {
		r.full = len(r.q) == cap(r.q)
		if r.full {
			r.dropped.Add(n)
		} else {
			open++
		}
	}
	if open > 0 {
		// One copy and one slice for every sink: they only read it.
		buf := append([]byte(nil), lines...)
		recs := make([]Record, 0, n)
		seq := last - n + 1
		for len(buf) > 0 {
			i := bytes.IndexByte(buf, '\n')
			recs = append(recs, Record{Seq: seq, Line: buf[:i:i]})
			buf, seq = buf[i+1:], seq+1
		}
		for _, r := range m.runners {
			if r.full {
				continue
			}
			select {
			case r.q <- recs:
			default:
				r.dropped.Add(n)
			}
		}
	}
	m.head.Store(last)
	for _, r := range m.runners {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Start runs one goroutine per sink until Close.
func (m *Manager) Start(ctx context.Context) {
	ctx, m.cancel = context.WithCancel(ctx)
	for _, r := range m.runners {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			r.run(ctx)
		}()
	}
}

// Close stops the sinks (an undelivered record stays behind the cursor and
// is sent after the next start) and closes them.
func (m *Manager) Close() error {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	var errs []error
	for _, r := range m.runners {
		errs = append(errs, r.sink.Close())
	}
	return errors.Join(errs...)
}

// Stat is one sink's delivery state.
type Stat struct {
	Name string `json:"name"`
	// Delivered is the last sequence delivered; Head the log's last.
	Delivered uint64 `json:"delivered"`
	Head      uint64 `json:"head"`
	// Overflows counts records that did not fit the queue and were (or
	// will be) read back from the log; Failures counts failed deliveries.
	Overflows uint64 `json:"overflows"`
	Failures  uint64 `json:"failures"`
}

// Stats reports every sink's state.
func (m *Manager) Stats() []Stat {
	var out []Stat
	for _, r := range m.runners {
		out = append(out, Stat{Name: r.name, Delivered: r.delivered.Load(), Head: m.head.Load(),
			Overflows: r.dropped.Load(), Failures: r.failures.Load()})
	}
	return out
}

// HoldFrom is the first record some sink has not delivered yet (0 when
// every sink is up to date, or there are none): retention must keep it.
func (m *Manager) HoldFrom() uint64 {
	var hold uint64
	head := m.head.Load()
	for _, r := range m.runners {
		if d := r.delivered.Load(); d < head && (hold == 0 || d+1 < hold) {
			hold = d + 1
		}
	}
	return hold
}

func (r *runner) run(ctx context.Context) {
	// Whatever was appended while this sink was stopped.
	if err := r.catchUp(ctx); err != nil {
		return
	}
	batch := make([]Record, 0, r.tune.BatchSize)
	for {
		select {
		case <-ctx.Done():
			return
		case recs := <-r.q:
			batch = append(batch[:0], recs...)
		fill:
			for len(batch) < r.tune.BatchSize {
				select {
				case recs := <-r.q:
					batch = append(batch, recs...)
				default:
					break fill
				}
			}
			if err := r.process(ctx, batch); err != nil {
				return
			}
		case <-r.wake:
		}
		// Records that overflowed the queue are only in the log.
		if len(r.q) == 0 && r.m.head.Load() > r.cursor {
			if err := r.catchUp(ctx); err != nil {
				return
			}
		}
	}
}

// process delivers the queued records that follow the cursor, reading the
// log first if the queue skipped some.
func (r *runner) process(ctx context.Context, batch []Record) error {
	pending := batch[:0:0]
	for _, rec := range batch {
		if rec.Seq <= r.cursor+uint64(len(pending)) {
			continue
		}
		if rec.Seq > r.cursor+uint64(len(pending))+1 {
			if err := r.deliver(ctx, pending); err != nil {
				return err
			}
			pending = pending[:0]
			if err := r.catchUp(ctx); err != nil {
				return err
			}
			if rec.Seq <= r.cursor {
				continue
			}
		}
		pending = append(pending, rec)
	}
	return r.deliver(ctx, pending)
}

// catchUp delivers everything in the log after the cursor.
func (r *runner) catchUp(ctx context.Context) error {
	var pending []Record
	err := audit.ReadFrom(r.m.opts.LogDir, r.cursor+1, func(seq uint64, line []byte) error {
		if seq > r.cursor+uint64(len(pending))+1 {
			if err := r.deliver(ctx, pending); err != nil {
				return err
			}
			pending = pending[:0]
			r.m.log.Warn("audit sink: records were pruned by retention before this sink delivered them",
				"sink", r.name, "first_missing", r.cursor+1, "last_missing", seq-1)
			r.advance(seq - 1)
		}
		pending = append(pending, Record{Seq: seq, Line: append([]byte(nil), line...)})
		if len(pending) == r.tune.BatchSize {
			if err := r.deliver(ctx, pending); err != nil {
				return err
			}
			pending = pending[:0]
		}
		return nil
	})
	if err != nil {
		if ctx.Err() == nil {
			r.m.log.Error("audit sink: cannot read the log to catch up", "sink", r.name, "error", err)
		}
		return err
	}
	return r.deliver(ctx, pending)
}

// deliver sends recs until all are delivered or ctx ends, backing off
// between failures.
func (r *runner) deliver(ctx context.Context, recs []Record) error {
	for attempt := 0; len(recs) > 0; attempt++ {
		n, err := r.sink.Deliver(ctx, recs[:min(len(recs), r.tune.BatchSize)])
		if n > 0 {
			r.advance(recs[n-1].Seq)
			recs = recs[n:]
			attempt = 0
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.failures.Add(1)
		d := backoff(r.tune.MinBackoff, r.tune.MaxBackoff, attempt)
		r.m.log.Warn("audit sink: delivery failed; retrying", "sink", r.name, "sequence", recs[0].Seq, "retry_in", d, "error", err)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (r *runner) advance(seq uint64) {
	r.cursor = seq
	r.delivered.Store(seq)
	if err := writeCursor(r.m.cursorPath(r.name), seq); err != nil {
		// The records are delivered; at worst they are sent again after
		// a restart.
		r.m.log.Error("audit sink: cannot save cursor", "sink", r.name, "error", err)
	}
}

// backoff is a full-jitter exponential delay: uniform in [0, min(max,
// base·2^attempt)], but at least base/2 so a dead sink is not hammered.
func backoff(base, maxD time.Duration, attempt int) time.Duration {
	ceil := maxD
	if attempt < 32 && base<<attempt > 0 && base<<attempt < maxD {
		ceil = base << attempt
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	d := time.Duration(binary.LittleEndian.Uint64(b[:]) % uint64(ceil+1))
	return max(d, base/2)
}

type cursorFile struct {
	Sequence uint64 `json:"sequence"`
}

func readCursor(path string) (uint64, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("audit sink cursor: %w", err)
	}
	var c cursorFile
	if err := json.Unmarshal(b, &c); err != nil {
		return 0, false, fmt.Errorf("audit sink cursor %s: %w", path, err)
	}
	return c.Sequence, true, nil
}

// writeCursor replaces the cursor file atomically. It does not fsync: a
// cursor lost in a crash only means records are delivered again.
func writeCursor(path string, seq uint64) error {
	b, _ := json.Marshal(cursorFile{Sequence: seq})
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
