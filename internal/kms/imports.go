package kms

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Imported key material (Origin EXTERNAL, "bring your own key").
const (
	ActGetParametersForImport    = "kms:GetParametersForImport"
	ActImportKeyMaterial         = "kms:ImportKeyMaterial"
	ActDeleteImportedKeyMaterial = "kms:DeleteImportedKeyMaterial"

	expirationExpires       = "KEY_MATERIAL_EXPIRES"
	expirationDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE"
	importNew               = "NEW_KEY_MATERIAL"
	importExisting          = "EXISTING_KEY_MATERIAL"

	// importParamsLifetime is how long a wrapping key and import token stay
	// usable, as AWS.
	importParamsLifetime = 24 * time.Hour
	// maxValidTo is how far ahead imported material may be set to expire.
	maxValidTo = 365 * 24 * time.Hour
	// keepImportParams bounds the outstanding wrapping keys per key; the
	// oldest goes when a newer set is requested.
	keepImportParams = 16
	// importTokenVersion leads every import token Arca issues.
	importTokenVersion = 0x01
	importTokenIDLen   = 16
	maxImportToken     = 32768
	maxWrappedMaterial = 6144
	maxMaterialDesc    = 256
)

// GetParametersForImportInput is the GetParametersForImport request.
type GetParametersForImportInput struct {
	KeyID             string `json:"KeyId"`
	WrappingAlgorithm string `json:"WrappingAlgorithm"`
	WrappingKeySpec   string `json:"WrappingKeySpec"`
}

// GetParametersForImportOutput is the GetParametersForImport response.
type GetParametersForImportOutput struct {
	KeyID             string      `json:"KeyId"`
	ImportToken       []byte      `json:"ImportToken"`
	PublicKey         []byte      `json:"PublicKey"`
	ParametersValidTo *epoch.Time `json:"ParametersValidTo"`
}

// ImportKeyMaterialInput is the ImportKeyMaterial request.
type ImportKeyMaterialInput struct {
	KeyID                  string      `json:"KeyId"`
	ImportToken            []byte      `json:"ImportToken"`
	EncryptedKeyMaterial   []byte      `json:"EncryptedKeyMaterial"`
	ValidTo                *epoch.Time `json:"ValidTo"`
	ExpirationModel        string      `json:"ExpirationModel"`
	ImportType             string      `json:"ImportType"`
	KeyMaterialDescription *string     `json:"KeyMaterialDescription"`
	KeyMaterialID          string      `json:"KeyMaterialId"`
}

// ImportKeyMaterialOutput is the ImportKeyMaterial response.
type ImportKeyMaterialOutput struct {
	KeyID         string `json:"KeyId"`
	KeyMaterialID string `json:"KeyMaterialId"`
}

// DeleteImportedKeyMaterialInput is the DeleteImportedKeyMaterial request.
type DeleteImportedKeyMaterialInput struct {
	KeyID         string `json:"KeyId"`
	KeyMaterialID string `json:"KeyMaterialId"`
}

// DeleteImportedKeyMaterialOutput is the DeleteImportedKeyMaterial response.
type DeleteImportedKeyMaterialOutput struct {
	KeyID         string `json:"KeyId"`
	KeyMaterialID string `json:"KeyMaterialId,omitempty"`
}

// externalKey resolves a key for an import operation: by key ID or ARN only
// (AWS accepts no alias here), authorized for action, of Origin EXTERNAL and
// in a state that allows managing it.
func (s *Service) externalKey(ctx context.Context, c *auth.Caller, keyID, action string) (*keystore.Key, error) {
	if err := checkKeyID("keyId", keyID); err != nil {
		return nil, err
	}
	k, err := s.authorizedKey(ctx, c, keyID, action, false)
	if err != nil {
		return nil, err
	}
	if err := s.external(k); err != nil {
		return nil, err
	}
	return k, s.checkKeyState(k, action)
}

// external refuses keys whose material Arca generated.
func (s *Service) external(k *keystore.Key) error {
	if k.Origin != OriginExternal {
		return svcerr.New(svcerr.UnsupportedOperation, "%s has Origin %s; key material can only be imported into a key with Origin EXTERNAL.", s.keyARN(k), k.Origin)
	}
	return nil
}

