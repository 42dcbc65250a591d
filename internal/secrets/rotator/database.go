package rotator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Staging labels.
const (
	stageCurrent  = "AWSCURRENT"
	stagePending  = "AWSPENDING"
	stagePrevious = "AWSPREVIOUS"
)

// Defaults of AWS's rotation templates.
const (
	passwordLength    = 32
	excludeCharacters = `/@"'\`
	cloneSuffix       = "_clone"
)

// dbEngine is what differs between PostgreSQL and MySQL/MariaDB.
type dbEngine interface {
	// engines lists the values accepted in the secret's "engine" field.
	engines() []string
	defaultPort() int
	defaultDB() string
	// maxUsername is the longest user name the server accepts.
	maxUsername() int
	// login connects with s's credentials and checks the connection works.
	login(ctx context.Context, s *dbSecret, timeout time.Duration) (dbConn, error)
}

// dbConn is a logged-in database session.
type dbConn interface {
	// setOwnPassword changes the logged-in user's own password.
	setOwnPassword(ctx context.Context, password string) error
	// setUserPassword sets user's password, creating user with the
	// privileges of like when it does not exist.
	setUserPassword(ctx context.Context, like, user, password string) error
	close()
}

// dbRotator rotates a database password with AWS's template logic.
type dbRotator struct {
	name        string
	engine      dbEngine
	alternating bool
	timeout     time.Duration
	log         *slog.Logger
}

// dbSecret is a database secret's JSON: AWS's fields (engine, host, port,
// username, password, dbname, masterarn) read from raw, which keeps every
// other field so a new version carries them over, as AWS's templates do.
type dbSecret struct {
	raw      map[string]any
	host     string
	port     int
	username string
	password string
	dbname   string
	master   string
}

func (r *dbRotator) Rotate(ctx context.Context, s Secrets, req Request) error {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.log.Info("rotation step", "rotator", r.name, "secret", req.SecretID, "token", req.ClientRequestToken, "step", req.Step)
	done, err := checkVersion(ctx, s, req)
	if err != nil || done {
		return err
	}
	switch req.Step {
	case CreateSecret:
		return r.create(ctx, s, req)
	case SetSecret:
		return r.set(ctx, s, req)
	case TestSecret:
		return r.test(ctx, s, req)
	case FinishSecret:
		return finish(ctx, s, req)
	}
	return fmt.Errorf("rotator %s: invalid step %q", r.name, req.Step)
}

// checkVersion is the templates' preamble: the token's version must be
// staged AWSPENDING, and one already AWSCURRENT has nothing left to do. A
// createSecret step whose version does not exist yet is accepted, for an
// engine that creates the version only when createSecret stores it.
func checkVersion(ctx context.Context, s Secrets, req Request) (done bool, err error) {
	d, err := s.DescribeSecret(ctx, req.SecretID)
	if err != nil {
		return false, fmt.Errorf("describe secret %s: %w", req.SecretID, err)
	}
	stages, ok := d.VersionIDsToStages[req.ClientRequestToken]
	switch {
	case !ok && req.Step == CreateSecret:
		return false, nil
	case !ok:
		return false, fmt.Errorf("secret version %s has no stage for rotation of secret %s", req.ClientRequestToken, req.SecretID)
	case slices.Contains(stages, stageCurrent):
		return true, nil
	case !slices.Contains(stages, stagePending):
		return false, fmt.Errorf("secret version %s not set as AWSPENDING for rotation of secret %s", req.ClientRequestToken, req.SecretID)
	}
	return false, nil
}

// create stores a new AWSPENDING version for the token, unless it exists:
// the current secret with a new random password and, for alternating users,
// the other user's name.
func (r *dbRotator) create(ctx context.Context, s Secrets, req Request) error {
	cur, err := r.secret(ctx, s, req.SecretID, "", stageCurrent)
	if err != nil {
		return err
	}
	_, err = s.GetSecretValue(ctx, req.SecretID, req.ClientRequestToken, stagePending)
	if err == nil {
		return nil
	}
	if !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("get AWSPENDING of secret %s: %w", req.SecretID, err)
	}
	next := make(map[string]any, len(cur.raw))
	for k, v := range cur.raw {
		next[k] = v
	}
	if r.alternating {
		alt, err := r.altUsername(cur.username)
		if err != nil {
			return err
		}
		next["username"] = alt
	}
	pw, err := s.GetRandomPassword(ctx, passwordLength, excludeCharacters)
	if err != nil {
		return fmt.Errorf("generate a password for secret %s: %w", req.SecretID, err)
	}
	next["password"] = pw
	b, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("encode the new version of secret %s: %w", req.SecretID, err)
	}
	if err := s.PutSecretValue(ctx, req.SecretID, req.ClientRequestToken, string(b), []string{stagePending}); err != nil {
		return fmt.Errorf("put AWSPENDING of secret %s: %w", req.SecretID, err)
	}
	r.log.Info("rotation: created AWSPENDING", "rotator", r.name, "secret", req.SecretID, "token", req.ClientRequestToken)
	return nil
}

// altUsername is the other user of the pair: NAME and NAME_clone.
func (r *dbRotator) altUsername(u string) (string, error) {
	if base, ok := strings.CutSuffix(u, cloneSuffix); ok && base != "" {
		return base, nil
	}
	alt := u + cloneSuffix
	if len(alt) > r.engine.maxUsername() {
		return "", fmt.Errorf("unable to clone user %s: the name with %s appended would exceed %d characters", u, cloneSuffix, r.engine.maxUsername())
	}
	return alt, nil
}

// set makes the database accept the AWSPENDING password. It does nothing
// when the pending credentials already log in (a retry after the password
// was set), so it can be repeated.
func (r *dbRotator) set(ctx context.Context, s Secrets, req Request) error {
	cur, err := r.secret(ctx, s, req.SecretID, "", stageCurrent)
	if err != nil {
		return err
	}
	pend, err := r.secret(ctx, s, req.SecretID, req.ClientRequestToken, stagePending)
	if err != nil {
		return err
	}
	if c, err := r.engine.login(ctx, pend, r.timeout); err == nil {
		c.close()
		r.log.Info("rotation: AWSPENDING already logs in", "rotator", r.name, "secret", req.SecretID)
		return nil
	}
	if pend.host != cur.host {
		return fmt.Errorf("secret %s: attempting to modify user for host %s other than current host %s", req.SecretID, pend.host, cur.host)
	}
	if r.alternating {
		return r.setAlternating(ctx, s, req, cur, pend)
	}
	if pend.username != cur.username {
		return fmt.Errorf("secret %s: attempting to modify user %s other than current user %s", req.SecretID, pend.username, cur.username)
	}
	conn, err := r.engine.login(ctx, cur, r.timeout)
	if err != nil {
		// The current password may have been changed outside the rotation
		// and back: AWS's template also tries AWSPREVIOUS.
		if prev, perr := r.secret(ctx, s, req.SecretID, "", stagePrevious); perr == nil && prev.username == cur.username {
			if c, lerr := r.engine.login(ctx, prev, r.timeout); lerr == nil {
				conn, err = c, nil
			}
		}
		if err != nil {
			return fmt.Errorf("unable to log into database with previous, current, or pending secret of secret %s: %w", req.SecretID, err)
		}
	}
	defer conn.close()
	if err := conn.setOwnPassword(ctx, pend.password); err != nil {
		return fmt.Errorf("set the AWSPENDING password of user %s for secret %s: %w", pend.username, req.SecretID, err)
	}
	r.log.Info("rotation: password set", "rotator", r.name, "secret", req.SecretID, "user", pend.username)
	return nil
}

// setAlternating uses the master secret named by masterarn to set the
// other user's password, creating that user if needed.
func (r *dbRotator) setAlternating(ctx context.Context, s Secrets, req Request, cur, pend *dbSecret) error {
	alt, err := r.altUsername(cur.username)
	if err != nil {
		return err
	}
	if pend.username != alt {
		return fmt.Errorf("secret %s: attempting to modify user %s other than current user or clone %s", req.SecretID, pend.username, alt)
	}
	if cur.master == "" {
		return fmt.Errorf("secret %s: the alternating-users strategy needs the field masterarn naming the master secret", req.SecretID)
	}
	master, err := r.secret(ctx, s, cur.master, "", stageCurrent)
	if err != nil {
		return err
	}
	if master.host != cur.host {
		return fmt.Errorf("secret %s: current database host %s is not the same host as the master secret's %s", req.SecretID, cur.host, master.host)
	}
	conn, err := r.engine.login(ctx, master, r.timeout)
	if err != nil {
		return fmt.Errorf("unable to log into database using credentials in master secret %s: %w", cur.master, err)
	}
	defer conn.close()
	if err := conn.setUserPassword(ctx, cur.username, pend.username, pend.password); err != nil {
		return fmt.Errorf("set the AWSPENDING password of user %s for secret %s: %w", pend.username, req.SecretID, err)
	}
	r.log.Info("rotation: password set", "rotator", r.name, "secret", req.SecretID, "user", pend.username)
	return nil
}

// test logs in with the AWSPENDING credentials.
func (r *dbRotator) test(ctx context.Context, s Secrets, req Request) error {
	pend, err := r.secret(ctx, s, req.SecretID, req.ClientRequestToken, stagePending)
	if err != nil {
		return err
	}
	c, err := r.engine.login(ctx, pend, r.timeout)
	if err != nil {
		return fmt.Errorf("unable to log into database with pending secret of secret %s: %w", req.SecretID, err)
	}
	c.close()
	return nil
}

// finish moves AWSCURRENT to the token's version; the engine moves
// AWSPREVIOUS to the version that loses AWSCURRENT.
func finish(ctx context.Context, s Secrets, req Request) error {
	d, err := s.DescribeSecret(ctx, req.SecretID)
	if err != nil {
		return fmt.Errorf("describe secret %s: %w", req.SecretID, err)
	}
	current := ""
	for v, stages := range d.VersionIDsToStages {
		if slices.Contains(stages, stageCurrent) {
			if v == req.ClientRequestToken {
				return nil
			}
			current = v
			break
		}
	}
	if err := s.UpdateSecretVersionStage(ctx, req.SecretID, stageCurrent, req.ClientRequestToken, current); err != nil {
		return fmt.Errorf("move AWSCURRENT of secret %s to version %s: %w", req.SecretID, req.ClientRequestToken, err)
	}
	return nil
}

// secret reads and checks one version of a database secret.
func (r *dbRotator) secret(ctx context.Context, s Secrets, id, version, stage string) (*dbSecret, error) {
	v, err := s.GetSecretValue(ctx, id, version, stage)
	if err != nil {
		return nil, fmt.Errorf("get %s of secret %s: %w", stage, id, err)
	}
	return parseDBSecret(v.SecretString, id, stage, r.engine)
}

// parseDBSecret parses and checks a database secret. Its errors name fields,
// never values.
func parseDBSecret(text, id, stage string, e dbEngine) (*dbSecret, error) {
	var raw map[string]any
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, fmt.Errorf("secret %s (%s) is not a JSON object", id, stage)
	}
	str := func(k string) (string, error) {
		v, ok := raw[k]
		if !ok || v == nil {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("secret %s (%s): field %s must be a string", id, stage, k)
		}
		return s, nil
	}
	d := &dbSecret{raw: raw}
	var err error
	fields := []struct {
		key string
		dst *string
	}{{"host", &d.host}, {"username", &d.username}, {"password", &d.password}, {"dbname", &d.dbname}, {"masterarn", &d.master}}
	for _, f := range fields {
		if *f.dst, err = str(f.key); err != nil {
			return nil, err
		}
	}
	for _, k := range []string{"host", "username", "password"} {
		if s, _ := str(k); s == "" {
			return nil, fmt.Errorf("secret %s (%s): field %s is missing", id, stage, k)
		}
	}
	if eng, err := str("engine"); err != nil {
		return nil, err
	} else if eng != "" && !slices.Contains(e.engines(), eng) {
		return nil, fmt.Errorf("secret %s (%s): database engine must be set to %s to use this rotator", id, stage, strings.Join(e.engines(), " or "))
	}
	if !validHost(d.host) {
		return nil, fmt.Errorf("secret %s (%s): field host is not a host name or IP address", id, stage)
	}
	if strings.ContainsRune(d.username, 0) || strings.ContainsRune(d.password, 0) || strings.ContainsRune(d.dbname, 0) {
		return nil, fmt.Errorf("secret %s (%s): username, password and dbname must not contain NUL", id, stage)
	}
	d.port = e.defaultPort()
	switch p := raw["port"].(type) {
	case nil:
	case float64:
		d.port = int(p)
		if float64(d.port) != p {
			d.port = 0
		}
	case string:
		d.port, _ = strconv.Atoi(p)
	default:
		d.port = 0
	}
	if d.port < 1 || d.port > 65535 {
		return nil, fmt.Errorf("secret %s (%s): field port must be a number from 1 to 65535", id, stage)
	}
	if d.dbname == "" {
		d.dbname = e.defaultDB()
	}
	return d, nil
}

// validHost accepts IP addresses and DNS names, and nothing that could
// change the meaning of a connection string.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
