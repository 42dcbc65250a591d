package awskms_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal/awskms"
	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/server"
	"github.com/arca-kms/arca/internal/storage/memory"
)

const (
	outerAKID   = "AKIAARCAOUTERKMSTEST"
	outerSecret = "outerKMSsecret/ArcaOuterKMSsecret+Arca01"
	region      = "us-east-1"
)

// outer is a second Arca (in this process, the real server wiring on a
// loopback port) that plays the remote KMS.
type outer struct {
	endpoint string
	client   *kms.Client
}

var (
	outerOnce sync.Once
	outerSrv  *outer
	outerErr  error
)

// startOuter starts one dev-mode Arca for the package's tests.
func startOuter(t *testing.T) *outer {
	t.Helper()
	outerOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			outerErr = err
			return
		}
		addr := ln.Addr().String()
		ln.Close()
		cfg := config.Defaults()
		cfg.Dev = true
		cfg.Listen = addr
		// Not t.TempDir: the server outlives this test and serves the rest.
		dir, err := mkdtemp()
		if err != nil {
			outerErr = err
			return
		}
		cfg.DataDir = filepath.Join(dir, "data")
		env := map[string]string{"ARCA_ROOT_ACCESS_KEY_ID": outerAKID, "ARCA_ROOT_SECRET_ACCESS_KEY": outerSecret}
		go server.Run(context.Background(), cfg, server.Options{
			Getenv: func(k string) string { return env[k] },
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		o := &outer{endpoint: "http://" + addr}
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := http.Get(o.endpoint + "/healthz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				outerErr = errors.New("the outer Arca did not become healthy")
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		o.client = kms.New(kms.Options{
			Region:       region,
			BaseEndpoint: aws.String(o.endpoint),
			Credentials:  credentials.NewStaticCredentialsProvider(outerAKID, outerSecret, ""),
		})
		outerSrv = o
	})
	if outerErr != nil {
		t.Fatal(outerErr)
	}
	return outerSrv
}

func (o *outer) createKey(t *testing.T, spec types.KeySpec, usage types.KeyUsageType) string {
	t.Helper()
	out, err := o.client.CreateKey(context.Background(), &kms.CreateKeyInput{KeySpec: spec, KeyUsage: usage})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

func (o *outer) config(keyID string) awskms.Config {
	return awskms.Config{Endpoint: o.endpoint, Region: region, KeyID: keyID, AccessKeyID: outerAKID, SecretAccessKey: outerSecret}
}

func TestRoundTrip(t *testing.T) {
	o := startOuter(t)
	ctx := context.Background()
	id := o.createKey(t, types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt)
	s, err := awskms.Open(ctx, o.config(id))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(s.KeyARN(), ":key/"+id) {
		t.Fatalf("KeyARN = %q", s.KeyARN())
	}
	// Bigger than KMS Encrypt's 4096-byte limit: the envelope carries it.
	for _, n := range []int{45, 9 + 36*200} {
		pt := make([]byte, n)
		rand.Read(pt)
		w, err := s.Wrap(ctx, pt)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(w, pt[:32]) || !awskms.IsWrapped(w) {
			t.Fatal("wrapped output shows the plaintext, or lacks the magic")
		}
		got, err := s.Unwrap(ctx, w)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("unwrap: %v", err)
		}
		for _, i := range []int{10, len(w) / 2, len(w) - 1} {
			bad := bytes.Clone(w)
			bad[i] ^= 1
			if _, err := s.Unwrap(ctx, bad); err == nil {
				t.Fatalf("altered byte %d unwrapped", i)
			}
		}
	}
	// An alias works as key_id, and a seal on another key still unwraps
	// (the blob names its key).
	if _, err := o.client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/arca-seal"), TargetKeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	sa, err := awskms.Open(ctx, o.config("alias/arca-seal"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := sa.Wrap(ctx, []byte("keyring"))
	if err != nil {
		t.Fatal(err)
	}
	other, err := awskms.Open(ctx, o.config(o.createKey(t, types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt)))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := other.Unwrap(ctx, w); err != nil || string(got) != "keyring" {
		t.Fatalf("unwrap through a seal configured with another key: %q %v", got, err)
	}
}

