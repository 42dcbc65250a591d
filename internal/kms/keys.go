package kms

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/arn"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Key usages, origins and managers, as AWS spells them.
const (
	UsageEncryptDecrypt = "ENCRYPT_DECRYPT"
	OriginAWSKMS        = "AWS_KMS"
	OriginExternal      = "EXTERNAL"
	OriginCloudHSM      = "AWS_CLOUDHSM"
	OriginXKS           = "EXTERNAL_KEY_STORE"
	ManagerCustomer     = "CUSTOMER"
	algSymmetricDefault = "SYMMETRIC_DEFAULT"
)

// allKeySpecs is every KeySpec Arca accepts: AWS's enum plus Arca's SM4
// extension, so an unknown value is a ValidationException.
var allKeySpecs = func() []string {
	var out []string
	for _, sp := range kmscrypto.Specs() {
		out = append(out, string(sp))
	}
	return out
}()

var allKeyUsages = []string{"SIGN_VERIFY", "ENCRYPT_DECRYPT", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT"}

// isSymmetric reports whether spec encrypts into Arca's ciphertext blob.
func isSymmetric(spec kmscrypto.KeySpec) bool {
	return spec == kmscrypto.SymmetricDefault || spec == kmscrypto.SM4
}

// defaultKeyPolicy is AWS's default key policy: it delegates access to the
// account's IAM policies by allowing the account root everything.
func defaultKeyPolicy(partition, account string) string {
	return `{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:` + partition + `:iam::` + account + `:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`
}

func (s *Service) metadata(k *keystore.Key) *KeyMetadata {
	m := &KeyMetadata{
		AWSAccountID:          k.Account,
		KeyID:                 k.ID,
		Arn:                   s.keyARN(k),
		CreationDate:          epoch.New(k.Created),
		Enabled:               k.State == keystore.Enabled,
		Description:           k.Description,
		KeyUsage:              k.Usage,
		KeyState:              string(k.State),
		Origin:                k.Origin,
		KeyManager:            k.Manager,
		CustomerMasterKeySpec: string(k.Spec),
		KeySpec:               string(k.Spec),
		MultiRegion:           k.MultiRegion,
		CurrentKeyMaterialID:  k.CurrentVersion().MaterialID,
	}
	if algs, err := kmscrypto.AlgorithmsFor(k.Spec, kmscrypto.KeyUsage(k.Usage)); err == nil {
		m.EncryptionAlgorithms = strs(algs.EncryptionAlgorithms)
		m.SigningAlgorithms = strs(algs.SigningAlgorithms)
		m.MacAlgorithms = strs(algs.MacAlgorithms)
		m.KeyAgreementAlgorithms = strs(algs.KeyAgreementAlgorithms)
	}
	if k.Origin == OriginExternal {
		m.ExpirationModel = k.ExpirationModel
		if !k.ValidTo.IsZero() {
			m.ValidTo = epoch.New(k.ValidTo)
		}
	}
	m.MultiRegionConfiguration = s.multiRegionConfig(k)
	switch k.State {
	case keystore.PendingDeletion:
		m.DeletionDate = epoch.New(k.DeletionDate)
		w := int32(k.PendingWindowInDays)
		m.PendingDeletionWindowInDays = &w
	case keystore.PendingReplicaDeletion:
		// No DeletionDate yet: the waiting period starts when the last
		// replica is deleted.
		w := int32(k.PendingWindowInDays)
		m.PendingDeletionWindowInDays = &w
	}
	return m
}

// strs converts a list of string-typed enum values to plain strings.
func strs[T ~string](in []T) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = string(v)
	}
	return out
}

