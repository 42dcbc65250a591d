package secrets

import "github.com/arca-kms/arca/internal/epoch"

// Wire shapes of the AWS Secrets Manager API. Members carry AWS's names as
// JSON tags (see the "Service structs carry AWS member names" decision in
// docs/ARCHITECTURE.md). Optional booleans and numbers are pointers where AWS
// distinguishes "absent" from the zero value.

// Tag is a secret tag.
type Tag struct {
	Key   *string `json:"Key,omitempty"`
	Value *string `json:"Value,omitempty"`
}

// ReplicaRegionType names a region to replicate to and the KMS key there.
type ReplicaRegionType struct {
	Region   string `json:"Region,omitempty"`
	KmsKeyID string `json:"KmsKeyId,omitempty"`
}

// ReplicationStatusType is one replica's state.
type ReplicationStatusType struct {
	Region           string      `json:"Region,omitempty"`
	KmsKeyID         string      `json:"KmsKeyId,omitempty"`
	Status           string      `json:"Status,omitempty"`
	StatusMessage    string      `json:"StatusMessage,omitempty"`
	LastAccessedDate *epoch.Time `json:"LastAccessedDate,omitempty"`
}

// RotationRules is a secret's rotation schedule.
type RotationRules struct {
	AutomaticallyAfterDays *int64  `json:"AutomaticallyAfterDays,omitempty"`
	Duration               *string `json:"Duration,omitempty"`
	ScheduleExpression     *string `json:"ScheduleExpression,omitempty"`
}

// CreateSecretInput is CreateSecret's request.
type CreateSecretInput struct {
	Name                        string              `json:"Name"`
	ClientRequestToken          string              `json:"ClientRequestToken"`
	Description                 *string             `json:"Description"`
	KmsKeyID                    string              `json:"KmsKeyId"`
	SecretBinary                []byte              `json:"SecretBinary"`
	SecretString                *string             `json:"SecretString"`
	Tags                        []Tag               `json:"Tags"`
	AddReplicaRegions           []ReplicaRegionType `json:"AddReplicaRegions"`
	ForceOverwriteReplicaSecret bool                `json:"ForceOverwriteReplicaSecret"`
}

// CreateSecretOutput is CreateSecret's response.
type CreateSecretOutput struct {
	ARN               string                  `json:"ARN"`
	Name              string                  `json:"Name"`
	VersionID         string                  `json:"VersionId,omitempty"`
	ReplicationStatus []ReplicationStatusType `json:"ReplicationStatus,omitempty"`
}

// GetSecretValueInput is GetSecretValue's request.
type GetSecretValueInput struct {
	SecretID     string `json:"SecretId"`
	VersionID    string `json:"VersionId"`
	VersionStage string `json:"VersionStage"`
}

// GetSecretValueOutput is GetSecretValue's response.
type GetSecretValueOutput struct {
	ARN           string      `json:"ARN"`
	Name          string      `json:"Name"`
	VersionID     string      `json:"VersionId"`
	SecretBinary  []byte      `json:"SecretBinary,omitempty"`
	SecretString  *string     `json:"SecretString,omitempty"`
	VersionStages []string    `json:"VersionStages"`
	CreatedDate   *epoch.Time `json:"CreatedDate,omitempty"`
}

// Filter is a ListSecrets / BatchGetSecretValue filter.
type Filter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

// BatchGetSecretValueInput is BatchGetSecretValue's request.
type BatchGetSecretValueInput struct {
	SecretIDList []string `json:"SecretIdList"`
	Filters      []Filter `json:"Filters"`
	MaxResults   *int32   `json:"MaxResults"`
	NextToken    string   `json:"NextToken"`
}

// APIErrorType is one failed secret of a BatchGetSecretValue.
type APIErrorType struct {
	SecretID  string `json:"SecretId,omitempty"`
	ErrorCode string `json:"ErrorCode,omitempty"`
	Message   string `json:"Message,omitempty"`
}

