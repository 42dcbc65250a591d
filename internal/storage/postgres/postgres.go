// Package postgres is a storage.Backend on PostgreSQL, so that several Arca
// nodes can share one store. It passes the same conformance suite as bolt.
//
// Keys are bytea, so listing is in byte order whatever the database's
// collation. Update runs fn in a SERIALIZABLE transaction and re-runs it on
// a serialization failure (SQLSTATE 40001) or a deadlock (40P01), which the
// storage contract allows. Every committed write transaction also records
// the keys it changed in arca_changes and NOTIFYs them, which is how the
// other nodes learn what to drop from their caches (see Watch).
//
// The schema is created and migrated by Open itself (embedded, versioned
// migrations under an advisory lock). TLS to the database and every other
// connection setting come from the DSN (sslmode, sslrootcert, ...), which
// is pgx's: a URL or key=value string.
//
// It imports only internal/storage.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arca-kms/arca/internal/storage"
)

// Options tune a Backend. The zero value is usable.
type Options struct {
	// Node names this process in the change log, so that it ignores its
	// own changes. Empty: a random name.
	Node string
	// PollInterval is how often the change log is read even without a
	// notification (default 250ms): the fallback for missed notifications.
	PollInterval time.Duration
	// Retention is how long change-log rows are kept (default 15m). A node
	// that falls behind by more drops all of its caches.
	Retention time.Duration
	// Logger receives reconnects and errors of the change watcher.
	Logger *slog.Logger
	// StatementTimeout bounds how long one statement (or taking a
	// connection for it) waits for the database (default 10s). Past it the
	// call fails with storage.ErrUnavailable: a database that stops
	// answering without closing the connection (a partition that drops
	// packets, a hung server) fails requests rather than hanging them. It
	// bounds each statement, not a whole transaction, so a long
	// transaction of many quick statements is not cut short.
	StatementTimeout time.Duration

	// listenPing is how long the change listener waits for a notification
	// before it checks its connection (default 30s); tests shorten it.
	listenPing time.Duration
}

// Backend is the PostgreSQL storage backend. It is safe for concurrent use.
type Backend struct {
	pool   *pgxpool.Pool
	cfg    *pgxpool.Config
	node   string
	opts   Options
	log    *slog.Logger
	closed atomic.Bool

	// The watcher's state; see watch.go.
	watchMu  sync.Mutex
	watchers []func(storage.Change)
	track    tracker
	// synced keeps time.Now's monotonic reading, so that the staleness
	// bound holds across wall-clock steps.
	synced  atomic.Pointer[time.Time]
	pollNow chan struct{}
	stop    context.CancelFunc
	done    sync.WaitGroup
}

// maxAttempts bounds how often Update re-runs fn after serialization
// failures before giving up with the last error.
const maxAttempts = 50

// Open connects to the database named by dsn, migrates its schema and
// starts watching for other nodes' changes. The DSN may carry a password;
// it is never logged or returned in an error.
func Open(ctx context.Context, dsn string, o Options) (*Backend, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors can quote the DSN; keep only their kind.
		return nil, errors.New("postgres: the DSN could not be parsed (see https://pkg.go.dev/github.com/jackc/pgx/v5/pgconn#ParseConfig)")
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// pgx's default (max(4, CPUs)) starves a node serving many
		// concurrent writes; pool_max_conns in the DSN overrides this.
		cfg.MaxConns = max(cfg.MaxConns, 16)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.Retention <= 0 {
		o.Retention = 15 * time.Minute
	}
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = 10 * time.Second
	}
	if o.listenPing <= 0 {
		o.listenPing = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Node == "" {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		o.Node = hex.EncodeToString(b[:])
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	b := &Backend{pool: pool, cfg: cfg, node: o.Node, opts: o, log: o.Logger, pollNow: make(chan struct{}, 1)}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, b.wrap(err)
	}
	if err := b.startWatch(ctx); err != nil {
		pool.Close()
		return nil, b.wrap(err)
	}
	return b, nil
}

// Node returns the name this backend writes into the change log.
func (b *Backend) Node() string { return b.node }

// check returns the error every method returns before doing anything.
func (b *Backend) check(ctx context.Context) error {
	if b.closed.Load() {
		return storage.ErrClosed
	}
	return ctx.Err()
}

// querier is what reads and writes need: the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// errNoAnswer is the cause of a statement's context when StatementTimeout
// expired.
var errNoAnswer = errors.New("postgres: statement timeout")

