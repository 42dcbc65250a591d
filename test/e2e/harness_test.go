// Package e2e holds Arca's black-box tests: they build the real arca binary,
// start it on a loopback port with a temporary data dir, and drive it with
// the real AWS SDK for Go v2 (service/kms), raw SigV4-signed HTTP and the aws
// CLI. Nothing here imports Arca's own packages: the server is tested only
// through the AWS KMS wire API (AWS JSON 1.1 + SigV4) and its command line.
//
// This file is the harness: building the binary once (TestMain), starting
// and stopping servers, KMS clients, error assertions and on-disk scans.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// Root credentials every test server is started with (through
// ARCA_ROOT_ACCESS_KEY_ID / ARCA_ROOT_SECRET_ACCESS_KEY). They have the
// shapes of real AWS keys: AKIA + 16 upper-case characters, and 40 characters.
const (
	rootAKID   = "AKIAARCAE2ETESTKEYXY"
	rootSecret = "e2eRootSecret/ArcaE2eRootSecret+Arca0042"
)

// testAKID and testSecret are older names of the root credentials, kept for
// tests written against them.
const (
	testAKID   = rootAKID
	testSecret = rootSecret
)

// arcaBin is the binary under test, built once in TestMain.
var arcaBin string

// TestMain builds ./cmd/arca once (with -race when ARCA_E2E_RACE=1) and
// runs the tests against that binary.
//
// ARCA_E2E_BIN=/path/to/arca skips the build and tests that binary instead.
func TestMain(m *testing.M) {
	if p := os.Getenv("ARCA_E2E_BIN"); p != "" {
		arcaBin = p
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "arca-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	arcaBin = filepath.Join(dir, "arca")
	args := []string{"build", "-o", arcaBin}
	if os.Getenv("ARCA_E2E_RACE") == "1" {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/arca")...)
	build.Dir = filepath.Join("..", "..") // the module root
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building arca:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool returns the path of an external tool the test needs. When it
// is missing the test is skipped, except under CI=true, where it fails: CI
// must install debPkg (the Debian package that provides the tool).
func requireTool(t *testing.T, name, debPkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (Debian package %s); CI must install it", name, debPkg)
		}
		t.Skipf("%s not installed (Debian package %s)", name, debPkg)
	}
	return p
}

// cleanEnv is the test process's environment without any ARCA_* or AWS_*
// variable, so neither the developer's settings nor CI's leak into a server
// or CLI under test; extra is appended.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "ARCA_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// server is one arca process started by the harness.
type server struct {
	t        *testing.T
	endpoint string // http://127.0.0.1:PORT
	dataDir  string
	logPath  string   // the server's stdout and stderr, across restarts
	args     []string // without --listen
	env      []string // the process's environment
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
	waitErr  error         // cmd.Wait's result, valid once done is closed
	// sealed marks a production-mode server (no --dev): HTTPS with the
	// self-signed certificate in DATA_DIR/tls/arca-cert.pem, healthy once it
	// answers /healthz at all (it may be sealed or uninitialized).
	sealed bool
}

// serverOpts are the optional settings of startServer.
type serverOpts struct {
	regions string   // --region, comma-separated; empty: the server's default
	account string   // --account-id; empty: the server's default
	dataDir string   // empty: a fresh temporary directory
	env     []string // extra environment variables, "NAME=value"
	// sealed starts `arca server` without --dev (seal_test.go):
	// HTTPS, sealed or uninitialized at start.
	sealed bool
	// args are extra server arguments.
	args []string
}

// startServer starts `arca server --dev` on a free loopback port, waits
// until GET /healthz reports ok, and stops it (SIGTERM) when the test ends.
// On failure the tail of the server's log is added to the test output.
func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(t.TempDir(), "data")
	}
	s := &server{t: t, dataDir: o.dataDir, logPath: filepath.Join(t.TempDir(), "arca.log")}
	s.env = cleanEnv(append([]string{"ARCA_ROOT_ACCESS_KEY_ID=" + rootAKID, "ARCA_ROOT_SECRET_ACCESS_KEY=" + rootSecret}, o.env...)...)
	s.args = []string{"server", "--dev", "--data-dir", o.dataDir}
	if o.sealed {
		s.sealed = true
		s.args = []string{"server", "--data-dir", o.dataDir}
	}
	s.args = append(s.args, o.args...)
	if o.regions != "" {
		s.args = append(s.args, "--region", o.regions)
	}
	if o.account != "" {
		s.args = append(s.args, "--account-id", o.account)
	}
	t.Cleanup(func() {
		s.stop()
		// A race-built server reports data races on its stderr and goes on
		// serving; the exit status is not a reliable signal (kill -9 tests).
		if b, err := os.ReadFile(s.logPath); err == nil {
			if i := bytes.Index(b, []byte("WARNING: DATA RACE")); i >= 0 {
				t.Errorf("the server reported a data race:\n%s", b[i:min(len(b), i+6000)])
			}
		}
		if t.Failed() {
			t.Logf("server log (tail):\n%s", s.logTail(60))
		}
	})
	s.start()
	return s
}