func TestErrors(t *testing.T) {
	o := startOuter(t)
	ctx := context.Background()
	if _, err := awskms.Open(ctx, o.config("1234abcd-12ab-34cd-56ef-1234567890ab")); !errors.Is(err, awskms.ErrKey) || !strings.Contains(err.Error(), "seal_awskms.key_id") {
		t.Errorf("missing key: %v", err)
	}
	hmacKey := o.createKey(t, types.KeySpecHmac256, types.KeyUsageTypeGenerateVerifyMac)
	if _, err := awskms.Open(ctx, o.config(hmacKey)); !errors.Is(err, awskms.ErrKey) || !strings.Contains(err.Error(), "SYMMETRIC_DEFAULT") {
		t.Errorf("HMAC key: %v", err)
	}
	id := o.createKey(t, types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt)
	s, err := awskms.Open(ctx, o.config(id))
	if err != nil {
		t.Fatal(err)
	}
	w, err := s.Wrap(ctx, []byte("keyring"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.client.DisableKey(ctx, &kms.DisableKeyInput{KeyId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unwrap(ctx, w); !errors.Is(err, awskms.ErrKey) || !strings.Contains(err.Error(), "enable it") {
		t.Errorf("disabled key, unwrap: %v", err)
	}
	if _, err := awskms.Open(ctx, o.config(id)); !errors.Is(err, awskms.ErrKey) || !strings.Contains(err.Error(), "Disabled") {
		t.Errorf("disabled key, open: %v", err)
	}
	bad := o.config(id)
	bad.SecretAccessKey = "wrong" + bad.SecretAccessKey[5:]
	_, err = awskms.Open(ctx, bad)
	if !errors.Is(err, awskms.ErrAccess) || strings.Contains(err.Error(), bad.SecretAccessKey) {
		t.Errorf("wrong secret: %v", err)
	}
	down := o.config(id)
	down.Endpoint = "http://127.0.0.1:1"
	down.Timeout = 3 * time.Second
	if _, err := awskms.Open(ctx, down); !errors.Is(err, awskms.ErrUnreachable) || !strings.Contains(err.Error(), "seal_awskms.endpoint") {
		t.Errorf("unreachable: %v", err)
	}
	if err := (awskms.Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "key_id") || !strings.Contains(err.Error(), "region") {
		t.Errorf("empty config: %v", err)
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{awskms.EnvKeyID: "alias/x", awskms.EnvAccessKeyID: "AKIA", awskms.EnvSecretAccessKey: "s"}
	c := awskms.Config{Region: "eu-west-1", KeyID: "from-yaml"}.FromEnv(func(k string) string { return env[k] })
	if c.KeyID != "alias/x" || c.Region != "eu-west-1" || c.AccessKeyID != "AKIA" || c.SecretAccessKey != "s" {
		t.Fatalf("FromEnv = %+v", c)
	}
	c.SecretAccessKey = ""
	if err := c.Validate(); err == nil {
		t.Fatal("access key without secret accepted")
	}
}

// TestBarrier: the seal drives a real barrier across a "restart" (a new
// Seal and a new Barrier over the same storage).
func TestBarrier(t *testing.T) {
	o := startOuter(t)
	ctx := context.Background()
	id := o.createKey(t, types.KeySpecSymmetricDefault, types.KeyUsageTypeEncryptDecrypt)
	s, err := awskms.Open(ctx, o.config(id))
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	b := barrier.New(store)
	if err := b.Initialize(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "kms/x", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	b.Seal()
	s2, err := awskms.Open(ctx, o.config(id))
	if err != nil {
		t.Fatal(err)
	}
	b2 := barrier.New(store)
	if err := b2.Unseal(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if v, err := b2.Get(ctx, "kms/x"); err != nil || string(v) != "hello" {
		t.Fatalf("Get = %q, %v", v, err)
	}
}

var outerDir string

func mkdtemp() (string, error) {
	var err error
	outerDir, err = os.MkdirTemp("", "arca-awskms-outer")
	return outerDir, err
}

func TestMain(m *testing.M) {
	code := m.Run()
	if outerDir != "" {
		os.RemoveAll(outerDir)
	}
	os.Exit(code)
}
