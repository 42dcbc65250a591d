// This file sends malformed, unsigned, badly signed and oversized requests
// over raw HTTP (signed with aws-sdk-go-v2's own SigV4 signer where signed)
// and checks that each gets the AWS error for it: a 4xx status, never a 5xx,
// the x-amzn-ErrorType and x-amzn-RequestId headers, a JSON body
// {"__type": ..., "message": ...}, and that the request changed nothing.
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

// rawReq is one hand-made KMS request.
type rawReq struct {
	target  string // X-Amz-Target; "" sends none
	body    []byte
	unsign  bool      // send without any signature
	akid    string    // default rootAKID
	secret  string    // default rootSecret
	at      time.Time // signing time; default now
	region  string    // credential scope region; default us-east-1
	service string    // credential scope service; default kms
}

// rawResp is what came back.
type rawResp struct {
	status int
	header http.Header
	body   []byte
	typ    string // __type
	msg    string // message (or Message)
	jsonOK bool   // the body is a JSON object
}

// rawCall sends r to the server.
func rawCall(t *testing.T, s *server, r rawReq) rawResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.endpoint+"/", bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if r.target != "" {
		req.Header.Set("X-Amz-Target", r.target)
	}
	if !r.unsign {
		akid, secret, at, region, service := rootAKID, rootSecret, time.Now(), "us-east-1", "kms"
		if r.akid != "" {
			akid = r.akid
		}
		if r.secret != "" {
			secret = r.secret
		}
		if !r.at.IsZero() {
			at = r.at
		}
		if r.region != "" {
			region = r.region
		}
		if r.service != "" {
			service = r.service
		}
		sum := sha256.Sum256(r.body)
		creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, at); err != nil {
			t.Fatal(err)
		}
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", r.target, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := rawResp{status: resp.StatusCode, header: resp.Header, body: b}
	var e map[string]any
	if json.Unmarshal(b, &e) == nil && e != nil {
		out.jsonOK = true
		out.typ, _ = e["__type"].(string)
		out.msg, _ = e["message"].(string)
		if out.msg == "" {
			out.msg, _ = e["Message"].(string)
		}
	}
	return out
}

// stateSnapshot is what bad requests must leave alone.
type stateSnapshot struct {
	keys, aliases int
	description   string
	keyState      string
}

