package postgres

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/arca-kms/arca/internal/storage"
)

// How other nodes learn of a write, fast path and fallback:
//
//   - Each committed write transaction inserts one arca_changes row (its
//     keys) and, in the same transaction, NOTIFYs arca_changes with the
//     row's seq, the writing node and (when short enough) the keys.
//     PostgreSQL delivers notifications only on commit, in commit order.
//   - Every PollInterval each node also reads the rows it has not seen
//     (seq above the highest seen, plus the "holes" below it: seqs taken by
//     transactions that had not committed yet, or that rolled back). This
//     catches anything a notification missed: a listener reconnecting, a
//     payload too long to carry the keys.
//   - A hole not filled within holeTTL is given up (its transaction rolled
//     back; a commit that takes longer is not expected), and after any
//     period in which this node could not read the log, or when it fell
//     further behind than the log keeps, every cache is dropped (All).
//
// Synced reports the start of the last successful poll: every change
// committed before it has been delivered.

const (
	channel  = "arca_changes"
	holeTTL  = 10 * time.Second
	maxHoles = 100000
	// maxPayload keeps NOTIFY payloads under PostgreSQL's 8000-byte limit.
	maxPayload = 7000
)

// logChange records the keys a transaction wrote and notifies the other
// nodes when it commits.
func (b *Backend) logChange(ctx context.Context, q pgx.Tx, written map[string]struct{}) error {
	keys := make([][]byte, 0, len(written))
	names := make([]string, 0, len(written))
	size, printable := 0, true
	for k := range written {
		keys = append(keys, []byte(k))
		names = append(names, k)
		size += len(k) + 3
		printable = printable && utf8.ValidString(k) && !strings.ContainsRune(k, 0)
	}
	payload := ""
	if printable && size < maxPayload {
		raw, err := json.Marshal(names)
		if err != nil {
			return err
		}
		payload = string(raw)
	}
	_, err := q.Exec(ctx, `WITH c AS (INSERT INTO arca_changes (node, keys) VALUES ($1, $2) RETURNING seq)
		SELECT pg_notify('`+channel+`', seq::text || ' ' || $1 || ' ' || $3) FROM c`,
		b.node, keys, payload)
	return err
}

// Watch implements storage.Watcher.
func (b *Backend) Watch(fn func(storage.Change)) {
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	b.watchers = append(b.watchers, fn)
}

// Synced implements storage.Watcher.
func (b *Backend) Synced() time.Time { return *b.synced.Load() }

// deliver calls the watchers; callers hold watchMu.
func (b *Backend) deliver(c storage.Change) {
	for _, fn := range b.watchers {
		fn(c)
	}
}

func (b *Backend) startWatch(ctx context.Context) error {
	var last int64
	start := time.Now()
	if err := b.pool.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM arca_changes").Scan(&last); err != nil {
		return err
	}
	b.track = tracker{max: last, holes: map[int64]time.Time{}}
	b.synced.Store(&start)
	wctx, cancel := context.WithCancel(context.Background())
	b.stop = cancel
	b.done.Add(2)
	go func() { defer b.done.Done(); b.listen(wctx) }()
	go func() { defer b.done.Done(); b.poll(wctx) }()
	return nil
}

// listen holds one connection LISTENing on the channel, reconnecting with
// a pause when it breaks. After a reconnect every cache is dropped, since
// notifications sent meanwhile are lost (the poller would catch them
// within PollInterval anyway; this removes even that window).
func (b *Backend) listen(ctx context.Context) {
	first := true
	for ctx.Err() == nil {
		conn, err := b.listenConn(ctx)
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("postgres change listener cannot connect; retrying", "err", b.wrap(err))
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		if !first {
			b.log.Info("postgres change listener reconnected")
			b.watchMu.Lock()
			b.deliver(storage.Change{All: true})
			b.watchMu.Unlock()
		} else {
			// Changes committed between startWatch's snapshot of the log
			// and this LISTEN sent notifications nobody heard: read them
			// from the log now rather than at the next poll.
			b.kickPoll()
		}
		first = false
		for {
			wctx, cancel := context.WithTimeout(ctx, b.opts.listenPing)
			n, err := conn.WaitForNotification(wctx)
			timedOut := wctx.Err() != nil && ctx.Err() == nil
			cancel()
			if err != nil && timedOut {
				// Quiet for listenPing: check that the connection still
				// answers. A partition or a middlebox may have dropped it
				// without a reset, and LISTEN would then wait forever
				// while notifications go elsewhere.
				if err = b.ping(ctx, conn); err == nil {
					continue
				}
			}
			if err != nil {
				if ctx.Err() == nil {
					b.log.Warn("postgres change listener lost its connection", "err", b.wrap(err))
				}
				break
			}
			b.notified(n.Payload)
		}
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn.Close(cctx)
		cancel()
	}
}

// ping checks that the listener's connection answers within
// StatementTimeout.
func (b *Backend) ping(ctx context.Context, conn *pgx.Conn) error {
	pctx, cancel := context.WithTimeout(ctx, b.opts.StatementTimeout)
	defer cancel()
	return conn.Ping(pctx)
}

