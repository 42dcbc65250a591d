// Package iam keeps identities and their credentials: for now, each
// account's root access key. Users, roles and STS sessions extend it.
//
// It stores through the barrier (consumed as a small interface) and imports
// auth, storage and svcerr; never a transport package.
package iam

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/svcerr"
)

// ErrNotFound is returned for an unknown or inactive access key.
var ErrNotFound = errors.New("iam: not found")

// Backend is what the store needs from the barrier.
type Backend interface {
	storage.Reader
	storage.Writer
	Update(ctx context.Context, fn func(tx storage.Tx) error) error
}

// accessKey is the stored form of an access key.
type accessKey struct {
	ID      string             `json:"id"`
	Secret  []byte             `json:"secret"`
	Account string             `json:"account"`
	Type    auth.PrincipalType `json:"type"`
	ARN     string             `json:"arn"`
	UserID  string             `json:"userId"`
	Active  bool               `json:"active"`
	Created time.Time          `json:"created"`
}

// Store is the identity store. It is safe for concurrent use.
type Store struct {
	b         Backend
	partition string
	cache     sync.Map // access key ID -> *accessKey
}

// New returns a Store over b for the given ARN partition.
func New(b Backend, partition string) *Store {
	return &Store{b: b, partition: partition}
}

func akPath(id string) string            { return "iam/accesskey/" + id }
func rootPath(account string) string     { return "iam/account/" + account + "/root-access-key" }
func (s *Store) rootARN(a string) string { return "arn:" + s.partition + ":iam::" + a + ":root" }

// EnsureRootAccessKey makes id/secret the root access key of account. With
// an empty id, it returns the existing root key or generates one. It returns
// the key ID and secret in effect.
func (s *Store) EnsureRootAccessKey(ctx context.Context, account, id string, secret []byte) (string, []byte, error) {
	var outID string
	var outSecret []byte
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		cur, err := tx.Get(ctx, rootPath(account))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if id == "" && len(cur) > 0 {
			raw, err := tx.Get(ctx, akPath(string(cur)))
			if err != nil {
				return fmt.Errorf("iam: root key record: %w", err)
			}
			var ak accessKey
			if err := json.Unmarshal(raw, &ak); err != nil {
				return err
			}
			outID, outSecret = ak.ID, ak.Secret
			return nil
		}
		if id == "" {
			if id, secret, err = NewAccessKey(); err != nil {
				return err
			}
		}
		if len(cur) > 0 && string(cur) != id {
			if err := tx.Delete(ctx, akPath(string(cur))); err != nil {
				return err
			}
			s.cache.Delete(string(cur))
		}
		ak := accessKey{ID: id, Secret: secret, Account: account, Type: auth.Root,
			ARN: s.rootARN(account), UserID: account, Active: true, Created: time.Now().UTC()}
		rec, err := json.Marshal(&ak)
		if err != nil {
			return err
		}
		if err := tx.Put(ctx, akPath(id), rec); err != nil {
			return err
		}
		outID, outSecret = id, secret
		return tx.Put(ctx, rootPath(account), []byte(id))
	})
	if err != nil {
		return "", nil, fmt.Errorf("iam: ensure root access key: %w", err)
	}
	s.cache.Delete(outID)
	return outID, outSecret, nil
}

// NewAccessKey generates an access key ID ("AKIA" + 16 base32 characters)
// and a 40-character secret, from crypto/rand.
func NewAccessKey() (string, []byte, error) {
	const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b [56]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	id := make([]byte, 0, 20)
	id = append(id, "AKIA"...)
	for _, c := range b[:16] {
		id = append(id, idAlphabet[c&31])
	}
	secret := make([]byte, 40)
	for i, c := range b[16:] {
		secret[i] = secretAlphabet[c&63]
	}
	return string(id), secret, nil
}

func (s *Store) lookup(ctx context.Context, id string) (*accessKey, error) {
	if v, ok := s.cache.Load(id); ok {
		return v.(*accessKey), nil
	}
	raw, err := s.b.Get(ctx, akPath(id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	ak := new(accessKey)
	if err := json.Unmarshal(raw, ak); err != nil {
		return nil, err
	}
	if !ak.Active {
		return nil, ErrNotFound
	}
	s.cache.Store(id, ak)
	return ak, nil
}

// LookupSecret returns the secret of an active access key, or ErrNotFound.
// The returned slice is shared and must not be modified.
func (s *Store) LookupSecret(ctx context.Context, id string) ([]byte, error) {
	ak, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	return ak.Secret, nil
}

// Principal returns the identity an active access key belongs to. A session
// token is only valid with temporary credentials, and there are none yet, so
// any token is refused as AWS refuses an invalid one.
func (s *Store) Principal(ctx context.Context, id, sessionToken string) (auth.Principal, error) {
	ak, err := s.lookup(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && sessionToken != "") {
		return auth.Principal{}, svcerr.New(svcerr.UnrecognizedClient, "The security token included in the request is invalid.")
	}
	if err != nil {
		return auth.Principal{}, svcerr.InternalError(err)
	}
	return auth.Principal{Type: ak.Type, Account: ak.Account, ARN: ak.ARN, UserID: ak.UserID, AccessKeyID: ak.ID}, nil
}
