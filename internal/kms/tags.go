package kms

import (
	"context"
	"slices"
	"strings"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// TagResource adds or overwrites tags on a key.
func (s *Service) TagResource(ctx context.Context, c *auth.Caller, in *TagResourceInput) (*Empty, error) {
	if in.Tags == nil {
		if err := checkKeyID("keyId", in.KeyID); err != nil {
			return nil, err
		}
		return nil, svcerr.Missing("tags")
	}
	add, err := toStoreTags(in.Tags)
	if err != nil {
		return nil, err
	}
	f := &facts{more: func(pc *policy.Context) { setRequestTags(pc, add) }}
	_, err = s.update(ctx, c, in.KeyID, ActTagResource, f, func(k *keystore.Key) error {
		for _, t := range add {
			i := slices.IndexFunc(k.Tags, func(o keystore.Tag) bool { return o.Key == t.Key })
			if i >= 0 {
				k.Tags[i].Value = t.Value
			} else {
				k.Tags = append(k.Tags, t)
			}
		}
		if len(k.Tags) > maxTagsPerKey {
			return svcerr.New(svcerr.LimitExceeded, "A KMS key can have at most %d tags.", maxTagsPerKey)
		}
		slices.SortFunc(k.Tags, func(a, b keystore.Tag) int { return strings.Compare(a.Key, b.Key) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

// UntagResource removes tags from a key; absent tag keys are ignored.
func (s *Service) UntagResource(ctx context.Context, c *auth.Caller, in *UntagResourceInput) (*Empty, error) {
	if in.TagKeys == nil {
		if err := checkKeyID("keyId", in.KeyID); err != nil {
			return nil, err
		}
		return nil, svcerr.Missing("tagKeys")
	}
	for _, tk := range in.TagKeys {
		if err := svcerr.CheckLen("tagKeys.member", len(tk), 1, maxTagKey); err != nil {
			return nil, err
		}
	}
	f := &facts{more: func(pc *policy.Context) { pc.SetMulti("aws:TagKeys", in.TagKeys) }}
	_, err := s.update(ctx, c, in.KeyID, ActUntagResource, f, func(k *keystore.Key) error {
		k.Tags = slices.DeleteFunc(k.Tags, func(t keystore.Tag) bool { return slices.Contains(in.TagKeys, t.Key) })
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

// ListResourceTags lists a key's tags in key order.
func (s *Service) ListResourceTags(ctx context.Context, c *auth.Caller, in *ListResourceTagsInput) (*ListResourceTagsOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, defaultListTags, maxListTags)
	if err != nil {
		return nil, err
	}
	k, err := s.keyFor(ctx, c, in.KeyID, ActListResourceTags, false)
	if err != nil {
		return nil, err
	}
	start := 0
	if in.Marker != "" {
		start = slices.IndexFunc(k.Tags, func(t keystore.Tag) bool { return t.Key > in.Marker })
		if start < 0 {
			start = len(k.Tags)
		}
	}
	out := &ListResourceTagsOutput{Tags: []Tag{}}
	for _, t := range k.Tags[start:] {
		if len(out.Tags) == limit {
			out.Truncated = true
			out.NextMarker = out.Tags[limit-1].TagKey
			break
		}
		out.Tags = append(out.Tags, Tag{TagKey: t.Key, TagValue: t.Value})
	}
	return out, nil
}