func (b *Backend) listenConn(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, b.cfg.ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(cctx, "LISTEN "+channel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// notified handles one payload: "SEQ NODE [JSON KEYS]".
func (b *Backend) notified(payload string) {
	seqStr, rest, _ := strings.Cut(payload, " ")
	node, keysJSON, _ := strings.Cut(rest, " ")
	seq, err := strconv.ParseInt(seqStr, 10, 64)
	if err != nil {
		return
	}
	var keys []string
	if keysJSON == "" || json.Unmarshal([]byte(keysJSON), &keys) != nil {
		if node != b.node {
			b.kickPoll() // the keys did not fit: read them from the log
		}
		return
	}
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	all, fresh := b.track.mark(seq, time.Now())
	if all {
		b.deliver(storage.Change{All: true})
	}
	if fresh && node != b.node {
		b.deliver(storage.Change{Keys: keys})
	}
}

func (b *Backend) kickPoll() {
	select {
	case b.pollNow <- struct{}{}:
	default:
	}
}

// poll reads the change log every PollInterval (or when kicked), and
// deletes rows older than Retention now and then.
func (b *Backend) poll(ctx context.Context) {
	t := time.NewTicker(b.opts.PollInterval)
	defer t.Stop()
	failing := false
	var lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.pollNow:
		}
		start := time.Now()
		err := b.pollOnce(ctx, failing)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				b.log.Warn("postgres change log unreadable: caches age until it is back", "err", b.wrap(err))
			}
			failing = true
			continue
		case err != nil:
			return
		}
		if failing {
			b.log.Info("postgres change log readable again")
		}
		failing = false
		b.synced.Store(&start)
		if time.Since(lastPrune) > time.Minute {
			lastPrune = time.Now()
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, err := b.pool.Exec(pctx, "DELETE FROM arca_changes WHERE at < now() - $1::interval", b.opts.Retention.String())
			cancel()
			if err != nil && ctx.Err() == nil {
				b.log.Warn("postgres change log prune failed", "err", b.wrap(err))
			}
		}
	}
}

// pollOnce reads unseen change rows and delivers them. After a period of
// failures it drops every cache: changes made meanwhile were delivered to
// nobody, and the node's caches may have served from before them.
func (b *Backend) pollOnce(ctx context.Context, recovering bool) error {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b.watchMu.Lock()
	max, holes := b.track.max, b.track.pending(time.Now())
	b.watchMu.Unlock()
	var oldest int64
	if err := b.pool.QueryRow(qctx, "SELECT coalesce(min(seq), 0) FROM arca_changes").Scan(&oldest); err != nil {
		return err
	}
	rows, err := b.pool.Query(qctx, `SELECT seq, node, keys FROM arca_changes
		WHERE seq > $1 OR seq = ANY($2) ORDER BY seq LIMIT 10000`, max, holes)
	if err != nil {
		return err
	}
	type row struct {
		seq  int64
		node string
		keys [][]byte
	}
	var got []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.node, &r.keys); err != nil {
			rows.Close()
			return err
		}
		got = append(got, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	b.watchMu.Lock()
	defer b.watchMu.Unlock()
	if recovering || (oldest > b.track.max+1 && b.track.max > 0) {
		// Down for a while, or the rows we had not read were pruned.
		b.deliver(storage.Change{All: true})
	}
	now := time.Now()
	for _, r := range got {
		all, fresh := b.track.mark(r.seq, now)
		if all {
			b.deliver(storage.Change{All: true})
		}
		if !fresh || r.node == b.node {
			continue
		}
		keys := make([]string, len(r.keys))
		for i, k := range r.keys {
			keys[i] = string(k)
		}
		b.deliver(storage.Change{Keys: keys})
	}
	if len(got) == 10000 {
		b.kickPoll()
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// tracker remembers which change-log seqs were delivered: every seq up to
// max except the holes, which are seqs below max not seen yet (transactions
// still committing, or rolled back).
type tracker struct {
	max   int64
	holes map[int64]time.Time
}

// mark records seq as seen at now. fresh reports that it had not been seen
// before; all, that so many seqs were skipped that they are not tracked one
// by one and the caller must drop every cache.
func (t *tracker) mark(seq int64, now time.Time) (all, fresh bool) {
	if seq > t.max {
		if gap := seq - t.max - 1; gap > maxHoles || len(t.holes)+int(gap) > maxHoles {
			clear(t.holes)
			all = true
		} else {
			for s := t.max + 1; s < seq; s++ {
				t.holes[s] = now
			}
		}
		t.max = seq
		return all, true
	}
	if _, ok := t.holes[seq]; ok {
		delete(t.holes, seq)
		return false, true
	}
	return false, false
}

// pending returns the holes still worth asking for, dropping those older
// than holeTTL.
func (t *tracker) pending(now time.Time) []int64 {
	out := make([]int64, 0, len(t.holes))
	for s, since := range t.holes {
		if now.Sub(since) > holeTTL {
			delete(t.holes, s)
			continue
		}
		out = append(out, s)
	}
	return out
}

var _ storage.Watcher = (*Backend)(nil)
