package secrets

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/secrets/rotator"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

const acct = "111122223333"

// fakeKeys is KMS for unit tests: data keys are kept in memory by blob, and
// every call records the encryption context it was given.
type fakeKeys struct {
	mu       sync.Mutex
	keys     map[string][]byte // blob → data key
	ctxs     map[string]map[string]string
	disabled bool
}

func (f *fakeKeys) GenerateDataKeyFor(_ context.Context, c *auth.Caller, keyID string, ec map[string]string) (string, []byte, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.disabled {
		return "", nil, nil, svcerr.New(svcerr.Disabled, "key is disabled")
	}
	if c.ViaService != "secretsmanager."+c.Region+".amazonaws.com" {
		return "", nil, nil, fmt.Errorf("ViaService = %q", c.ViaService)
	}
	dk := make([]byte, 32)
	blob := make([]byte, 16)
	rand.Read(dk)
	rand.Read(blob)
	f.keys[string(blob)] = dk
	f.ctxs[string(blob)] = maps.Clone(ec)
	return "arn:aws:kms:" + c.Region + ":" + acct + ":key/" + keyID, append([]byte(nil), dk...), blob, nil
}

func (f *fakeKeys) DecryptFor(_ context.Context, _ *auth.Caller, _ string, blob []byte, ec map[string]string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.disabled {
		return nil, svcerr.New(svcerr.Disabled, "key is disabled")
	}
	dk, ok := f.keys[string(blob)]
	if !ok || !maps.Equal(f.ctxs[string(blob)], ec) {
		return nil, svcerr.New(svcerr.InvalidCiphertext, "bad")
	}
	return append([]byte(nil), dk...), nil
}

func (f *fakeKeys) ManagedKey(_ context.Context, _, _, _ string) (string, error) {
	return "managed", nil
}

// fakeRotator follows AWS's single-user template against an in-memory
// "database" password, failing the steps named in fail.
type fakeRotator struct {
	mu    sync.Mutex
	db    string
	fail  map[string]error
	calls []string
}

func (r *fakeRotator) Rotate(ctx context.Context, s rotator.Secrets, req rotator.Request) error {
	r.mu.Lock()
	r.calls = append(r.calls, req.Step)
	err := r.fail[req.Step]
	r.mu.Unlock()
	if err != nil {
		return err
	}
	switch req.Step {
	case rotator.CreateSecret:
		if _, err := s.GetSecretValue(ctx, req.SecretID, req.ClientRequestToken, "AWSPENDING"); err == nil {
			return nil
		} else if !errors.Is(err, rotator.ErrNotFound) {
			return err
		}
		pw, err := s.GetRandomPassword(ctx, 24, "")
		if err != nil {
			return err
		}
		return s.PutSecretValue(ctx, req.SecretID, req.ClientRequestToken, pw, []string{"AWSPENDING"})
	case rotator.SetSecret:
		v, err := s.GetSecretValue(ctx, req.SecretID, req.ClientRequestToken, "AWSPENDING")
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.db = v.SecretString
		r.mu.Unlock()
	case rotator.TestSecret:
		v, err := s.GetSecretValue(ctx, req.SecretID, req.ClientRequestToken, "AWSPENDING")
		if err != nil {
			return err
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.db != v.SecretString {
			return errors.New("login failed")
		}
	case rotator.FinishSecret:
		d, err := s.DescribeSecret(ctx, req.SecretID)
		if err != nil {
			return err
		}
		cur := ""
		for id, st := range d.VersionIDsToStages {
			for _, x := range st {
				if x == "AWSCURRENT" {
					cur = id
				}
			}
		}
		if cur == req.ClientRequestToken {
			return nil
		}
		return s.UpdateSecretVersionStage(ctx, req.SecretID, "AWSCURRENT", req.ClientRequestToken, cur)
	}
	return nil
}

type fixture struct {
	s    *Service
	keys *fakeKeys
	rot  *fakeRotator
	now  time.Time
	c    *auth.Caller
	ctx  context.Context
	logs *strings.Builder
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		keys: &fakeKeys{keys: map[string][]byte{}, ctxs: map[string]map[string]string{}},
		rot:  &fakeRotator{fail: map[string]error{}},
		now:  time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		c: &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: acct, ARN: "arn:aws:iam::" + acct + ":root", UserID: acct},
			Region: "us-east-1"},
		ctx:  context.Background(),
		logs: &strings.Builder{},
	}
	var mu sync.Mutex
	f.s = New(memory.New(), f.keys, Config{
		Regions:  []string{"us-east-1", "eu-west-1"},
		Now:      func() time.Time { mu.Lock(); defer mu.Unlock(); return f.now },
		Logger:   slog.New(slog.NewTextHandler(lockedWriter{&sync.Mutex{}, f.logs}, nil)),
		Rotators: map[string]rotator.Rotator{"fake": f.rot},
	})
	t.Cleanup(f.s.Close)
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (f *fixture) value(t *testing.T, id, stage string) string {
	t.Helper()
	g, err := f.s.GetSecretValue(f.ctx, f.c, &GetSecretValueInput{SecretID: id, VersionStage: stage})
	if err != nil {
		t.Fatalf("GetSecretValue %s %s: %v", id, stage, err)
	}
	return *g.SecretString
}

