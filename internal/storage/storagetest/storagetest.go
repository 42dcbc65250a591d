// Package storagetest is the conformance suite every storage.Backend must
// pass, so that code tested against the in-memory backend behaves the same
// on bbolt (and later postgres). A backend's test calls Run with a function
// that opens a fresh, empty backend.
//
// The suite's keys never start with "core/", so it can also run against the
// barrier, which reserves part of that space for itself.
//
// It imports only internal/storage.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/storage"
)

// Run runs the suite as parallel subtests. open must return a new, empty
// backend on every call and may be called concurrently; the suite closes
// what it opens.
func Run(t *testing.T, open func(t *testing.T) storage.Backend) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.Backend)
	}{
		{"GetMissing", testGetMissing},
		{"PutGetOverwrite", testPutGetOverwrite},
		{"Delete", testDelete},
		{"Values", testValues},
		{"EmptyKey", testEmptyKey},
		{"CallerOwnsSlices", testCallerOwns},
		{"List", testList},
		{"ListPaging", testListPaging},
		{"UpdateCommit", testUpdateCommit},
		{"UpdateRollback", testUpdateRollback},
		{"UpdateListSeesTxWrites", testUpdateList},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"ConcurrentReadersAndWriters", testConcurrentReadWrite},
		{"SerializableNoWriteSkew", testWriteSkew},
		{"SerializableNoPhantoms", testPhantomQuota},
		{"CancelledContext", testCancelled},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := open(t)
			defer b.Close()
			tc.fn(t, b)
		})
	}
}

var ctx = context.Background()

func mustPut(t *testing.T, w storage.Writer, k, v string) {
	t.Helper()
	if err := w.Put(ctx, k, []byte(v)); err != nil {
		t.Fatalf("Put(%q): %v", k, err)
	}
}

// keys renders entries' keys comma-separated, for compact comparisons.
func keys(es []storage.Entry) string {
	ks := make([]string, len(es))
	for i, e := range es {
		ks[i] = e.Key
	}
	return strings.Join(ks, ",")
}

func testGetMissing(t *testing.T, b storage.Backend) {
	if v, err := b.Get(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) || v != nil {
		t.Errorf("Get(missing) = %q, %v; want nil, ErrNotFound", v, err)
	}
	err := b.Update(ctx, func(tx storage.Tx) error {
		if v, err := tx.Get(ctx, "missing"); !errors.Is(err, storage.ErrNotFound) || v != nil {
			t.Errorf("tx.Get(missing) = %q, %v; want nil, ErrNotFound", v, err)
		}
		return nil
	})
	if err != nil {
		t.Errorf("Update: %v", err)
	}
}

func testPutGetOverwrite(t *testing.T, b storage.Backend) {
	mustPut(t, b, "a/b", "1")
	if v, err := b.Get(ctx, "a/b"); err != nil || string(v) != "1" {
		t.Errorf("Get = %q, %v; want 1", v, err)
	}
	mustPut(t, b, "a/b", "2")
	if v, err := b.Get(ctx, "a/b"); err != nil || string(v) != "2" {
		t.Errorf("Get after overwrite = %q, %v; want 2", v, err)
	}
	if _, err := b.Get(ctx, "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get of a key's prefix = %v; want ErrNotFound", err)
	}
}

func testDelete(t *testing.T, b storage.Backend) {
	mustPut(t, b, "k", "v")
	mustPut(t, b, "k2", "v2")
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get after Delete: %v; want ErrNotFound", err)
	}
	if v, err := b.Get(ctx, "k2"); err != nil || string(v) != "v2" {
		t.Errorf("Delete removed a neighbour: %q, %v", v, err)
	}
	if err := b.Delete(ctx, "never-there"); err != nil {
		t.Errorf("Delete(missing) = %v; want nil", err)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Errorf("second Delete = %v; want nil", err)
	}
	mustPut(t, b, "k", "again")
	if v, err := b.Get(ctx, "k"); err != nil || string(v) != "again" {
		t.Errorf("Put after Delete: %q, %v", v, err)
	}
}

