package server

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/storage/memory"
)

// TestSealedAnswers: while sealed, API calls of both protocols get 503 with
// the AWS error shape; /healthz reports the state.
func TestSealedAnswers(t *testing.T) {
	c := &core{b: barrier.New(memory.New()), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(c)
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/", strings.NewReader("{}"))
	req.Header.Set("X-Amz-Target", "TrentService.ListKeys")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	resp.Body.Close()
	if resp.StatusCode != 503 || e.Type != "KMSInternalException" || e.Message != "Arca is sealed" {
		t.Errorf("JSON while sealed: %d %+v", resp.StatusCode, e)
	}

	resp, err = http.Post(srv.URL+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=ListUsers&Version=2010-05-08"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "<Code>ServiceUnavailable</Code>") {
		t.Errorf("Query while sealed: %d %s", resp.StatusCode, body)
	}

	resp, _ = http.Get(srv.URL + "/healthz")
	var h healthBody
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || h.Status != "uninitialized" || !h.Sealed {
		t.Errorf("/healthz uninitialized: %d %+v", resp.StatusCode, h)
	}

	// Operator endpoints that need credentials refuse while sealed.
	resp, _ = http.Post(srv.URL+OperatorPathPrefix+"seal", "application/json", strings.NewReader("{}"))
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("seal while sealed: %d", resp.StatusCode)
	}
	resp, _ = http.Post(srv.URL+OperatorPathPrefix+"unseal", "application/json", strings.NewReader(`{"key":"x"}`))
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("unseal before init: %d", resp.StatusCode)
	}
	resp, _ = http.Get(srv.URL + OperatorPathPrefix + "nope")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d", resp.StatusCode)
	}
}

// TestTLSPolicy: a Go client negotiates TLS 1.3 with X25519MLKEM768
// against serverTLSConfig, and TLS 1.1 is refused.
func TestTLSPolicy(t *testing.T) {
	cfg := devConfig(t.TempDir())
	crt, created, err := selfSigned(cfg)
	if err != nil || !created {
		t.Fatalf("selfSigned: %v %v", created, err)
	}
	if _, created, err := selfSigned(cfg); err != nil || created {
		t.Fatalf("second selfSigned should reuse the files: %v %v", created, err)
	}
	cs := &certSource{stop: func() {}}
	cs.cur.Store(crt)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", serverTLSConfig(cs))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ErrorLog: log.New(io.Discard, "", 0)}
	go hs.Serve(ln)
	defer hs.Close()
	url := "https://" + ln.Addr().String()
	leaf, _ := x509.ParseCertificate(crt.Certificate[0])
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS.Version != tls.VersionTLS13 || resp.TLS.CurveID != tls.X25519MLKEM768 {
		t.Errorf("negotiated version %x curve %v; want TLS 1.3, X25519MLKEM768", resp.TLS.Version, resp.TLS.CurveID)
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(url); err == nil {
		resp.Body.Close()
		t.Error("TLS 1.1 accepted")
	}
}

// TestCertReloadOnSIGHUP: file certificates are re-read on SIGHUP, and a
// broken replacement keeps the current one.
func TestCertReloadOnSIGHUP(t *testing.T) {
	dir := t.TempDir()
	mk := func(sub string) (string, string, string) {
		c := devConfig(filepath.Join(dir, sub))
		crt, _, err := selfSigned(c)
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(c.DataDir, "tls", selfSignedCert), filepath.Join(c.DataDir, "tls", selfSignedKey), Fingerprint(crt.Certificate[0])
	}
	c1, k1, fp1 := mk("a")
	c2, k2, fp2 := mk("b")
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	cp := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cp(c1, cert)
	cp(k1, key)
	cfg := devConfig(dir)
	cfg.TLSCertFile, cfg.TLSKeyFile = cert, key
	cs, err := loadServerCert(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.stop()
	current := func() string { c, _ := cs.get(nil); return Fingerprint(c.Certificate[0]) }
	if current() != fp1 {
		t.Fatal("first certificate not served")
	}
	waitFor := func(want string) {
		t.Helper()
		for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if current() == want {
				return
			}
		}
		t.Fatalf("serving %s, want %s", current(), want)
	}
	cp(c2, cert)
	cp(k2, key)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitFor(fp2)
	os.WriteFile(cert, []byte("garbage"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(100 * time.Millisecond)
	if current() != fp2 {
		t.Error("a broken certificate file replaced the working one")
	}
}
