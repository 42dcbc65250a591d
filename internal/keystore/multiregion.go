package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/storage"
)

// Multi-Region key types, spelled as AWS's MultiRegionKeyType enum.
const (
	MultiRegionPrimary = "PRIMARY"
	MultiRegionReplica = "REPLICA"
)

// The methods in this file change a set of related multi-Region keys (one
// key ID, one account, one key per region) in one storage transaction: the
// keys share their material and their view of the set, and a reader must
// never see one key of the set changed and another not. Each key's material
// is stored under its own region's prefix only, so a region holds material
// exactly for the keys that exist in it.

// Peers returns the regions of the other keys in k's set of related
// multi-Region keys: the primary's first (unless k is the primary), then the
// replicas' in order. A single-Region key has none.
func (k *Key) Peers() []string {
	var out []string
	if k.PrimaryRegion != "" && k.PrimaryRegion != k.Region {
		out = append(out, k.PrimaryRegion)
	}
	for _, r := range k.ReplicaRegions {
		if r != k.Region {
			out = append(out, r)
		}
	}
	return out
}

// readKey reads and decodes one key inside tx.
func readKey(ctx context.Context, tx storage.Tx, account, region, id string) (*Key, error) {
	raw, err := tx.Get(ctx, keyPath(account, region, id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	k := new(Key)
	if err := json.Unmarshal(raw, k); err != nil {
		return nil, fmt.Errorf("keystore: decode key %s: %w", id, err)
	}
	return k, nil
}

// readSet reads a key and every peer it names inside tx. A named peer that
// does not exist means the set's bookkeeping is broken; that is reported,
// never silently skipped, because every change to a set is one transaction.
func readSet(ctx context.Context, tx storage.Tx, account, region, id string) (*Key, []*Key, error) {
	k, err := readKey(ctx, tx, account, region, id)
	if err != nil {
		return nil, nil, err
	}
	var peers []*Key
	for _, r := range k.Peers() {
		p, err := readKey(ctx, tx, account, r, id)
		if errors.Is(err, ErrNotFound) {
			return nil, nil, fmt.Errorf("keystore: key %s in %s names a related key in %s that does not exist", id, region, r)
		}
		if err != nil {
			return nil, nil, err
		}
		peers = append(peers, p)
	}
	return k, peers, nil
}

// putKeys encodes and stores keys inside tx.
func putKeys(ctx context.Context, tx storage.Tx, keys ...*Key) error {
	for _, k := range keys {
		rec, err := json.Marshal(k)
		if err != nil {
			return fmt.Errorf("keystore: encode key: %w", err)
		}
		if err := tx.Put(ctx, keyPath(k.Account, k.Region, k.ID), rec); err != nil {
			return err
		}
	}
	return nil
}

// UpdateSet applies fn to copies of a key and of every related multi-Region
// key it names (its peers), and stores all of them in one transaction; it
// returns the stored key and peers. If fn returns an error nothing is
// written and that error is returned. For a single-Region key it is Update
// with an empty peer list.
func (s *Store) UpdateSet(ctx context.Context, account, region, id string, fn func(k *Key, peers []*Key) error) (*Key, []*Key, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var k *Key
	var peers []*Key
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		var err error
		k, peers, err = readSet(ctx, tx, account, region, id)
		if err != nil {
			return err
		}
		if err := fn(k, peers); err != nil {
			return err
		}
		return putKeys(ctx, tx, append([]*Key{k}, peers...)...)
	})
	if err != nil {
		return nil, nil, err
	}
	s.refresh(append([]*Key{k}, peers...)...)
	return k, peers, nil
}

