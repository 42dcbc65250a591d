package kms

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/svcerr"
)

// errNotDue vetoes an automatic rotation that another pass already did.
var errNotDue = errors.New("kms: rotation not due")

// SweepReport counts what one sweep did.
type SweepReport struct {
	Rotated, Deleted, Expired int
}

// Sweep performs every automatic rotation and key deletion due at the
// service's clock: keys past their DeletionDate are destroyed (material,
// metadata and aliases), and enabled keys past their NextRotation get new
// material. Each change re-checks its condition inside its own transaction,
// so Sweep is idempotent and safe beside live requests and other sweeps; a
// rotation or deletion that came due while the server was down happens on
// the first sweep after start. Disabled keys do not rotate; they catch up
// when re-enabled, as AWS does.
//
// Multi-Region keys: a primary key's rotation adds the version to every
// replica in the same transaction, and a replica is never rotated by itself.
// Deleting a replica removes it from its set; when it was the last replica
// of a primary waiting in PendingReplicaDeletion, the primary moves to
// PendingDeletion in the same transaction and its waiting period starts.
func (s *Service) Sweep(ctx context.Context) (SweepReport, error) {
	now := s.now().UTC()
	var due []*keystore.Key
	err := s.ks.Each(ctx, func(k *keystore.Key) error {
		deleting := k.State == keystore.PendingDeletion && !k.DeletionDate.After(now)
		rotating := k.State == keystore.Enabled && !isReplica(k) && k.RotationPeriodInDays > 0 && !k.NextRotation.After(now)
		if deleting || rotating || materialExpired(k, now) {
			due = append(due, k)
		}
		return nil
	})
	var rep SweepReport
	if err != nil {
		return rep, err
	}
	for _, k := range due {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if materialExpired(k, now) && !(k.State == keystore.PendingDeletion && !k.DeletionDate.After(now)) {
			_, err := s.ks.DeleteMaterial(ctx, k.Account, k.Region, k.ID, func(cur *keystore.Key) error {
				if !materialExpired(cur, now) {
					return errNotDue
				}
				s.materialGone(cur)
				return nil
			})
			switch {
			case err == nil:
				rep.Expired++
				s.log.Info("deleted expired imported key material", "key", s.keyARN(k), "valid_to", k.ValidTo)
			case errors.Is(err, errNotDue), errors.Is(err, keystore.ErrNotFound):
			default:
				return rep, err
			}
			continue
		}
		if k.State == keystore.PendingDeletion {
			var started []*keystore.Key
			err := s.ks.DestroyInSet(ctx, k.Account, k.Region, k.ID, func(cur *keystore.Key, peers []*keystore.Key) error {
				started = started[:0]
				if cur.State != keystore.PendingDeletion || cur.DeletionDate.After(now) {
					return keystore.ErrNotDue
				}
				if cur.MultiRegionType == keystore.MultiRegionPrimary && len(cur.ReplicaRegions) > 0 {
					// Never strand replicas without their primary.
					return keystore.ErrNotDue
				}
				for _, p := range peers {
					if p.State == keystore.PendingReplicaDeletion && p.MultiRegionType == keystore.MultiRegionPrimary && len(p.ReplicaRegions) == 0 {
						p.State = keystore.PendingDeletion
						p.DeletionDate = now.Add(time.Duration(p.PendingWindowInDays) * 24 * time.Hour)
						started = append(started, p)
					}
				}
				return nil
			})
			switch {
			case err == nil:
				rep.Deleted++
				s.log.Info("deleted key after its waiting period", "key", s.keyARN(k), "deletion_date", k.DeletionDate)
				for _, p := range started {
					s.log.Info("last replica deleted: primary key's waiting period started", "key", s.keyARN(p), "deletion_date", p.DeletionDate)
				}
			case errors.Is(err, keystore.ErrNotDue), errors.Is(err, keystore.ErrNotFound):
			default:
				return rep, err
			}
			continue
		}
		_, err := s.rotate(ctx, k, rotationAutomatic)
		switch {
		case err == nil:
			rep.Rotated++
			s.log.Info("rotated key", "key", s.keyARN(k))
		case errors.Is(err, errNotDue), svcerr.As(err) != nil && svcerr.CodeOf(err) != svcerr.Internal:
			// Another pass got there first, or the key changed state.
		default:
			return rep, err
		}
	}
	return rep, nil
}

