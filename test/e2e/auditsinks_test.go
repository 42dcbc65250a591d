package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// sinkHook is a webhook receiver the test switches between failing,
// hanging and accepting.
type sinkHook struct {
	mu      sync.Mutex
	mode    string
	release chan struct{}
	seqs    map[float64]bool
	max     float64
}

func (h *sinkHook) set(mode string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.mode == "hang" && mode != "hang" {
		close(h.release)
	}
	h.mode = mode
}

func (h *sinkHook) got() (n int, max float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.seqs), h.max
}

func (h *sinkHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	mode, release := h.mode, h.release
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
	var body struct{ Records []map[string]any }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	for _, rec := range body.Records {
		s, _ := rec["arcaSequence"].(float64)
		h.seqs[s] = true
		h.max = max(h.max, s)
	}
	h.mu.Unlock()
}

func newSinkHook(mode string) (*sinkHook, *httptest.Server) {
	h := &sinkHook{mode: mode, release: make(chan struct{}), seqs: map[float64]bool{}}
	return h, httptest.NewServer(h)
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "arca.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func encryptN(t *testing.T, c *kms.Client, keyID *string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				_, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("sink-plaintext")})
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		mustOK(t, err, "Encrypt")
	}
}

// TestAuditSinks runs a server with a file sink, a UDP syslog sink and a
// webhook that is down: requests succeed, the file and syslog copies match
// the primary log, and every event reaches the webhook once it is back.
func TestAuditSinks(t *testing.T) {
	t.Parallel()
	hook, hsrv := newSinkHook("fail")
	defer hsrv.Close()
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	var smu sync.Mutex
	var syslogMsgs []string
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			smu.Lock()
			syslogMsgs = append(syslogMsgs, string(buf[:n]))
			smu.Unlock()
		}
	}()
	copyFile := filepath.Join(t.TempDir(), "copy.jsonl")
	cfg := writeConfig(t, fmt.Sprintf(`audit_sinks:
  - {type: file, path: %q}
  - {name: siem, type: syslog, network: udp, address: %q}
  - {name: hook, type: webhook, url: %q, timeout: 2s, min_backoff: 50ms, max_backoff: 200ms}
`, copyFile, udp.LocalAddr().String(), hsrv.URL+"/audit"))
	s := startServer(t, serverOpts{env: []string{"ARCA_CONFIG=" + cfg}})
	c := s.client("us-east-1")
	key := createKey(t, c, nil)
	encryptN(t, c, key.KeyId, 60)

	auditDir := filepath.Join(s.dataDir, "audit")
	logLines := func() [][]byte {
		segs, _ := filepath.Glob(filepath.Join(auditDir, "segment-*.jsonl"))
		var out [][]byte
		for _, p := range segs {
			b, _ := os.ReadFile(p)
			// The segment being written ends in preallocated zeros.
			b = bytes.TrimRight(b, "\x00")
			for _, l := range bytes.Split(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\n'}) {
				if len(l) > 0 {
					out = append(out, l)
				}
			}
		}
		return out
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(copyFile)
		want := logLines()
		got := bytes.Split(bytes.TrimSuffix(b, []byte{'\n'}), []byte{'\n'})
		if len(want) >= 62 && len(got) >= len(want) {
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("file sink line %d differs from the log:\n%s\n%s", i+1, got[i], want[i])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("file sink has %d lines, the log %d", len(got), len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, _ := os.ReadFile(copyFile); bytes.Contains(b, []byte("sink-plaintext")) {
		t.Error("a plaintext reached the file sink")
	}
	head := len(logLines())
	waitUntil(t, 30*time.Second, "every event at the syslog receiver", func() bool {
		smu.Lock()
		defer smu.Unlock()
		return len(syslogMsgs) >= head
	})
	smu.Lock()
	first := syslogMsgs[0]
	smu.Unlock()
	if !strings.HasPrefix(first, "<") || !strings.Contains(first, " arca ") || !strings.Contains(first, `[arca@32473 sequence="1"`) {
		t.Errorf("syslog: first message %q", first)
	}
	if n, _ := hook.got(); n != 0 {
		t.Fatalf("the failing webhook accepted %d events", n)
	}
	hook.set("ok")
	head = len(logLines())
	waitUntil(t, 30*time.Second, "every event at the webhook", func() bool {
		n, mx := hook.got()
		return n >= head && int(mx) == n
	})
}

func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// encryptRate measures Encrypt calls per second from 16 clients.
func encryptRate(t *testing.T, c *kms.Client, keyID *string, n int) float64 {
	start := time.Now()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if _, err := c.Encrypt(context.Background(), &kms.EncryptInput{KeyId: keyID, Plaintext: []byte("x")}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// TestAuditDeadWebhookEncryptRate checks issue 6's bound: dead webhook
// sinks (one refusing connections, one never answering) do not slow Encrypt
// by more than 10%. A server with them and one without are driven in
// interleaved rounds, and two things are compared:
//
//   - Server CPU per Encrypt, summed over the rounds (serverCPU: ns
//     resolution), held to the 10%. It counts what the sinks add to
//     each request and their own retry loops, and it barely moves with the
//     host's load, unlike wall-clock rates: on the shared 2-core machine the
//     rate of one server swings by a third between consecutive rounds, so a
//     10% bound on rates flaked.
//   - The median of the rounds' wall-clock rate ratios, held to 0.5. It
//     catches what CPU cannot: a sink that blocked the writer (waiting
//     costs no CPU). Blocking on a dead sink means its 1 s timeout or a full
//     queue, which would cut the rate to a few percent; 0.5 is as tight as
//     the rates' swing allows.
func TestAuditDeadWebhookEncryptRate(t *testing.T) {
	t.Parallel()
	hang, hsrv := newSinkHook("hang")
	defer hsrv.Close()
	defer hang.set("ok")
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String()
	ln.Close()
	cfg := writeConfig(t, fmt.Sprintf(`audit_sinks:
  - {type: webhook, url: %q, timeout: 1s}
  - {type: webhook, url: %q, timeout: 1s}
`, refused, hsrv.URL))
	plain := startServer(t, serverOpts{})
	dead := startServer(t, serverOpts{env: []string{"ARCA_CONFIG=" + cfg}})
	pc, dc := plain.client("us-east-1"), dead.client("us-east-1")
	pk, dk := createKey(t, pc, nil), createKey(t, dc, nil)
	// Warm both up (connections, caches, the sinks' queues filling).
	encryptRate(t, pc, pk.KeyId, 400)
	encryptRate(t, dc, dk.KeyId, 400)
	const rounds, n = 7, 800
	var cpuPlain, cpuDead time.Duration
	ratios := make([]float64, 0, rounds)
	for r := range rounds {
		// Alternate which server goes first, so neither always follows
		// the other's garbage collection or the host's drift.
		measure := func(s *server, c *kms.Client, key *string) (float64, time.Duration) {
			c0 := serverCPU(t, s)
			rate := encryptRate(t, c, key, n)
			return rate, serverCPU(t, s) - c0
		}
		var rp, rd float64
		var cp, cd time.Duration
		if r%2 == 0 {
			rp, cp = measure(plain, pc, pk.KeyId)
			rd, cd = measure(dead, dc, dk.KeyId)
		} else {
			rd, cd = measure(dead, dc, dk.KeyId)
			rp, cp = measure(plain, pc, pk.KeyId)
		}
		cpuPlain += cp
		cpuDead += cd
		ratios = append(ratios, rd/rp)
		t.Logf("round %d: Encrypt/s no sinks %.0f, dead webhooks %.0f; server CPU per Encrypt %v vs %v",
			r, rp, rd, cp/n, cd/n)
	}
	slices.Sort(ratios)
	rate := ratios[len(ratios)/2]
	cpu := float64(cpuDead) / float64(cpuPlain)
	t.Logf("server CPU per Encrypt: no sinks %v, dead webhooks %v (×%.3f); median rate ratio %.2f",
		cpuPlain/(rounds*n), cpuDead/(rounds*n), cpu, rate)
	if cpu > 1.10 {
		t.Errorf("dead webhooks cost %.0f%% more server CPU per Encrypt (limit 10%%)", (cpu-1)*100)
	}
	if rate < 0.5 {
		t.Errorf("dead webhooks slowed Encrypt to %.0f%% of the rate without sinks (median of %d rounds)", rate*100, rounds)
	}
}

// serverCPU is the CPU time s's process has used so far: the sum of its
// threads' run time from /proc/PID/task/*/schedstat, in nanoseconds (the
// utime and stime of /proc/PID/stat count 10 ms ticks, too coarse for a
// round of a few hundred requests). Go's threads do not exit while the
// server runs, so the sum only grows.
func serverCPU(t *testing.T, s *server) time.Duration {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/task", s.cmd.Process.Pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("server CPU time: %v", err)
	}
	var sum time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, task.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended meanwhile
		}
		var ns int64
		if _, err := fmt.Sscan(string(b), &ns); err != nil {
			t.Fatalf("server CPU time: %s: %q: %v", task.Name(), b, err)
		}
		sum += time.Duration(ns)
	}
	return sum
}

// TestAuditRetention prunes the audit log of a running server (small
// segments, one day of retention, the dev clock two days on) and checks
// `arca audit verify`: the pruned range is a notice, the chain still
// verifies and continues, and an altered anchor fails verification.
func TestAuditRetention(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "audit_retention: 1d\naudit_segment_max_bytes: 4096\n")
	s := startServer(t, serverOpts{env: []string{"ARCA_CONFIG=" + cfg}})
	c := s.client("us-east-1")
	key := createKey(t, c, nil)
	encryptN(t, c, key.KeyId, 30)
	auditDir := filepath.Join(s.dataDir, "audit")
	before, _ := filepath.Glob(filepath.Join(auditDir, "segment-*.jsonl"))
	if len(before) < 4 {
		t.Fatalf("%d segments; want several at 4 KiB", len(before))
	}
	// LookupEvents finds CreateKey before the prune (and so holds its
	// segment open), and must not after it.
	ct := s.cloudTrailClient(rootAKID, rootSecret)
	createKeyEvents := func() int {
		out, err := ct.LookupEvents(bg(), &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
			{AttributeKey: cttypes.LookupAttributeKeyEventName, AttributeValue: aws.String("CreateKey")}}})
		mustOK(t, err, "LookupEvents")
		return len(out.Events)
	}
	if n := createKeyEvents(); n != 1 {
		t.Fatalf("%d CreateKey events before the prune", n)
	}
	advanceClock(t, s, 48*time.Hour) // runs the scheduler's sweeps, retention included
	anchorPath := filepath.Join(auditDir, "anchor.json")
	waitUntil(t, 20*time.Second, "the prune anchor", func() bool { _, err := os.Stat(anchorPath); return err == nil })
	after, _ := filepath.Glob(filepath.Join(auditDir, "segment-*.jsonl"))
	if len(after) >= len(before) {
		t.Fatalf("segments %d → %d: nothing pruned", len(before), len(after))
	}
	if n := createKeyEvents(); n != 0 {
		t.Errorf("LookupEvents still finds %d pruned CreateKey events", n)
	}
	encryptN(t, c, key.KeyId, 5) // the chain continues after the prune
	out, code := runArca(t, nil, "audit", "verify", auditDir)
	if code != 0 || !strings.Contains(out, "notice pruned") || !strings.Contains(out, "OK:") {
		t.Fatalf("verify after prune (exit %d):\n%s", code, out)
	}
	// An altered anchor: claim fewer records were pruned.
	b, err := os.ReadFile(anchorPath)
	if err != nil {
		t.Fatal(err)
	}
	var a map[string]any
	json.Unmarshal(b, &a)
	a["sequence"] = a["sequence"].(float64) - 1
	b, _ = json.Marshal(a)
	os.WriteFile(anchorPath, b, 0o600)
	out, code = runArca(t, nil, "audit", "verify", auditDir)
	if code == 0 || !strings.Contains(out, "bad-anchor") || !strings.Contains(out, "signature is invalid") {
		t.Fatalf("verify with an altered anchor (exit %d):\n%s", code, out)
	}
}
