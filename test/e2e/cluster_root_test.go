package e2e

// Root-key operations and backups with several nodes on one PostgreSQL
// (issue 9): each node is unsealed on its own with Shamir shares; a
// rotate-root on one node is followed by the others; a rekey leaves them
// serving; a backup taken from a PostgreSQL-backed node restores into a
// fresh database and into bolt.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/arca-kms/arca/internal/testdb"
)

// startSealedNode starts a production-mode node (HTTPS, Shamir, sealed at
// start) with its own data dir (its own TLS certificate) on PostgreSQL.
func startSealedNode(t *testing.T, dsn string) *server {
	t.Helper()
	return startServer(t, serverOpts{sealed: true,
		env:  []string{"ARCA_POSTGRES_DSN=" + dsn},
		args: []string{"--storage", "postgres", "--audit-dir", filepath.Join(t.TempDir(), "audit")}})
}

// termStatus is the keyring part of `arca operator status -o json`.
type termStatus struct {
	Sealed       bool   `json:"sealed"`
	ActiveTerm   uint32 `json:"active_term"`
	Terms        int    `json:"terms"`
	Reencrypting bool   `json:"reencrypting"`
}

func (s *server) terms(t *testing.T) termStatus {
	t.Helper()
	var st termStatus
	s.operator(t, nil, "", &st, "status") // exit status 2 when sealed
	return st
}

// waitFor polls f every 10 ms until it returns nil or d passes, and
// returns how long that took and f's last error.
func waitFor(d time.Duration, f func() error) (time.Duration, error) {
	start := time.Now()
	for {
		err := f()
		if err == nil || time.Since(start) > d {
			return time.Since(start), err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawTerms counts the barrier term of every sealed value in arca_kv.
func rawTerms(t *testing.T, dsn string) map[uint32]int {
	t.Helper()
	conn, err := pgx.Connect(bg(), dsn)
	mustOK(t, err, "connect")
	defer conn.Close(bg())
	rows, err := conn.Query(bg(), "SELECT convert_from(key, 'UTF8'), value FROM arca_kv")
	mustOK(t, err, "select")
	defer rows.Close()
	out := map[uint32]int{}
	for rows.Next() {
		var k string
		var v []byte
		mustOK(t, rows.Scan(&k, &v), "scan")
		if strings.HasPrefix(k, "core/keyring") || k == "core/seal-config" {
			continue
		}
		out[binary.BigEndian.Uint32(v[1:5])]++
	}
	mustOK(t, rows.Err(), "rows")
	return out
}

// written is one node's record: a key and a ciphertext under it.
type written struct {
	node  string
	keyID string
	ct    []byte
	pt    string
}

func writeOn(t *testing.T, name string, c *kms.Client) written {
	t.Helper()
	k, err := c.CreateKey(bg(), &kms.CreateKeyInput{Description: aws.String("written on " + name)})
	mustOK(t, err, "CreateKey on "+name)
	pt := "plaintext written on " + name
	e, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: k.KeyMetadata.KeyId, Plaintext: []byte(pt)})
	mustOK(t, err, "Encrypt on "+name)
	return written{node: name, keyID: *k.KeyMetadata.KeyId, ct: e.CiphertextBlob, pt: pt}
}

// readOn checks that c describes w's key and decrypts w's ciphertext.
func readOn(c *kms.Client, w written) error {
	if _, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(w.keyID)}); err != nil {
		return fmt.Errorf("DescribeKey of %s's key: %w", w.node, err)
	}
	d, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: w.ct})
	if err != nil {
		return fmt.Errorf("Decrypt of %s's ciphertext: %w", w.node, err)
	}
	if string(d.Plaintext) != w.pt {
		return fmt.Errorf("Decrypt of %s's ciphertext = %q", w.node, d.Plaintext)
	}
	return nil
}

