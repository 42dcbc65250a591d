// Package testdb starts real database servers for tests: PostgreSQL 15
// (Debian's postgresql) and MariaDB (Debian's mariadb-server), each in a
// temporary directory on a free loopback port, with an administrator
// account that logs in with a password over TCP.
//
// Postgres and MariaDB return one server shared by every test of the test
// binary (started on first use; give each test its own database with
// NewDatabase and its own roles). StartPostgres and StartMariaDB start a
// private server, stopped and removed at the test's cleanup, that the test
// may Stop and Start again (to test behaviour while the database is down).
//
// When the server binaries are missing the test is skipped with a message
// naming the Debian package, unless CI=true, where it fails.
//
// A shared server lives as long as the test binary: it is started with a
// parent-death signal, so it shuts itself down when the binary exits, and the
// directories of servers whose test binary is gone are removed by the next
// start.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Engines.
const (
	EnginePostgres = "postgres"
	EngineMySQL    = "mysql"
)

// Where Debian installs the servers.
var (
	pgBin      = "/usr/lib/postgresql/15/bin"
	mariadbd   = "/usr/sbin/mariadbd"
	installDB  = "/usr/bin/mariadb-install-db"
	startLimit = 60 * time.Second
)

// Server is a running database server.
type Server struct {
	// Engine is EnginePostgres or EngineMySQL.
	Engine string
	// Host is the loopback address the server listens on.
	Host string
	// Port is its TCP port.
	Port int
	// User and Password are the administrator's: a superuser on
	// PostgreSQL, a user with ALL PRIVILEGES WITH GRANT OPTION on MariaDB.
	User     string
	Password string
	// Database is the database the administrator connects to by default
	// ("postgres" or "mysql").
	Database string

	dir    string // the temporary directory holding data, socket and log
	shared bool
	// tlsQuery replaces sslmode=disable in PostgreSQL DSNs once EnableTLS
	// has run.
	tlsQuery string

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{} // closed when proc has exited
	werr error         // proc's exit status, valid once done is closed
}

// DSN is the administrator's connection string for the default database,
// in the form the engine's Go driver takes (pgx URL, go-sql-driver DSN).
func (s *Server) DSN() string { return s.DSNFor(s.User, s.Password, s.Database) }

// DSNFor is a connection string for user, password and database on this
// server: a postgres:// URL for pgx, or a go-sql-driver/mysql DSN.
func (s *Server) DSNFor(user, password, database string) string {
	if s.Engine == EnginePostgres {
		u := url.URL{
			Scheme:   "postgres",
			User:     url.UserPassword(user, password),
			Host:     net.JoinHostPort(s.Host, strconv.Itoa(s.Port)),
			Path:     "/" + database,
			RawQuery: "sslmode=disable&connect_timeout=5",
		}
		if s.tlsQuery != "" {
			u.RawQuery = s.tlsQuery + "&connect_timeout=5"
		}
		return u.String()
	}
	c := mysql.NewConfig()
	c.User, c.Passwd, c.DBName = user, password, database
	c.Net, c.Addr = "tcp", net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
	c.Timeout = 5 * time.Second
	return c.FormatDSN()
}

// Addr is host:port.
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Open opens a database/sql handle as the administrator on database (the
// default database when empty), with driver "pgx" or "mysql".
func (s *Server) Open(database string) (*sql.DB, error) {
	if database == "" {
		database = s.Database
	}
	driver := "mysql"
	if s.Engine == EnginePostgres {
		driver = "pgx"
	}
	return sql.Open(driver, s.DSNFor(s.User, s.Password, database))
}

// Exec runs query as the administrator on the default database and fails
// the test on error.
func (s *Server) Exec(t testing.TB, query string, args ...any) {
	t.Helper()
	db, err := s.Open("")
	if err != nil {
		t.Fatalf("testdb: open: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("testdb: %s: %v", query, err)
	}
}

var nameSeq atomic.Int64

// UniqueName returns a lower-case identifier starting with prefix that no
// other call in this test binary returns, for databases and roles.
func UniqueName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s%d_%s", prefix, nameSeq.Add(1), hex.EncodeToString(b))
}

// NewDatabase creates an empty database for this test and drops it at the
// test's cleanup. It returns the database's name.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	name := UniqueName("t")
	s.Exec(t, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		if !s.Running() {
			return
		}
		db, err := s.Open("")
		if err != nil {
			return
		}
		defer db.Close()
		q := "DROP DATABASE IF EXISTS " + name
		if s.Engine == EnginePostgres {
			q += " WITH (FORCE)"
		}
		if _, err := db.Exec(q); err != nil {
			t.Logf("testdb: %s: %v", q, err)
		}
	})
	return name
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// Stop shuts the server down cleanly and waits for it, keeping its data,
// port and credentials for Start. Only private servers may be stopped.
func (s *Server) Stop() error {
	if s.shared {
		return errors.New("testdb: a shared server cannot be stopped; use StartPostgres or StartMariaDB")
	}
	return s.stop()
}

