package secrets

import (
	"context"
	"slices"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Replication. A replica is an ordinary secret record in its own region
// (same account, name, suffix and UID; PrimaryRegion set) whose versions
// are re-sealed under a KMS key of that region, with the replica's ARN in
// the encryption context. Every change to the primary rewrites its
// replicas in the same storage transaction, so a reader never sees a
// replica ahead of or behind its primary. KMS is called before the
// transaction (a transaction must not call other stores).

// Replica statuses, as AWS spells them.
const (
	replicaInSync = "InSync"
	replicaFailed = "Failed"
)

func (s *Service) checkReplicaRegions(c *auth.Caller, add []ReplicaRegionType) error {
	seen := map[string]bool{}
	for _, rr := range add {
		if rr.Region == "" {
			return svcerr.Missing("addReplicaRegions.member.region")
		}
		if err := svcerr.CheckLen("addReplicaRegions.member.kmsKeyId", len(rr.KmsKeyID), 0, maxKmsKeyID); err != nil {
			return err
		}
		if rr.Region == c.Region {
			return svcerr.New(svcerr.InvalidParameter, "Invalid replica region: the secret's own region %s can't be a replica region.", rr.Region)
		}
		if !slices.Contains(s.regions, rr.Region) {
			return svcerr.New(svcerr.InvalidParameter, "Invalid replica region: %s is not a region this deployment serves.", rr.Region)
		}
		if seen[rr.Region] {
			return svcerr.New(svcerr.InvalidParameter, "Duplicate replica region: %s", rr.Region)
		}
		seen[rr.Region] = true
	}
	return nil
}

// replicaPlan is the new replicas of one request, sealed and ready to
// store: records and their values.
type replicaPlan struct {
	s       *Service
	primary *record
	force   bool
	recs    []*record
	values  map[string]map[string]*value // region → version ID → value
	// replaced are other secrets of the same names that
	// ForceOverwriteReplicaSecret replaces.
	replaced []*record
}

// replicaChanges prepares replicas of r in the regions of add, re-sealing
// each version's plaintext (from vals, or decrypted from r as the caller)
// under each region's key. r.Replicas gains the new regions.
func (s *Service) replicaChanges(ctx context.Context, c *auth.Caller, r *record, add []ReplicaRegionType, force bool, first plain) (*replicaPlan, error) {
	p := &replicaPlan{s: s, primary: r, force: force, values: map[string]map[string]*value{}}
	for _, rr := range add {
		rep := r.clone()
		rep.Region, rep.PrimaryRegion, rep.Replicas, rep.KmsKeyID = rr.Region, r.Region, nil, rr.KmsKeyID
		rep.Rotation = rotation{}
		keyID, err := s.keyFor(ctx, r.Account, rr.Region, rr.KmsKeyID)
		if err != nil {
			return nil, err
		}
		vals := map[string]*value{}
		for _, v := range rep.Versions {
			var pt []byte
			var binary bool
			if first.given() && len(r.Versions) == 1 {
				pt, binary = slices.Clone(first.bytes()), first.bin != nil
			} else {
				sv, err := s.st.value(ctx, r, v.ID)
				if err != nil {
					return nil, storeErr(err)
				}
				if pt, err = s.open(ctx, c, r.Region, s.secretARN(r), v.ID, sv); err != nil {
					return nil, err
				}
				binary = sv.Binary
			}
			nv, err := s.seal(ctx, c, rr.Region, keyID, s.secretARN(rep), v.ID, pt, binary)
			clear(pt)
			if err != nil {
				return nil, err
			}
			v.KeyARN = nv.KeyARN
			vals[v.ID] = nv
		}
		p.recs = append(p.recs, rep)
		p.values[rr.Region] = vals
		r.Replicas = append(r.Replicas, replica{Region: rr.Region, KmsKeyID: rr.KmsKeyID, Status: replicaInSync})
	}
	return p, nil
}

// check looks for secrets of the same name in the replica regions: without
// ForceOverwriteReplicaSecret such a region's replica fails (recorded in its
// status, as AWS does); with it the other secret is replaced.
func (p *replicaPlan) check(ctx context.Context, tx storage.Tx) error {
	p.replaced = nil
	p.recs = slices.DeleteFunc(p.recs, func(rep *record) bool {
		other, err := getTx(ctx, tx, rep.Account, rep.Region, rep.Name)
		if err != nil {
			return false
		}
		if p.force {
			p.replaced = append(p.replaced, other)
			return false
		}
		for i := range p.primary.Replicas {
			if p.primary.Replicas[i].Region == rep.Region {
				p.primary.Replicas[i].Status = replicaFailed
				p.primary.Replicas[i].Message = "Replication failed: Secret name " + rep.Name + " already exists in Region: " + rep.Region + "."
			}
		}
		return true
	})
	return nil
}

// merge adds the plan's records and values to ch.
func (p *replicaPlan) merge(ch *change) *change {
	ch.del = append(ch.del, p.replaced...)
	for _, rep := range p.recs {
		ch.put = append(ch.put, rep)
		for id, v := range p.values[rep.Region] {
			ch.value(rep, id, v)
		}
	}
	return ch
}

// sealForReplicas seals a new version's plaintext for each of r's replicas.
func (s *Service) sealForReplicas(ctx context.Context, c *auth.Caller, r *record, versionID string, pt []byte, binary bool) (map[string]*value, error) {
	if len(r.Replicas) == 0 {
		return nil, nil
	}
	out := map[string]*value{}
	for _, rep := range r.Replicas {
		if rep.Status != replicaInSync {
			continue
		}
		keyID, err := s.keyFor(ctx, r.Account, rep.Region, rep.KmsKeyID)
		if err != nil {
			return nil, err
		}
		nv, err := s.seal(ctx, c, rep.Region, keyID, s.arnIn(r, rep.Region), versionID, pt, binary)
		if err != nil {
			return nil, err
		}
		out[rep.Region] = nv
	}
	return out, nil
}

// syncReplicas rewrites cur's replicas inside tx to match cur: metadata,
// staging labels, the new version (sealed beforehand in newVals, by region)
// and pruned versions. A replica missing a sealed value for the new version
// (added meanwhile) is marked Failed rather than left behind silently.
func (s *Service) syncReplicas(ctx context.Context, tx storage.Tx, cur *record, ch *change, versionID string, newVals map[string]*value, pruned []string) error {
	for i := range cur.Replicas {
		ri := &cur.Replicas[i]
		if ri.Status != replicaInSync {
			continue
		}
		rep, err := getTx(ctx, tx, cur.Account, ri.Region, cur.Name)
		if err != nil || rep.UID != cur.UID {
			ri.Status, ri.Message = replicaFailed, "Replication failed: the replica secret is missing."
			continue
		}
		keys := map[string]string{}
		for _, v := range rep.Versions {
			keys[v.ID] = v.KeyARN
		}
		if versionID != "" {
			nv := newVals[ri.Region]
			if nv == nil {
				ri.Status, ri.Message = replicaFailed, "Replication failed: a new version could not be replicated."
				continue
			}
			keys[versionID] = nv.KeyARN
			ch.value(rep, versionID, nv)
		}
		next := cur.clone()
		next.Region, next.PrimaryRegion, next.Replicas, next.KmsKeyID, next.Rotation = ri.Region, cur.Region, nil, ri.KmsKeyID, rotation{}
		next.Accessed = rep.Accessed
		for _, v := range next.Versions {
			v.KeyARN = keys[v.ID]
		}
		ch.put = append(ch.put, next)
		for _, id := range pruned {
			ch.delValues = append(ch.delValues, valuePath(cur.Account, ri.Region, cur.UID, id))
		}
	}
	return nil
}

func (s *Service) replicationStatus(r *record) []ReplicationStatusType {
	if len(r.Replicas) == 0 {
		return nil
	}
	out := make([]ReplicationStatusType, len(r.Replicas))
	for i, rep := range r.Replicas {
		out[i] = ReplicationStatusType{Region: rep.Region, KmsKeyID: rep.KmsKeyID, Status: rep.Status, StatusMessage: rep.Message, LastAccessedDate: epochOrNil(rep.Accessed)}
		if out[i].KmsKeyID == "" {
			out[i].KmsKeyID = "alias/aws/secretsmanager"
		}
	}
	return out
}

// ReplicateSecretToRegions adds replicas of a primary secret.
func (s *Service) ReplicateSecretToRegions(ctx context.Context, c *auth.Caller, in *ReplicateSecretToRegionsInput) (*ReplicationOutput, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if len(in.AddReplicaRegions) == 0 {
		return nil, svcerr.Missing("addReplicaRegions")
	}
	if err := s.checkReplicaRegions(c, in.AddReplicaRegions); err != nil {
		return nil, err
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActReplicateSecretToRegions, func(pc *policy.Context) {
		for _, rr := range in.AddReplicaRegions {
			pc.Add("secretsmanager:AddReplicaRegions", rr.Region)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := notDeleted(r); err != nil {
		return nil, err
	}
	if err := notReplica(r); err != nil {
		return nil, err
	}
	for _, rr := range in.AddReplicaRegions {
		if slices.ContainsFunc(r.Replicas, func(x replica) bool { return x.Region == rr.Region }) {
			return nil, svcerr.New(svcerr.InvalidParameter, "The secret is already replicated to %s.", rr.Region)
		}
	}
	next := r.clone()
	plan, err := s.replicaChanges(ctx, c, next, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, plain{})
	if err != nil {
		return nil, err
	}
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
		if err != nil {
			return nil, err
		}
		if cur.UID != r.UID || len(cur.Versions) != len(r.Versions) || len(cur.Replicas) != len(r.Replicas) {
			return nil, svcerr.New(svcerr.InvalidRequest, "The secret changed while it was being replicated. Retry the request.")
		}
		if err := plan.check(ctx, tx); err != nil {
			return nil, err
		}
		next.Changed = s.now().UTC()
		return plan.merge(&change{put: []*record{next}}), nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &ReplicationOutput{ARN: s.secretARN(r), ReplicationStatus: s.replicationStatus(next)}, nil
}

// RemoveRegionsFromReplication deletes replicas.
func (s *Service) RemoveRegionsFromReplication(ctx context.Context, c *auth.Caller, in *RemoveRegionsFromReplicationInput) (*ReplicationOutput, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if len(in.RemoveReplicaRegions) == 0 {
		return nil, svcerr.Missing("removeReplicaRegions")
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActRemoveRegionsFromReplication, nil)
	if err != nil {
		return nil, err
	}
	if err := notReplica(r); err != nil {
		return nil, err
	}
	var after *record
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
		if err != nil {
			return nil, err
		}
		if cur.UID != r.UID {
			return nil, errNotFound
		}
		ch := &change{put: []*record{cur}}
		for _, region := range in.RemoveReplicaRegions {
			i := slices.IndexFunc(cur.Replicas, func(x replica) bool { return x.Region == region })
			if i < 0 {
				return nil, svcerr.New(svcerr.InvalidParameter, "The secret isn't replicated to %s.", region)
			}
			cur.Replicas = slices.Delete(cur.Replicas, i, i+1)
			if rep, err := getTx(ctx, tx, cur.Account, region, cur.Name); err == nil && rep.UID == cur.UID {
				ch.del = append(ch.del, rep)
			}
		}
		after = cur
		return ch, nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	st := s.replicationStatus(after)
	if st == nil {
		st = []ReplicationStatusType{}
	}
	return &ReplicationOutput{ARN: s.secretARN(r), ReplicationStatus: st}, nil
}
