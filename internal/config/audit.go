package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that also accepts whole days ("2557d"),
// since retention periods are set in days and years by regulations.
type Duration time.Duration

// Set parses "N d" days or a Go duration ("36h", "90m").
func (d *Duration) Set(v string) error {
	v = strings.TrimSpace(v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.ParseUint(n, 10, 32)
		if err != nil || days > 100*366 {
			return fmt.Errorf("%q: want whole days like 2557d, or a duration like 36h", v)
		}
		*d = Duration(time.Duration(days) * 24 * time.Hour)
		return nil
	}
	x, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q: want whole days like 2557d, or a duration like 36h", v)
	}
	*d = Duration(x)
	return nil
}

// String writes whole days as "Nd".
func (d Duration) String() string {
	x := time.Duration(d)
	if x > 0 && x%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(x/(24*time.Hour)), 10) + "d"
	}
	return x.String()
}

// UnmarshalYAML reads a Duration from a YAML scalar.
func (d *Duration) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	return d.Set(s)
}

// AuditSink is one `audit_sinks:` entry: a destination that receives a
// copy of every audit record after it is durable in the primary log. It
// mirrors internal/audit/sink.Spec; the server copies it over.
type AuditSink struct {
	// Name names the sink's delivery cursor (default TYPE-N).
	Name string `yaml:"name"`
	// Type is file, syslog or webhook.
	Type string `yaml:"type"`

	// Path is the file sink's JSON-lines file.
	Path string `yaml:"path"`
	// MaxBytes and MaxAge rotate the file; MaxFiles keeps that many
	// rotated files (0: all).
	MaxBytes int64         `yaml:"max_bytes"`
	MaxAge   time.Duration `yaml:"max_age"`
	MaxFiles int           `yaml:"max_files"`

	// Network (tcp, tls, udp, unix, unixgram) and Address of the syslog
	// receiver; Facility (0-23, default 13 "log audit"); Hostname (the
	// HOSTNAME field, default the host's name).
	Network  string `yaml:"network"`
	Address  string `yaml:"address"`
	Facility int    `yaml:"facility"`
	Hostname string `yaml:"hostname"`
	// CAFile (PEM) verifies a tls syslog receiver instead of the system's
	// roots; ServerName overrides the host name checked.
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`

	// URL and extra Headers of the webhook. HeaderEnv names, per header,
	// the environment variable holding its value, for credentials (an
	// Authorization token) that should not sit in the YAML file.
	URL       string            `yaml:"url"`
	Headers   map[string]string `yaml:"headers"`
	HeaderEnv map[string]string `yaml:"header_env"`

	// Timeout bounds one syslog write or webhook request (default 10s).
	Timeout time.Duration `yaml:"timeout"`

	// QueueSize (default 4096), BatchSize (default 100), and the retry
	// backoff bounds (default 500ms to 1m).
	QueueSize  int           `yaml:"queue_size"`
	BatchSize  int           `yaml:"batch_size"`
	MinBackoff time.Duration `yaml:"min_backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

var sinkNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

func (c Config) validateAudit() []error {
	var errs []error
	if c.AuditRetention < 0 {
		errs = append(errs, fmt.Errorf("audit_retention %v: want 0 (keep everything) or more", c.AuditRetention))
	}
	if c.AuditRetention > 0 && time.Duration(c.AuditRetention) < 24*time.Hour {
		errs = append(errs, fmt.Errorf("audit_retention %v: want at least 1d", c.AuditRetention))
	}
	if c.AuditSegmentMaxBytes != 0 && c.AuditSegmentMaxBytes < 4096 {
		errs = append(errs, fmt.Errorf("audit_segment_max_bytes %d: want 0 (the default, 64 MiB) or at least 4096", c.AuditSegmentMaxBytes))
	}
	if c.PostureAccessKeyMaxAge <= 0 {
		errs = append(errs, fmt.Errorf("posture_access_key_max_age %v: want more than 0", c.PostureAccessKeyMaxAge))
	}
	if c.NodeID != "" && !sinkNameRE.MatchString(c.NodeID) {
		errs = append(errs, fmt.Errorf("node_id %q: want 1-64 of A-Z a-z 0-9 _ . -", c.NodeID))
	}
	names := map[string]bool{}
	for i, s := range c.AuditSinks {
		name := s.Name
		if name == "" {
			name = fmt.Sprintf("%s-%d", s.Type, i+1)
		}
		at := fmt.Sprintf("audit_sinks[%d] (%s)", i, name)
		if !sinkNameRE.MatchString(name) || names[name] {
			errs = append(errs, fmt.Errorf("%s: name must be unique, 1-64 of A-Z a-z 0-9 _ . -", at))
		}
		names[name] = true
		switch s.Type {
		case "file":
			if s.Path == "" {
				errs = append(errs, fmt.Errorf("%s: a file sink needs path", at))
			}
		case "syslog":
			switch s.Network {
			case "tcp", "tls", "udp", "unix", "unixgram":
			default:
				errs = append(errs, fmt.Errorf("%s: network %q: want tcp, tls, udp, unix or unixgram", at, s.Network))
			}
			if s.Address == "" {
				errs = append(errs, fmt.Errorf("%s: a syslog sink needs address", at))
			}
			if s.Facility < 0 || s.Facility > 23 {
				errs = append(errs, fmt.Errorf("%s: facility %d: want 0-23", at, s.Facility))
			}
		case "webhook":
			if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s: url must be an http:// or https:// URL", at))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: type %q: want file, syslog or webhook", at, s.Type))
		}
		if s.MaxBytes < 0 || s.MaxAge < 0 || s.MaxFiles < 0 || s.Timeout < 0 || s.QueueSize < 0 || s.BatchSize < 0 || s.MinBackoff < 0 || s.MaxBackoff < 0 {
			errs = append(errs, fmt.Errorf("%s: sizes, counts and durations cannot be negative", at))
		}
	}
	return errs
}