// TestClusterRotateRoot: two Shamir nodes on one database, each unsealed
// with its own choice of shares. rotate-root on A: both nodes' new writes
// are sealed under the new term, each reads the other's new records at
// once, and once A's re-encryption is done B holds only the new term. B
// restarted unseals and reads everything. A rekey on A leaves B serving; a
// rotation after it, which B's old root key cannot open, seals B (its
// /healthz says so) until it is unsealed with the new shares.
func TestClusterRotateRoot(t *testing.T) {
	t.Parallel()
	db := testdb.Postgres(t)
	dsn := db.DSNFor(db.User, db.Password, db.NewDatabase(t))
	a := startSealedNode(t, dsn)
	var in initOut
	mustOK(t, a.operator(t, nil, "", &in, "init", "--key-shares", "3", "--key-threshold", "2"), "init")
	b := startSealedNode(t, dsn)
	if code, st := b.health(t); code != http.StatusServiceUnavailable || st != "sealed" {
		t.Fatalf("B's /healthz before its unseal: %d %s; want 503 sealed", code, st)
	}
	// init leaves A unsealed; B is unsealed with its own choice of shares.
	b.unseal(t, in.UnsealShares[2], in.UnsealShares[0])
	ca := a.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	cb := b.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)

	var all []written
	all = append(all, writeOn(t, "A before rotation", ca), writeOn(t, "B before rotation", cb))
	for _, w := range all {
		mustOK(t, readOn(ca, w), "A reads")
		mustOK(t, readOn(cb, w), "B reads")
	}

	var rot struct {
		Term uint32 `json:"term"`
	}
	mustOK(t, a.operator(t, &in, "", &rot, "rotate-root"), "rotate-root on A")
	if rot.Term != 2 {
		t.Fatalf("rotate-root term %d; want 2", rot.Term)
	}
	wa := writeOn(t, "A after rotation", ca)
	wb := writeOn(t, "B after rotation", cb)
	all = append(all, wa, wb)
	took, err := waitFor(5*time.Second, func() error { return readOn(cb, wa) })
	mustOK(t, err, "B reads A's record written after the rotation")
	t.Logf("B read A's post-rotation record after %v", took)
	if took > time.Second {
		t.Errorf("B read A's post-rotation record after %v; want within 1s", took)
	}
	took, err = waitFor(5*time.Second, func() error { return readOn(ca, wb) })
	mustOK(t, err, "A reads B's record written after the rotation")
	t.Logf("A read B's post-rotation record after %v", took)
	if took > time.Second {
		t.Errorf("A read B's post-rotation record after %v; want within 1s", took)
	}

	// A's re-encryption ends with term 2 alone, in storage and on B.
	if _, err := waitFor(30*time.Second, func() error {
		if st := a.terms(t); st.Terms != 1 || st.Reencrypting {
			return fmt.Errorf("A: %+v", st)
		}
		return nil
	}); err != nil {
		t.Fatalf("re-encryption did not finish: %v", err)
	}
	took, err = waitFor(5*time.Second, func() error {
		if st := b.terms(t); st.ActiveTerm != 2 || st.Terms != 1 {
			return fmt.Errorf("B: %+v", st)
		}
		return nil
	})
	mustOK(t, err, "B's keyring after A's re-encryption")
	t.Logf("B dropped term 1 %v after A finished", took)
	all = append(all, writeOn(t, "B after re-encryption", cb), writeOn(t, "A after re-encryption", ca))
	if got := rawTerms(t, dsn); len(got) != 1 || got[2] == 0 {
		t.Errorf("terms of the values in arca_kv: %v; want only term 2", got)
	}
	for _, w := range all {
		mustOK(t, readOn(ca, w), "A reads")
		mustOK(t, readOn(cb, w), "B reads")
	}

	// B restarted comes up sealed, unseals and reads everything.
	b.restart()
	if code, st := b.health(t); code != http.StatusServiceUnavailable || st != "sealed" {
		t.Fatalf("B's /healthz after restart: %d %s", code, st)
	}
	b.unseal(t, in.UnsealShares[1], in.UnsealShares[2])
	cb = b.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	for _, w := range all {
		mustOK(t, readOn(cb, w), "B reads after restart")
	}

	// Rekey on A: B, still holding the old root key, goes on serving.
	var rk struct {
		Nonce        string   `json:"nonce"`
		Complete     bool     `json:"complete"`
		UnsealShares []string `json:"unseal_shares"`
	}
	mustOK(t, a.operator(t, &in, "", &rk, "rekey", "--key-shares", "3", "--key-threshold", "2"), "rekey init")
	nonce := rk.Nonce
	for _, sh := range in.UnsealShares[:2] {
		mustOK(t, a.operator(t, nil, "", &rk, "rekey", "--nonce", nonce, sh), "rekey update")
	}
	if !rk.Complete || len(rk.UnsealShares) != 3 {
		t.Fatalf("rekey: %+v", rk)
	}
	newShares := rk.UnsealShares
	time.Sleep(300 * time.Millisecond) // more than one poll of the change log
	all = append(all, writeOn(t, "B after rekey", cb))
	for _, w := range all {
		mustOK(t, readOn(ca, w), "A reads after rekey")
		mustOK(t, readOn(cb, w), "B reads after rekey")
	}
	// A rotation now needs the new root key to follow: B seals itself.
	mustOK(t, a.operator(t, &in, "", &rot, "rotate-root"), "rotate-root after rekey")
	all = append(all, writeOn(t, "A after rekey and rotation", ca))
	took, err = waitFor(5*time.Second, func() error {
		if code, st := b.health(t); code != http.StatusServiceUnavailable || st != "sealed" {
			return fmt.Errorf("B's /healthz: %d %s", code, st)
		}
		return nil
	})
	mustOK(t, err, "B seals itself when it cannot follow a rotation after a rekey")
	t.Logf("B sealed itself %v after the rotation", took)
	if logb, _ := os.ReadFile(b.logPath); !bytes.Contains(logb, []byte("op=seal outcome=ok")) || !bytes.Contains(logb, []byte("sealed itself")) {
		t.Error("B's log has no operator seal event for sealing itself")
	}
	wantSealedAPI(t, cb)
	b.unseal(t, newShares[0], newShares[2])
	for _, w := range all {
		mustOK(t, readOn(cb, w), "B reads after its unseal with the new shares")
		mustOK(t, readOn(ca, w), "A reads")
	}
}

