package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"slices"

	"github.com/arca-kms/arca/internal/arn"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Multi-Region key actions.
const (
	ActReplicateKey        = "kms:ReplicateKey"
	ActUpdatePrimaryRegion = "kms:UpdatePrimaryRegion"
)

// MultiRegionKey names one key of a set of related multi-Region keys.
type MultiRegionKey struct {
	Arn    string `json:"Arn"`
	Region string `json:"Region"`
}

// MultiRegionConfiguration describes the set of related multi-Region keys a
// key belongs to. Every key of the set shows the same PrimaryKey and
// ReplicaKeys; only MultiRegionKeyType differs.
type MultiRegionConfiguration struct {
	MultiRegionKeyType string           `json:"MultiRegionKeyType"`
	PrimaryKey         *MultiRegionKey  `json:"PrimaryKey"`
	ReplicaKeys        []MultiRegionKey `json:"ReplicaKeys"`
}

// ReplicateKeyInput is the ReplicateKey request.
type ReplicateKeyInput struct {
	KeyID                          string `json:"KeyId"`
	ReplicaRegion                  string `json:"ReplicaRegion"`
	Description                    string `json:"Description"`
	Policy                         string `json:"Policy"`
	Tags                           []Tag  `json:"Tags"`
	BypassPolicyLockoutSafetyCheck bool   `json:"BypassPolicyLockoutSafetyCheck"`
}

// ReplicateKeyOutput is the ReplicateKey response.
type ReplicateKeyOutput struct {
	ReplicaKeyMetadata *KeyMetadata `json:"ReplicaKeyMetadata"`
	ReplicaPolicy      string       `json:"ReplicaPolicy"`
	ReplicaTags        []Tag        `json:"ReplicaTags"`
}

// UpdatePrimaryRegionInput is the UpdatePrimaryRegion request.
type UpdatePrimaryRegionInput struct {
	KeyID         string `json:"KeyId"`
	PrimaryRegion string `json:"PrimaryRegion"`
}

// newMultiRegionKeyID returns "mrk-" and 32 random lowercase hex digits,
// the form of AWS's multi-Region key IDs.
func newMultiRegionKeyID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "mrk-" + hex.EncodeToString(b[:]), nil
}

// regionPattern is the AWS model's RegionType pattern (length 1–32).
var regionPattern = regexp.MustCompile(`^([a-z]+-){2,3}\d+$`)

// checkRegion validates a required RegionType member as AWS does.
func checkRegion(field, r string) error {
	if r == "" {
		return svcerr.Missing(field)
	}
	if err := svcerr.CheckLen(field, len(r), 1, 32); err != nil {
		return err
	}
	if !regionPattern.MatchString(r) {
		return svcerr.Validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$", r, field)
	}
	return nil
}

// serves reports whether the deployment serves region r.
func (s *Service) serves(r string) bool { return slices.Contains(s.regions, r) }

// notServed is the error for a region the deployment does not serve. The
// request is well formed but names a Region where this KMS is not
// available, which AWS's UnsupportedOperationException covers ("a specified
// parameter is not supported").
func (s *Service) notServed(field, r string) error {
	return svcerr.New(svcerr.UnsupportedOperation, "%s %s is not served by this Arca deployment; it serves %v.", field, r, s.regions)
}

// multiRegionConfig returns k's MultiRegionConfiguration, or nil for a
// single-Region key.
func (s *Service) multiRegionConfig(k *keystore.Key) *MultiRegionConfiguration {
	if k.MultiRegionType == "" {
		return nil
	}
	c := &MultiRegionConfiguration{
		MultiRegionKeyType: k.MultiRegionType,
		PrimaryKey:         &MultiRegionKey{Arn: arn.KeyARN(s.partition, k.PrimaryRegion, k.Account, k.ID), Region: k.PrimaryRegion},
		ReplicaKeys:        []MultiRegionKey{},
	}
	for _, r := range k.ReplicaRegions {
		c.ReplicaKeys = append(c.ReplicaKeys, MultiRegionKey{Arn: arn.KeyARN(s.partition, r, k.Account, k.ID), Region: r})
	}
	return c
}

// isReplica reports whether k is a multi-Region replica key.
func isReplica(k *keystore.Key) bool { return k.MultiRegionType == keystore.MultiRegionReplica }

