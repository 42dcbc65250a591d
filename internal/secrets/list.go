package secrets

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/svcerr"
)

var filterKeys = []string{"description", "name", "tag-key", "tag-value", "primary-region", "owning-service", "all"}

func checkFilters(fs []Filter) error {
	if len(fs) > maxFilters {
		return svcerr.Validationf("1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to %d", maxFilters)
	}
	for _, f := range fs {
		if !slices.Contains(filterKeys, f.Key) {
			return svcerr.Validationf("1 validation error detected: Value '%s' at 'filters.member.key' failed to satisfy constraint: Member must satisfy enum value set: [%s]", f.Key, strings.Join(filterKeys, ", "))
		}
		if len(f.Values) == 0 || len(f.Values) > maxFilterValues {
			return svcerr.Validationf("1 validation error detected: Value at 'filters.member.values' failed to satisfy constraint: Member must have length between 1 and %d", maxFilterValues)
		}
		for _, v := range f.Values {
			if err := svcerr.CheckLen("filters.member.values.member", len(v), 1, maxFilterValueLen); err != nil {
				return err
			}
		}
	}
	return nil
}

// matches applies ListSecrets' filters: every filter must match; within a
// filter any value may, by case-insensitive prefix; a value starting with
// "!" must match nothing.
func matches(r *record, fs []Filter) bool {
	for _, f := range fs {
		var fields []string
		switch f.Key {
		case "name":
			fields = []string{r.Name}
		case "description":
			fields = []string{r.Description}
		case "tag-key":
			for _, t := range r.Tags {
				fields = append(fields, t.Key)
			}
		case "tag-value":
			for _, t := range r.Tags {
				fields = append(fields, t.Value)
			}
		case "primary-region":
			fields = []string{cmp.Or(r.PrimaryRegion, r.Region)}
		case "owning-service":
			fields = nil
		case "all":
			fields = []string{r.Name, r.Description, cmp.Or(r.PrimaryRegion, r.Region)}
			for _, t := range r.Tags {
				fields = append(fields, t.Key, t.Value)
			}
		}
		ok := false
		for _, v := range f.Values {
			neg := strings.HasPrefix(v, "!")
			want := strings.ToLower(strings.TrimPrefix(v, "!"))
			hit := slices.ContainsFunc(fields, func(x string) bool { return strings.HasPrefix(strings.ToLower(x), want) })
			if hit != neg {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// ListSecrets lists the account's secrets in the caller's region.
func (s *Service) ListSecrets(ctx context.Context, c *auth.Caller, in *ListSecretsInput) (*ListSecretsOutput, error) {
	limit, err := checkMaxResults(in.MaxResults, maxListResults)
	if err != nil {
		return nil, err
	}
	if err := checkFilters(in.Filters); err != nil {
		return nil, err
	}
	if in.SortOrder != "" && in.SortOrder != "asc" && in.SortOrder != "desc" {
		return nil, svcerr.Validationf("1 validation error detected: Value '%s' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]", in.SortOrder)
	}
	sortBy := cmp.Or(in.SortBy, "created-date")
	if !slices.Contains([]string{"created-date", "last-accessed-date", "last-changed-date", "name"}, sortBy) {
		return nil, svcerr.Validationf("1 validation error detected: Value '%s' at 'sortBy' failed to satisfy constraint: Member must satisfy enum value set: [created-date, last-accessed-date, last-changed-date, name]", in.SortBy)
	}
	if err := s.authorize(ctx, c, ActListSecrets, nil, "*", nil); err != nil {
		return nil, err
	}
	recs, err := s.st.list(ctx, c.Account, c.Region)
	if err != nil {
		return nil, internalErr(err)
	}
	recs = slices.DeleteFunc(recs, func(r *record) bool {
		return (r.deleted() && !in.IncludePlannedDeletion) || !matches(r, in.Filters)
	})
	sortRecords(recs, sortBy, in.SortOrder)
	all := make([]SecretListEntry, len(recs))
	for i, r := range recs {
		all[i] = s.listEntry(r)
	}
	page, next, err := paginate(all, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []SecretListEntry{}
	}
	return &ListSecretsOutput{SecretList: page, NextToken: next}, nil
}

// sortRecords orders a listing; Arca's default order is newest first, with
// the name breaking ties so that pages are stable.
func sortRecords(recs []*record, by, order string) {
	slices.SortStableFunc(recs, func(a, b *record) int {
		var c int
		switch by {
		case "name":
			c = strings.Compare(a.Name, b.Name)
		case "last-accessed-date":
			c = a.Accessed.Compare(b.Accessed)
		case "last-changed-date":
			c = a.Changed.Compare(b.Changed)
		default:
			c = a.Created.Compare(b.Created)
		}
		if c == 0 {
			c = strings.Compare(a.Name, b.Name)
		}
		if order != "asc" {
			c = -c
		}
		return c
	})
}

// BatchGetSecretValue returns the values of up to 20 secrets, named in
// SecretIdList or found by Filters. Each secret needs GetSecretValue; one
// that fails is reported in Errors and the others are still returned.
func (s *Service) BatchGetSecretValue(ctx context.Context, c *auth.Caller, in *BatchGetSecretValueInput) (*BatchGetSecretValueOutput, error) {
	if (in.SecretIDList == nil) == (in.Filters == nil) {
		return nil, svcerr.New(svcerr.InvalidParameter, "Either 'SecretIdList' or 'Filters' must be provided, but not both.")
	}
	if len(in.SecretIDList) > maxBatchIDs {
		return nil, svcerr.Validationf("1 validation error detected: Value at 'secretIdList' failed to satisfy constraint: Member must have length less than or equal to %d", maxBatchIDs)
	}
	if in.SecretIDList != nil && (in.MaxResults != nil || in.NextToken != "") {
		return nil, svcerr.New(svcerr.InvalidParameter, "'MaxResults' and 'NextToken' can only be used with 'Filters'.")
	}
	limit, err := checkMaxResults(in.MaxResults, maxBatchResults)
	if err != nil {
		return nil, err
	}
	if err := checkFilters(in.Filters); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, ActBatchGetSecretValue, nil, "*", nil); err != nil {
		return nil, err
	}
	out := &BatchGetSecretValueOutput{SecretValues: []GetSecretValueOutput{}, Errors: []APIErrorType{}}
	get := func(id string) {
		v, err := s.GetSecretValue(ctx, c, &GetSecretValueInput{SecretID: id})
		if err != nil {
			e := svcerr.As(err)
			if e == nil {
				e = svcerr.As(internalErr(err))
			}
			out.Errors = append(out.Errors, APIErrorType{SecretID: id, ErrorCode: string(e.Code), Message: e.Msg})
			return
		}
		out.SecretValues = append(out.SecretValues, *v)
	}
	if in.SecretIDList != nil {
		for _, id := range in.SecretIDList {
			get(id)
		}
		return out, nil
	}
	recs, err := s.st.list(ctx, c.Account, c.Region)
	if err != nil {
		return nil, internalErr(err)
	}
	recs = slices.DeleteFunc(recs, func(r *record) bool { return r.deleted() || !matches(r, in.Filters) })
	sortRecords(recs, "name", "asc")
	page, next, err := paginate(recs, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	for _, r := range page {
		get(s.secretARN(r))
	}
	out.NextToken = next
	return out, nil
}
