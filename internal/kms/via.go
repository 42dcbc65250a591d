package kms

import (
	"context"
	"errors"
	"sync"

	"github.com/arca-kms/arca/internal/arn"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/kmscrypto"
	"github.com/arca-kms/arca/internal/svcerr"
)

// This file is KMS as other Arca services use it on a caller's behalf (AWS's
// "via service" calls): the caller's own identity is authorized by the same
// policies as a direct call, with kms:ViaService set from c.ViaService. The
// errors are KMS's; the calling service translates them.

// ManagerAWS is the KeyManager of AWS managed keys (alias/aws/SERVICE).
const ManagerAWS = "AWS"

// GenerateDataKeyFor returns a fresh 256-bit data key, in plaintext and
// encrypted under keyID (key ID, key ARN, alias name or alias ARN) with the
// encryption context ec, and the key's ARN.
func (s *Service) GenerateDataKeyFor(ctx context.Context, c *auth.Caller, keyID string, ec map[string]string) (keyARN string, plaintext, blob []byte, err error) {
	out, err := s.GenerateDataKey(ctx, c, &GenerateDataKeyInput{KeyID: keyID, KeySpec: "AES_256", EncryptionContext: ec})
	if err != nil {
		return "", nil, nil, err
	}
	return out.KeyID, out.Plaintext, out.CiphertextBlob, nil
}

// DecryptFor decrypts a blob made by GenerateDataKeyFor under keyID with the
// same encryption context.
func (s *Service) DecryptFor(ctx context.Context, c *auth.Caller, keyID string, blob []byte, ec map[string]string) ([]byte, error) {
	out, err := s.Decrypt(ctx, c, &DecryptInput{KeyID: keyID, CiphertextBlob: blob, EncryptionContext: ec})
	if err != nil {
		return nil, err
	}
	return out.Plaintext, nil
}

// managedKeyMu serializes the creation of AWS managed keys, so that two
// first uses at once make one key.
var managedKeyMu sync.Mutex

// ManagedKey returns the ARN of the account's AWS managed key for service
// in region (alias/aws/SERVICE), creating it on first use as AWS does: a
// symmetric key with KeyManager AWS, rotated yearly, whose policy lets every
// principal of the account use it through that service only.
func (s *Service) ManagedKey(ctx context.Context, account, region, service string) (string, error) {
	name := arn.ReservedAliasPrefix + service
	if a, err := s.ks.GetAlias(ctx, account, region, name); err == nil {
		return arn.KeyARN(s.partition, region, account, a.TargetKeyID), nil
	} else if !errors.Is(err, keystore.ErrNotFound) {
		return "", svcerr.InternalError(err)
	}
	managedKeyMu.Lock()
	defer managedKeyMu.Unlock()
	if a, err := s.ks.GetAlias(ctx, account, region, name); err == nil {
		return arn.KeyARN(s.partition, region, account, a.TargetKeyID), nil
	}
	id, err := newKeyID()
	if err != nil {
		return "", svcerr.InternalError(err)
	}
	material, err := kmscrypto.Generate(kmscrypto.SymmetricDefault)
	if err != nil {
		return "", svcerr.InternalError(err)
	}
	now := s.now().UTC()
	k := &keystore.Key{
		ID: id, Account: account, Region: region,
		Description: managedKeyDescription(service), Spec: kmscrypto.SymmetricDefault, Usage: UsageEncryptDecrypt,
		State: keystore.Enabled, Origin: OriginAWSKMS, Manager: ManagerAWS,
		Created: now, Policy: managedKeyPolicy(s.partition, account, region, service),
		RotationPeriodInDays: 365, NextRotation: now.AddDate(0, 0, 365),
	}
	if err := s.ks.Create(ctx, k, material); err != nil {
		material.Destroy()
		return "", s.storeErr(err, "key")
	}
	if err := s.ks.CreateAlias(ctx, &keystore.Alias{Name: name, Account: account, Region: region, TargetKeyID: id, Created: now, Updated: now}); err != nil {
		return "", s.storeErr(err, "alias")
	}
	s.log.Info("created AWS managed key", "key", arn.KeyARN(s.partition, region, account, id), "alias", name)
	return arn.KeyARN(s.partition, region, account, id), nil
}

func managedKeyDescription(service string) string {
	if service == "secretsmanager" {
		return "Default key that protects my Secrets Manager data when no other key is defined"
	}
	return "Default key that protects my " + service + " data when no other key is defined"
}

// managedKeyPolicy is the policy AWS gives an AWS managed key: any principal
// of the account may use it through the service (kms:ViaService), and the
// account may read its metadata directly.
func managedKeyPolicy(partition, account, region, service string) string {
	via := service + "." + region + ".amazonaws.com"
	return `{
  "Version" : "2012-10-17",
  "Id" : "auto-` + service + `-2",
  "Statement" : [ {
    "Sid" : "Allow access through ` + service + ` for all principals in the account that are authorized to use ` + service + `",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "*" },
    "Action" : [ "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:CreateGrant", "kms:DescribeKey" ],
    "Resource" : "*",
    "Condition" : { "StringEquals" : { "kms:CallerAccount" : "` + account + `", "kms:ViaService" : "` + via + `" } }
  }, {
    "Sid" : "Allow data keys through ` + service + ` for all principals in the account that are authorized to use ` + service + `",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "*" },
    "Action" : "kms:GenerateDataKey*",
    "Resource" : "*",
    "Condition" : { "StringEquals" : { "kms:CallerAccount" : "` + account + `" },
                    "StringLike" : { "kms:ViaService" : "` + service + `.*.amazonaws.com" } }
  }, {
    "Sid" : "Allow direct access to key metadata to the account",
    "Effect" : "Allow",
    "Principal" : { "AWS" : "arn:` + partition + `:iam::` + account + `:root" },
    "Action" : [ "kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant" ],
    "Resource" : "*"
  } ]
}`
}
