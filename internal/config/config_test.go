package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func load(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return Load(fs, func(k string) string { return env[k] })
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "arca.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Defaults()) {
		t.Errorf("got %+v, want %+v", c, Defaults())
	}
}

// TestPrecedence checks flags > env > file > defaults, one setting at a time.
func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "listen: 127.0.0.1:1001\naccount_id: '111111111111'\nregions: [eu-west-1]\nlog_level: debug\n")
	env := map[string]string{"ARCA_CONFIG": file, "ARCA_LISTEN": "127.0.0.1:1002", "ARCA_REGION": "ap-south-1, eu-central-1"}
	c, err := load(t, []string{"--listen", "127.0.0.1:1003", "--dev"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1003" {
		t.Errorf("listen = %q, want the flag's", c.Listen)
	}
	if !reflect.DeepEqual(c.Regions, []string{"ap-south-1", "eu-central-1"}) {
		t.Errorf("regions = %q, want the environment's", c.Regions)
	}
	if c.AccountID != "111111111111" || c.LogLevel != "debug" {
		t.Errorf("account %q / log level %q: want the file's", c.AccountID, c.LogLevel)
	}
	if !c.Dev {
		t.Error("--dev not applied")
	}
	c, err = load(t, []string{"--region", "us-west-2", "--region", "us-east-2"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Regions, []string{"us-west-2", "us-east-2"}) {
		t.Errorf("repeated --region = %q", c.Regions)
	}
}

func TestInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"account", []string{"--account-id", "12"}, nil, "account_id"},
		{"region", []string{"--region", "Mars"}, nil, "region"},
		{"listen", []string{"--listen", "nowhere"}, nil, "listen"},
		{"storage", []string{"--storage", "floppy"}, nil, "storage"},
		{"log level", nil, map[string]string{"ARCA_LOG_LEVEL": "loud"}, "log_level"},
		{"dev bool", nil, map[string]string{"ARCA_DEV": "maybe"}, "ARCA_DEV"},
		{"commit delay negative", []string{"--audit-commit-delay", "-1ms"}, nil, "audit_commit_delay"},
		{"commit delay too long", nil, map[string]string{"ARCA_AUDIT_COMMIT_DELAY": "1s"}, "audit_commit_delay"},
		{"unknown yaml key", []string{"--config", writeFile(t, "listen: 127.0.0.1:1\nlistne: x\n")}, nil, "line 2"},
		{"missing file", []string{"--config", "/nonexistent/arca.yaml"}, nil, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestEmptyFile(t *testing.T) {
	t.Parallel()
	if _, err := load(t, []string{"--config", writeFile(t, "")}, nil); err != nil {
		t.Errorf("empty config file: %v", err)
	}
}

func TestOIDCProviders(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `oidc_providers:
  - url: https://token.actions.githubusercontent.com
    audiences: [sts.amazonaws.com]
    jwks_url: https://token.actions.githubusercontent.com/.well-known/jwks
  - url: https://kubernetes.default.svc
    audiences: [sts.amazonaws.com, arca]
    jwks_file: /etc/arca/k8s-jwks.json
    algorithms: [RS256]
`)
	c, err := load(t, []string{"--config", file}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []OIDCProvider{
		{URL: "https://token.actions.githubusercontent.com", Audiences: []string{"sts.amazonaws.com"},
			JWKSURL: "https://token.actions.githubusercontent.com/.well-known/jwks"},
		{URL: "https://kubernetes.default.svc", Audiences: []string{"sts.amazonaws.com", "arca"},
			JWKSFile: "/etc/arca/k8s-jwks.json", Algorithms: []string{"RS256"}},
	}
	if !reflect.DeepEqual(c.OIDCProviders, want) {
		t.Errorf("providers = %+v, want %+v", c.OIDCProviders, want)
	}

	tests := []struct{ name, yaml, want string }{
		{"http url", "oidc_providers: [{url: 'http://idp', audiences: [a], jwks_file: f}]", "must begin with https://"},
		{"no audiences", "oidc_providers: [{url: 'https://idp', jwks_file: f}]", "at least one client ID"},
		{"no key set", "oidc_providers: [{url: 'https://idp', audiences: [a]}]", "exactly one of jwks_file and jwks_url"},
		{"two key sets", "oidc_providers: [{url: 'https://idp', audiences: [a], jwks_file: f, jwks_url: 'https://idp/k'}]", "exactly one of"},
		{"duplicate", "oidc_providers: [{url: 'https://idp', audiences: [a], jwks_file: f}, {url: 'https://idp', audiences: [a], jwks_file: f}]", "listed twice"},
		{"unknown key", "oidc_providers: [{url: 'https://idp', audience: [a], jwks_file: f}]", "audience"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, []string{"--config", writeFile(t, tc.yaml)}, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestTLSSettingsValidate(t *testing.T) {
	base := Defaults()
	for _, c := range []struct {
		mod func(*Config)
		ok  bool
	}{
		{func(c *Config) {}, true},
		{func(c *Config) { c.TLSCertFile = "a.pem" }, false},
		{func(c *Config) { c.TLSCertFile, c.TLSKeyFile = "a.pem", "a.key" }, true},
		{func(c *Config) { c.TLSRequireClientCert = true }, false},
		{func(c *Config) { c.TLSClientCAFile, c.TLSRequireClientCert = "ca.pem", true }, true},
		{func(c *Config) { c.TLSClientCAFile, c.TLSDisable = "ca.pem", true }, false},
		{func(c *Config) {
			c.TLSClientCAFile = "ca.pem"
			c.TLSClientPrincipals = []TLSClientPrincipal{{CommonName: "a", Principal: "arn:aws:iam::000000000000:root"}}
		}, true},
		{func(c *Config) {
			c.TLSClientCAFile = "ca.pem"
			c.TLSClientPrincipals = []TLSClientPrincipal{{CommonName: "a", Principal: "root"}}
		}, false},
		{func(c *Config) {
			c.TLSClientCAFile = "ca.pem"
			p := TLSClientPrincipal{CommonName: "a", Principal: "arn:aws:iam::000000000000:root"}
			c.TLSClientPrincipals = []TLSClientPrincipal{p, p}
		}, false},
	} {
		cfg := base
		c.mod(&cfg)
		if err := cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: Validate = %v, want ok=%v", cfg, err, c.ok)
		}
	}
}

func TestPostgresDSN(t *testing.T) {
	const dsn = "postgres://arca:pw@db:5432/arca?sslmode=verify-full"
	file := writeFile(t, "storage: postgres\npostgres_dsn: "+dsn+"\nmax_staleness: 10s\n")
	c, err := load(t, []string{"--config", file}, nil)
	if err != nil || c.Storage != "postgres" || c.PostgresDSN != dsn || c.MaxStaleness != 10*time.Second {
		t.Errorf("from YAML: %+v, %v", c, err)
	}
	c, err = load(t, []string{"--storage", "postgres"}, map[string]string{"ARCA_POSTGRES_DSN": "host=other"})
	if err != nil || c.PostgresDSN != "host=other" || c.MaxStaleness != 30*time.Second {
		t.Errorf("from the environment: %q, %v, %v", c.PostgresDSN, c.MaxStaleness, err)
	}
	if _, err := load(t, []string{"--storage", "postgres"}, nil); err == nil || !strings.Contains(err.Error(), "ARCA_POSTGRES_DSN") {
		t.Errorf("postgres without a DSN = %v", err)
	}
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if fs.Lookup("postgres-dsn") != nil {
		t.Error("there is a --postgres-dsn flag: the DSN may hold a password and must not be a flag")
	}
	if _, err := load(t, []string{"--storage", "mysql"}, nil); err == nil {
		t.Error("an unknown storage backend was accepted")
	}
	// The statement timeout: default, YAML, then environment, then flag.
	file = writeFile(t, "postgres_statement_timeout: 4s\n")
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{nil, nil, 10 * time.Second},
		{[]string{"--config", file}, nil, 4 * time.Second},
		{[]string{"--config", file}, map[string]string{"ARCA_POSTGRES_STATEMENT_TIMEOUT": "5s"}, 5 * time.Second},
		{[]string{"--config", file, "--postgres-statement-timeout", "6s"}, map[string]string{"ARCA_POSTGRES_STATEMENT_TIMEOUT": "5s"}, 6 * time.Second},
	} {
		if c, err := load(t, tc.args, tc.env); err != nil || c.PostgresStatementTimeout != tc.want {
			t.Errorf("%v %v: statement timeout %v, %v; want %v", tc.args, tc.env, c.PostgresStatementTimeout, err, tc.want)
		}
	}
	if _, err := load(t, []string{"--postgres-statement-timeout", "100ms"}, nil); err == nil || !strings.Contains(err.Error(), "postgres_statement_timeout") {
		t.Errorf("a 100ms statement timeout = %v; want refused", err)
	}
}