func toStoreTags(tags []Tag) ([]keystore.Tag, error) {
	if len(tags) > maxTagsPerKey {
		return nil, svcerr.New(svcerr.LimitExceeded, "A KMS key can have at most %d tags.", maxTagsPerKey)
	}
	out := make([]keystore.Tag, 0, len(tags))
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if err := checkTag(t); err != nil {
			return nil, err
		}
		if seen[t.TagKey] {
			return nil, svcerr.New(svcerr.TagException, "Duplicate tag key '%s' in the request.", t.TagKey)
		}
		seen[t.TagKey] = true
		out = append(out, keystore.Tag{Key: t.TagKey, Value: t.TagValue})
	}
	slices.SortFunc(out, func(a, b keystore.Tag) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func checkTag(t Tag) error {
	if t.TagKey == "" || len(t.TagKey) > maxTagKey {
		return svcerr.Validationf("1 validation error detected: Value at 'tags.member.tagKey' failed to satisfy constraint: Member must have length between 1 and %d", maxTagKey)
	}
	if len(t.TagValue) > maxTagValue {
		return svcerr.Validationf("1 validation error detected: Value at 'tags.member.tagValue' failed to satisfy constraint: Member must have length less than or equal to %d", maxTagValue)
	}
	if strings.HasPrefix(strings.ToLower(t.TagKey), "aws:") {
		return svcerr.New(svcerr.TagException, "Tags beginning with aws: are reserved.")
	}
	return nil
}

// checkKeyProperties validates the description, policy and tags a new key
// (CreateKey) or replica (ReplicateKey) gets, and returns the tags in
// storage form.
func checkKeyProperties(description, policy string, tags []Tag) ([]keystore.Tag, error) {
	if err := svcerr.CheckLen("description", len(description), 0, maxDescription); err != nil {
		return nil, err
	}
	if policy != "" {
		if _, err := checkPolicy(policy); err != nil {
			return nil, err
		}
	}
	return toStoreTags(tags)
}

// checkPolicy parses a key policy with AWS's grammar and limits, and
// returns it compiled.
func checkPolicy(doc string) (*policy.Policy, error) {
	if err := svcerr.CheckLen("policy", len(doc), 1, maxPolicy); err != nil {
		return nil, err
	}
	p, err := policy.ParseWith([]byte(doc), policy.Options{Kind: policy.KindResource})
	if err != nil {
		var me *policy.MalformedError
		if errors.As(err, &me) {
			return nil, svcerr.Wrap(svcerr.MalformedPolicyDocument, err, "%s", me.Reason)
		}
		return nil, svcerr.Wrap(svcerr.MalformedPolicyDocument, err, "%s", policy.ReasonSyntax)
	}
	return p, nil
}

// checkLockout is AWS's policy lockout safety check: unless the caller
// bypasses it, a new key policy must let the caller make a later
// PutKeyPolicy call on the key, so that nobody locks themselves out of a
// key by mistake.
func (s *Service) checkLockout(ctx context.Context, c *auth.Caller, k *keystore.Key, p *policy.Policy, bypass bool) error {
	if bypass {
		return nil
	}
	probe := *k
	if err := s.authorizeUnder(ctx, c, ActPutKeyPolicy, &probe, p); err != nil {
		if svcerr.CodeOf(err) == svcerr.AccessDenied {
			return svcerr.New(svcerr.MalformedPolicyDocument, "The new key policy will not allow you to update the key policy in the future.")
		}
		return err
	}
	return nil
}

// CreateKey creates a KMS key in the caller's account and region.
func (s *Service) CreateKey(ctx context.Context, c *auth.Caller, in *CreateKeyInput) (*CreateKeyOutput, error) {
	spec := in.KeySpec
	if spec == "" {
		spec = in.CustomerMasterKeySpec
	} else if in.CustomerMasterKeySpec != "" && in.CustomerMasterKeySpec != in.KeySpec {
		return nil, svcerr.Validationf("You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.")
	}
	if spec == "" {
		spec = string(kmscrypto.SymmetricDefault)
	}
	if err := checkEnum("keySpec", spec, allKeySpecs...); err != nil {
		return nil, err
	}
	usage := in.KeyUsage
	if usage == "" {
		usage = UsageEncryptDecrypt
	}
	if err := checkEnum("keyUsage", usage, allKeyUsages...); err != nil {
		return nil, err
	}
	origin := in.Origin
	if origin == "" {
		origin = OriginAWSKMS
	}
	if err := checkEnum("origin", origin, OriginAWSKMS, OriginExternal, OriginCloudHSM, OriginXKS); err != nil {
		return nil, err
	}
	tags, err := checkKeyProperties(in.Description, in.Policy, in.Tags)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(kmscrypto.KeyUsages(kmscrypto.KeySpec(spec)), kmscrypto.KeyUsage(usage)) {
		return nil, svcerr.Validationf("KeyUsage %s is not compatible with KeySpec %s", usage, spec)
	}
	if in.MultiRegion && origin == OriginExternal {
		// Refused on its own so that it stays refused once Origin EXTERNAL
		// lands: replicas of imported material need their own import.
		return nil, svcerr.New(svcerr.UnsupportedOperation, "Multi-Region keys with imported key material (Origin EXTERNAL) are not supported by this Arca version.")
	}
	if origin != OriginAWSKMS && origin != OriginExternal {
		if in.CustomKeyStoreID == "" && (origin == OriginCloudHSM || origin == OriginXKS) {
			return nil, svcerr.New(svcerr.CustomKeyStoreNotFound, "Origin %s requires a CustomKeyStoreId.", origin)
		}
		return nil, svcerr.New(svcerr.UnsupportedOperation, "Origin %s is not supported by this Arca version.", origin)
	}
	if in.CustomKeyStoreID != "" {
		return nil, svcerr.New(svcerr.CustomKeyStoreNotFound, "Custom key store %s does not exist.", in.CustomKeyStoreID)
	}
	create := &facts{more: func(pc *policy.Context) {
		// For CreateKey these keys describe the key being requested.
		pc.Add("kms:KeySpec", spec)
		pc.Add("kms:KeyUsage", usage)
		pc.Add("kms:KeyOrigin", origin)
		pc.SetBool("kms:MultiRegion", in.MultiRegion)
		setRequestTags(pc, tags)
	}}
	if err := s.authorizeWith(ctx, c, ActCreateKey, nil, create); err != nil {
		return nil, err
	}
	newID := newKeyID
	if in.MultiRegion {
		newID = newMultiRegionKeyID
	}
	id, err := newID()
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	doc := in.Policy
	if doc == "" {
		doc = defaultKeyPolicy(s.partition, c.Account)
	}
	k := &keystore.Key{
		ID: id, Account: c.Account, Region: c.Region,
		Description: in.Description, Spec: kmscrypto.KeySpec(spec), Usage: usage,
		State: keystore.Enabled, Origin: origin, Manager: ManagerCustomer,
		Created: s.now().UTC(), Policy: doc, Tags: tags,
	}
	var custom *policy.Policy
	if in.Policy != "" {
		if custom, err = checkPolicy(in.Policy); err != nil {
			return nil, err
		}
		if err := s.checkLockout(ctx, c, k, custom, in.BypassPolicyLockoutSafetyCheck); err != nil {
			return nil, err
		}
	}
	// A key for imported material starts with none and waits for it.
	var material *kmscrypto.Key
	if origin == OriginExternal {
		k.State = keystore.PendingImport
	} else if material, err = kmscrypto.Generate(kmscrypto.KeySpec(spec)); err != nil {
		return nil, svcerr.InternalError(err)
	}
	if in.MultiRegion {
		k.MultiRegion, k.MultiRegionType, k.PrimaryRegion = true, keystore.MultiRegionPrimary, c.Region
	}
	if err := s.ks.Create(ctx, k, material); err != nil {
		if material != nil {
			material.Destroy()
		}
		return nil, s.storeErr(err, "key")
	}
	k, err = s.ks.Get(ctx, c.Account, c.Region, id)
	if err != nil {
		return nil, s.storeErr(err, "key")
	}
	if custom != nil {
		s.lintKeyPolicy(k, custom)
	}
	return &CreateKeyOutput{KeyMetadata: s.metadata(k)}, nil
}

// DescribeKey returns a key's metadata.
func (s *Service) DescribeKey(ctx context.Context, c *auth.Caller, in *DescribeKeyInput) (*DescribeKeyOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	k, err := s.keyFor(ctx, c, in.KeyID, ActDescribeKey, true)
	if err != nil {
		return nil, err
	}
	return &DescribeKeyOutput{KeyMetadata: s.metadata(k)}, nil
}

// ListKeys lists the keys of the caller's account in the caller's region.
func (s *Service) ListKeys(ctx context.Context, c *auth.Caller, in *ListKeysInput) (*ListKeysOutput, error) {
	limit, err := checkLimit(in.Limit, defaultListKeys, maxListKeys)
	if err != nil {
		return nil, err
	}
	if in.Marker != "" && !arn.IsKeyID(in.Marker) {
		return nil, svcerr.New(svcerr.InvalidMarker, "Invalid marker.")
	}
	if err := s.authorize(ctx, c, ActListKeys, nil); err != nil {
		return nil, err
	}
	keys, err := s.ks.List(ctx, c.Account, c.Region, in.Marker, limit+1)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	out := &ListKeysOutput{Keys: []KeyListEntry{}}
	if len(keys) > limit {
		keys = keys[:limit]
		out.Truncated = true
		out.NextMarker = keys[len(keys)-1].ID
	}
	for _, k := range keys {
		out.Keys = append(out.Keys, KeyListEntry{KeyID: k.ID, KeyArn: s.keyARN(k)})
	}
	return out, nil
}

// update resolves a key by ID or ARN, authorizes action, and applies fn to it
// atomically. The key-state table is consulted inside the transaction,
// before fn, so a state change that raced the request is seen and a refused
// call writes nothing.
func (s *Service) update(ctx context.Context, c *auth.Caller, keyID, action string, f *facts, fn func(k *keystore.Key) error) (*keystore.Key, error) {
	if err := checkKeyID("keyId", keyID); err != nil {
		return nil, err
	}
	k, err := s.authorizedKeyWith(ctx, c, keyID, action, false, f)
	if err != nil {
		return nil, err
	}
	k, err = s.ks.Update(ctx, k.Account, k.Region, k.ID, func(k *keystore.Key) error {
		if err := s.checkKeyState(k, action); err != nil {
			return err
		}
		return fn(k)
	})
	return k, s.storeErr(err, "key")
}

// keepsState reports whether EnableKey and DisableKey leave k's state as it
// is: AWS accepts both for an Unavailable key but the state only follows
// once the key is available again (key-state footnote [12]), and Arca treats
// a Creating replica, which "can be managed", the same way. Arca has no
// custom key stores or replication yet, so nothing is remembered to apply
// later.
func keepsState(k *keystore.Key) bool {
	return k.State == keystore.Unavailable || k.State == keystore.Creating
}

// EnableKey sets a key's state to Enabled.
func (s *Service) EnableKey(ctx context.Context, c *auth.Caller, in *KeyIDInput) (*Empty, error) {
	_, err := s.update(ctx, c, in.KeyID, ActEnableKey, nil, func(k *keystore.Key) error {
		if !keepsState(k) {
			k.State = keystore.Enabled
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

// DisableKey sets a key's state to Disabled.
func (s *Service) DisableKey(ctx context.Context, c *auth.Caller, in *KeyIDInput) (*Empty, error) {
	_, err := s.update(ctx, c, in.KeyID, ActDisableKey, nil, func(k *keystore.Key) error {
		if !keepsState(k) {
			k.State = keystore.Disabled
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

// ScheduleKeyDeletion puts a key in PendingDeletion with a DeletionDate
// PendingWindowInDays (7–30, default 30) from now.
func (s *Service) ScheduleKeyDeletion(ctx context.Context, c *auth.Caller, in *ScheduleKeyDeletionInput) (*ScheduleKeyDeletionOutput, error) {
	days := int32(defaultPendingDays)
	if in.PendingWindowInDays != nil {
		if err := svcerr.CheckRange("pendingWindowInDays", *in.PendingWindowInDays, minPendingWindow, maxPendingWindow); err != nil {
			return nil, err
		}
		days = *in.PendingWindowInDays
	}
	now := s.now().UTC()
	f := &facts{more: func(pc *policy.Context) {
		pc.Add("kms:ScheduleKeyDeletionPendingWindowInDays", strconv.Itoa(int(days)))
	}}
	k, err := s.update(ctx, c, in.KeyID, ActScheduleKeyDeletion, f, func(k *keystore.Key) error {
		k.PendingWindowInDays = int(days)
		if k.MultiRegionType == keystore.MultiRegionPrimary && len(k.ReplicaRegions) > 0 {
			// AWS never deletes a primary key that still has replicas: it
			// waits in PendingReplicaDeletion, and its waiting period starts
			// when the sweep deletes its last replica.
			k.State = keystore.PendingReplicaDeletion
			k.DeletionDate = time.Time{}
			return nil
		}
		k.State = keystore.PendingDeletion
		k.DeletionDate = now.Add(time.Duration(days) * 24 * time.Hour)
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := &ScheduleKeyDeletionOutput{KeyID: s.keyARN(k), KeyState: string(k.State), PendingWindowInDays: days}
	if k.State == keystore.PendingDeletion {
		out.DeletionDate = epoch.New(k.DeletionDate)
	}
	return out, nil
}

// CancelKeyDeletion takes a key out of PendingDeletion (or
// PendingReplicaDeletion); it becomes Disabled.
func (s *Service) CancelKeyDeletion(ctx context.Context, c *auth.Caller, in *KeyIDInput) (*CancelKeyDeletionOutput, error) {
	k, err := s.update(ctx, c, in.KeyID, ActCancelKeyDeletion, nil, func(k *keystore.Key) error {
		k.State = keystore.Disabled
		if !hasImportedMaterial(k) {
			// As AWS: a key for imported material that has none goes
			// back to waiting for it.
			k.State = keystore.PendingImport
		}
		k.DeletionDate = time.Time{}
		k.PendingWindowInDays = 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &CancelKeyDeletionOutput{KeyID: s.keyARN(k)}, nil
}

// UpdateKeyDescription replaces a key's description.
func (s *Service) UpdateKeyDescription(ctx context.Context, c *auth.Caller, in *UpdateKeyDescriptionInput) (*Empty, error) {
	if in.Description == nil {
		if err := checkKeyID("keyId", in.KeyID); err != nil {
			return nil, err
		}
		return nil, svcerr.Missing("description")
	}
	if err := svcerr.CheckLen("description", len(*in.Description), 0, maxDescription); err != nil {
		return nil, err
	}
	_, err := s.update(ctx, c, in.KeyID, ActUpdateKeyDescription, nil, func(k *keystore.Key) error {
		k.Description = *in.Description
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

// GetKeyPolicy returns a key's policy; "default" is the only policy name.
func (s *Service) GetKeyPolicy(ctx context.Context, c *auth.Caller, in *GetKeyPolicyInput) (*GetKeyPolicyOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	name := in.PolicyName
	if name == "" {
		name = "default"
	}
	if err := svcerr.CheckLen("policyName", len(name), 1, 128); err != nil {
		return nil, err
	}
	k, err := s.keyFor(ctx, c, in.KeyID, ActGetKeyPolicy, false)
	if err != nil {
		return nil, err
	}
	if name != "default" {
		return nil, svcerr.New(svcerr.NotFound, "No such policy exists: %s", name)
	}
	return &GetKeyPolicyOutput{Policy: k.Policy, PolicyName: name}, nil
}
