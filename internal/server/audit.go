package server

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/audit/sink"
	"github.com/arca-kms/arca/internal/auditkey"
	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/trail"
	"github.com/arca-kms/arca/internal/transport/auditrec"
)

// PublicKeysFile is written into the audit directory at start and after a
// rotation: the signing keys' public halves, for `arca audit verify` and
// `arca audit public-key` without a running server. An auditor should
// still compare it with a copy kept elsewhere: whoever can rewrite the log
// can rewrite this file too.
const PublicKeysFile = "public-keys.pem"

// auditLog is the audit log as the server wires it: nil fields when audit
// is switched off.
type auditLog struct {
	dir     string
	node    string
	log     *audit.Log
	keys    *auditkey.Store
	auditor *auditrec.Auditor
	// extras are the sinks and retention (auditsinks.go).
	extras *auditExtras
	// merged is every node's events for LookupEvents; ship copies this
	// node's log to shared storage (nil without it). See auditnodes.go.
	merged *audit.Merged
	ship   *sink.Ship
	export trail.Exporter
}

func openAudit(ctx context.Context, cfg config.Config, b auditkey.Backend, backend storage.Backend, log *slog.Logger) (*auditLog, error) {
	if !cfg.Audit {
		log.Warn("AUDIT LOG SWITCHED OFF: requests are not recorded (audit: false)")
		return &auditLog{}, nil
	}
	a := &auditLog{dir: cfg.AuditPath(), keys: auditkey.New(b)}
	key, err := a.keys.Current(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	if a.node, err = audit.NodeID(a.dir, cfg.NodeID); err != nil {
		return nil, err
	}
	// With shared storage, this node's log is shipped to it and the other
	// nodes' records are read from it (auditnodes.go).
	var extra []sink.Named
	pg := auditShared(backend)
	if pg != nil {
		named, ship, err := shipSink(ctx, pg, a.dir, a.node, log)
		if err != nil {
			return nil, fmt.Errorf("audit: shipping to postgres: %w", err)
		}
		extra, a.ship = append(extra, named), ship
	}
	extras, err := newAuditExtras(cfg, a.dir, log, extra...)
	if err != nil {
		return nil, fmt.Errorf("audit sinks: %w", err)
	}
	a.log, err = audit.Open(a.dir, key, audit.Options{CheckpointInterval: cfg.AuditCheckpointInterval, Logger: log,
		Durable: extras.durable(), MaxSegmentBytes: cfg.AuditSegmentMaxBytes, NodeID: a.node,
		CommitDelay: cfg.AuditCommitDelay})
	if err != nil {
		extras.close()
		return nil, fmt.Errorf("audit log: %w", err)
	}
	a.extras = extras
	var remote audit.Remote
	if pg != nil {
		remote = auditRemote{pg}
	}
	a.merged = audit.NewMerged(a.node, a.log.Index(), remote, log)
	a.export = auditExport{dir: a.dir, node: a.node, pg: pg}
	extras.afterPrune = a.log.Index().DropMissing
	if err := a.writePublicKeys(ctx); err != nil {
		a.log.Close()
		return nil, err
	}
	a.auditor = auditrec.New(a.log, cfg.AccountID)
	log.Info("audit log open", "dir", a.dir, "node", a.node, "events", a.log.Index().Len())
	return a, nil
}

// start runs the sinks and retention in the background until ctx ends.
func (a *auditLog) start(ctx context.Context, now func() time.Time) {
	if a.extras != nil {
		a.extras.start(ctx, a.keys.Current, now)
	}
	if a.ship != nil {
		go a.ship.Run(ctx)
	}
	if a.merged != nil {
		go a.merged.Run(ctx, auditPollInterval)
	}
}

func (a *auditLog) index() trail.Index {
	if a.log == nil {
		return nil
	}
	return a.merged
}

func (a *auditLog) publicKeys(ctx context.Context) ([]byte, error) {
	if a.keys == nil {
		return nil, fmt.Errorf("audit is switched off")
	}
	keys, err := a.keys.Public(ctx)
	if err != nil {
		return nil, err
	}
	return auditkey.PEM(keys), nil
}

func (a *auditLog) writePublicKeys(ctx context.Context) error {
	pem, err := a.publicKeys(ctx)
	if err != nil {
		return err
	}
	tmp := filepath.Join(a.dir, PublicKeysFile+".tmp")
	if err := os.WriteFile(tmp, pem, 0o644); err != nil {
		return fmt.Errorf("audit public keys: %w", err)
	}
	return os.Rename(tmp, filepath.Join(a.dir, PublicKeysFile))
}

// rotate makes a new signing key current: stored under the barrier first,
// then used by the log after a last checkpoint signed with the old key.
func (a *auditLog) rotate(ctx context.Context) error {
	if a.log == nil {
		return fmt.Errorf("audit is switched off")
	}
	key, err := a.keys.Rotate(ctx)
	if err != nil {
		return err
	}
	if err := a.log.SetKey(key); err != nil {
		return err
	}
	return a.writePublicKeys(ctx)
}

func (a *auditLog) close(log *slog.Logger) {
	if a.log == nil {
		return
	}
	if err := a.log.Close(); err != nil {
		log.Error("audit log close", "error", err)
	}
	a.extras.close()
}

// record appends one event the server makes itself (operator actions).
func (a *auditLog) record(ctx context.Context, ev *audit.Event) error {
	if a.log == nil {
		return nil
	}
	return a.log.Append(ctx, ev)
}

var auditProcOnce sync.Once

// auditWriterProc gives the Go scheduler one P more than it would use by
// default (GOMAXPROCS, unless the GOMAXPROCS environment variable is set).
// The audit log's writer goroutine spends much of its time in fdatasync;
// the runtime hands its P to request goroutines meanwhile, and when the
// sync returns the writer must wait for a P behind them before it can
// acknowledge the batch, which holds every request of the batch and leaves
// the CPUs idle at 64 clients (docs/PERFORMANCE.md, "Third pass"). One
// more P lets it run at once. Setting GOMAXPROCS by hand
// turns this off; it also turns off Go's tracking of a changed cgroup CPU
// limit, as any explicit GOMAXPROCS does.
func auditWriterProc(log *slog.Logger) {
	auditProcOnce.Do(func() {
		if os.Getenv("GOMAXPROCS") != "" {
			return
		}
		n := runtime.GOMAXPROCS(0)
		runtime.GOMAXPROCS(n + 1)
		log.Debug("audit: one more P for the audit writer", "gomaxprocs", n+1)
	})
}
