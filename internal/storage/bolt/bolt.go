// Package bolt is the embedded storage.Backend, on go.etcd.io/bbolt: one
// file, one bucket, every commit fsynced before it is acknowledged.
//
// It imports only internal/storage.
package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/arca-kms/arca/internal/storage"
)

var bucket = []byte("arca")

// Options tune Open.
type Options struct {
	// LockTimeout bounds the wait for the file lock another process holds
	// (default 1s), so a second server on the same data dir fails clearly.
	LockTimeout time.Duration
}

// Backend is a bbolt-backed storage.Backend.
type Backend struct {
	db *bbolt.DB
}

var _ storage.Backend = (*Backend)(nil)

// Open opens or creates the database file at path (mode 0600).
func Open(path string, opts Options) (*Backend, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: opts.LockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("storage: %s is in use by another arca process", path)
	}
	if err != nil {
		return nil, fmt.Errorf("storage: open %s: %w", path, err)
	}
	// NoSync stays false: Update returns only after the commit is fsynced,
	// so an acknowledged write survives kill -9.
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("storage: init %s: %w", path, err)
	}
	return &Backend{db: db}, nil
}

func mapErr(err error) error {
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return storage.ErrClosed
	}
	return err
}

// Get implements storage.Reader.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []byte
	err := b.db.View(func(btx *bbolt.Tx) error {
		var err error
		out, err = (&tx{ctx: ctx, b: btx.Bucket(bucket)}).Get(ctx, key)
		return err
	})
	return out, mapErr(err)
}

// List implements storage.Reader.
func (b *Backend) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []storage.Entry
	err := b.db.View(func(btx *bbolt.Tx) error {
		var err error
		out, err = (&tx{ctx: ctx, b: btx.Bucket(bucket)}).List(ctx, prefix, after, limit)
		return err
	})
	return out, mapErr(err)
}

// Put implements storage.Writer.
func (b *Backend) Put(ctx context.Context, key string, value []byte) error {
	return b.Update(ctx, func(t storage.Tx) error { return t.Put(ctx, key, value) })
}

// Delete implements storage.Writer.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.Update(ctx, func(t storage.Tx) error { return t.Delete(ctx, key) })
}

// Update implements storage.Backend with one bbolt read-write transaction,
// committed and fsynced before it returns. bbolt runs one writer at a time,
// so transactions are serializable.
func (b *Backend) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return mapErr(b.db.Update(func(btx *bbolt.Tx) error {
		return fn(&tx{ctx: ctx, b: btx.Bucket(bucket)})
	}))
}

// Close implements storage.Backend.
func (b *Backend) Close() error {
	err := b.db.Close()
	if errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return nil
	}
	return err
}

// tx adapts a bbolt bucket inside a transaction to storage.Tx.
type tx struct {
	ctx context.Context
	b   *bbolt.Bucket
}

func (t *tx) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v := t.b.Get([]byte(key))
	if v == nil {
		return nil, fmt.Errorf("%w: %s", storage.ErrNotFound, key)
	}
	// bbolt's slices are only valid inside the transaction.
	return append([]byte{}, v...), nil
}

func (t *tx) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := t.b.Cursor()
	p := []byte(prefix)
	start := p
	if after >= prefix {
		start = []byte(after)
	}
	var out []storage.Entry
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		if string(k) <= after {
			continue
		}
		out = append(out, storage.Entry{Key: string(k), Value: append([]byte{}, v...)})
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
	if key == "" {
		return errors.New("storage: empty key")
	}
	return t.b.Put([]byte(key), append([]byte{}, value...))
}

func (t *tx) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.b.Delete([]byte(key))
}
