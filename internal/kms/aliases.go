package kms

import (
	"context"
	"errors"
	"strings"

	"github.com/arca-kms/arca/internal/arn"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/svcerr"
)

// maxAliasesPerKey is AWS's quota of aliases per KMS key.
const maxAliasesPerKey = 50

// checkAliasName validates a customer alias name as CreateAlias does.
func checkAliasName(name string) error {
	if name == "" {
		return svcerr.Missing("aliasName")
	}
	if err := svcerr.CheckLen("aliasName", len(name), 1, arn.AliasMaxLen); err != nil {
		return err
	}
	if !strings.HasPrefix(name, "alias/") {
		return svcerr.New(svcerr.InvalidAliasName, "Alias must start with the prefix \"alias/\".")
	}
	if arn.ValidAliasName(name) != nil {
		return svcerr.Validationf("1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$", name)
	}
	if strings.HasPrefix(name, arn.ReservedAliasPrefix) {
		return svcerr.New(svcerr.InvalidAliasName, "Alias must not begin with '%s'.", arn.ReservedAliasPrefix)
	}
	return nil
}

// aliasTarget resolves and checks the key an alias is to point to. Only
// this key's state matters: UpdateAlias may move an alias away from a key
// that is pending deletion (key-state footnote [10]).
func (s *Service) aliasTarget(ctx context.Context, c *auth.Caller, id, action string) (*keystore.Key, error) {
	if err := checkKeyID("targetKeyId", id); err != nil {
		return nil, err
	}
	k, err := s.resolve(ctx, c, id, false)
	if err != nil {
		return nil, err
	}
	if k.Account != c.Account {
		return nil, svcerr.New(svcerr.NotFound, "Key '%s' does not exist", s.keyARN(k))
	}
	if err := s.authorize(ctx, c, action, k); err != nil {
		return nil, err
	}
	if err := s.checkKeyState(k, action); err != nil {
		return nil, err
	}
	return k, nil
}

// CreateAlias creates an alias for a key in the caller's account and region.
func (s *Service) CreateAlias(ctx context.Context, c *auth.Caller, in *AliasInput) (*Empty, error) {
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	k, err := s.aliasTarget(ctx, c, in.TargetKeyID, ActCreateAlias)
	if err != nil {
		return nil, err
	}
	all, err := s.ks.ListAliases(ctx, c.Account, c.Region, "", 0)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	n := 0
	for _, a := range all {
		if a.TargetKeyID == k.ID {
			n++
		}
	}
	if n >= maxAliasesPerKey {
		return nil, svcerr.New(svcerr.LimitExceeded, "A KMS key can have at most %d aliases.", maxAliasesPerKey)
	}
	now := s.now().UTC()
	err = s.ks.CreateAlias(ctx, &keystore.Alias{
		Name: in.AliasName, Account: c.Account, Region: c.Region,
		TargetKeyID: k.ID, Created: now, Updated: now,
	})
	if errors.Is(err, keystore.ErrExists) {
		return nil, svcerr.New(svcerr.AlreadyExists, "An alias with the name %s already exists",
			arn.AliasARN(s.partition, c.Region, c.Account, in.AliasName))
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	return &Empty{}, nil
}

// UpdateAlias points an existing alias at another key of the same type and usage.
func (s *Service) UpdateAlias(ctx context.Context, c *auth.Caller, in *AliasInput) (*Empty, error) {
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	k, err := s.aliasTarget(ctx, c, in.TargetKeyID, ActUpdateAlias)
	if err != nil {
		return nil, err
	}
	a, err := s.ks.GetAlias(ctx, c.Account, c.Region, in.AliasName)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, svcerr.New(svcerr.NotFound, "Alias %s is not found.", arn.AliasARN(s.partition, c.Region, c.Account, in.AliasName))
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	if old, err := s.ks.Get(ctx, c.Account, c.Region, a.TargetKeyID); err == nil {
		if old.Spec != k.Spec || old.Usage != k.Usage {
			return nil, svcerr.Validationf("%s must have the same key spec and key usage as the alias's current key %s.", s.keyARN(k), s.keyARN(old))
		}
	}
	err = s.ks.UpdateAlias(ctx, c.Account, c.Region, in.AliasName, k.ID, s.now().UTC())
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, svcerr.New(svcerr.NotFound, "Alias %s is not found.", arn.AliasARN(s.partition, c.Region, c.Account, in.AliasName))
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	return &Empty{}, nil
}

// DeleteAlias deletes an alias; the key is unaffected.
func (s *Service) DeleteAlias(ctx context.Context, c *auth.Caller, in *DeleteAliasInput) (*Empty, error) {
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	a, err := s.ks.GetAlias(ctx, c.Account, c.Region, in.AliasName)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, svcerr.New(svcerr.NotFound, "Alias %s is not found.", arn.AliasARN(s.partition, c.Region, c.Account, in.AliasName))
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	var target *keystore.Key
	if k, err := s.ks.Get(ctx, c.Account, c.Region, a.TargetKeyID); err == nil {
		target = k
	}
	if err := s.authorize(ctx, c, ActDeleteAlias, target); err != nil {
		return nil, err
	}
	err = s.ks.DeleteAlias(ctx, c.Account, c.Region, in.AliasName)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, svcerr.New(svcerr.NotFound, "Alias %s is not found.", arn.AliasARN(s.partition, c.Region, c.Account, in.AliasName))
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	return &Empty{}, nil
}

// ListAliases lists the aliases of the caller's account and region,
// optionally only those of one key.
func (s *Service) ListAliases(ctx context.Context, c *auth.Caller, in *ListAliasesInput) (*ListAliasesOutput, error) {
	limit, err := checkLimit(in.Limit, defaultListAliases, maxListAliases)
	if err != nil {
		return nil, err
	}
	if in.Marker != "" && arn.ValidAliasName(in.Marker) != nil {
		return nil, svcerr.New(svcerr.InvalidMarker, "Invalid marker.")
	}
	filter := ""
	if in.KeyID != "" {
		k, err := s.resolve(ctx, c, in.KeyID, false)
		if err != nil {
			return nil, err
		}
		filter = k.ID
	}
	if err := s.authorize(ctx, c, ActListAliases, nil); err != nil {
		return nil, err
	}
	out := &ListAliasesOutput{Aliases: []AliasListEntry{}}
	after := in.Marker
	for {
		page, err := s.ks.ListAliases(ctx, c.Account, c.Region, after, limit+1)
		if err != nil {
			return nil, svcerr.InternalError(err)
		}
		for _, a := range page {
			after = a.Name
			if filter != "" && a.TargetKeyID != filter {
				continue
			}
			if len(out.Aliases) == limit {
				out.Truncated = true
				out.NextMarker = out.Aliases[limit-1].AliasName
				return out, nil
			}
			out.Aliases = append(out.Aliases, AliasListEntry{
				AliasName: a.Name, AliasArn: arn.AliasARN(s.partition, a.Region, a.Account, a.Name),
				TargetKeyID: a.TargetKeyID, CreationDate: epoch.New(a.Created), LastUpdatedDate: epoch.New(a.Updated),
			})
		}
		if len(page) <= limit {
			return out, nil
		}
	}
}
