package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/secrets"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/bolt"
	"github.com/arca-kms/arca/internal/storage/postgres"
	"github.com/arca-kms/arca/internal/sts"
)

// openStorage opens the configured backend. node names this process in a
// shared backend's change log.
func openStorage(ctx context.Context, cfg config.Config, node string, log *slog.Logger) (storage.Backend, error) {
	switch cfg.Storage {
	case "postgres":
		octx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		b, err := postgres.Open(octx, cfg.PostgresDSN, postgres.Options{Node: node, Logger: log, StatementTimeout: cfg.PostgresStatementTimeout})
		if err != nil {
			return nil, fmt.Errorf("storage postgres: %w", err)
		}
		log.Info("storage: postgres", "node", node)
		return b, nil
	default:
		return bolt.Open(filepath.Join(cfg.DataDir, "arca.db"), bolt.Options{})
	}
}

// invalidator holds the caches of the live services (rebuilt at every
// unseal), for the storage watcher to drop entries from.
type invalidator struct {
	mu  sync.RWMutex
	ks  *keystore.Store
	ids *iam.Store
	sec *secrets.Service
	// gateFn, set before any service is built, is the one staleness check
	// (storage.Fresh) that every cache asks before it serves (nil with an
	// unshared backend).
	gateFn func() error
}

// set installs the live caches (all nil when sealing) and gates every
// cache that serves from memory (keys, aliases and grants; credentials,
// principals and identity policies; secrets and their values; STS
// sessions) on the backend keeping up.
func (v *invalidator) set(ks *keystore.Store, ids *iam.Store, sec *secrets.Service, st *sts.Service) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.ks, v.ids, v.sec = ks, ids, sec
	if ks != nil && v.gateFn != nil {
		ks.SetGate(v.gateFn)
		ids.SetGate(v.gateFn)
		sec.SetGate(v.gateFn)
		st.SetGate(v.gateFn)
	}
}

// apply drops what the change invalidates from the live caches.
func (v *invalidator) apply(c storage.Change) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if v.ks == nil {
		return
	}
	if c.All {
		v.ks.ForgetAll()
		v.ids.ForgetAll()
		v.sec.ForgetAll()
		return
	}
	for _, k := range c.Keys {
		v.ks.InvalidatePath(k)
		v.ids.InvalidatePath(k)
		v.sec.InvalidatePath(k)
	}
}

// watchStorage, when the backend is shared with other nodes, drops from
// this node's caches whatever another node changed (keystore: keys, their
// material, grants, aliases; iam: identities; secrets: records and
// values) and reloads the barrier
// keyring when another node rewrote it. With a backend that is not shared
// (bolt) it does nothing. The returned function stops the keyring reloader.
func watchStorage(ctx context.Context, backend storage.Backend, cfg config.Config, log *slog.Logger, c *core, inv *invalidator) func() {
	w, ok := backend.(storage.Watcher)
	if !ok {
		return func() {}
	}
	// The keyring is reloaded off the watcher's goroutine, which must not
	// call the backend.
	reload := make(chan struct{}, 1)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-rctx.Done():
				return
			case <-reload:
				c.followKeyring(rctx)
			}
		}
	}()
	kick := func() {
		select {
		case reload <- struct{}{}:
		default:
		}
	}
	w.Watch(func(ch storage.Change) {
		inv.apply(ch)
		if ch.All {
			kick()
			return
		}
		for _, k := range ch.Keys {
			if k == "core/keyring" {
				kick()
			}
		}
	})
	inv.gateFn = storage.Fresh(w, cfg.MaxStaleness)
	return func() { cancel(); <-done }
}

// storageStale reports whether a shared backend is past the staleness
// bound: /healthz then answers 503 "stale" so load balancers skip the node.
func storageStale(backend storage.Backend, bound time.Duration) bool {
	w, ok := backend.(storage.Watcher)
	return ok && storage.Fresh(w, bound)() != nil
}

// followKeyring reloads the barrier keyring after another node changed it
// (barrier.Refresh: only when its terms changed). When this node's seal
// can no longer open it (another node rekeyed or migrated the seal, then
// rotated), this node cannot follow and seals itself, so that /healthz
// turns it out of the load balancer until it is unsealed with the current
// shares or seal.
func (c *core) followKeyring(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealed() {
		return
	}
	err := c.b.Refresh(ctx)
	switch {
	case err == nil || ctx.Err() != nil:
	case errors.Is(err, barrier.ErrKeyringUnreadable):
		c.log.Error("another node rotated the root keyring after a rekey or seal migration; this node's seal cannot open it, so it seals itself: unseal it again with the current shares or seal")
		// Audited while the log is still open.
		c.emit(ctx, OperatorEvent{Op: "seal", Detail: "sealed itself: the keyring was rotated by another node under a seal this node does not hold"}, nil)
		c.seal()
	default:
		c.log.Error("reloading the barrier keyring changed by another node", "err", err)
	}
}
