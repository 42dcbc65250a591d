package server

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/audit/sink"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/postgres"
)

// Audit across nodes (issue 9). With PostgreSQL storage every node ships
// its own log's records, checkpoints and prune anchor verbatim into the
// audit tables (a sink, so a slow or dead database never holds up a
// request and catches up from the log), and indexes the other nodes'
// records from there for LookupEvents (audit.Merged, polled every
// auditPollInterval). ArcaExportAuditLog reads them back for
// `arca audit verify --address`.

// shipSinkName names the ship's cursor in AUDITDIR/sinks (reserved: a
// configured sink of that name is refused as a duplicate).
const shipSinkName = "arca.postgres"

// auditPollInterval is how often a node reads the other nodes' new
// records: with shipping right after each fsync, another node's event is
// in this node's lookups within about this long.
const auditPollInterval = time.Second

// auditShared is the PostgreSQL backend's audit tables, or nil.
func auditShared(b storage.Backend) *postgres.Backend {
	pg, _ := b.(*postgres.Backend)
	return pg
}

// shipSink is the sink that copies this node's log to PostgreSQL. Its
// cursor starts where the table's copy of this node's chain ends (normally
// 0, so a node that moves to shared storage ships its whole log).
func shipSink(ctx context.Context, pg *postgres.Backend, dir, node string, log *slog.Logger) (sink.Named, *sink.Ship, error) {
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	head, err := pg.AuditHead(hctx, node)
	if err != nil {
		return sink.Named{}, nil, err
	}
	if err := sink.InitCursor(filepath.Join(dir, sinkStateDir), shipSinkName, head); err != nil {
		return sink.Named{}, nil, err
	}
	s := sink.NewShip(sink.ShipOptions{
		LogDir: dir,
		Logger: log,
		Records: func(ctx context.Context, recs []sink.Record) error {
			rs := make([]postgres.AuditRecord, len(recs))
			for i, r := range recs {
				rs[i] = postgres.AuditRecord{Seq: r.Seq, Line: r.Line}
			}
			return pg.ShipAuditRecords(ctx, node, rs)
		},
		Checkpoints: func(ctx context.Context, first int, lines [][]byte) error {
			return pg.ShipAuditCheckpoints(ctx, node, first, lines)
		},
		Anchor: func(ctx context.Context, anchor []byte, pruned uint64) error {
			return pg.ShipAuditAnchor(ctx, node, anchor, pruned)
		},
	})
	// Batches of up to 500 records per transaction; retries back off to
	// at most 10 s so the copy resumes soon after the database is back.
	return sink.Named{Name: shipSinkName, Sink: s, Tuning: sink.Tuning{BatchSize: 500, MaxBackoff: 10 * time.Second}}, s, nil
}

// auditRemote is audit.Remote over the PostgreSQL audit tables.
type auditRemote struct{ pg *postgres.Backend }

func (r auditRemote) Nodes(ctx context.Context) ([]string, error) { return r.pg.AuditNodes(ctx) }

func (r auditRemote) RecordsAfter(ctx context.Context, node string, after uint64, limit int) ([]audit.RemoteRecord, error) {
	recs, err := r.pg.AuditRecordsAfter(ctx, node, after, limit)
	return remoteRecords(recs), err
}

func (r auditRemote) Lines(ctx context.Context, node string, seqs []uint64) ([]audit.RemoteRecord, error) {
	recs, err := r.pg.AuditLines(ctx, node, seqs)
	return remoteRecords(recs), err
}

func remoteRecords(recs []postgres.AuditRecord) []audit.RemoteRecord {
	out := make([]audit.RemoteRecord, len(recs))
	for i, r := range recs {
		out[i] = audit.RemoteRecord(r)
	}
	return out
}