// timed runs one statement under StatementTimeout. When that timeout, not
// the caller's context, ended it, the error is storage.ErrUnavailable.
func (b *Backend) timed(ctx context.Context, f func(context.Context) error) error {
	sctx, cancel := context.WithTimeoutCause(ctx, b.opts.StatementTimeout, errNoAnswer)
	defer cancel()
	err := f(sctx)
	if err != nil && ctx.Err() == nil && context.Cause(sctx) == errNoAnswer {
		return fmt.Errorf("postgres: %w: the database did not answer within %v", storage.ErrUnavailable, b.opts.StatementTimeout)
	}
	return err
}

// Get implements storage.Reader.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	var v []byte
	err := b.timed(ctx, func(ctx context.Context) (err error) {
		v, err = get(ctx, b.pool, key)
		return err
	})
	return v, b.wrap(err)
}

// List implements storage.Reader.
func (b *Backend) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	if err := b.check(ctx); err != nil {
		return nil, err
	}
	var es []storage.Entry
	err := b.timed(ctx, func(ctx context.Context) (err error) {
		es, err = list(ctx, b.pool, prefix, after, limit)
		return err
	})
	return es, b.wrap(err)
}

// Put implements storage.Writer: one transaction, durable on return.
func (b *Backend) Put(ctx context.Context, key string, value []byte) error {
	if key == "" {
		return errors.New("storage: empty key")
	}
	return b.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, key, value) })
}

// Delete implements storage.Writer.
func (b *Backend) Delete(ctx context.Context, key string) error {
	return b.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, key) })
}

// Update implements storage.Backend. fn runs in a SERIALIZABLE transaction
// and is re-run, after a short random pause, when PostgreSQL reports a
// serialization failure or a deadlock; it may therefore run more than once.
func (b *Backend) Update(ctx context.Context, fn func(tx storage.Tx) error) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	var err error
	for attempt := range maxAttempts {
		if attempt > 0 {
			if err := sleepJitter(ctx, attempt); err != nil {
				return err
			}
			if b.closed.Load() {
				return storage.ErrClosed
			}
		}
		err = b.updateOnce(ctx, fn)
		if !retryable(err) {
			return b.wrap(err)
		}
	}
	return b.wrap(err)
}

// sleepJitter waits a random time that grows with attempt (up to ~50ms),
// so that transactions that conflicted do not collide again in lockstep.
func sleepJitter(ctx context.Context, attempt int) error {
	ceil := min(time.Millisecond<<min(attempt, 6), 50*time.Millisecond)
	n, err := rand.Int(rand.Reader, big.NewInt(int64(ceil)))
	if err != nil {
		return err
	}
	t := time.NewTimer(time.Duration(n.Int64()) + 100*time.Microsecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// View implements storage.Snapshotter: fn reads in one REPEATABLE READ,
// READ ONLY transaction (as pg_dump does), which sees one snapshot and
// takes no predicate locks, so a long read does not make concurrent
// SERIALIZABLE writers fail.
func (b *Backend) View(ctx context.Context, fn func(r storage.Reader) error) error {
	if err := b.check(ctx); err != nil {
		return err
	}
	var ptx pgx.Tx
	err := b.timed(ctx, func(ctx context.Context) (err error) {
		ptx, err = b.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		return err
	})
	if err != nil {
		return b.wrap(err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.StatementTimeout)
		defer cancel()
		ptx.Rollback(rctx) //nolint:errcheck // read only: nothing to keep
	}()
	t := &tx{ctx: ctx, b: b, q: ptx, written: map[string]struct{}{}}
	if err := fn(t); err != nil {
		return b.wrap(err)
	}
	return b.wrap(t.err)
}

func (b *Backend) updateOnce(ctx context.Context, fn func(tx storage.Tx) error) error {
	var ptx pgx.Tx
	err := b.timed(ctx, func(ctx context.Context) (err error) {
		ptx, err = b.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
		return err
	})
	if err != nil {
		return err
	}
	defer func() {
		// After Commit this is a no-op; otherwise it must not hang on a
		// database that stopped answering.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.opts.StatementTimeout)
		defer cancel()
		ptx.Rollback(rctx) //nolint:errcheck // the transaction is over either way
	}()
	t := &tx{ctx: ctx, b: b, q: ptx, written: map[string]struct{}{}}
	if err := fn(t); err != nil {
		if retryable(t.err) {
			// fn translated a serialization failure into its own error;
			// the conflict, not fn's verdict, is what happened.
			return t.err
		}
		return err
	}
	if t.err != nil {
		// fn swallowed an error that aborted the transaction.
		return t.err
	}
	if len(t.written) > 0 {
		if err := b.timed(ctx, func(ctx context.Context) error { return b.logChange(ctx, ptx, t.written) }); err != nil {
			return err
		}
	}
	return b.timed(ctx, ptx.Commit)
}

// retryable reports whether err is a conflict that re-running the
// transaction resolves.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40001" || pe.Code == "40P01"
	}
	return false
}