// BatchGetSecretValueOutput is BatchGetSecretValue's response.
type BatchGetSecretValueOutput struct {
	SecretValues []GetSecretValueOutput `json:"SecretValues"`
	Errors       []APIErrorType         `json:"Errors"`
	NextToken    string                 `json:"NextToken,omitempty"`
}

// PutSecretValueInput is PutSecretValue's request.
type PutSecretValueInput struct {
	SecretID           string   `json:"SecretId"`
	ClientRequestToken string   `json:"ClientRequestToken"`
	SecretBinary       []byte   `json:"SecretBinary"`
	SecretString       *string  `json:"SecretString"`
	VersionStages      []string `json:"VersionStages"`
	RotationToken      string   `json:"RotationToken"`
}

// PutSecretValueOutput is PutSecretValue's response.
type PutSecretValueOutput struct {
	ARN           string   `json:"ARN"`
	Name          string   `json:"Name"`
	VersionID     string   `json:"VersionId"`
	VersionStages []string `json:"VersionStages"`
}

// UpdateSecretInput is UpdateSecret's request.
type UpdateSecretInput struct {
	SecretID           string  `json:"SecretId"`
	ClientRequestToken string  `json:"ClientRequestToken"`
	Description        *string `json:"Description"`
	KmsKeyID           string  `json:"KmsKeyId"`
	SecretBinary       []byte  `json:"SecretBinary"`
	SecretString       *string `json:"SecretString"`
}

// SecretOutput is the ARN/Name(/VersionId) response several operations share.
type SecretOutput struct {
	ARN       string `json:"ARN"`
	Name      string `json:"Name"`
	VersionID string `json:"VersionId,omitempty"`
}

// SecretIDInput is the request of operations that take only SecretId.
type SecretIDInput struct {
	SecretID string `json:"SecretId"`
}

// DescribeSecretOutput is DescribeSecret's response, plus Arca's rotation
// failure fields (prefixed Arca; AWS SDKs ignore them).
type DescribeSecretOutput struct {
	ARN                string                  `json:"ARN"`
	Name               string                  `json:"Name"`
	Description        string                  `json:"Description,omitempty"`
	KmsKeyID           string                  `json:"KmsKeyId,omitempty"`
	RotationEnabled    *bool                   `json:"RotationEnabled,omitempty"`
	RotationLambdaARN  string                  `json:"RotationLambdaARN,omitempty"`
	RotationRules      *RotationRules          `json:"RotationRules,omitempty"`
	LastRotatedDate    *epoch.Time             `json:"LastRotatedDate,omitempty"`
	LastChangedDate    *epoch.Time             `json:"LastChangedDate,omitempty"`
	LastAccessedDate   *epoch.Time             `json:"LastAccessedDate,omitempty"`
	DeletedDate        *epoch.Time             `json:"DeletedDate,omitempty"`
	NextRotationDate   *epoch.Time             `json:"NextRotationDate,omitempty"`
	Tags               []Tag                   `json:"Tags,omitempty"`
	VersionIDsToStages map[string][]string     `json:"VersionIdsToStages,omitempty"`
	OwningService      string                  `json:"OwningService,omitempty"`
	CreatedDate        *epoch.Time             `json:"CreatedDate,omitempty"`
	PrimaryRegion      string                  `json:"PrimaryRegion,omitempty"`
	ReplicationStatus  []ReplicationStatusType `json:"ReplicationStatus,omitempty"`

	// ArcaRotationFailure describes the last failed rotation attempt while
	// it is unresolved (Arca's extension; AWS reports it only in logs).
	ArcaRotationFailure *RotationFailure `json:"ArcaRotationFailure,omitempty"`
}

// RotationFailure is Arca's record of a failed rotation attempt.
type RotationFailure struct {
	Step            string      `json:"Step"`
	Message         string      `json:"Message"`
	Date            *epoch.Time `json:"Date"`
	Attempts        int         `json:"Attempts"`
	NextAttemptDate *epoch.Time `json:"NextAttemptDate,omitempty"`
	VersionID       string      `json:"VersionId"`
}

