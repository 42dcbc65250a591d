package iam

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/storage"
)

// Tag is a tag on a user or role.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// User is an IAM user.
type User struct {
	Account string    `json:"account"`
	Name    string    `json:"name"`
	ID      string    `json:"id"`
	Path    string    `json:"path"`
	ARN     string    `json:"arn"`
	Created time.Time `json:"created"`
	Tags    []Tag     `json:"tags,omitempty"`
}

// listRecords returns up to max records under prefix whose key sorts after
// prefix+marker and that keep accepts (nil keeps all), and the marker of
// the next page ("" when there is none). A marker is the last returned
// record's key without the prefix.
func listRecords[T any](ctx context.Context, r storage.Reader, prefix, marker string, max int, keep func(*T) bool) ([]T, string, error) {
	if max <= 0 {
		max = 100
	}
	after := ""
	if marker != "" {
		after = prefix + marker
	}
	var out []T
	var keys []string
	for {
		es, err := r.List(ctx, prefix, after, max+1)
		if err != nil {
			return nil, "", err
		}
		for _, e := range es {
			v := new(T)
			if err := json.Unmarshal(e.Value, v); err != nil {
				return nil, "", fmt.Errorf("iam: record %s: %w", e.Key, err)
			}
			if keep != nil && !keep(v) {
				continue
			}
			if len(out) == max {
				return out, strings.TrimPrefix(keys[max-1], prefix), nil
			}
			out = append(out, *v)
			keys = append(keys, e.Key)
		}
		if len(es) < max+1 {
			return out, "", nil
		}
		after = es[len(es)-1].Key
	}
}

// CreateUser stores u, a new user of u.Account. ErrExists when the account
// has a user of that name in any case; ErrNoSuchAccount when the account
// does not exist; ErrUserLimit when it has MaxUsersPerAccount users.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	if err := s.createEntity(ctx, u.Account, userPath(u.Account, u.Name), u, acctPrefix(u.Account, "user"), s.maxUsers, ErrUserLimit); err != nil {
		return err
	}
	s.userIDs.invalidate(roleKey(u.Account, u.Name))
	return nil
}

// UserID returns the unique ID of the user called name (in any case), or
// ErrNoSuchUser. STS asks it on every request signed with GetSessionToken
// credentials, so that a deleted (or deleted and re-created) user's
// sessions end; found IDs are cached until CreateUser or DeleteUser.
func (s *Store) UserID(ctx context.Context, account, name string) (string, error) {
	if err := s.gate.Check(); err != nil {
		return "", err
	}
	k := roleKey(account, name)
	id, ok, seen := s.userIDs.get(k)
	if ok {
		return id, nil
	}
	u, err := getJSON[User](ctx, s.b, userPath(account, name), ErrNoSuchUser)
	if err != nil {
		return "", err
	}
	s.userIDs.fill(k, seen, u.ID)
	return u.ID, nil
}

// createEntity stores v at path, a new user or role of account:
// ErrNoSuchAccount when the account does not exist, ErrExists when path
// (whose name part is lower-cased, so names are unique in any case) is
// taken, and full when the account already has max entities under
// prefix.
func (s *Store) createEntity(ctx context.Context, account, path string, v any, prefix string, max int, full error) error {
	return s.b.Update(ctx, func(tx storage.Tx) error {
		if ok, err := exists(ctx, tx, accountPath(account)); err != nil || !ok {
			if err == nil {
				err = ErrNoSuchAccount
			}
			return err
		}
		if ok, err := exists(ctx, tx, path); err != nil || ok {
			if err == nil {
				err = ErrExists
			}
			return err
		}
		if es, err := tx.List(ctx, prefix, "", max); err != nil {
			return err
		} else if len(es) >= max {
			return full
		}
		return putJSON(ctx, tx, path, v)
	})
}

// GetUser returns the user named name (in any case), or ErrNoSuchUser.
func (s *Store) GetUser(ctx context.Context, account, name string) (*User, error) {
	return getJSON[User](ctx, s.b, userPath(account, name), ErrNoSuchUser)
}

// ListUsers lists the users whose path starts with pathPrefix, in order of
// their lower-case names; see listRecords for marker and max.
func (s *Store) ListUsers(ctx context.Context, account, pathPrefix, marker string, max int) ([]User, string, error) {
	return listRecords(ctx, s.b, acctPrefix(account, "user"), marker, max, func(u *User) bool {
		return strings.HasPrefix(u.Path, pathPrefix)
	})
}

// DeleteUser deletes a user that has no access keys (ErrHasAccessKeys) and
// no inline policies (ErrHasPolicies), as AWS requires.
func (s *Store) DeleteUser(ctx context.Context, account, name string) error {
	var id string
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		u, err := getJSON[User](ctx, tx, userPath(account, name), ErrNoSuchUser)
		if err != nil {
			return err
		}
		id = u.ID
		for _, c := range []struct {
			prefix string
			err    error
		}{
			{userKeyPrefix(account, name), ErrHasAccessKeys},
			{policyPrefix(Owner{Account: account, Kind: UserOwner, Name: name}), ErrHasPolicies},
		} {
			es, err := tx.List(ctx, c.prefix, "", 1)
			if err != nil {
				return err
			}
			if len(es) > 0 {
				return c.err
			}
		}
		return tx.Delete(ctx, userPath(account, name))
	})
	if err != nil {
		return err
	}
	s.pols.invalidate(id)
	s.userIDs.invalidate(roleKey(account, name))
	return nil
}

