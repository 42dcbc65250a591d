package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The audit tables (migration 0002): every node ships its own audit log's
// records, checkpoints and prune anchor here verbatim, so that any node can
// index the others' events and export every node's chain for
// verification. Writes are idempotent (a sink delivers at least once):
// a row already present is kept as it is. Every statement runs under the
// statement timeout, as the KV's do: in a silent partition a lookup that
// reads other nodes' records fails retryably instead of hanging.

// AuditRecord is one shipped audit record.
type AuditRecord struct {
	Seq  uint64
	Line []byte
}

// ShipAuditRecords stores node's records (ascending sequence numbers) in
// one transaction.
func (b *Backend) ShipAuditRecords(ctx context.Context, node string, recs []AuditRecord) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	seqs := make([]int64, len(recs))
	lines := make([][]byte, len(recs))
	for i, r := range recs {
		seqs[i], lines[i] = int64(r.Seq), r.Line
	}
	err := b.timed(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO arca_audit_records (node_id, seq, line)
			SELECT $1, s, l FROM unnest($2::bigint[], $3::bytea[]) AS t(s, l)
			ON CONFLICT (node_id, seq) DO NOTHING`, node, seqs, lines); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO arca_audit_nodes (node_id) VALUES ($1)
			ON CONFLICT (node_id) DO UPDATE SET shipped_at = now()`, node)
			return err
		})
	})
	return b.wrap(err)
}

// ShipAuditCheckpoints stores node's checkpoint lines numbered from first
// (1-based line numbers in its checkpoints file).
func (b *Backend) ShipAuditCheckpoints(ctx context.Context, node string, first int, lines [][]byte) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	if len(lines) == 0 {
		return nil
	}
	nos := make([]int32, len(lines))
	for i := range lines {
		nos[i] = int32(first + i)
	}
	err := b.timed(ctx, func(ctx context.Context) error {
		_, err := b.pool.Exec(ctx, `INSERT INTO arca_audit_checkpoints (node_id, line_no, line)
		SELECT $1, n, l FROM unnest($2::integer[], $3::bytea[]) AS t(n, l)
		ON CONFLICT (node_id, line_no) DO NOTHING`, node, nos, lines)
		return err
	})
	return b.wrap(err)
}

// ShipAuditAnchor records node's prune anchor and deletes its records up
// to the anchor's sequence (pruned is that sequence): the table keeps what
// the node's own log keeps.
func (b *Backend) ShipAuditAnchor(ctx context.Context, node string, anchor []byte, pruned uint64) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	err := b.timed(ctx, func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO arca_audit_nodes (node_id, anchor) VALUES ($1, $2)
			ON CONFLICT (node_id) DO UPDATE SET anchor = excluded.anchor`, node, anchor); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `DELETE FROM arca_audit_records WHERE node_id = $1 AND seq <= $2`, node, int64(pruned))
			return err
		})
	})
	return b.wrap(err)
}

// AuditNodes lists the nodes that shipped records, by node ID.
func (b *Backend) AuditNodes(ctx context.Context) ([]string, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	var out []string
	err := b.timed(ctx, func(ctx context.Context) error {
		rows, err := b.pool.Query(ctx, `SELECT node_id FROM arca_audit_nodes ORDER BY node_id`)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return out, b.wrap(err)
}

// AuditHead is the highest sequence shipped by node (0: none).
func (b *Backend) AuditHead(ctx context.Context, node string) (uint64, error) {
	if err := b.check(ctx); err != nil {
		return 0, err
	}
	var head int64
	err := b.timed(ctx, func(ctx context.Context) error {
		return b.pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM arca_audit_records WHERE node_id = $1`, node).Scan(&head)
	})
	return uint64(head), b.wrap(err)
}

// AuditRecordsAfter returns up to limit of node's records with a sequence
// above after, ascending.
func (b *Backend) AuditRecordsAfter(ctx context.Context, node string, after uint64, limit int) ([]AuditRecord, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	return b.auditRows(ctx, `SELECT seq, line FROM arca_audit_records
		WHERE node_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, node, int64(after), limit)
}

// AuditLines returns node's records with the given sequence numbers (those
// that exist).
func (b *Backend) AuditLines(ctx context.Context, node string, seqs []uint64) ([]AuditRecord, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	s := make([]int64, len(seqs))
	for i, v := range seqs {
		s[i] = int64(v)
	}
	return b.auditRows(ctx, `SELECT seq, line FROM arca_audit_records
		WHERE node_id = $1 AND seq = ANY($2::bigint[])`, node, s)
}

// auditRows runs a query of (seq, line) rows under the statement timeout.
func (b *Backend) auditRows(ctx context.Context, q string, args ...any) ([]AuditRecord, error) {
	var out []AuditRecord
	err := b.timed(ctx, func(ctx context.Context) error {
		rows, err := b.pool.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditRecord, error) {
			var seq int64
			var line []byte
			if err := r.Scan(&seq, &line); err != nil {
				return AuditRecord{}, err
			}
			if seq < 0 {
				return AuditRecord{}, fmt.Errorf("audit record with sequence %d", seq)
			}
			return AuditRecord{Seq: uint64(seq), Line: line}, nil
		})
		return err
	})
	return out, b.wrap(err)
}

// AuditCheckpoints returns up to limit of node's checkpoint lines after
// line number after, and the number of the first one returned.
func (b *Backend) AuditCheckpoints(ctx context.Context, node string, after, limit int) ([][]byte, int, error) {
	if err := b.check(ctx); err != nil {
		return nil, 0, err
	}
	var out [][]byte
	first := 0
	err := b.timed(ctx, func(ctx context.Context) error {
		rows, err := b.pool.Query(ctx, `SELECT line_no, line FROM arca_audit_checkpoints
		WHERE node_id = $1 AND line_no > $2 ORDER BY line_no LIMIT $3`, node, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var no int32
			var line []byte
			if err := rows.Scan(&no, &line); err != nil {
				return err
			}
			if first == 0 {
				first = int(no)
			}
			out = append(out, line)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, b.wrap(err)
	}
	return out, first, nil
}

// AuditAnchor returns node's shipped prune anchor (nil: none).
func (b *Backend) AuditAnchor(ctx context.Context, node string) ([]byte, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	var a []byte
	err := b.timed(ctx, func(ctx context.Context) error {
		return b.pool.QueryRow(ctx, `SELECT anchor FROM arca_audit_nodes WHERE node_id = $1`, node).Scan(&a)
	})
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	return a, b.wrap(err)
}

// AuditCheckpointHead is the highest checkpoint line number shipped by
// node (0: none).
func (b *Backend) AuditCheckpointHead(ctx context.Context, node string) (int, error) {
	if err := b.check(ctx); err != nil {
		return 0, err
	}
	var n int32
	err := b.timed(ctx, func(ctx context.Context) error {
		return b.pool.QueryRow(ctx, `SELECT coalesce(max(line_no), 0) FROM arca_audit_checkpoints WHERE node_id = $1`, node).Scan(&n)
	})
	return int(n), b.wrap(err)
}
