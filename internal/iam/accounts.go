package iam

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arca-kms/arca/internal/storage"
)

// Account is a tenant: every user, role, key and alias belongs to exactly
// one, and nothing in one account is visible from another.
type Account struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
}

func ensureAccount(ctx context.Context, tx storage.Tx, id string, now time.Time) error {
	ok, err := exists(ctx, tx, accountPath(id))
	if err != nil || ok {
		return err
	}
	return putJSON(ctx, tx, accountPath(id), &Account{ID: id, Created: now.UTC().Truncate(time.Second)})
}

// CreateAccount creates account id with a new root access key, and returns
// the account and that key (its secret included). ErrExists if it exists.
func (s *Store) CreateAccount(ctx context.Context, id string, now time.Time) (*Account, *AccessKey, error) {
	var acct *Account
	var ak *AccessKey
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		ok, err := exists(ctx, tx, accountPath(id))
		if err != nil {
			return err
		}
		if ok {
			return ErrExists
		}
		acct = &Account{ID: id, Created: now.UTC().Truncate(time.Second)}
		if err := putJSON(ctx, tx, accountPath(id), acct); err != nil {
			return err
		}
		kid, secret, err := NewAccessKey()
		if err != nil {
			return err
		}
		if _, _, _, err := s.putRootKey(ctx, tx, id, "", kid, secret); err != nil {
			return err
		}
		ak = &AccessKey{ID: kid, Secret: secret, Account: id, Active: true}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	s.creds.invalidate(ak.ID)
	return acct, ak, nil
}

// GetAccount returns account id, or ErrNoSuchAccount.
func (s *Store) GetAccount(ctx context.Context, id string) (*Account, error) {
	return getJSON[Account](ctx, s.b, accountPath(id), ErrNoSuchAccount)
}

// ListAccounts returns up to max accounts after marker (an account ID), in
// ID order, and the marker of the next page ("" when this is the last).
func (s *Store) ListAccounts(ctx context.Context, marker string, max int) ([]Account, string, error) {
	return listRecords[Account](ctx, s.b, "iam/accounts/", marker, max, nil)
}

// DeleteAccount deletes account id and its root access key. It refuses
// (ErrAccountNotEmpty) while the account has users or roles, so no identity
// is left behind in an account that no longer exists. KMS keys are not
// IAM's to check; they stay in storage, unreachable.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	var root string
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		root = ""
		ok, err := exists(ctx, tx, accountPath(id))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoSuchAccount
		}
		for _, kind := range []string{"user", "role"} {
			es, err := tx.List(ctx, acctPrefix(id, kind), "", 1)
			if err != nil {
				return err
			}
			if len(es) > 0 {
				return ErrAccountNotEmpty
			}
		}
		cur, err := tx.Get(ctx, rootPath(id))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if len(cur) > 0 {
			root = string(cur)
			if err := tx.Delete(ctx, akPath(root)); err != nil {
				return err
			}
		}
		if err := tx.Delete(ctx, rootPath(id)); err != nil {
			return err
		}
		return tx.Delete(ctx, accountPath(id))
	})
	if err != nil {
		return err
	}
	s.creds.invalidate(root)
	return nil
}

// IssueRootAccessKey replaces the root access key of account id with a new
// one and returns it (its secret included). The old key stops working at
// once.
func (s *Store) IssueRootAccessKey(ctx context.Context, id string) (*AccessKey, error) {
	var ak *AccessKey
	var old string
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		old = ""
		ok, err := exists(ctx, tx, accountPath(id))
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoSuchAccount
		}
		cur, err := tx.Get(ctx, rootPath(id))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		kid, secret, err := NewAccessKey()
		if err != nil {
			return err
		}
		if _, _, old, err = s.putRootKey(ctx, tx, id, string(cur), kid, secret); err != nil {
			return err
		}
		ak = &AccessKey{ID: kid, Secret: secret, Account: id, Active: true}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.creds.invalidate(ak.ID, old)
	return ak, nil
}

// RootAccessKey returns the root access key record of account (secret
// included), or ErrNoSuchAccessKey when it has none.
func (s *Store) RootAccessKey(ctx context.Context, account string) (*AccessKey, error) {
	cur, err := s.b.Get(ctx, rootPath(account))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoSuchAccessKey
	}
	if err != nil {
		return nil, err
	}
	return getJSON[AccessKey](ctx, s.b, akPath(string(cur)), fmt.Errorf("iam: root key record %s is missing", cur))
}
