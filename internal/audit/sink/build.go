package sink

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"
)

// Spec is one configured sink (the `audit_sinks:` list in YAML; the server
// copies config.AuditSink into it field by field).
type Spec struct {
	Name string
	// Type is file, syslog or webhook.
	Type string

	// file
	Path     string
	MaxBytes int64
	MaxAge   time.Duration
	MaxFiles int

	// syslog
	Network  string
	Address  string
	Facility int
	Hostname string
	// CAFile (PEM) verifies a tls syslog receiver instead of the system's
	// roots; ServerName overrides the host name checked.
	CAFile     string
	ServerName string

	// webhook. HeaderEnv maps a header to the environment variable that
	// holds its value, read by Build (which fails when it is unset or
	// empty): credentials stay out of the config file.
	URL       string
	Headers   map[string]string
	HeaderEnv map[string]string

	// syslog and webhook
	Timeout time.Duration

	// delivery
	QueueSize  int
	BatchSize  int
	MinBackoff time.Duration
	MaxBackoff time.Duration
}

// Build makes the sinks of specs; a spec without a name is called TYPE-N
// (its position from 1).
func Build(specs []Spec) ([]Named, error) {
	var out []Named
	for i, sp := range specs {
		name := sp.Name
		if name == "" {
			name = fmt.Sprintf("%s-%d", sp.Type, i+1)
		}
		var s Sink
		var err error
		switch sp.Type {
		case "file":
			s, err = NewFile(FileOptions{Path: sp.Path, MaxBytes: sp.MaxBytes, MaxAge: sp.MaxAge, MaxFiles: sp.MaxFiles})
		case "syslog":
			var tc *tls.Config
			if tc, err = tlsConfig(sp); err == nil {
				s, err = NewSyslog(SyslogOptions{Network: sp.Network, Address: sp.Address, Facility: sp.Facility, Hostname: sp.Hostname, Timeout: sp.Timeout, TLS: tc})
			}
		case "webhook":
			var h map[string]string
			if h, err = webhookHeaders(sp); err == nil {
				s, err = NewWebhook(WebhookOptions{URL: sp.URL, Headers: h, Timeout: sp.Timeout})
			}
		default:
			err = fmt.Errorf("type %q: want file, syslog or webhook", sp.Type)
		}
		if err != nil {
			for _, n := range out {
				n.Sink.Close()
			}
			return nil, fmt.Errorf("audit_sinks[%d] (%s): %w", i, name, err)
		}
		out = append(out, Named{Name: name, Sink: s,
			Tuning: Tuning{QueueSize: sp.QueueSize, BatchSize: sp.BatchSize, MinBackoff: sp.MinBackoff, MaxBackoff: sp.MaxBackoff}})
	}
	return out, nil
}

// tlsConfig is the TLS configuration of a tls syslog spec (nil: defaults).
func tlsConfig(sp Spec) (*tls.Config, error) {
	if sp.CAFile == "" && sp.ServerName == "" {
		return nil, nil
	}
	c := &tls.Config{ServerName: sp.ServerName, MinVersion: tls.VersionTLS12}
	if sp.CAFile != "" {
		pem, err := os.ReadFile(sp.CAFile)
		if err != nil {
			return nil, err
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s holds no PEM certificate", sp.CAFile)
		}
	}
	return c, nil
}

// webhookHeaders merges a webhook spec's literal headers with those read
// from the environment. The error names the variable, never its value.
func webhookHeaders(sp Spec) (map[string]string, error) {
	if len(sp.HeaderEnv) == 0 {
		return sp.Headers, nil
	}
	h := make(map[string]string, len(sp.Headers)+len(sp.HeaderEnv))
	for k, v := range sp.Headers {
		h[http.CanonicalHeaderKey(k)] = v
	}
	for k, env := range sp.HeaderEnv {
		k = http.CanonicalHeaderKey(k)
		if _, dup := h[k]; dup {
			return nil, fmt.Errorf("header %s is in both headers and header_env", k)
		}
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return nil, fmt.Errorf("header_env %s: environment variable %s is not set", k, env)
		}
		h[k] = v
	}
	return h, nil
}
