package server

import (
	"testing"

	"github.com/arca-kms/arca/internal/audit/sink"
	"github.com/arca-kms/arca/internal/config"
)

// config.AuditSink mirrors sink.Spec field for field, so the server converts
// one into the other; this stops compiling if they drift apart.
func TestAuditSinkConfigConverts(t *testing.T) {
	c := config.AuditSink{Name: "n", Type: "webhook", URL: "https://x.example/"}
	if s := sink.Spec(c); s.Name != "n" || s.URL != c.URL {
		t.Fatalf("converted = %+v", s)
	}
}
