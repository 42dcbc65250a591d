// This file sends malformed, unsigned, badly signed and oversized requests
// over raw HTTP and checks each gets the exact AWS error, a 4xx status, the
// AWS error headers, and changes nothing.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

type rawResult struct {
	status int
	header http.Header
	typ    string
	msg    string
}

// rawCall sends body to target, signed by the real aws-sdk-go-v2 signer
// with the given secret and time (sign=false sends it unsigned).
func rawCall(t *testing.T, s *server, target string, body []byte, sign bool, akid, secret string, at time.Time) rawResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.endpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		req.Header.Set("X-Amz-Target", target)
	}
	if sign {
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", at); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	json.Unmarshal(b, &e)
	return rawResult{status: resp.StatusCode, header: resp.Header, typ: e.Type, msg: e.Message}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	key := createKey(t, c, nil)
	now := time.Now()
	keyID := aws.ToString(key.KeyId)
	tests := []struct {
		name   string
		target string
		body   string
		sign   bool
		akid   string
		secret string
		at     time.Time
		status int
		typ    string
		msg    string
	}{
		{name: "malformed json", target: "TrentService.CreateKey", body: `{"Description":`, sign: true, status: 400, typ: "SerializationException"},
		{name: "json array", target: "TrentService.CreateKey", body: `[]`, sign: true, status: 400, typ: "SerializationException"},
		{name: "wrong type", target: "TrentService.CreateKey", body: `{"Description":5}`, sign: true, status: 400, typ: "SerializationException", msg: "Description"},
		{name: "wrong type number", target: "TrentService.GenerateRandom", body: `{"NumberOfBytes":"ten"}`, sign: true, status: 400, typ: "SerializationException", msg: "NumberOfBytes"},
		{name: "invalid base64", target: "TrentService.Encrypt", body: `{"KeyId":"` + keyID + `","Plaintext":"!!!not base64!!!"}`, sign: true, status: 400, typ: "SerializationException"},
		{name: "missing required", target: "TrentService.Encrypt", body: `{"KeyId":"` + keyID + `"}`, sign: true, status: 400, typ: "ValidationException", msg: "plaintext"},
		{name: "out of range", target: "TrentService.GenerateRandom", body: `{"NumberOfBytes":0}`, sign: true, status: 400, typ: "ValidationException", msg: "numberOfBytes"},
		{name: "unknown operation", target: "TrentService.Frobnicate", body: `{}`, sign: true, status: 400, typ: "UnknownOperationException"},
		{name: "unknown service", target: "NotAService.CreateKey", body: `{}`, sign: true, status: 400, typ: "UnknownOperationException"},
		{name: "missing target", target: "", body: `{}`, sign: true, status: 400, typ: "UnknownOperationException"},
		{name: "unsigned", target: "TrentService.CreateKey", body: `{}`, status: 400, typ: "MissingAuthenticationTokenException"},
		{name: "wrong secret", target: "TrentService.CreateKey", body: `{}`, sign: true, secret: "wrong", status: 400, typ: "InvalidSignatureException"},
		{name: "unknown access key", target: "TrentService.CreateKey", body: `{}`, sign: true, akid: "AKIAUNKNOWNUNKNOWN00", status: 400, typ: "UnrecognizedClientException"},
		{name: "expired signature", target: "TrentService.CreateKey", body: `{}`, sign: true, at: now.Add(-20 * time.Minute), status: 400, typ: "InvalidSignatureException", msg: "Signature expired"},
		{name: "future signature", target: "TrentService.CreateKey", body: `{}`, sign: true, at: now.Add(20 * time.Minute), status: 400, typ: "InvalidSignatureException", msg: "not yet current"},
		{name: "garbage ciphertext", target: "TrentService.Decrypt", body: `{"CiphertextBlob":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, sign: true, status: 400, typ: "InvalidCiphertextException"},
		{name: "oversized body", target: "TrentService.CreateKey", body: `{"Description":"` + strings.Repeat("x", 1<<20) + `"}`, sign: true, status: 413, typ: "RequestEntityTooLargeException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			akid, secret, at := testAKID, testSecret, now
			if tc.akid != "" {
				akid = tc.akid
			}
			if tc.secret != "" {
				secret = tc.secret
			}
			if !tc.at.IsZero() {
				at = tc.at
			}
			r := rawCall(t, s, tc.target, []byte(tc.body), tc.sign, akid, secret, at)
			if r.status != tc.status || r.typ != tc.typ {
				t.Errorf("got %d %s (%q), want %d %s", r.status, r.typ, r.msg, tc.status, tc.typ)
			}
			if tc.msg != "" && !strings.Contains(r.msg, tc.msg) {
				t.Errorf("message %q does not mention %q", r.msg, tc.msg)
			}
			if r.header.Get("X-Amzn-Errortype") != tc.typ || r.header.Get("X-Amzn-Requestid") == "" {
				t.Errorf("headers: x-amzn-ErrorType=%q x-amzn-RequestId=%q", r.header.Get("X-Amzn-Errortype"), r.header.Get("X-Amzn-Requestid"))
			}
			if strings.Contains(r.msg, testSecret) || strings.Contains(r.msg, "not base64!!!") {
				t.Errorf("error message echoes input: %q", r.msg)
			}
		})
	}
	lk, err := c.ListKeys(bg(), &kms.ListKeysInput{})
	if err != nil || len(lk.Keys) != 1 {
		t.Errorf("bad requests changed state: %d keys, %v", len(lk.Keys), err)
	}
	if resp, err := http.Get(s.endpoint + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("server unhealthy after bad input: %v", err)
	}
}
