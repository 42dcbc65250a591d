// Package storagetest is the conformance suite every storage.Backend must
// pass. A backend's test calls Run with a function that opens a fresh,
// empty backend.
//
// It imports only internal/storage.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/arca-kms/arca/internal/storage"
)

// Run runs the suite. open must return a new, empty backend each call;
// Run closes it.
func Run(t *testing.T, open func(t *testing.T) storage.Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.Backend)
	}{
		{"GetMissing", testGetMissing},
		{"PutGetOverwrite", testPutGetOverwrite},
		{"Delete", testDelete},
		{"EmptyAndLargeValues", testValues},
		{"CallerOwnsSlices", testCallerOwns},
		{"List", testList},
		{"UpdateCommit", testUpdateCommit},
		{"UpdateRollback", testUpdateRollback},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := open(t)
			defer b.Close()
			tc.fn(t, b)
		})
	}
	t.Run("Closed", func(t *testing.T) {
		b := open(t)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if _, err := b.Get(ctx, "k"); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("Get after Close: %v", err)
		}
		if err := b.Put(ctx, "k", []byte("v")); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("Put after Close: %v", err)
		}
		if _, err := b.List(ctx, "", "", 0); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("List after Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})
}

var ctx = context.Background()

func mustPut(t *testing.T, b storage.Writer, k, v string) {
	t.Helper()
	if err := b.Put(ctx, k, []byte(v)); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

func testGetMissing(t *testing.T, b storage.Backend) {
	if v, err := b.Get(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) || v != nil {
		t.Errorf("Get(missing) = %q, %v; want nil, ErrNotFound", v, err)
	}
}

func testPutGetOverwrite(t *testing.T, b storage.Backend) {
	mustPut(t, b, "a/b", "1")
	mustPut(t, b, "a/b", "2")
	if v, err := b.Get(ctx, "a/b"); err != nil || string(v) != "2" {
		t.Errorf("Get = %q, %v; want 2", v, err)
	}
}

func testDelete(t *testing.T, b storage.Backend) {
	mustPut(t, b, "k", "v")
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get after Delete: %v", err)
	}
	if err := b.Delete(ctx, "never-there"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
}

func testValues(t *testing.T, b storage.Backend) {
	big := bytes.Repeat([]byte{0xab}, 1<<20)
	for k, v := range map[string][]byte{"empty": {}, "big": big, "unicode/ключ/鍵": []byte("v"), "bin": {0, 1, 0xff}} {
		if err := b.Put(ctx, k, v); err != nil {
			t.Fatalf("Put(%q): %v", k, err)
		}
		got, err := b.Get(ctx, k)
		if err != nil || !bytes.Equal(got, v) {
			t.Errorf("Get(%q) = %d bytes, %v; want %d bytes", k, len(got), err, len(v))
		}
	}
}

func testCallerOwns(t *testing.T, b storage.Backend) {
	in := []byte("value")
	if err := b.Put(ctx, "k", in); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	got, _ := b.Get(ctx, "k")
	if string(got) != "value" {
		t.Errorf("mutating Put's input changed the store: %q", got)
	}
	got[0] = 'Y'
	again, _ := b.Get(ctx, "k")
	if string(again) != "value" {
		t.Errorf("mutating Get's result changed the store: %q", again)
	}
	ents, _ := b.List(ctx, "", "", 0)
	ents[0].Value[0] = 'Z'
	again, _ = b.Get(ctx, "k")
	if string(again) != "value" {
		t.Errorf("mutating List's result changed the store: %q", again)
	}
}

func keys(es []storage.Entry) string {
	var buf bytes.Buffer
	for i, e := range es {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(e.Key)
	}
	return buf.String()
}

func testList(t *testing.T, b storage.Backend) {
	for _, k := range []string{"p/c", "p/a", "p/b", "p", "pa", "p/a/x", "q/a", "o"} {
		mustPut(t, b, k, "v:"+k)
	}
	tests := []struct {
		prefix, after string
		limit         int
		want          string
	}{
		{"p/", "", 0, "p/a,p/a/x,p/b,p/c"},
		{"p", "", 0, "p,p/a,p/a/x,p/b,p/c,pa"},
		{"", "", 0, "o,p,p/a,p/a/x,p/b,p/c,pa,q/a"},
		{"p/", "p/a", 0, "p/a/x,p/b,p/c"},
		{"p/", "p/a/x", 2, "p/b,p/c"},
		{"p/", "", 2, "p/a,p/a/x"},
		{"p/", "p/c", 0, ""},
		{"p/", "a", 0, "p/a,p/a/x,p/b,p/c"},
		{"p/", "z", 0, ""},
		{"none/", "", 0, ""},
		{"p/", "", -1, "p/a,p/a/x,p/b,p/c"},
	}
	for _, tc := range tests {
		got, err := b.List(ctx, tc.prefix, tc.after, tc.limit)
		if err != nil {
			t.Errorf("List(%q,%q,%d): %v", tc.prefix, tc.after, tc.limit, err)
			continue
		}
		if keys(got) != tc.want {
			t.Errorf("List(%q,%q,%d) = %s; want %s", tc.prefix, tc.after, tc.limit, keys(got), tc.want)
		}
		for _, e := range got {
			if string(e.Value) != "v:"+e.Key {
				t.Errorf("List value for %q = %q", e.Key, e.Value)
			}
		}
	}
}

func testUpdateCommit(t *testing.T, b storage.Backend) {
	mustPut(t, b, "t/old", "1")
	err := b.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, "t/new", []byte("2")); err != nil {
			return err
		}
		if v, err := tx.Get(ctx, "t/new"); err != nil || string(v) != "2" {
			return fmt.Errorf("read own write: %q, %v", v, err)
		}
		if err := tx.Delete(ctx, "t/old"); err != nil {
			return err
		}
		if _, err := tx.Get(ctx, "t/old"); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("read own delete: %v", err)
		}
		ents, err := tx.List(ctx, "t/", "", 0)
		if err != nil || keys(ents) != "t/new" {
			return fmt.Errorf("list in tx = %s, %v", keys(ents), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "t/new"); err != nil || string(v) != "2" {
		t.Errorf("committed write: %q, %v", v, err)
	}
	if _, err := b.Get(ctx, "t/old"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("committed delete: %v", err)
	}
}

