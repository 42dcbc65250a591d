package keystore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/storage"
)

// Grant is a KMS grant: permission for a grantee principal to use one key in
// the listed operations, optionally only with a given encryption context.
// A *Grant handed out by the store is a shared, immutable snapshot.
type Grant struct {
	// ID is the GrantId: 64 hex digits from crypto/rand.
	ID string `json:"id"`
	// KeyARN is the ARN of the key the grant is for; Account, Region and
	// KeyID name the same key for storage.
	KeyARN  string `json:"keyArn"`
	Account string `json:"account"`
	Region  string `json:"region"`
	KeyID   string `json:"keyId"`
	// Name is the optional friendly name that makes CreateGrant idempotent.
	Name    string    `json:"name,omitempty"`
	Created time.Time `json:"created"`
	// Grantee and Retiring are the GranteePrincipal and RetiringPrincipal.
	Grantee  string `json:"grantee"`
	Retiring string `json:"retiring,omitempty"`
	// IssuingAccount is arn:PARTITION:iam::ACCOUNT:root of the account the
	// grant was created in.
	IssuingAccount string `json:"issuer"`
	// Operations are AWS GrantOperation names (Encrypt, ReEncryptFrom, ...),
	// sorted.
	Operations []string `json:"ops"`
	// Subset and Equals are the encryption-context constraints
	// (EncryptionContextSubset, EncryptionContextEquals); nil when absent.
	// They are stored without omitempty: an empty Equals (the request must
	// have no context) differs from no constraint.
	Subset map[string]string `json:"ecSubset"`
	Equals map[string]string `json:"ecEquals"`
	// Secret keys the HMAC of the grant's tokens. It never leaves the
	// barrier except as a token's MAC.
	Secret []byte `json:"secret"`
}

// Allows reports whether the grant lists the grant operation op.
func (g *Grant) Allows(op string) bool {
	_, ok := slices.BinarySearch(g.Operations, op)
	return ok
}

// GrantSet is one key's grants: an immutable snapshot, sorted by ID, with an
// index by grantee so authorization scans only the caller's grants.
type GrantSet struct {
	all       []*Grant
	byGrantee map[string][]*Grant
}

// emptyGrants is the set of every key without grants, so such a key costs
// no allocation.
var emptyGrants = &GrantSet{}

func newGrantSet(gs []*Grant) *GrantSet {
	if len(gs) == 0 {
		return emptyGrants
	}
	slices.SortFunc(gs, func(a, b *Grant) int { return strings.Compare(a.ID, b.ID) })
	s := &GrantSet{all: gs, byGrantee: make(map[string][]*Grant, len(gs))}
	for _, g := range gs {
		s.byGrantee[g.Grantee] = append(s.byGrantee[g.Grantee], g)
	}
	return s
}

// Len is the number of grants.
func (s *GrantSet) Len() int { return len(s.all) }

// All returns the grants in GrantId order. Callers must not modify it.
func (s *GrantSet) All() []*Grant { return s.all }

// For returns the grants whose grantee is exactly principal.
func (s *GrantSet) For(principal string) []*Grant {
	if len(s.all) == 0 || principal == "" {
		return nil
	}
	return s.byGrantee[principal]
}

// Get returns the grant with the given ID, or nil.
func (s *GrantSet) Get(id string) *Grant {
	i, ok := slices.BinarySearchFunc(s.all, id, func(g *Grant, id string) int { return strings.Compare(g.ID, id) })
	if !ok {
		return nil
	}
	return s.all[i]
}

// grantKey names a key in the grants cache.
type grantKey struct{ account, region, id string }

func (s *Store) cachedGrants(account, region, keyID string) (*GrantSet, bool) {
	s.grantsMu.RLock()
	set, ok := s.grants[grantKey{account, region, keyID}]
	s.grantsMu.RUnlock()
	return set, ok
}

// setGrants installs a key's grants; callers hold writeMu, so sets are
// installed in commit order.
func (s *Store) setGrants(account, region, keyID string, set *GrantSet) {
	s.grantsMu.Lock()
	s.grants[grantKey{account, region, keyID}] = set
	s.grantsMu.Unlock()
}

func (s *Store) dropGrants(account, region, keyID string) {
	s.grantsMu.Lock()
	delete(s.grants, grantKey{account, region, keyID})
	s.grantsMu.Unlock()
}

func grantPrefix(account, region, keyID string) string {
	return "kms/" + account + "/" + region + "/grant/" + keyID + "/"
}

// retirePrefix is the secondary index behind ListRetirableGrants: one entry
// per grant with a retiring principal, under the region and a hash of the
// principal (principals contain '/', and their length varies), holding a
// copy of the grant so listing needs no second read.
func retirePrefix(region, principal string) string {
	h := sha256.Sum256([]byte(principal))
	return "kms/retiring/" + region + "/" + hex.EncodeToString(h[:]) + "/"
}

func retirePath(g *Grant) string {
	return retirePrefix(g.Region, g.Retiring) + g.Account + "/" + g.KeyID + "/" + g.ID
}