func snapshot(t *testing.T, c *kms.Client, keyID string) stateSnapshot {
	t.Helper()
	lk, err := c.ListKeys(bg(), &kms.ListKeysInput{})
	mustOK(t, err, "ListKeys")
	la, err := c.ListAliases(bg(), &kms.ListAliasesInput{})
	mustOK(t, err, "ListAliases")
	d := describe(t, c, keyID)
	return stateSnapshot{keys: len(lk.Keys), aliases: countCustomerAliases(la), description: aws.ToString(d.Description), keyState: string(d.KeyState)}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	key := createKey(t, c, &kms.CreateKeyInput{Description: aws.String("fixture")})
	keyID := aws.ToString(key.KeyId)
	ciphertext, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("fixture")})
	mustOK(t, err, "Encrypt")
	blob, _ := json.Marshal(ciphertext.CiphertextBlob) // a JSON string of base64
	before := snapshot(t, c, keyID)

	// Valid bodies for mutating operations, sent with bad credentials below:
	// had any been accepted, the snapshot would change.
	createAlias := `{"AliasName":"alias/intruder","TargetKeyId":"` + keyID + `"}`
	schedule := `{"KeyId":"` + keyID + `","PendingWindowInDays":7}`
	describeBody := `{"KeyId":"` + keyID + `"}`
	const (
		serialization = "SerializationException"
		validation    = "ValidationException"
	)
	now := time.Now()
	tests := []struct {
		name  string
		req   rawReq
		types []string // acceptable __type values; the first is AWS's
		msg   string   // the message must contain this (case-insensitive)
	}{
		// Malformed and mistyped JSON.
		{name: "malformed json", req: rawReq{target: "TrentService.CreateKey", body: []byte(`{"Description":`)}, types: []string{serialization}},
		{name: "not json", req: rawReq{target: "TrentService.CreateKey", body: []byte(`Description=x`)}, types: []string{serialization}},
		{name: "json array", req: rawReq{target: "TrentService.CreateKey", body: []byte(`[]`)}, types: []string{serialization}},
		{name: "trailing garbage", req: rawReq{target: "TrentService.UpdateKeyDescription", body: []byte(`{"KeyId":"` + keyID + `","Description":"x"} {`)}, types: []string{serialization}},
		{name: "string for string field given a number", req: rawReq{target: "TrentService.UpdateKeyDescription", body: []byte(`{"KeyId":"` + keyID + `","Description":5}`)}, types: []string{serialization, validation}},
		{name: "string for integer field", req: rawReq{target: "TrentService.GenerateRandom", body: []byte(`{"NumberOfBytes":"ten"}`)}, types: []string{serialization, validation}},
		{name: "fractional integer", req: rawReq{target: "TrentService.GenerateRandom", body: []byte(`{"NumberOfBytes":1.5}`)}, types: []string{serialization, validation}},
		{name: "object for map field", req: rawReq{target: "TrentService.Encrypt", body: []byte(`{"KeyId":"` + keyID + `","Plaintext":"eA==","EncryptionContext":"a=b"}`)}, types: []string{serialization, validation}},
		{name: "map value not a string", req: rawReq{target: "TrentService.Encrypt", body: []byte(`{"KeyId":"` + keyID + `","Plaintext":"eA==","EncryptionContext":{"a":1}}`)}, types: []string{serialization, validation}},
		{name: "boolean as string", req: rawReq{target: "TrentService.Encrypt", body: []byte(`{"KeyId":"` + keyID + `","Plaintext":"eA==","DryRun":"yes"}`)}, types: []string{serialization, validation}},
		{name: "invalid base64 blob", req: rawReq{target: "TrentService.Encrypt", body: []byte(`{"KeyId":"` + keyID + `","Plaintext":"!!!not base64!!!"}`)}, types: []string{serialization, validation}},
		{name: "invalid base64 ciphertext", req: rawReq{target: "TrentService.Decrypt", body: []byte(`{"CiphertextBlob":"%%%%"}`)}, types: []string{serialization, validation}},
		// Constraint violations.
		{name: "missing required member", req: rawReq{target: "TrentService.Encrypt", body: []byte(`{"KeyId":"` + keyID + `"}`)}, types: []string{validation}, msg: "plaintext"},
		{name: "missing KeyId", req: rawReq{target: "TrentService.DescribeKey", body: []byte(`{}`)}, types: []string{validation}, msg: "keyId"},
		{name: "integer below minimum", req: rawReq{target: "TrentService.GenerateRandom", body: []byte(`{"NumberOfBytes":0}`)}, types: []string{validation}, msg: "numberOfBytes"},
		{name: "unknown enum value", req: rawReq{target: "TrentService.GenerateDataKey", body: []byte(`{"KeyId":"` + keyID + `","KeySpec":"AES_999"}`)}, types: []string{validation}, msg: "keySpec"},
		{name: "description too long", req: rawReq{target: "TrentService.UpdateKeyDescription", body: []byte(`{"KeyId":"` + keyID + `","Description":"` + strings.Repeat("d", 8193) + `"}`)}, types: []string{validation}, msg: "description"},
		{name: "garbage ciphertext", req: rawReq{target: "TrentService.Decrypt", body: []byte(`{"CiphertextBlob":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`)}, types: []string{"InvalidCiphertextException"}},
		{name: "ciphertext with a wrong context", req: rawReq{target: "TrentService.Decrypt", body: []byte(`{"CiphertextBlob":` + string(blob) + `,"EncryptionContext":{"a":"b"}}`)}, types: []string{"InvalidCiphertextException"}},
		// Routing.
		{name: "unknown operation", req: rawReq{target: "TrentService.Frobnicate", body: []byte(`{}`)}, types: []string{"UnknownOperationException"}},
		{name: "unknown service prefix", req: rawReq{target: "DynamoDB_20120810.ListTables", body: []byte(`{}`)}, types: []string{"UnknownOperationException"}},
		{name: "target without operation", req: rawReq{target: "TrentService.", body: []byte(`{}`)}, types: []string{"UnknownOperationException"}},
		{name: "missing target", req: rawReq{body: []byte(`{}`)}, types: []string{"UnknownOperationException"}},
		// Authentication.
		{name: "unsigned", req: rawReq{target: "TrentService.CreateAlias", body: []byte(createAlias), unsign: true}, types: []string{"MissingAuthenticationTokenException"}},
		{name: "wrong secret", req: rawReq{target: "TrentService.CreateAlias", body: []byte(createAlias), secret: "wrongwrongwrongwrongwrongwrongwrongwrong"}, types: []string{"InvalidSignatureException"}},
		{name: "wrong secret on ScheduleKeyDeletion", req: rawReq{target: "TrentService.ScheduleKeyDeletion", body: []byte(schedule), secret: "wrongwrongwrongwrongwrongwrongwrongwrong"}, types: []string{"InvalidSignatureException"}},
		{name: "unknown access key", req: rawReq{target: "TrentService.CreateAlias", body: []byte(createAlias), akid: "AKIAUNKNOWNUNKNOWN00"}, types: []string{"UnrecognizedClientException"}},
		{name: "signature 20 minutes old", req: rawReq{target: "TrentService.CreateAlias", body: []byte(createAlias), at: now.Add(-20 * time.Minute)}, types: []string{"InvalidSignatureException"}, msg: "Signature expired"},
		{name: "signature 20 minutes ahead", req: rawReq{target: "TrentService.CreateAlias", body: []byte(createAlias), at: now.Add(20 * time.Minute)}, types: []string{"InvalidSignatureException"}, msg: "not yet current"},
		{name: "scope for another service", req: rawReq{target: "TrentService.DescribeKey", body: []byte(describeBody), service: "s3"}, types: []string{"InvalidSignatureException"}},
		{name: "scope for an unserved region", req: rawReq{target: "TrentService.DescribeKey", body: []byte(describeBody), region: "ap-south-1"}, types: []string{"InvalidSignatureException"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rawCall(t, s, tc.req)
			checkErrorResponse(t, r, tc.types...)
			if tc.msg != "" && !strings.Contains(strings.ToLower(r.msg), strings.ToLower(tc.msg)) {
				t.Errorf("message %q does not mention %q", r.msg, tc.msg)
			}
			for _, leak := range []string{rootSecret, "not base64!!!"} {
				if strings.Contains(string(r.body), leak) {
					t.Errorf("error body echoes %q: %s", leak, r.body)
				}
			}
			if after := snapshot(t, c, keyID); after != before {
				t.Errorf("state changed: %+v -> %+v", before, after)
			}
		})
	}

	t.Run("tampered body after signing", func(t *testing.T) {
		// Sign one body, send another: the payload hash no longer matches.
		body := []byte(createAlias)
		req, _ := http.NewRequest(http.MethodPost, s.endpoint+"/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "TrentService.CreateAlias")
		sum := sha256.Sum256([]byte(`{}`))
		creds := aws.Credentials{AccessKeyID: rootAKID, SecretAccessKey: rootSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		req.Header.Del("X-Amz-Content-Sha256")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode > 499 || !strings.Contains(string(b), "InvalidSignatureException") {
			t.Errorf("tampered body: %d %s; want 4xx InvalidSignatureException", resp.StatusCode, b)
		}
		if after := snapshot(t, c, keyID); after != before {
			t.Errorf("state changed: %+v -> %+v", before, after)
		}
	})

	t.Run("malformed Authorization header", func(t *testing.T) {
		// A SigV4 header missing its parts does not conform to the scheme:
		// AWS answers IncompleteSignatureException (Common Errors:
		// "IncompleteSignature: The request signature does not conform to
		// AWS standards", 400).
		for name, auth := range map[string]string{
			"credential only": "AWS4-HMAC-SHA256 Credential=" + rootAKID + "/20260101/us-east-1/kms/aws4_request",
			"no parts":        "AWS4-HMAC-SHA256",
			"garbage":         "Bearer abc",
		} {
			req, _ := http.NewRequest(http.MethodPost, s.endpoint+"/", strings.NewReader(createAlias))
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			req.Header.Set("X-Amz-Target", "TrentService.CreateAlias")
			req.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
			req.Header.Set("Authorization", auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			r := rawResp{status: resp.StatusCode, header: resp.Header, body: b}
			var e map[string]any
			if json.Unmarshal(b, &e) == nil && e != nil {
				r.jsonOK = true
				r.typ, _ = e["__type"].(string)
				r.msg, _ = e["message"].(string)
			}
			t.Run(name, func(t *testing.T) {
				checkErrorResponse(t, r, "IncompleteSignatureException", "InvalidSignatureException", "MissingAuthenticationTokenException")
				// Another scheme altogether may read as no SigV4 at all.
				if r.typ != "IncompleteSignatureException" && name != "garbage" {
					t.Errorf("__type %q, want IncompleteSignatureException as AWS", r.typ)
				}
			})
		}
		if after := snapshot(t, c, keyID); after != before {
			t.Errorf("state changed: %+v -> %+v", before, after)
		}
	})

	t.Run("unknown session token", func(t *testing.T) {
		// Temporary credentials Arca did not issue: AWS answers
		// UnrecognizedClientException ("The security token included in the
		// request is invalid").
		body := []byte(createAlias)
		req, _ := http.NewRequest(http.MethodPost, s.endpoint+"/", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "TrentService.CreateAlias")
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: rootAKID, SecretAccessKey: rootSecret, SessionToken: "FwoGZXIvYXdzEBogus"}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 400 || resp.StatusCode > 499 || !strings.Contains(string(b), "UnrecognizedClientException") {
			t.Errorf("unknown session token: %d %s; want 4xx UnrecognizedClientException", resp.StatusCode, b)
		}
		if after := snapshot(t, c, keyID); after != before {
			t.Errorf("state changed: %+v -> %+v", before, after)
		}
	})

	t.Run("body over 1 MiB", func(t *testing.T) {
		body := []byte(`{"KeyId":"` + keyID + `","Description":"` + strings.Repeat("x", 1<<20) + `"}`)
		r := rawCall(t, s, rawReq{target: "TrentService.UpdateKeyDescription", body: body})
		if r.status != http.StatusRequestEntityTooLarge && r.status != http.StatusBadRequest {
			t.Errorf("status %d, want 413 or 400", r.status)
		}
		checkErrorResponse(t, r)
		if after := snapshot(t, c, keyID); after != before {
			t.Errorf("state changed: %+v -> %+v", before, after)
		}
		resp, err := http.Get(s.endpoint + "/healthz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("server unhealthy after an oversized body: %v", err)
		} else {
			resp.Body.Close()
		}
	})

	t.Run("chunked request body", func(t *testing.T) {
		// A body of unknown length goes out with Transfer-Encoding: chunked.
		body := []byte(describeBody)
		req, _ := http.NewRequest(http.MethodPost, s.endpoint+"/", io.MultiReader(bytes.NewReader(body)))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
		sum := sha256.Sum256(body)
		creds := aws.Credentials{AccessKeyID: rootAKID, SecretAccessKey: rootSecret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), keyID) {
			t.Errorf("chunked DescribeKey: %d %s", resp.StatusCode, b)
		}
	})

	t.Run("valid raw request still works", func(t *testing.T) {
		r := rawCall(t, s, rawReq{target: "TrentService.DescribeKey", body: []byte(describeBody)})
		if r.status != http.StatusOK || !strings.Contains(string(r.body), keyID) {
			t.Errorf("DescribeKey over raw HTTP: %d %s", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
			t.Errorf("Content-Type = %q, want application/x-amz-json-1.1", ct)
		}
		if r.header.Get("X-Amzn-Requestid") == "" {
			t.Errorf("no x-amzn-RequestId on a success")
		}
	})
}

// checkErrorResponse checks the shape every AWS JSON 1.1 error shares: a 4xx
// status, a JSON body with __type and message, the x-amzn-ErrorType header
// naming the same type (AWS may append ":" and a URI) and an
// x-amzn-RequestId. With types given, __type must be one of them.
func checkErrorResponse(t *testing.T, r rawResp, types ...string) {
	t.Helper()
	if r.status < 400 || r.status > 499 {
		t.Errorf("status %d, want 4xx; body %.300s", r.status, r.body)
	}
	// AWS itself sends UnknownOperationException without a message: 400
	// {"__type":"UnknownOperationException"} (aws/aws-sdk-net#1536).
	if !r.jsonOK || r.typ == "" || (r.msg == "" && r.typ != "UnknownOperationException") {
		t.Errorf("body is not {\"__type\":...,\"message\":...}: %.300s", r.body)
	}
	if len(types) > 0 {
		ok := false
		for _, ty := range types {
			ok = ok || r.typ == ty
		}
		if !ok {
			t.Errorf("__type %q (message %q), want one of %v", r.typ, r.msg, types)
		}
	}
	et := r.header.Get("X-Amzn-Errortype")
	if et == "" || (et != r.typ && !strings.HasPrefix(et, r.typ+":")) {
		t.Errorf("x-amzn-ErrorType = %q, want %q", et, r.typ)
	}
	if r.header.Get("X-Amzn-Requestid") == "" {
		t.Errorf("no x-amzn-RequestId header")
	}
}