func ptr[T any](v T) *T { return &v }

func TestEncryptionContextAndKeyState(t *testing.T) {
	f := newFixture(t)
	out, err := f.s.CreateSecret(f.ctx, f.c, &CreateSecretInput{Name: "a", SecretString: ptr("v1-secret")})
	if err != nil {
		t.Fatal(err)
	}
	for _, ec := range f.keys.ctxs {
		if ec["SecretARN"] != out.ARN || ec["SecretVersionId"] != out.VersionID || len(ec) != 2 {
			t.Fatalf("encryption context %v, want SecretARN %s and SecretVersionId %s", ec, out.ARN, out.VersionID)
		}
	}
	f.keys.disabled = true
	if _, err := f.s.GetSecretValue(f.ctx, f.c, &GetSecretValueInput{SecretID: "a"}); svcerr.CodeOf(err) != svcerr.DecryptionFailure {
		t.Fatalf("GetSecretValue with a disabled key: %v", err)
	}
	if _, err := f.s.PutSecretValue(f.ctx, f.c, &PutSecretValueInput{SecretID: "a", SecretString: ptr("v2")}); svcerr.CodeOf(err) != svcerr.EncryptionFailure {
		t.Fatalf("PutSecretValue with a disabled key: %v", err)
	}
	f.keys.disabled = false
	if got := f.value(t, "a", ""); got != "v1-secret" {
		t.Fatalf("value %q", got)
	}
}