// Grants returns the key's grants. After the first call for a key it is one
// map lookup. A miss reads storage under the write mutex, so it can never
// install a snapshot older than a concurrent write's (or resurrect the grants
// of a key deleted meanwhile); misses happen once per key and process.
func (s *Store) Grants(ctx context.Context, account, region, keyID string) (*GrantSet, error) {
	if err := s.gated(); err != nil {
		return nil, err
	}
	if set, ok := s.cachedGrants(account, region, keyID); ok {
		return set, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.grantsLocked(ctx, s.b, account, region, keyID)
}

// grantsLocked returns the cached set or reads it through r and caches it.
// Callers hold writeMu.
func (s *Store) grantsLocked(ctx context.Context, r storage.Reader, account, region, keyID string) (*GrantSet, error) {
	if set, ok := s.cachedGrants(account, region, keyID); ok {
		return set, nil
	}
	gen := s.gen.Load()
	ents, err := r.List(ctx, grantPrefix(account, region, keyID), "", 0)
	if err != nil {
		return nil, fmt.Errorf("keystore: list grants: %w", err)
	}
	gs := make([]*Grant, 0, len(ents))
	for _, e := range ents {
		g := new(Grant)
		if err := json.Unmarshal(e.Value, g); err != nil {
			return nil, fmt.Errorf("keystore: decode grant %s: %w", e.Key, err)
		}
		gs = append(gs, g)
	}
	set := newGrantSet(gs)
	s.cacheIf(gen, func() { s.setGrants(account, region, keyID, set) })
	return set, nil
}

// AddGrant runs decide on the key (read inside the transaction) and its
// current grants; decide returns the grant to store, or an existing grant to
// return without writing (an idempotent retry), or an error that aborts
// (for instance the key's state or the per-key quota). It returns the grant
// and whether it was newly stored.
func (s *Store) AddGrant(ctx context.Context, account, region, keyID string,
	decide func(k *Key, grants *GrantSet) (g *Grant, isNew bool, err error)) (*Grant, bool, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var (
		out   *Grant
		isNew bool
		next  *GrantSet
	)
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		k, err := readKey(ctx, tx, account, region, keyID)
		if err != nil {
			return err
		}
		set, err := s.grantsLocked(ctx, tx, account, region, keyID)
		if err != nil {
			return err
		}
		out, isNew, err = decide(k, set)
		if err != nil || !isNew {
			return err
		}
		rec, err := json.Marshal(out)
		if err != nil {
			return fmt.Errorf("keystore: encode grant: %w", err)
		}
		if err := tx.Put(ctx, grantPrefix(account, region, keyID)+out.ID, rec); err != nil {
			return err
		}
		if out.Retiring != "" {
			if err := tx.Put(ctx, retirePath(out), rec); err != nil {
				return err
			}
		}
		next = newGrantSet(append(slices.Clone(set.all), out))
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if next != nil {
		s.setGrants(account, region, keyID, next)
	}
	return out, isNew, nil
}

// DeleteGrant deletes the key's grant id if check (run inside the
// transaction on the key and the grant) approves. It returns ErrNotFound
// when the key or the grant does not exist.
func (s *Store) DeleteGrant(ctx context.Context, account, region, keyID, id string, check func(k *Key, g *Grant) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	var next *GrantSet
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		k, err := readKey(ctx, tx, account, region, keyID)
		if err != nil {
			return err
		}
		set, err := s.grantsLocked(ctx, tx, account, region, keyID)
		if err != nil {
			return err
		}
		g := set.Get(id)
		if g == nil {
			return ErrNotFound
		}
		if check != nil {
			if err := check(k, g); err != nil {
				return err
			}
		}
		if err := deleteGrantTx(ctx, tx, g); err != nil {
			return err
		}
		next = newGrantSet(slices.DeleteFunc(slices.Clone(set.all), func(o *Grant) bool { return o.ID == id }))
		return nil
	})
	if err != nil {
		return err
	}
	s.setGrants(account, region, keyID, next)
	return nil
}

func deleteGrantTx(ctx context.Context, tx storage.Tx, g *Grant) error {
	if g.Retiring != "" {
		if err := tx.Delete(ctx, retirePath(g)); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return tx.Delete(ctx, grantPrefix(g.Account, g.Region, g.KeyID)+g.ID)
}

// deleteKeyGrants deletes every grant of a key and its retiring-index
// entries, inside a destroying transaction.
func deleteKeyGrants(ctx context.Context, tx storage.Tx, account, region, keyID string) error {
	ents, err := tx.List(ctx, grantPrefix(account, region, keyID), "", 0)
	if err != nil {
		return err
	}
	for _, e := range ents {
		var g Grant
		if err := json.Unmarshal(e.Value, &g); err != nil {
			return fmt.Errorf("keystore: decode grant %s: %w", e.Key, err)
		}
		if err := deleteGrantTx(ctx, tx, &g); err != nil {
			return err
		}
	}
	return nil
}

// RetirableGrants returns up to limit grants in the region, in any account,
// whose retiring principal is principal, after the position `after` (a
// value of RetirableMarker, "" for the start), in a stable order.
func (s *Store) RetirableGrants(ctx context.Context, region, principal, after string, limit int) ([]*Grant, error) {
	prefix := retirePrefix(region, principal)
	start := ""
	if after != "" {
		start = prefix + after
	}
	ents, err := s.b.List(ctx, prefix, start, limit)
	if err != nil {
		return nil, fmt.Errorf("keystore: list retirable grants: %w", err)
	}
	out := make([]*Grant, 0, len(ents))
	for _, e := range ents {
		g := new(Grant)
		if err := json.Unmarshal(e.Value, g); err != nil {
			return nil, fmt.Errorf("keystore: decode grant %s: %w", e.Key, err)
		}
		out = append(out, g)
	}
	return out, nil
}

// RetirableMarker is the position of g in its retiring principal's listing.
func RetirableMarker(g *Grant) string { return g.Account + "/" + g.KeyID + "/" + g.ID }