// wrap marks errors of reaching the database with storage.ErrUnavailable
// and passes the others through. Serialization failures that exhausted the
// retries count as unavailable too: the database is overloaded.
func (b *Backend) wrap(err error) error {
	if err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrClosed) || errors.Is(err, storage.ErrUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if b.closed.Load() {
		return storage.ErrClosed
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case retryable(err),
			pe.Code[:2] == "08",                                        // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, crash, starting up
			pe.Code == "53300", // too many connections
			pe.Code == "25006": // read-only transaction (a standby)
			return fmt.Errorf("postgres: %w: %w", storage.ErrUnavailable, err)
		}
		return fmt.Errorf("postgres: %w", err)
	}
	// Anything else from pgx is the connection's: refused, reset, timed
	// out, TLS.
	return fmt.Errorf("postgres: %w: %w", storage.ErrUnavailable, err)
}

// Close stops the watcher and closes the pool. It is safe to call more
// than once.
func (b *Backend) Close() error {
	if b.closed.Swap(true) {
		return nil
	}
	b.stop()
	b.done.Wait()
	b.pool.Close()
	return nil
}

// tx is the storage.Tx of one attempt.
type tx struct {
	ctx     context.Context
	b       *Backend
	q       pgx.Tx
	written map[string]struct{}
	// err is the first error that aborted the transaction; PostgreSQL
	// refuses every later statement, so Commit must not be tried.
	err error
}

func (t *tx) note(err error) error {
	if err != nil && !errors.Is(err, storage.ErrNotFound) && t.err == nil {
		t.err = err
	}
	return err
}

func (t *tx) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var v []byte
	err := t.b.timed(ctx, func(ctx context.Context) (err error) {
		v, err = get(ctx, t.q, key)
		return err
	})
	return v, t.note(err)
}

func (t *tx) List(ctx context.Context, prefix, after string, limit int) ([]storage.Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var es []storage.Entry
	err := t.b.timed(ctx, func(ctx context.Context) (err error) {
		es, err = list(ctx, t.q, prefix, after, limit)
		return err
	})
	return es, t.note(err)
}

func (t *tx) Put(ctx context.Context, key string, value []byte) error {
	if key == "" {
		return errors.New("storage: empty key")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	err := t.b.timed(ctx, func(ctx context.Context) error {
		_, err := t.q.Exec(ctx, `INSERT INTO arca_kv (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`, []byte(key), value)
		return err
	})
	if err == nil {
		t.written[key] = struct{}{}
	}
	return t.note(err)
}

func (t *tx) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var tag pgconn.CommandTag
	err := t.b.timed(ctx, func(ctx context.Context) (err error) {
		tag, err = t.q.Exec(ctx, "DELETE FROM arca_kv WHERE key = $1", []byte(key))
		return err
	})
	if err == nil && tag.RowsAffected() > 0 {
		t.written[key] = struct{}{}
	}
	return t.note(err)
}

func get(ctx context.Context, q querier, key string) ([]byte, error) {
	var v []byte
	err := q.QueryRow(ctx, "SELECT value FROM arca_kv WHERE key = $1", []byte(key)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w: %q", storage.ErrNotFound, key)
	}
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func list(ctx context.Context, q querier, prefix, after string, limit int) ([]storage.Entry, error) {
	var lim *int64
	if limit > 0 {
		l := int64(limit)
		lim = &l
	}
	var rows pgx.Rows
	var err error
	if end := prefixEnd([]byte(prefix)); end != nil {
		rows, err = q.Query(ctx, `SELECT key, value FROM arca_kv
			WHERE key >= $1 AND key < $2 AND key > $3 ORDER BY key LIMIT $4`,
			[]byte(prefix), end, []byte(after), lim)
	} else {
		rows, err = q.Query(ctx, `SELECT key, value FROM arca_kv
			WHERE key >= $1 AND key > $2 ORDER BY key LIMIT $3`,
			[]byte(prefix), []byte(after), lim)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storage.Entry
	for rows.Next() {
		var k, v []byte
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		if v == nil {
			v = []byte{}
		}
		out = append(out, storage.Entry{Key: string(k), Value: v})
	}
	return out, rows.Err()
}

// prefixEnd returns the smallest byte string greater than every string
// starting with p, or nil when there is none (p is empty or all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
