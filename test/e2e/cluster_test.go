package e2e

// Several arca nodes on one PostgreSQL (issue 9): every node serves and
// sees the others' writes within a second, one scheduler acts and is taken
// over when it dies, and neither a node's death nor the database's restart
// loses an acknowledged write or gives a wrong answer.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/jackc/pgx/v5"

	"github.com/arca-kms/arca/internal/testdb"
)

// cluster is n arca nodes sharing one PostgreSQL database and one data dir
// (so one dev seal key).
type cluster struct {
	db    *testdb.Server
	dsn   string
	nodes []*server
}

// startCluster starts n nodes on a fresh database of db (the shared test
// server when nil) with --scheduler-interval 1s and extra args.
func startCluster(t *testing.T, db *testdb.Server, n int, args ...string) *cluster {
	t.Helper()
	var dsn string
	if db == nil {
		db = testdb.Postgres(t)
		dsn = db.DSNFor(db.User, db.Password, db.NewDatabase(t))
	} else {
		dsn = db.DSN()
	}
	c := &cluster{db: db, dsn: dsn}
	dataDir := filepath.Join(t.TempDir(), "data")
	for range n {
		c.nodes = append(c.nodes, startServer(t, serverOpts{
			dataDir: dataDir,
			env:     []string{"ARCA_POSTGRES_DSN=" + dsn},
			// Each node keeps its own audit chain, so its own audit dir.
			args: append([]string{"--storage", "postgres", "--scheduler-interval", "1s",
				"--audit-dir", filepath.Join(t.TempDir(), "audit")}, args...),
		}))
	}
	return c
}

