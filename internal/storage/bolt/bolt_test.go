package bolt

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/storagetest"
)

var ctx = context.Background()

func open(t testing.TB) *Backend {
	t.Helper()
	b, err := Open(filepath.Join(t.TempDir(), "arca.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend { return open(t) })
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "arca.db")
	first, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// bbolt's flock belongs to the open file description, so a second Open
	// in this process contends exactly as a second process would.
	tests := []struct {
		name    string
		timeout time.Duration
		maxWait time.Duration
	}{
		{"short timeout", 100 * time.Millisecond, 900 * time.Millisecond},
		{"negative: no wait", -1, 500 * time.Millisecond},
	}
	for _, tc := range tests {
		start := time.Now()
		_, err := Open(p, Options{Timeout: tc.timeout})
		took := time.Since(start)
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use by another arca process") {
			t.Errorf("%s: second Open = %v; want ErrLocked", tc.name, err)
		}
		if took > tc.maxWait {
			t.Errorf("%s: second Open took %v", tc.name, took)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(p, Options{Timeout: -1})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	again.Close()
}

func TestReopenKeepsDataAndMode(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "arca.db")
	b, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("database file mode = %v, %v; want 0600", st.Mode().Perm(), err)
	}
	b, err = Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if v, err := b.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("after reopen Get = %q, %v", v, err)
	}
}

// queued waits until n Updates are waiting behind the current leader.
func queued(t *testing.T, b *Backend, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b.mu.Lock()
		got := len(b.queue)
		b.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Updates queued; want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// holdLeader starts an Update whose fn blocks until release is closed, so
// that later Updates queue up behind it.
func holdLeader(t *testing.T, b *Backend) (release func(), done <-chan error) {
	entered, gate := make(chan struct{}), make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- b.Update(ctx, func(tx storage.Tx) error {
			select {
			case <-entered:
			default:
				close(entered)
			}
			<-gate
			return tx.Put(ctx, "leader", []byte("1"))
		})
	}()
	<-entered
	return func() { close(gate) }, errc
}

// TestGroupCommitSharesOneTransaction queues Updates behind a blocked one
// and checks they then commit together, in queue order.
func TestGroupCommitSharesOneTransaction(t *testing.T) {
	t.Parallel()
	b := open(t)
	const n = 10
	release, leaderDone := holdLeader(t, b)
	var mu sync.Mutex
	buckets := map[*bbolt.Bucket]bool{}
	var order []int
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := b.Update(ctx, func(t storage.Tx) error {
				mu.Lock()
				buckets[t.(*tx).b] = true
				order = append(order, i)
				mu.Unlock()
				return t.Put(ctx, fmt.Sprintf("g/%02d", i), []byte("v"))
			})
			if err != nil {
				t.Error(err)
			}
		})
		queued(t, b, i+1)
	}
	release()
	if err := <-leaderDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if len(buckets) != 1 {
		t.Errorf("%d queued Updates ran in %d transactions; want 1", n, len(buckets))
	}
	for i, got := range order {
		if got != i {
			t.Errorf("commit order %v; want queue order", order)
			break
		}
	}
	if ents, err := b.List(ctx, "g/", "", 0); err != nil || len(ents) != n {
		t.Errorf("List = %d entries, %v; want %d", len(ents), err, n)
	}
}

// TestGroupCommitIsolatesFailures: in a shared commit, a failing or
// panicking fn gets its own outcome and the others still commit.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	t.Parallel()
	b := open(t)
	type outcome struct {
		err      error
		panicked any
	}
	errBad := errors.New("bad")
	kinds := []string{"ok", "fail", "ok", "panic", "ok", "fail", "ok"}
	results := make([]outcome, len(kinds))
	release, leaderDone := holdLeader(t, b)
	var wg sync.WaitGroup
	for i, kind := range kinds {
		wg.Go(func() {
			defer func() { results[i].panicked = recover() }()
			results[i].err = b.Update(ctx, func(tx storage.Tx) error {
				if err := tx.Put(ctx, fmt.Sprintf("f/%d", i), []byte(kind)); err != nil {
					return err
				}
				switch kind {
				case "fail":
					return fmt.Errorf("call %d: %w", i, errBad)
				case "panic":
					panic("boom")
				}
				return nil
			})
		})
		queued(t, b, i+1)
	}
	release()
	if err := <-leaderDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, kind := range kinds {
		r := results[i]
		_, getErr := b.Get(ctx, fmt.Sprintf("f/%d", i))
		switch kind {
		case "ok":
			if r.err != nil || r.panicked != nil || getErr != nil {
				t.Errorf("call %d (ok): err %v, panic %v, stored: %v", i, r.err, r.panicked, getErr)
			}
		case "fail":
			if !errors.Is(r.err, errBad) || !strings.Contains(r.err.Error(), fmt.Sprintf("call %d:", i)) {
				t.Errorf("call %d (fail) returned %v; want its own error", i, r.err)
			}
			if !errors.Is(getErr, storage.ErrNotFound) {
				t.Errorf("call %d (fail): its write was kept", i)
			}
		case "panic":
			if r.panicked != "boom" {
				t.Errorf("call %d (panic): recovered %v on its own goroutine; want boom", i, r.panicked)
			}
			if !errors.Is(getErr, storage.ErrNotFound) {
				t.Errorf("call %d (panic): its write was kept", i)
			}
		}
	}
}

