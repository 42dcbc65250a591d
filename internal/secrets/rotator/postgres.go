package rotator

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgres is the PostgreSQL engine (github.com/jackc/pgx/v5).
type postgres struct{}

func (postgres) engines() []string { return []string{"postgres"} }
func (postgres) defaultPort() int  { return 5432 }
func (postgres) defaultDB() string { return "postgres" }
func (postgres) maxUsername() int  { return 63 } // NAMEDATALEN-1

func (postgres) login(ctx context.Context, s *dbSecret, timeout time.Duration) (dbConn, error) {
	u := url.URL{
		Scheme: "postgres",
		User:   url.UserPassword(s.username, s.password),
		Host:   net.JoinHostPort(s.host, strconv.Itoa(s.port)),
		Path:   "/" + s.dbname,
	}
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// The parse error could quote the connection string.
		return nil, errors.New("invalid PostgreSQL connection settings in the secret")
	}
	cfg.ConnectTimeout = min(timeout, 10*time.Second)
	cfg.RuntimeParams["application_name"] = "arca-rotation"
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(ctx, "SELECT 1"); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	return &pgConn{c: c, user: s.username}, nil
}

type pgConn struct {
	c    *pgx.Conn
	user string
}

func (p *pgConn) close() { p.c.Close(context.Background()) }

func (p *pgConn) setOwnPassword(ctx context.Context, password string) error {
	return p.alterPassword(ctx, p.user, password)
}

// setUserPassword follows AWS's alternating-users template: a missing user
// is created as a member of like, so it holds like's privileges.
func (p *pgConn) setUserPassword(ctx context.Context, like, user, password string) error {
	var exists bool
	if err := p.c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)", user).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := p.c.Exec(ctx, "CREATE ROLE "+pgx.Identifier{user}.Sanitize()+" WITH LOGIN"); err != nil {
			return err
		}
		if _, err := p.c.Exec(ctx, "GRANT "+pgx.Identifier{like}.Sanitize()+" TO "+pgx.Identifier{user}.Sanitize()); err != nil {
			return err
		}
	}
	return p.alterPassword(ctx, user, password)
}

// alterPassword sets user's password. Utility statements take no bind
// parameters, so the statement is built here: the name is quoted as an
// identifier, and the password is sent as a SCRAM-SHA-256 verifier computed
// here (base64 and punctuation only, so it needs no escaping, and the
// server's statement log never sees the password). A password that is not
// printable ASCII, where SASLprep could change it, is quoted by the server's
// own format('%L') instead.
func (p *pgConn) alterPassword(ctx context.Context, user, password string) error {
	stmt := ""
	if printableASCII(password) {
		v, err := scramVerifier(password)
		if err != nil {
			return err
		}
		stmt = "ALTER ROLE " + pgx.Identifier{user}.Sanitize() + " WITH PASSWORD '" + v + "'"
	} else if err := p.c.QueryRow(ctx, "SELECT format('ALTER ROLE %I WITH PASSWORD %L', $1::text, $2::text)", user, password).Scan(&stmt); err != nil {
		return err
	}
	_, err := p.c.Exec(ctx, stmt)
	return err
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}

// scramIterations is PostgreSQL's default (scram_iterations).
const scramIterations = 4096

// scramVerifier returns the SCRAM-SHA-256 verifier PostgreSQL stores for
// password (RFC 5802/7677, as libpq's PQencryptPasswordConn computes it):
// SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
func scramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, scramIterations, sha256.Size)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	serverKey := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", scramIterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}
