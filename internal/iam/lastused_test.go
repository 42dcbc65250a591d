package iam

import (
	"context"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/storage/memory"
)

func TestLastUsed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := memory.New()
	s := New(b, "aws")
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if lu, err := s.AccessKeyLastUsed(ctx, "AKIAX"); err != nil || !lu.Date.IsZero() {
		t.Fatalf("never used = %+v, %v", lu, err)
	}
	s.NoteUsed("AKIAX", "kms", "eu-west-1", t0)
	s.NoteUsed("AKIAX", "iam", "us-east-1", t0.Add(time.Minute))
	s.NoteUsed("AKIAX", "kms", "eu-west-1", t0.Add(-time.Hour)) // late arrival changes nothing
	want := LastUsed{Date: t0.Add(time.Minute), Service: "iam", Region: "us-east-1", RoutineDate: t0, RoutineService: "kms"}
	if lu, _ := s.AccessKeyLastUsed(ctx, "AKIAX"); lu != want {
		t.Fatalf("in memory = %+v, want %+v", lu, want)
	}
	// Not in storage until flushed; a new Store (a restart) sees it after.
	if lu, _ := New(b, "aws").AccessKeyLastUsed(ctx, "AKIAX"); !lu.Date.IsZero() {
		t.Fatalf("stored before flush: %+v", lu)
	}
	if err := s.FlushLastUsed(ctx); err != nil {
		t.Fatal(err)
	}
	s2 := New(b, "aws")
	if lu, _ := s2.AccessKeyLastUsed(ctx, "AKIAX"); lu != want {
		t.Fatalf("after flush and restart = %+v", lu)
	}
	// Another node's older use does not roll the stored record back.
	s2.NoteUsed("AKIAX", "sts", "us-east-1", t0.Add(-2*time.Hour))
	if err := s2.FlushLastUsed(ctx); err != nil {
		t.Fatal(err)
	}
	if lu, _ := New(b, "aws").AccessKeyLastUsed(ctx, "AKIAX"); lu != want {
		t.Fatalf("merged = %+v, want %+v", lu, want)
	}
	// Nothing dirty: a flush writes nothing.
	if err := s.FlushLastUsed(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestNoteUsedAllocatesNothingWhenUnchanged(t *testing.T) {
	s := New(memory.New(), "aws")
	now := time.Now()
	s.NoteUsed("AKIAX", "kms", "us-east-1", now)
	if n := testing.AllocsPerRun(100, func() { s.NoteUsed("AKIAX", "kms", "us-east-1", now) }); n != 0 {
		t.Errorf("NoteUsed allocates %v per call", n)
	}
}

func TestEachAccessKeyHidesSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := New(memory.New(), "aws")
	if _, _, err := s.EnsureRootAccessKey(ctx, "111122223333", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.EnsureRootAccessKey(ctx, "444455556666", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &User{Account: "111122223333", Name: "alice", Path: "/"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccessKey(ctx, "111122223333", "alice", time.Now()); err != nil {
		t.Fatal(err)
	}
	var n, root int
	err := s.EachAccessKey(ctx, "111122223333", func(ak *AccessKey) error {
		n++
		if ak.UserName == "" {
			root++
		}
		if ak.Secret != nil || ak.Account != "111122223333" {
			t.Errorf("key %+v", ak)
		}
		return nil
	})
	if err != nil || n != 2 || root != 1 {
		t.Fatalf("EachAccessKey: %d keys (%d root), %v", n, root, err)
	}
	// The secret is still there for authentication.
	if _, err := s.LookupSecret(ctx, func() string { k, _ := s.RootAccessKey(ctx, "111122223333"); return k.ID }()); err != nil {
		t.Fatal(err)
	}
}