// TestGoexitInFnDoesNotWedge: runtime.Goexit inside fn (t.FailNow in a
// test helper) ends only its caller's goroutine; later writers proceed.
func TestGoexitInFnDoesNotWedge(t *testing.T) {
	t.Parallel()
	b := open(t)
	release, leaderDone := holdLeader(t, b)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		b.Update(ctx, func(storage.Tx) error { runtime.Goexit(); return nil })
		t.Error("Update returned after its fn called Goexit")
	}()
	queued(t, b, 1)
	other := make(chan error, 1)
	go func() { other <- b.Put(ctx, "after", []byte("v")) }()
	queued(t, b, 2)
	release()
	if err := <-leaderDone; err != nil {
		t.Fatal(err)
	}
	<-exited
	select {
	case err := <-other:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a writer queued with a Goexit-ing fn never finished")
	}
	if err := b.Put(ctx, "later", []byte("v")); err != nil {
		t.Fatal(err)
	}
}

const crashEnv = "ARCA_BOLT_CRASH_CHILD"

// TestKill9LosesNoAcknowledgedWrite runs a child process whose concurrent
// writers print each key after Put or Update returns, kills it with SIGKILL
// mid-stream, and checks every printed key is in the reopened database.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	if p := os.Getenv(crashEnv); p != "" {
		crashChild(p)
		return
	}
	t.Parallel()
	p := filepath.Join(t.TempDir(), "arca.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9LosesNoAcknowledgedWrite$")
	cmd.Env = append(os.Environ(), crashEnv+"="+p)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Kill after enough acknowledgements, or after a deadline on a slow disk.
	const enough = 400
	var killOnce sync.Once
	kill := func() { killOnce.Do(func() { cmd.Process.Signal(syscall.SIGKILL) }) }
	timer := time.AfterFunc(3*time.Second, kill)
	defer timer.Stop()

	var acked []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "ACK "); ok {
			// Lines still in the pipe after the kill were acknowledged too.
			acked = append(acked, strings.Fields(rest)...)
			if len(acked) >= enough {
				kill()
			}
		} else if strings.HasPrefix(line, "ERR ") {
			t.Errorf("child: %s", line)
		}
	}
	cmd.Wait()
	if len(acked) < 50 {
		t.Fatalf("child acknowledged only %d writes before being killed", len(acked))
	}
	b, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	lost := 0
	for _, k := range acked {
		if v, err := b.Get(ctx, k); err != nil || string(v) != k {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged key %s: %q, %v", k, v, err)
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost", lost, len(acked))
	}
	t.Logf("%d acknowledged writes survived SIGKILL", len(acked))
}

// crashChild writes until killed, from several goroutines so that group
// commit is exercised, printing "ACK key..." only after each write returns.
// Each line is one write(2) to a pipe, so lines never interleave.
func crashChild(path string) {
	b, err := Open(path, Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	for w := range 4 {
		go func() {
			for i := 0; ; i++ {
				k := fmt.Sprintf("crash/%d/%08d", w, i)
				var err error
				if i%3 == 0 {
					// A multi-key Update: both keys or neither.
					err = b.Update(ctx, func(tx storage.Tx) error {
						if err := tx.Put(ctx, k+"a", []byte(k+"a")); err != nil {
							return err
						}
						return tx.Put(ctx, k+"b", []byte(k+"b"))
					})
					k = k + "a " + k + "b"
				} else {
					err = b.Put(ctx, k, []byte(k))
				}
				if err != nil {
					fmt.Println("ERR", err)
					os.Exit(1)
				}
				fmt.Println("ACK " + k)
			}
		}()
	}
	select {}
}

func BenchmarkPut(b *testing.B) {
	bk := open(b)
	v := make([]byte, 512)
	i := 0
	for b.Loop() {
		bk.Put(ctx, fmt.Sprintf("k/%d", i%1000), v)
		i++
	}
}

// BenchmarkPutParallel shows group commit: 8 writers per core share fsyncs.
func BenchmarkPutParallel(b *testing.B) {
	bk := open(b)
	v := make([]byte, 512)
	b.SetParallelism(8)
	var n sync.Mutex
	id := 0
	b.RunParallel(func(pb *testing.PB) {
		n.Lock()
		me := id
		id++
		n.Unlock()
		i := 0
		for pb.Next() {
			if err := bk.Put(ctx, fmt.Sprintf("k/%d/%d", me, i%1000), v); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkGet(b *testing.B) {
	bk := open(b)
	bk.Put(ctx, "k", make([]byte, 512))
	for b.Loop() {
		bk.Get(ctx, "k")
	}
}
