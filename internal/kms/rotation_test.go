package kms

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/lease"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

const day = 24 * time.Hour

func TestRotationLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	st, err := f.s.GetKeyRotationStatus(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	if err != nil || st.KeyRotationEnabled || st.NextRotationDate != nil {
		t.Fatalf("initial status = %+v, %v", st, err)
	}
	for _, d := range []int32{89, 2561} {
		_, err := f.s.EnableKeyRotation(f.ctx, f.c, &EnableKeyRotationInput{KeyID: m.KeyID, RotationPeriodInDays: i32(d)})
		wantCode(t, err, svcerr.Validation)
	}
	if _, err := f.s.EnableKeyRotation(f.ctx, f.c, &EnableKeyRotationInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	st, _ = f.s.GetKeyRotationStatus(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	if !st.KeyRotationEnabled || *st.RotationPeriodInDays != 365 || !st.NextRotationDate.Equal(f.now.Add(365*day)) {
		t.Errorf("status after enable = %+v", st)
	}
	enc1, _ := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("v1")})
	if _, err := f.s.RotateKeyOnDemand(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	enc2, _ := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: m.KeyID, Plaintext: []byte("v2")})
	if bytes.Equal(enc1.CiphertextBlob[:60], enc2.CiphertextBlob[:60]) {
		t.Error("header unchanged after rotation: new version not used")
	}
	for _, e := range []*EncryptOutput{enc1, enc2} {
		if _, err := f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: e.CiphertextBlob}); err != nil {
			t.Errorf("Decrypt after rotation: %v", err)
		}
	}
	// On-demand rotation does not move the automatic schedule.
	st, _ = f.s.GetKeyRotationStatus(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	if !st.NextRotationDate.Equal(f.now.Add(365 * day)) {
		t.Errorf("on-demand rotation moved NextRotationDate to %v", st.NextRotationDate)
	}
	lr, err := f.s.ListKeyRotations(f.ctx, f.c, &ListKeyRotationsInput{KeyID: m.KeyID})
	if err != nil || len(lr.Rotations) != 1 || lr.Rotations[0].RotationType != "ON_DEMAND" || len(lr.Rotations[0].KeyMaterialID) != 64 {
		t.Errorf("ListKeyRotations = %+v, %v", lr, err)
	}
	all, _ := f.s.ListKeyRotations(f.ctx, f.c, &ListKeyRotationsInput{KeyID: m.KeyID, IncludeKeyMaterial: "ALL_KEY_MATERIAL"})
	if len(all.Rotations) != 2 || all.Rotations[0].RotationDate != nil {
		t.Errorf("ALL_KEY_MATERIAL = %+v", all)
	}
	d, _ := f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: m.KeyID})
	if d.KeyMetadata.CurrentKeyMaterialID != lr.Rotations[0].KeyMaterialID {
		t.Errorf("CurrentKeyMaterialId %q is not the newest rotation's %q", d.KeyMetadata.CurrentKeyMaterialID, lr.Rotations[0].KeyMaterialID)
	}
	if _, err := f.s.DisableKeyRotation(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil {
		t.Fatal(err)
	}
	st, _ = f.s.GetKeyRotationStatus(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	if st.KeyRotationEnabled {
		t.Error("rotation still enabled")
	}
	f.s.DisableKey(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	_, err = f.s.EnableKeyRotation(f.ctx, f.c, &EnableKeyRotationInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.Disabled)
	_, err = f.s.RotateKeyOnDemand(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.Disabled)
}

func TestOnDemandQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	for i := range maxOnDemandRotations {
		if _, err := f.s.RotateKeyOnDemand(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID}); err != nil {
			t.Fatalf("rotation %d: %v", i+1, err)
		}
	}
	_, err := f.s.RotateKeyOnDemand(f.ctx, f.c, &KeyIDInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.LimitExceeded)
	page, err := f.s.ListKeyRotations(f.ctx, f.c, &ListKeyRotationsInput{KeyID: m.KeyID, Limit: i32(10)})
	if err != nil || len(page.Rotations) != 10 || !page.Truncated {
		t.Fatalf("page 1 = %d, %v", len(page.Rotations), err)
	}
	n := 10
	for page.Truncated {
		page, err = f.s.ListKeyRotations(f.ctx, f.c, &ListKeyRotationsInput{KeyID: m.KeyID, Limit: i32(10), Marker: page.NextMarker})
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Rotations)
	}
	if n != maxOnDemandRotations {
		t.Errorf("listed %d rotations, want %d", n, maxOnDemandRotations)
	}
	_, err = f.s.ListKeyRotations(f.ctx, f.c, &ListKeyRotationsInput{KeyID: m.KeyID, Marker: "junk"})
	wantCode(t, err, svcerr.InvalidMarker)
}

