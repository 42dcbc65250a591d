// Package storage defines the small transactional key-value interface that
// Arca persists everything through, and the errors its implementations return.
//
// Storage is untrusted: it only ever sees values sealed by the barrier, and
// keys (paths) that reveal nothing beyond what the API already exposes.
// Implementations live in subpackages (bolt, memory, postgres) and
// must all pass the conformance suite in storage/storagetest.
//
// This package imports nothing of Arca's.
package storage

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Get when the key does not exist. Not found is
// always an error, never a nil value with a nil error.
var ErrNotFound = errors.New("storage: not found")

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("storage: closed")

// Entry is one key and its value, as returned by List.
type Entry struct {
	Key   string
	Value []byte
}

// Reader is the read half of Backend and Tx.
type Reader interface {
	// Get returns the value stored at key, or an error wrapping ErrNotFound.
	// The caller owns the returned slice.
	Get(ctx context.Context, key string) ([]byte, error)
	// List returns the entries whose keys start with prefix and sort strictly
	// after `after` (byte order), in ascending key order, at most limit of
	// them (limit <= 0 means no limit). The caller owns the returned slices.
	List(ctx context.Context, prefix, after string, limit int) ([]Entry, error)
}

// Writer is the write half of Backend and Tx.
type Writer interface {
	// Put stores value at key, replacing any previous value. When Put on a
	// Backend returns nil, the write is durable (it survives kill -9).
	// Keys must be non-empty; a nil value is stored as an empty one.
	Put(ctx context.Context, key string, value []byte) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Tx is a serializable transaction. It is only valid inside the function
// passed to Backend.Update, and only on the goroutine running that function.
type Tx interface {
	Reader
	Writer
}

// Backend is a durable, ordered key-value store. It is safe for concurrent use.
type Backend interface {
	Reader
	Writer
	// Update runs fn in a serializable read-write transaction and commits it
	// durably when fn returns nil; when fn returns an error nothing it wrote
	// is kept and that error is returned. An implementation may run fn more
	// than once (to retry a serialization conflict, or because it shared a
	// group commit with a transaction that failed), so fn must have no side
	// effects outside tx. fn must use only tx: calling the Backend itself
	// from inside fn may deadlock. If ctx is already done, Update returns
	// ctx.Err() without running fn.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// Close releases the backend. It is safe to call more than once.
	Close() error
}

// ErrUnavailable marks errors that mean the store could not be reached or
// did not answer in time (a connection refused or lost, a database
// restarting), as opposed to a wrong request. The outcome of a write that
// failed this way may be unknown; retrying later is the remedy. Callers test
// with errors.Is; services map it to a retryable 5xx.
var ErrUnavailable error = unavailableError{}

type unavailableError struct{}

func (unavailableError) Error() string { return "storage: unavailable" }

// Unavailable lets packages that must not import storage (svcerr) recognize
// the error through an interface.
func (unavailableError) Unavailable() bool { return true }

// Change reports keys that another process sharing the store committed.
type Change struct {
	// Keys are the keys written or deleted, in no particular order.
	Keys []string
	// All means changes may have been missed (the watcher reconnected or
	// fell behind): every cached value must be dropped.
	All bool
}

// Watcher is implemented by backends that several Arca processes share
// (postgres), so that each process can drop what it cached from keys that
// another process changed. Single-process backends (bolt, memory) do not
// implement it: every write there passes through the one process, whose
// writers refresh their own caches.
type Watcher interface {
	// Watch registers fn to be called for every change committed by
	// another process, in the order they are learnt, from one goroutine at
	// a time. fn must be quick and must not call the backend. Changes are
	// delivered at least once; a key may be reported more than once.
	Watch(fn func(Change))
	// Synced returns the last time this process knew it had seen every
	// change committed before that time. A process cut off from the store
	// sees it fall behind and should stop trusting its caches.
	Synced() time.Time
}

// Snapshotter is implemented by backends that read a consistent snapshot
// more cheaply than through Update (PostgreSQL: a REPEATABLE READ, READ
// ONLY transaction, which takes no predicate locks, so a long read such as
// a backup neither fails for serialization nor makes concurrent writers
// fail). fn sees every transaction committed before the snapshot and
// nothing after it; it must not keep r beyond its return.
type Snapshotter interface {
	View(ctx context.Context, fn func(r Reader) error) error
}