// Lease elects the one node whose scheduler acts. Acquire takes or renews
// the named lease for holder until now+ttl, and reports whether holder has
// it and at which epoch (the fencing token). Fence returns a context under
// which the store's write transactions first check, inside the
// transaction, that holder still holds the lease at that epoch, so a node
// that was paused past its lease and wakes after a takeover writes
// nothing.
type Lease interface {
	Acquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (epoch uint64, held bool, err error)
	Fence(ctx context.Context, name, holder string, epoch uint64) context.Context
	// Release gives the lease up at once if holder holds it.
	Release(ctx context.Context, name, holder string) error
}

// Scheduler runs Sweep every interval while it holds the scheduler lease.
// The lease lasts three intervals and is renewed at every sweep, so when
// the holder dies another node takes over within three to four intervals.
type Scheduler struct {
	Service  *Service
	Lease    Lease
	Holder   string
	Interval time.Duration
	Logger   *slog.Logger
	// Kick, when non-nil, triggers an immediate sweep (the dev clock uses it).
	Kick <-chan struct{}
	// Also are other services' sweeps (expired STS sessions, ...), run
	// after the key sweep under the same lease.
	Also []Sweep

	epoch atomic.Uint64 // the last epoch held, for logging changes
}

// Sweep is another service's periodic clean-up. Run returns what it did,
// as log attributes (e.g. removed=3, or rotated=1 failed=1); none when it
// did nothing, and then nothing is logged.
type Sweep struct {
	Name string
	Run  func(context.Context) ([]slog.Attr, error)
}

// Run sweeps until ctx ends: once at start (catching up after downtime),
// then every Interval, and whenever Kick fires.
// When ctx ends, the lease is released so that a restarted or another node
// takes over at once rather than after its expiry.
func (sc *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(sc.Interval)
	defer t.Stop()
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		sc.Release(rctx)
	}()
	for {
		sc.once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-sc.Kick:
		}
	}
}

// Release gives up the scheduler lease if this scheduler holds it, so that
// another node takes over at once; the next sweep may take it again.
func (sc *Scheduler) Release(ctx context.Context) {
	if sc.epoch.Swap(0) == 0 {
		return
	}
	if err := sc.Lease.Release(ctx, "scheduler", sc.Holder); err != nil {
		sc.Logger.Warn("releasing the scheduler lease", "err", err)
		return
	}
	sc.Logger.Info("scheduler lease released", "holder", sc.Holder)
}

// SweepNow runs one lease-guarded sweep at once, for the dev clock control.
func (sc *Scheduler) SweepNow(ctx context.Context) { sc.once(ctx) }

func (sc *Scheduler) once(ctx context.Context) {
	// The lease measures the holder's liveness, so it runs on the wall
	// clock, not the service's (which dev mode can move forward).
	epoch, held, err := sc.Lease.Acquire(ctx, "scheduler", sc.Holder, time.Now(), 3*sc.Interval)
	if err != nil {
		sc.Logger.Warn("scheduler lease", "err", err)
		return
	}
	if !held {
		if old := sc.epoch.Swap(0); old != 0 {
			sc.Logger.Info("scheduler lease lost", "holder", sc.Holder, "epoch", old)
		}
		return
	}
	if old := sc.epoch.Swap(epoch); old != epoch {
		// test/e2e reads this line to learn which node leads.
		sc.Logger.Info("scheduler lease acquired", "holder", sc.Holder, "epoch", epoch)
	}
	ctx = sc.Lease.Fence(ctx, "scheduler", sc.Holder, epoch)
	rep, err := sc.Service.Sweep(ctx)
	if err != nil && ctx.Err() == nil {
		sc.Logger.Error("scheduler sweep failed", "err", err)
	}
	if rep.Rotated+rep.Deleted+rep.Expired > 0 {
		sc.Logger.Info("scheduler sweep", "rotated", rep.Rotated, "deleted", rep.Deleted, "expired", rep.Expired)
	}
	for _, sw := range sc.Also {
		did, err := sw.Run(ctx)
		if err != nil && ctx.Err() == nil {
			sc.Logger.Error("scheduler sweep failed", "sweep", sw.Name, "err", err)
		}
		if len(did) > 0 {
			sc.Logger.LogAttrs(ctx, slog.LevelInfo, "scheduler sweep", append([]slog.Attr{slog.String("sweep", sw.Name)}, did...)...)
		}
	}
}
