package keystore

import (
	"context"
	"errors"
	"testing"

	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/storage/memory"
)

// TestInvalidatePath: two stores over one backend stand for two nodes. A
// change made through one is invisible to the other's cache until the
// other is told the changed path; then it reads storage again.
func TestInvalidatePath(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	a, other := New(b), New(b)
	k, _ := newKey(t, a, "k1")
	if got, err := other.Get(ctx, "a", "r", "k1"); err != nil || got.State != Enabled {
		t.Fatalf("other node Get = %v, %v", got, err)
	}
	if err := a.CreateAlias(ctx, &Alias{Name: "alias/x", Account: "a", Region: "r", TargetKeyID: "k1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := other.GetAlias(ctx, "a", "r", "alias/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Update(ctx, "a", "r", "k1", func(k *Key) error { k.State = Disabled; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteAlias(ctx, "a", "r", "alias/x"); err != nil {
		t.Fatal(err)
	}
	if got, _ := other.Get(ctx, "a", "r", "k1"); got.State != Enabled {
		t.Fatal("the other node saw the change without being told: the test tests nothing")
	}
	tests := []struct {
		path string
		want State
	}{
		{"iam/accesskey/AKIA", Enabled},         // not the keystore's
		{"kms/a/r/key/k2", Enabled},             // another key
		{"kms/a/r/mat/k1/0000000001", Disabled}, // the key's material
	}
	for _, tc := range tests {
		other.InvalidatePath(tc.path)
		if got, err := other.Get(ctx, "a", "r", k.ID); err != nil || got.State != tc.want {
			t.Errorf("after InvalidatePath(%q): %v, %v; want %s", tc.path, got.State, err, tc.want)
		}
	}
	other.InvalidatePath("kms/a/r/alias/x")
	if _, err := other.GetAlias(ctx, "a", "r", "alias/x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("alias after InvalidatePath: %v; want ErrNotFound", err)
	}
	if _, err := a.Update(ctx, "a", "r", "k1", func(k *Key) error { k.State = Enabled; return nil }); err != nil {
		t.Fatal(err)
	}
	other.ForgetAll()
	if got, _ := other.Get(ctx, "a", "r", "k1"); got.State != Enabled {
		t.Errorf("after ForgetAll: %s; want Enabled", got.State)
	}
}

// slowGet pauses Get of one path until released, to interleave a cache
// miss's storage read with an invalidation.
type slowGet struct {
	storage.Backend
	path    string
	reading chan struct{}
	release chan struct{}
}

func (s *slowGet) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := s.Backend.Get(ctx, key)
	if key == s.path {
		s.reading <- struct{}{}
		<-s.release
	}
	return v, err
}

// TestMissRacingInvalidation: a miss that read storage before another
// node's change must not install what it read after the change's notice.
func TestMissRacingInvalidation(t *testing.T) {
	ctx := context.Background()
	b := memory.New()
	a := New(b)
	newKey(t, a, "k1")
	slow := &slowGet{Backend: b, path: keyPath("a", "r", "k1"), reading: make(chan struct{}), release: make(chan struct{})}
	other := New(slow)
	done := make(chan *Key)
	go func() {
		k, _ := other.Get(ctx, "a", "r", "k1") // reads Enabled, then waits
		done <- k
	}()
	<-slow.reading
	if _, err := a.Update(ctx, "a", "r", "k1", func(k *Key) error { k.State = Disabled; return nil }); err != nil {
		t.Fatal(err)
	}
	other.InvalidatePath(keyPath("a", "r", "k1")) // the notice arrives
	close(slow.release)
	if k := <-done; k.State != Enabled {
		t.Fatalf("the racing read returned %s", k.State)
	}
	slow.path = "" // no more pauses
	if got, _ := other.Get(ctx, "a", "r", "k1"); got.State != Disabled {
		t.Errorf("a read from before the invalidation was cached: %s; want Disabled", got.State)
	}
}

// TestGate: a failing gate refuses cached and uncached lookups alike.
func TestGate(t *testing.T) {
	ctx := context.Background()
	s := New(memory.New())
	newKey(t, s, "k1")
	stale := errors.New("stale")
	var fail bool
	s.SetGate(func() error {
		if fail {
			return stale
		}
		return nil
	})
	if _, err := s.Get(ctx, "a", "r", "k1"); err != nil {
		t.Fatal(err)
	}
	fail = true
	if _, err := s.Get(ctx, "a", "r", "k1"); !errors.Is(err, stale) {
		t.Errorf("cached Get with a failing gate = %v", err)
	}
	if _, err := s.GetAlias(ctx, "a", "r", "alias/none"); !errors.Is(err, stale) {
		t.Errorf("GetAlias with a failing gate = %v", err)
	}
}
