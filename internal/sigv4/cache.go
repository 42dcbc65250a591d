package sigv4

import (
	"crypto/sha256"
	"sync"
)

// keyCacheMax bounds the signing-key cache. Keys are per access key and
// day, so a deployment needs about one entry per active access key (two
// around midnight UTC); a cache that fills up is simply emptied.
const keyCacheMax = 4096

// cacheKey identifies a derived signing key. The secret is represented by
// its SHA-256, never by itself, so that no plaintext secret lives in the
// map, and so that a rotated secret finds no stale key.
type cacheKey struct {
	akid, date, region, service string
	secret                      [sha256.Size]byte
}

func newCacheKey(akid string, secret []byte, date, region, service string) cacheKey {
	return cacheKey{akid: akid, date: date, region: region, service: service, secret: sha256.Sum256(secret)}
}

// keyCache memoizes DeriveSigningKey. Reads, the hot path, share a read
// lock; the zero value is ready to use.
type keyCache struct {
	mu sync.RWMutex
	m  map[cacheKey][]byte
}

func (c *keyCache) get(k cacheKey) ([]byte, bool) {
	c.mu.RLock()
	key, ok := c.m[k]
	c.mu.RUnlock()
	return key, ok
}

// put stores key. The strings of k are cloned because they are slices of
// request headers, which a cached key must not keep alive.
func (c *keyCache) put(k cacheKey, key []byte) {
	k.akid, k.date = clone(k.akid), clone(k.date)
	k.region, k.service = clone(k.region), clone(k.service)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= keyCacheMax {
		c.m = make(map[cacheKey][]byte)
	}
	c.m[k] = key
}

func (c *keyCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

func clone(s string) string { return string([]byte(s)) }
