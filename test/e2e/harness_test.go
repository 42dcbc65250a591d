// Package e2e holds Arca's black-box tests: they build the real arca binary,
// start it on a loopback port with a temporary data dir, and drive it with
// the real AWS SDK for Go v2 and the aws CLI. This file is the harness.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

const (
	testAKID   = "AKIAE2ETESTE2ETEST00"
	testSecret = "e2eSecretKeyE2eSecretKeyE2eSecretKey0000"
)

// arcaBin is the binary under test, built once in TestMain.
var arcaBin string

func TestMain(m *testing.M) {
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
	build := exec.Command("go", append(args, "../../cmd/arca")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building arca:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireTool skips a test when an external tool is missing, except under
// CI=true, where every test must run.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (Debian package %s); CI must install it", name, debianPackage)
		}
		t.Skipf("%s not installed (Debian package %s)", name, debianPackage)
	}
	return p
}

// server is one running arca process.
type server struct {
	t        *testing.T
	endpoint string
	addr     string
	dataDir  string
	args     []string
	cmd      *exec.Cmd
	logPath  string
	done     chan struct{}
}

type serverOpts struct {
	regions string // comma-separated; default us-east-1
	account string
	dataDir string
}

// startServer starts arca --dev and waits until /healthz answers.
func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(t.TempDir(), "data")
	}
	s := &server{t: t, dataDir: o.dataDir, logPath: filepath.Join(t.TempDir(), "arca.log")}
	s.args = []string{"server", "--dev", "--data-dir", o.dataDir, "--log-level", "debug"}
	if o.regions != "" {
		s.args = append(s.args, "--region", o.regions)
	}
	if o.account != "" {
		s.args = append(s.args, "--account-id", o.account)
	}
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			if b, err := os.ReadFile(s.logPath); err == nil {
				lines := strings.Split(string(b), "\n")
				t.Logf("server log (tail):\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})
	return s
}

func (s *server) start() {
	s.t.Helper()
	for attempt := 0; ; attempt++ {
		log, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			s.t.Fatal(err)
		}
		offset, _ := log.Seek(0, io.SeekEnd)
		// Port 0: the kernel picks a free port and the server logs it, so
		// parallel tests can never race for the same port.
		s.cmd = exec.Command(arcaBin, append(s.args, "--listen", "127.0.0.1:0")...)
		s.cmd.Env = append(os.Environ(), "ARCA_ROOT_ACCESS_KEY_ID="+testAKID, "ARCA_ROOT_SECRET_ACCESS_KEY="+testSecret)
		s.cmd.Stdout, s.cmd.Stderr = log, log
		if err := s.cmd.Start(); err != nil {
			s.t.Fatal(err)
		}
		log.Close()
		s.done = make(chan struct{})
		go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.cmd, s.done)
		if s.waitHealthy(offset, 20*time.Second) {
			return
		}
		s.kill()
		if attempt == 2 {
			b, _ := os.ReadFile(s.logPath)
			s.t.Fatalf("arca did not become healthy:\n%s", b)
		}
	}
}

// servingRE matches the server's "arca serving" log line.
var servingRE = regexp.MustCompile(`msg="arca serving" endpoint=(http://\S+)`)

func (s *server) waitHealthy(offset int64, d time.Duration) bool {
	deadline := time.Now().Add(d)
	s.endpoint = ""
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return false
		default:
		}
		if s.endpoint == "" {
			b, _ := os.ReadFile(s.logPath)
			if int64(len(b)) > offset {
				if m := servingRE.FindSubmatch(b[offset:]); m != nil {
					s.endpoint = string(m[1])
					s.addr = strings.TrimPrefix(s.endpoint, "http://")
				}
			}
			if s.endpoint == "" {
				time.Sleep(20 * time.Millisecond)
				continue
			}
		}
		resp, err := http.Get(s.endpoint + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// stop sends SIGTERM and waits for a graceful exit.
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.t.Errorf("arca did not stop within 15s of SIGTERM")
		s.kill()
	}
}

// kill sends SIGKILL: nothing acknowledged may be lost.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.done
}

func (s *server) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

// client returns a KMS client for the server, signing for region, with
// retries off so every error surfaces at once.
func (s *server) client(region string) *kms.Client {
	return kms.New(kms.Options{
		Region:           region,
		Credentials:      credentials.NewStaticCredentialsProvider(testAKID, testSecret, ""),
		BaseEndpoint:     aws.String(s.endpoint),
		RetryMaxAttempts: 1,
	})
}

// apiCode returns the AWS error code of err, or "" when it carries none.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := apiCode(err); got != code {
		t.Errorf("error = %v; want code %s", err, code)
	}
}

func bg() context.Context { return context.Background() }

// scanFiles reports which needles appear in any regular file under dir,
// except the named files.
func scanFiles(t *testing.T, dir string, needles map[string][]byte, except ...string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
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
			t.Errorf("read %s: %v", p, err)
			return nil
		}
		for name, n := range needles {
			if len(n) > 0 && bytes.Contains(b, n) {
				found = append(found, name+" in "+p)
			}
		}
		return nil
	})
	return found
}