// TestClusterBackupRestore: `arca operator backup` from a running
// PostgreSQL-backed node (writes going on), restored into a fresh
// PostgreSQL database and into a bolt data dir, and pg_dump/pg_restore of
// the same moment; nodes started on each unseal with the shares and
// decrypt the old ciphertexts and read the secrets. The snapshot holds no
// plaintext: no data key, secret value, share or root key.
func TestClusterBackupRestore(t *testing.T) {
	t.Parallel()
	db := testdb.Postgres(t)
	dsn := db.DSNFor(db.User, db.Password, db.NewDatabase(t))
	a := startSealedNode(t, dsn)
	var in initOut
	mustOK(t, a.operator(t, nil, "", &in, "init", "--key-shares", "3", "--key-threshold", "2"), "init") // and unsealed
	ca := a.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	sa := a.smClient("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)

	k := createKey(t, ca, nil)
	marker := "BACKUP-PLAINTEXT-MARKER-7d1f0c2a"
	enc, err := ca.Encrypt(bg(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte(marker)})
	mustOK(t, err, "Encrypt")
	dk, err := ca.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: k.KeyId, NumberOfBytes: aws.Int32(32)})
	mustOK(t, err, "GenerateDataKey")
	secretValue := "BACKUP-SECRET-VALUE-0b9e44c1"
	_, err = sa.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("backup/db"), SecretString: aws.String(secretValue)})
	mustOK(t, err, "CreateSecret")
	hmacKey := createKey(t, ca, &kms.CreateKeyInput{KeySpec: "HMAC_256", KeyUsage: "GENERATE_VERIFY_MAC"})
	mac, err := ca.GenerateMac(bg(), &kms.GenerateMacInput{KeyId: hmacKey.KeyId, MacAlgorithm: "HMAC_SHA_256", Message: []byte("m")})
	mustOK(t, err, "GenerateMac")

	file := filepath.Join(t.TempDir(), "arca.bak")
	// Writes go on during the backup and must not fail because of it.
	stop := make(chan struct{})
	writerDone := make(chan int)
	go func() {
		n := 0
		defer func() { writerDone <- n }()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := ca.CreateKey(bg(), &kms.CreateKeyInput{}); err != nil {
				t.Errorf("CreateKey during the backup: %v", err)
				return
			}
			n++
		}
	}()
	time.Sleep(100 * time.Millisecond)
	mustOK(t, a.operator(t, &in, "", nil, "backup", file), "backup from the PostgreSQL node")
	close(stop)
	t.Logf("%d keys created on the node while it was backed up", <-writerDone)
	// PostgreSQL's own logical backup of the same moment, for comparison.
	dump := filepath.Join(t.TempDir(), "arca.dump")
	pgTool := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(filepath.Join("/usr/lib/postgresql/15/bin", name), args...)
		cmd.Env = cleanEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	pgTool("pg_dump", "-Fc", "-f", dump, "--dbname="+dsn)
	// Written after the backup: not in it.
	after := createKey(t, ca, nil)

	restore := func(env []string, args ...string) ([]byte, error) {
		cmd := exec.Command(arcaBin, append([]string{"operator", "restore", file}, args...)...)
		cmd.Env = cleanEnv(env...)
		return cmd.CombinedOutput()
	}
	check := func(t *testing.T, s *server) {
		s.unseal(t, in.UnsealShares[2], in.UnsealShares[0])
		c := s.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
		d, err := c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		mustOK(t, err, "Decrypt on the restored node")
		if string(d.Plaintext) != marker {
			t.Fatalf("restored Decrypt = %q", d.Plaintext)
		}
		d, err = c.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: dk.CiphertextBlob})
		mustOK(t, err, "Decrypt of the data key on the restored node")
		if !bytes.Equal(d.Plaintext, dk.Plaintext) {
			t.Fatal("restored data key differs")
		}
		v, err := c.VerifyMac(bg(), &kms.VerifyMacInput{KeyId: hmacKey.KeyId, MacAlgorithm: "HMAC_SHA_256", Message: []byte("m"), Mac: mac.Mac})
		mustOK(t, err, "VerifyMac on the restored node")
		if !v.MacValid {
			t.Fatal("restored HMAC key gives another MAC")
		}
		gv, err := s.smClient("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey).GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("backup/db")})
		mustOK(t, err, "GetSecretValue on the restored node")
		if aws.ToString(gv.SecretString) != secretValue {
			t.Fatalf("restored secret = %q", aws.ToString(gv.SecretString))
		}
		if _, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: after.KeyId}); apiCode(err) != "NotFoundException" {
			t.Fatalf("DescribeKey of a key created after the backup: %v; want NotFoundException", err)
		}
		// The restored node writes.
		createKey(t, c, nil)
	}

	t.Run("IntoPostgres", func(t *testing.T) {
		dsn2 := db.DSNFor(db.User, db.Password, db.NewDatabase(t))
		if out, err := restore([]string{"ARCA_POSTGRES_DSN=" + dsn2}, "--storage", "postgres"); err != nil {
			t.Fatalf("restore into PostgreSQL: %v\n%s", err, out)
		} else if bytes.Contains(out, []byte(db.Password)) {
			t.Fatalf("restore printed the DSN's password: %s", out)
		}
		if out, err := restore([]string{"ARCA_POSTGRES_DSN=" + dsn2}, "--storage", "postgres"); err == nil || !strings.Contains(string(out), "not empty") {
			t.Fatalf("restore into a non-empty database: %v\n%s", err, out)
		}
		if out, err := restore([]string{"ARCA_POSTGRES_DSN=" + dsn}, "--storage", "postgres"); err == nil {
			t.Fatalf("restore into the live database accepted: %s", out)
		}
		r := startSealedNode(t, dsn2)
		if code, st := r.health(t); code != http.StatusServiceUnavailable || st != "sealed" {
			t.Fatalf("restored node's /healthz: %d %s; want 503 sealed", code, st)
		}
		check(t, r)
	})
	t.Run("PgDumpPgRestore", func(t *testing.T) {
		dsn3 := db.DSNFor(db.User, db.Password, db.NewDatabase(t))
		pgTool("pg_restore", "--no-owner", "--dbname="+dsn3, dump)
		check(t, startSealedNode(t, dsn3))
	})
	t.Run("IntoBolt", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "restored")
		if out, err := restore(nil, "--data-dir", dir); err != nil {
			t.Fatalf("restore into bolt: %v\n%s", err, out)
		}
		r := startServer(t, serverOpts{sealed: true, dataDir: dir})
		check(t, r)
	})

	// The snapshot holds nothing in plaintext.
	needles := map[string][]byte{}
	add := func(name string, b []byte) {
		for k, v := range encodings(name, b) {
			needles[k] = v
		}
	}
	add("data key", dk.Plaintext)
	add("Encrypt plaintext", []byte(marker))
	add("secret value", []byte(secretValue))
	add("root key", combine(t, in.UnsealShares[:2]))
	add("root secret access key", []byte(in.RootSecretAccessKey))
	for i, sh := range in.UnsealShares {
		needles[fmt.Sprintf("share %d", i)] = []byte(sh)
		raw, _ := base64.StdEncoding.DecodeString(sh)
		needles[fmt.Sprintf("raw share %d", i)] = raw
	}
	snap, err := os.ReadFile(file)
	mustOK(t, err, "read the backup")
	if len(snap) < 1000 {
		t.Fatalf("backup is %d bytes: the scan reads nothing", len(snap))
	}
	if found := scanBytes(snap, needles, file); len(found) > 0 {
		t.Errorf("found in the backup:\n%s", strings.Join(found, "\n"))
	}
}

