package kms

import "github.com/arca-kms/arca/internal/epoch"

// The request and response shapes below carry AWS's member names as JSON
// tags: the AWS JSON protocol decodes straight into them. Blobs are []byte,
// which encoding/json already renders as standard base64, as AWS does.

// Tag is a key tag on the wire.
type Tag struct {
	TagKey   string `json:"TagKey"`
	TagValue string `json:"TagValue"`
}

// KeyMetadata describes a key, as DescribeKey and CreateKey return it.
type KeyMetadata struct {
	AWSAccountID                string      `json:"AWSAccountId"`
	KeyID                       string      `json:"KeyId"`
	Arn                         string      `json:"Arn"`
	CreationDate                *epoch.Time `json:"CreationDate,omitempty"`
	Enabled                     bool        `json:"Enabled"`
	Description                 string      `json:"Description"`
	KeyUsage                    string      `json:"KeyUsage"`
	KeyState                    string      `json:"KeyState"`
	DeletionDate                *epoch.Time `json:"DeletionDate,omitempty"`
	Origin                      string      `json:"Origin"`
	KeyManager                  string      `json:"KeyManager"`
	CustomerMasterKeySpec       string      `json:"CustomerMasterKeySpec"`
	KeySpec                     string      `json:"KeySpec"`
	EncryptionAlgorithms        []string    `json:"EncryptionAlgorithms,omitempty"`
	SigningAlgorithms           []string    `json:"SigningAlgorithms,omitempty"`
	MacAlgorithms               []string    `json:"MacAlgorithms,omitempty"`
	KeyAgreementAlgorithms      []string    `json:"KeyAgreementAlgorithms,omitempty"`
	MultiRegion                 bool        `json:"MultiRegion"`
	PendingDeletionWindowInDays *int32      `json:"PendingDeletionWindowInDays,omitempty"`
	CurrentKeyMaterialID        string      `json:"CurrentKeyMaterialId,omitempty"`
	ExpirationModel             string      `json:"ExpirationModel,omitempty"`
	ValidTo                     *epoch.Time `json:"ValidTo,omitempty"`
	// MultiRegionConfiguration is set only on multi-Region keys.
	MultiRegionConfiguration *MultiRegionConfiguration `json:"MultiRegionConfiguration,omitempty"`
}

// CreateKeyInput is the CreateKey request.
type CreateKeyInput struct {
	Policy                         string `json:"Policy"`
	Description                    string `json:"Description"`
	KeyUsage                       string `json:"KeyUsage"`
	CustomerMasterKeySpec          string `json:"CustomerMasterKeySpec"`
	KeySpec                        string `json:"KeySpec"`
	Origin                         string `json:"Origin"`
	CustomKeyStoreID               string `json:"CustomKeyStoreId"`
	BypassPolicyLockoutSafetyCheck bool   `json:"BypassPolicyLockoutSafetyCheck"`
	Tags                           []Tag  `json:"Tags"`
	MultiRegion                    bool   `json:"MultiRegion"`
	XksKeyID                       string `json:"XksKeyId"`
}

// CreateKeyOutput is the CreateKey response.
type CreateKeyOutput struct {
	KeyMetadata *KeyMetadata `json:"KeyMetadata"`
}

// DescribeKeyInput is the DescribeKey request.
type DescribeKeyInput struct {
	KeyID       string   `json:"KeyId"`
	GrantTokens []string `json:"GrantTokens"`
}

// DescribeKeyOutput is the DescribeKey response.
type DescribeKeyOutput struct {
	KeyMetadata *KeyMetadata `json:"KeyMetadata"`
}

// ListKeysInput is the ListKeys request.
type ListKeysInput struct {
	Limit  *int32 `json:"Limit"`
	Marker string `json:"Marker"`
}

// KeyListEntry is one key in a ListKeys response.
type KeyListEntry struct {
	KeyID  string `json:"KeyId"`
	KeyArn string `json:"KeyArn"`
}

// ListKeysOutput is the ListKeys response.
type ListKeysOutput struct {
	Keys       []KeyListEntry `json:"Keys"`
	NextMarker string         `json:"NextMarker,omitempty"`
	Truncated  bool           `json:"Truncated"`
}

// KeyIDInput is the request of the operations that take only a KeyId:
// EnableKey, DisableKey and CancelKeyDeletion.
type KeyIDInput struct {
	KeyID string `json:"KeyId"`
}

