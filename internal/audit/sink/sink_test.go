package sink

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/audit"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func rec(seq uint64) Record {
	return Record{Seq: seq, Line: fmt.Appendf(nil, `{"eventTime":"2026-12-03T10:00:00Z","eventName":"Encrypt","eventID":"e%d","arcaSequence":%d}`, seq, seq)}
}

func recs(from, to uint64) []Record {
	var out []Record
	for s := from; s <= to; s++ {
		out = append(out, rec(s))
	}
	return out
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestFileSinkRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	path := filepath.Join(dir, "audit.jsonl")
	line := len(rec(1).Line) + 1
	f, err := NewFile(FileOptions{Path: path, MaxBytes: int64(3 * line), MaxAge: time.Hour, MaxFiles: 2, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(r []Record) {
		t.Helper()
		if n, err := f.Deliver(context.Background(), r); err != nil || n != len(r) {
			t.Fatalf("Deliver = %d, %v", n, err)
		}
		now = now.Add(time.Second)
	}
	deliver(recs(1, 2))
	deliver(recs(3, 3)) // exactly 3 lines: fits
	deliver(recs(4, 4)) // would pass MaxBytes: rotates first
	if got := readLines(t, path); len(got) != 1 || !strings.Contains(got[0], `"e4"`) {
		t.Fatalf("live file after size rotation = %q", got)
	}
	rotated, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if len(rotated) != 1 || len(readLines(t, rotated[0])) != 3 {
		t.Fatalf("rotated = %v", rotated)
	}
	now = now.Add(time.Hour) // age rotation
	deliver(recs(5, 5))
	now = now.Add(time.Hour)
	deliver(recs(6, 6))
	rotated, _ = filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	if len(rotated) != 2 {
		t.Fatalf("MaxFiles=2 kept %v", rotated)
	}
	if got := readLines(t, rotated[0]); !strings.Contains(got[0], `"e4"`) {
		t.Errorf("oldest kept rotated file holds %q; want the e4 file (the e1-e3 one removed)", got)
	}
	if got := readLines(t, path); len(got) != 1 || !strings.Contains(got[0], `"e6"`) {
		t.Errorf("live file = %q", got)
	}
	f.Close()
	// Reopening appends to the live file.
	f2, _ := NewFile(FileOptions{Path: path})
	f2.Deliver(context.Background(), recs(7, 7))
	f2.Close()
	if got := readLines(t, path); len(got) != 2 {
		t.Errorf("after reopen = %q", got)
	}
}

// syslogServer collects the messages a listener receives.
type syslogServer struct {
	mu   sync.Mutex
	msgs []string
}

func (s *syslogServer) add(m string) { s.mu.Lock(); s.msgs = append(s.msgs, m); s.mu.Unlock() }
func (s *syslogServer) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// serveStream reads octet-counted frames ("LEN SP MSG") from each connection.
func (s *syslogServer) serveStream(t *testing.T, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				n, err := r.ReadString(' ')
				if err != nil {
					return
				}
				l, err := strconv.Atoi(strings.TrimSuffix(n, " "))
				if err != nil {
					t.Errorf("bad frame length %q", n)
					return
				}
				buf := make([]byte, l)
				if _, err := io.ReadFull(r, buf); err != nil {
					return
				}
				s.add(string(buf))
			}
		}()
	}
}

func (s *syslogServer) serveDatagrams(c net.PacketConn) {
	buf := make([]byte, 65536)
	for {
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return
		}
		s.add(string(buf[:n]))
	}
}

