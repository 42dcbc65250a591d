// Package bolt is Arca's embedded storage.Backend, on go.etcd.io/bbolt: one
// file, one bucket, keys stored as their bytes.
//
// Durability: bbolt runs with NoSync=false, so every Put, Delete and Update
// returns only after its commit has been written and fsynced. An
// acknowledged write survives kill -9 and power loss (given a disk that
// honours fsync).
//
// Group commit: concurrent writers share commits. The first writer to arrive
// commits at once (a lone writer never waits for company, unlike bbolt's own
// Batch, which holds every call for MaxBatchDelay); writers arriving while a
// commit is in flight queue up and the next commit carries all of them in one
// bbolt transaction and one fsync. Each Update stays its own logical,
// serializable transaction: fns in a shared commit run one after another and
// each sees the writes of those before it. If one fn fails, the shared
// transaction is rolled back, that fn is re-run alone to report its error
// (unless it ran first, on the committed state alone), and the others are
// re-run and committed without it, which is why storage.Backend.Update says
// fn may run more than once. A panicking fn panics on its caller's goroutine.
//
// Locking: bbolt takes an exclusive flock on the file, so a second process
// (or a second Open in this process) on the same data dir fails with
// ErrLocked after Options.Timeout instead of hanging or corrupting it.
//
// It imports only internal/storage.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/arca-kms/arca/internal/storage"
)

// bucketName is the one bucket holding every key.
var bucketName = []byte("arca")

// ErrLocked is returned (wrapped) by Open when another process holds the
// database file's lock, typically a second Arca server on the same data dir.
var ErrLocked = errors.New("bolt: data dir in use by another arca process")

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = time.Second

// maxBatch bounds how many Updates share one commit, so that one failing fn
// re-runs a bounded amount of work.
const maxBatch = 128

// Options tune Open. The zero value is the production default.
type Options struct {
	// Timeout bounds the wait for the exclusive file lock another process
	// holds. Zero means DefaultTimeout (1s); a negative value means try once
	// and fail at once. bbolt polls the lock every 50ms.
	Timeout time.Duration
}

// Backend is a bbolt-backed storage.Backend, safe for concurrent use.
type Backend struct {
	db *bbolt.DB

	mu      sync.Mutex // guards queue and leading
	queue   []*call    // Updates waiting for the next commit
	leading bool       // a leader is committing; invariant: !leading ⇒ queue empty
}

var _ storage.Backend = (*Backend)(nil)

// Open opens or creates the database file at path (mode 0600). The parent
// directory must exist.
func Open(path string, opts Options) (*Backend, error) {
	timeout := opts.Timeout
	switch {
	case timeout == 0:
		timeout = DefaultTimeout
	case timeout < 0:
		// bbolt treats 0 as "wait forever"; any tiny positive value gives
		// one attempt.
		timeout = time.Nanosecond
	}
	// NoSync stays false (the default): commits return only once fsynced.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w (%s is locked)", ErrLocked, path)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("bolt: init %s: %w", path, err)
	}
	return &Backend{db: db}, nil
}

// mapErr turns bbolt's "not open" into the contract's ErrClosed.
func mapErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return storage.ErrClosed
	}
	return err
}

// Get implements storage.Reader, in a read-only transaction that runs
// concurrently with writers.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := b.db.View(func(btx *bbolt.Tx) error {
		var err error
		out, err = (&tx{b: btx.Bucket(bucketName)}).Get(ctx, key)
		return err
	})
	return out, mapErr(err)
}

// List implements storage.Reader, in a read-only transaction.
func (b *Backend) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []storage.Entry
	err := b.db.View(func(btx *bbolt.Tx) error {
		var err error
		out, err = (&tx{b: btx.Bucket(bucketName)}).List(ctx, prefix, after, limit)
		return err
	})
	return out, mapErr(err)
}

// Put implements storage.Writer as its own Update.
func (b *Backend) Put(ctx context.Context, key string, value []byte) error {
	return b.Update(ctx, func(t storage.Tx) error { return t.Put(ctx, key, value) })
}

// Delete implements storage.Writer as its own Update.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.Update(ctx, func(t storage.Tx) error { return t.Delete(ctx, key) })
}

// call is one Update waiting for, or taking part in, a group commit.
type call struct {
	ctx  context.Context
	fn   func(storage.Tx) error
	wake chan bool // buffered; receives once: true = lead the next commit, false = done

	// Set by the committing goroutine before wake is signalled.
	err  error
	solo bool // failed in a shared commit: the caller re-runs fn alone
}

