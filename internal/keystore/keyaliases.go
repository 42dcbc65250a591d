package keystore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// KeyAliases returns the names of the aliases that point at a key, sorted:
// the kms:ResourceAliases condition key, evaluated on every operation on the
// key. Each key's list is cached (the empty list too), so a hit is a read
// lock and a map lookup with no allocation; alias writes and the key's
// destruction drop the lists they change. A miss reads storage under the
// write mutex, so it cannot install a list older than a concurrent write.
// The returned slice is shared and must not be modified.
func (s *Store) KeyAliases(ctx context.Context, account, region, keyID string) ([]string, error) {
	if err := s.gated(); err != nil {
		return nil, err
	}
	k := grantKey{account, region, keyID}
	if v, ok := s.cachedKeyAliases(k); ok {
		return v, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if v, ok := s.cachedKeyAliases(k); ok {
		return v, nil
	}
	gen := s.gen.Load()
	ents, err := s.b.List(ctx, aliasPrefix(account, region), "", 0)
	if err != nil {
		return nil, fmt.Errorf("keystore: list aliases: %w", err)
	}
	var names []string
	for _, e := range ents {
		var a Alias
		if err := json.Unmarshal(e.Value, &a); err != nil {
			return nil, fmt.Errorf("keystore: decode alias: %w", err)
		}
		if a.TargetKeyID == keyID {
			names = append(names, a.Name)
		}
	}
	slices.Sort(names)
	s.cacheIf(gen, func() {
		s.keyAliasMu.Lock()
		if s.keyAliases == nil {
			s.keyAliases = map[grantKey][]string{}
		}
		s.keyAliases[k] = names
		s.keyAliasMu.Unlock()
	})
	return names, nil
}

func (s *Store) cachedKeyAliases(k grantKey) ([]string, bool) {
	s.keyAliasMu.RLock()
	v, ok := s.keyAliases[k]
	s.keyAliasMu.RUnlock()
	return v, ok
}

// dropKeyAliases forgets the cached alias lists of keys whose aliases
// changed. Call it under writeMu, after the write committed.
func (s *Store) dropKeyAliases(account, region string, keyIDs ...string) {
	s.keyAliasMu.Lock()
	for _, id := range keyIDs {
		delete(s.keyAliases, grantKey{account, region, id})
	}
	s.keyAliasMu.Unlock()
}

// dropAllKeyAliases forgets every cached alias list: another node changed
// an alias, and its path does not say which keys it pointed at.
func (s *Store) dropAllKeyAliases() {
	s.keyAliasMu.Lock()
	clear(s.keyAliases)
	s.keyAliasMu.Unlock()
}
