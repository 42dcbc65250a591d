// Package config builds Arca's one typed, validated Config from, in order of
// precedence, command-line flags, ARCA_* environment variables and a YAML
// file. There are no globals: the result is passed to the server.
//
// Secrets are never taken from flags (they would show in ps); credentials
// come from the environment or files.
//
// It imports nothing of Arca's.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// Config is the server's configuration.
type Config struct {
	// Dev runs with the dev seal and generated credentials. Not for production.
	Dev bool `yaml:"dev"`
	// Listen is the address to serve on, e.g. 127.0.0.1:4599.
	Listen string `yaml:"listen"`
	// DataDir holds the embedded database and, in dev mode, the dev seal key
	// and AWS CLI credential files.
	DataDir string `yaml:"data_dir"`
	// Partition is the ARN partition, "aws" by default.
	Partition string `yaml:"partition"`
	// Regions are the regions served; the first is the default region.
	Regions []string `yaml:"regions"`
	// AccountID is the default account, whose root credentials dev mode prints.
	AccountID string `yaml:"account_id"`
	// Storage is the storage backend: "bolt" (embedded, the default) or
	// "postgres" (shared by several nodes).
	Storage string `yaml:"storage"`
	// PostgresDSN is the PostgreSQL connection string (pgx: URL or
	// key=value, TLS through sslmode, sslrootcert, ...). From
	// ARCA_POSTGRES_DSN or the YAML file only, never a flag: it may hold a
	// password.
	PostgresDSN string `yaml:"postgres_dsn"`
	// MaxStaleness bounds how long a node sharing storage with others keeps
	// serving from its caches while it cannot confirm that it has seen
	// every other node's changes (it is cut off from the database); past
	// it, everything served from a cache fails with a retryable error.
	MaxStaleness time.Duration `yaml:"max_staleness"`
	// PostgresStatementTimeout bounds one PostgreSQL statement, so that a
	// silent partition (packets dropped, nothing closed) fails requests
	// with a retryable error instead of hanging them.
	PostgresStatementTimeout time.Duration `yaml:"postgres_statement_timeout"`
	// Seal is the seal type outside dev mode: shamir (the default), or an
	// auto-unseal seal.
	Seal string `yaml:"seal"`
	// SealPKCS11 and SealAWSKMS configure those seals (seal.go).
	SealPKCS11 SealPKCS11 `yaml:"seal_pkcs11"`
	SealAWSKMS SealAWSKMS `yaml:"seal_awskms"`
	// SealMigrate lets the server re-wrap the keyring from the seal recorded
	// in the data dir to the configured one at start (docs/OPERATIONS.md).
	SealMigrate bool `yaml:"seal_migrate"`
	// DisableMlock skips mlockall (for hosts with swap off or encrypted).
	DisableMlock bool `yaml:"disable_mlock"`
	// TLSCertFile and TLSKeyFile are the server certificate (chain) and key,
	// PEM; reloaded on SIGHUP. When both are empty (and TLS is on) a
	// self-signed certificate is generated in the data dir.
	TLSCertFile string `yaml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file"`
	// TLSDisable serves plain HTTP outside dev mode (behind a TLS-terminating
	// proxy only).
	TLSDisable bool `yaml:"tls_disable"`
	// TLSClientCAFile turns on mutual TLS: client certificates are verified
	// against these CAs (PEM). A request may still come without one unless
	// TLSRequireClientCert is set.
	TLSClientCAFile string `yaml:"tls_client_ca_file"`
	// TLSRequireClientCert refuses API requests without a verified client
	// certificate (/healthz and the operator endpoints stay reachable).
	TLSRequireClientCert bool `yaml:"tls_require_client_cert"`
	// TLSClientPrincipals binds client certificates to principals: a request
	// with a certificate whose subject common name is listed must be signed
	// by that principal's credentials. YAML only.
	TLSClientPrincipals []TLSClientPrincipal `yaml:"tls_client_principals"`
	// SchedulerInterval is how often the scheduler looks for due rotations
	// and deletions.
	SchedulerInterval time.Duration `yaml:"scheduler_interval"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is text or json.
	LogFormat string `yaml:"log_format"`
	// Audit switches the audit log on (the default). Off, requests are not
	// recorded at all: for benchmarks and tests, never for production.
	Audit bool `yaml:"audit"`
	// AuditDir is the audit log's directory; empty means DATA_DIR/audit.
	AuditDir string `yaml:"audit_dir"`
	// NodeID names this node's audit chain (arcaNodeId in every event); empty:
	// the ID stored in the audit dir, or a random one made at first start.
	NodeID string `yaml:"node_id"`
	// AuditCheckpointInterval is how often a signed checkpoint is written
	// while events arrive (and always at shutdown).
	AuditCheckpointInterval time.Duration `yaml:"audit_checkpoint_interval"`
	// AuditCommitDelay is how long the audit writer waits after a busy
	// batch before it takes the next one, so that more requests share
	// each sync; 0 disables it (audit.Options.CommitDelay).
	AuditCommitDelay time.Duration `yaml:"audit_commit_delay"`
	// OIDCProviders are the identity providers whose tokens STS
	// AssumeRoleWithWebIdentity accepts. YAML only: a list of records has
	// no natural flag or environment form.
	OIDCProviders []OIDCProvider `yaml:"oidc_providers"`
	// AuditSinks receive copies of the audit log (YAML only; audit.go).
	AuditSinks []AuditSink `yaml:"audit_sinks"`
	// AuditRetention prunes audit records older than this (0 keeps all).
	AuditRetention Duration `yaml:"audit_retention"`
	// AuditSegmentMaxBytes starts a new audit segment past this size (0:
	// the log's default, 64 MiB). Retention removes whole segments, so it
	// sets retention's granularity. YAML only.
	AuditSegmentMaxBytes int64 `yaml:"audit_segment_max_bytes"`
	// PostureAccessKeyMaxAge flags access keys older than this.
	PostureAccessKeyMaxAge Duration `yaml:"posture_access_key_max_age"`
	// Rotators are the secret rotators RotationLambdaARN selects (YAML
	// only; rotators.go).
	Rotators []Rotator `yaml:"rotators"`
}

// TLSClientPrincipal maps a client certificate's subject common name to
// the ARN of the principal allowed to sign requests over it.
type TLSClientPrincipal struct {
	CommonName string `yaml:"common_name"`
	Principal  string `yaml:"principal"`
}

// OIDCProvider is one trusted OIDC issuer (AWS: an IAM OIDC identity
// provider). It mirrors internal/oidc.Issuer field for field; Validate checks
// the shape here, and oidc.New checks the rest (algorithm names, URL details,
// the key-set file) when the server starts.
type OIDCProvider struct {
	// URL is the issuer, exactly as the tokens' iss claim has it (https://).
	URL string `yaml:"url"`
	// Audiences are the accepted client IDs (aud, or azp when present).
	Audiences []string `yaml:"audiences"`
	// JWKSFile is a local JSON Web Key Set; exclusive with JWKSURL.
	JWKSFile string `yaml:"jwks_file"`
	// JWKSURL is where the key set is fetched from; exclusive with JWKSFile.
	JWKSURL string `yaml:"jwks_url"`
	// Algorithms narrows the accepted JWS algorithms; empty means every
	// asymmetric one (RS*, PS*, ES*, EdDSA).
	Algorithms []string `yaml:"algorithms"`
}

// Defaults returns the configuration used when nothing is set.
func Defaults() Config {
	return Config{
		Listen:    "127.0.0.1:4599",
		DataDir:   "./arca-data",
		Partition: "aws",
		Regions:   []string{"us-east-1"},
		AccountID: "000000000000",
		Storage:   "bolt",
		LogLevel:  "info",
		LogFormat: "text",

		SchedulerInterval: time.Minute,
		MaxStaleness:      30 * time.Second,

		PostgresStatementTimeout: 10 * time.Second,

		Audit:                   true,
		AuditCheckpointInterval: time.Minute,
		AuditCommitDelay:        DefaultAuditCommitDelay,
		PostureAccessKeyMaxAge:  Duration(90 * 24 * time.Hour),
	}
}

// field binds one setting to its flag, environment variable and YAML key.
type field struct {
	flag, env, help string
	set             func(c *Config, v string) error
	def             func(c Config) string
}

var fields = []field{
	{"dev", "ARCA_DEV", "run in development mode: dev seal, generated credentials (not for production)",
		func(c *Config, v string) (err error) { c.Dev, err = strconv.ParseBool(v); return },
		func(c Config) string { return strconv.FormatBool(c.Dev) }},
	{"listen", "ARCA_LISTEN", "address to listen on",
		func(c *Config, v string) error { c.Listen = v; return nil },
		func(c Config) string { return c.Listen }},
	{"data-dir", "ARCA_DATA_DIR", "directory for the embedded database and dev files",
		func(c *Config, v string) error { c.DataDir = v; return nil },
		func(c Config) string { return c.DataDir }},
	{"partition", "ARCA_PARTITION", "ARN partition",
		func(c *Config, v string) error { c.Partition = v; return nil },
		func(c Config) string { return c.Partition }},
	{"region", "ARCA_REGION", "regions served, comma-separated or repeated; the first is the default",
		func(c *Config, v string) error { c.Regions = splitList(v); return nil },
		func(c Config) string { return strings.Join(c.Regions, ",") }},
	{"account-id", "ARCA_ACCOUNT_ID", "default 12-digit account ID",
		func(c *Config, v string) error { c.AccountID = v; return nil },
		func(c Config) string { return c.AccountID }},
	{"storage", "ARCA_STORAGE", "storage backend: bolt or postgres (DSN from ARCA_POSTGRES_DSN or postgres_dsn in the config file)",
		func(c *Config, v string) error { c.Storage = v; return nil },
		func(c Config) string { return c.Storage }},
	{"seal", "ARCA_SEAL", "seal type outside dev mode: shamir (default), pkcs11 or awskms",
		func(c *Config, v string) error { c.Seal = v; return nil },
		func(c Config) string { return c.Seal }},
	{"seal-migrate", "ARCA_SEAL_MIGRATE", "at start, re-wrap the root key from the data dir's seal to the configured seal",
		func(c *Config, v string) (err error) { c.SealMigrate, err = strconv.ParseBool(v); return },
		func(c Config) string { return strconv.FormatBool(c.SealMigrate) }},
	{"disable-mlock", "ARCA_DISABLE_MLOCK", "do not lock memory against swapping (only with swap off or encrypted)",
		func(c *Config, v string) (err error) { c.DisableMlock, err = strconv.ParseBool(v); return },
		func(c Config) string { return strconv.FormatBool(c.DisableMlock) }},
	{"tls-cert-file", "ARCA_TLS_CERT_FILE", "TLS certificate (PEM) outside dev mode; reloaded on SIGHUP",
		func(c *Config, v string) error { c.TLSCertFile = v; return nil },
		func(c Config) string { return c.TLSCertFile }},
	{"tls-key-file", "ARCA_TLS_KEY_FILE", "TLS private key (PEM) for --tls-cert-file",
		func(c *Config, v string) error { c.TLSKeyFile = v; return nil },
		func(c Config) string { return c.TLSKeyFile }},
	{"tls-disable", "ARCA_TLS_DISABLE", "serve plain HTTP outside dev mode (only behind a TLS-terminating proxy)",
		func(c *Config, v string) (err error) { c.TLSDisable, err = strconv.ParseBool(v); return },
		func(c Config) string { return strconv.FormatBool(c.TLSDisable) }},
	{"tls-client-ca-file", "ARCA_TLS_CLIENT_CA_FILE", "CA certificates (PEM) that client certificates are verified against (mutual TLS)",
		func(c *Config, v string) error { c.TLSClientCAFile = v; return nil },
		func(c Config) string { return c.TLSClientCAFile }},
	{"tls-require-client-cert", "ARCA_TLS_REQUIRE_CLIENT_CERT", "refuse API requests without a verified client certificate",
		func(c *Config, v string) (err error) { c.TLSRequireClientCert, err = strconv.ParseBool(v); return },
		func(c Config) string { return strconv.FormatBool(c.TLSRequireClientCert) }},
	{"scheduler-interval", "ARCA_SCHEDULER_INTERVAL", "how often due rotations and deletions are performed",
		func(c *Config, v string) (err error) { c.SchedulerInterval, err = time.ParseDuration(v); return },
		func(c Config) string { return c.SchedulerInterval.String() }},
	{"max-staleness", "ARCA_MAX_STALENESS", "with shared storage: refuse what caches would serve after this long without sight of other nodes' changes",
		func(c *Config, v string) (err error) { c.MaxStaleness, err = time.ParseDuration(v); return },
		func(c Config) string { return c.MaxStaleness.String() }},
	{"postgres-statement-timeout", "ARCA_POSTGRES_STATEMENT_TIMEOUT", "with postgres: fail one statement (retryably) after this long",
		func(c *Config, v string) (err error) { c.PostgresStatementTimeout, err = time.ParseDuration(v); return },
		func(c Config) string { return c.PostgresStatementTimeout.String() }},
	{"log-level", "ARCA_LOG_LEVEL", "log level: debug, info, warn, error",
		func(c *Config, v string) error { c.LogLevel = v; return nil },
		func(c Config) string { return c.LogLevel }},
	{"audit-retention", "ARCA_AUDIT_RETENTION", "prune audit records older than this (e.g. 2557d; 0 keeps everything)",
		func(c *Config, v string) error { return c.AuditRetention.Set(v) },
		func(c Config) string { return c.AuditRetention.String() }},
	{"posture-access-key-max-age", "ARCA_POSTURE_ACCESS_KEY_MAX_AGE", "posture flags access keys older than this",
		func(c *Config, v string) error { return c.PostureAccessKeyMaxAge.Set(v) },
		func(c Config) string { return c.PostureAccessKeyMaxAge.String() }},
	{"log-format", "ARCA_LOG_FORMAT", "log format: text or json",
		func(c *Config, v string) error { c.LogFormat = v; return nil },
		func(c Config) string { return c.LogFormat }},
	{"audit", "ARCA_AUDIT", "record every request in the audit log (false only for benchmarks and tests)",
		func(c *Config, v string) (err error) { c.Audit, err = strconv.ParseBool(v); return },
		func(c Config) string { return strconv.FormatBool(c.Audit) }},
	{"audit-dir", "ARCA_AUDIT_DIR", "audit log directory (default DATA_DIR/audit)",
		func(c *Config, v string) error { c.AuditDir = v; return nil },
		func(c Config) string { return c.AuditDir }},
	{"node-id", "ARCA_NODE_ID", "this node's audit chain ID (default: stored in the audit dir, random at first start)",
		func(c *Config, v string) error { c.NodeID = v; return nil },
		func(c Config) string { return c.NodeID }},
	{"audit-checkpoint-interval", "ARCA_AUDIT_CHECKPOINT_INTERVAL", "how often the audit log signs a checkpoint",
		func(c *Config, v string) (err error) { c.AuditCheckpointInterval, err = time.ParseDuration(v); return },
		func(c Config) string { return c.AuditCheckpointInterval.String() }},
	{"audit-commit-delay", "ARCA_AUDIT_COMMIT_DELAY", "how long the audit writer waits after a busy batch so that more requests share each sync (0: off)",
		func(c *Config, v string) (err error) { c.AuditCommitDelay, err = time.ParseDuration(v); return },
		func(c Config) string { return c.AuditCommitDelay.String() }},
}

// DefaultAuditCommitDelay is audit_commit_delay's default, measured in
// docs/PERFORMANCE.md ("Third pass").
const DefaultAuditCommitDelay = 500 * time.Microsecond

// AuditPath is the audit log directory: AuditDir, or DATA_DIR/audit.
func (c Config) AuditPath() string {
	if c.AuditDir != "" {
		return c.AuditDir
	}
	return filepath.Join(c.DataDir, "audit")
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// RegisterFlags adds the server's flags to fs, plus --config for the file.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Defaults()
	fs.String("config", "", "YAML configuration file (env ARCA_CONFIG)")
	for _, f := range fields {
		if f.flag == "dev" || f.flag == "tls-disable" || f.flag == "tls-require-client-cert" || f.flag == "seal-migrate" || f.flag == "disable-mlock" || f.flag == "audit" {
			fs.Bool(f.flag, f.flag == "audit", f.help+" (env "+f.env+")")
			continue
		}
		if f.flag == "region" {
			fs.StringSlice(f.flag, nil, f.help+" (env "+f.env+", default "+f.def(d)+")")
			continue
		}
		fs.String(f.flag, f.def(d), f.help+" (env "+f.env+")")
	}
}

// Load builds the Config: defaults, then the YAML file (from --config or
// ARCA_CONFIG), then ARCA_* variables from getenv, then the flags that were
// set explicitly on fs.
func Load(fs *pflag.FlagSet, getenv func(string) string) (Config, error) {
	c := Defaults()
	path, _ := fs.GetString("config")
	if path == "" {
		path = getenv("ARCA_CONFIG")
	}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := parseYAML(raw, &c); err != nil {
			return c, fmt.Errorf("config: %s: %w", path, err)
		}
	}
	// The DSN has no flag: it may carry a password, and flags show in ps.
	if v := getenv("ARCA_POSTGRES_DSN"); v != "" {
		c.PostgresDSN = v
	}
	for _, f := range fields {
		if v := getenv(f.env); v != "" {
			if err := f.set(&c, v); err != nil {
				return c, fmt.Errorf("config: %s=%q: %w", f.env, v, err)
			}
		}
	}
	for _, f := range fields {
		fl := fs.Lookup(f.flag)
		if fl == nil || !fl.Changed {
			continue
		}
		v := fl.Value.String()
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		if err := f.set(&c, v); err != nil {
			return c, fmt.Errorf("config: --%s=%q: %w", f.flag, v, err)
		}
	}
	return c, c.Validate()
}

// parseYAML decodes a config file strictly: an unknown key is an error with
// its line number, so a typo never silently falls back to a default.
func parseYAML(raw []byte, c *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

var (
	accountRE = regexp.MustCompile(`^[0-9]{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-[a-z0-9]+)+-[0-9]+$`)
	partRE    = regexp.MustCompile(`^aws(-[a-z]+)*$`)
)

// Validate checks every setting and returns all problems at once.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: want host:port", c.Listen))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir must be set"))
	}
	if !partRE.MatchString(c.Partition) {
		errs = append(errs, fmt.Errorf("partition %q: want aws, aws-cn, aws-us-gov or another aws-* name", c.Partition))
	}
	if len(c.Regions) == 0 {
		errs = append(errs, errors.New("at least one region must be served"))
	}
	for _, r := range c.Regions {
		if !regionRE.MatchString(r) {
			errs = append(errs, fmt.Errorf("region %q: want a name like us-east-1", r))
		}
	}
	if !accountRE.MatchString(c.AccountID) {
		errs = append(errs, fmt.Errorf("account_id %q: want 12 digits", c.AccountID))
	}
	switch c.Storage {
	case "bolt":
	case "postgres":
		if c.PostgresDSN == "" {
			errs = append(errs, errors.New("storage postgres needs a DSN: set ARCA_POSTGRES_DSN or postgres_dsn in the config file"))
		}
	default:
		errs = append(errs, fmt.Errorf("storage %q: want bolt or postgres", c.Storage))
	}
	if c.MaxStaleness < time.Second {
		errs = append(errs, fmt.Errorf("max_staleness %v: want at least 1s", c.MaxStaleness))
	}
	if c.PostgresStatementTimeout < time.Second {
		errs = append(errs, fmt.Errorf("postgres_statement_timeout %v: want at least 1s", c.PostgresStatementTimeout))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log_level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.SchedulerInterval < time.Second {
		errs = append(errs, fmt.Errorf("scheduler_interval %v: want at least 1s", c.SchedulerInterval))
	}
	if c.AuditCheckpointInterval < time.Second {
		errs = append(errs, fmt.Errorf("audit_checkpoint_interval %v: want at least 1s", c.AuditCheckpointInterval))
	}
	if c.AuditCommitDelay < 0 || c.AuditCommitDelay > 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("audit_commit_delay %v: want 0 to 100ms", c.AuditCommitDelay))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log_format %q: want text or json", c.LogFormat))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls_cert_file and tls_key_file must be set together"))
	}
	if c.TLSClientCAFile != "" && (c.TLSDisable || c.Dev) {
		errs = append(errs, errors.New("tls_client_ca_file (mutual TLS) needs TLS: not with tls_disable or dev mode"))
	}
	if c.TLSClientCAFile == "" && (c.TLSRequireClientCert || len(c.TLSClientPrincipals) > 0) {
		errs = append(errs, errors.New("tls_require_client_cert and tls_client_principals need tls_client_ca_file"))
	}
	seenCN := map[string]bool{}
	for i, p := range c.TLSClientPrincipals {
		if p.CommonName == "" || !strings.HasPrefix(p.Principal, "arn:") {
			errs = append(errs, fmt.Errorf("tls_client_principals[%d]: want common_name and a principal ARN", i))
		}
		if seenCN[p.CommonName] {
			errs = append(errs, fmt.Errorf("tls_client_principals[%d]: common_name %q is listed twice", i, p.CommonName))
		}
		seenCN[p.CommonName] = true
	}
	if c.Dev && c.Seal != "" && c.Seal != "dev" {
		errs = append(errs, fmt.Errorf("seal %q cannot be combined with dev mode", c.Seal))
	}
	errs = append(errs, c.validateSeal()...)
	errs = append(errs, validateOIDC(c.OIDCProviders)...)
	errs = append(errs, c.validateAudit()...)
	errs = append(errs, validateRotators(c.Rotators)...)
	return errors.Join(errs...)
}

func validateOIDC(providers []OIDCProvider) []error {
	var errs []error
	seen := map[string]bool{}
	for i, p := range providers {
		name := fmt.Sprintf("oidc_providers[%d] (%q)", i, p.URL)
		if !strings.HasPrefix(p.URL, "https://") || len(p.URL) == len("https://") {
			errs = append(errs, fmt.Errorf("%s: url must begin with https://", name))
		}
		if seen[p.URL] {
			errs = append(errs, fmt.Errorf("%s: url is listed twice", name))
		}
		seen[p.URL] = true
		if len(p.Audiences) == 0 {
			errs = append(errs, fmt.Errorf("%s: audiences must list at least one client ID", name))
		}
		if (p.JWKSFile == "") == (p.JWKSURL == "") {
			errs = append(errs, fmt.Errorf("%s: set exactly one of jwks_file and jwks_url", name))
		}
	}
	return errs
}