func testValues(t *testing.T, b storage.Backend) {
	big := make([]byte, 1<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	tests := []struct {
		key  string
		in   []byte
		want []byte
	}{
		{"empty", []byte{}, []byte{}},
		{"nil", nil, []byte{}},
		{"one-mib", big, big},
		{"binary", []byte{0, 1, 0xff, 0}, []byte{0, 1, 0xff, 0}},
		{"unicode/ключ/鍵", []byte("значение"), []byte("значение")},
		{"spaces and\ttabs", []byte("v"), []byte("v")},
	}
	for _, tc := range tests {
		if err := b.Put(ctx, tc.key, tc.in); err != nil {
			t.Errorf("Put(%q): %v", tc.key, err)
			continue
		}
		got, err := b.Get(ctx, tc.key)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Errorf("Get(%q) = %d bytes, %v; want %d bytes", tc.key, len(got), err, len(tc.want))
		}
	}
	// An empty value is a value, not a deletion.
	ents, err := b.List(ctx, "empty", "", 0)
	if err != nil || keys(ents) != "empty" || len(ents[0].Value) != 0 {
		t.Errorf("List(empty) = %s, %v; want the empty value listed", keys(ents), err)
	}
}

func testEmptyKey(t *testing.T, b storage.Backend) {
	if err := b.Put(ctx, "", []byte("v")); err == nil {
		t.Error("Put with an empty key succeeded")
	}
	err := b.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, "", []byte("v")) })
	if err == nil {
		t.Error("tx.Put with an empty key succeeded")
	}
	if ents, err := b.List(ctx, "", "", 0); err != nil || len(ents) != 0 {
		t.Errorf("after empty-key Puts, List = %s, %v; want nothing", keys(ents), err)
	}
}

