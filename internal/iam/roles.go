package iam

import (
	"context"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/storage"
)

// Role is an IAM role. TrustPolicy is the document as the client sent it.
type Role struct {
	Account            string    `json:"account"`
	Name               string    `json:"name"`
	ID                 string    `json:"id"`
	Path               string    `json:"path"`
	ARN                string    `json:"arn"`
	Created            time.Time `json:"created"`
	TrustPolicy        string    `json:"trustPolicy"`
	Description        string    `json:"description,omitempty"`
	MaxSessionDuration int32     `json:"maxSessionDuration"`
	Tags               []Tag     `json:"tags,omitempty"`
}

// CreateRole stores r, a new role of r.Account: ErrExists when the account
// has a role of that name in any case, ErrNoSuchAccount when the account
// does not exist.
func (s *Store) CreateRole(ctx context.Context, r *Role) error {
	return s.createEntity(ctx, r.Account, rolePath(r.Account, r.Name), r)
}

// GetRole returns the role named name (in any case), or ErrNoSuchRole.
func (s *Store) GetRole(ctx context.Context, account, name string) (*Role, error) {
	return getJSON[Role](ctx, s.b, rolePath(account, name), ErrNoSuchRole)
}

// ListRoles lists the roles whose path starts with pathPrefix, in order of
// their lower-case names; see listRecords for marker and max.
func (s *Store) ListRoles(ctx context.Context, account, pathPrefix, marker string, max int) ([]Role, string, error) {
	return listRecords(ctx, s.b, acctPrefix(account, "role"), marker, max, func(r *Role) bool {
		return strings.HasPrefix(r.Path, pathPrefix)
	})
}

// DeleteRole deletes a role that has no inline policies (ErrHasPolicies).
func (s *Store) DeleteRole(ctx context.Context, account, name string) error {
	var id string
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		r, err := getJSON[Role](ctx, tx, rolePath(account, name), ErrNoSuchRole)
		if err != nil {
			return err
		}
		id = r.ID
		es, err := tx.List(ctx, policyPrefix(Owner{Account: account, Kind: RoleOwner, Name: name}), "", 1)
		if err != nil {
			return err
		}
		if len(es) > 0 {
			return ErrHasPolicies
		}
		return tx.Delete(ctx, rolePath(account, name))
	})
	if err != nil {
		return err
	}
	s.pols.invalidate(id)
	return nil
}

// UpdateRole applies fn to the stored role and stores the result, in one
// transaction.
func (s *Store) UpdateRole(ctx context.Context, account, name string, fn func(*Role) error) (*Role, error) {
	var out *Role
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		r, err := getJSON[Role](ctx, tx, rolePath(account, name), ErrNoSuchRole)
		if err != nil {
			return err
		}
		if err := fn(r); err != nil {
			return err
		}
		out = r
		return putJSON(ctx, tx, rolePath(account, name), r)
	})
	return out, err
}
