// Package lease elects one holder of a named lease through storage, so that
// of several Arca processes sharing a data store only one runs the
// schedulers. A lease is held until its expiry and renewed by its holder;
// another holder takes it over only after it expires. Each change of holder
// increments the lease's epoch, the fencing token: work done under a lease
// runs with a context from Fence, and a backend wrapped by Fenced checks,
// inside each write transaction, that the holder still holds the lease at
// that epoch. A holder that was paused past its expiry (GC, SIGSTOP, a
// stalled VM) and wakes after another took over therefore writes nothing:
// its transactions fail with ErrFenced. On a serializable store the check
// and the work commit together or not at all, so a takeover that commits
// concurrently makes one of the two transactions fail.
//
// It imports only internal/storage.
package lease

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/arca-kms/arca/internal/storage"
)

// ErrFenced is returned by a fenced write when the lease it was fenced by
// has passed to another holder (or was taken again after expiring).
var ErrFenced = errors.New("lease: fenced: the lease passed to another holder")

// Backend is the transactional store the lease lives in (the barrier).
type Backend interface {
	Update(ctx context.Context, fn func(tx storage.Tx) error) error
}

// Store acquires leases in a Backend.
type Store struct{ b Backend }

// New returns a Store over b.
func New(b Backend) *Store { return &Store{b: b} }

// record is a lease's stored state.
type record struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
	Epoch   uint64    `json:"epoch"`
}

func path(name string) string { return "core/lease/" + name }

func read(ctx context.Context, tx storage.Tx, name string) (record, error) {
	var r record
	raw, err := tx.Get(ctx, path(name))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return r, nil
	case err != nil:
		return r, err
	}
	return r, json.Unmarshal(raw, &r)
}

// Acquire takes the lease name for holder until now+ttl when it is free,
// expired or already holder's, and reports whether holder holds it and at
// which epoch. The epoch grows by one whenever the holder changes, and
// also when a holder takes its own lease back after it expired (another
// node could have acted meanwhile, had it tried).
func (s *Store) Acquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (epoch uint64, held bool, err error) {
	err = s.b.Update(ctx, func(tx storage.Tx) error {
		held = false
		r, err := read(ctx, tx, name)
		if err != nil {
			return err
		}
		epoch = r.Epoch
		if r.Holder != "" && r.Holder != holder && now.Before(r.Expires) {
			return nil
		}
		if r.Holder != holder || !now.Before(r.Expires) {
			r.Epoch++
		}
		r.Holder, r.Expires = holder, now.Add(ttl)
		b, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		held, epoch = true, r.Epoch
		return tx.Put(ctx, path(name), b)
	})
	return epoch, held && err == nil, err
}

// Release gives up holder's lease name at once (on a clean shutdown), so
// that another process, or this one restarted, takes it without waiting
// for the expiry. The epoch stays: the next holder raises it.
func (s *Store) Release(ctx context.Context, name, holder string) error {
	return s.b.Update(ctx, func(tx storage.Tx) error {
		r, err := read(ctx, tx, name)
		if err != nil || r.Holder != holder {
			return err
		}
		r.Holder, r.Expires = "", time.Time{}
		b, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		return tx.Put(ctx, path(name), b)
	})
}

// fence is what a fenced context carries.
type fence struct {
	name, holder string
	epoch        uint64
}

type fenceKey struct{}

// Fence returns ctx carrying the fencing token (name, holder, epoch):
// writes through a Fenced backend under it check the token first.
func (s *Store) Fence(ctx context.Context, name, holder string, epoch uint64) context.Context {
	return context.WithValue(ctx, fenceKey{}, fence{name: name, holder: holder, epoch: epoch})
}

// Check returns ErrFenced when ctx is fenced and the lease, read in tx, is
// no longer the fence's holder's at the fence's epoch; nil otherwise.
func Check(ctx context.Context, tx storage.Tx) error {
	f, ok := ctx.Value(fenceKey{}).(fence)
	if !ok {
		return nil
	}
	r, err := read(ctx, tx, f.name)
	if err != nil {
		return err
	}
	if r.Holder != f.holder || r.Epoch != f.epoch {
		return ErrFenced
	}
	return nil
}

// FullBackend is the read, write and transaction interface that Fenced
// wraps (the barrier's).
type FullBackend interface {
	storage.Reader
	storage.Writer
	Update(ctx context.Context, fn func(tx storage.Tx) error) error
}

// Fenced wraps a backend so that every write made under a context from
// Fence checks the fencing token in the same transaction. Writes under
// other contexts, and all reads, pass straight through.
type Fenced struct{ B FullBackend }

// Get implements storage.Reader.
func (f Fenced) Get(ctx context.Context, key string) ([]byte, error) { return f.B.Get(ctx, key) }

// List implements storage.Reader.
func (f Fenced) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	return f.B.List(ctx, prefix, after, limit)
}

// Update runs fn after checking ctx's fence, if any, in the same transaction.
func (f Fenced) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	if _, ok := ctx.Value(fenceKey{}).(fence); !ok {
		return f.B.Update(ctx, fn)
	}
	return f.B.Update(ctx, func(tx storage.Tx) error {
		if err := Check(ctx, tx); err != nil {
			return err
		}
		return fn(tx)
	})
}

// Put implements storage.Writer, fenced like Update.
func (f Fenced) Put(ctx context.Context, key string, value []byte) error {
	if _, ok := ctx.Value(fenceKey{}).(fence); !ok {
		return f.B.Put(ctx, key, value)
	}
	return f.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, key, value) })
}

// Delete implements storage.Writer, fenced like Update.
func (f Fenced) Delete(ctx context.Context, key string) error {
	if _, ok := ctx.Value(fenceKey{}).(fence); !ok {
		return f.B.Delete(ctx, key)
	}
	return f.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, key) })
}