// TestClusterSealMigration: two Shamir nodes on one database; A is
// restarted with the PKCS#11 seal and --seal-migrate and migrates when its
// shares come back. B, still unsealed by the old root key, goes on serving
// (the keyring's terms did not change); a rotation on A, which B's seal
// cannot open, seals B; B restarted with the old seal refuses to start, and
// with the HSM configuration unseals by itself and reads everything.
func TestClusterSealMigration(t *testing.T) {
	t.Parallel()
	h := newSoftHSM(t, "arca-cluster")
	db := testdb.Postgres(t)
	dsn := db.DSNFor(db.User, db.Password, db.NewDatabase(t))
	a := startSealedNode(t, dsn)
	var in initOut
	mustOK(t, a.operator(t, nil, "", &in, "init", "--key-shares", "3", "--key-threshold", "2"), "init")
	b := startSealedNode(t, dsn)
	b.unseal(t, in.UnsealShares[1], in.UnsealShares[2])
	ca := a.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	cb := b.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	all := []written{writeOn(t, "A on shamir", ca), writeOn(t, "B on shamir", cb)}

	// A migrates to the HSM at its next start.
	conf := h.config(t, "arca-cluster-root", "CKM_AES_GCM", "")
	mustOK(t, a.stop(), "stop A")
	a.env = append(a.env, h.env(hsmPIN)...)
	a.args = append(append([]string{}, a.args...), "--config", conf, "--seal-migrate")
	a.start()
	var st sealStatus
	mustOK(t, a.operator(t, nil, "", &st, "unseal", in.UnsealShares[0]), "first share")
	// The last share unseals and migrates: the status then describes the
	// HSM seal (no shares).
	if err := a.operator(t, nil, "", &st, "unseal", in.UnsealShares[2]); err != nil || st.Sealed || st.Threshold != 0 {
		t.Fatalf("last share: %+v %v", st, err)
	}
	if !strings.Contains(a.logTail(200), "seal migrated") {
		t.Fatal("A's log does not report the migration")
	}
	ca = a.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	all = append(all, writeOn(t, "A on pkcs11", ca), writeOn(t, "B after A's migration", cb))
	for _, w := range all {
		mustOK(t, readOn(ca, w), "A reads after its migration")
		mustOK(t, readOn(cb, w), "B reads after A's migration")
	}

	// A rotation now seals B: its Shamir key no longer opens the keyring.
	mustOK(t, a.operator(t, &in, "", nil, "rotate-root"), "rotate-root on A")
	all = append(all, writeOn(t, "A after rotation", ca))
	if _, err := waitFor(5*time.Second, func() error {
		if code, st := b.health(t); code != http.StatusServiceUnavailable || st != "sealed" {
			return fmt.Errorf("B's /healthz: %d %s", code, st)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Restarted with the old seal, B refuses to start; with the HSM it
	// unseals itself.
	mustOK(t, b.stop(), "stop B")
	out := failStart(t, []string{"ARCA_POSTGRES_DSN=" + dsn}, "--data-dir", b.dataDir, "--storage", "postgres",
		"--audit-dir", filepath.Join(t.TempDir(), "audit"))
	if !strings.Contains(out, "pkcs11") {
		t.Fatalf("B on the old seal: server output:\n%s", out)
	}
	b.env = append(b.env, h.env(hsmPIN)...)
	b.args = append(append([]string{}, b.args...), "--config", conf)
	b.start()
	if _, err := waitFor(10*time.Second, func() error {
		if code, st := b.health(t); code != http.StatusOK {
			return fmt.Errorf("B's /healthz: %d %s", code, st)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cb = b.clientWith("us-east-1", in.RootAccessKeyID, in.RootSecretAccessKey)
	all = append(all, writeOn(t, "B on pkcs11", cb))
	for _, w := range all {
		mustOK(t, readOn(cb, w), "B reads on the HSM seal")
		mustOK(t, readOn(ca, w), "A reads")
	}
}
