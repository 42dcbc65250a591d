package iam

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/policy"
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
// does not exist, ErrRoleLimit when it has MaxRolesPerAccount roles.
func (s *Store) CreateRole(ctx context.Context, r *Role) error {
	if err := s.createEntity(ctx, r.Account, rolePath(r.Account, r.Name), r, acctPrefix(r.Account, "role"), s.maxRoles, ErrRoleLimit); err != nil {
		return err
	}
	s.roles.invalidate(roleKey(r.Account, r.Name))
	return nil
}

// ParsedRole is a role as STS uses it on every request signed by one of
// its sessions: shared and immutable, never modified by callers.
type ParsedRole struct {
	ID, ARN, Name, Account string
	// Trust is the trust policy, parsed.
	Trust *policy.Policy
	// MaxSessionDuration is the role's session limit.
	MaxSessionDuration time.Duration
	// Tags are the role's tags by key.
	Tags map[string]string
}

func roleKey(account, name string) string { return account + "/" + key(name) }

// ParsedRole returns the role called name (in any case) with its trust
// policy parsed, or ErrNoSuchRole. Found roles are cached until a write to
// the role (CreateRole, DeleteRole, UpdateRole) invalidates them, so a hit
// reads no storage, parses nothing and allocates nothing.
func (s *Store) ParsedRole(ctx context.Context, account, name string) (*ParsedRole, error) {
	if err := s.gate.Check(); err != nil {
		return nil, err
	}
	k := roleKey(account, name)
	v, ok, seen := s.roles.get(k)
	if ok {
		return v, nil
	}
	r, err := getJSON[Role](ctx, s.b, rolePath(account, name), ErrNoSuchRole)
	if err != nil {
		return nil, err
	}
	trust, err := policy.ParseWith([]byte(r.TrustPolicy), policy.Options{Kind: policy.KindTrust, MaxSize: -1})
	if err != nil {
		return nil, fmt.Errorf("iam: stored trust policy of role %s no longer parses: %w", r.ARN, err)
	}
	pr := &ParsedRole{ID: r.ID, ARN: r.ARN, Name: r.Name, Account: r.Account, Trust: trust,
		MaxSessionDuration: time.Duration(r.MaxSessionDuration) * time.Second}
	if len(r.Tags) > 0 {
		pr.Tags = make(map[string]string, len(r.Tags))
		for _, t := range r.Tags {
			pr.Tags[t.Key] = t.Value
		}
	}
	s.roles.fill(k, seen, pr)
	return pr, nil
}

// errNotRole reports a role session principal whose ARNs do not name a role.
var errNotRole = errors.New("iam: role session principal without a role")

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
	s.roles.invalidate(roleKey(account, name))
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
	if err == nil {
		s.roles.invalidate(roleKey(account, name))
	}
	return out, err
}