// ListSecretsInput is ListSecrets' request.
type ListSecretsInput struct {
	IncludePlannedDeletion bool     `json:"IncludePlannedDeletion"`
	MaxResults             *int32   `json:"MaxResults"`
	NextToken              string   `json:"NextToken"`
	Filters                []Filter `json:"Filters"`
	SortOrder              string   `json:"SortOrder"`
	SortBy                 string   `json:"SortBy"`
}

// SecretListEntry is one secret in ListSecrets.
type SecretListEntry struct {
	ARN                    string              `json:"ARN"`
	Name                   string              `json:"Name"`
	Description            string              `json:"Description,omitempty"`
	KmsKeyID               string              `json:"KmsKeyId,omitempty"`
	RotationEnabled        *bool               `json:"RotationEnabled,omitempty"`
	RotationLambdaARN      string              `json:"RotationLambdaARN,omitempty"`
	RotationRules          *RotationRules      `json:"RotationRules,omitempty"`
	LastRotatedDate        *epoch.Time         `json:"LastRotatedDate,omitempty"`
	LastChangedDate        *epoch.Time         `json:"LastChangedDate,omitempty"`
	LastAccessedDate       *epoch.Time         `json:"LastAccessedDate,omitempty"`
	DeletedDate            *epoch.Time         `json:"DeletedDate,omitempty"`
	NextRotationDate       *epoch.Time         `json:"NextRotationDate,omitempty"`
	Tags                   []Tag               `json:"Tags,omitempty"`
	SecretVersionsToStages map[string][]string `json:"SecretVersionsToStages,omitempty"`
	OwningService          string              `json:"OwningService,omitempty"`
	CreatedDate            *epoch.Time         `json:"CreatedDate,omitempty"`
	PrimaryRegion          string              `json:"PrimaryRegion,omitempty"`
}

// ListSecretsOutput is ListSecrets' response.
type ListSecretsOutput struct {
	SecretList []SecretListEntry `json:"SecretList"`
	NextToken  string            `json:"NextToken,omitempty"`
}

// ListSecretVersionIDsInput is ListSecretVersionIds' request.
type ListSecretVersionIDsInput struct {
	SecretID          string `json:"SecretId"`
	MaxResults        *int32 `json:"MaxResults"`
	NextToken         string `json:"NextToken"`
	IncludeDeprecated bool   `json:"IncludeDeprecated"`
}

// SecretVersionsListEntry is one version in ListSecretVersionIds.
type SecretVersionsListEntry struct {
	VersionID        string      `json:"VersionId"`
	VersionStages    []string    `json:"VersionStages,omitempty"`
	LastAccessedDate *epoch.Time `json:"LastAccessedDate,omitempty"`
	CreatedDate      *epoch.Time `json:"CreatedDate,omitempty"`
	KmsKeyIDs        []string    `json:"KmsKeyIds,omitempty"`
}

// ListSecretVersionIDsOutput is ListSecretVersionIds' response.
type ListSecretVersionIDsOutput struct {
	Versions  []SecretVersionsListEntry `json:"Versions"`
	NextToken string                    `json:"NextToken,omitempty"`
	ARN       string                    `json:"ARN"`
	Name      string                    `json:"Name"`
}

// UpdateSecretVersionStageInput is UpdateSecretVersionStage's request.
type UpdateSecretVersionStageInput struct {
	SecretID            string `json:"SecretId"`
	VersionStage        string `json:"VersionStage"`
	RemoveFromVersionID string `json:"RemoveFromVersionId"`
	MoveToVersionID     string `json:"MoveToVersionId"`
}

// DeleteSecretInput is DeleteSecret's request.
type DeleteSecretInput struct {
	SecretID                   string `json:"SecretId"`
	RecoveryWindowInDays       *int64 `json:"RecoveryWindowInDays"`
	ForceDeleteWithoutRecovery *bool  `json:"ForceDeleteWithoutRecovery"`
}