// CancelKeyDeletionOutput is the CancelKeyDeletion response.
type CancelKeyDeletionOutput struct {
	KeyID string `json:"KeyId"`
}

// Empty is the response of operations that return no members.
type Empty struct{}

// ScheduleKeyDeletionInput is the ScheduleKeyDeletion request.
type ScheduleKeyDeletionInput struct {
	KeyID               string `json:"KeyId"`
	PendingWindowInDays *int32 `json:"PendingWindowInDays"`
}

// ScheduleKeyDeletionOutput is the ScheduleKeyDeletion response.
type ScheduleKeyDeletionOutput struct {
	KeyID               string      `json:"KeyId"`
	DeletionDate        *epoch.Time `json:"DeletionDate,omitempty"`
	KeyState            string      `json:"KeyState"`
	PendingWindowInDays int32       `json:"PendingWindowInDays"`
}

// UpdateKeyDescriptionInput is the UpdateKeyDescription request.
type UpdateKeyDescriptionInput struct {
	KeyID       string  `json:"KeyId"`
	Description *string `json:"Description"`
}

// GetKeyPolicyInput is the GetKeyPolicy request.
type GetKeyPolicyInput struct {
	KeyID      string `json:"KeyId"`
	PolicyName string `json:"PolicyName"`
}

// PutKeyPolicyInput is the PutKeyPolicy request.
type PutKeyPolicyInput struct {
	KeyID                          string `json:"KeyId"`
	PolicyName                     string `json:"PolicyName"`
	Policy                         string `json:"Policy"`
	BypassPolicyLockoutSafetyCheck bool   `json:"BypassPolicyLockoutSafetyCheck"`
}

// ListKeyPoliciesInput is the ListKeyPolicies request.
type ListKeyPoliciesInput struct {
	KeyID  string `json:"KeyId"`
	Limit  *int32 `json:"Limit"`
	Marker string `json:"Marker"`
}

// ListKeyPoliciesOutput is the ListKeyPolicies response.
type ListKeyPoliciesOutput struct {
	PolicyNames []string `json:"PolicyNames"`
	NextMarker  string   `json:"NextMarker,omitempty"`
	Truncated   bool     `json:"Truncated"`
}

// GetKeyPolicyOutput is the GetKeyPolicy response.
type GetKeyPolicyOutput struct {
	Policy     string `json:"Policy"`
	PolicyName string `json:"PolicyName"`
}

// AliasInput is the CreateAlias and UpdateAlias request.
type AliasInput struct {
	AliasName   string `json:"AliasName"`
	TargetKeyID string `json:"TargetKeyId"`
}

// DeleteAliasInput is the DeleteAlias request.
type DeleteAliasInput struct {
	AliasName string `json:"AliasName"`
}

// ListAliasesInput is the ListAliases request.
type ListAliasesInput struct {
	KeyID  string `json:"KeyId"`
	Limit  *int32 `json:"Limit"`
	Marker string `json:"Marker"`
}

// AliasListEntry is one alias in a ListAliases response.
type AliasListEntry struct {
	AliasName       string      `json:"AliasName"`
	AliasArn        string      `json:"AliasArn"`
	TargetKeyID     string      `json:"TargetKeyId,omitempty"`
	CreationDate    *epoch.Time `json:"CreationDate,omitempty"`
	LastUpdatedDate *epoch.Time `json:"LastUpdatedDate,omitempty"`
}

// ListAliasesOutput is the ListAliases response.
type ListAliasesOutput struct {
	Aliases    []AliasListEntry `json:"Aliases"`
	NextMarker string           `json:"NextMarker,omitempty"`
	Truncated  bool             `json:"Truncated"`
}

// TagResourceInput is the TagResource request.
type TagResourceInput struct {
	KeyID string `json:"KeyId"`
	Tags  []Tag  `json:"Tags"`
}

// UntagResourceInput is the UntagResource request.
type UntagResourceInput struct {
	KeyID   string   `json:"KeyId"`
	TagKeys []string `json:"TagKeys"`
}

// ListResourceTagsInput is the ListResourceTags request.
type ListResourceTagsInput struct {
	KeyID  string `json:"KeyId"`
	Limit  *int32 `json:"Limit"`
	Marker string `json:"Marker"`
}

// ListResourceTagsOutput is the ListResourceTags response.
type ListResourceTagsOutput struct {
	Tags       []Tag  `json:"Tags"`
	NextMarker string `json:"NextMarker,omitempty"`
	Truncated  bool   `json:"Truncated"`
}

