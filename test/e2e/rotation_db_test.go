package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/arca-kms/arca/internal/testdb"
)

// dbSecret is AWS's database secret shape.
type dbSecret struct {
	Engine    string `json:"engine"`
	Host      string `json:"host"`
	Port      int    `json:"port"`
	Username  string `json:"username"`
	Password  string `json:"password"`
	DBName    string `json:"dbname"`
	MasterARN string `json:"masterarn,omitempty"`
}

// dbLogin logs in to db on s as user and runs a query.
func dbLogin(s *testdb.Server, user, pw, db string) error {
	driver := "mysql"
	if s.Engine == testdb.EnginePostgres {
		driver = "pgx"
	}
	conn, err := sql.Open(driver, s.DSNFor(user, pw, db))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var one int
	return conn.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// TestSecretsRotationDatabases rotates database secrets through the AWS SDK
// (RotateSecret with a RotationLambdaARN naming an Arca rotator) against a
// real PostgreSQL and a real MariaDB started by internal/testdb: single user
// and alternating users, then a rotation while the database is down, which
// fails cleanly, is reported by DescribeSecret's ArcaRotationFailure, and
// succeeds on the retry once the database is back. No password may appear
// in the server's log or data files.
func TestSecretsRotationDatabases(t *testing.T) {
	t.Parallel()
	pg, my := testdb.StartPostgres(t), testdb.StartMariaDB(t)
	cfg := filepath.Join(t.TempDir(), "arca.yaml")
	yaml := "rotators:\n"
	for _, r := range []string{"postgres single-user", "postgres alternating-users", "mysql single-user", "mysql alternating-users"} {
		typ, strategy, _ := strings.Cut(r, " ")
		yaml += fmt.Sprintf("  - {name: %s-%s, type: %s, strategy: %s, timeout: 10s}\n", typ, strategy, typ, strategy)
	}
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{env: []string{"ARCA_CONFIG=" + cfg}})
	c := s.smClient("us-east-1", "", "")
	needles := map[string][]byte{}

	create := func(name string, v dbSecret) string {
		t.Helper()
		b, _ := json.Marshal(v)
		out, err := c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(string(b))})
		mustOK(t, err, "CreateSecret "+name)
		needles[name+" password"] = []byte(v.Password)
		return aws.ToString(out.ARN)
	}
	current := func(id string) (string, dbSecret) {
		t.Helper()
		out, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String(id)})
		mustOK(t, err, "GetSecretValue "+id)
		var v dbSecret
		if err := json.Unmarshal([]byte(aws.ToString(out.SecretString)), &v); err != nil {
			t.Fatal(err)
		}
		needles[id+" "+aws.ToString(out.VersionId)] = []byte(v.Password)
		return aws.ToString(out.VersionId), v
	}
	// waitRotated waits until AWSCURRENT leaves version from.
	waitRotated := func(id, from string) (string, dbSecret) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			v, val := current(id)
			if v != from {
				return v, val
			}
			if f := rotationFailure(t, s, id); f != nil {
				t.Fatalf("rotation of %s failed: %v", id, f)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was not rotated within 90s", id)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	rotate := func(id, rotator string) {
		t.Helper()
		_, err := c.RotateSecret(bg(), &sm.RotateSecretInput{
			SecretId:          aws.String(id),
			RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:000000000000:function:" + rotator),
			RotationRules:     &smtypes.RotationRulesType{ScheduleExpression: aws.String("rate(30 days)"), Duration: aws.String("2h")},
		})
		mustOK(t, err, "RotateSecret "+id)
	}

	for _, e := range []struct {
		srv    *testdb.Server
		engine string
	}{{pg, "postgres"}, {my, "mysql"}} {
		srv := e.srv
		db := srv.NewDatabase(t)
		mkUser := func(u, pw string) {
			if srv.Engine == testdb.EnginePostgres {
				srv.Exec(t, "CREATE ROLE "+u+" LOGIN PASSWORD '"+pw+"'")
				srv.Exec(t, "GRANT CONNECT ON DATABASE "+db+" TO "+u)
			} else {
				srv.Exec(t, "CREATE USER '"+u+"'@'%' IDENTIFIED BY '"+pw+"'")
				srv.Exec(t, "GRANT SELECT ON "+db+".* TO '"+u+"'@'%'")
			}
		}

		// Single user: the user changes its own password.
		single := testdb.UniqueName("single")
		mkUser(single, "initial-single-pw")
		sid := create("db/"+e.engine+"/single", dbSecret{Engine: e.engine, Host: srv.Host, Port: srv.Port, Username: single, Password: "initial-single-pw", DBName: db})
		v0, _ := current(sid)
		rotate(sid, e.engine+"-single-user")
		v1, cur := waitRotated(sid, v0)
		if cur.Username != single || cur.Password == "initial-single-pw" {
			t.Fatalf("%s single: user %s", e.engine, cur.Username)
		}
		if err := dbLogin(srv, single, cur.Password, db); err != nil {
			t.Fatalf("%s single: the new password does not log in: %v", e.engine, err)
		}
		if err := dbLogin(srv, single, "initial-single-pw", db); err == nil {
			t.Fatalf("%s single: the old password still logs in", e.engine)
		}
		prev, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String(sid), VersionStage: aws.String("AWSPREVIOUS")})
		mustOK(t, err, "GetSecretValue AWSPREVIOUS")
		if aws.ToString(prev.VersionId) != v0 {
			t.Fatalf("%s single: AWSPREVIOUS is %s, want %s", e.engine, aws.ToString(prev.VersionId), v0)
		}

		// Alternating users: the master secret switches NAME and NAME_clone.
		alt := testdb.UniqueName("alt")
		mkUser(alt, "initial-alt-pw")
		master := create("db/"+e.engine+"/master", dbSecret{Engine: e.engine, Host: srv.Host, Port: srv.Port, Username: srv.User, Password: srv.Password, DBName: srv.Database})
		aid := create("db/"+e.engine+"/alt", dbSecret{Engine: e.engine, Host: srv.Host, Port: srv.Port, Username: alt, Password: "initial-alt-pw", DBName: db, MasterARN: master})
		a0, _ := current(aid)
		rotate(aid, e.engine+"-alternating-users")
		a1, acur := waitRotated(aid, a0)
		if acur.Username != alt+"_clone" {
			t.Fatalf("%s alternating: user %s, want %s_clone", e.engine, acur.Username, alt)
		}
		if err := dbLogin(srv, acur.Username, acur.Password, db); err != nil {
			t.Fatalf("%s alternating: the clone does not log in: %v", e.engine, err)
		}
		if err := dbLogin(srv, alt, "initial-alt-pw", db); err != nil {
			t.Fatalf("%s alternating: the previous user stopped working: %v", e.engine, err)
		}
		rotate(aid, e.engine+"-alternating-users")
		_, acur = waitRotated(aid, a1)
		if acur.Username != alt {
			t.Fatalf("%s alternating: second rotation user %s, want %s", e.engine, acur.Username, alt)
		}
		if err := dbLogin(srv, alt, acur.Password, db); err != nil {
			t.Fatalf("%s alternating: the user does not log in with its new password: %v", e.engine, err)
		}
		if err := dbLogin(srv, alt, "initial-alt-pw", db); err == nil {
			t.Fatalf("%s alternating: the first password still logs in", e.engine)
		}

		// The database is down: the rotation fails cleanly and is retried.
		if err := srv.Stop(); err != nil {
			t.Fatal(err)
		}
		rotate(sid, e.engine+"-single-user")
		var fail map[string]any
		for deadline := time.Now().Add(60 * time.Second); fail == nil; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no ArcaRotationFailure while the database is down", e.engine)
			}
			fail = rotationFailure(t, s, sid)
		}
		if fail["Step"] != "setSecret" {
			t.Fatalf("%s: failure %v, want step setSecret", e.engine, fail)
		}
		if v, _ := current(sid); v != v1 {
			t.Fatalf("%s: AWSCURRENT moved to %s while the database was down", e.engine, v)
		}
		pending, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String(sid), VersionStage: aws.String("AWSPENDING")})
		mustOK(t, err, "GetSecretValue AWSPENDING after the failure")
		var pv dbSecret
		_ = json.Unmarshal([]byte(aws.ToString(pending.SecretString)), &pv)
		needles["pending password"] = []byte(pv.Password)
		if msg, _ := fail["Message"].(string); strings.Contains(msg, pv.Password) || strings.Contains(msg, cur.Password) {
			t.Fatalf("%s: the failure message contains a password", e.engine)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		advanceClock(t, s, 2*time.Hour) // past the retry's backoff
		v2, cur2 := waitRotated(sid, v1)
		if v2 != aws.ToString(pending.VersionId) {
			t.Fatalf("%s: the retry finished version %s, not the kept AWSPENDING %s", e.engine, v2, aws.ToString(pending.VersionId))
		}
		if err := dbLogin(srv, single, cur2.Password, db); err != nil {
			t.Fatalf("%s: after the retry the new password does not log in: %v", e.engine, err)
		}
		if err := dbLogin(srv, single, cur.Password, db); err == nil {
			t.Fatalf("%s: after the retry the previous password still logs in", e.engine)
		}
		if f := rotationFailure(t, s, sid); f != nil {
			t.Fatalf("%s: failure still reported after success: %v", e.engine, f)
		}
	}

	delete(needles, "db/postgres/master password") // the administrators' passwords are the tests' own
	delete(needles, "db/mysql/master password")
	for k, v := range needles {
		if string(v) == pg.Password || string(v) == my.Password {
			delete(needles, k)
		}
	}
	log, _ := os.ReadFile(s.logPath)
	if found := append(scanBytes(log, needles, "server log"), scanFiles(t, s.dataDir, needles)...); len(found) > 0 {
		t.Fatalf("passwords found: %v", found)
	}
}

// rotationFailure returns DescribeSecret's ArcaRotationFailure (which the
// SDK does not decode), or nil.
func rotationFailure(t *testing.T, s *server, id string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"SecretId": id})
	r := rawCall(t, s, rawReq{target: "secretsmanager.DescribeSecret", body: body, service: "secretsmanager"})
	if r.status != 200 {
		t.Fatalf("DescribeSecret: %d %s", r.status, r.body)
	}
	var out struct {
		ArcaRotationFailure map[string]any
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	return out.ArcaRotationFailure
}
