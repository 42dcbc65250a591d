package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// lockedBuf is an io.Writer the test reads while a process writes it.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSuffix(l.b.String(), "\n"), "\n")
}

// tailEvent is what the tests look at in a printed line.
type tailEvent struct {
	EventName         string `json:"eventName"`
	EventType         string `json:"eventType"`
	RequestParameters struct {
		EncryptionContext map[string]string `json:"encryptionContext"`
	} `json:"requestParameters"`
}

func parseTailLine(t *testing.T, l string) tailEvent {
	t.Helper()
	var e tailEvent
	if err := json.Unmarshal([]byte(l), &e); err != nil {
		t.Fatalf("tail printed a line that is not JSON: %q", l)
	}
	return e
}

// TestAuditTailOnline drives `arca audit tail --address` against a server
// with 4 KiB segments: -n gives the last API events oldest first (not the
// tail's own calls), --all adds the lines that are not API events exactly
// as the offline tail prints them, -f prints every event appended while it
// runs exactly once and in order across segment rollovers and stops
// cleanly on SIGINT, and bad credentials or an unreachable server fail
// with a clear message.
func TestAuditTailOnline(t *testing.T) {
	t.Parallel()
	cfg := writeConfig(t, "audit_segment_max_bytes: 4096\n")
	s := startServer(t, serverOpts{env: []string{"ARCA_CONFIG=" + cfg}})
	c := s.client("us-east-1")
	key := createKey(t, c, nil)
	encrypt := func(tag string) {
		t.Helper()
		_, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: key.KeyId, Plaintext: []byte("tail-plaintext"),
			EncryptionContext: map[string]string{"tail": tag}})
		mustOK(t, err, "Encrypt")
	}
	for i := range 5 {
		encrypt(fmt.Sprint("a", i))
	}
	env := []string{"AWS_ACCESS_KEY_ID=" + rootAKID, "AWS_SECRET_ACCESS_KEY=" + rootSecret}

	// -n: the last three API events, oldest first. The tail's own
	// ArcaExportAuditLog calls are audited too (the first is in the log
	// before it reads the end), but not shown to it.
	out, code := runArca(t, env, "audit", "tail", "-n", "3", "--address", s.endpoint)
	if code != 0 {
		t.Fatalf("tail -n 3: exit %d\n%s", code, out)
	}
	var tags []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		tags = append(tags, parseTailLine(t, l).RequestParameters.EncryptionContext["tail"])
	}
	if fmt.Sprint(tags) != "[a2 a3 a4]" {
		t.Fatalf("tail -n 3 printed %v; want [a2 a3 a4]\n%s", tags, out)
	}

	// -f: every event appended meanwhile, once, in order, over several
	// segment rollovers.
	segsBefore, _ := filepath.Glob(filepath.Join(s.dataDir, "audit", "segment-*.jsonl"))
	var stdout, stderr lockedBuf
	cmd := exec.Command(arcaBin, "audit", "tail", "-f", "-n", "1", "--address", s.endpoint)
	cmd.Env = cleanEnv(env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitUntil(t, 20*time.Second, "the first line of tail -f", func() bool { return stdout.lines()[0] != "" })
	const follow = 40
	for i := range follow {
		encrypt(fmt.Sprint("f", i))
		if i%10 == 9 {
			time.Sleep(300 * time.Millisecond) // let polls fall between the appends
		}
	}
	waitUntil(t, 20*time.Second, "tail -f to print every new event", func() bool { return len(stdout.lines()) >= 1+follow })
	time.Sleep(1200 * time.Millisecond) // more polls: nothing may be printed twice
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("tail -f after SIGINT: %v\n%s", err, stderr.lines())
	}
	// The first line is the last event before: the previous tail's
	// last call (another client's, so shown).
	lines := stdout.lines()
	if e := parseTailLine(t, lines[0]); e.EventName != "ArcaExportAuditLog" {
		t.Errorf("tail -f -n 1 began with %+v; want the previous tail's call", e)
	}
	tags = nil
	for _, l := range lines[1:] {
		tags = append(tags, parseTailLine(t, l).RequestParameters.EncryptionContext["tail"])
	}
	var want []string
	for i := range follow {
		want = append(want, fmt.Sprint("f", i))
	}
	if !slices.Equal(tags, want) {
		t.Fatalf("tail -f printed %v;\nwant %v", tags, want)
	}
	segsAfter, _ := filepath.Glob(filepath.Join(s.dataDir, "audit", "segment-*.jsonl"))
	if len(segsAfter) < len(segsBefore)+3 {
		t.Fatalf("segments %d → %d: want several rollovers while following", len(segsBefore), len(segsAfter))
	}

	// --all: a line that is not a record (put in while the server was
	// stopped) is printed online as offline, and only with --all.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(s.dataDir, "audit", "segment-00000001.jsonl")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitAfter(string(b), "\n")
	parts = slices.Insert(parts, 2, "garbage\n")
	if err := os.WriteFile(seg, []byte(strings.Join(parts, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	c = s.client("us-east-1") // a new port
	encrypt("b0")
	offline, code := runArca(t, nil, "audit", "tail", "-n", "100000", "--all", filepath.Join(s.dataDir, "audit"))
	if code != 0 {
		t.Fatalf("offline tail --all: exit %d\n%s", code, offline)
	}
	online, code := runArca(t, env, "audit", "tail", "-n", "100000", "--all", "--address", s.endpoint)
	if code != 0 {
		t.Fatalf("tail --all --address: exit %d\n%s", code, online)
	}
	// The same lines, but for the ArcaExportAuditLog calls (the online
	// tail's own are left out, and the offline one saw none of its own).
	dropExports := func(out string) []string {
		var keep []string
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.Contains(l, `"eventName":"ArcaExportAuditLog"`) {
				keep = append(keep, l)
			}
		}
		return keep
	}
	on, off := dropExports(online), dropExports(offline)
	if !slices.Equal(on, off) || slices.Index(on, "garbage") != 2 {
		t.Fatalf("tail --all online (%d lines) differs from offline (%d lines), or has no garbage at line 3:\n%s", len(on), len(off), online)
	}
	if strings.Contains(offline, `"eventType":"ArcaServiceEvent"`) && !strings.Contains(online, `"eventType":"ArcaServiceEvent"`) {
		t.Fatal("tail --all --address left out the log's own notices")
	}
	apiOnly, code := runArca(t, env, "audit", "tail", "-n", "100000", "--address", s.endpoint)
	if code != 0 || strings.Contains(apiOnly, "garbage") || !strings.Contains(apiOnly, `"tail":"b0"`) {
		t.Fatalf("tail --address without --all: exit %d\n%s", code, apiOnly)
	}
	for _, l := range strings.Split(strings.TrimSpace(apiOnly), "\n") {
		if e := parseTailLine(t, l); e.EventType != "AwsApiCall" {
			t.Fatalf("tail without --all printed a %q record", e.EventType)
		}
	}

	// Refused or unreachable: a clear message, exit status non-zero, and
	// the secret never shown.
	bad := []string{"AWS_ACCESS_KEY_ID=" + rootAKID, "AWS_SECRET_ACCESS_KEY=wrong-secret-do-not-print"}
	out, code = runArca(t, bad, "audit", "tail", "-f", "--address", s.endpoint)
	if code == 0 || !strings.Contains(out, "ArcaExportAuditLog: InvalidSignatureException") || strings.Contains(out, "wrong-secret-do-not-print") {
		t.Fatalf("tail -f with a wrong secret: exit %d\n%s", code, out)
	}
	out, code = runArca(t, env, "audit", "tail", "--address", s.endpoint, "--node", "nope")
	if code == 0 || !strings.Contains(out, "ResourceNotFoundException") {
		t.Fatalf("tail --node nope: exit %d\n%s", code, out)
	}
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	out, code = runArca(t, env, "audit", "tail", "-f", "--address", s.endpoint)
	if code == 0 || !strings.Contains(out, "cannot reach "+s.endpoint) || strings.Contains(out, rootSecret) {
		t.Fatalf("tail -f with the server down: exit %d\n%s", code, out)
	}
}

// TestClusterAuditTailOnline: on two nodes sharing PostgreSQL, `arca audit
// tail -f --address` through node A follows both chains (node B's from
// the copy A reads in PostgreSQL) and prints every event of either node
// once, each node's in its order; --node follows only the one named.
func TestClusterAuditTailOnline(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, 2)
	a := c.nodes[0]
	key := createKey(t, a.client("us-east-1"), nil)
	env := []string{"AWS_ACCESS_KEY_ID=" + rootAKID, "AWS_SECRET_ACCESS_KEY=" + rootSecret}
	follow := func(args ...string) (*lockedBuf, *exec.Cmd) {
		t.Helper()
		var stdout, stderr lockedBuf
		cmd := exec.Command(arcaBin, append([]string{"audit", "tail", "-f", "-n", "1", "--address", a.endpoint}, args...)...)
		cmd.Env = cleanEnv(env...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill() })
		// The first line is printed once every followed node's end is
		// read: events from then on must all be printed.
		waitUntil(t, 20*time.Second, "the first line of tail -f", func() bool { return stdout.lines()[0] != "" })
		return &stdout, cmd
	}
	type seen struct{ node, tag string }
	printed := func(buf *lockedBuf) []seen {
		var out []seen
		for _, l := range buf.lines() {
			if l == "" {
				continue
			}
			var e struct {
				Node string `json:"arcaNodeId"`
				tailEvent
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("not JSON: %q", l)
			}
			if tag := e.RequestParameters.EncryptionContext["tail"]; tag != "" {
				out = append(out, seen{e.Node, tag})
			}
		}
		return out
	}
	both, bothCmd := follow()
	const rounds = 10
	for i := range rounds {
		for j, n := range c.nodes {
			_, err := n.client("us-east-1").Encrypt(bg(), &kms.EncryptInput{KeyId: key.Arn, Plaintext: []byte("x"),
				EncryptionContext: map[string]string{"tail": fmt.Sprintf("%c%02d", 'A'+j, i)}})
			mustOK(t, err, "Encrypt")
		}
	}
	waitUntil(t, 20*time.Second, "tail -f to print both nodes' events", func() bool { return len(printed(both)) >= 2*rounds })
	// Node B's ID: the node of its Encrypts' events.
	var bNode string
	for _, s := range printed(both) {
		if s.tag[0] == 'B' {
			bNode = s.node
		}
	}
	only, onlyCmd := follow("--node", bNode)
	_, err := c.nodes[1].client("us-east-1").Encrypt(bg(), &kms.EncryptInput{KeyId: key.Arn, Plaintext: []byte("x"),
		EncryptionContext: map[string]string{"tail": "B99"}})
	mustOK(t, err, "Encrypt")
	_, err = a.client("us-east-1").Encrypt(bg(), &kms.EncryptInput{KeyId: key.Arn, Plaintext: []byte("x"),
		EncryptionContext: map[string]string{"tail": "A99"}})
	mustOK(t, err, "Encrypt")
	waitUntil(t, 20*time.Second, "tail -f --node to print node B's event", func() bool {
		got := printed(only)
		return len(got) > 0 && got[len(got)-1].tag == "B99"
	})
	waitUntil(t, 20*time.Second, "tail -f to print the last events", func() bool { return len(printed(both)) >= 2*rounds+2 })
	time.Sleep(time.Second) // more polls: nothing may be printed twice
	for _, cmd := range []*exec.Cmd{bothCmd, onlyCmd} {
		cmd.Process.Signal(syscall.SIGINT)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("tail -f after SIGINT: %v", err)
		}
	}
	perNode := map[byte][]string{}
	for _, s := range printed(both) {
		if (s.tag[0] == 'B') != (s.node == bNode) {
			t.Fatalf("event %s printed as node %s's", s.tag, s.node)
		}
		perNode[s.tag[0]] = append(perNode[s.tag[0]], s.tag)
	}
	for _, n := range []byte{'A', 'B'} {
		var want []string
		for i := range rounds {
			want = append(want, fmt.Sprintf("%c%02d", n, i))
		}
		want = append(want, fmt.Sprintf("%c99", n))
		if !slices.Equal(perNode[n], want) {
			t.Errorf("node %c's events as followed: %v; want %v", n, perNode[n], want)
		}
	}
	// Its first line (-n 1) may be B09; then only B99.
	if got := printed(only); len(got) > 2 || got[len(got)-1].tag != "B99" || got[0].tag[0] != 'B' {
		t.Errorf("tail -f --node %s printed %v; want node B's events only, B99 once", bNode, got)
	}
}
