package awsjson_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kms"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/storage/memory"
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
func BenchmarkEncryptPath(b *testing.B) {
	ctx := context.Background()
	st := memory.New()
	ids := iam.New(st, "aws")
	akid, secret, err := ids.EnsureRootAccessKey(ctx, "000000000000", "", nil)
	if err != nil {
		b.Fatal(err)
	}
	svc := kms.New(keystore.New(st), kms.Config{})
	h := awsjson.New(awsjson.Config{
		Services: []*awsjson.Service{awsjson.KMS(svc)}, Verifier: sigv4.NewVerifier(lookup{ids}, sigv4.Options{}),
		Principals: ids, Regions: []string{"us-east-1"},
	})
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
	for b.Loop() {
		call("Encrypt", body)
	}
}