func TestRotationEngine(t *testing.T) {
	f := newFixture(t)
	if _, err := f.s.CreateSecret(f.ctx, f.c, &CreateSecretInput{Name: "db", SecretString: ptr("initial-password")}); err != nil {
		t.Fatal(err)
	}
	// A failing testSecret: AWSCURRENT stays, AWSPENDING stays, the
	// failure is recorded with a retry time, and no value leaks.
	f.rot.fail[rotator.TestSecret] = errors.New("could not log in")
	rs, err := f.s.RotateSecret(f.ctx, f.c, &RotateSecretInput{SecretID: "db",
		RotationLambdaARN: "arn:aws:lambda:us-east-1:" + acct + ":function:fake",
		RotationRules:     &RotationRules{AutomaticallyAfterDays: ptr(int64(30))}})
	if err != nil {
		t.Fatal(err)
	}
	f.s.background.Wait()
	if got := f.value(t, "db", "AWSCURRENT"); got != "initial-password" {
		t.Fatalf("AWSCURRENT after a failed rotation = %q", got)
	}
	pending, err := f.s.GetSecretValue(f.ctx, f.c, &GetSecretValueInput{SecretID: "db", VersionStage: "AWSPENDING"})
	if err != nil || pending.VersionID != rs.VersionID {
		t.Fatalf("AWSPENDING after a failed rotation: %+v, %v", pending, err)
	}
	d, err := f.s.DescribeSecret(f.ctx, f.c, &SecretIDInput{SecretID: "db"})
	if err != nil || d.ArcaRotationFailure == nil || d.ArcaRotationFailure.Step != rotator.TestSecret || d.ArcaRotationFailure.Attempts != 1 ||
		d.ArcaRotationFailure.NextAttemptDate == nil || !*d.RotationEnabled {
		t.Fatalf("DescribeSecret after failure: %+v %+v, %v", d, d.ArcaRotationFailure, err)
	}
	if _, err := f.s.RotateSecret(f.ctx, f.c, &RotateSecretInput{SecretID: "db"}); svcerr.CodeOf(err) != svcerr.InvalidRequest {
		t.Fatalf("RotateSecret during a pending rotation: %v", err)
	}
	// The sweep before the backoff does nothing; after it, the retry
	// succeeds with the same version ID.
	rep, _ := f.s.Sweep(f.ctx)
	if rep.Rotated+rep.Failed != 0 {
		t.Fatalf("sweep before the retry time: %+v", rep)
	}
	delete(f.rot.fail, rotator.TestSecret)
	f.now = f.now.Add(2 * time.Minute)
	rep, err = f.s.Sweep(f.ctx)
	if err != nil || rep.Rotated != 1 {
		t.Fatalf("retry sweep: %+v, %v", rep, err)
	}
	cur, _ := f.s.GetSecretValue(f.ctx, f.c, &GetSecretValueInput{SecretID: "db"})
	if cur.VersionID != rs.VersionID || *cur.SecretString != f.rot.db {
		t.Fatalf("after retry AWSCURRENT is %s (%q), want %s with the database's password", cur.VersionID, *cur.SecretString, rs.VersionID)
	}
	if got := f.value(t, "db", "AWSPREVIOUS"); got != "initial-password" {
		t.Fatalf("AWSPREVIOUS = %q", got)
	}
	d, _ = f.s.DescribeSecret(f.ctx, f.c, &SecretIDInput{SecretID: "db"})
	if d.ArcaRotationFailure != nil || d.LastRotatedDate == nil || d.NextRotationDate == nil {
		t.Fatalf("DescribeSecret after success: %+v", d)
	}
	// The schedule: 30 days later the sweep rotates again (catching up
	// even if it runs much later).
	f.now = f.now.Add(45 * 24 * time.Hour)
	rep, err = f.s.Sweep(f.ctx)
	if err != nil || rep.Rotated != 1 {
		t.Fatalf("scheduled sweep: %+v, %v", rep, err)
	}
	if got := f.value(t, "db", "AWSPREVIOUS"); got == "initial-password" {
		t.Fatal("the scheduled rotation did not move AWSCURRENT")
	}
	if strings.Contains(f.logs.String(), "initial-password") || strings.Contains(f.logs.String(), f.rot.db) {
		t.Fatal("a secret value reached the log")
	}
}

func TestRotationFailureMessageRedacted(t *testing.T) {
	f := newFixture(t)
	f.s.CreateSecret(f.ctx, f.c, &CreateSecretInput{Name: "db", SecretString: ptr(`{"username":"app","password":"s3cr3t-pass"}`)})
	f.rot.fail[rotator.SetSecret] = nil
	leaky := &leakyRotator{}
	f.s.rotators["leaky"] = leaky
	if _, err := f.s.RotateSecret(f.ctx, f.c, &RotateSecretInput{SecretID: "db", RotationLambdaARN: "arn:aws:lambda:us-east-1:" + acct + ":function:leaky"}); err != nil {
		t.Fatal(err)
	}
	f.s.background.Wait()
	d, _ := f.s.DescribeSecret(f.ctx, f.c, &SecretIDInput{SecretID: "db"})
	if d.ArcaRotationFailure == nil || strings.Contains(d.ArcaRotationFailure.Message, "s3cr3t-pass") || !strings.Contains(d.ArcaRotationFailure.Message, "[REDACTED]") {
		t.Fatalf("failure message %+v", d.ArcaRotationFailure)
	}
	if strings.Contains(f.logs.String(), "s3cr3t-pass") {
		t.Fatal("the password reached the log")
	}
}

// leakyRotator fails with an error that quotes the current password.
type leakyRotator struct{}

func (leakyRotator) Rotate(ctx context.Context, s rotator.Secrets, req rotator.Request) error {
	v, err := s.GetSecretValue(ctx, req.SecretID, "", "AWSCURRENT")
	if err != nil {
		return err
	}
	return errors.New("connect with " + v.SecretString + " failed")
}

