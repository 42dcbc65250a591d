package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/audit"
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

// The wiring of sinks and retention around a real log: a file sink
// receives every record, and retention prunes with the current key.
func TestAuditExtras(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	out := filepath.Join(t.TempDir(), "copy.jsonl")
	cfg := config.Defaults()
	cfg.AuditSinks = []config.AuditSink{{Type: "file", Path: out}}
	cfg.AuditRetention = config.Duration(24 * time.Hour)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	x, err := newAuditExtras(cfg, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	old := time.Now().Add(-48 * time.Hour)
	l, err := audit.Open(dir, key, audit.Options{Durable: x.durable(), Logger: log, MaxSegmentBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		ev := &audit.Event{EventName: "Encrypt", EventTime: old.Format(time.RFC3339), RequestID: strings.Repeat("r", i+1)}
		if i >= 15 {
			ev.EventTime = ""
		}
		if err := l.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := x.sweep(context.Background()); len(n) != 0 || err != nil {
		t.Fatalf("sweep before start = %v, %v", n, err)
	}
	x.start(context.Background(), func(context.Context) (ed25519.PrivateKey, error) { return key, nil }, time.Now)
	// Retention waits for the sink to have delivered the old records.
	if n, err := x.sweep(context.Background()); len(n) != 0 || err != nil || x.mgr.HoldFrom() == 0 {
		t.Logf("sweep before delivery = %v, %v (the sink may already be done)", n, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if strings.Count(string(b), "\n") == 20 && x.mgr.Stats()[0].Delivered == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink has %d lines", strings.Count(string(b), "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, err := x.sweep(context.Background()); len(n) != 1 || err != nil {
		t.Fatalf("sweep = %v, %v", n, err)
	}
	l.Close()
	x.close()
	rep, err := audit.Verify(dir, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)})
	if err != nil || !rep.OK() || rep.Pruned == 0 {
		t.Fatalf("verify after prune: %+v, %v", rep, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, sinkStateDir, "file-1.cursor"))
	var cur struct{ Sequence uint64 }
	if json.Unmarshal(b, &cur) != nil || cur.Sequence != 20 {
		t.Errorf("cursor = %s", b)
	}
}
