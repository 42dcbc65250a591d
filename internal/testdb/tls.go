package testdb

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// EnableTLS turns on TLS in a private PostgreSQL server (StartPostgres)
// with a server certificate for its loopback address, issued by a CA made
// for this test, and makes the server refuse connections without TLS. It
// returns the CA certificate's file, for sslrootcert. PostgreSQL reloads
// its TLS settings without a restart.
func (s *Server) EnableTLS(t testing.TB) (caFile string) {
	t.Helper()
	if s.Engine != EnginePostgres || s.shared {
		t.Fatal("testdb: EnableTLS needs a private PostgreSQL server (StartPostgres)")
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "arca testdb CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: s.Host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP(s.Host)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(t.TempDir(), "ca.pem")
	certFile, keyFile := filepath.Join(s.dir, "server.crt"), filepath.Join(s.dir, "server.key")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", srvDER}, {keyFile, "PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		// PostgreSQL runs as its own account and refuses a key file others
		// can read.
		uid, gid, err := lookupIDs(s.engineUser())
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{certFile, keyFile} {
			if err := os.Chown(f, int(uid), int(gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Refuse TCP logins without TLS, so a client that silently fell back
	// to plain text would fail rather than pass.
	hba := filepath.Join(s.dir, "data", "pg_hba.conf")
	old, err := os.ReadFile(hba)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hba, append([]byte("hostnossl all all 0.0.0.0/0 reject\nhostnossl all all ::/0 reject\n"), old...), 0o600); err != nil {
		t.Fatal(err)
	}
	// The administrator's connection below is the last one without TLS:
	// pg_hba.conf is read again only at the reload.
	s.Exec(t, fmt.Sprintf("ALTER SYSTEM SET ssl_cert_file = '%s'", certFile))
	s.Exec(t, fmt.Sprintf("ALTER SYSTEM SET ssl_key_file = '%s'", keyFile))
	s.Exec(t, "ALTER SYSTEM SET ssl = on")
	s.Exec(t, "SELECT pg_reload_conf()")
	s.tlsQuery = "sslmode=verify-full&sslrootcert=" + caFile
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.ping()
		if err == nil {
			return caFile
		}
		if time.Now().After(deadline) {
			t.Fatalf("testdb: PostgreSQL did not accept TLS logins: %v; log:\n%s", err, s.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
