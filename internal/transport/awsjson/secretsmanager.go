package awsjson

import (
	"github.com/arca-kms/arca/internal/secrets"
	"github.com/arca-kms/arca/internal/svcerr"
)

// SecretsManager returns the operation table of the AWS Secrets Manager API
// (target prefix and signing name "secretsmanager"). docs/COMPATIBILITY.md
// lists every operation and its status.
func SecretsManager(s *secrets.Service) *Service {
	svc := NewService("secretsmanager", "secretsmanager",
		Op("CreateSecret", secrets.ActCreateSecret, s.CreateSecret),
		Op("GetSecretValue", secrets.ActGetSecretValue, s.GetSecretValue),
		Op("BatchGetSecretValue", secrets.ActBatchGetSecretValue, s.BatchGetSecretValue),
		Op("PutSecretValue", secrets.ActPutSecretValue, s.PutSecretValue),
		Op("UpdateSecret", secrets.ActUpdateSecret, s.UpdateSecret),
		Op("DescribeSecret", secrets.ActDescribeSecret, s.DescribeSecret),
		Op("ListSecrets", secrets.ActListSecrets, s.ListSecrets),
		Op("ListSecretVersionIds", secrets.ActListSecretVersionIds, s.ListSecretVersionIDs),
		Op("UpdateSecretVersionStage", secrets.ActUpdateSecretVersionStage, s.UpdateSecretVersionStage),
		Op("DeleteSecret", secrets.ActDeleteSecret, s.DeleteSecret),
		Op("RestoreSecret", secrets.ActRestoreSecret, s.RestoreSecret),
		Op("TagResource", secrets.ActTagResource, s.TagResource),
		Op("UntagResource", secrets.ActUntagResource, s.UntagResource),
		Op("GetRandomPassword", secrets.ActGetRandomPassword, s.GetRandomPassword),
		Op("PutResourcePolicy", secrets.ActPutResourcePolicy, s.PutResourcePolicy),
		Op("GetResourcePolicy", secrets.ActGetResourcePolicy, s.GetResourcePolicy),
		Op("DeleteResourcePolicy", secrets.ActDeleteResourcePolicy, s.DeleteResourcePolicy),
		Op("ValidateResourcePolicy", secrets.ActValidateResourcePolicy, s.ValidateResourcePolicy),
		Op("RotateSecret", secrets.ActRotateSecret, s.RotateSecret),
		Op("CancelRotateSecret", secrets.ActCancelRotateSecret, s.CancelRotateSecret),
		Op("ReplicateSecretToRegions", secrets.ActReplicateSecretToRegions, s.ReplicateSecretToRegions),
		Op("RemoveRegionsFromReplication", secrets.ActRemoveRegionsFromReplication, s.RemoveRegionsFromReplication),
	)
	svc.fault = svcerr.InternalServiceError
	return svc
}