// GetParametersForImport makes a wrapping key pair and an import token for
// a key of Origin EXTERNAL; both are valid for 24 hours.
func (s *Service) GetParametersForImport(ctx context.Context, c *auth.Caller, in *GetParametersForImportInput) (*GetParametersForImportOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if in.WrappingAlgorithm == "" {
		return nil, svcerr.Missing("wrappingAlgorithm")
	}
	if err := checkEnum("wrappingAlgorithm", in.WrappingAlgorithm, strs(kmscrypto.WrappingAlgorithms())...); err != nil {
		return nil, err
	}
	if in.WrappingKeySpec == "" {
		return nil, svcerr.Missing("wrappingKeySpec")
	}
	if err := checkEnum("wrappingKeySpec", in.WrappingKeySpec, strs(kmscrypto.WrappingKeySpecs())...); err != nil {
		return nil, err
	}
	k, err := s.externalKey(ctx, c, in.KeyID, ActGetParametersForImport)
	if err != nil {
		return nil, err
	}
	alg, spec := kmscrypto.WrappingAlgorithm(in.WrappingAlgorithm), kmscrypto.KeySpec(in.WrappingKeySpec)
	if err := kmscrypto.CheckWrapping(k.Spec, alg, spec); err != nil {
		return nil, svcerr.Wrap(svcerr.Validation, err, "%s", errText(err))
	}
	wk, err := kmscrypto.Generate(spec)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	defer wk.Destroy()
	pub, err := wk.PublicKeyDER()
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	id, err := kmscrypto.RandomBytes(importTokenIDLen)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	now := s.now().UTC()
	p := &keystore.ImportParams{
		Token: hex.EncodeToString(id), Algorithm: string(alg), WrappingSpec: spec,
		Created: now, ValidTo: now.Add(importParamsLifetime), Private: wk.Marshal(),
	}
	err = s.ks.PutImportParams(ctx, k.Account, k.Region, k.ID, p, now, keepImportParams)
	clear(p.Private)
	if err != nil {
		return nil, s.storeErr(err, "key")
	}
	return &GetParametersForImportOutput{
		KeyID:             s.keyARN(k),
		ImportToken:       append([]byte{importTokenVersion}, id...),
		PublicKey:         pub,
		ParametersValidTo: epoch.New(p.ValidTo),
	}, nil
}

// errText is the public part of a kmscrypto error: kmscrypto's messages name
// specs and algorithms, never material.
func errText(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{kmscrypto.ErrUnsupportedAlgorithm, kmscrypto.ErrUnsupportedSpec, kmscrypto.ErrInvalidKeyMaterial} {
		if errors.Is(err, sentinel) {
			if p := sentinel.Error() + ": "; len(msg) > len(p) && msg[:len(p)] == p {
				return msg[len(p):]
			}
		}
	}
	return msg
}

