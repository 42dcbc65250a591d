package kms

import (
	"context"
	"strconv"
	"time"

	"github.com/arca-kms/arca/internal/arn"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Rotation limits, as AWS documents them.
const (
	minRotationPeriod     = 90
	maxRotationPeriod     = 2560
	defaultRotationPeriod = 365
	// maxOnDemandRotations is AWS's (non-adjustable) quota of RotateKeyOnDemand
	// calls per key, per the current developer guide (older API pages say 10).
	maxOnDemandRotations = 25
	defaultListRotations = 100
	maxListRotations     = 1000
	rotationAutomatic    = "AUTOMATIC"
	rotationOnDemand     = "ON_DEMAND"
)

// Rotation actions.
const (
	ActEnableKeyRotation    = "kms:EnableKeyRotation"
	ActDisableKeyRotation   = "kms:DisableKeyRotation"
	ActGetKeyRotationStatus = "kms:GetKeyRotationStatus"
	ActRotateKeyOnDemand    = "kms:RotateKeyOnDemand"
	ActListKeyRotations     = "kms:ListKeyRotations"
)

// EnableKeyRotationInput is the EnableKeyRotation request.
type EnableKeyRotationInput struct {
	KeyID                string `json:"KeyId"`
	RotationPeriodInDays *int32 `json:"RotationPeriodInDays"`
}

// GetKeyRotationStatusOutput is the GetKeyRotationStatus response.
type GetKeyRotationStatusOutput struct {
	KeyID                     string      `json:"KeyId"`
	KeyRotationEnabled        bool        `json:"KeyRotationEnabled"`
	RotationPeriodInDays      *int32      `json:"RotationPeriodInDays,omitempty"`
	NextRotationDate          *epoch.Time `json:"NextRotationDate,omitempty"`
	OnDemandRotationStartDate *epoch.Time `json:"OnDemandRotationStartDate,omitempty"`
}

// RotateKeyOnDemandOutput is the RotateKeyOnDemand response.
type RotateKeyOnDemandOutput struct {
	KeyID string `json:"KeyId"`
}

// ListKeyRotationsInput is the ListKeyRotations request.
type ListKeyRotationsInput struct {
	KeyID              string `json:"KeyId"`
	IncludeKeyMaterial string `json:"IncludeKeyMaterial"`
	Limit              *int32 `json:"Limit"`
	Marker             string `json:"Marker"`
}

// RotationsListEntry is one rotation in a ListKeyRotations response.
type RotationsListEntry struct {
	KeyID         string      `json:"KeyId"`
	KeyMaterialID string      `json:"KeyMaterialId,omitempty"`
	RotationDate  *epoch.Time `json:"RotationDate,omitempty"`
	RotationType  string      `json:"RotationType,omitempty"`
}

// ListKeyRotationsOutput is the ListKeyRotations response.
type ListKeyRotationsOutput struct {
	Rotations  []RotationsListEntry `json:"Rotations"`
	NextMarker string               `json:"NextMarker,omitempty"`
	Truncated  bool                 `json:"Truncated"`
}

// rotatable checks that k may be rotated at all: AWS rotates only symmetric
// encryption keys whose material it generated.
func (s *Service) rotatable(k *keystore.Key) error {
	if !isSymmetric(k.Spec) || k.Usage != UsageEncryptDecrypt {
		return svcerr.New(svcerr.UnsupportedOperation, "%s is not a symmetric encryption key; only symmetric encryption keys can be rotated.", s.keyARN(k))
	}
	if k.Origin != OriginAWSKMS {
		return svcerr.New(svcerr.UnsupportedOperation, "%s has imported key material, which cannot be rotated automatically.", s.keyARN(k))
	}
	return nil
}

// notOnReplica refuses a rotation change on a multi-Region replica key:
// rotation is a property the set shares, and AWS manages it on the primary.
func (s *Service) notOnReplica(k *keystore.Key) error {
	if isReplica(k) {
		return svcerr.New(svcerr.UnsupportedOperation, "%s is a multi-Region replica key; its rotation is managed on its primary key %s.",
			s.keyARN(k), arn.KeyARN(s.partition, k.PrimaryRegion, k.Account, k.ID))
	}
	return nil
}

// syncRotation copies the rotation settings the set of related
// multi-Region keys shares from k to its peers, so that whichever key
// becomes primary carries on the same schedule.
func syncRotation(k *keystore.Key, peers []*keystore.Key) {
	for _, p := range peers {
		p.RotationPeriodInDays, p.NextRotation, p.OnDemandRotations = k.RotationPeriodInDays, k.NextRotation, k.OnDemandRotations
	}
}

// EnableKeyRotation turns on automatic rotation every RotationPeriodInDays
// (90–2560, default 365), the first one that many days from now.
func (s *Service) EnableKeyRotation(ctx context.Context, c *auth.Caller, in *EnableKeyRotationInput) (*Empty, error) {
	days := int32(defaultRotationPeriod)
	if in.RotationPeriodInDays != nil {
		if err := svcerr.CheckRange("rotationPeriodInDays", *in.RotationPeriodInDays, minRotationPeriod, maxRotationPeriod); err != nil {
			return nil, err
		}
		days = *in.RotationPeriodInDays
	}
	now := s.now().UTC()
	f := &facts{more: func(pc *policy.Context) { pc.Add("kms:RotationPeriodInDays", strconv.Itoa(int(days))) }}
	_, err := s.updateSet(ctx, c, in.KeyID, ActEnableKeyRotation, f, func(k *keystore.Key, peers []*keystore.Key) error {
		if err := s.rotatable(k); err != nil {
			return err
		}
		if err := s.notOnReplica(k); err != nil {
			return err
		}
		k.RotationPeriodInDays = int(days)
		k.NextRotation = now.Add(time.Duration(days) * 24 * time.Hour)
		syncRotation(k, peers)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

// DisableKeyRotation turns off automatic rotation.
func (s *Service) DisableKeyRotation(ctx context.Context, c *auth.Caller, in *KeyIDInput) (*Empty, error) {
	_, err := s.updateSet(ctx, c, in.KeyID, ActDisableKeyRotation, nil, func(k *keystore.Key, peers []*keystore.Key) error {
		if err := s.rotatable(k); err != nil {
			return err
		}
		if err := s.notOnReplica(k); err != nil {
			return err
		}
		k.RotationPeriodInDays = 0
		k.NextRotation = time.Time{}
		syncRotation(k, peers)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, nil
}

// GetKeyRotationStatus reports whether and when a key rotates.
func (s *Service) GetKeyRotationStatus(ctx context.Context, c *auth.Caller, in *KeyIDInput) (*GetKeyRotationStatusOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	k, err := s.keyFor(ctx, c, in.KeyID, ActGetKeyRotationStatus, false)
	if err != nil {
		return nil, err
	}
	if err := s.rotatable(k); err != nil {
		return nil, err
	}
	// "While a KMS key is pending deletion, its key rotation status is false
	// and KMS does not rotate the key material. If you cancel the deletion,
	// the original key rotation status returns to true" (API reference): the
	// schedule is kept, only not reported.
	pending := k.State == keystore.PendingDeletion || k.State == keystore.PendingReplicaDeletion
	out := &GetKeyRotationStatusOutput{KeyID: s.keyARN(k), KeyRotationEnabled: k.RotationPeriodInDays > 0 && !pending}
	if out.KeyRotationEnabled {
		d := int32(k.RotationPeriodInDays)
		out.RotationPeriodInDays = &d
		out.NextRotationDate = epoch.New(k.NextRotation)
	}
	return out, nil
}

// RotateKeyOnDemand adds a new version of a key's material now. It does not
// move the automatic schedule.
func (s *Service) RotateKeyOnDemand(ctx context.Context, c *auth.Caller, in *KeyIDInput) (*RotateKeyOnDemandOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	// The state is checked again inside rotate's transaction; checking it
	// here too spares generating material for a call that will be refused.
	k, err := s.keyFor(ctx, c, in.KeyID, ActRotateKeyOnDemand, false)
	if err != nil {
		return nil, err
	}
	k, err = s.rotate(ctx, k, rotationOnDemand)
	if err != nil {
		return nil, err
	}
	return &RotateKeyOnDemandOutput{KeyID: s.keyARN(k)}, nil
}

// rotate adds a version of new material to k and, for a multi-Region
// primary key, to every replica in the same transaction, re-checking inside
// it that the rotation is still allowed (and, for automatic ones, still due,
// so two scheduler passes never rotate twice). A replica never rotates by
// itself: its material comes only from its primary.
func (s *Service) rotate(ctx context.Context, k *keystore.Key, kind string) (*keystore.Key, error) {
	m, err := kmscrypto.Generate(k.Spec)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	now := s.now().UTC()
	k, err = s.ks.AddSharedVersion(ctx, k.Account, k.Region, k.ID, m, now, func(k *keystore.Key, peers []*keystore.Key, v *keystore.Version) error {
		if kind == rotationOnDemand {
			if err := s.checkKeyState(k, ActRotateKeyOnDemand); err != nil {
				return err
			}
		} else if k.State != keystore.Enabled || isReplica(k) {
			// Automatic rotation is not an operation a caller asked for: a
			// key that left Enabled (or became a replica) since the sweep
			// listed it is simply not due, and an enabled key catches up
			// when it is enabled again.
			return errNotDue
		}
		if err := s.rotatable(k); err != nil {
			return err
		}
		if err := s.notOnReplica(k); err != nil {
			return err
		}
		v.Rotation = kind
		switch kind {
		case rotationOnDemand:
			if k.OnDemandRotations >= maxOnDemandRotations {
				return svcerr.New(svcerr.LimitExceeded, "%s has reached the quota of %d on-demand rotations.", s.keyARN(k), maxOnDemandRotations)
			}
			k.OnDemandRotations++
		case rotationAutomatic:
			if k.RotationPeriodInDays == 0 || k.NextRotation.After(now) {
				return errNotDue
			}
			k.NextRotation = now.Add(time.Duration(k.RotationPeriodInDays) * 24 * time.Hour)
		}
		syncRotation(k, peers)
		return nil
	})
	if err != nil {
		m.Destroy()
		return nil, s.storeErr(err, "key")
	}
	return k, nil
}

// ListKeyRotations lists a key's rotations, oldest first; with
// IncludeKeyMaterial ALL_KEY_MATERIAL the original material is listed too.
func (s *Service) ListKeyRotations(ctx context.Context, c *auth.Caller, in *ListKeyRotationsInput) (*ListKeyRotationsOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	limit, err := checkLimit(in.Limit, defaultListRotations, maxListRotations)
	if err != nil {
		return nil, err
	}
	all := false
	if in.IncludeKeyMaterial != "" {
		if err := checkEnum("includeKeyMaterial", in.IncludeKeyMaterial, "ALL_KEY_MATERIAL", "ROTATIONS_ONLY"); err != nil {
			return nil, err
		}
		all = in.IncludeKeyMaterial == "ALL_KEY_MATERIAL"
	}
	k, err := s.keyFor(ctx, c, in.KeyID, ActListKeyRotations, false)
	if err != nil {
		return nil, err
	}
	if err := s.rotatable(k); err != nil {
		return nil, err
	}
	var after uint64
	if in.Marker != "" {
		v, ok := parseVersionMarker(in.Marker)
		if !ok {
			return nil, svcerr.New(svcerr.InvalidMarker, "Invalid marker.")
		}
		after = v
	}
	out := &ListKeyRotationsOutput{Rotations: []RotationsListEntry{}}
	for _, v := range k.Versions {
		if uint64(v.Number) <= after || (v.Rotation == "" && !all) {
			continue
		}
		if len(out.Rotations) == limit {
			out.Truncated = true
			break
		}
		e := RotationsListEntry{KeyID: s.keyARN(k), KeyMaterialID: v.MaterialID}
		if v.Rotation != "" {
			e.RotationDate, e.RotationType = epoch.New(v.Created), v.Rotation
		}
		out.Rotations = append(out.Rotations, e)
		out.NextMarker = versionMarker(v.Number)
	}
	if !out.Truncated {
		out.NextMarker = ""
	}
	return out, nil
}

func versionMarker(v uint32) string { return "v" + strconv.FormatUint(uint64(v), 10) }

func parseVersionMarker(m string) (uint64, bool) {
	if len(m) < 2 || m[0] != 'v' {
		return 0, false
	}
	v, err := strconv.ParseUint(m[1:], 10, 32)
	return v, err == nil
}
