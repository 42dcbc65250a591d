// Package memory is an in-memory storage.Backend for tests. Nothing it
// holds survives the process.
//
// It imports only internal/storage.
package memory

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/arca-kms/arca/internal/storage"
)

// Backend is an in-memory storage.Backend. Update transactions are
// serialized by one lock, which makes them trivially serializable.
type Backend struct {
	mu     sync.RWMutex
	data   map[string][]byte
	closed bool
}

var _ storage.Backend = (*Backend)(nil)

// New returns an empty Backend.
func New() *Backend { return &Backend{data: map[string][]byte{}} }

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
	return list(b.data, prefix, after, limit), nil
}

// Put implements storage.Writer.
func (b *Backend) Put(ctx context.Context, key string, value []byte) error {
	return b.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, key, value) })
}

// Delete implements storage.Writer.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, key) })
}

// Update implements storage.Backend: fn's writes are buffered and applied
// only when it returns nil.
func (b *Backend) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.check(ctx); err != nil {
		return err
	}
	tx := &tx{base: b.data, writes: map[string][]byte{}}
	if err := fn(tx); err != nil {
		return err
	}
	for k, v := range tx.writes {
		if v == nil {
			delete(b.data, k)
		} else {
			b.data[k] = v
		}
	}
	return nil
}

// Close implements storage.Backend.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return nil
}

// tx overlays buffered writes (nil value = deleted) on the committed data.
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
		return append([]byte(nil), v...), nil
	}
	return get(t.base, key)
}

func (t *tx) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	merged := make(map[string][]byte)
	for k, v := range t.base {
		if strings.HasPrefix(k, prefix) {
			merged[k] = v
		}
	}
	for k, v := range t.writes {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	return list(merged, prefix, after, limit), nil
}

func (t *tx) Put(ctx context.Context, key string, value []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.writes[key] = append([]byte{}, value...)
	return nil
}

func (t *tx) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t.writes[key] = nil
	return nil
}

func get(m map[string][]byte, key string) ([]byte, error) {
	v, ok := m[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	}
	return append([]byte{}, v...), nil
}

func list(m map[string][]byte, prefix, after string, limit int) []storage.Entry {
	var keys []string
	for k := range m {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if limit > 0 && len(keys) > limit {
		keys = keys[:limit]
	}
	out := make([]storage.Entry, len(keys))
	for i, k := range keys {
		out[i] = storage.Entry{Key: k, Value: append([]byte{}, m[k]...)}
	}
	return out
}
