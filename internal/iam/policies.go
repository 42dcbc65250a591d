package iam

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage"
)

// OwnerKind says whether an inline policy belongs to a user or a role.
type OwnerKind uint8

// Owner kinds.
const (
	UserOwner OwnerKind = iota + 1
	RoleOwner
)

// String is the kind as storage paths spell it.
func (k OwnerKind) String() string {
	if k == RoleOwner {
		return "role"
	}
	return "user"
}

// Owner names the user or role an inline policy is embedded in.
type Owner struct {
	Account string
	Kind    OwnerKind
	Name    string
}

func (o Owner) notFound() error {
	if o.Kind == RoleOwner {
		return ErrNoSuchRole
	}
	return ErrNoSuchUser
}

// InlinePolicy is a policy embedded in a user or role.
type InlinePolicy struct {
	Name     string `json:"name"`
	Document string `json:"document"`
}

// ownerID returns the unique ID of o, or o's not-found error.
func ownerID(ctx context.Context, r storage.Reader, o Owner) (string, error) {
	rec, err := getJSON[struct {
		ID string `json:"id"`
	}](ctx, r, ownerPath(o), o.notFound())
	if err != nil {
		return "", err
	}
	return rec.ID, nil
}

// PutPolicy adds or replaces the inline policy name of o, a document the
// caller has validated. maxTotal is the quota on the aggregate size of all
// of o's inline policies, counted as policy.IAMSize counts
// (ErrPolicySizeLimit). Principals of o see the change at once.
func (s *Store) PutPolicy(ctx context.Context, o Owner, name, doc string, maxTotal int) error {
	var id string
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		var err error
		if id, err = ownerID(ctx, tx, o); err != nil {
			return err
		}
		es, err := tx.List(ctx, policyPrefix(o), "", 0)
		if err != nil {
			return err
		}
		total := policy.IAMSize([]byte(doc))
		for _, e := range es {
			if strings.TrimPrefix(e.Key, policyPrefix(o)) == name {
				continue
			}
			var ip InlinePolicy
			if err := json.Unmarshal(e.Value, &ip); err != nil {
				return err
			}
			total += policy.IAMSize([]byte(ip.Document))
		}
		if total > maxTotal {
			return ErrPolicySizeLimit
		}
		return putJSON(ctx, tx, policyPrefix(o)+name, &InlinePolicy{Name: name, Document: doc})
	})
	if err != nil {
		return err
	}
	s.pols.invalidate(id)
	return nil
}

// GetPolicy returns o's inline policy name: o's not-found error when o does
// not exist, ErrNoSuchPolicy when it has no such policy.
func (s *Store) GetPolicy(ctx context.Context, o Owner, name string) (*InlinePolicy, error) {
	if _, err := ownerID(ctx, s.b, o); err != nil {
		return nil, err
	}
	return getJSON[InlinePolicy](ctx, s.b, policyPrefix(o)+name, ErrNoSuchPolicy)
}

// DeletePolicy deletes o's inline policy name.
func (s *Store) DeletePolicy(ctx context.Context, o Owner, name string) error {
	var id string
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		var err error
		if id, err = ownerID(ctx, tx, o); err != nil {
			return err
		}
		if ok, err := exists(ctx, tx, policyPrefix(o)+name); err != nil || !ok {
			if err == nil {
				err = ErrNoSuchPolicy
			}
			return err
		}
		return tx.Delete(ctx, policyPrefix(o)+name)
	})
	if err != nil {
		return err
	}
	s.pols.invalidate(id)
	return nil
}

// ListPolicies returns the names of o's inline policies in byte order, up
// to max after marker (a policy name), and the next page's marker.
func (s *Store) ListPolicies(ctx context.Context, o Owner, marker string, max int) ([]string, string, error) {
	if _, err := ownerID(ctx, s.b, o); err != nil {
		return nil, "", err
	}
	ps, next, err := listRecords[InlinePolicy](ctx, s.b, policyPrefix(o), marker, max, nil)
	if err != nil {
		return nil, "", err
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name
	}
	return names, next, nil
}
