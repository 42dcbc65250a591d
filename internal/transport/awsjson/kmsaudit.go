package awsjson

import (
	"strings"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/transport/auditrec"
)

// kmsView is what KMS audit events record, as CloudTrail records KMS:
// key IDs, algorithms, specs, encryption contexts, policies and metadata;
// never plaintexts, data-key plaintexts, private keys, shared secrets,
// messages to sign, signatures, MACs, ciphertexts or tokens.
var kmsView = &auditrec.View{
	EventSource: "kms.amazonaws.com",
	Members:     kmsMembers,
	// Beyond Get/List/Describe: the cryptographic operations, which
	// CloudTrail also marks read-only.
	ReadOnly: map[string]bool{
		"Encrypt": true, "Decrypt": true, "ReEncrypt": true, "GenerateDataKey": true,
		"GenerateDataKeyWithoutPlaintext": true, "GenerateDataKeyPair": true,
		"GenerateDataKeyPairWithoutPlaintext": true, "GenerateRandom": true, "Sign": true,
		"Verify": true, "GenerateMac": true, "VerifyMac": true, "DeriveSharedSecret": true,
	},
	Resources: kmsResources,
}

var kmsMembers = func() map[string]auditrec.Class {
	m := map[string]auditrec.Class{}
	set := func(c auditrec.Class, names string) {
		for _, n := range strings.Fields(names) {
			m[n] = c
		}
	}
	set(auditrec.Record, `AliasName Aliases AliasArn BypassPolicyLockoutSafetyCheck Constraints CustomKeyStoreId
		CustomerMasterKeySpec DeletionDate Description DestinationEncryptionAlgorithm DestinationKeyId DryRun
		EncryptionAlgorithm EncryptionAlgorithms ExpirationModel GrantId GranteePrincipal Grants ImportType
		IncludeKeyMaterial KeyAgreementAlgorithm KeyAgreementAlgorithms KeyId KeyMaterialDescription KeyMetadata
		KeyOrigin KeyPairSpec KeyRotationEnabled KeySpec KeyState KeyUsage Keys Limit MacAlgorithm MacValid Marker
		MessageType MultiRegion Name NextMarker NextRotationDate NumberOfBytes OnDemandRotationStartDate Operations
		Origin ParametersValidTo PendingWindowInDays Policy PolicyName PolicyNames PrimaryRegion ReplicaKeyMetadata
		ReplicaPolicy ReplicaRegion ReplicaTags RetiringPrincipal RotationPeriodInDays Rotations SignatureValid
		SigningAlgorithm SigningAlgorithms SourceEncryptionAlgorithm SourceKeyId TagKeys Tags TargetKeyId Truncated
		ValidTo WrappingAlgorithm WrappingKeySpec XksKeyId TagKey TagValue AWSAccountId Arn CreationDate
		CurrentKeyMaterialId Enabled IssuingAccount KeyArn KeyManager LastUpdatedDate MacAlgorithms
		MultiRegionConfiguration PendingDeletionWindowInDays RotationDate RotationType MultiRegionKeyType
		PrimaryKey ReplicaKeys Region`)
	set(auditrec.Verbatim, `EncryptionContext SourceEncryptionContext DestinationEncryptionContext
		EncryptionContextSubset EncryptionContextEquals`)
	// Secrets and bulky blobs: left out, as CloudTrail leaves them out.
	set(auditrec.Omit, `Plaintext PrivateKeyPlaintext SharedSecret CiphertextBlob PrivateKeyCiphertextBlob
		EncryptedKeyMaterial ImportToken GrantToken GrantTokens Mac Message Signature PublicKey Recipient
		CiphertextForRecipient`)
	set(auditrec.Additional, `KeyMaterialId`)
	return m
}()

// kmsResources is the key an event concerns, as an ARN: the one the output
// names (Encrypt, Decrypt, DescribeKey, CreateKey...), else the input's key
// ID when it is an ARN or a bare key ID of the caller's account and region.
func kmsResources(c *auth.Caller, in, out any) []audit.Resource {
	arn := auditrec.Field(out, auditrec.JSONName, "KeyMetadata", "Arn")
	if !strings.HasPrefix(arn, "arn:") {
		arn = auditrec.Field(out, auditrec.JSONName, "KeyId")
	}
	if !strings.HasPrefix(arn, "arn:") {
		arn = auditrec.Field(in, auditrec.JSONName, "KeyId")
		if arn != "" && !strings.HasPrefix(arn, "arn:") && !strings.HasPrefix(arn, "alias/") {
			partition, _, _ := strings.Cut(strings.TrimPrefix(c.ARN, "arn:"), ":")
			arn = "arn:" + partition + ":kms:" + c.Region + ":" + c.Account + ":key/" + arn
		}
	}
	if !strings.HasPrefix(arn, "arn:") || strings.Contains(arn, ":alias/") {
		return nil
	}
	account := c.Account
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
		account = parts[4]
	}
	return []audit.Resource{{ARN: arn, AccountID: account, Type: "AWS::KMS::Key"}}
}