// usedPorts holds every port this test process has handed to a server, so
// two parallel servers never get the same one.
var (
	portMu    sync.Mutex
	usedPorts = map[int]bool{}
)

// freePort asks the kernel for a free loopback port (listen on :0, close)
// that no other server of this process has had.
func freePort(t *testing.T) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !usedPorts[port] {
			usedPorts[port] = true
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// start runs the server on a new free port and waits for it to be healthy,
// retrying on another port when the process exits early (a port taken
// between freePort and the server's bind).
func (s *server) start() {
	s.t.Helper()
	for attempt := 1; ; attempt++ {
		port := freePort(s.t)
		s.endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		if s.sealed {
			s.endpoint = "https://127.0.0.1:" + strconv.Itoa(port)
		}
		log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			s.t.Fatal(err)
		}
		fmt.Fprintf(log, "----- harness: starting arca on port %d (attempt %d)\n", port, attempt)
		s.cmd = exec.Command(arcaBin, append(s.args, "--listen", "127.0.0.1:"+strconv.Itoa(port))...)
		s.cmd.Env = s.env
		s.cmd.Stdout, s.cmd.Stderr = log, log
		err = s.cmd.Start()
		log.Close()
		if err != nil {
			s.t.Fatal(err)
		}
		done := make(chan struct{})
		s.done = done
		go func(cmd *exec.Cmd) { s.waitErr = cmd.Wait(); close(done) }(s.cmd)
		err = s.waitHealthy(20 * time.Second)
		if err == nil {
			return
		}
		exited := s.exited()
		s.kill()
		if !exited || attempt == 3 {
			s.t.Fatalf("arca did not become healthy on %s: %v\nserver log (tail):\n%s", s.endpoint, err, s.logTail(40))
		}
	}
}

// health is the body of GET /healthz.
type health struct {
	Status string `json:"status"`
	Sealed *bool  `json:"sealed"`
}

// waitHealthy polls GET /healthz until it answers 200 with status "ok",
// the process exits, or d passes.
func (s *server) waitHealthy(d time.Duration) error {
	deadline := time.Now().Add(d)
	hc := &http.Client{Timeout: 2 * time.Second}
	if s.sealed {
		hc = insecureHealthClient()
	}
	last := errors.New("no answer")
	for time.Now().Before(deadline) {
		if s.exited() {
			return fmt.Errorf("process exited: %v", s.waitErr)
		}
		resp, err := hc.Get(s.endpoint + "/healthz")
		if err != nil {
			last = err
			time.Sleep(50 * time.Millisecond)
			continue
		}
		var h health
		err = json.NewDecoder(resp.Body).Decode(&h)
		resp.Body.Close()
		if s.sealed && err == nil && (h.Status == "ok" || h.Status == "sealed" || h.Status == "uninitialized") {
			return nil
		}
		if resp.StatusCode == http.StatusOK && err == nil && h.Status == "ok" {
			// A 200 from a port collision would come from another server;
			// ours must still be running.
			time.Sleep(20 * time.Millisecond)
			if s.exited() {
				return fmt.Errorf("process exited: %v", s.waitErr)
			}
			return nil
		}
		last = fmt.Errorf("GET /healthz: %d %+v %v", resp.StatusCode, h, err)
		time.Sleep(50 * time.Millisecond)
	}
	return last
}