// notPrimary is the error for an operation that only a multi-Region
// primary key accepts.
func (s *Service) notPrimary(k *keystore.Key, op string) error {
	if k.MultiRegionType == "" {
		return svcerr.New(svcerr.UnsupportedOperation, "%s is not a multi-Region key; %s needs a multi-Region primary key.", s.keyARN(k), op)
	}
	return svcerr.New(svcerr.UnsupportedOperation, "%s is not a multi-Region primary key; %s needs the primary key %s.", s.keyARN(k), op,
		arn.KeyARN(s.partition, k.PrimaryRegion, k.Account, k.ID))
}

// setRegions records the set's primary and replica regions on every key of
// the set, and each key's role in it.
func setRegions(keys []*keystore.Key, primary string, replicas []string) {
	replicas = slices.Clone(replicas)
	slices.Sort(replicas)
	for _, k := range keys {
		k.PrimaryRegion = primary
		k.ReplicaRegions = slices.Clone(replicas)
		k.MultiRegionType = keystore.MultiRegionReplica
		if k.Region == primary {
			k.MultiRegionType = keystore.MultiRegionPrimary
		}
	}
}

// ReplicateKey creates a replica of a multi-Region primary key in another
// region the deployment serves, with the same key ID, shared properties and
// every version of the key material. The replica is created synchronously,
// in state Enabled (AWS shows Creating for a few seconds).
func (s *Service) ReplicateKey(ctx context.Context, c *auth.Caller, in *ReplicateKeyInput) (*ReplicateKeyOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if err := checkRegion("replicaRegion", in.ReplicaRegion); err != nil {
		return nil, err
	}
	tags, err := checkKeyProperties(in.Description, in.Policy, in.Tags)
	if err != nil {
		return nil, err
	}
	k, err := s.authorizedKey(ctx, c, in.KeyID, ActReplicateKey, false)
	if err != nil {
		return nil, err
	}
	if k.MultiRegionType != keystore.MultiRegionPrimary {
		return nil, s.notPrimary(k, "ReplicateKey")
	}
	if in.ReplicaRegion == k.Region {
		return nil, svcerr.Validationf("ReplicaRegion %s is the Region of the primary key %s; a replica must be in a different Region.", in.ReplicaRegion, s.keyARN(k))
	}
	if !s.serves(in.ReplicaRegion) {
		return nil, s.notServed("ReplicaRegion", in.ReplicaRegion)
	}
	doc := in.Policy
	if doc == "" {
		doc = defaultKeyPolicy(s.partition, k.Account)
	}
	tmpl := &keystore.Key{
		ID: k.ID, Account: k.Account, Region: in.ReplicaRegion, Spec: k.Spec, Usage: k.Usage, Origin: k.Origin,
		Description: in.Description, State: keystore.Enabled, Manager: ManagerCustomer,
		Created: s.now().UTC(), Policy: doc, Tags: tags, MultiRegion: true, MultiRegionType: keystore.MultiRegionReplica,
	}
	if in.Policy != "" {
		p, err := checkPolicy(in.Policy)
		if err != nil {
			return nil, err
		}
		if err := s.checkLockout(ctx, c, tmpl, p, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
	}
	// AWS also requires kms:CreateKey, and kms:TagResource for Tags, in the
	// replica Region.
	if err := s.authorize(ctx, c, ActCreateKey, nil); err != nil {
		return nil, err
	}
	if len(tags) > 0 {
		if err := s.authorize(ctx, c, ActTagResource, tmpl); err != nil {
			return nil, err
		}
	}
	rep, err := s.ks.Replicate(ctx, k.Account, k.Region, k.ID, tmpl, func(src *keystore.Key, peers []*keystore.Key, rep *keystore.Key) error {
		// Re-checked inside the transaction: the key may have changed since
		// it was resolved.
		if src.MultiRegionType != keystore.MultiRegionPrimary {
			return s.notPrimary(src, "ReplicateKey")
		}
		if err := s.checkKeyState(src, ActReplicateKey); err != nil {
			return err
		}
		if slices.Contains(src.ReplicaRegions, rep.Region) {
			return keystore.ErrExists
		}
		// The properties a set of multi-Region keys shares.
		rep.Usage, rep.Origin, rep.MultiRegion = src.Usage, src.Origin, true
		rep.RotationPeriodInDays, rep.NextRotation, rep.OnDemandRotations = src.RotationPeriodInDays, src.NextRotation, src.OnDemandRotations
		all := append([]*keystore.Key{src, rep}, peers...)
		setRegions(all, src.Region, append(slices.Clone(src.ReplicaRegions), rep.Region))
		return nil
	})
	if errors.Is(err, keystore.ErrExists) {
		return nil, svcerr.New(svcerr.AlreadyExists, "%s already has a replica in %s.", s.keyARN(k), in.ReplicaRegion)
	}
	if err != nil {
		return nil, s.storeErr(err, "key")
	}
	s.log.Info("replicated multi-Region key", "key", s.keyARN(k), "replica_region", rep.Region)
	out := &ReplicateKeyOutput{ReplicaKeyMetadata: s.metadata(rep), ReplicaPolicy: rep.Policy, ReplicaTags: []Tag{}}
	for _, t := range rep.Tags {
		out.ReplicaTags = append(out.ReplicaTags, Tag{TagKey: t.Key, TagValue: t.Value})
	}
	return out, nil
}

// UpdatePrimaryRegion makes the replica in PrimaryRegion the primary key of
// its set and the current primary a replica. Every key of the set changes
// its MultiRegionConfiguration in the same transaction, so no reader sees
// two primaries or none (AWS shows a transient Updating state instead).
func (s *Service) UpdatePrimaryRegion(ctx context.Context, c *auth.Caller, in *UpdatePrimaryRegionInput) (*Empty, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if err := checkRegion("primaryRegion", in.PrimaryRegion); err != nil {
		return nil, err
	}
	k, err := s.authorizedKey(ctx, c, in.KeyID, ActUpdatePrimaryRegion, false)
	if err != nil {
		return nil, err
	}
	if k.MultiRegionType != keystore.MultiRegionPrimary {
		return nil, s.notPrimary(k, "UpdatePrimaryRegion")
	}
	if in.PrimaryRegion == k.Region {
		return nil, svcerr.Validationf("PrimaryRegion %s is already the Region of the primary key %s.", in.PrimaryRegion, s.keyARN(k))
	}
	if !s.serves(in.PrimaryRegion) {
		return nil, s.notServed("PrimaryRegion", in.PrimaryRegion)
	}
	// AWS requires kms:UpdatePrimaryRegion on the replica key as well.
	if err := s.authorize(ctx, c, ActUpdatePrimaryRegion, &keystore.Key{ID: k.ID, Account: k.Account, Region: in.PrimaryRegion}); err != nil {
		return nil, err
	}
	_, _, err = s.ks.UpdateSet(ctx, k.Account, k.Region, k.ID, func(p *keystore.Key, peers []*keystore.Key) error {
		if p.MultiRegionType != keystore.MultiRegionPrimary {
			return s.notPrimary(p, "UpdatePrimaryRegion")
		}
		i := slices.IndexFunc(peers, func(x *keystore.Key) bool { return x.Region == in.PrimaryRegion })
		if i < 0 {
			return svcerr.New(svcerr.NotFound, "%s has no replica in %s.", s.keyARN(p), in.PrimaryRegion)
		}
		for _, x := range []*keystore.Key{p, peers[i]} {
			if err := s.checkKeyState(x, ActUpdatePrimaryRegion); err != nil {
				return err
			}
		}
		all := append([]*keystore.Key{p}, peers...)
		var replicas []string
		for _, x := range all {
			if x.Region != in.PrimaryRegion {
				replicas = append(replicas, x.Region)
			}
		}
		setRegions(all, in.PrimaryRegion, replicas)
		return nil
	})
	if err != nil {
		return nil, s.storeErr(err, "key")
	}
	s.log.Info("updated primary Region of multi-Region key", "key", s.keyARN(k), "primary_region", in.PrimaryRegion)
	return &Empty{}, nil
}

// updateSet resolves a key by ID or ARN, authorizes action, and applies fn
// to it and its related multi-Region keys atomically.
func (s *Service) updateSet(ctx context.Context, c *auth.Caller, keyID, action string, f *facts, fn func(k *keystore.Key, peers []*keystore.Key) error) (*keystore.Key, error) {
	if err := checkKeyID("keyId", keyID); err != nil {
		return nil, err
	}
	k, err := s.authorizedKeyWith(ctx, c, keyID, action, false, f)
	if err != nil {
		return nil, err
	}
	k, _, err = s.ks.UpdateSet(ctx, k.Account, k.Region, k.ID, func(k *keystore.Key, peers []*keystore.Key) error {
		if err := s.checkKeyState(k, action); err != nil {
			return err
		}
		return fn(k, peers)
	})
	return k, s.storeErr(err, "key")
}
