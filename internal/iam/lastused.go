package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/storage"
)

// LastUsed is what IAM's GetAccessKeyLastUsed reports for an access key:
// when it last signed a request, for which service and in which region;
// plus, for posture, its last use for a service other than iam, sts and arca
// (a "routine" call, such as a KMS operation; see routine).
type LastUsed struct {
	Date    time.Time `json:"date,omitzero"`
	Service string    `json:"service,omitempty"`
	Region  string    `json:"region,omitempty"`
	// RoutineDate and RoutineService are the last use for a service other
	// than iam, sts and arca.
	RoutineDate    time.Time `json:"routineDate,omitzero"`
	RoutineService string    `json:"routineService,omitempty"`
}

func lastUsedPath(id string) string { return "iam/accesskey-used/" + id }

// usage tracks last use in memory. NoteUsed runs on every authenticated
// request, so it only updates a map entry under a mutex, and allocates
// only when a key first appears; FlushLastUsed writes the changed entries
// to storage, periodically and at shutdown (AWS too reports last use with
// a delay). A crash loses at most one flush interval of last-used dates.
type usage struct {
	mu    sync.Mutex
	m     map[string]*usageEntry
	dirty map[string]bool
}

type usageEntry struct {
	lu LastUsed
}

// routine reports whether a call to service is a routine call: anything
// but identity administration (iam, sts) and Arca's own reports (arca).
func routine(service string) bool { return service != "iam" && service != "sts" && service != "arca" }

// NoteUsed records that access key id signed a request for service in
// region at t. Dates are kept to the second; a use in the same second for
// the same service and region changes nothing.
func (s *Store) NoteUsed(id, service, region string, t time.Time) {
	t = t.UTC().Truncate(time.Second)
	u := &s.usage
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m, u.dirty = map[string]*usageEntry{}, map[string]bool{}
	}
	e := u.m[id]
	if e == nil {
		e = &usageEntry{}
		u.m[id] = e
	}
	if !t.After(e.lu.Date) && e.lu.Service == service && e.lu.Region == region {
		return
	}
	if !t.Before(e.lu.Date) {
		e.lu.Date, e.lu.Service, e.lu.Region = t, service, region
	}
	if routine(service) && t.After(e.lu.RoutineDate) {
		e.lu.RoutineDate, e.lu.RoutineService = t, service
	}
	u.dirty[id] = true
}

// FlushLastUsed writes the last-used records changed since the previous
// flush, merged with what storage holds (another node may have flushed a
// later use), in one transaction.
func (s *Store) FlushLastUsed(ctx context.Context) error {
	u := &s.usage
	u.mu.Lock()
	pending := make(map[string]LastUsed, len(u.dirty))
	for id := range u.dirty {
		pending[id] = u.m[id].lu
	}
	u.dirty = map[string]bool{}
	u.mu.Unlock()
	if len(pending) == 0 {
		return nil
	}
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		for id, lu := range pending {
			old, err := getJSON[LastUsed](ctx, tx, lastUsedPath(id), ErrNotFound)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
			if old != nil {
				lu = mergeLastUsed(*old, lu)
			}
			if err := putJSON(ctx, tx, lastUsedPath(id), &lu); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		// Mark them again so the next flush retries.
		u.mu.Lock()
		for id := range pending {
			u.dirty[id] = true
		}
		u.mu.Unlock()
		return fmt.Errorf("iam: flush last used: %w", err)
	}
	return nil
}

func mergeLastUsed(a, b LastUsed) LastUsed {
	out := a
	if b.Date.After(a.Date) {
		out.Date, out.Service, out.Region = b.Date, b.Service, b.Region
	}
	if b.RoutineDate.After(a.RoutineDate) {
		out.RoutineDate, out.RoutineService = b.RoutineDate, b.RoutineService
	}
	return out
}

// AccessKeyLastUsed returns key id's last use: storage merged with what
// this process saw and has not flushed yet. A key never used has a zero
// Date.
func (s *Store) AccessKeyLastUsed(ctx context.Context, id string) (LastUsed, error) {
	var out LastUsed
	stored, err := getJSON[LastUsed](ctx, s.b, lastUsedPath(id), ErrNotFound)
	switch {
	case err == nil:
		out = *stored
	case !errors.Is(err, ErrNotFound):
		return out, err
	}
	s.usage.mu.Lock()
	if e := s.usage.m[id]; e != nil {
		out = mergeLastUsed(out, e.lu)
	}
	s.usage.mu.Unlock()
	return out, nil
}

// EachAccessKey calls fn for every access key of account (root and users'
// keys), without its secret.
func (s *Store) EachAccessKey(ctx context.Context, account string, fn func(ak *AccessKey) error) error {
	after := ""
	for {
		ents, err := s.b.List(ctx, "iam/accesskey/", after, 256)
		if err != nil {
			return fmt.Errorf("iam: list access keys: %w", err)
		}
		for _, e := range ents {
			after = e.Key
			ak := new(AccessKey)
			if err := json.Unmarshal(e.Value, ak); err != nil {
				return fmt.Errorf("iam: decode access key: %w", err)
			}
			clear(ak.Secret)
			ak.Secret = nil
			if ak.Account != account {
				continue
			}
			if err := fn(ak); err != nil {
				return err
			}
		}
		if len(ents) < 256 {
			return nil
		}
	}
}

// AccessKeyInfo returns access key id's record without its secret, or
// ErrNoSuchAccessKey.
func (s *Store) AccessKeyInfo(ctx context.Context, id string) (*AccessKey, error) {
	ak, err := getJSON[AccessKey](ctx, s.b, akPath(id), ErrNoSuchAccessKey)
	if err != nil {
		return nil, err
	}
	clear(ak.Secret)
	ak.Secret = nil
	return ak, nil
}
