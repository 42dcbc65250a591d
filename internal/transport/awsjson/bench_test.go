package awsjson_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kms"
	"github.com/arca-kms/arca/internal/secrets"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/transport/auditrec"
	"github.com/arca-kms/arca/internal/transport/awsjson"
)

type lookup struct{ ids *iam.Store }

func (l lookup) LookupSecret(ctx context.Context, id string) ([]byte, error) {
	s, err := l.ids.LookupSecret(ctx, id)
	if err != nil {
		return nil, sigv4.ErrUnknownAccessKey
	}
	return s, nil
}

// BenchmarkEncryptPath measures one Encrypt of 1 KiB through the whole
// in-process request path: body read, SigV4, routing, JSON, service,
// keystore cache and AES-GCM. It is the server CPU that make bench reports,
// minus the network.
func BenchmarkEncryptPath(b *testing.B) { benchEncrypt(b, false, false) }

// BenchmarkEncryptPathAudited is BenchmarkEncryptPath with the audit log on
// (a real log in a temporary directory, fsync and all) and 64 concurrent
// callers, so that group commit works as under load.
func BenchmarkEncryptPathAudited(b *testing.B) { benchEncrypt(b, true, true) }

// BenchmarkEncryptPathParallel is BenchmarkEncryptPathAudited with the audit
// log off: the like-for-like base that the audited row is compared with.
func BenchmarkEncryptPathParallel(b *testing.B) { benchEncrypt(b, false, true) }

func benchEncrypt(b *testing.B, audited, parallel bool) {
	ctx := context.Background()
	st := memory.New()
	ids := iam.New(st, "aws")
	akid, secret, err := ids.EnsureRootAccessKey(ctx, "000000000000", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	svc := kms.New(keystore.New(st), kms.Config{})
	cfg := awsjson.Config{
		Services: []*awsjson.Service{awsjson.KMS(svc)}, Verifier: sigv4.NewVerifier(lookup{ids}, sigv4.Options{}),
		Principals: ids, Regions: []string{"us-east-1"},
	}
	if audited {
		_, key, _ := ed25519.GenerateKey(nil)
		l, err := audit.Open(b.TempDir(), key, audit.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		cfg.Audit = auditrec.New(l, "000000000000")
	}
	h := awsjson.New(cfg)
	signer := sigv4.NewSigner(akid, secret, "us-east-1", "kms")
	call := func(target string, body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4599/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", "TrentService."+target)
		signer.Sign(r, body, time.Now())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%s: %d %s", target, w.Code, w.Body)
		}
		return w
	}
	var ck struct{ KeyMetadata struct{ KeyId string } }
	json.Unmarshal(call("CreateKey", []byte(`{}`)).Body.Bytes(), &ck)
	body := []byte(`{"KeyId":"` + ck.KeyMetadata.KeyId + `","Plaintext":"` + base64.StdEncoding.EncodeToString(make([]byte, 1024)) + `"}`)
	b.ReportAllocs()
	if !parallel {
		for b.Loop() {
			call("Encrypt", body)
		}
		return
	}
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			call("Encrypt", body)
		}
	})
}

// BenchmarkGetSecretValuePath measures one GetSecretValue of a 1 KiB secret
// under alias/aws/secretsmanager through the whole in-process request path,
// next to BenchmarkDecryptPath for the same size (make bench's target is
// GetSecretValue at ≥ 80% of Decrypt's ops/s).
func BenchmarkGetSecretValuePath(b *testing.B) {
	h, call := benchServer(b)
	_ = h
	call("secretsmanager", "CreateSecret", []byte(`{"Name":"bench","SecretString":"`+string(bytes.Repeat([]byte("s"), 1024))+`"}`))
	body := []byte(`{"SecretId":"bench"}`)
	b.ReportAllocs()
	for b.Loop() {
		call("secretsmanager", "GetSecretValue", body)
	}
}

// BenchmarkDecryptPath is Decrypt of a 1 KiB ciphertext through the same path.
func BenchmarkDecryptPath(b *testing.B) {
	_, call := benchServer(b)
	var ck struct{ KeyMetadata struct{ KeyId string } }
	json.Unmarshal(call("TrentService", "CreateKey", []byte(`{}`)).Body.Bytes(), &ck)
	var enc struct{ CiphertextBlob string }
	json.Unmarshal(call("TrentService", "Encrypt", []byte(`{"KeyId":"`+ck.KeyMetadata.KeyId+`","Plaintext":"`+base64.StdEncoding.EncodeToString(make([]byte, 1024))+`"}`)).Body.Bytes(), &enc)
	body := []byte(`{"CiphertextBlob":"` + enc.CiphertextBlob + `"}`)
	b.ReportAllocs()
	for b.Loop() {
		call("TrentService", "Decrypt", body)
	}
}

func benchServer(b *testing.B) (http.Handler, func(prefix, target string, body []byte) *httptest.ResponseRecorder) {
	ctx := context.Background()
	st := memory.New()
	ids := iam.New(st, "aws")
	akid, secret, err := ids.EnsureRootAccessKey(ctx, "000000000000", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	svc := kms.New(keystore.New(st), kms.Config{Identities: ids})
	sec := secrets.New(st, svc, secrets.Config{Identities: ids, Regions: []string{"us-east-1"}})
	b.Cleanup(sec.Close)
	h := awsjson.New(awsjson.Config{
		Services: []*awsjson.Service{awsjson.KMS(svc), awsjson.SecretsManager(sec)}, Verifier: sigv4.NewVerifier(lookup{ids}, sigv4.Options{}),
		Principals: ids, Regions: []string{"us-east-1"},
	})
	signers := map[string]*sigv4.Signer{
		"TrentService":   sigv4.NewSigner(akid, secret, "us-east-1", "kms"),
		"secretsmanager": sigv4.NewSigner(akid, secret, "us-east-1", "secretsmanager"),
	}
	return h, func(prefix, target string, body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:4599/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-amz-json-1.1")
		r.Header.Set("X-Amz-Target", prefix+"."+target)
		signers[prefix].Sign(r, body, time.Now())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%s: %d %s", target, w.Code, w.Body)
		}
		return w
	}
}
