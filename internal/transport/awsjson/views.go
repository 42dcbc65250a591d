package awsjson

import (
	"strings"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/transport/auditrec"
)

// views are the audit views NewService gives services by target prefix,
// so that an operation table needs no audit code of its own.
var views = map[string]*auditrec.View{
	"secretsmanager": secretsView,
	"ArcaService":    arcaView,
}

func classes(groups map[auditrec.Class]string) map[string]auditrec.Class {
	m := map[string]auditrec.Class{}
	for c, names := range groups {
		for _, n := range strings.Fields(names) {
			m[n] = c
		}
	}
	return m
}

// secretsView is what Secrets Manager events record, as CloudTrail does:
// secret IDs, names, version IDs and stages, KMS key IDs, rotation
// settings; never SecretString, SecretBinary or any other secret value.
var secretsView = &auditrec.View{
	EventSource: "secretsmanager.amazonaws.com",
	Members: classes(map[auditrec.Class]string{
		auditrec.Omit: `SecretString SecretBinary RandomPassword SecretValues RotationToken NextToken`,
		auditrec.Record: `Filters MaxResults SecretIdList Errors AddReplicaRegions ClientRequestToken Description
			ForceOverwriteReplicaSecret KmsKeyId Name Tags ARN ReplicationStatus VersionId ForceDeleteWithoutRecovery
			RecoveryWindowInDays SecretId DeletionDate ArcaRotationFailure CreatedDate DeletedDate LastAccessedDate
			LastChangedDate LastRotatedDate NextRotationDate OwningService PrimaryRegion RotationEnabled RotationLambdaARN
			RotationRules VersionIdsToStages ExcludeCharacters ExcludeLowercase ExcludeNumbers ExcludePunctuation
			ExcludeUppercase IncludeSpace PasswordLength RequireEachIncludedType ResourcePolicy VersionStage VersionStages
			IncludeDeprecated Versions IncludePlannedDeletion SortBy SortOrder SecretList BlockPublicPolicy
			RemoveReplicaRegions RotateImmediately TagKeys MoveToVersionId RemoveFromVersionId PolicyValidationPassed
			ValidationErrors
			Attempts AutomaticallyAfterDays CheckName Date Detail Duration ErrorCode ErrorMessage Id Key KmsKeyIds Message
			NextAttemptDate Region Remedy ResourceArn ResourceType ScheduleExpression SecretVersionsToStages Severity Status
			StatusMessage Step Title Value Values`,
	}),
	// GetSecretValue and friends hand out secrets but change nothing.
	ReadOnly: map[string]bool{"BatchGetSecretValue": true, "ValidateResourcePolicy": true},
	Resources: func(c *auth.Caller, in, out any) []audit.Resource {
		arn := auditrec.Field(out, auditrec.JSONName, "ARN")
		if !strings.HasPrefix(arn, "arn:") {
			arn = auditrec.Field(in, auditrec.JSONName, "SecretId")
		}
		if !strings.HasPrefix(arn, "arn:") {
			return nil
		}
		return []audit.Resource{{ARN: arn, AccountID: c.Account, Type: "AWS::SecretsManager::Secret"}}
	},
}

// arcaView is what events of Arca's own API record.
var arcaView = &auditrec.View{
	EventSource: "arca.amazonaws.com",
	Members: classes(map[auditrec.Class]string{
		auditrec.Record: `AccessKeyMaxAgeDays MinSeverity Account Findings GeneratedAt
			Attempts AutomaticallyAfterDays CheckName Date Detail Duration ErrorCode ErrorMessage Id Key KmsKeyIds Message
			NextAttemptDate Region Remedy ResourceArn ResourceType ScheduleExpression SecretVersionsToStages Severity Status
			StatusMessage Step Title Value Values`,
	}),
}