func testUpdateRollback(t *testing.T, b storage.Backend) {
	mustPut(t, b, "r/keep", "1")
	boom := errors.New("boom")
	err := b.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, "r/new", []byte("x")); err != nil {
			return err
		}
		if err := tx.Delete(ctx, "r/keep"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("Update returned %v, want fn's error", err)
	}
	if _, err := b.Get(ctx, "r/new"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("rolled-back write visible: %v", err)
	}
	if v, err := b.Get(ctx, "r/keep"); err != nil || string(v) != "1" {
		t.Errorf("rolled-back delete applied: %q, %v", v, err)
	}
}

// testConcurrentIncrements is compare-and-set expressed as read-modify-write
// transactions: no increment may be lost.
func testConcurrentIncrements(t *testing.T, b storage.Backend) {
	const workers, each = 8, 25
	mustPut(t, b, "counter", "0")
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := b.Update(ctx, func(tx storage.Tx) error {
					v, err := tx.Get(ctx, "counter")
					if err != nil {
						return err
					}
					n, err := strconv.Atoi(string(v))
					if err != nil {
						return err
					}
					return tx.Put(ctx, "counter", []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if v, _ := b.Get(ctx, "counter"); string(v) != strconv.Itoa(workers*each) {
		t.Errorf("counter = %s, want %d", v, workers*each)
	}
}

func testCancelled(t *testing.T, b storage.Backend) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.Put(cctx, "c", []byte("v")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled context = %v", err)
	}
	if _, err := b.Get(ctx, "c"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("cancelled Put wrote: %v", err)
	}
	if _, err := b.Get(cctx, "c"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled context = %v", err)
	}
}
