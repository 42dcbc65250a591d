package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/audit"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTailFollowsLiveLog: `arca audit tail -f` on the directory of a log
// being written (whose segment ends in preallocated zeros) prints the
// events already there and then each new one, and never the zeros.
func TestTailFollowsLiveLog(t *testing.T) {
	dir := t.TempDir()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	l, err := audit.Open(dir, key, audit.Options{CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	add := func(i int) {
		ev := &audit.Event{EventSource: "kms.amazonaws.com", EventName: fmt.Sprintf("Op%d", i), EventType: "AwsApiCall",
			RequestParameters: []byte("null"), ResponseElements: []byte("null")}
		if err := l.Append(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		add(i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuf
	done := make(chan error, 1)
	go func() { done <- tailLog(ctx, dir, 10, true, false, &out) }()
	for start := time.Now(); strings.Count(out.String(), "\n") < 3; time.Sleep(20 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("tail printed only:\n%s", out.String())
		}
	}
	for i := 3; i < 6; i++ {
		add(i)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), "\n") < 6 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Count(got, "\n") != 6 || strings.ContainsRune(got, 0) {
		t.Fatalf("tail -f printed:\n%q", got)
	}
	for i := range 6 {
		if !strings.Contains(got, fmt.Sprintf(`"eventName":"Op%d"`, i)) {
			t.Errorf("event Op%d missing:\n%s", i, got)
		}
	}
}
