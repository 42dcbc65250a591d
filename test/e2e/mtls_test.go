package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// testCA is a throwaway CA for client certificates.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "arca test client CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// client issues a client certificate for cn.
func (ca *testCA) client(t *testing.T, cn string) tls.Certificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// mtlsClient trusts the server and presents cert (none when nil).
func (s *server) mtlsClient(cert *tls.Certificate) *http.Client {
	hc := s.tlsClient()
	if cert != nil {
		hc.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{*cert}
	}
	return hc
}

// TestMutualTLS: with tls_client_ca_file, tls_require_client_cert and a
// certificate bound to a principal, API calls need a verified client
// certificate, a bound certificate carries only its principal's requests,
// and the operator endpoints and /healthz still work without one.
func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "clients-ca.pem")
	if err := os.WriteFile(caFile, ca.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "arca.yaml")
	yaml := "tls_client_ca_file: " + caFile + "\ntls_require_client_cert: true\ntls_client_principals:\n" +
		"  - common_name: payments\n    principal: arn:aws:iam::000000000000:user/payments\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{sealed: true, args: []string{"--config", conf}})
	var in initOut
	mustOK(t, s.operator(t, nil, "", &in, "init", "--key-shares", "1", "--key-threshold", "1"), "init without a client certificate")
	if code, _ := s.health(t); code != http.StatusOK {
		t.Fatalf("/healthz without a client certificate: %d", code)
	}
	kmsWith := func(cert *tls.Certificate, akid, secret string) *kms.Client {
		return kms.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(akid, secret, "")},
			func(o *kms.Options) {
				o.BaseEndpoint = aws.String(s.endpoint)
				o.Retryer = closedConnRetryer()
				o.HTTPClient = s.mtlsClient(cert)
			})
	}
	stranger, payments := ca.client(t, "stranger"), ca.client(t, "payments")

	_, err := kmsWith(nil, in.RootAccessKeyID, in.RootSecretAccessKey).ListKeys(bg(), &kms.ListKeysInput{})
	if apiCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "client certificate") {
		t.Errorf("no client certificate: %v", err)
	}
	_, err = kmsWith(&stranger, in.RootAccessKeyID, in.RootSecretAccessKey).ListKeys(bg(), &kms.ListKeysInput{})
	mustOK(t, err, "an unbound verified certificate with root credentials")
	_, err = kmsWith(&payments, in.RootAccessKeyID, in.RootSecretAccessKey).ListKeys(bg(), &kms.ListKeysInput{})
	if apiCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "may only carry requests signed by") {
		t.Errorf("the payments certificate with root credentials: %v", err)
	}

	// The payments user's own keys over the payments certificate pass.
	ic := iam.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(in.RootAccessKeyID, in.RootSecretAccessKey, "")},
		func(o *iam.Options) { o.BaseEndpoint = aws.String(s.endpoint); o.HTTPClient = s.mtlsClient(&stranger) })
	_, err = ic.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("payments")})
	mustOK(t, err, "CreateUser")
	ak, err := ic.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("payments")})
	mustOK(t, err, "CreateAccessKey")
	stsWith := func(cert *tls.Certificate) *sts.Client {
		return sts.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(*ak.AccessKey.AccessKeyId, *ak.AccessKey.SecretAccessKey, "")},
			func(o *sts.Options) { o.BaseEndpoint = aws.String(s.endpoint); o.HTTPClient = s.mtlsClient(cert) })
	}
	id, err := stsWith(&payments).GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{})
	mustOK(t, err, "GetCallerIdentity as payments over its certificate")
	if !strings.HasSuffix(*id.Arn, ":user/payments") {
		t.Errorf("caller %s", *id.Arn)
	}

	// A certificate from another CA does not complete the handshake.
	other := newTestCA(t).client(t, "payments")
	if _, err := s.mtlsClient(&other).Get(s.endpoint + "/healthz"); err == nil {
		t.Error("a client certificate from an unknown CA was accepted")
	}
}
