package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/svcerr"
	"github.com/arca-kms/arca/internal/transport/httpreq"
)

// Mutual TLS. With tls_client_ca_file the server asks for a client
// certificate and verifies any it gets against those CAs (a request may
// come without one, so load balancers and operators reach /healthz and the
// operator endpoints). SigV4 stays the authentication of every API call;
// a certificate narrows it: with tls_require_client_cert an API call
// without a verified certificate is refused, and a certificate whose
// subject common name is listed in tls_client_principals may only carry
// requests signed by that principal, so stolen access keys are useless
// without the service's certificate and vice versa.

// clientCAs loads the client CA pool, or nil when mutual TLS is off.
func clientCAs(cfg config.Config) (*x509.CertPool, error) {
	if cfg.TLSClientCAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(cfg.TLSClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("tls_client_ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls_client_ca_file %s: no PEM certificate in it", cfg.TLSClientCAFile)
	}
	return pool, nil
}

// withClientAuth adds client certificate verification to a server config.
func withClientAuth(tc *tls.Config, pool *x509.CertPool) *tls.Config {
	if pool != nil {
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc
}

// certBinding wraps the API's SigV4 verifier with the client-certificate
// rules above.
type certBinding struct {
	v       httpreq.Verifier
	princ   httpreq.Principals
	require bool
	byCN    map[string]string // common name → principal ARN
}

// bindClientCerts returns v unchanged when mutual TLS asks for nothing.
func bindClientCerts(cfg config.Config, v httpreq.Verifier, p httpreq.Principals) httpreq.Verifier {
	if !cfg.TLSRequireClientCert && len(cfg.TLSClientPrincipals) == 0 {
		return v
	}
	b := certBinding{v: v, princ: p, require: cfg.TLSRequireClientCert, byCN: map[string]string{}}
	for _, m := range cfg.TLSClientPrincipals {
		b.byCN[m.CommonName] = m.Principal
	}
	return b
}

func (b certBinding) Verify(r *http.Request, body []byte) (*sigv4.Result, error) {
	res, err := b.v.Verify(r, body)
	if err != nil {
		return nil, err
	}
	var cn string
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		cn = r.TLS.VerifiedChains[0][0].Subject.CommonName
	}
	if cn == "" {
		if b.require {
			return nil, svcerr.New(svcerr.AccessDenied, "This server requires a client certificate (mutual TLS) for API requests.")
		}
		return res, nil
	}
	want, bound := b.byCN[cn]
	if !bound {
		return res, nil
	}
	p, err := b.principal(r.Context(), res)
	if err != nil {
		return nil, err
	}
	if p != want {
		return nil, svcerr.New(svcerr.AccessDenied, "The client certificate %q may only carry requests signed by %s.", cn, want)
	}
	return res, nil
}

func (b certBinding) principal(ctx context.Context, res *sigv4.Result) (string, error) {
	p, err := b.princ.Principal(ctx, res.AccessKeyID, res.SessionToken)
	if err != nil {
		return "", err
	}
	return p.ARN, nil
}
