package bolt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		b, err := Open(filepath.Join(t.TempDir(), "arca.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestSecondOpenFailsClearly(t *testing.T) {
	p := filepath.Join(t.TempDir(), "arca.db")
	b, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	// bbolt's flock is per open file description, so a second Open in the
	// same process contends like a second process would.
	_, err = Open(p, Options{LockTimeout: 100 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "in use by another arca process") {
		t.Errorf("second Open = %v", err)
	}
}

// TestKill9LosesNoAcknowledgedWrite runs a child that writes keys and prints
// each one after Put returns, kills it with SIGKILL mid-stream, and checks
// every printed key is in the reopened database.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	if p := os.Getenv("ARCA_BOLT_CRASH_CHILD"); p != "" {
		crashChild(p)
		return
	}
	p := filepath.Join(t.TempDir(), "arca.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9LosesNoAcknowledgedWrite$")
	cmd.Env = append(os.Environ(), "ARCA_BOLT_CRASH_CHILD="+p)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if k, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked = append(acked, k)
			if len(acked) == 200 {
				cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	for sc.Scan() {
		if k, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked = append(acked, k)
		}
	}
	cmd.Wait()
	if len(acked) < 200 {
		t.Fatalf("child acknowledged only %d writes", len(acked))
	}
	b, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, k := range acked {
		if _, err := b.Get(context.Background(), k); err != nil {
			t.Errorf("acknowledged key %s lost: %v", k, err)
		}
	}
}

func crashChild(path string) {
	b, err := Open(path, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	for i := 0; ; i++ {
		k := fmt.Sprintf("crash/%08d", i)
		if err := b.Put(context.Background(), k, []byte("v")); err != nil {
			if errors.Is(err, storage.ErrClosed) {
				os.Exit(1)
			}
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("ACK", k)
	}
}