func TestClusterDisableVisibleEverywhere(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, 3)
	clients := make([]*kms.Client, len(c.nodes))
	for i, n := range c.nodes {
		clients[i] = n.client("us-east-1")
	}
	m := createKey(t, clients[0], nil)
	// Every node serves the key from its cache.
	for i, cl := range clients {
		if _, err := cl.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")}); err != nil {
			t.Fatalf("node %d Encrypt: %v", i, err)
		}
	}
	const trials = 50
	var worst time.Duration
	var all []time.Duration
	for trial := range trials {
		writer := trial % len(clients)
		for _, state := range []bool{false, true} { // disable, then enable again
			var err error
			if state {
				_, err = clients[writer].EnableKey(bg(), &kms.EnableKeyInput{KeyId: m.KeyId})
			} else {
				_, err = clients[writer].DisableKey(bg(), &kms.DisableKeyInput{KeyId: m.KeyId})
			}
			if err != nil {
				t.Fatalf("trial %d: set enabled=%v on node %d: %v", trial, state, writer, err)
			}
			acked := time.Now()
			var wg sync.WaitGroup
			lat := make([]time.Duration, len(clients))
			for i, cl := range clients {
				if i == writer {
					continue
				}
				wg.Go(func() {
					for {
						_, err := cl.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
						var de *types.DisabledException
						if (state && err == nil) || (!state && errors.As(err, &de)) {
							lat[i] = time.Since(acked)
							return
						}
						if err != nil && !errors.As(err, &de) {
							t.Errorf("node %d Encrypt: %v", i, err)
							return
						}
						if time.Since(acked) > 5*time.Second {
							lat[i] = time.Since(acked)
							return
						}
					}
				})
			}
			wg.Wait()
			for i, l := range lat {
				if i == writer {
					continue
				}
				all = append(all, l)
				if l > worst {
					worst = l
				}
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	t.Logf("cross-node visibility of DisableKey/EnableKey over %d observations (3 nodes): median %v, p99 %v, worst %v",
		len(all), all[len(all)/2], all[len(all)*99/100], worst)
	if worst > time.Second {
		t.Errorf("worst cross-node visibility %v; want under 1s", worst)
	}
}

// devClock moves one node's dev clock forward (and runs that node's
// lease-guarded sweep before answering).
func devClock(s *server, d time.Duration) error {
	body := []byte(fmt.Sprintf(`{"AdvanceSeconds":%d}`, int64(d/time.Second)))
	req, _ := http.NewRequest(http.MethodPost, s.endpoint+"/_arca/dev/clock", bytes.NewReader(body))
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: rootAKID, SecretAccessKey: rootSecret}
	if err := v4.NewSigner().SignHTTP(bg(), creds, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("dev clock: %d %s", resp.StatusCode, b)
	}
	return nil
}

// leaseLines counts the "scheduler lease acquired" lines in a node's log.
func leaseLines(s *server) int {
	b, _ := os.ReadFile(s.logPath)
	return strings.Count(string(b), "scheduler lease acquired")
}

// leader returns the index of the node whose log says it holds the lease
// last, waiting up to d.
func (c *cluster) leader(t *testing.T, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		for i, n := range c.nodes {
			if !n.exited() && leaseLines(n) > 0 {
				b, _ := os.ReadFile(n.logPath)
				s := string(b)
				if strings.LastIndex(s, "scheduler lease acquired") > strings.LastIndex(s, "scheduler lease lost") {
					return i
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no node acquired the scheduler lease")
	return -1
}

// TestClusterSchedulerFailover: the leader is killed (SIGKILL) while it
// rotates a batch of due keys; another node takes the lease within a bound
// and finishes, and every key is rotated exactly once.
func TestClusterSchedulerFailover(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, 3)
	cl := c.nodes[0].client("us-east-1")
	const keys = 150
	var ids []string
	for range keys {
		m := createKey(t, cl, nil)
		if _, err := cl.EnableKeyRotation(bg(), &kms.EnableKeyRotationInput{KeyId: m.KeyId, RotationPeriodInDays: aws.Int32(90)}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(m.KeyId))
	}
	lead := c.leader(t, 10*time.Second)
	// Every node's clock moves 91 days; the leader's move starts its sweep.
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		wg.Go(func() {
			if err := devClock(n, 91*24*time.Hour); err != nil && i != lead {
				t.Errorf("node %d dev clock: %v", i, err)
			}
		})
	}
	// The sweep goes through keys in ID order: kill the leader as soon as
	// the first key's rotation is visible, mid-sweep.
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	watch := c.nodes[(lead+1)%3].client("us-east-1")
	for start := time.Now(); time.Since(start) < 10*time.Second; {
		lr, err := watch.ListKeyRotations(bg(), &kms.ListKeyRotationsInput{KeyId: aws.String(sorted[0])})
		if err == nil && len(lr.Rotations) > 0 {
			break
		}
	}
	// Count the survivors' lease acquisitions before the kill, so that a
	// takeover is seen however soon it comes.
	survivors := []*server{}
	for i, n := range c.nodes {
		if i != lead {
			survivors = append(survivors, n)
		}
	}
	before := map[*server]int{}
	for _, n := range survivors {
		before[n] = leaseLines(n)
	}
	c.nodes[lead].kill()
	killed := time.Now()
	var takeover time.Duration
	for takeover == 0 {
		for _, n := range survivors {
			if leaseLines(n) > before[n] {
				takeover = time.Since(killed)
			}
		}
		if time.Since(killed) > 15*time.Second {
			t.Fatal("no survivor took the scheduler lease within 15s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The lease lasts 3 intervals (3s) and survivors try every interval:
	// takeover within 3s + 1s, plus scheduling slack.
	t.Logf("scheduler takeover after kill -9 of the leader: %v", takeover)
	if takeover > 6*time.Second {
		t.Errorf("takeover took %v; want within 4s (+slack)", takeover)
	}
	wg.Wait()
	// How far the dead leader got, roughly: counted after the takeover, so
	// the new leader's first rotations may be in it.
	byOld := 0
	for _, id := range ids {
		lr, err := c.nodes[(lead+1)%3].client("us-east-1").ListKeyRotations(bg(), &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
		if err == nil && len(lr.Rotations) > 0 {
			byOld++
		}
	}
	t.Logf("%d of %d due keys rotated around the takeover", byOld, keys)
	scl := survivors[0].client("us-east-1")
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for {
			lr, err := scl.ListKeyRotations(bg(), &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(lr.Rotations); n == 1 {
				break
			} else if n > 1 {
				t.Fatalf("key %s rotated %d times; want exactly once", id, n)
			}
			if time.Now().After(deadline) {
				t.Fatalf("key %s not rotated 20s after the leader died", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Further sweeps by the new leader change nothing.
	time.Sleep(2500 * time.Millisecond)
	for _, id := range ids {
		lr, err := scl.ListKeyRotations(bg(), &kms.ListKeyRotationsInput{KeyId: aws.String(id)})
		if err != nil || len(lr.Rotations) != 1 {
			t.Fatalf("key %s: %d rotations, %v; want exactly 1", id, len(lr.Rotations), err)
		}
	}
}

// TestClusterKillNodeDuringWrites: CreateKey from clients spread over three
// nodes; one node is killed with SIGKILL mid-stream; every acknowledged key
// exists afterwards on every surviving node.
func TestClusterKillNodeDuringWrites(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, 3)
	var mu sync.Mutex
	var acked []string
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				n := c.nodes[(w+i)%len(c.nodes)]
				if n.exited() {
					continue
				}
				out, err := n.client("us-east-1").CreateKey(bg(), &kms.CreateKeyInput{Description: aws.String(fmt.Sprintf("w%d-%d", w, i))})
				if err == nil {
					mu.Lock()
					acked = append(acked, aws.ToString(out.KeyMetadata.KeyId))
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	c.nodes[1].kill()
	time.Sleep(1500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if len(acked) < 20 {
		t.Fatalf("only %d CreateKey calls succeeded", len(acked))
	}
	for _, n := range []*server{c.nodes[0], c.nodes[2]} {
		cl := n.client("us-east-1")
		listed := map[string]bool{}
		p := kms.NewListKeysPaginator(cl, &kms.ListKeysInput{Limit: aws.Int32(1000)})
		for p.HasMorePages() {
			page, err := p.NextPage(bg())
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range page.Keys {
				listed[aws.ToString(k.KeyId)] = true
			}
		}
		for _, id := range acked {
			if !listed[id] {
				t.Errorf("acknowledged key %s missing on %s", id, n.endpoint)
			}
		}
	}
	t.Logf("%d acknowledged CreateKey calls across 3 nodes, one killed mid-stream: all present", len(acked))
}

// TestClusterDatabaseRestart: PostgreSQL stops during load and comes back.
// While it is down, requests that need it fail with a retryable 5xx
// (DependencyTimeoutException or KMSInternalException), cached keys keep
// working until the staleness bound and are then refused the same way,
// /healthz turns 503; nothing answered is wrong, nothing acknowledged is
// lost, and service resumes by itself.
func TestClusterDatabaseRestart(t *testing.T) {
	t.Parallel()
	db := testdb.StartPostgres(t)
	c := startCluster(t, db, 2, "--max-staleness", "3s")
	cl := []*kms.Client{c.nodes[0].client("us-east-1"), c.nodes[1].client("us-east-1")}
	m := createKey(t, cl[0], nil)
	type result struct {
		node    int
		blob    []byte
		plain   string
		created string
		err     error
		at      time.Time
	}
	var mu sync.Mutex
	var results []result
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				node := (w + i) % 2
				r := result{node: node}
				if i%3 == 0 {
					out, err := cl[node].CreateKey(bg(), &kms.CreateKeyInput{})
					r.err = err
					if err == nil {
						r.created = aws.ToString(out.KeyMetadata.KeyId)
					}
				} else {
					r.plain = fmt.Sprintf("w%d-%d", w, i)
					out, err := cl[node].Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte(r.plain)})
					r.err = err
					if err == nil {
						r.blob = out.CiphertextBlob
					}
				}
				r.at = time.Now()
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	time.Sleep(time.Second)
	if err := db.Stop(); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	time.Sleep(5 * time.Second)
	// Past the staleness bound: cached keys are refused and health says so.
	if _, err := cl[0].Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")}); apiCode(err) != "DependencyTimeoutException" || httpStatus(err) != 503 {
		t.Errorf("Encrypt 5s into the outage (max-staleness 3s) = %v; want DependencyTimeoutException, 503", err)
	}
	if resp, err := http.Get(c.nodes[1].endpoint + "/healthz"); err != nil || resp.StatusCode != 503 {
		t.Errorf("/healthz during the outage: %v, %v; want 503", resp, err)
	} else {
		resp.Body.Close()
	}
	if err := db.Start(); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	// Service resumes by itself.
	var resumed time.Duration
	for resumed == 0 {
		_, err1 := cl[0].CreateKey(bg(), &kms.CreateKeyInput{})
		_, err2 := cl[1].Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("x")})
		if err1 == nil && err2 == nil {
			resumed = time.Since(up)
		} else if time.Since(up) > 20*time.Second {
			t.Fatalf("service did not resume 20s after the database came back: %v / %v", err1, err2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("database down %v; service resumed %v after it was back", up.Sub(down).Round(time.Millisecond), resumed.Round(time.Millisecond))

	var okN, failN int
	codes := map[string]int{}
	for _, r := range results {
		if r.err != nil {
			failN++
			code, st := apiCode(r.err), httpStatus(r.err)
			codes[fmt.Sprintf("%s/%d", code, st)]++
			if (code != "DependencyTimeoutException" && code != "KMSInternalException") || st < 500 {
				t.Errorf("node %d at %v: %v; want a retryable 5xx (DependencyTimeoutException or KMSInternalException)", r.node, r.at.Sub(down), r.err)
			}
			continue
		}
		okN++
		switch {
		case r.created != "":
			if _, err := cl[r.node^1].DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(r.created)}); err != nil {
				t.Errorf("acknowledged CreateKey %s: %v", r.created, err)
			}
		case r.blob != nil:
			out, err := cl[r.node^1].Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: r.blob})
			if err != nil || string(out.Plaintext) != r.plain {
				if err == nil {
					err = fmt.Errorf("plaintext %q, want %q", out.Plaintext, r.plain)
				}
				t.Errorf("a ciphertext answered during the run does not decrypt: %v", err)
			}
		}
	}
	t.Logf("%d answers, %d failures %v", okN, failN, codes)
	if failN == 0 {
		t.Error("no request failed while the database was down: the test did not test")
	}
}

// TestClusterNoSecretsInDatabase reads PostgreSQL's tables directly, as a
// database administrator would, and finds none of the secrets a run
// handled: Encrypt plaintexts, data keys, the root secret access key, the
// dev seal key. The node's log does not hold the database password.
func TestClusterNoSecretsInDatabase(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, 2, "--log-level", "debug")
	cl := c.nodes[0].client("us-east-1")
	m := createKey(t, cl, nil)
	needles := map[string][]byte{}
	add := func(name string, b []byte) {
		for k, v := range encodings(name, b) {
			needles[k] = v
		}
	}
	marker := []byte("PG-PLAINTEXT-MARKER-51c2e0d9-nvr")
	_, err := cl.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: marker})
	mustOK(t, err, "Encrypt")
	add("Encrypt plaintext", marker)
	for i := range 10 {
		dk, err := c.nodes[i%2].client("us-east-1").GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: m.KeyId, KeySpec: types.DataKeySpecAes256})
		mustOK(t, err, "GenerateDataKey")
		add(fmt.Sprintf("data key %d", i), dk.Plaintext)
	}
	add("root secret access key", []byte(rootSecret))
	seal, err := os.ReadFile(filepath.Join(c.nodes[0].dataDir, "dev-seal.key"))
	mustOK(t, err, "dev-seal.key")
	needles["dev-seal.key"] = bytes.TrimSpace(seal)

	conn, err := pgx.Connect(bg(), c.dsn)
	mustOK(t, err, "connect")
	defer conn.Close(bg())
	// The audit records every node shipped are readable by a database
	// administrator too; they arrive after each node's fsync, so wait for
	// the last request's event before reading them.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var shipped int
		mustOK(t, conn.QueryRow(bg(), "SELECT count(*) FROM arca_audit_records WHERE convert_from(line, 'UTF8') LIKE '%GenerateDataKey%'").Scan(&shipped), "count shipped audit records")
		if shipped >= 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d GenerateDataKey audit records shipped to PostgreSQL after 10 s", shipped)
		}
	}
	var dump bytes.Buffer
	for _, q := range []string{"SELECT key, value FROM arca_kv", "SELECT convert_to(node, 'UTF8'), k FROM arca_changes, unnest(keys) AS k",
		"SELECT convert_to(node_id, 'UTF8'), line FROM arca_audit_records"} {
		rows, err := conn.Query(bg(), q)
		mustOK(t, err, q)
		n := 0
		for rows.Next() {
			var k, v []byte
			mustOK(t, rows.Scan(&k, &v), "scan")
			dump.Write(k)
			dump.WriteByte(0)
			dump.Write(v)
			dump.WriteByte(0)
			n++
		}
		rows.Close()
		mustOK(t, rows.Err(), q)
		if n == 0 {
			t.Errorf("%s: no rows: the test reads nothing", q)
		}
	}
	if found := scanBytes(dump.Bytes(), needles, "the database"); len(found) > 0 {
		t.Errorf("secrets readable in PostgreSQL:\n%s", strings.Join(found, "\n"))
	}
	for _, n := range c.nodes {
		logb, _ := os.ReadFile(n.logPath)
		if bytes.Contains(logb, []byte(c.db.Password)) {
			t.Errorf("the database password is in %s's log", n.endpoint)
		}
	}
}