// UpdateUser applies fn to the stored user and stores the result, in one
// transaction; the user's access keys see the change at once (their
// principals carry the user's tags).
func (s *Store) UpdateUser(ctx context.Context, account, name string, fn func(*User) error) (*User, error) {
	var out *User
	var keys []string
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		u, err := getJSON[User](ctx, tx, userPath(account, name), ErrNoSuchUser)
		if err != nil {
			return err
		}
		if err := fn(u); err != nil {
			return err
		}
		if keys, err = userKeyIDs(ctx, tx, account, name); err != nil {
			return err
		}
		out = u
		return putJSON(ctx, tx, userPath(account, name), u)
	})
	if err != nil {
		return nil, err
	}
	s.creds.invalidate(keys...)
	return out, nil
}

func userKeyIDs(ctx context.Context, r storage.Reader, account, name string) ([]string, error) {
	prefix := userKeyPrefix(account, name)
	es, err := r.List(ctx, prefix, "", 0)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = strings.TrimPrefix(e.Key, prefix)
	}
	return ids, nil
}

// CreateAccessKey makes a new active access key for the user, at most
// MaxAccessKeysPerUser of them (ErrAccessKeyLimit). The returned record
// holds the secret.
func (s *Store) CreateAccessKey(ctx context.Context, account, userName string, now time.Time) (*AccessKey, error) {
	var ak *AccessKey
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		u, err := getJSON[User](ctx, tx, userPath(account, userName), ErrNoSuchUser)
		if err != nil {
			return err
		}
		ids, err := userKeyIDs(ctx, tx, account, userName)
		if err != nil {
			return err
		}
		if len(ids) >= MaxAccessKeysPerUser {
			return ErrAccessKeyLimit
		}
		id, secret, err := NewAccessKey()
		if err != nil {
			return err
		}
		ak = &AccessKey{ID: id, Secret: secret, Account: account, Type: auth.IAMUser, ARN: u.ARN,
			UserID: u.ID, UserName: u.Name, Active: true, Created: now.UTC()}
		if err := putJSON(ctx, tx, akPath(id), ak); err != nil {
			return err
		}
		return tx.Put(ctx, userKeyPrefix(account, userName)+id, nil)
	})
	if err != nil {
		return nil, err
	}
	s.creds.invalidate(ak.ID)
	return ak, nil
}

// ListAccessKeys returns the user's access keys, oldest first.
func (s *Store) ListAccessKeys(ctx context.Context, account, userName string) ([]AccessKey, error) {
	if _, err := s.GetUser(ctx, account, userName); err != nil {
		return nil, err
	}
	ids, err := userKeyIDs(ctx, s.b, account, userName)
	if err != nil {
		return nil, err
	}
	out := make([]AccessKey, 0, len(ids))
	for _, id := range ids {
		ak, err := getJSON[AccessKey](ctx, s.b, akPath(id), ErrNoSuchAccessKey)
		if err != nil {
			return nil, err
		}
		out = append(out, *ak)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Created.Before(out[j-1].Created); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out, nil
}

// UpdateAccessKey activates or deactivates one of the user's access keys.
// An inactive key stops authenticating at once.
func (s *Store) UpdateAccessKey(ctx context.Context, account, userName, id string, active bool) error {
	return s.changeAccessKey(ctx, account, userName, id, func(tx storage.Tx, ak *AccessKey) error {
		ak.Active = active
		return putJSON(ctx, tx, akPath(id), ak)
	})
}

// DeleteAccessKey deletes one of the user's access keys.
func (s *Store) DeleteAccessKey(ctx context.Context, account, userName, id string) error {
	return s.changeAccessKey(ctx, account, userName, id, func(tx storage.Tx, ak *AccessKey) error {
		if err := tx.Delete(ctx, akPath(id)); err != nil {
			return err
		}
		return tx.Delete(ctx, userKeyPrefix(account, userName)+id)
	})
}

func (s *Store) changeAccessKey(ctx context.Context, account, userName, id string, fn func(storage.Tx, *AccessKey) error) error {
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		if _, err := getJSON[User](ctx, tx, userPath(account, userName), ErrNoSuchUser); err != nil {
			return err
		}
		if ok, err := exists(ctx, tx, userKeyPrefix(account, userName)+id); err != nil || !ok {
			if err == nil {
				err = ErrNoSuchAccessKey
			}
			return err
		}
		ak, err := getJSON[AccessKey](ctx, tx, akPath(id), ErrNoSuchAccessKey)
		if err != nil {
			return err
		}
		return fn(tx, ak)
	})
	if err != nil {
		return err
	}
	s.creds.invalidate(id)
	return nil
}

// AccessKeyOwner returns the record of access key id (without regard to
// its status), or ErrNoSuchAccessKey.
func (s *Store) AccessKeyOwner(ctx context.Context, id string) (*AccessKey, error) {
	return getJSON[AccessKey](ctx, s.b, akPath(id), ErrNoSuchAccessKey)
}