// EncryptInput is the Encrypt request.
type EncryptInput struct {
	KeyID               string            `json:"KeyId"`
	Plaintext           []byte            `json:"Plaintext"`
	EncryptionContext   map[string]string `json:"EncryptionContext"`
	GrantTokens         []string          `json:"GrantTokens"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
	DryRun              bool              `json:"DryRun"`
}

// EncryptOutput is the Encrypt response.
type EncryptOutput struct {
	CiphertextBlob      []byte `json:"CiphertextBlob"`
	KeyID               string `json:"KeyId"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
}

// DecryptInput is the Decrypt request.
type DecryptInput struct {
	CiphertextBlob      []byte            `json:"CiphertextBlob"`
	EncryptionContext   map[string]string `json:"EncryptionContext"`
	GrantTokens         []string          `json:"GrantTokens"`
	KeyID               string            `json:"KeyId"`
	EncryptionAlgorithm string            `json:"EncryptionAlgorithm"`
	Recipient           *RecipientInfo    `json:"Recipient"`
	DryRun              bool              `json:"DryRun"`
}

// RecipientInfo is a Nitro Enclave attestation, which Arca does not accept.
type RecipientInfo struct {
	AttestationDocument    []byte `json:"AttestationDocument"`
	KeyEncryptionAlgorithm string `json:"KeyEncryptionAlgorithm"`
}

// DecryptOutput is the Decrypt response.
type DecryptOutput struct {
	KeyID               string `json:"KeyId"`
	Plaintext           []byte `json:"Plaintext"`
	EncryptionAlgorithm string `json:"EncryptionAlgorithm"`
}

// ReEncryptInput is the ReEncrypt request.
type ReEncryptInput struct {
	CiphertextBlob                 []byte            `json:"CiphertextBlob"`
	SourceEncryptionContext        map[string]string `json:"SourceEncryptionContext"`
	SourceKeyID                    string            `json:"SourceKeyId"`
	DestinationKeyID               string            `json:"DestinationKeyId"`
	DestinationEncryptionContext   map[string]string `json:"DestinationEncryptionContext"`
	SourceEncryptionAlgorithm      string            `json:"SourceEncryptionAlgorithm"`
	DestinationEncryptionAlgorithm string            `json:"DestinationEncryptionAlgorithm"`
	GrantTokens                    []string          `json:"GrantTokens"`
	DryRun                         bool              `json:"DryRun"`
}

// ReEncryptOutput is the ReEncrypt response.
type ReEncryptOutput struct {
	CiphertextBlob                 []byte `json:"CiphertextBlob"`
	SourceKeyID                    string `json:"SourceKeyId"`
	KeyID                          string `json:"KeyId"`
	SourceEncryptionAlgorithm      string `json:"SourceEncryptionAlgorithm"`
	DestinationEncryptionAlgorithm string `json:"DestinationEncryptionAlgorithm"`
}

// GenerateDataKeyInput is the GenerateDataKey and
// GenerateDataKeyWithoutPlaintext request.
type GenerateDataKeyInput struct {
	KeyID             string            `json:"KeyId"`
	EncryptionContext map[string]string `json:"EncryptionContext"`
	NumberOfBytes     *int32            `json:"NumberOfBytes"`
	KeySpec           string            `json:"KeySpec"`
	GrantTokens       []string          `json:"GrantTokens"`
	Recipient         *RecipientInfo    `json:"Recipient"`
	DryRun            bool              `json:"DryRun"`
}

// GenerateDataKeyOutput is the GenerateDataKey response.
type GenerateDataKeyOutput struct {
	CiphertextBlob []byte `json:"CiphertextBlob"`
	Plaintext      []byte `json:"Plaintext"`
	KeyID          string `json:"KeyId"`
}

// GenerateDataKeyWithoutPlaintextOutput is the GenerateDataKeyWithoutPlaintext response.
type GenerateDataKeyWithoutPlaintextOutput struct {
	CiphertextBlob []byte `json:"CiphertextBlob"`
	KeyID          string `json:"KeyId"`
}

// GenerateRandomInput is the GenerateRandom request.
type GenerateRandomInput struct {
	NumberOfBytes    *int32         `json:"NumberOfBytes"`
	CustomKeyStoreID string         `json:"CustomKeyStoreId"`
	Recipient        *RecipientInfo `json:"Recipient"`
}

// GenerateRandomOutput is the GenerateRandom response.
type GenerateRandomOutput struct {
	Plaintext []byte `json:"Plaintext"`
}
