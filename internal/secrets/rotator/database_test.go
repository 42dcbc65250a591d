package rotator_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/secrets/rotator"
	"github.com/arca-kms/arca/internal/testdb"
)

type dbCase struct {
	name    string
	typ     string
	engine  string
	shared  func(testing.TB) *testdb.Server
	private func(testing.TB) *testdb.Server
}

var dbCases = []dbCase{
	{"postgres", rotator.TypePostgres, "postgres", testdb.Postgres, testdb.StartPostgres},
	{"mariadb", rotator.TypeMySQL, "mysql", testdb.MariaDB, testdb.StartMariaDB},
}

func driver(s *testdb.Server) string {
	if s.Engine == testdb.EnginePostgres {
		return "pgx"
	}
	return "mysql"
}

// quoteUser quotes a user name for the test's own setup statements.
func quoteUser(s *testdb.Server, u string) string {
	if s.Engine == testdb.EnginePostgres {
		return `"` + strings.ReplaceAll(u, `"`, `""`) + `"`
	}
	return "`" + strings.ReplaceAll(u, "`", "``") + "`@`%`"
}

// setup creates a database with a table t, and user (password pw) who may
// read it. It returns the database's name.
func setup(t *testing.T, s *testdb.Server, user, pw string) string {
	t.Helper()
	db := s.NewDatabase(t)
	conn, err := s.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var stmts []string
	if s.Engine == testdb.EnginePostgres {
		stmts = []string{
			"CREATE ROLE " + quoteUser(s, user) + " LOGIN PASSWORD '" + strings.ReplaceAll(pw, "'", "''") + "'",
			"CREATE TABLE t (x int)", "INSERT INTO t VALUES (42)",
			"GRANT SELECT ON t TO " + quoteUser(s, user),
		}
	} else {
		stmts = []string{
			"CREATE USER " + quoteUser(s, user) + " IDENTIFIED BY '" + pw + "'",
			"CREATE TABLE t (x int)", "INSERT INTO t VALUES (42)",
			"GRANT SELECT ON `" + db + "`.* TO " + quoteUser(s, user),
		}
	}
	for _, q := range stmts {
		if _, err := conn.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db
}

// read logs in as user and reads t.
func read(s *testdb.Server, user, pw, db string) error {
	conn, err := sql.Open(driver(s), s.DSNFor(user, pw, db))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var x int
	if err := conn.QueryRowContext(ctx, "SELECT x FROM t").Scan(&x); err != nil {
		return err
	}
	if x != 42 {
		return fmt.Errorf("read %d", x)
	}
	return nil
}

type dbSecretJSON struct {
	Engine    string `json:"engine"`
	Host      string `json:"host"`
	Port      int    `json:"port"`
	Username  string `json:"username"`
	Password  string `json:"password"`
	DBName    string `json:"dbname"`
	MasterARN string `json:"masterarn,omitempty"`
	Extra     string `json:"extra,omitempty"`
}

func secretJSON(c dbCase, s *testdb.Server, user, pw, db, master string) string {
	b, _ := json.Marshal(dbSecretJSON{Engine: c.engine, Host: s.Host, Port: s.Port, Username: user, Password: pw, DBName: db, MasterARN: master, Extra: "kept"})
	return string(b)
}

func parse(t *testing.T, v string) dbSecretJSON {
	t.Helper()
	var d dbSecretJSON
	if err := json.Unmarshal([]byte(v), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

func newRotator(t *testing.T, c dbCase, strategy string) rotator.Rotator {
	t.Helper()
	r, err := rotator.New(rotator.Config{Name: "test-" + c.name, Type: c.typ, Strategy: strategy, Timeout: 20 * time.Second, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// quiet drops the rotators' step records, which would bury test failures.
var quiet = slog.New(slog.DiscardHandler)

const secretID = "arn:aws:secretsmanager:us-east-1:111122223333:secret:app-AbCdEf"
const masterID = "arn:aws:secretsmanager:us-east-1:111122223333:secret:master-GhIjKl"

func TestRotateSingleUser(t *testing.T) {
	for _, c := range dbCases {
		t.Run(c.name, func(t *testing.T) {
			s := c.shared(t)
			user, pw0 := testdb.UniqueName("app"), "initial-Pw0"
			db := setup(t, s, user, pw0)
			f := newFakeSecrets()
			f.create(secretID, secretJSON(c, s, user, pw0, db, ""))
			r := newRotator(t, c, rotator.SingleUser)
			ctx := context.Background()
			prevPW, prevVersion := pw0, "v0"
			for i := 1; i <= 2; i++ {
				token := fmt.Sprintf("tok-%d-0000-0000-0000-000000000000", i)
				if err := rotate(ctx, r, f, secretID, token); err != nil {
					t.Fatalf("rotation %d: %v", i, err)
				}
				v, val := f.current(secretID)
				if v != token || f.stage(secretID, "AWSPREVIOUS") != prevVersion {
					t.Fatalf("AWSCURRENT %s AWSPREVIOUS %s, want %s %s", v, f.stage(secretID, "AWSPREVIOUS"), token, prevVersion)
				}
				cur := parse(t, val)
				if cur.Username != user || cur.Password == prevPW || len(cur.Password) != 32 || cur.Extra != "kept" {
					t.Fatalf("new version: user %s, password changed %v, length %d, extra %q", cur.Username, cur.Password != prevPW, len(cur.Password), cur.Extra)
				}
				if strings.ContainsAny(cur.Password, `/@"'\`) {
					t.Fatal("password has an excluded character")
				}
				if err := read(s, user, cur.Password, db); err != nil {
					t.Fatalf("new password: %v", err)
				}
				if err := read(s, user, prevPW, db); err == nil {
					t.Fatal("the old password still logs in")
				}
				prevPW, prevVersion = cur.Password, token
			}
		})
	}
}

func TestRotateAlternatingUsers(t *testing.T) {
	for _, c := range dbCases {
		t.Run(c.name, func(t *testing.T) {
			s := c.shared(t)
			user, pw0 := testdb.UniqueName("app"), "initial-Pw0"
			db := setup(t, s, user, pw0)
			f := newFakeSecrets()
			f.create(masterID, secretJSON(c, s, s.User, s.Password, s.Database, ""))
			f.create(secretID, secretJSON(c, s, user, pw0, db, masterID))
			r := newRotator(t, c, rotator.AlternatingUsers)
			ctx := context.Background()
			creds := map[string]string{user: pw0} // the latest password of each user
			wantUser := []string{user + "_clone", user, user + "_clone"}
			for i := 1; i <= 3; i++ {
				token := fmt.Sprintf("tok-%d-0000-0000-0000-000000000000", i)
				if err := rotate(ctx, r, f, secretID, token); err != nil {
					t.Fatalf("rotation %d: %v", i, err)
				}
				_, val := f.current(secretID)
				cur := parse(t, val)
				if cur.Username != wantUser[i-1] || cur.MasterARN != masterID {
					t.Fatalf("rotation %d: user %s masterarn %s, want %s", i, cur.Username, cur.MasterARN, wantUser[i-1])
				}
				if err := read(s, cur.Username, cur.Password, db); err != nil {
					t.Fatalf("rotation %d: the new user cannot read with the new password (grants not cloned?): %v", i, err)
				}
				if old, ok := creds[cur.Username]; ok {
					if err := read(s, cur.Username, old, db); err == nil {
						t.Fatalf("rotation %d: %s's previous password still logs in", i, cur.Username)
					}
				}
				// The other user, which AWSPREVIOUS names, still works.
				prev, err := f.GetSecretValue(ctx, secretID, "", "AWSPREVIOUS")
				if err != nil {
					t.Fatal(err)
				}
				p := parse(t, prev.SecretString)
				if err := read(s, p.Username, p.Password, db); err != nil {
					t.Fatalf("rotation %d: AWSPREVIOUS (%s) stopped working: %v", i, p.Username, err)
				}
				creds[cur.Username] = cur.Password
			}
			// The master secret is untouched.
			if v, _ := f.current(masterID); v != "v0" {
				t.Fatal("the master secret changed")
			}
		})
	}
}

// TestStepsRepeat runs every step twice and the whole rotation again after
// it finished: each must be a no-op the second time.
func TestStepsRepeat(t *testing.T) {
	for _, c := range dbCases {
		for _, strategy := range []string{rotator.SingleUser, rotator.AlternatingUsers} {
			t.Run(c.name+"/"+strategy, func(t *testing.T) {
				s := c.shared(t)
				user, pw0 := testdb.UniqueName("app"), "initial-Pw0"
				db := setup(t, s, user, pw0)
				f := newFakeSecrets()
				f.create(masterID, secretJSON(c, s, s.User, s.Password, s.Database, ""))
				f.create(secretID, secretJSON(c, s, user, pw0, db, masterID))
				r := newRotator(t, c, strategy)
				ctx := context.Background()
				token := "tok-rep-0000-0000-0000-000000000000"
				f.startRotation(secretID, token)
				var pending string
				for _, step := range []string{rotator.CreateSecret, rotator.SetSecret, rotator.TestSecret, rotator.FinishSecret} {
					for n := 0; n < 2; n++ {
						if err := r.Rotate(ctx, f, rotator.Request{SecretID: secretID, ClientRequestToken: token, Step: step}); err != nil {
							t.Fatalf("%s #%d: %v", step, n+1, err)
						}
						if step == rotator.CreateSecret {
							v := *f.value(secretID, token)
							if n == 1 && v != pending {
								t.Fatal("a repeated createSecret changed the pending value")
							}
							pending = v
						}
					}
				}
				if v, _ := f.current(secretID); v != token {
					t.Fatalf("AWSCURRENT on %s", v)
				}
				if err := rotate(ctx, r, f, secretID, token); err != nil {
					t.Fatalf("repeating a finished rotation: %v", err)
				}
				if _, val := f.current(secretID); val != pending {
					t.Fatal("repeating a finished rotation changed the secret")
				}
			})
		}
	}
}

// TestNoOutage runs an application that logs in with AWSCURRENT in a loop
// while rotations run, re-reading AWSCURRENT (with a bounded backoff) when a
// login fails, as AWS recommends. No operation may fail; with alternating
// users not even a first attempt may fail, unless two rotations began
// between its read of AWSCURRENT and its login (the second changes the
// password the first left valid: alternating users promise only that the
// previous version works until the next rotation, and a loaded machine
// can stretch one login over two rotations 30 ms apart).
func TestNoOutage(t *testing.T) {
	for _, c := range dbCases {
		for _, strategy := range []string{rotator.SingleUser, rotator.AlternatingUsers} {
			t.Run(c.name+"/"+strategy, func(t *testing.T) {
				s := c.shared(t)
				user, pw0 := testdb.UniqueName("app"), "initial-Pw0"
				db := setup(t, s, user, pw0)
				f := newFakeSecrets()
				f.create(masterID, secretJSON(c, s, s.User, s.Password, s.Database, ""))
				f.create(secretID, secretJSON(c, s, user, pw0, db, masterID))
				r := newRotator(t, c, strategy)
				ctx := context.Background()

				var ops, firstFailures, overtaken, failed atomic.Int64
				var rotStarted, rotDone atomic.Int64
				var failure, firstFailure atomic.Value
				stop := make(chan struct{})
				var wg sync.WaitGroup
				wg.Add(1)
				go func() {
					defer wg.Done()
					deadline := time.Now().Add(2 * time.Minute) // bounded, whatever happens
					for time.Now().Before(deadline) {
						select {
						case <-stop:
							return
						default:
						}
						ops.Add(1)
						var err error
						for attempt, backoff := 0, 10*time.Millisecond; attempt < 8; attempt, backoff = attempt+1, backoff*2 {
							done := rotDone.Load()
							v, _ := f.GetSecretValue(ctx, secretID, "", "AWSCURRENT")
							cur := parse(t, v.SecretString)
							if err = read(s, cur.Username, cur.Password, db); err == nil {
								break
							}
							if attempt == 0 {
								if rotStarted.Load()-done >= 2 {
									overtaken.Add(1)
								} else {
									firstFailures.Add(1)
									firstFailure.Store(err.Error())
								}
							}
							time.Sleep(backoff)
						}
						if err != nil {
							failed.Add(1)
							failure.Store(err.Error())
						}
					}
				}()
				for i := 1; i <= 3; i++ {
					time.Sleep(30 * time.Millisecond)
					rotStarted.Add(1)
					if err := rotate(ctx, r, f, secretID, fmt.Sprintf("tok-%d-0000-0000-0000-000000000000", i)); err != nil {
						t.Errorf("rotation %d: %v", i, err)
					}
					rotDone.Add(1)
				}
				time.Sleep(30 * time.Millisecond)
				close(stop)
				wg.Wait()
				t.Logf("%s/%s: %d logins during 3 rotations, %d first attempts failed and were retried (%d more overtaken by two rotations), %d failed",
					c.name, strategy, ops.Load(), firstFailures.Load(), overtaken.Load(), failed.Load())
				if ops.Load() < 3 {
					t.Fatalf("only %d logins ran", ops.Load())
				}
				if failed.Load() != 0 {
					t.Fatalf("%d operations failed: %v", failed.Load(), failure.Load())
				}
				if strategy == rotator.AlternatingUsers && firstFailures.Load() != 0 {
					t.Fatalf("alternating users: %d first attempts failed, e.g. %v", firstFailures.Load(), firstFailure.Load())
				}
			})
		}
	}
}

// TestDatabaseDown rotates while the database is stopped: the rotation
// fails cleanly (AWSCURRENT untouched, AWSPENDING kept, no password in the
// error), and the retry with the same token succeeds once it is back.
func TestDatabaseDown(t *testing.T) {
	for _, c := range dbCases {
		for _, strategy := range []string{rotator.SingleUser, rotator.AlternatingUsers} {
			t.Run(c.name+"/"+strategy, func(t *testing.T) {
				t.Parallel()
				s := c.private(t)
				user, pw0 := testdb.UniqueName("app"), "initial-Pw0"
				db := setup(t, s, user, pw0)
				f := newFakeSecrets()
				f.create(masterID, secretJSON(c, s, s.User, s.Password, s.Database, ""))
				f.create(secretID, secretJSON(c, s, user, pw0, db, masterID))
				r := newRotator(t, c, strategy)
				ctx := context.Background()
				token := "tok-down-0000-0000-0000-000000000000"

				if err := s.Stop(); err != nil {
					t.Fatal(err)
				}
				err := rotate(ctx, r, f, secretID, token)
				if err == nil {
					t.Fatal("rotation succeeded with the database down")
				}
				pending := f.value(secretID, token)
				if pending == nil || f.stage(secretID, "AWSPENDING") != token {
					t.Fatal("AWSPENDING was not kept for the retry")
				}
				if v, _ := f.current(secretID); v != "v0" {
					t.Fatalf("AWSCURRENT moved to %s", v)
				}
				for _, pw := range []string{pw0, parse(t, *pending).Password, s.Password} {
					if strings.Contains(err.Error(), pw) {
						t.Fatalf("the error contains a password: %v", err)
					}
				}
				t.Logf("rotation with the database down: %v", err)

				if err := s.Start(); err != nil {
					t.Fatal(err)
				}
				if err := rotate(ctx, r, f, secretID, token); err != nil {
					t.Fatalf("retry: %v", err)
				}
				v, val := f.current(secretID)
				cur := parse(t, val)
				if v != token || val != *pending {
					t.Fatal("the retry did not finish with the kept AWSPENDING version")
				}
				if err := read(s, cur.Username, cur.Password, db); err != nil {
					t.Fatalf("new credentials: %v", err)
				}
				if strategy == rotator.SingleUser {
					if err := read(s, user, pw0, db); err == nil {
						t.Fatal("the old password still logs in")
					}
				}
			})
		}
	}
}

// TestHostileValues rotates a user whose name and passwords contain quotes,
// backslashes, SQL comment and dollar-quote characters and non-ASCII text:
// quoting must keep them data.
func TestHostileValues(t *testing.T) {
	passwords := []string{`p'a"s\s;--$$x'); DROP TABLE t; --`, `pä'ss"wörd\ ünïcode`, `''\'\\"`}
	for _, c := range dbCases {
		t.Run(c.name, func(t *testing.T) {
			s := c.shared(t)
			user := testdb.UniqueName(`o'ha"ra`)
			db := setup(t, s, user, "initial-Pw0")
			f := newFakeSecrets()
			f.create(secretID, secretJSON(c, s, user, "initial-Pw0", db, ""))
			i := 0
			f.password = func() string { p := passwords[i%len(passwords)]; i++; return p }
			r := newRotator(t, c, rotator.SingleUser)
			prev := "initial-Pw0"
			for n := range passwords {
				if err := rotate(context.Background(), r, f, secretID, fmt.Sprintf("tok-%d-hostile", n)); err != nil {
					t.Fatalf("rotation %d: %v", n, err)
				}
				if err := read(s, user, passwords[n], db); err != nil {
					t.Fatalf("password %d does not log in: %v", n, err)
				}
				if err := read(s, user, prev, db); err == nil {
					t.Fatalf("password before %d still logs in", n)
				}
				prev = passwords[n]
			}
			if err := read(s, user, prev, db); err != nil {
				t.Fatal("table t is gone")
			}
		})
	}
}

func TestBadSecrets(t *testing.T) {
	ctx := context.Background()
	const pw = "Sup3r-s3cret-value"
	for _, tc := range []struct {
		name, value, want string
	}{
		{"not json", "Sup3r-s3cret-value", "not a JSON object"},
		{"no host", `{"username":"u","password":"` + pw + `"}`, "field host is missing"},
		{"no password", `{"host":"127.0.0.1","username":"u"}`, "field password is missing"},
		{"engine", `{"engine":"oracle","host":"127.0.0.1","username":"u","password":"` + pw + `"}`, "engine must be set to postgres"},
		{"host", `{"host":"h/?sslmode=disable","username":"u","password":"` + pw + `"}`, "field host is not a host name"},
		{"port", `{"host":"h","port":"x","username":"u","password":"` + pw + `"}`, "field port must be a number"},
		{"port type", `{"host":"h","port":70000,"username":"u","password":"` + pw + `"}`, "field port must be a number"},
		{"username type", `{"host":"h","username":7,"password":"` + pw + `"}`, "field username must be a string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeSecrets()
			f.create(secretID, tc.value)
			r := newRotator(t, dbCases[0], rotator.SingleUser)
			err := rotate(ctx, r, f, secretID, "tok-bad")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), pw) {
				t.Fatalf("the error contains the password: %v", err)
			}
		})
	}
}

func TestVersionChecks(t *testing.T) {
	ctx := context.Background()
	f := newFakeSecrets()
	f.create(secretID, `{"host":"127.0.0.1","username":"u","password":"p"}`)
	r := newRotator(t, dbCases[0], rotator.SingleUser)
	err := r.Rotate(ctx, f, rotator.Request{SecretID: secretID, ClientRequestToken: "nope", Step: rotator.SetSecret})
	if err == nil || !strings.Contains(err.Error(), "has no stage for rotation") {
		t.Fatalf("unknown version: %v", err)
	}
	// The AWSCURRENT version: nothing to do, whatever the step.
	for _, step := range []string{rotator.CreateSecret, rotator.SetSecret, rotator.TestSecret, rotator.FinishSecret} {
		if err := r.Rotate(ctx, f, rotator.Request{SecretID: secretID, ClientRequestToken: "v0", Step: step}); err != nil {
			t.Fatalf("%s on AWSCURRENT: %v", step, err)
		}
	}
	f.startRotation(secretID, "t1")
	f.startRotation(secretID, "t2") // t1 loses AWSPENDING
	err = r.Rotate(ctx, f, rotator.Request{SecretID: secretID, ClientRequestToken: "t1", Step: rotator.SetSecret})
	if err == nil || !strings.Contains(err.Error(), "has no stage") {
		t.Fatalf("version without AWSPENDING: %v", err)
	}
	err = r.Rotate(ctx, f, rotator.Request{SecretID: secretID, ClientRequestToken: "t2", Step: "rotateSecret"})
	if err == nil || !strings.Contains(err.Error(), "invalid step") {
		t.Fatalf("bad step: %v", err)
	}
	if _, err := f.GetSecretValue(ctx, "missing", "", ""); !errors.Is(err, rotator.ErrNotFound) {
		t.Fatal("fake does not wrap ErrNotFound")
	}
}