// TestSweep moves the clock instead of sleeping: a due rotation happens
// once however often the sweep runs, a due deletion destroys the key, and a
// disabled key waits to rotate until re-enabled.
func TestSweep(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	rot, del, off := f.createKey(t), f.createKey(t), f.createKey(t)
	f.s.EnableKeyRotation(f.ctx, f.c, &EnableKeyRotationInput{KeyID: rot.KeyID, RotationPeriodInDays: i32(90)})
	f.s.EnableKeyRotation(f.ctx, f.c, &EnableKeyRotationInput{KeyID: off.KeyID, RotationPeriodInDays: i32(90)})
	f.s.DisableKey(f.ctx, f.c, &KeyIDInput{KeyID: off.KeyID})
	enc, _ := f.s.Encrypt(f.ctx, f.c, &EncryptInput{KeyID: del.KeyID, Plaintext: []byte("x")})
	f.s.ScheduleKeyDeletion(f.ctx, f.c, &ScheduleKeyDeletionInput{KeyID: del.KeyID, PendingWindowInDays: i32(7)})

	rep, err := f.s.Sweep(f.ctx)
	if err != nil || rep != (SweepReport{}) {
		t.Fatalf("sweep before anything is due = %+v, %v", rep, err)
	}
	f.now = f.now.Add(7*day + time.Second)
	rep, err = f.s.Sweep(f.ctx)
	if err != nil || rep.Deleted != 1 || rep.Rotated != 0 {
		t.Fatalf("sweep after 7 days = %+v, %v", rep, err)
	}
	for _, call := range []func() error{
		func() error { _, err := f.s.DescribeKey(f.ctx, f.c, &DescribeKeyInput{KeyID: del.KeyID}); return err },
		func() error { _, err := f.s.CancelKeyDeletion(f.ctx, f.c, &KeyIDInput{KeyID: del.KeyID}); return err },
	} {
		wantCode(t, call(), svcerr.NotFound)
	}
	_, err = f.s.Decrypt(f.ctx, f.c, &DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, svcerr.InvalidCiphertext)

	f.now = f.now.Add(90 * day)
	for range 3 {
		if _, err := f.s.Sweep(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	lr, _ := f.s.ListKeyRotations(f.ctx, f.c, &ListKeyRotationsInput{KeyID: rot.KeyID})
	if len(lr.Rotations) != 1 || lr.Rotations[0].RotationType != "AUTOMATIC" {
		t.Errorf("rotations after three sweeps = %+v", lr.Rotations)
	}
	st, _ := f.s.GetKeyRotationStatus(f.ctx, f.c, &KeyIDInput{KeyID: rot.KeyID})
	if !st.NextRotationDate.Equal(f.now.Add(90 * day)) {
		t.Errorf("next rotation = %v, want 90 days after the rotation", st.NextRotationDate)
	}
	lr, _ = f.s.ListKeyRotations(f.ctx, f.c, &ListKeyRotationsInput{KeyID: off.KeyID})
	if len(lr.Rotations) != 0 {
		t.Errorf("disabled key rotated: %+v", lr.Rotations)
	}
	f.s.EnableKey(f.ctx, f.c, &KeyIDInput{KeyID: off.KeyID})
	if rep, _ := f.s.Sweep(f.ctx); rep.Rotated != 1 {
		t.Errorf("re-enabled overdue key: sweep = %+v, want one rotation", rep)
	}
}

// TestOneSchedulerActs runs two schedulers over one store: only the lease
// holder sweeps, so a due rotation happens exactly once.
func TestOneSchedulerActs(t *testing.T) {
	t.Parallel()
	st := memory.New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	c := root("us-east-1")
	ctx := context.Background()
	svc := New(keystore.New(st), Config{Now: clock})
	out, _ := svc.CreateKey(ctx, c, &CreateKeyInput{})
	svc.EnableKeyRotation(ctx, c, &EnableKeyRotationInput{KeyID: out.KeyMetadata.KeyID, RotationPeriodInDays: i32(90)})
	mu.Lock()
	now = now.Add(91 * day)
	mu.Unlock()
	leases := lease.New(st)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var wg sync.WaitGroup
	for _, holder := range []string{"node-a", "node-b"} {
		// Each node has its own service and cache over the shared store.
		node := New(keystore.New(st), Config{Now: clock, Logger: quiet})
		sc := &Scheduler{Service: node, Lease: leases, Holder: holder, Interval: time.Minute, Logger: quiet}
		wg.Go(func() {
			for range 5 {
				sc.SweepNow(ctx)
			}
		})
	}
	wg.Wait()
	lr, err := New(keystore.New(st), Config{Now: clock}).ListKeyRotations(ctx, c, &ListKeyRotationsInput{KeyID: out.KeyMetadata.KeyID})
	if err != nil || len(lr.Rotations) != 1 {
		t.Errorf("rotations = %d, %v; want exactly 1", len(lr.Rotations), err)
	}
}

// TestPausedLeaderIsFenced: a scheduler that acquired the lease, was paused
// past its expiry and resumes after another node took over must not act:
// its sweep's transactions carry the old epoch and are refused.
func TestPausedLeaderIsFenced(t *testing.T) {
	t.Parallel()
	st := memory.New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := root("us-east-1")
	ctx := context.Background()
	fenced := lease.Fenced{B: st}
	svc := New(keystore.New(fenced), Config{Now: func() time.Time { return now }})
	out, _ := svc.CreateKey(ctx, c, &CreateKeyInput{})
	id := out.KeyMetadata.KeyID
	svc.EnableKeyRotation(ctx, c, &EnableKeyRotationInput{KeyID: id, RotationPeriodInDays: i32(90)})
	leases := lease.New(st)
	epochA, held, err := leases.Acquire(ctx, "scheduler", "node-a", now, time.Minute)
	if err != nil || !held {
		t.Fatalf("node-a acquire = %v, %v", held, err)
	}
	// node-a pauses; node-b takes the expired lease.
	now = now.Add(91 * day)
	if _, held, _ := leases.Acquire(ctx, "scheduler", "node-b", now, time.Minute); !held {
		t.Fatal("node-b could not take over an expired lease")
	}
	// node-a resumes its sweep under its old fencing token.
	_, err = svc.Sweep(leases.Fence(ctx, "scheduler", "node-a", epochA))
	if !errors.Is(err, lease.ErrFenced) {
		t.Errorf("paused leader's sweep = %v; want lease.ErrFenced", err)
	}
	lr, err := svc.ListKeyRotations(ctx, c, &ListKeyRotationsInput{KeyID: id})
	if err != nil || len(lr.Rotations) != 0 {
		t.Errorf("rotations after the fenced sweep = %d, %v; want 0", len(lr.Rotations), err)
	}
	// node-b's scheduler does the work, once.
	sc := &Scheduler{Service: svc, Lease: leases, Holder: "node-b", Interval: time.Minute, Logger: slog.New(slog.DiscardHandler)}
	sc.SweepNow(ctx)
	sc.SweepNow(ctx)
	lr, err = svc.ListKeyRotations(ctx, c, &ListKeyRotationsInput{KeyID: id})
	if err != nil || len(lr.Rotations) != 1 {
		t.Errorf("rotations after node-b's sweeps = %d, %v; want 1", len(lr.Rotations), err)
	}
}
