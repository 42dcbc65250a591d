package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/bolt"
	"github.com/arca-kms/arca/internal/storage/postgres"
)

// openStorage opens the configured backend. node names this process in a
// shared backend's change log.
func openStorage(ctx context.Context, cfg config.Config, node string, log *slog.Logger) (storage.Backend, error) {
	switch cfg.Storage {
	case "postgres":
		octx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		b, err := postgres.Open(octx, cfg.PostgresDSN, postgres.Options{Node: node, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("storage postgres: %w", err)
		}
		log.Info("storage: postgres", "node", node)
		return b, nil
	default:
		return bolt.Open(filepath.Join(cfg.DataDir, "arca.db"), bolt.Options{})
	}
}

// watchStorage, when the backend is shared with other nodes, drops from
// this node's caches whatever another node changed (keystore: keys, their
// material, grants, aliases; iam: identities; the barrier's keyring), and
// gates the keystore's cache on the backend keeping up: a node that has not
// confirmed for cfg.MaxStaleness that it has seen every change refuses key
// operations with a retryable error instead of serving what may be stale.
// The returned function stops the keyring reloader.
func watchStorage(ctx context.Context, backend storage.Backend, cfg config.Config, log *slog.Logger,
	b *barrier.Barrier, seal barrier.Wrapper, ks *keystore.Store, ids *iam.Store) func() {
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
				if err := b.Unseal(rctx, seal); err != nil && rctx.Err() == nil {
					log.Error("reloading the barrier keyring changed by another node", "err", err)
				}
			}
		}
	}()
	kick := func() {
		select {
		case reload <- struct{}{}:
		default:
		}
	}
	w.Watch(func(c storage.Change) {
		if c.All {
			ks.ForgetAll()
			ids.ForgetAll()
			kick()
			return
		}
		for _, k := range c.Keys {
			ks.InvalidatePath(k)
			ids.InvalidatePath(k)
			if k == "core/keyring" {
				kick()
			}
		}
	})
	bound := cfg.MaxStaleness
	ks.SetGate(func() error {
		if lag := time.Since(w.Synced()); lag > bound {
			return fmt.Errorf("storage: no sight of other nodes' changes for %v (max_staleness %v): %w",
				lag.Round(time.Millisecond), bound, storage.ErrUnavailable)
		}
		return nil
	})
	return func() { cancel(); <-done }
}

// storageStatus is /healthz's status: "stale" (HTTP 503, so load balancers
// skip the node) while a shared backend is past the staleness bound.
func storageStatus(backend storage.Backend, bound time.Duration) string {
	if w, ok := backend.(storage.Watcher); ok && time.Since(w.Synced()) > bound {
		return "stale"
	}
	return "ok"
}
