// Package auditkey keeps the audit log's Ed25519 checkpoint signing keys
// under the barrier, at core/audit/signing-key/ID: the newest is the one
// the log signs with; older keys stay so that their public halves keep
// verifying the checkpoints they signed.
package auditkey

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/storage"
)

// Prefix is where the keys are stored (every value sealed by the barrier).
const Prefix = "core/audit/signing-key/"

// Backend is the storage the keys live in: the barrier.
type Backend interface {
	storage.Reader
	Update(ctx context.Context, fn func(tx storage.Tx) error) error
}

// Store reads, creates and rotates signing keys.
type Store struct {
	b   Backend
	now func() time.Time
	mu  sync.Mutex
}

// New returns a Store over b.
func New(b Backend) *Store { return &Store{b: b, now: time.Now} }

// record is a key's stored form. Created orders keys; the newest signs.
type record struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Seed    []byte    `json:"seed"`
}

// Key is one signing key's public half.
type Key struct {
	ID      string
	Created time.Time
	Public  ed25519.PublicKey
	Current bool
}

func (s *Store) list(ctx context.Context) ([]record, error) {
	var out []record
	after := ""
	for {
		ents, err := s.b.List(ctx, Prefix, after, 100)
		if err != nil {
			return nil, fmt.Errorf("auditkey: %w", err)
		}
		for _, e := range ents {
			var r record
			if err := json.Unmarshal(e.Value, &r); err != nil || len(r.Seed) != ed25519.SeedSize {
				return nil, fmt.Errorf("auditkey: %s is not a signing key record", e.Key)
			}
			out = append(out, r)
			after = e.Key
		}
		if len(ents) < 100 {
			break
		}
	}
	slices.SortFunc(out, func(a, b record) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return cmpString(a.ID, b.ID)
	})
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Current returns the signing key, generating the first one if there is none.
func (s *Store) Current(ctx context.Context) (ed25519.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	if len(recs) > 0 {
		return ed25519.NewKeyFromSeed(recs[len(recs)-1].Seed), nil
	}
	return s.create(ctx, time.Time{})
}

// Rotate creates a new signing key, newer than every existing one, and
// returns it. The old keys are kept.
func (s *Store) Rotate(ctx context.Context) (ed25519.PrivateKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	var after time.Time
	if len(recs) > 0 {
		after = recs[len(recs)-1].Created
	}
	return s.create(ctx, after)
}

func (s *Store) create(ctx context.Context, after time.Time) (ed25519.PrivateKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	created := s.now().UTC()
	if !created.After(after) {
		created = after.Add(time.Nanosecond)
	}
	r := record{ID: audit.KeyID(pub), Created: created, Seed: priv.Seed()}
	b, err := json.Marshal(&r)
	if err != nil {
		return nil, err
	}
	err = s.b.Update(ctx, func(tx storage.Tx) error {
		if _, err := tx.Get(ctx, Prefix+r.ID); err == nil {
			return errors.New("auditkey: key ID collision")
		}
		return tx.Put(ctx, Prefix+r.ID, b)
	})
	if err != nil {
		return nil, fmt.Errorf("auditkey: store: %w", err)
	}
	return priv, nil
}

// Public returns every key's public half, oldest first; the last is current.
func (s *Store) Public(ctx context.Context) ([]Key, error) {
	recs, err := s.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Key, len(recs))
	for i, r := range recs {
		pub := ed25519.NewKeyFromSeed(r.Seed).Public().(ed25519.PublicKey)
		out[i] = Key{ID: r.ID, Created: r.Created, Public: pub, Current: i == len(recs)-1}
	}
	return out, nil
}

// PEM encodes keys as PUBLIC KEY blocks with their ID and creation time as
// headers: the file `arca audit verify --public-key` reads.
func PEM(keys []Key) []byte {
	var out []byte
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k.Public)
		if err != nil {
			continue
		}
		h := map[string]string{"Key-Id": k.ID, "Created": k.Created.Format(time.RFC3339)}
		if k.Current {
			h["Current"] = "true"
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: h, Bytes: der})...)
	}
	return out
}

// ParsePEM reads every Ed25519 PUBLIC KEY block of data.
func ParsePEM(data []byte) ([]ed25519.PublicKey, error) {
	var out []ed25519.PublicKey
	for {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("auditkey: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("auditkey: a PUBLIC KEY block is not an Ed25519 key")
		}
		out = append(out, ek)
	}
	if len(out) == 0 {
		return nil, errors.New("auditkey: no Ed25519 PUBLIC KEY block found")
	}
	return out, nil
}
