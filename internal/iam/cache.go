package iam

import "sync"

// cache is a read-through cache that writers invalidate after they commit.
//
// Readers never overwrite a newer state with an older one: a reader notes
// the slot it saw (nil when there was none), reads storage, and installs
// what it read only if that slot is still in place. A writer, after its
// transaction commits, installs a fresh invalid slot, so a reader that read
// storage before the commit finds its slot replaced and caches nothing. That
// is what makes a deleted or deactivated credential stop working at once:
// the next request after the write returns reads storage again.
//
// Lookups take a read lock and allocate nothing. Invalid slots of deleted
// entries stay in the map (a few bytes each); removing them would reopen the
// race above.
type cache[V any] struct {
	mu sync.RWMutex
	m  map[string]*slot[V]
	// gen counts invalidateAll calls: a reader that saw no slot must not
	// install what it read before the whole map was dropped.
	gen uint64
}

// ticket is what a reader saw before reading storage.
type ticket[V any] struct {
	s   *slot[V]
	gen uint64
}

type slot[V any] struct {
	v     V
	valid bool
}

// get returns the cached value of k, or the slot the caller must pass to
// fill once it has read storage.
func (c *cache[V]) get(k string) (v V, ok bool, seen ticket[V]) {
	c.mu.RLock()
	s, gen := c.m[k], c.gen
	c.mu.RUnlock()
	if s != nil && s.valid {
		return s.v, true, ticket[V]{}
	}
	return v, false, ticket[V]{s: s, gen: gen}
}

// fill caches v for k unless a writer has invalidated k since the caller's
// get returned seen.
func (c *cache[V]) fill(k string, seen ticket[V], v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[k] != seen.s || c.gen != seen.gen {
		return
	}
	if c.m == nil {
		c.m = map[string]*slot[V]{}
	}
	c.m[k] = &slot[V]{v: v, valid: true}
}

// invalidate forgets k. Call it after the write that changed k committed.
func (c *cache[V]) invalidate(keys ...string) {
	if len(keys) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]*slot[V]{}
	}
	for _, k := range keys {
		if k != "" {
			c.m[k] = &slot[V]{}
		}
	}
}

// invalidateAll forgets every key, for changes made by another node that
// are not worth mapping to cache keys one by one.
func (c *cache[V]) invalidateAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.m = nil
}
