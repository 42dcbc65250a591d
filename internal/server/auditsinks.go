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
//	defer x.close()                              // after the log's Close
type auditExtras struct {
	dir       string
	retention time.Duration
	mgr       *sink.Manager
	log       *slog.Logger
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// sinkStateDir is where the sinks keep their cursors, inside the audit dir.
const sinkStateDir = "sinks"

func newAuditExtras(cfg config.Config, dir string, log *slog.Logger) (*auditExtras, error) {
	x := &auditExtras{dir: dir, retention: time.Duration(cfg.AuditRetention), log: log}
	if len(cfg.AuditSinks) == 0 {
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

// start runs the sinks and the retention loop until close.
func (x *auditExtras) start(ctx context.Context, key func(context.Context) (ed25519.PrivateKey, error), now func() time.Time) {
	ctx, x.cancel = context.WithCancel(ctx)
	if x.mgr != nil {
		x.mgr.Start(ctx)
	}
	if x.retention > 0 {
		x.wg.Add(1)
		go func() {
			defer x.wg.Done()
			audit.Retention{Dir: x.dir, Key: key, Period: x.retention, Now: now, Logger: x.log}.Run(ctx)
		}()
	}
}

func (x *auditExtras) close() {
	if x.cancel != nil {
		x.cancel()
	}
	x.wg.Wait()
	if x.mgr != nil {
		if err := x.mgr.Close(); err != nil {
			x.log.Warn("audit sinks close", "error", err)
		}
	}
}
