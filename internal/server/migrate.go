package server

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal"
	"github.com/arca-kms/arca/internal/barrier/seal/dev"
	"github.com/arca-kms/arca/internal/config"
)

// Seal migration.
//
// The seal-config record names the seal that wraps the stored keyring.
// When the server is configured with another seal (or the same kind of
// seal with another key: a new HSM key label, another KMS key), it refuses
// to start unless seal_migrate (--seal-migrate) is set. With it, the server
// opens the keyring with the old seal and stores it rewrapped by the new one
// together with the new seal-config record, in one storage transaction
// (barrier.RewrapWithSealConfig), after checking that the new seal unwraps
// what it wrapped. There is no intermediate state on disk: a crash before
// that commit leaves the old keyring and record (the old seal still opens
// it, and the next start with seal_migrate tries again); a crash after it
// leaves the new ones (the next start auto-unseals with the new seal, and
// seal_migrate finds nothing to do). Values under the barrier are never
// touched, so every key stays usable either way.
//
// From Shamir the server starts sealed and the migration runs when the
// unseal shares are given (`arca operator unseal`), before the services
// start. From an auto-unseal seal (dev, pkcs11, awskms) it runs at start.
// To Shamir, new shares must reach their holders before the commit: the
// server unseals with the old seal at start and the operator finishes with
// `arca operator migrate-seal` (migrate_shamir.go).

// migration is a pending rewrap to the configured seal.
type migration struct {
	to     barrier.Wrapper
	config seal.Config
	from   string // the stored seal type, for logs
}

// migrateRequired explains how to proceed when the configured seal is not
// the stored one and seal_migrate is not set.
func migrateRequired(stored seal.Config, typ string) error {
	what := fmt.Sprintf("the %q seal", stored.Type)
	if stored.Type == typ {
		var ps []string
		for _, k := range slices.Sorted(maps.Keys(stored.Params)) {
			ps = append(ps, k+"="+stored.Params[k])
		}
		what = fmt.Sprintf("the %q seal with another key (recorded: %s)", typ, strings.Join(ps, " "))
	}
	return fmt.Errorf("this data dir is sealed with %s but the server is configured with the %q seal: "+
		"to move the root key to the configured seal, start once with --seal-migrate (config seal_migrate: true), "+
		"keeping the old seal's settings available (docs/OPERATIONS.md, \"Seal migration\"); otherwise restore the old seal configuration", what, typ)
}

// startMigration prepares or performs the migration from the stored seal
// to target (type typ) at start. From Shamir it only arms the migration;
// otherwise it opens the old seal, unseals, rewraps and publishes.
func (c *core) startMigration(ctx context.Context, cfg config.Config, log *slog.Logger, getenv func(string) string,
	stored seal.Config, target barrier.Wrapper, typ string) error {
	if target == nil {
		return c.startToShamir(ctx, cfg, log, getenv, stored)
	}
	m := &migration{to: target, config: sealConfigFor(typ, target), from: stored.Type}
	if stored.Type == seal.TypeShamir {
		c.mu.Lock()
		c.migrate = m
		c.mu.Unlock()
		log.Warn("seal migration armed: Arca is sealed with the shamir seal; once the unseal shares are given (`arca operator unseal`), the root key is rewrapped by the configured seal and the shares stop working",
			"to", typ, "threshold", stored.Threshold)
		return nil
	}
	old, closeOld, err := openOldSeal(ctx, cfg, log, getenv, stored, target, typ)
	if err != nil {
		return err
	}
	defer closeOld()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.b.Unseal(ctx, old); err != nil {
		return fmt.Errorf("seal migration: the old %s seal cannot open the keyring: %w", stored.Type, err)
	}
	c.migrate = m
	w, err := c.finishMigration(ctx)
	if err != nil {
		c.b.Seal()
		return err
	}
	if err := c.publish(ctx, w); err != nil {
		return err
	}
	if stored.Type == seal.TypeDev {
		log.Warn("the dev seal key file is no longer needed once no backup made before this migration is kept: delete it", "file", filepath.Join(cfg.DataDir, dev.FileName))
	}
	return nil
}