// DeleteSecretOutput is DeleteSecret's response.
type DeleteSecretOutput struct {
	ARN          string      `json:"ARN"`
	Name         string      `json:"Name"`
	DeletionDate *epoch.Time `json:"DeletionDate"`
}

// TagResourceInput is TagResource's request.
type TagResourceInput struct {
	SecretID string `json:"SecretId"`
	Tags     []Tag  `json:"Tags"`
}

// UntagResourceInput is UntagResource's request.
type UntagResourceInput struct {
	SecretID string   `json:"SecretId"`
	TagKeys  []string `json:"TagKeys"`
}

// Empty is an empty response.
type Empty struct{}

// GetRandomPasswordInput is GetRandomPassword's request.
type GetRandomPasswordInput struct {
	PasswordLength          *int64 `json:"PasswordLength"`
	ExcludeCharacters       string `json:"ExcludeCharacters"`
	ExcludeNumbers          bool   `json:"ExcludeNumbers"`
	ExcludePunctuation      bool   `json:"ExcludePunctuation"`
	ExcludeUppercase        bool   `json:"ExcludeUppercase"`
	ExcludeLowercase        bool   `json:"ExcludeLowercase"`
	IncludeSpace            bool   `json:"IncludeSpace"`
	RequireEachIncludedType *bool  `json:"RequireEachIncludedType"`
}

// GetRandomPasswordOutput is GetRandomPassword's response.
type GetRandomPasswordOutput struct {
	RandomPassword string `json:"RandomPassword"`
}

// PutResourcePolicyInput is PutResourcePolicy's request.
type PutResourcePolicyInput struct {
	SecretID          string `json:"SecretId"`
	ResourcePolicy    string `json:"ResourcePolicy"`
	BlockPublicPolicy *bool  `json:"BlockPublicPolicy"`
}

// GetResourcePolicyOutput is GetResourcePolicy's response.
type GetResourcePolicyOutput struct {
	ARN            string `json:"ARN"`
	Name           string `json:"Name"`
	ResourcePolicy string `json:"ResourcePolicy,omitempty"`
}

// ValidateResourcePolicyInput is ValidateResourcePolicy's request.
type ValidateResourcePolicyInput struct {
	SecretID       string `json:"SecretId"`
	ResourcePolicy string `json:"ResourcePolicy"`
}

// ValidationErrorsEntry is one finding of ValidateResourcePolicy.
type ValidationErrorsEntry struct {
	CheckName    string `json:"CheckName,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// ValidateResourcePolicyOutput is ValidateResourcePolicy's response.
type ValidateResourcePolicyOutput struct {
	PolicyValidationPassed bool                    `json:"PolicyValidationPassed"`
	ValidationErrors       []ValidationErrorsEntry `json:"ValidationErrors"`
}

// RotateSecretInput is RotateSecret's request.
type RotateSecretInput struct {
	SecretID           string         `json:"SecretId"`
	ClientRequestToken string         `json:"ClientRequestToken"`
	RotationLambdaARN  string         `json:"RotationLambdaARN"`
	RotationRules      *RotationRules `json:"RotationRules"`
	RotateImmediately  *bool          `json:"RotateImmediately"`
}

// ReplicateSecretToRegionsInput is ReplicateSecretToRegions' request.
type ReplicateSecretToRegionsInput struct {
	SecretID                    string              `json:"SecretId"`
	AddReplicaRegions           []ReplicaRegionType `json:"AddReplicaRegions"`
	ForceOverwriteReplicaSecret bool                `json:"ForceOverwriteReplicaSecret"`
}

// RemoveRegionsFromReplicationInput is RemoveRegionsFromReplication's request.
type RemoveRegionsFromReplicationInput struct {
	SecretID             string   `json:"SecretId"`
	RemoveReplicaRegions []string `json:"RemoveReplicaRegions"`
}

// ReplicationOutput is the response of the replication operations.
type ReplicationOutput struct {
	ARN               string                  `json:"ARN"`
	ReplicationStatus []ReplicationStatusType `json:"ReplicationStatus"`
}