// checkImportInput validates ImportKeyMaterial's members and returns the
// expiration model and ValidTo (zero when the material does not expire).
func (s *Service) checkImportInput(in *ImportKeyMaterialInput, now time.Time) (string, time.Time, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return "", time.Time{}, err
	}
	if in.ImportToken == nil {
		return "", time.Time{}, svcerr.Missing("importToken")
	}
	if err := svcerr.CheckLen("importToken", len(in.ImportToken), 1, maxImportToken); err != nil {
		return "", time.Time{}, err
	}
	if in.EncryptedKeyMaterial == nil {
		return "", time.Time{}, svcerr.Missing("encryptedKeyMaterial")
	}
	if err := svcerr.CheckLen("encryptedKeyMaterial", len(in.EncryptedKeyMaterial), 1, maxWrappedMaterial); err != nil {
		return "", time.Time{}, err
	}
	model := in.ExpirationModel
	if model == "" {
		model = expirationExpires
	}
	if err := checkEnum("expirationModel", model, expirationExpires, expirationDoesNotExpire); err != nil {
		return "", time.Time{}, err
	}
	if in.ImportType != "" {
		if err := checkEnum("importType", in.ImportType, importNew, importExisting); err != nil {
			return "", time.Time{}, err
		}
	}
	if in.KeyMaterialDescription != nil {
		if err := svcerr.CheckLen("keyMaterialDescription", len(*in.KeyMaterialDescription), 0, maxMaterialDesc); err != nil {
			return "", time.Time{}, err
		}
	}
	if in.KeyMaterialID != "" {
		if err := svcerr.CheckLen("keyMaterialId", len(in.KeyMaterialID), 64, 64); err != nil {
			return "", time.Time{}, err
		}
		if in.ImportType == importNew {
			return "", time.Time{}, svcerr.Validationf("You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.")
		}
	}
	var validTo time.Time
	switch {
	case model == expirationExpires && in.ValidTo == nil:
		return "", time.Time{}, svcerr.Validationf("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.")
	case model == expirationDoesNotExpire && in.ValidTo != nil:
		return "", time.Time{}, svcerr.Validationf("ValidTo is not valid when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.")
	case in.ValidTo != nil:
		validTo = in.ValidTo.UTC()
		if !validTo.After(now) {
			return "", time.Time{}, svcerr.Validationf("ValidTo must be in the future.")
		}
		if validTo.After(now.Add(maxValidTo)) {
			return "", time.Time{}, svcerr.Validationf("ValidTo must be at most 365 days from now.")
		}
	}
	return model, validTo, nil
}

// ImportKeyMaterial unwraps customer key material with the wrapping key an
// import token names and makes it the key's material. A key takes one
// material for life: reimporting the same material (after it expired or was
// deleted, or to change its expiration) is allowed; different material is
// IncorrectKeyMaterialException.
func (s *Service) ImportKeyMaterial(ctx context.Context, c *auth.Caller, in *ImportKeyMaterialInput) (*ImportKeyMaterialOutput, error) {
	now := s.now().UTC()
	model, validTo, err := s.checkImportInput(in, now)
	if err != nil {
		return nil, err
	}
	k, err := s.externalKey(ctx, c, in.KeyID, ActImportKeyMaterial)
	if err != nil {
		return nil, err
	}
	badToken := svcerr.New(svcerr.InvalidImportToken, "The import token is not valid for %s. Use the import token and public key from the same GetParametersForImport response for this key.", s.keyARN(k))
	if len(in.ImportToken) != 1+importTokenIDLen || in.ImportToken[0] != importTokenVersion {
		return nil, badToken
	}
	p, err := s.ks.GetImportParams(ctx, k.Account, k.Region, k.ID, hex.EncodeToString(in.ImportToken[1:]))
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, badToken
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	wk, err := kmscrypto.ParseKey(p.WrappingSpec, p.Private)
	clear(p.Private)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	defer wk.Destroy()
	if !p.ValidTo.After(now) {
		return nil, svcerr.New(svcerr.ExpiredImportToken, "The import token expired at %s. Call GetParametersForImport for a new public key and import token.", p.ValidTo.Format(time.RFC3339))
	}
	raw, err := kmscrypto.UnwrapKeyMaterial(wk, kmscrypto.WrappingAlgorithm(p.Algorithm), in.EncryptedKeyMaterial)
	if err != nil {
		return nil, svcerr.Wrap(svcerr.InvalidCiphertext, err,
			"The encrypted key material could not be decrypted with the wrapping key of this import token and the %s wrapping algorithm.", p.Algorithm)
	}
	material, err := kmscrypto.ParseKey(k.Spec, raw)
	clear(raw)
	if err != nil {
		return nil, svcerr.Wrap(svcerr.IncorrectKeyMaterial, err, "The key material is not valid for a %s key: %s", k.Spec, errText(err))
	}
	mid, err := kmscrypto.ImportedMaterialID(material, k.Account, k.ID)
	if err != nil {
		material.Destroy()
		return nil, svcerr.InternalError(err)
	}
	updated, err := s.ks.SetMaterial(ctx, k.Account, k.Region, k.ID, material, func(k *keystore.Key) error {
		if err := s.external(k); err != nil {
			return err
		}
		if err := s.checkKeyState(k, ActImportKeyMaterial); err != nil {
			return err
		}
		if len(k.Versions) > 0 {
			if in.ImportType == importNew {
				return svcerr.New(svcerr.UnsupportedOperation, "%s already has key material; Arca keeps one key material per imported key, so only EXISTING_KEY_MATERIAL can be imported.", s.keyARN(k))
			}
			if subtle.ConstantTimeCompare([]byte(k.Versions[0].MaterialID), []byte(mid)) != 1 {
				return svcerr.New(svcerr.IncorrectKeyMaterial, "The key material does not match the key material previously imported into %s.", s.keyARN(k))
			}
		} else {
			if in.ImportType == importExisting {
				return svcerr.New(svcerr.IncorrectKeyMaterial, "No key material was previously imported into %s; import it with ImportType NEW_KEY_MATERIAL.", s.keyARN(k))
			}
			k.Versions = []keystore.Version{{Number: 1, Created: now, MaterialID: mid}}
		}
		if in.KeyMaterialID != "" && subtle.ConstantTimeCompare([]byte(in.KeyMaterialID), []byte(mid)) != 1 {
			return svcerr.New(svcerr.IncorrectKeyMaterial, "The key material does not match KeyMaterialId %s.", in.KeyMaterialID)
		}
		k.Current = 1
		if k.State == keystore.PendingImport {
			k.State = keystore.Enabled
		}
		k.ExpirationModel, k.ValidTo = model, validTo
		return nil
	})
	if err != nil {
		material.Destroy()
		return nil, s.storeErr(err, "key")
	}
	s.log.Info("imported key material", "key", s.keyARN(updated), "expiration_model", model)
	return &ImportKeyMaterialOutput{KeyID: s.keyARN(updated), KeyMaterialID: mid}, nil
}