func (s *Server) stop() error {
	s.mu.Lock()
	proc, done := s.proc, s.done
	s.mu.Unlock()
	if proc == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	_ = proc.Process.Signal(s.stopSignal())
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = proc.Process.Kill()
		<-done
	}
	return nil
}

// Start starts a stopped private server again on the same port with the
// same data, and waits until it accepts logins.
func (s *Server) Start() error {
	if s.shared {
		return errors.New("testdb: a shared server is started by Postgres or MariaDB")
	}
	if s.Running() {
		return nil
	}
	return s.start()
}

func (s *Server) start() error {
	var cmd *exec.Cmd
	if s.Engine == EnginePostgres {
		cmd = exec.Command(filepath.Join(pgBin, "postgres"),
			"-D", filepath.Join(s.dir, "data"),
			"-p", strconv.Itoa(s.Port),
			"-c", "listen_addresses="+s.Host,
			"-c", "unix_socket_directories="+s.dir,
			// Test servers trade durability for speed.
			"-c", "fsync=off",
			"-c", "synchronous_commit=off",
			"-c", "full_page_writes=off",
			"-c", "max_connections=200",
			"-c", "shared_buffers=32MB",
		)
	} else {
		cmd = exec.Command(mariadbd,
			"--no-defaults",
			"--datadir="+filepath.Join(s.dir, "data"),
			"--socket="+s.socket(),
			"--tmpdir="+filepath.Join(s.dir, "tmp"),
			"--pid-file="+filepath.Join(s.dir, "mariadbd.pid"),
			"--port="+strconv.Itoa(s.Port),
			"--bind-address="+s.Host,
			"--skip-networking=0",
			"--skip-name-resolve",
			"--log-error="+filepath.Join(s.dir, "server.log"),
			"--innodb-buffer-pool-size=32M",
			"--innodb-log-file-size=16M",
			"--innodb-flush-log-at-trx-commit=0",
			"--innodb-doublewrite=0",
			"--skip-log-bin",
			"--max-connections=200",
		)
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "server.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd.Stdout, cmd.Stderr = log, log
	done := make(chan struct{})
	if err := startOwned(cmd, s.engineUser(), s.stopSignal(), func(err error) {
		s.mu.Lock()
		s.werr = err
		s.mu.Unlock()
		close(done)
	}); err != nil {
		return fmt.Errorf("testdb: starting %s: %w", s.Engine, err)
	}
	s.mu.Lock()
	s.proc, s.done = cmd, done
	s.mu.Unlock()
	_ = os.WriteFile(filepath.Join(s.dir, "server.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)

	deadline := time.Now().Add(startLimit)
	for {
		select {
		case <-done:
			s.mu.Lock()
			werr := s.werr
			s.mu.Unlock()
			return fmt.Errorf("testdb: %s exited during start (%v); log:\n%s", s.Engine, werr, s.logTail())
		default:
		}
		if err := s.ping(); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			_ = s.stop()
			return fmt.Errorf("testdb: %s not ready after %v: %v; log:\n%s", s.Engine, startLimit, err, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ping checks that the server accepts logins. MariaDB is checked through
// root on the Unix socket (the administrator does not exist on first start)
// and then for a TCP listener.
func (s *Server) ping() error {
	var db *sql.DB
	var err error
	if s.Engine == EngineMySQL {
		db, err = s.rootSocket()
	} else {
		db, err = s.Open("")
	}
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		return err
	}
	if s.Engine == EngineMySQL {
		c, err := net.DialTimeout("tcp", s.Addr(), 2*time.Second)
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}

func (s *Server) rootSocket() (*sql.DB, error) {
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr = "root", "unix", s.socket()
	return sql.Open("mysql", c.FormatDSN())
}

func (s *Server) socket() string { return filepath.Join(s.dir, "mysqld.sock") }

func (s *Server) logTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "server.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stopSignal is PostgreSQL's fast shutdown (SIGINT) or MariaDB's normal one
// (SIGTERM): both end sessions at once and leave no shared memory behind.
func (s *Server) stopSignal() syscall.Signal {
	if s.Engine == EnginePostgres {
		return syscall.SIGINT
	}
	return syscall.SIGTERM
}

// engineUser is the account the server runs as when the tests run as root
// (PostgreSQL refuses to run as root; MariaDB should not).
func (s *Server) engineUser() string {
	if s.Engine == EnginePostgres {
		return "postgres"
	}
	return "mysql"
}

// remove stops the server and deletes its directory.
func (s *Server) remove() {
	_ = s.stop()
	_ = os.RemoveAll(s.dir)
}

// startOwned starts cmd as account (when running as root) with a
// parent-death signal, and calls exited with cmd.Wait's result when it ends.
// PR_SET_PDEATHSIG fires when the creating OS thread exits, so the start and
// the wait run on one goroutine locked to its thread for the process's life.
func startOwned(cmd *exec.Cmd, account string, deathSig syscall.Signal, exited func(error)) error {
	attr := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: deathSig}
	if os.Geteuid() == 0 {
		uid, gid, err := lookupIDs(account)
		if err != nil {
			return err
		}
		// Go sets the parent-death signal after changing credentials, so the
		// kernel does not clear it.
		attr.Credential = &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}
	}
	cmd.SysProcAttr = attr
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		exited(cmd.Wait())
	}()
	return <-started
}

func lookupIDs(account string) (uint32, uint32, error) {
	u, err := user.Lookup(account)
	if err != nil {
		return 0, 0, fmt.Errorf("running as root needs the %q account to run the server as: %w", account, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("account %q has non-numeric ids", account)
	}
	return uint32(uid), uint32(gid), nil
}

// runAs runs a setup command (initdb, mariadb-install-db) to completion as
// account when running as root, returning its combined output on failure.
func runAs(account string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if os.Geteuid() == 0 {
		uid, gid, err := lookupIDs(account)
		if err != nil {
			return err
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: gid, NoSetGroups: true}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, out)
	}
	return nil
}

// need skips (or, under CI=true, fails) the test when a binary is missing.
func need(t testing.TB, pkg string, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := os.Stat(b); err != nil {
			msg := fmt.Sprintf("testdb: %s not found: install the Debian package %s", b, pkg)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newDir creates the server's directory, owned by account when running as
// root, and records the test binary's PID in it for sweepStale.
func newDir(account string) (string, error) {
	sweepStale()
	dir, err := os.MkdirTemp(baseDir(), "arca-testdb-")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return "", err
	}
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	if os.Geteuid() == 0 {
		uid, gid, err := lookupIDs(account)
		if err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		for _, d := range []string{dir, filepath.Join(dir, "tmp")} {
			if err := os.Chown(d, int(uid), int(gid)); err != nil {
				os.RemoveAll(dir)
				return "", err
			}
		}
	}
	return dir, nil
}

// baseDir is where server directories go: the temp dir, unless the tests
// run as root and the server's account could not reach it (TMPDIR under a
// private home), then /tmp.
func baseDir() string {
	base := os.TempDir()
	if os.Geteuid() != 0 {
		return base
	}
	for d := base; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return base
		}
	}
}

var sweepOnce sync.Once

// sweepStale removes the directories of earlier test binaries' servers
// once both the binary and its server have exited.
func sweepStale() {
	sweepOnce.Do(func() {
		dirs, _ := filepath.Glob(filepath.Join(baseDir(), "arca-testdb-*"))
		for _, d := range dirs {
			if alive(filepath.Join(d, "owner.pid")) || alive(filepath.Join(d, "server.pid")) {
				continue
			}
			if fi, err := os.Stat(d); err != nil || time.Since(fi.ModTime()) < time.Minute {
				continue // being set up right now
			}
			_ = os.RemoveAll(d)
		}
	})
}

// alive reports whether the process whose PID is in file exists.
func alive(file string) bool {
	b, err := os.ReadFile(file)
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// launch creates, initializes and starts a server of engine, retrying on
// another port if the chosen one was taken meanwhile.
func launch(engine string) (*Server, error) {
	s := &Server{Engine: engine, Host: "127.0.0.1", Password: randomPassword()}
	if engine == EnginePostgres {
		s.User, s.Database = "arca_admin", "postgres"
	} else {
		s.User, s.Database = "arca_admin", "mysql"
	}
	dir, err := newDir(s.engineUser())
	if err != nil {
		return nil, err
	}
	s.dir = dir
	if engine == EnginePostgres {
		err = s.initPostgres()
	} else {
		err = s.initMariaDB()
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if s.Port, err = freePort(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			break
		}
		if attempt == 2 || !strings.Contains(err.Error(), "in use") {
			break
		}
	}
	if err != nil {
		s.remove()
		return nil, err
	}
	if engine == EngineMySQL {
		if err := s.createMariaDBAdmin(); err != nil {
			s.remove()
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) initPostgres() error {
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.Password+"\n"), 0o600); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if uid, gid, err := lookupIDs(s.engineUser()); err == nil {
			_ = os.Chown(pwfile, int(uid), int(gid))
		}
	}
	defer os.Remove(pwfile)
	return runAs(s.engineUser(), filepath.Join(pgBin, "initdb"),
		"-D", filepath.Join(s.dir, "data"),
		"-U", s.User,
		"--pwfile="+pwfile,
		"--auth-local=trust",
		"--auth-host=scram-sha-256",
		"--encoding=UTF8", "--locale=C",
		"--no-sync", "--no-instructions",
	)
}

// initMariaDB runs mariadb-install-db. Each server has its own tmpdir:
// concurrent bootstraps sharing /tmp were seen to crash (signal 11 in
// ha_maria::drop_table); a failed bootstrap is retried once from scratch.
func (s *Server) initMariaDB() error {
	err := s.installMariaDB()
	if err != nil {
		_ = os.RemoveAll(filepath.Join(s.dir, "data"))
		err = s.installMariaDB()
	}
	return err
}

func (s *Server) installMariaDB() error {
	return runAs(s.engineUser(), installDB,
		"--no-defaults",
		"--datadir="+filepath.Join(s.dir, "data"),
		"--tmpdir="+filepath.Join(s.dir, "tmp"),
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
		"--innodb-buffer-pool-size=32M",
		"--innodb-log-file-size=16M",
	)
}

// createMariaDBAdmin creates the administrator, which logs in over TCP with
// a password, through root on the Unix socket (root has no password there
// after mariadb-install-db).
func (s *Server) createMariaDBAdmin() error {
	db, err := s.rootSocket()
	if err != nil {
		return err
	}
	defer db.Close()
	for _, q := range []string{
		"CREATE USER '" + s.User + "'@'%' IDENTIFIED BY '" + s.Password + "'",
		"GRANT ALL PRIVILEGES ON *.* TO '" + s.User + "'@'%' WITH GRANT OPTION",
	} {
		if _, err := db.Exec(q); err != nil {
			return fmt.Errorf("testdb: creating the MariaDB administrator: %w", err)
		}
	}
	return nil
}

// shared holds the one server per engine of this test binary.
type shared struct {
	once sync.Once
	srv  *Server
	err  error
}

var sharedServers = map[string]*shared{EnginePostgres: {}, EngineMySQL: {}}

func sharedServer(t testing.TB, engine string) *Server {
	t.Helper()
	sh := sharedServers[engine]
	sh.once.Do(func() {
		sh.srv, sh.err = launch(engine)
		if sh.srv != nil {
			sh.srv.shared = true
		}
	})
	if sh.err != nil {
		t.Fatalf("testdb: %v", sh.err)
	}
	return sh.srv
}

// Postgres returns this test binary's shared PostgreSQL server, starting it
// on first use. Use NewDatabase and test-specific roles; do not stop it.
func Postgres(t testing.TB) *Server {
	t.Helper()
	need(t, "postgresql", filepath.Join(pgBin, "initdb"), filepath.Join(pgBin, "postgres"))
	return sharedServer(t, EnginePostgres)
}

// MariaDB returns this test binary's shared MariaDB server, starting it on
// first use. Use NewDatabase and test-specific users; do not stop it.
func MariaDB(t testing.TB) *Server {
	t.Helper()
	need(t, "mariadb-server", mariadbd, installDB)
	return sharedServer(t, EngineMySQL)
}

// StartPostgres starts a PostgreSQL server for this test alone; it is
// stopped and removed at the test's cleanup.
func StartPostgres(t testing.TB) *Server {
	t.Helper()
	need(t, "postgresql", filepath.Join(pgBin, "initdb"), filepath.Join(pgBin, "postgres"))
	return private(t, EnginePostgres)
}

// StartMariaDB starts a MariaDB server for this test alone; it is stopped
// and removed at the test's cleanup.
func StartMariaDB(t testing.TB) *Server {
	t.Helper()
	need(t, "mariadb-server", mariadbd, installDB)
	return private(t, EngineMySQL)
}

func private(t testing.TB, engine string) *Server {
	t.Helper()
	s, err := launch(engine)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(s.remove)
	return s
}

// StopShared stops the shared servers and removes their directories. A
// TestMain may call it after m.Run; without it the servers stop when the
// test binary exits and their directories are removed by a later run.
func StopShared() {
	for _, sh := range sharedServers {
		if sh.srv != nil {
			sh.srv.remove()
		}
	}
}
