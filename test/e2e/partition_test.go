package e2e

// A node partitioned from PostgreSQL while the other keeps it (issue 9): a
// TCP proxy between node A and the database is cut and healed. A refuses
// writes at once, serves from its caches until --max-staleness and then
// refuses everything with a retryable 5xx; what B changes meanwhile (a key
// disabled, an access key deleted) is never honoured by A past the bound;
// after the heal A resumes by itself and sees B's changes; nothing A
// acknowledged is lost.

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/arca-kms/arca/internal/testdb"
)

// retryable5xx reports whether err is one of the retryable server faults a
// partitioned node may answer with.
func retryable5xx(err error) bool {
	switch apiCode(err) {
	case "DependencyTimeoutException", "KMSInternalException", "InternalServiceError", "ServiceUnavailable":
		return httpStatus(err) >= 500
	}
	return false
}

func TestClusterPartition(t *testing.T) {
	t.Parallel()
	const bound = 3 * time.Second
	db := testdb.Postgres(t)
	dsn := db.DSNFor(db.User, db.Password, db.NewDatabase(t))
	px := db.NewProxy(t)
	dsnA := strings.Replace(dsn, db.Addr(), px.Addr(), 1)
	if dsnA == dsn {
		t.Fatalf("the DSN does not name %s", db.Addr())
	}
	dataDir := filepath.Join(t.TempDir(), "data")
	node := func(dsn string) *server {
		return startServer(t, serverOpts{
			dataDir: dataDir,
			env:     []string{"ARCA_POSTGRES_DSN=" + dsn},
			args: []string{"--storage", "postgres", "--scheduler-interval", "1s", "--max-staleness", bound.String(),
				"--audit-dir", filepath.Join(t.TempDir(), "audit")},
		})
	}
	a, b := node(dsnA), node(dsn)
	ka, kb := a.client("us-east-1"), b.client("us-east-1")
	sa, sb := a.smClient("us-east-1", "", ""), b.smClient("us-east-1", "", "")

	// Keys and a secret, cached on A; an IAM user's access key that A has
	// authenticated (so cached) too.
	revoked := createKey(t, ka, nil) // disabled on B during the partition
	kept := createKey(t, ka, nil)
	sec, err := sa.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("partition/db"), KmsKeyId: kept.KeyId,
		SecretString: aws.String("before-the-cut")})
	mustOK(t, err, "CreateSecret")
	ib := b.iamClient(rootAKID, rootSecret)
	_, err = ib.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("app")})
	mustOK(t, err, "CreateUser")
	_, err = ib.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("app"), PolicyName: aws.String("kms"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)})
	mustOK(t, err, "PutUserPolicy")
	ak, err := ib.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("app")})
	mustOK(t, err, "CreateAccessKey")
	kaUser := a.clientWith("us-east-1", aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
	stsUser := a.stsClient("us-east-1", aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
	enc, err := ka.Encrypt(bg(), &kms.EncryptInput{KeyId: kept.KeyId, Plaintext: []byte("sealed before the cut")})
	mustOK(t, err, "Encrypt")
	warm := func(when string) {
		t.Helper()
		_, err := ka.Encrypt(bg(), &kms.EncryptInput{KeyId: revoked.KeyId, Plaintext: []byte("x")})
		mustOK(t, err, "Encrypt with the key to be disabled, on A "+when)
		_, err = kaUser.Encrypt(bg(), &kms.EncryptInput{KeyId: kept.KeyId, Plaintext: []byte("x")})
		mustOK(t, err, "Encrypt with the access key to be deleted, on A "+when)
		_, err = ka.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
		mustOK(t, err, "Decrypt on A "+when)
		_, err = sa.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: sec.ARN})
		mustOK(t, err, "GetSecretValue on A "+when)
		_, err = sa.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: sec.ARN})
		mustOK(t, err, "DescribeSecret on A "+when)
		_, err = stsUser.GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{})
		mustOK(t, err, "GetCallerIdentity with the access key to be deleted, on A "+when)
	}
	// B's setup writes (the user, its policy and key) reach A's caches as
	// invalidations within the 1 s visibility bound; one arriving after
	// the warm-up would empty what it filled, and A would then refuse at
	// the cut (a cache miss) rather than serve until the bound. So wait
	// out the bound first.
	time.Sleep(1500 * time.Millisecond)
	// Twice: the first call after a write may still miss (it warms).
	warm("before the cut")
	warm("before the cut")

	// A writes steadily up to and across the cut; every write it
	// acknowledges must survive.
	type ack struct {
		key, version string
	}
	var (
		acksMu sync.Mutex
		acks   []ack
		cutAt  atomic.Int64 // unix nanos; 0 before the cut
		wrong  []string
	)
	stopWriter := make(chan struct{})
	var writer sync.WaitGroup
	writer.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stopWriter:
				return
			default:
			}
			var a ack
			var err error
			if i%2 == 0 {
				var out *kms.CreateKeyOutput
				if out, err = ka.CreateKey(bg(), &kms.CreateKeyInput{}); err == nil {
					a.key = aws.ToString(out.KeyMetadata.KeyId)
				}
			} else {
				var out *sm.PutSecretValueOutput
				if out, err = sa.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: sec.ARN,
					SecretString: aws.String(fmt.Sprintf("v%d", i))}); err == nil {
					a.version = aws.ToString(out.VersionId)
				}
			}
			acksMu.Lock()
			switch {
			case err == nil:
				acks = append(acks, a)
			case cutAt.Load() == 0 || !retryable5xx(err):
				wrong = append(wrong, fmt.Sprintf("write %d on A: %v", i, err))
			}
			acksMu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
	})
	time.Sleep(500 * time.Millisecond)
	warm("just before the cut")

	// Cut A off. B keeps serving reads and writes; A refuses writes at once.
	cut := time.Now()
	cutAt.Store(cut.UnixNano())
	px.Cut()
	var writeRefused time.Duration
	for {
		_, err := ka.CreateKey(bg(), &kms.CreateKeyInput{})
		if err != nil {
			if !retryable5xx(err) {
				t.Fatalf("CreateKey on A after the cut: %v; want a retryable 5xx", err)
			}
			writeRefused = time.Since(cut)
			break
		}
		if time.Since(cut) > bound {
			t.Fatalf("A still acknowledges writes %v after the cut", time.Since(cut))
		}
	}
	_, err = sa.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: sec.ARN, SecretString: aws.String("during")})
	if apiCode(err) != "InternalServiceError" || httpStatus(err) != 500 {
		t.Errorf("PutSecretValue on A during the partition: %v; want InternalServiceError, 500", err)
	}
	close(stopWriter)
	writer.Wait()
	for _, w := range wrong {
		t.Error(w)
	}

	_, err = kb.DisableKey(bg(), &kms.DisableKeyInput{KeyId: revoked.KeyId})
	mustOK(t, err, "DisableKey on B during the partition")
	_, err = ib.DeleteAccessKey(bg(), &iam.DeleteAccessKeyInput{UserName: aws.String("app"), AccessKeyId: ak.AccessKey.AccessKeyId})
	mustOK(t, err, "DeleteAccessKey on B during the partition")
	createKey(t, kb, nil)
	_, err = sb.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: sec.ARN, SecretString: aws.String("rotated-on-b")})
	mustOK(t, err, "PutSecretValue on B during the partition")
	_, err = kb.Encrypt(bg(), &kms.EncryptInput{KeyId: kept.KeyId, Plaintext: []byte("x")})
	mustOK(t, err, "Encrypt on B during the partition")

	// A serves from its caches, then refuses each kind of cached read;
	// nothing succeeds past the bound (plus the time a request takes).
	type probe struct {
		name string
		// code is the refusal's AWS error code: each service's own
		// retryable server fault.
		code string
		call func() error
		// refusedAt is the first retryable refusal after the cut, lastOK
		// the last success (a possibly stale answer, allowed only within
		// the bound).
		refusedAt time.Duration
		lastOK    time.Duration
	}
	probes := []*probe{
		{name: "Encrypt (cached key)", code: "DependencyTimeoutException", call: func() error {
			_, err := ka.Encrypt(bg(), &kms.EncryptInput{KeyId: kept.KeyId, Plaintext: []byte("x")})
			return err
		}},
		{name: "Decrypt", code: "DependencyTimeoutException", call: func() error {
			_, err := ka.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
			return err
		}},
		{name: "GetSecretValue", code: "InternalServiceError", call: func() error {
			_, err := sa.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: sec.ARN})
			return err
		}},
		{name: "Encrypt with the key disabled on B", code: "DependencyTimeoutException", call: func() error {
			_, err := ka.Encrypt(bg(), &kms.EncryptInput{KeyId: revoked.KeyId, Plaintext: []byte("x")})
			return err
		}},
		{name: "DescribeSecret", code: "InternalServiceError", call: func() error {
			_, err := sa.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: sec.ARN})
			return err
		}},
		// Needs nothing but the credential: the identity store's cache alone.
		{name: "GetCallerIdentity signed with the access key deleted on B", code: "ServiceUnavailable", call: func() error {
			_, err := stsUser.GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{})
			return err
		}},
		{name: "Encrypt signed with the access key deleted on B", code: "DependencyTimeoutException", call: func() error {
			_, err := kaUser.Encrypt(bg(), &kms.EncryptInput{KeyId: kept.KeyId, Plaintext: []byte("x")})
			return err
		}},
	}
	var pw sync.WaitGroup
	for _, p := range probes {
		pw.Go(func() {
			for time.Since(cut) < bound+2*time.Second {
				err := p.call()
				at := time.Since(cut)
				switch {
				case err == nil:
					p.lastOK = at
				case retryable5xx(err):
					if p.refusedAt == 0 {
						p.refusedAt = at
					}
					if apiCode(err) != p.code {
						t.Errorf("%s on A %v after the cut: %v; want %s", p.name, at, err, p.code)
					}
				default:
					// A correct refusal A could only give with B's changes
					// (DisabledException, UnrecognizedClient) is not
					// expected: A cannot see them.
					t.Errorf("%s on A %v after the cut: %v; want success or a retryable 5xx", p.name, at, err)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	pw.Wait()
	// Synced is the start of the last poll before the cut, so the gate
	// closes at most one poll interval (250 ms) before cut+bound; a request
	// admitted just before then answers a little after.
	const slack = 300 * time.Millisecond
	for _, p := range probes {
		t.Logf("partitioned node: %s last served %v after the cut, refused from %v", p.name, p.lastOK.Round(time.Millisecond), p.refusedAt.Round(time.Millisecond))
		if p.refusedAt == 0 {
			t.Errorf("%s: never refused within %v of the cut (max-staleness %v)", p.name, bound+2*time.Second, bound)
		} else if p.refusedAt < bound-2*slack || p.refusedAt > bound+slack {
			t.Errorf("%s: refused from %v after the cut; want about the bound %v", p.name, p.refusedAt, bound)
		}
		if p.lastOK > bound+slack {
			t.Errorf("%s: served %v after the cut, past the bound %v", p.name, p.lastOK, bound)
		}
		if p.lastOK == 0 && p.name == "Encrypt (cached key)" {
			t.Errorf("%s: not served from the cache after the cut", p.name)
		}
	}
	if resp, err := http.Get(a.endpoint + "/healthz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("A's /healthz past the bound: %v, %v; want 503", resp, err)
	} else {
		resp.Body.Close()
	}
	if resp, err := http.Get(b.endpoint + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("B's /healthz during A's partition: %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}

	// Heal: A resumes by itself and sees B's changes; it never serves the
	// disabled key or the deleted access key.
	px.Heal()
	healed := time.Now()
	var resumed, sawDisable, sawDelete, sawSecret time.Duration
	for resumed == 0 || sawDisable == 0 || sawDelete == 0 || sawSecret == 0 {
		if time.Since(healed) > 10*time.Second {
			t.Fatalf("10s after the heal: resumed %v, disable seen %v, key deletion seen %v, secret seen %v",
				resumed, sawDisable, sawDelete, sawSecret)
		}
		if _, err := ka.Encrypt(bg(), &kms.EncryptInput{KeyId: kept.KeyId, Plaintext: []byte("x")}); err == nil && resumed == 0 {
			resumed = time.Since(healed)
		} else if err != nil && !retryable5xx(err) {
			t.Fatalf("Encrypt on A after the heal: %v", err)
		}
		_, err := ka.Encrypt(bg(), &kms.EncryptInput{KeyId: revoked.KeyId, Plaintext: []byte("x")})
		var de *types.DisabledException
		switch {
		case err == nil:
			t.Fatalf("A served the key disabled on B %v after the heal", time.Since(healed))
		case errors.As(err, &de):
			if sawDisable == 0 {
				sawDisable = time.Since(healed)
			}
		case !retryable5xx(err):
			t.Fatalf("Encrypt with the disabled key on A after the heal: %v", err)
		}
		_, err = kaUser.Encrypt(bg(), &kms.EncryptInput{KeyId: kept.KeyId, Plaintext: []byte("x")})
		switch {
		case err == nil:
			t.Fatalf("A honoured the access key deleted on B %v after the heal", time.Since(healed))
		case apiCode(err) == "UnrecognizedClientException":
			if sawDelete == 0 {
				sawDelete = time.Since(healed)
			}
		case !retryable5xx(err):
			t.Fatalf("Encrypt with the deleted access key on A after the heal: %v", err)
		}
		out, err := sa.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: sec.ARN})
		switch {
		case err == nil && aws.ToString(out.SecretString) == "rotated-on-b":
			if sawSecret == 0 {
				sawSecret = time.Since(healed)
			}
		case err == nil:
			t.Fatalf("A served the secret's old value %q %v after the heal", aws.ToString(out.SecretString), time.Since(healed))
		case !retryable5xx(err):
			t.Fatalf("GetSecretValue on A after the heal: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("partition: A refused writes %v after the cut; after the heal A served again in %v and saw B's DisableKey in %v, DeleteAccessKey in %v, PutSecretValue in %v",
		writeRefused.Round(time.Millisecond), resumed.Round(time.Millisecond), sawDisable.Round(time.Millisecond),
		sawDelete.Round(time.Millisecond), sawSecret.Round(time.Millisecond))
	if late := max(resumed, sawDisable, sawDelete, sawSecret); late > 1500*time.Millisecond {
		t.Errorf("A took %v after the heal to resume and see B's changes; want about 1s", late)
	}
	if _, err := ka.CreateKey(bg(), &kms.CreateKeyInput{}); err != nil {
		t.Errorf("CreateKey on A after the heal: %v", err)
	}

	// Nothing A acknowledged is lost: every key and secret version is on B.
	if len(acks) < 4 {
		t.Fatalf("A acknowledged only %d writes before the cut: the test did not test", len(acks))
	}
	for _, w := range acks {
		if w.key != "" {
			if _, err := kb.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(w.key)}); err != nil {
				t.Errorf("key %s acknowledged by A: %v", w.key, err)
			}
			continue
		}
		if _, err := sb.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: sec.ARN, VersionId: aws.String(w.version)}); err != nil {
			t.Errorf("secret version %s acknowledged by A: %v", w.version, err)
		}
	}
	t.Logf("%d writes acknowledged by A up to the cut, all present", len(acks))
}

// TestClusterPartitionSilent: the proxy between node A and PostgreSQL
// stalls (forwards nothing, closes nothing), as a partition that drops
// packets does. A's writes fail with a retryable 5xx after the storage
// statement timeout (10 s) instead of hanging; cached reads are served
// until --max-staleness and refused after it; after the heal A resumes by
// itself.
func TestClusterPartitionSilent(t *testing.T) {
	t.Parallel()
	const bound = 3 * time.Second
	db := testdb.Postgres(t)
	dsn := db.DSNFor(db.User, db.Password, db.NewDatabase(t))
	px := db.NewProxy(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	node := func(dsn string) *server {
		return startServer(t, serverOpts{
			dataDir: dataDir,
			env:     []string{"ARCA_POSTGRES_DSN=" + dsn},
			args: []string{"--storage", "postgres", "--scheduler-interval", "1s", "--max-staleness", bound.String(),
				"--audit-dir", filepath.Join(t.TempDir(), "audit")},
		})
	}
	a, b := node(strings.Replace(dsn, db.Addr(), px.Addr(), 1)), node(dsn)
	ka, kb := a.client("us-east-1"), b.client("us-east-1")
	k := createKey(t, ka, nil)
	for range 2 {
		_, err := ka.Encrypt(bg(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
		mustOK(t, err, "Encrypt on A before the stall")
	}

	px.Stall()
	stalled := time.Now()
	var write struct {
		err  error
		took time.Duration
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		_, write.err = ka.CreateKey(bg(), &kms.CreateKeyInput{})
		write.took = time.Since(stalled)
	})
	var lastOK, refusedAt time.Duration
	for time.Since(stalled) < bound+time.Second {
		_, err := ka.Encrypt(bg(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
		at := time.Since(stalled)
		switch {
		case err == nil:
			lastOK = at
		case retryable5xx(err):
			if refusedAt == 0 {
				refusedAt = at
			}
		default:
			t.Fatalf("Encrypt on A %v into the stall: %v", at, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lastOK == 0 || lastOK > bound+300*time.Millisecond || refusedAt == 0 {
		t.Errorf("cached Encrypt on A: last served %v, refused from %v after the stall; want served, then refused from about %v", lastOK, refusedAt, bound)
	}
	if resp, err := http.Get(a.endpoint + "/healthz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("A's /healthz past the bound: %v, %v; want 503", resp, err)
	} else {
		resp.Body.Close()
	}
	_, err := kb.CreateKey(bg(), &kms.CreateKeyInput{})
	mustOK(t, err, "CreateKey on B during A's stall")
	wg.Wait()
	if !retryable5xx(write.err) || write.took > 15*time.Second {
		t.Errorf("CreateKey on A during the stall: %v after %v; want a retryable 5xx within the 10s statement timeout", write.err, write.took)
	}

	px.Heal()
	healed := time.Now()
	for {
		_, err := ka.Encrypt(bg(), &kms.EncryptInput{KeyId: k.KeyId, Plaintext: []byte("x")})
		if err == nil {
			break
		}
		if !retryable5xx(err) || time.Since(healed) > 15*time.Second {
			t.Fatalf("Encrypt on A %v after the heal: %v", time.Since(healed), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	resumed := time.Since(healed)
	_, err = ka.CreateKey(bg(), &kms.CreateKeyInput{})
	mustOK(t, err, "CreateKey on A after the heal")
	t.Logf("silent partition: A served from cache until %v, refused from %v; a write failed after %v (%s); A served again %v after the heal",
		lastOK.Round(time.Millisecond), refusedAt.Round(time.Millisecond), write.took.Round(time.Millisecond), apiCode(write.err), resumed.Round(time.Millisecond))
}
