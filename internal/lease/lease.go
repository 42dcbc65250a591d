// Package lease elects one holder of a named lease through storage, so that
// of several Arca processes sharing a data store only one runs the
// schedulers. A lease is held until its expiry and renewed by its holder;
// another holder takes it over only after it expires. Each change of holder
// increments an epoch, which later lets work be fenced against a paused
// former holder.
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

// Acquire takes the lease name for holder until now+ttl when it is free,
// expired or already holder's, and reports whether holder holds it.
func (s *Store) Acquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	held := false
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		held = false
		var r record
		raw, err := tx.Get(ctx, path(name))
		switch {
		case errors.Is(err, storage.ErrNotFound):
		case err != nil:
			return err
		default:
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
		}
		if r.Holder != "" && r.Holder != holder && now.Before(r.Expires) {
			return nil
		}
		if r.Holder != holder {
			r.Epoch++
		}
		r.Holder, r.Expires = holder, now.Add(ttl)
		b, err := json.Marshal(&r)
		if err != nil {
			return err
		}
		held = true
		return tx.Put(ctx, path(name), b)
	})
	return held, err
}
