package awsjson

import "github.com/arca-kms/arca/internal/kms"

// KMS returns the operation table of the AWS KMS API ("TrentService",
// signing name "kms"). Operations not listed answer UnknownOperationException;
// docs/COMPATIBILITY.md lists every AWS KMS operation and its status.
func KMS(s *kms.Service) *Service {
	return NewService("TrentService", "kms",
		Op("CreateKey", kms.ActCreateKey, s.CreateKey),
		Op("DescribeKey", kms.ActDescribeKey, s.DescribeKey),
		Op("ListKeys", kms.ActListKeys, s.ListKeys),
		Op("EnableKey", kms.ActEnableKey, s.EnableKey),
		Op("DisableKey", kms.ActDisableKey, s.DisableKey),
		Op("ScheduleKeyDeletion", kms.ActScheduleKeyDeletion, s.ScheduleKeyDeletion),
		Op("CancelKeyDeletion", kms.ActCancelKeyDeletion, s.CancelKeyDeletion),
		Op("UpdateKeyDescription", kms.ActUpdateKeyDescription, s.UpdateKeyDescription),
		Op("GetKeyPolicy", kms.ActGetKeyPolicy, s.GetKeyPolicy),
		Op("CreateAlias", kms.ActCreateAlias, s.CreateAlias),
		Op("UpdateAlias", kms.ActUpdateAlias, s.UpdateAlias),
		Op("DeleteAlias", kms.ActDeleteAlias, s.DeleteAlias),
		Op("ListAliases", kms.ActListAliases, s.ListAliases),
		Op("TagResource", kms.ActTagResource, s.TagResource),
		Op("UntagResource", kms.ActUntagResource, s.UntagResource),
		Op("ListResourceTags", kms.ActListResourceTags, s.ListResourceTags),
		Op("Encrypt", kms.ActEncrypt, s.Encrypt),
		Op("Decrypt", kms.ActDecrypt, s.Decrypt),
		Op("ReEncrypt", kms.ActReEncryptFrom, s.ReEncrypt),
		Op("GenerateDataKey", kms.ActGenerateDataKey, s.GenerateDataKey),
		Op("GenerateDataKeyWithoutPlaintext", kms.ActGenerateDataKeyWithoutPlaintext, s.GenerateDataKeyWithoutPlaintext),
		Op("GenerateRandom", kms.ActGenerateRandom, s.GenerateRandom),
		Op("EnableKeyRotation", kms.ActEnableKeyRotation, s.EnableKeyRotation),
		Op("DisableKeyRotation", kms.ActDisableKeyRotation, s.DisableKeyRotation),
		Op("GetKeyRotationStatus", kms.ActGetKeyRotationStatus, s.GetKeyRotationStatus),
		Op("RotateKeyOnDemand", kms.ActRotateKeyOnDemand, s.RotateKeyOnDemand),
		Op("ListKeyRotations", kms.ActListKeyRotations, s.ListKeyRotations),
		Op("ReplicateKey", kms.ActReplicateKey, s.ReplicateKey),
		Op("UpdatePrimaryRegion", kms.ActUpdatePrimaryRegion, s.UpdatePrimaryRegion),
		Op("Sign", kms.ActSign, s.Sign),
		Op("Verify", kms.ActVerify, s.Verify),
		Op("GetPublicKey", kms.ActGetPublicKey, s.GetPublicKey),
		Op("GenerateMac", kms.ActGenerateMac, s.GenerateMac),
		Op("VerifyMac", kms.ActVerifyMac, s.VerifyMac),
		Op("DeriveSharedSecret", kms.ActDeriveSharedSecret, s.DeriveSharedSecret),
		Op("GenerateDataKeyPair", kms.ActGenerateDataKeyPair, s.GenerateDataKeyPair),
		Op("GenerateDataKeyPairWithoutPlaintext", kms.ActGenerateDataKeyPairWithoutPlaintext, s.GenerateDataKeyPairWithoutPlaintext),
	)
}
