package keystore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal/dev"
	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/storage/memory"
)

// newSetStore returns a Store over the real barrier (on memory storage), so
// that copied material must be re-sealed under its new path to be readable,
// and the memory backend for listing paths.
func newSetStore(t *testing.T) (*Store, *barrier.Barrier, *memory.Backend) {
	t.Helper()
	mem := memory.New()
	br := barrier.New(mem)
	seal, _, err := dev.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Initialize(ctx, seal); err != nil {
		t.Fatal(err)
	}
	return New(br), br, mem
}

// newPrimary creates a multi-Region primary key id in region r1.
func newPrimary(t *testing.T, s *Store, id string) *kmscrypto.Key {
	t.Helper()
	m, err := kmscrypto.Generate(kmscrypto.SymmetricDefault)
	if err != nil {
		t.Fatal(err)
	}
	k := &Key{ID: id, Account: "a", Region: "r1", Spec: kmscrypto.SymmetricDefault, Usage: "ENCRYPT_DECRYPT", State: Enabled,
		Created: time.Unix(1, 0), MultiRegion: true, MultiRegionType: MultiRegionPrimary, PrimaryRegion: "r1"}
	if err := s.Create(ctx, k, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// join is what the service's Replicate callback does: record the new
// region on every key of the set.
func join(src *Key, peers []*Key, rep *Key) error {
	regions := append(slices.Clone(src.ReplicaRegions), rep.Region)
	slices.Sort(regions)
	for _, k := range append([]*Key{src, rep}, peers...) {
		k.PrimaryRegion, k.ReplicaRegions, k.MultiRegion = src.Region, slices.Clone(regions), true
		k.MultiRegionType = MultiRegionReplica
		if k.Region == src.Region {
			k.MultiRegionType = MultiRegionPrimary
		}
	}
	return nil
}

// sameVersions compares version lists, times by instant (a decoded time
// has another Location than the one stored).
func sameVersions(a, b []Version) bool {
	return slices.EqualFunc(a, b, func(x, y Version) bool {
		return x.Number == y.Number && x.MaterialID == y.MaterialID && x.Rotation == y.Rotation && x.Created.Equal(y.Created)
	})
}

// matPaths returns the storage paths of id's material, sorted.
func matPaths(t *testing.T, mem *memory.Backend, id string) []string {
	t.Helper()
	ents, err := mem.List(ctx, "kms/", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Key, "/mat/"+id+"/") {
			out = append(out, e.Key)
		}
	}
	return out
}

func TestReplicateCopiesEveryVersion(t *testing.T) {
	t.Parallel()
	s, br, mem := newSetStore(t)
	m1 := newPrimary(t, s, "mrk-1")
	m2, _ := kmscrypto.Generate(kmscrypto.SymmetricDefault)
	if _, err := s.AddSharedVersion(ctx, "a", "r1", "mrk-1", m2, time.Unix(2, 0), nil); err != nil {
		t.Fatal(err)
	}
	veto := errors.New("veto")
	if _, err := s.Replicate(ctx, "a", "r1", "mrk-1", &Key{Region: "r2"}, func(*Key, []*Key, *Key) error { return veto }); !errors.Is(err, veto) {
		t.Fatalf("vetoed Replicate = %v", err)
	}
	if p := matPaths(t, mem, "mrk-1"); len(p) != 2 {
		t.Errorf("vetoed Replicate left material: %v", p)
	}
	rep, err := s.Replicate(ctx, "a", "r1", "mrk-1", &Key{Region: "r2", Description: "copy", State: Enabled}, join)
	if err != nil {
		t.Fatal(err)
	}
	src, _ := s.Get(ctx, "a", "r1", "mrk-1")
	if rep.ID != "mrk-1" || rep.Region != "r2" || rep.Description != "copy" || rep.Current != 2 || !sameVersions(rep.Versions, src.Versions) {
		t.Errorf("replica = %+v; source versions %+v", rep, src.Versions)
	}
	if !slices.Equal(src.ReplicaRegions, []string{"r2"}) || src.PrimaryRegion != "r1" || rep.MultiRegionType != MultiRegionReplica {
		t.Errorf("set lists: source %+v, replica %+v", src, rep)
	}
	want := []string{"kms/a/r1/mat/mrk-1/0000000001", "kms/a/r1/mat/mrk-1/0000000002", "kms/a/r2/mat/mrk-1/0000000001", "kms/a/r2/mat/mrk-1/0000000002"}
	if got := matPaths(t, mem, "mrk-1"); !slices.Equal(got, want) {
		t.Errorf("material paths = %v, want %v", got, want)
	}
	// A fresh store (empty cache) reads the replica's copies through the
	// barrier from the replica region's own paths.
	fresh := New(br)
	for v, m := range map[uint32]*kmscrypto.Key{1: m1, 2: m2} {
		got, err := fresh.Material(ctx, rep, v)
		if err != nil || !got.Equal(m) {
			t.Errorf("replica material v%d: %v", v, err)
		}
	}
	for _, r := range []string{"r1", "r2"} {
		if _, err := s.Replicate(ctx, "a", "r1", "mrk-1", &Key{Region: r}, join); !errors.Is(err, ErrExists) {
			t.Errorf("Replicate into %s, which holds the key = %v", r, err)
		}
	}
}

func TestAddSharedVersion(t *testing.T) {
	t.Parallel()
	s, br, mem := newSetStore(t)
	newPrimary(t, s, "mrk-1")
	for _, r := range []string{"r2", "r3"} {
		if _, err := s.Replicate(ctx, "a", "r1", "mrk-1", &Key{Region: r}, join); err != nil {
			t.Fatal(err)
		}
	}
	cachedBefore, _ := s.Get(ctx, "a", "r3", "mrk-1")
	m2, _ := kmscrypto.Generate(kmscrypto.SymmetricDefault)
	veto := errors.New("veto")
	if _, err := s.AddSharedVersion(ctx, "a", "r1", "mrk-1", m2, time.Unix(2, 0), func(*Key, []*Key, *Version) error { return veto }); !errors.Is(err, veto) {
		t.Fatalf("vetoed AddSharedVersion = %v", err)
	}
	if p := matPaths(t, mem, "mrk-1"); len(p) != 3 {
		t.Errorf("vetoed AddSharedVersion left material: %v", p)
	}
	var sawPeers []string
	k, err := s.AddSharedVersion(ctx, "a", "r1", "mrk-1", m2, time.Unix(2, 0), func(k *Key, peers []*Key, v *Version) error {
		sawPeers = sawPeers[:0]
		for _, p := range peers {
			sawPeers = append(sawPeers, p.Region)
			p.Description = "touched"
		}
		v.Rotation = "ON_DEMAND"
		return nil
	})
	if err != nil || k.Current != 2 || !slices.Equal(sawPeers, []string{"r2", "r3"}) {
		t.Fatalf("AddSharedVersion = %+v, %v; peers %v", k, err, sawPeers)
	}
	if cachedBefore.Current != 1 {
		t.Error("a snapshot handed out earlier was modified")
	}
	for _, st := range []*Store{s, New(br)} {
		for _, r := range []string{"r1", "r2", "r3"} {
			x, err := st.Get(ctx, "a", r, "mrk-1")
			if err != nil || x.Current != 2 || !sameVersions(x.Versions, k.Versions) || x.CurrentVersion().Rotation != "ON_DEMAND" {
				t.Errorf("%s: %+v, %v", r, x, err)
				continue
			}
			if r != "r1" && x.Description != "touched" {
				t.Errorf("%s: fn's change to the peer was not stored", r)
			}
			if got, err := st.Material(ctx, x, 2); err != nil || !got.Equal(m2) {
				t.Errorf("%s: material v2: %v", r, err)
			}
		}
	}
}

func TestUpdateSetAndDestroyInSet(t *testing.T) {
	t.Parallel()
	s, _, mem := newSetStore(t)
	newPrimary(t, s, "mrk-1")
	for _, r := range []string{"r2", "r3"} {
		s.Replicate(ctx, "a", "r1", "mrk-1", &Key{Region: r}, join)
	}
	veto := errors.New("veto")
	if _, _, err := s.UpdateSet(ctx, "a", "r2", "mrk-1", func(k *Key, peers []*Key) error {
		for _, p := range append(peers, k) {
			p.Description = "lost"
		}
		return veto
	}); !errors.Is(err, veto) {
		t.Fatalf("vetoed UpdateSet = %v", err)
	}
	k, peers, err := s.UpdateSet(ctx, "a", "r2", "mrk-1", func(k *Key, peers []*Key) error {
		for _, p := range append(peers, k) {
			p.Description = "all"
		}
		return nil
	})
	if err != nil || k.Region != "r2" || len(peers) != 2 || peers[0].Region != "r1" {
		t.Fatalf("UpdateSet = %+v, %v, %v", k, peers, err)
	}
	for _, r := range []string{"r1", "r2", "r3"} {
		if x, _ := s.Get(ctx, "a", r, "mrk-1"); x.Description != "all" {
			t.Errorf("%s description %q", r, x.Description)
		}
	}

	if err := s.DestroyInSet(ctx, "a", "r2", "mrk-1", func(*Key, []*Key) error { return ErrNotDue }); !errors.Is(err, ErrNotDue) {
		t.Fatalf("declined DestroyInSet = %v", err)
	}
	if x, _ := s.Get(ctx, "a", "r1", "mrk-1"); !slices.Equal(x.ReplicaRegions, []string{"r2", "r3"}) {
		t.Errorf("declined DestroyInSet changed the set: %v", x.ReplicaRegions)
	}
	var seen [][]string
	err = s.DestroyInSet(ctx, "a", "r2", "mrk-1", func(k *Key, peers []*Key) error {
		seen = seen[:0]
		for _, p := range peers {
			seen = append(seen, p.ReplicaRegions)
			if p.Region == "r1" {
				p.State = PendingDeletion
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[[r3] [r3]]" {
		t.Errorf("fn saw peer lists %v, want r2 already removed", seen)
	}
	if _, err := s.Get(ctx, "a", "r2", "mrk-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("destroyed replica: %v", err)
	}
	for _, r := range []string{"r1", "r3"} {
		x, _ := s.Get(ctx, "a", r, "mrk-1")
		if !slices.Equal(x.ReplicaRegions, []string{"r3"}) {
			t.Errorf("%s still lists %v", r, x.ReplicaRegions)
		}
		if r == "r1" && x.State != PendingDeletion {
			t.Errorf("fn's change to the primary was not stored: %s", x.State)
		}
	}
	for _, p := range matPaths(t, mem, "mrk-1") {
		if strings.Contains(p, "/r2/") {
			t.Errorf("material of the destroyed replica remains: %s", p)
		}
	}

	// A set whose list names a key that does not exist is reported, not
	// silently treated as smaller.
	s.UpdateSet(ctx, "a", "r1", "mrk-1", func(k *Key, peers []*Key) error {
		k.ReplicaRegions = append(k.ReplicaRegions, "r9")
		return nil
	})
	if _, _, err := s.UpdateSet(ctx, "a", "r1", "mrk-1", func(*Key, []*Key) error { return nil }); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateSet over a broken set = %v", err)
	}
}

// TestSetOperationsConcurrently rotates, replicates and updates one set
// from many goroutines; every key of the set must end with the same version
// list, and the cache must agree with storage.
func TestSetOperationsConcurrently(t *testing.T) {
	t.Parallel()
	s, br, _ := newSetStore(t)
	newPrimary(t, s, "mrk-1")
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 5 {
				switch w % 3 {
				case 0:
					m, _ := kmscrypto.Generate(kmscrypto.SymmetricDefault)
					if _, err := s.AddSharedVersion(ctx, "a", "r1", "mrk-1", m, time.Unix(int64(i), 0), nil); err != nil {
						t.Error(err)
					}
				case 1:
					r := fmt.Sprintf("r%d", 2+w*5+i)
					if _, err := s.Replicate(ctx, "a", "r1", "mrk-1", &Key{Region: r}, join); err != nil {
						t.Error(err)
					}
				default:
					s.Forget("a", "r1", "mrk-1")
					s.Get(ctx, "a", "r1", "mrk-1")
				}
			}
		})
	}
	wg.Wait()
	fresh := New(br)
	p, _ := fresh.Get(ctx, "a", "r1", "mrk-1")
	if len(p.Versions) != 11 || len(p.ReplicaRegions) != 10 {
		t.Fatalf("primary has %d versions and %d replicas, want 11 and 10", len(p.Versions), len(p.ReplicaRegions))
	}
	for _, r := range append([]string{"r1"}, p.ReplicaRegions...) {
		for _, st := range []*Store{s, fresh} {
			x, err := st.Get(ctx, "a", r, "mrk-1")
			if err != nil || !sameVersions(x.Versions, p.Versions) || !slices.Equal(x.ReplicaRegions, p.ReplicaRegions) {
				t.Errorf("%s: %d versions, replicas %v, %v", r, len(x.Versions), x.ReplicaRegions, err)
			}
		}
	}
}