// openOldSeal opens the seal the stored keyring is wrapped with, from the
// configuration that is still present (a seal of the target's type with a
// changed key is the target itself: its blobs name the key that wrapped
// them).
func openOldSeal(ctx context.Context, cfg config.Config, log *slog.Logger, getenv func(string) string,
	stored seal.Config, target barrier.Wrapper, typ string) (barrier.Wrapper, func(), error) {
	nop := func() {}
	if stored.Type == typ {
		return target, nop, nil
	}
	switch stored.Type {
	case seal.TypeDev:
		p := filepath.Join(cfg.DataDir, dev.FileName)
		if _, err := os.Stat(p); err != nil {
			return nil, nop, fmt.Errorf("%w: the dev seal key %s: %v", errNoMigrationSource, p, err)
		}
		ds, _, err := dev.Open(cfg.DataDir)
		if err != nil {
			return nil, nop, fmt.Errorf("%w: %v", errNoMigrationSource, err)
		}
		return ds, nop, nil
	case seal.TypePKCS11:
		s, err := openPKCS11(ctx, cfg.SealPKCS11, log, getenv, false)
		if err != nil {
			return nil, nop, fmt.Errorf("%w: keep seal_pkcs11 (and the PIN) configured while migrating away from it: %v", errNoMigrationSource, err)
		}
		return s, func() { s.Close() }, nil
	case seal.TypeAWSKMS:
		s, err := openAWSKMS(ctx, cfg.SealAWSKMS, getenv)
		if err != nil {
			return nil, nop, fmt.Errorf("%w: keep seal_awskms (and its credentials) configured while migrating away from it: %v", errNoMigrationSource, err)
		}
		return s, nop, nil
	}
	return nil, nop, fmt.Errorf("%w: unknown stored seal type %q", errNoMigrationSource, stored.Type)
}

// finishMigration rewraps the (unsealed) keyring with the pending
// migration's seal and stores the new seal config in the same transaction,
// then returns the wrapper that now opens the keyring. Without a pending
// migration it does nothing. c.mu must be held and the barrier unsealed.
func (c *core) finishMigration(ctx context.Context) (barrier.Wrapper, error) {
	m := c.migrate
	enc, err := m.config.Encode()
	if err != nil {
		return nil, err
	}
	ev := OperatorEvent{Op: "migrate-seal", Detail: "from " + m.from + " to " + m.config.Type}
	if err := c.b.RewrapWithSealConfig(ctx, m.to, enc); err != nil {
		err = fmt.Errorf("seal migration from %s to %s: %w (nothing was changed; the %s seal still opens the data)", m.from, m.config.Type, err, m.from)
		c.emit(ctx, ev, err)
		return nil, err
	}
	c.emit(ctx, ev, nil)
	c.migrate = nil
	c.auto, c.autoType = m.to, m.config.Type
	c.log.Warn("seal migrated: the root key is now wrapped by the new seal; the old seal no longer opens this data, but still opens backups made before now",
		"from", m.from, "to", m.config.Type, "params", m.config.Params)
	return m.to, nil
}

// afterUnseal runs an armed migration once shares have unsealed the
// barrier; it returns the wrapper the services should keep. c.mu must be
// held.
func (c *core) afterUnseal(ctx context.Context, w barrier.Wrapper) (barrier.Wrapper, error) {
	if c.migrate == nil {
		return w, nil
	}
	nw, err := c.finishMigration(ctx)
	if err != nil {
		c.b.Seal()
		return nil, err
	}
	return nw, nil
}

// startToShamir unseals with the old auto-unseal seal and serves, waiting
// for `arca operator migrate-seal` to issue and confirm the new shares.
func (c *core) startToShamir(ctx context.Context, cfg config.Config, log *slog.Logger, getenv func(string) string, stored seal.Config) error {
	old, closeOld, err := openOldSeal(ctx, cfg, log, getenv, stored, nil, seal.TypeShamir)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.unsealWith(ctx, old); err != nil {
		closeOld()
		return fmt.Errorf("seal migration: the old %s seal cannot open the keyring: %w", stored.Type, err)
	}
	// The old seal stays in charge (and open) until the migration commits.
	c.auto, c.autoType = old, stored.Type
	c.toShamir = &toShamirState{from: stored.Type}
	log.Warn("seal migration to shamir pending: Arca is unsealed with the old seal; run `arca operator migrate-seal --key-shares N --key-threshold K` (root credentials), then give back the threshold of the new shares with `arca operator migrate-seal --nonce NONCE`",
		"from", stored.Type)
	return nil
}