func TestRecoveryWindowSweep(t *testing.T) {
	f := newFixture(t)
	f.s.CreateSecret(f.ctx, f.c, &CreateSecretInput{Name: "gone", SecretString: ptr("x-value")})
	if _, err := f.s.DeleteSecret(f.ctx, f.c, &DeleteSecretInput{SecretID: "gone", RecoveryWindowInDays: ptr(int64(7))}); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(7*24*time.Hour - time.Second)
	if rep, _ := f.s.Sweep(f.ctx); rep.Deleted != 0 {
		t.Fatal("deleted before the window ended")
	}
	f.now = f.now.Add(time.Second)
	if rep, _ := f.s.Sweep(f.ctx); rep.Deleted != 1 {
		t.Fatal("not deleted when the window ended")
	}
	if _, err := f.s.DescribeSecret(f.ctx, f.c, &SecretIDInput{SecretID: "gone"}); svcerr.CodeOf(err) != svcerr.ResourceNotFound {
		t.Fatalf("DescribeSecret after deletion: %v", err)
	}
	keys, _ := f.s.st.b.List(f.ctx, "secrets/", "", 0)
	if len(keys) != 0 {
		t.Fatalf("records left after deletion: %d", len(keys))
	}
}

func TestSecretIDForms(t *testing.T) {
	f := newFixture(t)
	a, _ := f.s.CreateSecret(f.ctx, f.c, &CreateSecretInput{Name: "x/y-abcdef", SecretString: ptr("1-value")})
	b, _ := f.s.CreateSecret(f.ctx, f.c, &CreateSecretInput{Name: "x/y", SecretString: ptr("2-value")})
	for id, want := range map[string]string{
		"x/y-abcdef": "1-value", a.ARN: "1-value", "x/y": "2-value", b.ARN: "2-value",
		strings.TrimSuffix(b.ARN, b.ARN[len(b.ARN)-7:]): "2-value",
	} {
		if got := f.value(t, id, ""); got != want {
			t.Errorf("%s → %q, want %q", id, got, want)
		}
	}
	wrong := b.ARN[:len(b.ARN)-6] + "zzzzzz"
	if _, err := f.s.GetSecretValue(f.ctx, f.c, &GetSecretValueInput{SecretID: wrong}); svcerr.CodeOf(err) != svcerr.ResourceNotFound {
		t.Errorf("wrong suffix: %v", err)
	}
	other := strings.Replace(b.ARN, "us-east-1", "eu-west-1", 1)
	if _, err := f.s.GetSecretValue(f.ctx, f.c, &GetSecretValueInput{SecretID: other}); svcerr.CodeOf(err) != svcerr.ResourceNotFound {
		t.Errorf("ARN of another region: %v", err)
	}
}

// TestGate: cached secrets and values are refused, with the retryable
// InternalServiceError, while the gate refuses (a node past its staleness
// bound), and served again once it admits.
func TestGate(t *testing.T) {
	f := newFixture(t)
	if _, err := f.s.CreateSecret(f.ctx, f.c, &CreateSecretInput{Name: "g", SecretString: ptr("v1")}); err != nil {
		t.Fatal(err)
	}
	f.value(t, "g", "") // cached from here on
	refuse := true
	f.s.SetGate(func() error {
		if refuse {
			return storage.ErrStale
		}
		return nil
	})
	_, err := f.s.GetSecretValue(f.ctx, f.c, &GetSecretValueInput{SecretID: "g"})
	if svcerr.CodeOf(err) != svcerr.InternalServiceError {
		t.Errorf("GetSecretValue past the gate = %v; want InternalServiceError", err)
	}
	if _, err := f.s.DescribeSecret(f.ctx, f.c, &SecretIDInput{SecretID: "g"}); svcerr.CodeOf(err) != svcerr.InternalServiceError {
		t.Errorf("DescribeSecret past the gate = %v; want InternalServiceError", err)
	}
	refuse = false
	if v := f.value(t, "g", ""); v != "v1" {
		t.Errorf("GetSecretValue once the gate admits = %q", v)
	}
}
