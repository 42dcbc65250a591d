package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/storagetest"
	"github.com/arca-kms/arca/internal/testdb"
)

var ctx = context.Background()

// newDSN returns the DSN of a fresh database on the shared test server.
func newDSN(t *testing.T) string {
	t.Helper()
	srv := testdb.Postgres(t)
	return srv.DSNFor(srv.User, srv.Password, srv.NewDatabase(t))
}

func open(t *testing.T, dsn string, o Options) *Backend {
	t.Helper()
	b, err := Open(ctx, dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return open(t, newDSN(t), Options{}) })
}

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ in, want []byte }{
		{nil, nil},
		{[]byte("a"), []byte("b")},
		{[]byte("p/"), []byte("p0")},
		{[]byte{'a', 0xff}, []byte("b")},
		{[]byte{0xff, 0xff}, nil},
	}
	for _, tc := range tests {
		if got := prefixEnd(tc.in); !bytes.Equal(got, tc.want) {
			t.Errorf("prefixEnd(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := tracker{max: 10, holes: map[int64]time.Time{}}
	steps := []struct {
		seq         int64
		all, fresh  bool
		holesBefore int
	}{
		{11, false, true, 0},
		{11, false, false, 0}, // seen
		{14, false, true, 0},  // 12 and 13 become holes
		{13, false, true, 2},  // a hole filled
		{13, false, false, 1},
		{9, false, false, 1}, // below max, never a hole: seen long ago
		{12, false, true, 1},
	}
	for i, s := range steps {
		if n := len(tr.holes); n != s.holesBefore {
			t.Errorf("step %d: %d holes; want %d", i, n, s.holesBefore)
		}
		all, fresh := tr.mark(s.seq, t0)
		if all != s.all || fresh != s.fresh {
			t.Errorf("step %d: mark(%d) = %v, %v; want %v, %v", i, s.seq, all, fresh, s.all, s.fresh)
		}
	}
	tr.mark(16, t0)
	if got := tr.pending(t0.Add(time.Second)); len(got) != 1 || got[0] != 15 {
		t.Errorf("pending = %v; want [15]", got)
	}
	if got := tr.pending(t0.Add(holeTTL + time.Second)); len(got) != 0 {
		t.Errorf("pending after holeTTL = %v; want none", got)
	}
	if all, fresh := tr.mark(16+maxHoles+5, t0); !all || !fresh {
		t.Errorf("a huge gap: all=%v fresh=%v; want both", all, fresh)
	}
}

// TestMigrateConcurrently starts several backends on one empty database at
// once: the advisory lock makes each migration run once, and all open.
func TestMigrateConcurrently(t *testing.T) {
	dsn := newDSN(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range 6 {
		wg.Go(func() {
			b, err := Open(ctx, dsn, Options{})
			if err == nil {
				b.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Open: %v", err)
		}
	}
	b := open(t, dsn, Options{})
	var n, v int
	if err := b.pool.QueryRow(ctx, "SELECT count(*), max(version) FROM arca_schema_migrations").Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	ms, _ := migrations()
	if n != len(ms) || v != len(ms) {
		t.Errorf("migrations table: %d rows, version %d; want %d of each", n, v, len(ms))
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	dsn := newDSN(t)
	b := open(t, dsn, Options{})
	if _, err := b.pool.Exec(ctx, "INSERT INTO arca_schema_migrations (version, name) VALUES (9999, 'future')"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dsn, Options{}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("newer than this Arca")) {
		t.Errorf("Open on a newer schema = %v; want a refusal", err)
	}
}

// TestDSNNotLeaked: a bad DSN's error does not repeat the password.
func TestDSNNotLeaked(t *testing.T) {
	_, err := Open(ctx, "postgres://u:s3cretpw@127.0.0.1:1/db?sslmode=bogus", Options{})
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("s3cretpw")) {
		t.Errorf("Open error = %v", err)
	}
	_, err = Open(ctx, "postgres://u:s3cretpw@127.0.0.1:1/db?connect_timeout=1", Options{})
	if err == nil || bytes.Contains([]byte(err.Error()), []byte("s3cretpw")) || !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Open of an unreachable database = %v; want ErrUnavailable without the password", err)
	}
}

// TestByteOrderWithCollation: listing is byte order even when the database's
// default collation is not C.
func TestKeysAreBytea(t *testing.T) {
	b := open(t, newDSN(t), Options{})
	var typ string
	if err := b.pool.QueryRow(ctx, `SELECT data_type FROM information_schema.columns
		WHERE table_name = 'arca_kv' AND column_name = 'key'`).Scan(&typ); err != nil {
		t.Fatal(err)
	}
	if typ != "bytea" {
		t.Errorf("key column is %s; want bytea (byte order whatever the collation)", typ)
	}
}

// TestWatch: a write on one backend reaches another's watcher, with the
// keys it wrote; the writer does not hear itself; a transaction that rolls
// back is never reported.
func TestWatch(t *testing.T) {
	dsn := newDSN(t)
	a := open(t, dsn, Options{Node: "a"})
	b := open(t, dsn, Options{Node: "b", PollInterval: time.Hour}) // notifications only
	c := open(t, dsn, Options{Node: "c", PollInterval: 50 * time.Millisecond})
	type rec struct {
		mu   sync.Mutex
		keys map[string]int
		all  int
	}
	watch := func(w *Backend) *rec {
		r := &rec{keys: map[string]int{}}
		w.Watch(func(c storage.Change) {
			r.mu.Lock()
			defer r.mu.Unlock()
			if c.All {
				r.all++
			}
			for _, k := range c.Keys {
				r.keys[k]++
			}
		})
		return r
	}
	ra, rb, rc := watch(a), watch(b), watch(c)
	if err := a.Put(ctx, "w/1", []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = a.Update(ctx, func(tx storage.Tx) error {
		_ = tx.Put(ctx, "w/rolled-back", []byte("x"))
		return errors.New("no")
	})
	if err := a.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, "w/2", []byte("x")); err != nil {
			return err
		}
		return tx.Delete(ctx, "w/1")
	}); err != nil {
		t.Fatal(err)
	}
	// A change with keys too long for a notification payload.
	long := "w/" + string(bytes.Repeat([]byte("L"), 8000))
	if err := a.Put(ctx, long, []byte("x")); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"w/1": 2, "w/2": 1}
	for _, r := range []*rec{rb, rc} {
		deadline := time.Now().Add(3 * time.Second)
		for {
			r.mu.Lock()
			got := fmt.Sprint(r.keys["w/1"], r.keys["w/2"], r.keys["w/rolled-back"])
			hasLong := r.keys[long]
			r.mu.Unlock()
			wantS := fmt.Sprint(want["w/1"], want["w/2"], 0)
			if got == wantS && (r == rb || hasLong == 1) {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("watcher saw w/1, w/2, w/rolled-back = %s (long key %d); want %s", got, hasLong, wantS)
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	ra.mu.Lock()
	if len(ra.keys) != 0 {
		t.Errorf("the writer heard its own changes: %v", ra.keys)
	}
	ra.mu.Unlock()
	if since := time.Since(c.Synced()); since > time.Second {
		t.Errorf("Synced is %v old with a 50ms poll", since)
	}
}

// TestWatchPollFallback: with notifications lost (nobody listening), the
// poll still delivers every committed change.
func TestWatchPollFallback(t *testing.T) {
	dsn := newDSN(t)
	a := open(t, dsn, Options{Node: "a"})
	b := open(t, dsn, Options{Node: "b", PollInterval: 50 * time.Millisecond})
	// Stop b's listener by terminating its connection, repeatedly, while a
	// writes; the poll must still see every key.
	var mu sync.Mutex
	seen := map[string]bool{}
	b.Watch(func(c storage.Change) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range c.Keys {
			seen[k] = true
		}
	})
	for i := range 50 {
		if i%10 == 0 {
			_, _ = a.pool.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()")
		}
		if err := a.Put(ctx, fmt.Sprintf("f/%02d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("saw %d of 50 changes", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNoPlaintextInTable: what the backend stores is what it was given:
// the barrier's sealed bytes. A direct read of the table returns exactly
// those bytes (the barrier's own test proves they hold no key material).
func TestTableHoldsValuesVerbatim(t *testing.T) {
	b := open(t, newDSN(t), Options{})
	val := []byte{0, 1, 2, 0xfe, 0xff}
	if err := b.Put(ctx, "v/k", val); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := b.pool.QueryRow(ctx, "SELECT value FROM arca_kv WHERE key = $1", []byte("v/k")).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, val) {
		t.Errorf("table holds %x; want %x", got, val)
	}
}

// TestUnavailable: with the database stopped, calls fail with
// ErrUnavailable (never ErrNotFound), Synced stops advancing, and service
// resumes by itself when the database is back.
func TestUnavailable(t *testing.T) {
	srv := testdb.StartPostgres(t)
	dsn := srv.DSNFor(srv.User, srv.Password, srv.Database) + "&pool_max_conn_lifetime=1h"
	a := open(t, dsn, Options{PollInterval: 50 * time.Millisecond})
	var alls sync.WaitGroup
	alls.Add(1)
	var once sync.Once
	a.Watch(func(c storage.Change) {
		if c.All {
			once.Do(alls.Done)
		}
	})
	if err := a.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := a.Get(cctx, "k"); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Get with the database down = %v; want ErrUnavailable", err)
	}
	if err := a.Put(cctx, "k2", []byte("v")); !errors.Is(err, storage.ErrUnavailable) {
		t.Errorf("Put with the database down = %v; want ErrUnavailable", err)
	}
	time.Sleep(300 * time.Millisecond)
	if since := time.Since(a.Synced()); since < 250*time.Millisecond {
		t.Errorf("Synced advanced with the database down (%v ago)", since)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, err := a.Get(ctx, "k")
		if err == nil && string(v) == "v" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after restart Get = %q, %v", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { alls.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("no All change after the outage")
	}
	if err := a.Put(ctx, "k3", []byte("v")); err != nil {
		t.Errorf("Put after restart: %v", err)
	}
}

var _ = pgx.ErrNoRows

// TestPartition: through a proxy that is cut (connections reset) or
// stalled (nothing answers, nothing closes), reads and writes fail with
// storage.ErrUnavailable, at once resp. within StatementTimeout, never
// hang, and work again after the heal; the watcher's Synced stops
// advancing meanwhile.
func TestPartition(t *testing.T) {
	t.Parallel()
	srv := testdb.Postgres(t)
	px := srv.NewProxy(t)
	dsn := srv.DSNFor(srv.User, srv.Password, srv.NewDatabase(t))
	dsn = strings.Replace(dsn, srv.Addr(), px.Addr(), 1)
	const timeout = time.Second
	b := open(t, dsn, Options{StatementTimeout: timeout, PollInterval: 50 * time.Millisecond})
	if err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	heal := func(what string) {
		t.Helper()
		px.Heal()
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := b.Put(ctx, "k", []byte("healed"))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("Put 10s after healing a %s: %v", what, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if v, err := b.Get(ctx, "k"); err != nil || string(v) != "healed" {
			t.Fatalf("Get after healing a %s: %q, %v", what, v, err)
		}
		for time.Since(b.Synced()) > time.Second {
			if time.Now().After(deadline) {
				t.Fatalf("Synced %v old 10s after healing a %s", time.Since(b.Synced()), what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	for _, tc := range []struct {
		name  string
		start func()
		// within bounds how long a call may take to fail.
		within time.Duration
	}{
		{"cut", px.Cut, 500 * time.Millisecond},
		{"stall", px.Stall, timeout + time.Second},
	} {
		tc.start()
		began := time.Now()
		calls := map[string]func() error{
			"Put":    func() error { return b.Put(ctx, "k", []byte("during")) },
			"Get":    func() error { _, err := b.Get(ctx, "k"); return err },
			"List":   func() error { _, err := b.List(ctx, "", "", 0); return err },
			"Update": func() error { return b.Update(ctx, func(tx storage.Tx) error { return tx.Delete(ctx, "k") }) },
			// The audit tables: a lookup reading other nodes' records
			// must fail, not hang, in a silent partition.
			"AuditRecordsAfter": func() error { _, err := b.AuditRecordsAfter(ctx, "n1", 0, 10); return err },
			"ShipAuditRecords": func() error {
				return b.ShipAuditRecords(ctx, "n1", []AuditRecord{{Seq: 1, Line: []byte(`{}`)}})
			},
			"AuditCheckpoints": func() error { _, _, err := b.AuditCheckpoints(ctx, "n1", 0, 10); return err },
		}
		var wg sync.WaitGroup
		for name, call := range calls {
			wg.Go(func() {
				t0 := time.Now()
				err := call()
				if took := time.Since(t0); !errors.Is(err, storage.ErrUnavailable) || took > tc.within {
					t.Errorf("%s: %s = %v after %v; want ErrUnavailable within %v", tc.name, name, err, took, tc.within)
				}
			})
		}
		wg.Wait()
		if lag := time.Since(b.Synced()); lag < time.Since(began)-100*time.Millisecond {
			t.Errorf("%s: Synced advanced during the partition (%v old, partition %v)", tc.name, lag, time.Since(began))
		}
		heal(tc.name)
	}
}

// TestTLS: with sslmode=verify-full the backend reaches PostgreSQL over
// TLS (the server refuses plain-text logins), and a certificate from
// another CA is refused without the password in the error.
func TestTLS(t *testing.T) {
	srv := testdb.StartPostgres(t)
	caFile := srv.EnableTLS(t)
	dsn := srv.DSNFor(srv.User, srv.Password, srv.NewDatabase(t))
	if !strings.Contains(dsn, "sslmode=verify-full") || !strings.Contains(dsn, caFile) {
		t.Fatalf("DSN does not ask for verified TLS: %s", dsn)
	}
	b := open(t, dsn, Options{Node: "a"})
	// The change feed's LISTEN connection is made apart from the pool: it
	// must use TLS too (the server refuses it otherwise).
	listener := open(t, dsn, Options{Node: "b", PollInterval: time.Hour})
	heard := make(chan string, 8)
	listener.Watch(func(c storage.Change) {
		for _, k := range c.Keys {
			heard <- k
		}
	})
	if err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-heard:
		if k != "k" {
			t.Fatalf("listener heard %q", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification over the TLS LISTEN connection")
	}
	if v, err := b.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
	var ssl bool
	var version string
	if err := b.pool.QueryRow(ctx, `SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl, &version); err != nil {
		t.Fatal(err)
	}
	if !ssl {
		t.Fatal("the pool's connection is not TLS")
	}
	t.Logf("connected with %s", version)

	plain := strings.Replace(dsn, "sslmode=verify-full", "sslmode=disable", 1)
	if _, err := Open(ctx, plain, Options{}); err == nil {
		t.Fatal("a plain-text connection was accepted by a server that refuses them: the test proves nothing")
	}
	other := testdb.StartPostgres(t).EnableTLS(t)
	wrongCA := strings.Replace(dsn, caFile, other, 1)
	_, err := Open(ctx, wrongCA, Options{})
	if err == nil || strings.Contains(err.Error(), srv.Password) {
		t.Fatalf("Open with a CA that did not issue the server's certificate = %v", err)
	}
}

// TestViewSnapshot: View reads one snapshot (a write committed while it
// runs is not seen), refuses writes, and a write that overlaps a long View
// commits at once, without a serialization failure.
func TestViewSnapshot(t *testing.T) {
	t.Parallel()
	b := open(t, newDSN(t), Options{})
	if err := b.Put(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	var _ storage.Snapshotter = b
	err := b.View(ctx, func(r storage.Reader) error {
		if v, err := r.Get(ctx, "a"); err != nil || string(v) != "1" {
			return fmt.Errorf("Get(a) = %q, %v", v, err)
		}
		// Committed by another transaction while the view is open.
		if err := b.Update(ctx, func(tx storage.Tx) error {
			if _, err := tx.List(ctx, "", "", 0); err != nil {
				return err
			}
			return tx.Put(ctx, "b", []byte("2"))
		}); err != nil {
			return fmt.Errorf("a write during the view: %w", err)
		}
		ents, err := r.List(ctx, "", "", 0)
		if err != nil || len(ents) != 1 {
			return fmt.Errorf("List inside the view = %d entries, %v; want only a", len(ents), err)
		}
		if w, ok := r.(storage.Writer); ok {
			if err := w.Put(ctx, "c", []byte("3")); err == nil {
				return errors.New("a write through the view succeeded")
			}
		}
		return nil
	})
	if err == nil {
		t.Fatal("View whose write failed returned nil")
	} else if !strings.Contains(err.Error(), "read-only") {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "b"); err != nil || string(v) != "2" {
		t.Fatalf("b after the view: %q, %v", v, err)
	}
	if _, err := b.Get(ctx, "c"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("c written through the view: %v", err)
	}
}

// TestListenerOrphaned: when the listener's connection goes silent without
// a reset (a middlebox forgot it), the listener notices within listenPing
// plus a ping's timeout, reconnects and drops every cache, instead of
// waiting forever while other nodes' changes go unheard. Polling is off
// here, so only the listener can deliver.
func TestListenerOrphaned(t *testing.T) {
	t.Parallel()
	srv := testdb.Postgres(t)
	px := srv.NewProxy(t)
	dsn := srv.DSNFor(srv.User, srv.Password, srv.NewDatabase(t))
	b := open(t, strings.Replace(dsn, srv.Addr(), px.Addr(), 1),
		Options{PollInterval: time.Hour, StatementTimeout: 500 * time.Millisecond, listenPing: 200 * time.Millisecond})
	other := open(t, dsn, Options{PollInterval: time.Hour})
	seen := make(chan storage.Change, 100)
	b.Watch(func(c storage.Change) { seen <- c })
	wait := func(key string) time.Duration {
		t.Helper()
		start := time.Now()
		if err := other.Put(ctx, key, []byte("v")); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case c := <-seen:
				if c.All || slices.Contains(c.Keys, key) {
					return time.Since(start)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("no change delivered for %s within 5s", key)
			}
		}
	}
	time.Sleep(300 * time.Millisecond) // the listener is up
	wait("before")
	px.Orphan()
	took := wait("after")
	t.Logf("change delivered %v after the listener's connection went silent", took.Round(time.Millisecond))
}
