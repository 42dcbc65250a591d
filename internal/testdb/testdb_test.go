package testdb_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/testdb"
)

func login(t *testing.T, s *testdb.Server, user, password, database string) error {
	t.Helper()
	driver := "mysql"
	if s.Engine == testdb.EnginePostgres {
		driver = "pgx"
	}
	db, err := sql.Open(driver, s.DSNFor(user, password, database))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

func TestServers(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *testdb.Server
	}{
		{"postgres", testdb.Postgres},
		{"mariadb", testdb.MariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			if s2 := tc.start(t); s2 != s {
				t.Fatal("second call started a second shared server")
			}
			if s.Host != "127.0.0.1" || s.Port == 0 {
				t.Fatalf("address %s", s.Addr())
			}
			db := s.NewDatabase(t)
			if err := login(t, s, s.User, s.Password, db); err != nil {
				t.Fatalf("admin login to %s: %v", db, err)
			}
			if err := login(t, s, s.User, s.Password+"x", db); err == nil {
				t.Fatal("a wrong password logged in: the server does not check passwords over TCP")
			}
			user := testdb.UniqueName("u")
			if s.Engine == testdb.EnginePostgres {
				s.Exec(t, "CREATE ROLE "+user+" LOGIN PASSWORD 'pw1'")
			} else {
				s.Exec(t, "CREATE USER '"+user+"'@'%' IDENTIFIED BY 'pw1'")
				s.Exec(t, "GRANT ALL ON "+db+".* TO '"+user+"'@'%'")
			}
			if err := login(t, s, user, "pw1", db); err != nil {
				t.Fatalf("new user login: %v", err)
			}
			if err := s.Stop(); err == nil {
				t.Fatal("a shared server could be stopped")
			}
		})
	}
}

func TestPrivateStopStart(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(testing.TB) *testdb.Server
	}{
		{"postgres", testdb.StartPostgres},
		{"mariadb", testdb.StartMariaDB},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t)
			db := s.NewDatabase(t)
			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
			if s.Running() {
				t.Fatal("running after Stop")
			}
			err := login(t, s, s.User, s.Password, db)
			if err == nil {
				t.Fatal("logged in to a stopped server")
			}
			if strings.Contains(err.Error(), s.Password) {
				t.Fatal("driver error contains the password")
			}
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			if err := login(t, s, s.User, s.Password, db); err != nil {
				t.Fatalf("after restart: %v", err)
			}
		})
	}
}
