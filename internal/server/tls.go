package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/arca-kms/arca/internal/config"
)

// Self-signed certificate files, in DataDir/tls/. The key is not under the
// barrier because TLS must work while Arca is sealed: unseal shares travel
// over it. It is written 0600 (the directory 0700), like the database.
const (
	selfSignedDir  = "tls"
	selfSignedCert = "arca-cert.pem"
	selfSignedKey  = "arca-key.pem"
)

// certSource serves the current certificate; file certificates are
// reloaded on SIGHUP.
type certSource struct {
	cur  atomic.Pointer[tls.Certificate]
	stop func()
}

func (c *certSource) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c.cur.Load(), nil }

// serverTLSConfig is Arca's TLS policy: TLS 1.2 at least (1.3 is preferred
// by crypto/tls whenever the client offers it), and the hybrid
// post-quantum key exchange X25519MLKEM768 first, so traffic carrying data
// keys resists harvest-now-decrypt-later.
func serverTLSConfig(c *certSource) *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384},
		GetCertificate:   c.get,
		NextProtos:       []string{"h2", "http/1.1"},
	}
}

// loadServerCert loads --tls-cert-file/--tls-key-file (and reloads them on
// SIGHUP), or, when neither is set, the self-signed certificate in the data
// dir, generating it on first start and printing its SHA-256 fingerprint.
func loadServerCert(cfg config.Config, log *slog.Logger, stdout io.Writer) (*certSource, error) {
	cs := &certSource{stop: func() {}}
	if cfg.TLSCertFile != "" || cfg.TLSKeyFile != "" {
		if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
			return nil, errors.New("tls: set both tls_cert_file and tls_key_file, or neither for a self-signed certificate")
		}
		load := func() error {
			crt, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
			if err != nil {
				return fmt.Errorf("tls: %w", err)
			}
			cs.cur.Store(&crt)
			log.Info("TLS certificate loaded", "cert_file", cfg.TLSCertFile, "sha256", Fingerprint(crt.Certificate[0]))
			return nil
		}
		if err := load(); err != nil {
			return nil, err
		}
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		done := make(chan struct{})
		go func() {
			for {
				select {
				case <-hup:
					if err := load(); err != nil {
						log.Error("TLS certificate reload failed; keeping the current one", "err", err)
					}
				case <-done:
					return
				}
			}
		}()
		cs.stop = func() { signal.Stop(hup); close(done) }
		return cs, nil
	}
	crt, created, err := selfSigned(cfg)
	if err != nil {
		return nil, err
	}
	cs.cur.Store(crt)
	fp := Fingerprint(crt.Certificate[0])
	log.Warn("serving a self-signed TLS certificate; clients must pin its fingerprint (--tls-fingerprint / ARCA_TLS_FINGERPRINT) or trust its file (--ca-cert)",
		"sha256", fp, "cert_file", filepath.Join(cfg.DataDir, selfSignedDir, selfSignedCert), "created", created)
	fmt.Fprintf(stdout, "TLS certificate SHA-256 fingerprint: %s\n", fp)
	return cs, nil
}

// Fingerprint is the SHA-256 of a DER certificate, lower-case hex.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// selfSigned loads DataDir/tls/arca-{cert,key}.pem, or creates them (an
// ECDSA P-256 key and a certificate for localhost, the loopback addresses,
// the host name and the listen address, valid 5 years) when absent or
// expired.
func selfSigned(cfg config.Config) (*tls.Certificate, bool, error) {
	dir := filepath.Join(cfg.DataDir, selfSignedDir)
	cp, kp := filepath.Join(dir, selfSignedCert), filepath.Join(dir, selfSignedKey)
	if crt, err := tls.LoadX509KeyPair(cp, kp); err == nil {
		if leaf, err := x509.ParseCertificate(crt.Certificate[0]); err == nil && time.Now().Before(leaf.NotAfter) {
			if st, err := os.Stat(kp); err == nil && st.Mode().Perm()&0o077 != 0 {
				return nil, false, fmt.Errorf("tls: %s is accessible to group or others (mode %04o); chmod 600 it", kp, st.Mode().Perm())
			}
			return &crt, false, nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("tls: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, false, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, false, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "arca", Organization: []string{"Arca self-signed"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host)
	}
	if h, _, err := net.SplitHostPort(cfg.Listen); err == nil {
		if ip := net.ParseIP(h); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if ip == nil && h != "" && !strings.EqualFold(h, "localhost") {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, false, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, false, err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	clear(kder)
	defer clear(keyPEM)
	if err := writeFileAtomic(kp, keyPEM, 0o600); err != nil {
		return nil, false, err
	}
	if err := writeFileAtomic(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return nil, false, err
	}
	crt, err := tls.LoadX509KeyPair(cp, kp)
	if err != nil {
		return nil, false, err
	}
	return &crt, true, nil
}

// writeFileAtomic writes a temporary file with perm, fsyncs it and renames
// it over p.
func writeFileAtomic(p string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr, os.Chmod(f.Name(), perm)); err != nil {
		return fmt.Errorf("tls: write %s: %w", p, err)
	}
	return os.Rename(f.Name(), p)
}
