package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
// in this node's lookups within about this long. A poll is one indexed
// query per other node (seq > head), as cheap as the storage watcher's
// poll of the change log at the same rate.
const auditPollInterval = 250 * time.Millisecond

// auditShared is the PostgreSQL backend's audit tables, or nil.
func auditShared(b storage.Backend) *postgres.Backend {
	pg, _ := b.(*postgres.Backend)
	return pg
}

// shipSink is the sink that copies this node's log to PostgreSQL. A new
// cursor starts where the table's copy of this node's chain ends (normally
// 0, so a node that moves to shared storage ships its whole log); if the
// database cannot say, at 0, which is always safe since storing a record
// again keeps the stored one.
func shipSink(ctx context.Context, pg *postgres.Backend, dir, node string, log *slog.Logger) (sink.Named, *sink.Ship, error) {
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	head, err := pg.AuditHead(hctx, node)
	if err != nil {
		log.Warn("audit: cannot read how much of this node's log PostgreSQL holds; a new copy starts from the beginning", "error", err)
		head = 0
	}
	if err := sink.InitCursor(filepath.Join(dir, sinkStateDir), shipSinkName, head); err != nil {
		return sink.Named{}, nil, err
	}
	cps, err := pg.AuditCheckpointHead(hctx, node)
	if err != nil {
		cps = 0 // send them all again: stored lines are kept as they are
	}
	s := sink.NewShip(sink.ShipOptions{
		LogDir:             dir,
		Logger:             log,
		CheckpointsShipped: cps,
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

// auditExport is trail.Exporter: this node's chain from its files (the
// record of truth), the other nodes' from PostgreSQL (pg nil: this node
// alone).
type auditExport struct {
	dir, node string
	pg        *postgres.Backend
}

func (x auditExport) Nodes(ctx context.Context) (string, []string, error) {
	all := []string{x.node}
	if x.pg != nil {
		nodes, err := x.pg.AuditNodes(ctx)
		if err != nil {
			return "", nil, err
		}
		all = append(all, nodes...)
	}
	slices.Sort(all)
	return x.node, slices.Compact(all), nil
}

func (x auditExport) Records(ctx context.Context, node string, after uint64, limit int) ([]audit.RemoteRecord, error) {
	if node != x.node {
		return auditRemote{x.pg}.RecordsAfter(ctx, node, after, limit)
	}
	return audit.Export(x.dir, after, limit)
}

func (x auditExport) Checkpoints(ctx context.Context, node string, after, limit int) ([][]byte, int, error) {
	if node != x.node {
		return x.pg.AuditCheckpoints(ctx, node, after, limit)
	}
	data, err := os.ReadFile(filepath.Join(x.dir, "checkpoints.jsonl"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var out [][]byte
	first := 0
	for i, l := range bytes.SplitAfter(data, []byte{'\n'}) {
		if i < after || len(l) == 0 || len(out) == limit {
			continue
		}
		if first == 0 {
			first = i + 1
		}
		// A last line without its newline is kept as it is: verify
		// reports it cut short only if it does not parse.
		out = append(out, bytes.TrimSuffix(l, []byte{'\n'}))
	}
	return out, first, nil
}

func (x auditExport) Anchor(ctx context.Context, node string) ([]byte, error) {
	if node != x.node {
		return x.pg.AuditAnchor(ctx, node)
	}
	b, err := os.ReadFile(filepath.Join(x.dir, "anchor.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

func (x auditExport) Head(ctx context.Context, node string) (uint64, error) {
	if node != x.node {
		return x.pg.AuditHead(ctx, node)
	}
	return audit.Head(x.dir)
}