// DeleteImportedKeyMaterial deletes a key's imported material at once; the
// key goes to PendingImport until the same material is imported again.
func (s *Service) DeleteImportedKeyMaterial(ctx context.Context, c *auth.Caller, in *DeleteImportedKeyMaterialInput) (*DeleteImportedKeyMaterialOutput, error) {
	if in.KeyMaterialID != "" {
		if err := svcerr.CheckLen("keyMaterialId", len(in.KeyMaterialID), 64, 64); err != nil {
			return nil, err
		}
	}
	k, err := s.externalKey(ctx, c, in.KeyID, ActDeleteImportedKeyMaterial)
	if err != nil {
		return nil, err
	}
	var mid string
	_, err = s.ks.DeleteMaterial(ctx, k.Account, k.Region, k.ID, func(k *keystore.Key) error {
		if err := s.external(k); err != nil {
			return err
		}
		if err := s.checkKeyState(k, ActDeleteImportedKeyMaterial); err != nil {
			return err
		}
		mid = k.CurrentVersion().MaterialID
		if in.KeyMaterialID != "" && in.KeyMaterialID != mid {
			return svcerr.New(svcerr.NotFound, "Key material %s is not associated with %s.", in.KeyMaterialID, s.keyARN(k))
		}
		s.materialGone(k)
		return nil
	})
	if err != nil {
		return nil, s.storeErr(err, "key")
	}
	return &DeleteImportedKeyMaterialOutput{KeyID: s.keyARN(k), KeyMaterialID: mid}, nil
}

// materialGone records in k that its imported material was deleted: it is
// PendingImport (unless it is already pending deletion) and nothing expires.
func (s *Service) materialGone(k *keystore.Key) {
	if k.State != keystore.PendingDeletion {
		k.State = keystore.PendingImport
	}
	k.ExpirationModel, k.ValidTo = "", time.Time{}
}

// hasImportedMaterial reports whether k holds material: always for keys
// whose material Arca generated; for Origin EXTERNAL keys, while imported
// material is present (every import sets an ExpirationModel, and deletion
// or expiry clears it).
func hasImportedMaterial(k *keystore.Key) bool {
	return k.Origin != OriginExternal || k.ExpirationModel != ""
}

// materialExpired reports whether k's imported material has expired at now.
func materialExpired(k *keystore.Key, now time.Time) bool {
	return k.Origin == OriginExternal && k.State != keystore.PendingImport &&
		!k.ValidTo.IsZero() && !k.ValidTo.After(now)
}