// AddSharedVersion stores material as a new version of a key and of every
// related multi-Region key it names, each copy under its own region's
// prefix, and makes it current in all of them, in one transaction: every
// key of the set gets the same version number and Version record (so the
// same KeyMaterialId). fn sees the key, its peers and the new version inside
// the transaction and may veto the change (returning an error) or adjust
// them (the version's Rotation, the keys' schedules). It returns the updated
// key. A single-Region key is a set of one: rotation uses this for every
// key.
func (s *Store) AddSharedVersion(ctx context.Context, account, region, id string, material *kmscrypto.Key, now time.Time, fn func(k *Key, peers []*Key, v *Version) error) (*Key, error) {
	mid, err := newMaterialID()
	if err != nil {
		return nil, err
	}
	raw := material.Marshal()
	defer clear(raw)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var all []*Key
	err = s.b.Update(ctx, func(tx storage.Tx) error {
		k, peers, err := readSet(ctx, tx, account, region, id)
		if err != nil {
			return err
		}
		all = append([]*Key{k}, peers...)
		// The set's version lists are equal; max over all of them keeps the
		// new number unused in every region even if they were not.
		var next uint32 = 1
		for _, x := range all {
			for _, v := range x.Versions {
				next = max(next, v.Number+1)
			}
		}
		v := Version{Number: next, Created: now, MaterialID: mid}
		if fn != nil {
			if err := fn(k, peers, &v); err != nil {
				return err
			}
		}
		for _, x := range all {
			x.Versions = append(x.Versions, v)
			x.Current = next
			if err := tx.Put(ctx, matPath(account, x.Region, id, next), raw); err != nil {
				return err
			}
		}
		return putKeys(ctx, tx, all...)
	})
	if err != nil {
		return nil, err
	}
	s.refresh(all...)
	return all[0], nil
}

// Replicate creates a replica of the multi-Region key id of region in
// replica.Region, in one transaction: the new key gets the source key's ID,
// account, key spec and version list, and a copy of every version of its
// material (same version numbers, same MaterialIDs) stored under the replica
// region's prefix. The other fields come from replica (description, policy,
// tags, creation date, state) and from fn, which sees the source key, its
// peers and the new replica inside the transaction: fn must record the new
// region in the set's lists (on all of them) and copy whatever else the set
// shares, or veto with an error. ErrExists means the replica region already
// holds a key with this ID. It returns the stored replica.
func (s *Store) Replicate(ctx context.Context, account, region, id string, replica *Key, fn func(src *Key, peers []*Key, replica *Key) error) (*Key, error) {
	template := replica.Clone()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var all []*Key
	var copies [][]byte
	// Plaintext material read inside the transaction is wiped once the
	// transaction is over (a backend may hold the slices until commit).
	defer func() {
		for _, c := range copies {
			clear(c)
		}
	}()
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		src, peers, err := readSet(ctx, tx, account, region, id)
		if err != nil {
			return err
		}
		rep := template.Clone()
		rep.ID, rep.Account, rep.Spec = id, account, src.Spec
		rep.Versions = append([]Version(nil), src.Versions...)
		rep.Current = src.Current
		// fn first: its verdict on the source key (state, role) comes
		// before whether the replica exists.
		if err := fn(src, peers, rep); err != nil {
			return err
		}
		if _, err := tx.Get(ctx, keyPath(account, template.Region, id)); err == nil {
			return ErrExists
		} else if !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if rep.ID != id || rep.Account != account || rep.Region != template.Region {
			return fmt.Errorf("keystore: replicate: fn changed the replica's identity")
		}
		for _, v := range src.Versions {
			m, err := tx.Get(ctx, matPath(account, region, id, v.Number))
			if err != nil {
				return fmt.Errorf("keystore: read material of %s v%d: %w", id, v.Number, err)
			}
			copies = append(copies, m)
			if err := tx.Put(ctx, matPath(account, rep.Region, id, v.Number), m); err != nil {
				return err
			}
		}
		all = append(append([]*Key{src}, peers...), rep)
		return putKeys(ctx, tx, all...)
	})
	if err != nil {
		return nil, err
	}
	s.refresh(all...)
	return all[len(all)-1], nil
}
