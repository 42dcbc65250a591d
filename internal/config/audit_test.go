package config

import (
	"strings"
	"testing"
	"time"
)

func TestAuditConfig(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `
audit_retention: 2557d
posture_access_key_max_age: 30d
audit_sinks:
  - type: file
    path: /var/log/arca/audit.jsonl
    max_bytes: 104857600
    max_age: 24h
    max_files: 30
  - name: siem
    type: syslog
    network: tcp
    address: siem.example:6514
  - type: webhook
    url: https://hooks.example/arca
    headers: {Authorization: Bearer x}
    timeout: 5s
    max_backoff: 2m
`)
	c, err := load(t, nil, map[string]string{"ARCA_CONFIG": file})
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.AuditRetention) != 2557*24*time.Hour || c.AuditRetention.String() != "2557d" {
		t.Errorf("audit_retention = %v", c.AuditRetention)
	}
	if time.Duration(c.PostureAccessKeyMaxAge) != 30*24*time.Hour {
		t.Errorf("posture_access_key_max_age = %v", c.PostureAccessKeyMaxAge)
	}
	if len(c.AuditSinks) != 3 || c.AuditSinks[0].MaxAge != 24*time.Hour || c.AuditSinks[1].Name != "siem" ||
		c.AuditSinks[2].Headers["Authorization"] != "Bearer x" || c.AuditSinks[2].MaxBackoff != 2*time.Minute {
		t.Errorf("audit_sinks = %+v", c.AuditSinks)
	}
	// The environment overrides the file, in days or as a duration.
	c, err = load(t, nil, map[string]string{"ARCA_CONFIG": file, "ARCA_AUDIT_RETENTION": "48h"})
	if err != nil || time.Duration(c.AuditRetention) != 48*time.Hour {
		t.Errorf("env retention = %v, %v", c.AuditRetention, err)
	}
}

func TestAuditConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ yaml, want string }{
		{"audit_retention: 12h", "want at least 1d"},
		{"audit_segment_max_bytes: 100", "at least 4096"},
		{"audit_retention: forever", "want whole days"},
		{"audit_retention: -3d", "want whole days"},
		{"audit_sinks: [{type: kafka}]", `type "kafka"`},
		{"audit_sinks: [{type: file}]", "needs path"},
		{"audit_sinks: [{type: syslog, network: quic, address: x:1}]", `network "quic"`},
		{"audit_sinks: [{type: syslog, network: udp}]", "needs address"},
		{"audit_sinks: [{type: syslog, network: udp, address: x:1, facility: 24}]", "facility 24"},
		{"audit_sinks: [{type: webhook, url: 'ftp://x'}]", "http:// or https://"},
		{"audit_sinks: [{name: a, type: file, path: x}, {name: a, type: file, path: y}]", "must be unique"},
		{"audit_sinks: [{type: file, path: x, queue_size: -1}]", "cannot be negative"},
		{"audit_sinks: [{type: file, paht: x}]", "paht"},
	} {
		_, err := load(t, nil, map[string]string{"ARCA_CONFIG": writeFile(t, tc.yaml)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