// Update implements storage.Backend with group commit (see the package doc).
// It returns only after the commit is fsynced. Once queued behind a commit
// in flight, an Update waits for its turn even if ctx is cancelled
// meanwhile (at most one commit); its fn then fails fast on ctx.
func (b *Backend) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := &call{ctx: ctx, fn: fn, wake: make(chan bool, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := !b.leading
	b.leading = true
	b.mu.Unlock()
	if !lead {
		lead = <-c.wake
	}
	if lead {
		b.lead()
	}
	if c.solo {
		return b.solo(ctx, fn)
	}
	return c.err
}

// lead commits a batch taken from the head of the queue (the leader's own
// call is its first element), then hands leadership to the next queued call
// and wakes the batch's followers.
func (b *Backend) lead() {
	b.mu.Lock()
	n := min(len(b.queue), maxBatch)
	batch := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	// fns run on a fresh goroutine so that one calling runtime.Goexit (say,
	// t.FailNow in a test) cannot take the leader's caller down with it.
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ok := false
		defer func() {
			if !ok {
				// Goexit or a bbolt panic: nothing was committed; every
				// caller retries alone, on its own goroutine.
				for _, c := range batch {
					c.solo = true
				}
			}
		}()
		b.commit(batch)
		ok = true
	}()
	<-finished

	b.mu.Lock()
	if len(b.queue) > 0 {
		b.queue[0].wake <- true
	} else {
		b.queue = nil
		b.leading = false
	}
	b.mu.Unlock()
	for _, c := range batch[1:] {
		c.wake <- false
	}
}

// commit runs batch's fns in one bbolt transaction and sets each call's
// outcome. A failing fn is taken out and the rest retried, as bbolt's own
// Batch does.
func (b *Backend) commit(batch []*call) {
	pending := slices.Clone(batch)
	for len(pending) > 0 {
		failed := -1
		var ferr error
		err := b.db.Update(func(btx *bbolt.Tx) error {
			bk := btx.Bucket(bucketName)
			for i, c := range pending {
				if ferr = safeCall(c, bk); ferr != nil {
					failed = i
					return ferr
				}
			}
			return nil
		})
		if failed < 0 {
			// Committed, or bbolt itself failed (closed, I/O): same for all.
			for _, c := range pending {
				c.err = mapErr(err)
			}
			return
		}
		c := pending[failed]
		if _, panicked := ferr.(panicError); failed == 0 && !panicked {
			// The first fn ran on the committed state alone, exactly as a
			// solo transaction would have: its error is final.
			c.err = ferr
		} else {
			// It may have failed because of an earlier fn's writes, or it
			// panicked and must panic on its caller's goroutine.
			c.solo = true
		}
		pending = slices.Delete(pending, failed, failed+1)
	}
}

// panicError carries a recovered panic out of a shared commit.
type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("bolt: fn panicked: %v", p.v) }

// safeCall runs one call's fn, turning a panic into an error so that it
// cannot escape on the leader's goroutine.
func safeCall(c *call, bk *bbolt.Bucket) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError{p}
		}
	}()
	if err := c.ctx.Err(); err != nil {
		return err
	}
	return c.fn(&tx{b: bk})
}

// solo runs fn in its own bbolt transaction, on the caller's goroutine.
func (b *Backend) solo(ctx context.Context, fn func(storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return mapErr(b.db.Update(func(btx *bbolt.Tx) error {
		return fn(&tx{b: btx.Bucket(bucketName)})
	}))
}

// Close implements storage.Backend. It waits for transactions in flight.
func (b *Backend) Close() error {
	// bbolt's Close of a closed DB is a no-op returning nil.
	return b.db.Close()
}

// tx adapts a bbolt bucket, inside a bbolt transaction, to storage.Tx.
type tx struct {
	b *bbolt.Bucket
}

func (t *tx) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := t.b.Get([]byte(key))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	}
	// bbolt's slices point into the mmap and die with the transaction.
	return bytes.Clone(v), nil
}

func (t *tx) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := []byte(prefix)
	start := p
	if after >= prefix {
		start = []byte(after)
	}
	var out []storage.Entry
	c := t.b.Cursor()
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if string(k) <= after {
			continue // Seek lands on after itself when it exists
		}
		out = append(out, storage.Entry{Key: string(k), Value: bytes.Clone(v)})
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func (t *tx) Put(ctx context.Context, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// bbolt requires value to stay valid until commit, and the caller may
	// reuse it; the copy is also never nil, so empty values stay values.
	if err := t.b.Put([]byte(key), append(make([]byte, 0, len(value)), value...)); err != nil {
		return fmt.Errorf("bolt: put: %w", err)
	}
	return nil
}

func (t *tx) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := t.b.Delete([]byte(key)); err != nil {
		return fmt.Errorf("bolt: delete: %w", err)
	}
	return nil
}
