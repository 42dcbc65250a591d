// Package memory is an in-memory storage.Backend for tests. Nothing it
// holds survives the process, so "durable" here means only "committed".
//
// It passes the same conformance suite (storage/storagetest) as the real
// backends, so code tested against it behaves the same on bbolt.
//
// It imports only internal/storage.
package memory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/arca-kms/arca/internal/storage"
)

// errEmptyKey matches bbolt, which refuses empty keys, so tests on memory
// catch what production would.
var errEmptyKey = errors.New("memory: empty key")

// Backend is an in-memory storage.Backend, safe for concurrent use. Update
// transactions hold one writer lock for their whole run, which makes them
// trivially serializable; readers share a read lock. Values are copied on
// the way in and out, so no caller ever aliases stored bytes.
type Backend struct {
	mu     sync.RWMutex // guards data and closed
	data   map[string][]byte
	closed bool
}

var _ storage.Backend = (*Backend)(nil)

// New returns an empty Backend.
func New() *Backend { return &Backend{data: map[string][]byte{}} }

// check reports why an operation must not run; b.mu must be held.
func (b *Backend) check(ctx context.Context) error {
	if b.closed {
		return storage.ErrClosed
	}
	return ctx.Err()
}

// Get implements storage.Reader.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return get(b.data, key)
}

// List implements storage.Reader.
func (b *Backend) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return list(b.data, nil, prefix, after, limit), nil
}

// Put implements storage.Writer as a one-write Update.
func (b *Backend) Put(ctx context.Context, key string, value []byte) error {
	return b.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, key, value) })
}

// Delete implements storage.Writer as a one-write Update.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, key) })
}

// Update implements storage.Backend. fn's writes are buffered in the
// transaction and applied to the map only when fn returns nil. fn runs
// exactly once.
func (b *Backend) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(ctx); err != nil {
		return err
	}
	t := &tx{base: b.data, writes: map[string][]byte{}}
	if err := fn(t); err != nil {
		return err
	}
	for k, v := range t.writes {
		if v == nil {
			delete(b.data, k)
		} else {
			b.data[k] = v
		}
	}
	return nil
}

// Close implements storage.Backend; the data is dropped.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.data = nil
	return nil
}

// tx overlays buffered writes on the committed map. A nil value in writes
// marks a delete; stored values are never nil (see Put).
type tx struct {
	base   map[string][]byte
	writes map[string][]byte
}

func (t *tx) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if v, ok := t.writes[key]; ok {
		if v == nil {
			return nil, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
		}
		return clone(v), nil
	}
	return get(t.base, key)
}

func (t *tx) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return list(t.base, t.writes, prefix, after, limit), nil
}

func (t *tx) Put(ctx context.Context, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if key == "" {
		return errEmptyKey
	}
	// clone never returns nil, which keeps "empty value" distinct from
	// "deleted" in writes.
	t.writes[key] = clone(value)
	return nil
}

func (t *tx) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.writes[key] = nil
	return nil
}

// clone copies v into a new, never-nil slice.
func clone(v []byte) []byte { return append(make([]byte, 0, len(v)), v...) }

func get(m map[string][]byte, key string) ([]byte, error) {
	v, ok := m[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	}
	return clone(v), nil
}

// list returns base overlaid with writes (nil = deleted), filtered, sorted
// and limited. A linear scan is fine for a test backend.
func list(base, writes map[string][]byte, prefix, after string, limit int) []storage.Entry {
	match := func(k string) bool { return strings.HasPrefix(k, prefix) && k > after }
	var ks []string
	for k := range base {
		if _, overridden := writes[k]; !overridden && match(k) {
			ks = append(ks, k)
		}
	}
	for k, v := range writes {
		if v != nil && match(k) {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	if limit > 0 && len(ks) > limit {
		ks = ks[:limit]
	}
	out := make([]storage.Entry, len(ks))
	for i, k := range ks {
		v, ok := writes[k]
		if !ok {
			v = base[k]
		}
		out[i] = storage.Entry{Key: k, Value: clone(v)}
	}
	return out
}