// TestClusterSecretRetriesAfterKill: PutSecretValue from clients spread
// over three nodes, each call with its own ClientRequestToken; one node is
// killed with SIGKILL mid-stream, and a call that failed is retried on
// another node with the same token, as the SDKs do. Afterwards every
// acknowledged version is present with its value, and no retried token
// made a second version.
func TestClusterSecretRetriesAfterKill(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, 3)
	cls := make([]*sm.Client, len(c.nodes))
	for i, n := range c.nodes {
		cls[i] = n.smClient("us-east-1", rootAKID, rootSecret)
	}
	name := "cluster/idempotent"
	if _, err := cls[0].CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String(name), SecretString: aws.String("v0")}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	acked := map[string]string{} // token → value
	retried := 0
	var wg sync.WaitGroup
	var done atomic.Int64
	for w := range 3 {
		wg.Go(func() {
			for i := range 15 {
				token := fmt.Sprintf("tok-%d-%02d-%s", w, i, strings.Repeat("x", 32))
				val := fmt.Sprintf("value %d/%d", w, i)
				for attempt := 0; ; attempt++ {
					n := (w + i + attempt) % 3
					if c.nodes[n].exited() {
						continue
					}
					_, err := cls[n].PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String(name),
						SecretString: aws.String(val), ClientRequestToken: aws.String(token)})
					if err == nil {
						mu.Lock()
						acked[token] = val
						if attempt > 0 {
							retried++
						}
						mu.Unlock()
						break
					}
					if attempt > 10 {
						t.Errorf("token %s: %v", token, err)
						return
					}
				}
				done.Add(1)
			}
		})
	}
	for start := time.Now(); done.Load() < 12 && time.Since(start) < 20*time.Second; {
		time.Sleep(time.Millisecond)
	}
	c.nodes[1].kill()
	wg.Wait()
	// Node 0 lists: another node's last writes reach its cache within the
	// 1 s visibility bound (invalidation through PostgreSQL), so the list
	// is read again until it holds every acknowledged version, for up to
	// 3 s.
	cl := cls[0]
	var versions map[string]int
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		versions = map[string]int{}
		p := sm.NewListSecretVersionIdsPaginator(cl, &sm.ListSecretVersionIdsInput{SecretId: aws.String(name), IncludeDeprecated: aws.Bool(true)})
		for p.HasMorePages() {
			page, err := p.NextPage(bg())
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range page.Versions {
				versions[aws.ToString(v.VersionId)]++
			}
		}
		missing := 0
		for token := range acked {
			if versions[token] == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			break
		}
	}
	for token, val := range acked {
		if versions[token] != 1 {
			t.Errorf("acknowledged version %s listed %d times; want once", token, versions[token])
			continue
		}
		out, err := cls[2].GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String(name), VersionId: aws.String(token)})
		if err != nil || aws.ToString(out.SecretString) != val {
			t.Errorf("version %s: %v (err %v); want %q", token, out, err, val)
		}
	}
	if len(versions) != len(acked)+1 {
		t.Errorf("%d versions for %d acknowledged puts plus the first: a retry made a duplicate", len(versions), len(acked))
	}
	t.Logf("%d PutSecretValue acknowledged across 3 nodes, one killed; %d needed a retry on another node", len(acked), retried)
}
