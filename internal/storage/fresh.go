package storage

import (
	"fmt"
	"sync/atomic"
	"time"
)

// A node that shares its store with others serves most reads from memory:
// keys and their material, aliases, grants, secrets and their values,
// credentials, principals, identity policies, STS sessions. What it cached
// is only as fresh as its last sight of the other nodes' changes
// (Watcher.Synced). One check, Fresh, bounds that age for every such cache:
// past the bound each of them refuses rather than answer from what may be
// stale (a key disabled, an access key deleted on another node). Each cache
// holds a Gate that the server points at the one check.

// ErrStale is returned, wrapped, by a Fresh check past its bound. It wraps
// ErrUnavailable, so services answer it with their retryable 5xx.
var ErrStale error = staleError{}

type staleError struct{}

func (staleError) Error() string { return "storage: this node's view of the store is too old" }
func (staleError) Unwrap() error { return ErrUnavailable }

// Fresh returns the staleness check of a node watching w: nil while the
// node confirmed its view of the store (the last successful read of the
// change feed) within bound, else an error wrapping ErrStale (and
// ErrUnavailable). It costs one atomic load and one clock read.
func Fresh(w Watcher, bound time.Duration) func() error {
	return func() error {
		if lag := time.Since(w.Synced()); lag > bound {
			return fmt.Errorf("storage: no sight of other nodes' changes for %v (max_staleness %v): %w",
				lag.Round(time.Millisecond), bound, ErrStale)
		}
		return nil
	}
}

// Gate is what a cache asks before it serves: the zero Gate admits
// everything (a store nobody else writes), Set installs a check such as
// Fresh. It is safe for concurrent use and costs one atomic load when
// unset.
type Gate struct{ fn atomic.Pointer[func() error] }

// Set installs fn (nil: admit everything).
func (g *Gate) Set(fn func() error) {
	if fn == nil {
		g.fn.Store(nil)
		return
	}
	g.fn.Store(&fn)
}

// Check returns the installed check's verdict, or nil when there is none.
func (g *Gate) Check() error {
	if f := g.fn.Load(); f != nil {
		return (*f)()
	}
	return nil
}