func testCallerOwns(t *testing.T, b storage.Backend) {
	in := []byte("value")
	if err := b.Put(ctx, "k", in); err != nil {
		t.Fatal(err)
	}
	in[0] = 'X'
	check := func(what string) {
		t.Helper()
		if v, err := b.Get(ctx, "k"); err != nil || string(v) != "value" {
			t.Errorf("mutating %s changed the store: %q, %v", what, v, err)
		}
	}
	check("Put's input")
	got, _ := b.Get(ctx, "k")
	got[0] = 'Y'
	check("Get's result")
	if ents, _ := b.List(ctx, "k", "", 0); len(ents) == 1 {
		ents[0].Value[0] = 'Z'
	}
	check("List's result")

	err := b.Update(ctx, func(tx storage.Tx) error {
		v := []byte("inside")
		if err := tx.Put(ctx, "t", v); err != nil {
			return err
		}
		v[0] = 'X' // after Put, before commit
		got, err := tx.Get(ctx, "t")
		if err != nil {
			return err
		}
		got[0] = 'Y'
		ents, err := tx.List(ctx, "t", "", 0)
		if err != nil {
			return err
		}
		ents[0].Value[0] = 'Z'
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := b.Get(ctx, "t"); err != nil || string(v) != "inside" {
		t.Errorf("mutating slices inside Update changed the store: %q, %v", v, err)
	}
}

// listKeys include a prefix of other prefixes ("p" of "p/" and "pa"), keys
// sorting just outside "p/" ("p0" is '/'+1), upper case (sorts before lower),
// and multi-byte UTF-8, which must sort by bytes.
var listKeys = []string{
	"p/c", "p/a", "p/b", "p", "pa", "p/a/x", "p0", "q/a", "o",
	"p/Z", "p/é", "p/鍵", "p/\U0010FFFF", "p/a/b/c",
}

func testList(t *testing.T, b storage.Backend) {
	for _, k := range listKeys {
		mustPut(t, b, k, "v:"+k)
	}
	const all = "o,p,p/Z,p/a,p/a/b/c,p/a/x,p/b,p/c,p/é,p/鍵,p/\U0010FFFF,p0,pa,q/a"
	const ps = "p/Z,p/a,p/a/b/c,p/a/x,p/b,p/c,p/é,p/鍵,p/\U0010FFFF"
	tests := []struct {
		prefix, after string
		limit         int
		want          string
	}{
		{"", "", 0, all},
		{"", "", -1, all},
		{"", "", 1, "o"},
		{"", "o", 1, "p"},
		{"p/", "", 0, ps},
		{"p/", "", -5, ps},
		{"p", "", 0, "p," + ps + ",p0,pa"},
		{"p/a", "", 0, "p/a,p/a/b/c,p/a/x"},
		{"p/a/", "", 0, "p/a/b/c,p/a/x"},
		{"p/", "p/a", 0, "p/a/b/c,p/a/x,p/b,p/c,p/é,p/鍵,p/\U0010FFFF"},
		{"p/", "p/a/x", 2, "p/b,p/c"},
		{"p/", "p/a/y", 0, "p/b,p/c,p/é,p/鍵,p/\U0010FFFF"}, // after need not exist
		{"p/", "p/c", 0, "p/é,p/鍵,p/\U0010FFFF"},
		{"p/", "p/鍵", 0, "p/\U0010FFFF"},
		{"p/", "p/\U0010FFFF", 0, ""},
		{"p/", "", 2, "p/Z,p/a"},
		{"p/", "", 9, ps},
		{"p/", "", 100, ps},
		{"p/", "a", 0, ps},  // after sorts before the prefix
		{"p/", "p", 0, ps},  // after is a prefix of the prefix
		{"p/", "p/", 0, ps}, // after equals the prefix
		{"p/", "z", 0, ""},  // after sorts past the prefix
		{"p/é", "", 0, "p/é"},
		{"none/", "", 0, ""},
		{"q/a", "", 0, "q/a"},
		{"q/a/", "", 0, ""},
	}
	for _, tc := range tests {
		got, err := b.List(ctx, tc.prefix, tc.after, tc.limit)
		if err != nil {
			t.Errorf("List(%q, %q, %d): %v", tc.prefix, tc.after, tc.limit, err)
			continue
		}
		if keys(got) != tc.want {
			t.Errorf("List(%q, %q, %d) = %s; want %s", tc.prefix, tc.after, tc.limit, keys(got), tc.want)
		}
		for _, e := range got {
			if string(e.Value) != "v:"+e.Key {
				t.Errorf("List(%q, %q, %d): value for %q = %q", tc.prefix, tc.after, tc.limit, e.Key, e.Value)
			}
		}
	}
}

// testListPaging walks a prefix page by page, the way callers paginate, and
// must see every key exactly once.
func testListPaging(t *testing.T, b storage.Backend) {
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("page/%02d", i)
		want = append(want, k)
		mustPut(t, b, k, k)
	}
	mustPut(t, b, "page0", "outside") // sorts right after the prefix's range
	for _, size := range []int{1, 2, 7, 25, 26} {
		var got []string
		after := ""
		for pages := 0; ; pages++ {
			if pages > 30 {
				t.Fatalf("page size %d: paging does not terminate", size)
			}
			ents, err := b.List(ctx, "page/", after, size)
			if err != nil {
				t.Fatalf("page size %d: %v", size, err)
			}
			if len(ents) > size {
				t.Errorf("page size %d: got %d entries", size, len(ents))
			}
			for _, e := range ents {
				got = append(got, e.Key)
			}
			if len(ents) < size {
				break
			}
			after = ents[len(ents)-1].Key
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("page size %d: walked %v", size, got)
		}
	}
}

func testUpdateCommit(t *testing.T, b storage.Backend) {
	mustPut(t, b, "t/old", "1")
	mustPut(t, b, "t/over", "1")
	err := b.Update(ctx, func(tx storage.Tx) error {
		if err := tx.Put(ctx, "t/new", []byte("2")); err != nil {
			return err
		}
		if v, err := tx.Get(ctx, "t/new"); err != nil || string(v) != "2" {
			return fmt.Errorf("read own write: %q, %v", v, err)
		}
		if err := tx.Put(ctx, "t/over", []byte("2")); err != nil {
			return err
		}
		if v, err := tx.Get(ctx, "t/over"); err != nil || string(v) != "2" {
			return fmt.Errorf("read own overwrite: %q, %v", v, err)
		}
		if err := tx.Delete(ctx, "t/old"); err != nil {
			return err
		}
		if _, err := tx.Get(ctx, "t/old"); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("read own delete: %v", err)
		}
		if err := tx.Delete(ctx, "t/missing"); err != nil {
			return fmt.Errorf("tx.Delete(missing): %v", err)
		}
		// Put then delete in one tx leaves nothing.
		if err := tx.Put(ctx, "t/ghost", []byte("x")); err != nil {
			return err
		}
		return tx.Delete(ctx, "t/ghost")
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"t/new": "2", "t/over": "2"}
	for k, v := range want {
		if got, err := b.Get(ctx, k); err != nil || string(got) != v {
			t.Errorf("committed %s = %q, %v; want %q", k, got, err, v)
		}
	}
	for _, k := range []string{"t/old", "t/ghost"} {
		if _, err := b.Get(ctx, k); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("committed delete of %s: %v; want ErrNotFound", k, err)
		}
	}
}

