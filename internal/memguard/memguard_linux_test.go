//go:build linux

package memguard

import (
	"bytes"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHarden runs Harden in a child process (it changes process-wide state
// that would outlive this test) and checks the result from /proc and
// getrlimit there.
func TestHarden(t *testing.T) {
	if os.Getenv("ARCA_MEMGUARD_CHILD") == "1" {
		var buf bytes.Buffer
		r := Harden(slog.New(slog.NewTextHandler(&buf, nil)), Options{Mlock: true})
		d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0)
		if err != nil || d != 0 || !r.NotDumpable {
			t.Fatalf("dumpable = %d, %v; report %+v", d, err, r)
		}
		var lim unix.Rlimit
		if err := unix.Getrlimit(unix.RLIMIT_CORE, &lim); err != nil || lim.Cur != 0 || lim.Max != 0 || !r.NoCore {
			t.Fatalf("RLIMIT_CORE = %+v, %v", lim, err)
		}
		status, _ := os.ReadFile("/proc/self/status")
		locked := !strings.Contains(string(status), "VmLck:\t       0 kB")
		if r.Locked != locked {
			t.Fatalf("report says locked=%v, /proc says VmLck non-zero=%v", r.Locked, locked)
		}
		if !r.Locked && (len(r.Problems) == 0 || !strings.Contains(buf.String(), "level=WARN")) {
			t.Fatalf("not locked but no warning logged: %s", buf.String())
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHarden$", "-test.v")
	cmd.Env = append(os.Environ(), "ARCA_MEMGUARD_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}

func TestHardenNoMlock(t *testing.T) {
	if os.Getenv("ARCA_MEMGUARD_CHILD") == "2" {
		r := Harden(nil, Options{})
		if r.Locked || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "disable_mlock") {
			t.Fatalf("report %+v", r)
		}
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHardenNoMlock$")
	cmd.Env = append(os.Environ(), "ARCA_MEMGUARD_CHILD=2")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
}