// exited reports whether the server process has exited.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to 15 s for the process to exit; it
// returns the process's exit error (nil for exit status 0). It is a no-op
// returning the earlier result when the process has already exited.
func (s *server) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	if s.exited() {
		return s.waitErr
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return s.waitErr
	case <-time.After(15 * time.Second):
		s.t.Errorf("arca did not exit within 15s of SIGTERM")
		s.kill()
		return errors.New("killed after SIGTERM timeout")
	}
}

// kill sends SIGKILL and waits for the process to go.
func (s *server) kill() {
	if s.exited() {
		return
	}
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

// restart stops the server with SIGTERM and starts it again on the same
// data dir (on a new port).
func (s *server) restart() {
	s.t.Helper()
	if err := s.stop(); err != nil {
		s.t.Errorf("SIGTERM: arca exited with %v, want status 0", err)
	}
	s.start()
}

// logTail returns the last n lines of the server's log.
func (s *server) logTail(n int) string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// client returns a KMS client for the server that signs for region with the
// root credentials. Retries are off so every error surfaces at once.
func (s *server) client(region string) *kms.Client {
	return s.clientWith(region, rootAKID, rootSecret)
}

// clientWith is client with other credentials.
func (s *server) clientWith(region, akid, secret string) *kms.Client {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider(akid, secret, ""),
	}
	return kms.NewFromConfig(cfg, func(o *kms.Options) {
		o.BaseEndpoint = aws.String(s.endpoint)
		o.Retryer = closedConnRetryer()
		if s.sealed {
			o.HTTPClient = s.tlsClient()
		}
	})
}

// closedConnRetryer retries an operation once, and only when the SDK's own
// HTTP transport closed the connection under a response it was reading
// ("use of closed network connection" after a 200): a known client-side race
// in aws-sdk-go-v2 (aws/aws-sdk-go-v2#1825, #2737: the transport's write
// loop closes the connection while the response body is read), which a fast
// loopback server makes likelier. Every other error, API errors included,
// comes back from the first attempt, so the tests still see exactly what
// Arca answered.
func closedConnRetryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 2
		o.RateLimiter = ratelimit.None
		o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 10 * time.Millisecond, nil })
		o.Retryables = []retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if strings.Contains(err.Error(), "use of closed network connection") {
				return aws.TrueTernary
			}
			return aws.FalseTernary
		})}
	})
}

func bg() context.Context { return context.Background() }

// apiCode returns the AWS error code of err, or "" when it carries none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus returns the HTTP status of the response behind an SDK error,
// or 0 when there was none.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// checkClientError reports an error unless err came from a 4xx response:
// Arca answers no request with a 5xx, and never drops a connection.
func checkClientError(t *testing.T, err error, what string) {
	t.Helper()
	if st := httpStatus(err); st < 400 || st > 499 {
		t.Errorf("%s: HTTP status %d, want 4xx (err: %v)", what, st, err)
	}
}

// wantErr reports an error unless err is (or wraps) the typed KMS error T,
// e.g. wantErr[*types.NotFoundException](t, err, "DescribeKey"), answered
// with a 4xx status. It returns the typed error (nil when it is not one).
func wantErr[T error](t *testing.T, err error, what string) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Errorf("%s: got %v; want %T", what, err, target)
		return target
	}
	checkClientError(t, err, what)
	return target
}

// wantCode reports an error unless err carries the AWS error code, answered
// with a 4xx status. It is for codes the kms SDK has no type for, such as
// ValidationException.
func wantCode(t *testing.T, err error, code, what string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Errorf("%s: got %v; want %s", what, err, code)
		return
	}
	checkClientError(t, err, what)
}

// mustOK fails the test at once when err is not nil.
func mustOK(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// scanFiles reports, as "NAME in PATH", which needles occur in any regular
// file under dir whose base name is not in except.
func scanFiles(t *testing.T, dir string, needles map[string][]byte, except ...string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, e := range except {
			if d.Name() == e {
				return nil
			}
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		found = append(found, scanBytes(b, needles, p)...)
		return nil
	})
	if err != nil {
		t.Errorf("scanning %s: %v", dir, err)
	}
	return found
}

// scanBytes reports, as "NAME in WHERE", which needles occur in b.
func scanBytes(b []byte, needles map[string][]byte, where string) []string {
	var found []string
	for name, n := range needles {
		if len(n) > 0 && bytes.Contains(b, n) {
			found = append(found, name+" in "+where)
		}
	}
	return found
}