func testUpdateRollback(t *testing.T, b storage.Backend) {
	mustPut(t, b, "r/keep", "1")
	mustPut(t, b, "r/over", "1")
	boom := errors.New("boom")
	err := b.Update(ctx, func(tx storage.Tx) error {
		for _, k := range []string{"r/new", "r/over"} {
			if err := tx.Put(ctx, k, []byte("x")); err != nil {
				return err
			}
		}
		if err := tx.Delete(ctx, "r/keep"); err != nil {
			return err
		}
		return fmt.Errorf("wrapped: %w", boom)
	})
	if !errors.Is(err, boom) {
		t.Errorf("Update returned %v; want fn's error", err)
	}
	if _, err := b.Get(ctx, "r/new"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("rolled-back write visible: %v", err)
	}
	for _, k := range []string{"r/keep", "r/over"} {
		if v, err := b.Get(ctx, k); err != nil || string(v) != "1" {
			t.Errorf("rolled-back change to %s applied: %q, %v", k, v, err)
		}
	}
}

// testUpdateList checks List inside a transaction merges the transaction's
// own writes and deletes with committed data, with ordering, after and limit.
func testUpdateList(t *testing.T, b storage.Backend) {
	for _, k := range []string{"l/b", "l/d", "l/f", "m"} {
		mustPut(t, b, k, "old")
	}
	written := map[string]bool{"l/a": true, "l/c": true, "l/d": true, "l/g": true, "l0": true}
	err := b.Update(ctx, func(tx storage.Tx) error {
		for k := range written {
			if err := tx.Put(ctx, k, []byte("new")); err != nil {
				return err
			}
		}
		if err := tx.Delete(ctx, "l/f"); err != nil {
			return err
		}
		tests := []struct {
			after string
			limit int
			want  string
		}{
			{"", 0, "l/a,l/b,l/c,l/d,l/g"},
			{"l/b", 0, "l/c,l/d,l/g"},
			{"", 3, "l/a,l/b,l/c"},
			{"l/c", 2, "l/d,l/g"},
			{"l/e", 0, "l/g"},
		}
		for _, tc := range tests {
			ents, err := tx.List(ctx, "l/", tc.after, tc.limit)
			if err != nil {
				return err
			}
			if keys(ents) != tc.want {
				t.Errorf("tx.List(l/, %q, %d) = %s; want %s", tc.after, tc.limit, keys(ents), tc.want)
			}
			for _, e := range ents {
				want := "old"
				if written[e.Key] {
					want = "new"
				}
				if string(e.Value) != want {
					t.Errorf("tx.List value for %s = %q; want %q", e.Key, e.Value, want)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// testConcurrentIncrements is compare-and-set expressed as read-modify-write
// transactions: no increment may be lost, however often fn is re-run.
func testConcurrentIncrements(t *testing.T, b storage.Backend) {
	const workers, each = 8, 25
	mustPut(t, b, "counter", "0")
	var runs atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				err := b.Update(ctx, func(tx storage.Tx) error {
					runs.Add(1)
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
	if v, err := b.Get(ctx, "counter"); err != nil || string(v) != strconv.Itoa(workers*each) {
		t.Errorf("counter = %s, %v; want %d (fn ran %d times)", v, err, workers*each, runs.Load())
	}
}

// testConcurrentReadWrite mixes writers of distinct keys with readers, for
// the race detector, and checks every write landed.
func testConcurrentReadWrite(t *testing.T, b storage.Backend) {
	const writers, each = 4, 20
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				k := fmt.Sprintf("c/%d/%02d", w, i)
				if err := b.Put(ctx, k, []byte(k)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ents, err := b.List(ctx, "c/", "", 0)
				if err != nil {
					t.Error(err)
					return
				}
				for _, e := range ents {
					if string(e.Value) != e.Key {
						t.Errorf("List saw %s = %q", e.Key, e.Value)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	if ents, err := b.List(ctx, "c/", "", 0); err != nil || len(ents) != writers*each {
		t.Errorf("after concurrent writes List = %d entries, %v; want %d", len(ents), err, writers*each)
	}
}

func testCancelled(t *testing.T, b storage.Backend) {
	mustPut(t, b, "exists", "v")
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	ops := []struct {
		name string
		op   func() error
	}{
		{"Get", func() error { _, err := b.Get(cctx, "exists"); return err }},
		{"List", func() error { _, err := b.List(cctx, "", "", 0); return err }},
		{"Put", func() error { return b.Put(cctx, "c", []byte("v")) }},
		{"Delete", func() error { return b.Delete(cctx, "exists") }},
		{"Update", func() error {
			return b.Update(cctx, func(tx storage.Tx) error {
				ran = true
				return tx.Put(ctx, "c", []byte("v"))
			})
		}},
	}
	for _, o := range ops {
		if err := o.op(); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v; want context.Canceled", o.name, err)
		}
	}
	if ran {
		t.Error("Update ran fn with a cancelled context")
	}
	if _, err := b.Get(ctx, "c"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a cancelled write landed: %v", err)
	}
	if _, err := b.Get(ctx, "exists"); err != nil {
		t.Errorf("a cancelled Delete landed: %v", err)
	}
}

func testClosed(t *testing.T, b storage.Backend) {
	mustPut(t, b, "k", "v")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	ran := false
	ops := []struct {
		name string
		op   func() error
	}{
		{"Get", func() error { _, err := b.Get(ctx, "k"); return err }},
		{"List", func() error { _, err := b.List(ctx, "", "", 0); return err }},
		{"Put", func() error { return b.Put(ctx, "k", []byte("v")) }},
		{"Delete", func() error { return b.Delete(ctx, "k") }},
		{"Update", func() error {
			return b.Update(ctx, func(storage.Tx) error { ran = true; return nil })
		}},
	}
	for _, o := range ops {
		if err := o.op(); !errors.Is(err, storage.ErrClosed) {
			t.Errorf("%s after Close = %v; want ErrClosed", o.name, err)
		}
	}
	if ran {
		t.Error("Update ran fn after Close")
	}
	if err := b.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
}

// testWriteSkew is the anomaly snapshot isolation allows and serializable
// transactions forbid: each transaction reads two keys and, seeing both
// set, clears its own. Run concurrently, at most one may clear, so at least
// one key stays set. A backend that only checks write-write conflicts
// fails here.
func testWriteSkew(t *testing.T, b storage.Backend) {
	for round := range 8 {
		ka, kb := fmt.Sprintf("skew/%d/a", round), fmt.Sprintf("skew/%d/b", round)
		mustPut(t, b, ka, "1")
		mustPut(t, b, kb, "1")
		start := make(chan struct{})
		var wg sync.WaitGroup
		read := rendezvous(2)
		for _, mine := range []string{ka, kb} {
			wg.Go(func() {
				<-start
				first := true
				err := b.Update(ctx, func(tx storage.Tx) error {
					va, err := tx.Get(ctx, ka)
					if err != nil {
						return err
					}
					vb, err := tx.Get(ctx, kb)
					if err != nil {
						return err
					}
					if first {
						first = false
						read() // both have read before either writes
					}
					if string(va) == "1" && string(vb) == "1" {
						return tx.Put(ctx, mine, []byte("0"))
					}
					return nil
				})
				if err != nil {
					t.Error(err)
				}
			})
		}
		close(start)
		wg.Wait()
		va, _ := b.Get(ctx, ka)
		vb, _ := b.Get(ctx, kb)
		if string(va) == "0" && string(vb) == "0" {
			t.Fatalf("round %d: both keys cleared: write skew, the transactions were not serializable", round)
		}
	}
}

// testPhantomQuota is a quota enforced by counting a prefix inside the
// transaction (the pattern of per-key grant limits and two access keys
// per user): concurrent inserts must not exceed it.
func testPhantomQuota(t *testing.T, b storage.Backend) {
	const quota, workers = 3, 8
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	counted := rendezvous(workers)
	for w := range workers {
		wg.Go(func() {
			<-start
			first := true
			err := b.Update(ctx, func(tx storage.Tx) error {
				ents, err := tx.List(ctx, "quota/", "", 0)
				if err != nil {
					return err
				}
				if first {
					first = false
					counted()
				}
				if len(ents) >= quota {
					return errQuota
				}
				return tx.Put(ctx, fmt.Sprintf("quota/%d", w), []byte("x"))
			})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, errQuota):
			default:
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	ents, err := b.List(ctx, "quota/", "", 0)
	if err != nil || len(ents) != quota || ok.Load() != quota {
		t.Errorf("after %d concurrent inserts under a quota of %d: %d entries (%d succeeded), %v", workers, quota, len(ents), ok.Load(), err)
	}
}

var errQuota = errors.New("quota reached")

// rendezvous returns a function that waits until n callers have called it,
// or 200ms, whichever is first. Transactions use it to overlap on backends
// that run them concurrently; on a backend that runs one at a time the
// first simply waits out the timeout.
func rendezvous(n int) func() {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	return func() {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(200 * time.Millisecond):
		}
	}
}
