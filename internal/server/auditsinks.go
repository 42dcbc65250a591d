package server

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/audit/sink"
	"github.com/arca-kms/arca/internal/config"
)

// auditExtras are what runs beside the audit log: the sinks (audit_sinks)
// and retention (audit_retention). The wiring is:
//
//	x, err := newAuditExtras(cfg, dir, log)      // before audit.Open
//	opts.Durable = x.durable()                   // audit.Options
//	l, err := audit.Open(dir, key, opts)
//	x.start(ctx, currentKey, clk.Now)            // after Open
//	kms.Sweep{Name: "audit retention", Run: x.sweep} // in the scheduler's Also
//	defer x.close()                              // after the log's Close
//
// Retention runs as a scheduler sweep: every scheduler_interval (a check
// reads only the tail of the oldest segment), and at once when the dev
// clock moves.
type auditExtras struct {
	dir       string
	retention time.Duration
	mgr       *sink.Manager
	log       *slog.Logger
	cancel    context.CancelFunc

	mu  sync.Mutex
	key func(context.Context) (ed25519.PrivateKey, error)
	now func() time.Time
	// afterPrune runs after a prune removed segments (the lookup index
	// lets go of them).
	afterPrune func()
}

// sinkStateDir is where the sinks keep their cursors, inside the audit dir.
const sinkStateDir = "sinks"

func newAuditExtras(cfg config.Config, dir string, log *slog.Logger, extra ...sink.Named) (*auditExtras, error) {
	x := &auditExtras{dir: dir, retention: time.Duration(cfg.AuditRetention), log: log}
	if len(cfg.AuditSinks) == 0 && len(extra) == 0 {
		return x, nil
	}
	specs := make([]sink.Spec, len(cfg.AuditSinks))
	for i, s := range cfg.AuditSinks {
		specs[i] = sink.Spec(s)
	}
	sinks, err := sink.Build(specs)
	if err != nil {
		return nil, err
	}
	// The server's own sinks (the PostgreSQL ship, auditnodes.go).
	sinks = append(sinks, extra...)
	x.mgr, err = sink.New(sink.Options{LogDir: dir, StateDir: filepath.Join(dir, sinkStateDir), Logger: log}, sinks...)
	if err != nil {
		for _, s := range sinks {
			s.Sink.Close()
		}
		return nil, err
	}
	return x, nil
}

// durable is the audit.Options.Durable hook (nil without sinks).
func (x *auditExtras) durable() func([]byte, uint64) {
	if x.mgr == nil {
		return nil
	}
	return x.mgr.Durable
}

// start runs the sinks until close, and arms sweep with the signing key
// and clock.
func (x *auditExtras) start(ctx context.Context, key func(context.Context) (ed25519.PrivateKey, error), now func() time.Time) {
	ctx, x.cancel = context.WithCancel(ctx)
	if x.mgr != nil {
		x.mgr.Start(ctx)
	}
	x.mu.Lock()
	x.key, x.now = key, now
	x.mu.Unlock()
}

// sweep prunes segments older than the retention period once; it reports
// the anchor's sequence when it pruned. Before start, or without
// retention, it does nothing.
func (x *auditExtras) sweep(ctx context.Context) ([]slog.Attr, error) {
	x.mu.Lock()
	key, now := x.key, x.now
	x.mu.Unlock()
	if x.retention <= 0 || key == nil {
		return nil, nil
	}
	k, err := key(ctx)
	if err != nil {
		return nil, err
	}
	o := audit.PruneOptions{Now: now, Logger: x.log}
	if x.mgr != nil {
		o.HoldFrom = x.mgr.HoldFrom()
	}
	a, err := audit.Prune(x.dir, k, now().Add(-x.retention), o)
	if a == nil {
		return nil, err
	}
	if x.afterPrune != nil {
		x.afterPrune()
	}
	return []slog.Attr{slog.Uint64("prunedThroughSequence", a.Sequence)}, err
}

func (x *auditExtras) close() {
	if x.cancel != nil {
		x.cancel()
	}
	if x.mgr != nil {
		if err := x.mgr.Close(); err != nil {
			x.log.Warn("audit sinks close", "error", err)
		}
	}
}