func TestSyslogTransports(t *testing.T) {
	t.Parallel()
	sockDir, err := os.MkdirTemp("", "arca-syslog") // unix socket paths must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	for _, network := range []string{"tcp", "udp", "unix", "unixgram"} {
		t.Run(network, func(t *testing.T) {
			srv := &syslogServer{}
			var addr string
			switch network {
			case "tcp", "unix":
				a := "127.0.0.1:0"
				if network == "unix" {
					a = filepath.Join(sockDir, "s.sock")
				}
				ln, err := net.Listen(network, a)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				go srv.serveStream(t, ln)
				addr = ln.Addr().String()
			default:
				a := "127.0.0.1:0"
				if network == "unixgram" {
					a = filepath.Join(sockDir, "g.sock")
				}
				pc, err := net.ListenPacket(network, a)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { pc.Close() })
				go srv.serveDatagrams(pc)
				addr = pc.LocalAddr().String()
			}
			s, err := NewSyslog(SyslogOptions{Network: network, Address: addr, Hostname: "arca-test", Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if n, err := s.Deliver(context.Background(), recs(1, 5)); err != nil || n != 5 {
				t.Fatalf("Deliver = %d, %v", n, err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(srv.got()) < 5 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			got := srv.got()
			if len(got) != 5 {
				t.Fatalf("received %d messages, want 5", len(got))
			}
			for i, m := range got {
				f, err := parse5424([]byte(m))
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if !strings.Contains(f["sd"], fmt.Sprintf(`sequence="%d"`, i+1)) || !strings.Contains(f["msg"], fmt.Sprintf(`"e%d"`, i+1)) {
					t.Errorf("message %d = %v", i, f)
				}
			}
		})
	}
}

func TestSyslogReconnects(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, _ := NewSyslog(SyslogOptions{Network: "tcp", Address: addr, Timeout: time.Second})
	defer s.Close()
	if n, err := s.Deliver(context.Background(), recs(1, 1)); err == nil || n != 0 {
		t.Fatalf("Deliver to a closed port = %d, %v", n, err)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port %s was taken meanwhile: %v", addr, err)
	}
	defer ln.Close()
	srv := &syslogServer{}
	go srv.serveStream(t, ln)
	if n, err := s.Deliver(context.Background(), recs(1, 2)); err != nil || n != 2 {
		t.Fatalf("Deliver after the server came up = %d, %v", n, err)
	}
}

// hook is a webhook receiver whose behaviour the test switches.
type hook struct {
	mu      sync.Mutex
	mode    string // "ok", "fail", "hang"
	release chan struct{}
	seqs    []uint64
	posts   int
	headers http.Header
}

func newHook(mode string) (*hook, *httptest.Server) {
	h := &hook{mode: mode, release: make(chan struct{})}
	return h, httptest.NewServer(h)
}

func (h *hook) set(mode string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mode == "hang" && mode != "hang" {
		close(h.release)
	}
	h.mode = mode
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	mode, release := h.mode, h.release
	h.posts++
	h.mu.Unlock()
	switch mode {
	case "fail":
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	case "hang":
		select {
		case <-release:
		case <-r.Context().Done():
		}
		http.Error(w, "was hanging", http.StatusGatewayTimeout)
		return
	}
	var body struct {
		Records []struct {
			Seq uint64 `json:"arcaSequence"`
		}
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	for _, rec := range body.Records {
		h.seqs = append(h.seqs, rec.Seq)
	}
	h.headers = r.Header.Clone()
	h.mu.Unlock()
}

// received returns the distinct sequences received, checking that the
// first delivery of each came in order.
func (h *hook) received(t *testing.T) (distinct uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var high uint64
	for _, s := range h.seqs {
		if s > high+1 {
			t.Fatalf("sequence %d arrived before %d", s, high+1)
		}
		high = max(high, s)
	}
	return high
}

func TestWebhookSink(t *testing.T) {
	t.Parallel()
	h, srv := newHook("fail")
	defer srv.Close()
	w, err := NewWebhook(WebhookOptions{URL: srv.URL + "/audit", Headers: map[string]string{"Authorization": "Bearer t"}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.Deliver(context.Background(), recs(1, 3)); err == nil || n != 0 || !strings.Contains(err.Error(), "503") {
		t.Fatalf("Deliver to a failing receiver = %d, %v", n, err)
	}
	h.set("ok")
	if n, err := w.Deliver(context.Background(), recs(1, 3)); err != nil || n != 3 {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	if h.received(t) != 3 || h.headers.Get("X-Arca-Audit-Sequence") != "1-3" || h.headers.Get("Authorization") != "Bearer t" {
		t.Errorf("received %v with headers %v", h.seqs, h.headers)
	}
	if _, err := NewWebhook(WebhookOptions{URL: "ftp://x"}); err == nil {
		t.Error("ftp URL accepted")
	}
	// Credentials in the URL never reach an error message.
	dead, _ := NewWebhook(WebhookOptions{URL: "http://user:s3cret@127.0.0.1:1/x", Timeout: time.Second})
	if _, err := dead.Deliver(context.Background(), recs(1, 1)); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error = %v", err)
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	base, maxD := 100*time.Millisecond, 2*time.Second
	seen := map[time.Duration]bool{}
	for attempt := range 40 {
		for range 20 {
			d := backoff(base, maxD, attempt)
			ceil := min(maxD, base<<min(attempt, 31))
			if attempt >= 31 {
				ceil = maxD
			}
			if d < base/2 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", attempt, d, base/2, ceil)
			}
			seen[d] = true
		}
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct delays: no jitter?", len(seen))
	}
}

// testLog opens an audit log in a temp dir with a sink manager attached.
func testLog(t *testing.T, dir string, sinks ...Named) (*audit.Log, *Manager) {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	m, err := New(Options{LogDir: dir, StateDir: filepath.Join(dir, "sinks"), Logger: quiet()}, sinks...)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(dir, key, audit.Options{Durable: m.Durable, Logger: quiet(), MaxSegmentBytes: 16 << 10})
	if err != nil {
		t.Fatal(err)
	}
	m.Start(context.Background())
	return l, m
}

func ev(i int) *audit.Event {
	return &audit.Event{EventSource: "kms.amazonaws.com", EventName: "Encrypt", AWSRegion: "us-east-1",
		RequestParameters: json.RawMessage(`{"keyId":"k"}`), ResponseElements: json.RawMessage("null"),
		RequestID: fmt.Sprint("r", i), EventID: fmt.Sprint("e", i), EventType: "AwsApiCall", EventCategory: "Management"}
}

// appendN appends n events from 16 goroutines.
func appendN(t testing.TB, l *audit.Log, n int) {
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if err := l.Append(context.Background(), ev(i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func fastTuning() Tuning {
	return Tuning{QueueSize: 64, BatchSize: 50, MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
}

// A webhook that refuses connections, then one that hangs, then one that
// comes back: every event arrives, in order, and the small queue's
// overflow was read back from the log.
func TestManagerDeadWebhookCatchesUp(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"refused", "hang", "fail"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			h, srv := newHook(mode)
			defer srv.Close()
			url := srv.URL
			if mode == "refused" {
				ln, _ := net.Listen("tcp", "127.0.0.1:0")
				url = "http://" + ln.Addr().String()
				ln.Close()
			}
			w, _ := NewWebhook(WebhookOptions{URL: url, Timeout: 200 * time.Millisecond})
			dir := t.TempDir()
			l, m := testLog(t, dir, Named{Name: "hook", Sink: w, Tuning: fastTuning()})
			appendN(t, l, 600)
			if st := m.Stats()[0]; st.Delivered != 0 || st.Head != 600 || st.Overflows == 0 || m.HoldFrom() != 1 {
				t.Fatalf("while dead: %+v, hold from %d", st, m.HoldFrom())
			}
			if mode == "refused" {
				// The receiver comes back at another address: restart with
				// the same state (the cursor persists).
				m.Close()
				l.Close()
				w2, _ := NewWebhook(WebhookOptions{URL: srv.URL, Timeout: time.Second})
				h.set("ok")
				l, m = testLog(t, dir, Named{Name: "hook", Sink: w2, Tuning: fastTuning()})
			} else {
				h.set("ok")
			}
			waitFor(t, "all 600 events at the webhook", func() bool { return h.received(t) == 600 })
			appendN(t, l, 50) // the live path works after catching up
			waitFor(t, "650 events", func() bool { return h.received(t) == 650 })
			waitFor(t, "nothing held", func() bool { return m.HoldFrom() == 0 })
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			cur, ok, _ := readCursor(filepath.Join(dir, "sinks", "hook.cursor"))
			if !ok || cur != 650 {
				t.Errorf("cursor = %d, %v", cur, ok)
			}
		})
	}
}

// A sink created on an existing log starts at its end; one restarted
// after downtime catches up from its cursor.
func TestManagerCursorAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, m := testLog(t, dir)
	appendN(t, l, 20)
	m.Close()
	l.Close()

	path := filepath.Join(t.TempDir(), "out.jsonl")
	f, _ := NewFile(FileOptions{Path: path})
	l, m = testLog(t, dir, Named{Name: "file", Sink: f, Tuning: fastTuning()})
	appendN(t, l, 10)
	waitFor(t, "10 lines", func() bool { b, _ := os.ReadFile(path); return strings.Count(string(b), "\n") == 10 })
	m.Close()
	appendN(t, l, 30) // while the sink is stopped
	f2, _ := NewFile(FileOptions{Path: path})
	m2, err := New(Options{LogDir: dir, StateDir: filepath.Join(dir, "sinks"), Logger: quiet()}, Named{Name: "file", Sink: f2})
	if err != nil {
		t.Fatal(err)
	}
	m2.Start(context.Background())
	defer m2.Close()
	waitFor(t, "40 lines", func() bool { b, _ := os.ReadFile(path); return strings.Count(string(b), "\n") == 40 })
	lines := readLines(t, path)
	for i, line := range lines {
		var e audit.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Sequence != uint64(21+i) {
			t.Fatalf("line %d = sequence %d, %v; want %d", i, e.Sequence, err, 21+i)
		}
	}
	l.Close()
}

// appendRate measures appends per second of n events.
func appendRate(t testing.TB, l *audit.Log, n int) float64 {
	start := time.Now()
	appendN(t, l, n)
	return float64(n) / time.Since(start).Seconds()
}

// A dead webhook must not slow appends. Wall-clock rates on a shared
// 2-core machine swing by tens of percent between runs, so this test
// interleaves the two configurations, takes the best of several rounds
// of each, and only fails below half the rate without sinks: a sink that
// blocked appends (waiting on its 1 s timeout) would be 100x slower, far
// below that line. The 10% figure is measured by BenchmarkAppendDeadWebhook.
func TestDeadWebhookDoesNotSlowAppends(t *testing.T) {
	if testing.Short() {
		t.Skip("measures throughput")
	}
	hang, srv := newHook("hang")
	defer srv.Close()
	defer hang.set("ok")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String()
	ln.Close()

	base, _ := testLog(t, t.TempDir())
	wr, _ := NewWebhook(WebhookOptions{URL: refused, Timeout: time.Second})
	wh, _ := NewWebhook(WebhookOptions{URL: srv.URL, Timeout: time.Second})
	dead, dm := testLog(t, t.TempDir(), Named{Name: "refused", Sink: wr}, Named{Name: "hang", Sink: wh})
	defer func() { dm.Close(); dead.Close(); base.Close() }()
	const n = 2000
	// Rates on a shared machine swing with other processes: only a ratio
	// that stays low over several interleaved rounds is the sinks' doing.
	var ratio float64
	for attempt := 0; attempt < 3 && ratio < 0.5; attempt++ {
		var bestBase, bestDead float64
		for range 3 {
			bestBase = max(bestBase, appendRate(t, base, n))
			bestDead = max(bestDead, appendRate(t, dead, n))
		}
		ratio = bestDead / bestBase
		t.Logf("appends/s: no sinks %.0f, dead webhooks %.0f (ratio %.2f)", bestBase, bestDead, ratio)
	}
	if ratio < 0.5 {
		t.Errorf("a dead webhook slowed appends to %.0f%% of the rate without sinks", ratio*100)
	}
}

// BenchmarkAppendDeadWebhook compares appends with no sink and with two
// dead webhooks (connection refused, and a receiver that never answers):
// compare the ns/op of the two sub-benchmarks (`-count 5 | benchstat`).
func BenchmarkAppendDeadWebhook(b *testing.B) {
	hang, srv := newHook("hang")
	defer srv.Close()
	defer hang.set("ok")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String()
	ln.Close()
	for _, dead := range []bool{false, true} {
		name := "no-sinks"
		if dead {
			name = "dead-webhooks"
		}
		b.Run(name, func(b *testing.B) {
			var sinks []Named
			if dead {
				wr, _ := NewWebhook(WebhookOptions{URL: refused, Timeout: time.Second})
				wh, _ := NewWebhook(WebhookOptions{URL: srv.URL, Timeout: time.Second})
				sinks = []Named{{Name: "refused", Sink: wr}, {Name: "hang", Sink: wh}}
			}
			_, key, _ := ed25519.GenerateKey(rand.Reader)
			dir := b.TempDir()
			m, _ := New(Options{LogDir: dir, StateDir: filepath.Join(dir, "sinks"), Logger: quiet()}, sinks...)
			l, err := audit.Open(dir, key, audit.Options{Durable: m.Durable, Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			m.Start(context.Background())
			b.SetParallelism(32) // 64 appenders on 2 cores, as the bench's Encrypt@64
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if err := l.Append(context.Background(), ev(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			m.Close()
			l.Close()
		})
	}
}

// BenchmarkDurableHook is the whole cost sinks add to the log's writer: one
// Durable call per 64-event batch. "dead": two sinks whose queues are full
// (dead receivers), so the batch is not even copied; "live": one sink whose
// queue a goroutine drains, so the batch is copied once and offered whole.
func BenchmarkDurableHook(b *testing.B) {
	var batch []byte
	for i := range 64 {
		line, _ := json.Marshal(ev(i))
		batch = append(append(batch, line...), '\n')
	}
	for _, live := range []bool{false, true} {
		name := "dead"
		if live {
			name = "live"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			var sinks []Named
			for _, n := range []string{"a", "b"} {
				w, _ := NewWebhook(WebhookOptions{URL: "http://127.0.0.1:1/"})
				sinks = append(sinks, Named{Name: n, Sink: w, Tuning: Tuning{QueueSize: 1}})
			}
			if live {
				sinks = sinks[:1]
				sinks[0].Tuning.QueueSize = 1 << 16
			}
			m, err := New(Options{LogDir: dir, StateDir: filepath.Join(dir, "sinks"), Logger: quiet()}, sinks...)
			if err != nil {
				b.Fatal(err)
			}
			stop := make(chan struct{})
			if live {
				go func() {
					for {
						select {
						case <-m.runners[0].q:
						case <-stop:
							return
						}
					}
				}()
			}
			defer close(stop)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				m.Durable(batch, uint64(64*(i+1)))
			}
		})
	}
}

// selfSigned returns a TLS certificate for 127.0.0.1 and its PEM.
func selfSigned(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syslog-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestSyslogTLS(t *testing.T) {
	t.Parallel()
	cert, caPEM := selfSigned(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := &syslogServer{}
	go srv.serveStream(t, ln)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, caPEM, 0o600)

	// Without the CA the receiver is not trusted.
	untrusted, err := Build([]Spec{{Type: "syslog", Network: "tls", Address: ln.Addr().String(), Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := untrusted[0].Sink.Deliver(context.Background(), recs(1, 1)); n != 0 || err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted receiver: %d, %v", n, err)
	}
	trusted, err := Build([]Spec{{Type: "syslog", Network: "tls", Address: ln.Addr().String(), CAFile: ca, Timeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer trusted[0].Sink.Close()
	if n, err := trusted[0].Sink.Deliver(context.Background(), recs(1, 3)); n != 3 || err != nil {
		t.Fatalf("Deliver over TLS = %d, %v", n, err)
	}
	waitFor(t, "3 messages over TLS", func() bool { return len(srv.got()) == 3 })
	if _, err := parse5424([]byte(srv.got()[2])); err != nil {
		t.Fatal(err)
	}
	if _, err := Build([]Spec{{Type: "syslog", Network: "tls", Address: "x:1", CAFile: filepath.Join(t.TempDir(), "none.pem")}}); err == nil {
		t.Error("missing ca_file accepted")
	}
}

// TestWebhookHeaderEnv: a header named in header_env takes its value from
// the environment; an unset variable or a header given twice fails the
// build, naming the variable and never a value.
func TestWebhookHeaderEnv(t *testing.T) {
	t.Setenv("ARCA_TEST_AUDIT_TOKEN", "Bearer from-env")
	h, srv := newHook("ok")
	defer srv.Close()
	built, err := Build([]Spec{{Type: "webhook", URL: srv.URL, Headers: map[string]string{"x-team": "sec"},
		HeaderEnv: map[string]string{"authorization": "ARCA_TEST_AUDIT_TOKEN"}, Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	defer built[0].Sink.Close()
	if n, err := built[0].Sink.Deliver(context.Background(), recs(1, 1)); err != nil || n != 1 {
		t.Fatalf("Deliver = %d, %v", n, err)
	}
	if h.received(t) != 1 || h.headers.Get("Authorization") != "Bearer from-env" || h.headers.Get("X-Team") != "sec" {
		t.Errorf("headers %v", h.headers)
	}
	for name, sp := range map[string]Spec{
		"unset":     {Type: "webhook", URL: srv.URL, HeaderEnv: map[string]string{"Authorization": "ARCA_TEST_NOT_SET"}},
		"duplicate": {Type: "webhook", URL: srv.URL, Headers: map[string]string{"Authorization": "x"}, HeaderEnv: map[string]string{"authorization": "ARCA_TEST_AUDIT_TOKEN"}},
	} {
		_, err := Build([]Spec{sp})
		if err == nil || strings.Contains(err.Error(), "from-env") {
			t.Errorf("%s: err %v", name, err)
		}
	}
}
