package keystore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/storage"
)

// ImportParams is one outstanding GetParametersForImport answer: the
// wrapping key pair whose public half the customer wraps material with, and
// what it may be used for. It is stored through the barrier like material,
// since its private key unwraps the customer's key.
type ImportParams struct {
	// Token identifies the set; the import token a client holds names it.
	Token        string            `json:"token"`
	Algorithm    string            `json:"alg"`
	WrappingSpec kmscrypto.KeySpec `json:"spec"`
	Created      time.Time         `json:"created"`
	ValidTo      time.Time         `json:"validTo"`
	// Private is the wrapping key's persisted form (kmscrypto.Key.Marshal).
	Private []byte `json:"priv"`
}

// PutImportParams stores p for the key, first dropping the key's sets that
// expired by now and, beyond keep-1 others, the oldest, so a key never
// holds more than keep sets. The key must exist.
func (s *Store) PutImportParams(ctx context.Context, account, region, id string, p *ImportParams, now time.Time, keep int) error {
	rec, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("keystore: encode import parameters: %w", err)
	}
	defer clear(rec)
	prefix := importPrefix(account, region, id)
	return s.b.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, keyPath(account, region, id)); errors.Is(err, storage.ErrNotFound) {
			return ErrNotFound
		} else if err != nil {
			return err
		}
		ents, err := tx.List(ctx, prefix, "", 0)
		if err != nil {
			return err
		}
		type held struct {
			path    string
			created time.Time
		}
		var live []held
		for _, e := range ents {
			var old ImportParams
			err := json.Unmarshal(e.Value, &old)
			clear(old.Private)
			if err != nil || !old.ValidTo.After(now) {
				if err := tx.Delete(ctx, e.Key); err != nil {
					return err
				}
				continue
			}
			live = append(live, held{e.Key, old.Created})
		}
		slices.SortFunc(live, func(a, b held) int { return a.created.Compare(b.created) })
		for len(live) >= keep {
			if err := tx.Delete(ctx, live[0].path); err != nil {
				return err
			}
			live = live[1:]
		}
		return tx.Put(ctx, prefix+p.Token, rec)
	})
}

// GetImportParams returns the key's import parameter set named token, or
// ErrNotFound. The caller should wipe the returned Private.
func (s *Store) GetImportParams(ctx context.Context, account, region, id, token string) (*ImportParams, error) {
	raw, err := s.b.Get(ctx, importPrefix(account, region, id)+token)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: read import parameters: %w", err)
	}
	defer clear(raw)
	p := new(ImportParams)
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("keystore: decode import parameters: %w", err)
	}
	return p, nil
}

// SetMaterial stores material as the key's current version, atomically with
// the metadata change fn makes (fn sees a copy inside the transaction, must
// set Current and Versions, and may veto with an error). It is how imported
// material arrives, and arrives again after it expired or was deleted.
func (s *Store) SetMaterial(ctx context.Context, account, region, id string, material *kmscrypto.Key, fn func(k *Key) error) (*Key, error) {
	return s.changeMaterial(ctx, account, region, id, fn, func(tx storage.Tx, k *Key) (map[uint32]*kmscrypto.Key, error) {
		if k.Current == 0 {
			return nil, fmt.Errorf("keystore: SetMaterial of %s left no current version", id)
		}
		raw := material.Marshal()
		defer clear(raw)
		return map[uint32]*kmscrypto.Key{k.Current: material}, tx.Put(ctx, matPath(account, region, id, k.Current), raw)
	})
}

// DeleteMaterial deletes every version of the key's material, atomically
// with the metadata change fn makes (fn may veto with an error), and wipes
// the cached copies. The metadata stays: imported material can come back.
func (s *Store) DeleteMaterial(ctx context.Context, account, region, id string, fn func(k *Key) error) (*Key, error) {
	return s.changeMaterial(ctx, account, region, id, fn, func(tx storage.Tx, _ *Key) (map[uint32]*kmscrypto.Key, error) {
		return map[uint32]*kmscrypto.Key{}, deleteAll(ctx, tx, matPrefix(account, region, id))
	})
}

// changeMaterial applies fn to the key and then change to its material, in
// one transaction, and caches the material change returns as the key's
// whole material.
func (s *Store) changeMaterial(ctx context.Context, account, region, id string, fn func(k *Key) error,
	change func(tx storage.Tx, k *Key) (map[uint32]*kmscrypto.Key, error)) (*Key, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	p := keyPath(account, region, id)
	var updated *Key
	var mats map[uint32]*kmscrypto.Key
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		k, err := s.updateTx(ctx, tx, account, region, id, fn)
		if err != nil {
			return err
		}
		updated = k
		mats, err = change(tx, k)
		return err
	})
	if err != nil {
		return nil, err
	}
	s.replaceEntry(p, &entry{key: updated, mats: mats})
	return updated, nil
}

// replaceEntry installs e as the cache entry for p and destroys the material
// the previous entry held (other than what e keeps), so a deleted or
// replaced material does not linger in memory.
func (s *Store) replaceEntry(p string, e *entry) {
	old, ok := s.keys.Swap(p, e)
	if !ok {
		return
	}
	o := old.(*entry)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range o.mats {
		keep := false
		for _, n := range e.mats {
			keep = keep || m == n
		}
		if !keep {
			m.Destroy()
		}
	}
	o.mats = nil
}
