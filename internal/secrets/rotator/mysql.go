package rotator

import (
	"context"
	"database/sql"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mysqlEngine is the MySQL and MariaDB engine (github.com/go-sql-driver/mysql).
// Users are the accounts NAME@'%', as in AWS's templates.
type mysqlEngine struct{}

func (mysqlEngine) engines() []string { return []string{"mysql", "mariadb"} }
func (mysqlEngine) defaultPort() int  { return 3306 }
func (mysqlEngine) defaultDB() string { return "" }
func (mysqlEngine) maxUsername() int  { return 32 } // MySQL's limit; MariaDB allows 80

func (mysqlEngine) login(ctx context.Context, s *dbSecret, timeout time.Duration) (dbConn, error) {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.DBName = s.username, s.password, s.dbname
	cfg.Net, cfg.Addr = "tcp", net.JoinHostPort(s.host, strconv.Itoa(s.port))
	cfg.Timeout = min(timeout, 10*time.Second)
	cfg.TLSConfig = "preferred"
	// Client-side interpolation escapes the password for the server's
	// current sql_mode (NO_BACKSLASH_ESCAPES included); ALTER USER cannot
	// be a server-side prepared statement with a password parameter.
	cfg.InterpolateParams = true
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return &myConn{db: db}, nil
}

type myConn struct{ db *sql.DB }

func (m *myConn) close() { m.db.Close() }

// account quotes NAME@'%' with backquotes, which no sql_mode changes.
func account(user string) string {
	return "`" + strings.ReplaceAll(user, "`", "``") + "`@`%`"
}

// setOwnPassword uses SET PASSWORD, which needs no privilege for one's own
// account (ALTER USER needs CREATE USER on MariaDB). MariaDB and MySQL
// before 5.7 take the PASSWORD() function; MySQL 5.7 and later take the
// password itself, as in AWS's MySQL template.
func (m *myConn) setOwnPassword(ctx context.Context, password string) error {
	var version string
	if err := m.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		return err
	}
	stmt := "SET PASSWORD = ?"
	if strings.Contains(strings.ToLower(version), "mariadb") || strings.HasPrefix(version, "5.5.") || strings.HasPrefix(version, "5.6.") {
		stmt = "SET PASSWORD = PASSWORD(?)"
	}
	_, err := m.db.ExecContext(ctx, stmt, password)
	return err
}

// setUserPassword follows AWS's alternating-users template: a missing user
// is created and given every grant of like.
func (m *myConn) setUserPassword(ctx context.Context, like, user, password string) error {
	var n int
	if err := m.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = '%'", user).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		if _, err := m.db.ExecContext(ctx, "CREATE USER "+account(user)+" IDENTIFIED BY ?", password); err != nil {
			return err
		}
		rows, err := m.db.QueryContext(ctx, "SHOW GRANTS FOR "+account(like))
		if err != nil {
			return err
		}
		var grants []string
		for rows.Next() {
			var g string
			if err := rows.Scan(&g); err != nil {
				rows.Close()
				return err
			}
			grants = append(grants, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, g := range grants {
			// "GRANT … TO `like`@`%` [IDENTIFIED BY PASSWORD '…'] [WITH …]":
			// keep what is granted and name the new grantee.
			i := strings.LastIndex(g, " TO ")
			if i < 0 || strings.HasPrefix(g, "GRANT PROXY") {
				continue
			}
			// No arguments: the text is sent as it is, even with a "?" in it.
			if _, err := m.db.ExecContext(ctx, g[:i]+" TO "+account(user)); err != nil {
				return err
			}
		}
	}
	_, err := m.db.ExecContext(ctx, "ALTER USER "+account(user)+" IDENTIFIED BY ?", password)
	return err
}
