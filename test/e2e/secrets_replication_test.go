package e2e

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// TestSecretsReplication replicates a secret across the deployment's two
// regions: the replica follows every change of its primary, refuses
// changes of its own, and goes away with RemoveRegionsFromReplication.
func TestSecretsReplication(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{regions: "us-east-1,eu-west-1"})
	east := s.smClient("us-east-1", "", "")
	west := s.smClient("eu-west-1", "", "")
	cr, err := east.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("rep"), SecretString: aws.String("rep-v1"),
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("eu-west-1")}}})
	mustOK(t, err, "CreateSecret with a replica")
	if len(cr.ReplicationStatus) != 1 || cr.ReplicationStatus[0].Status != smtypes.StatusTypeInSync {
		t.Fatalf("ReplicationStatus = %+v", cr.ReplicationStatus)
	}
	g, err := west.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("rep")})
	mustOK(t, err, "GetSecretValue in the replica region")
	westARN := strings.Replace(aws.ToString(cr.ARN), "us-east-1", "eu-west-1", 1)
	if aws.ToString(g.SecretString) != "rep-v1" || aws.ToString(g.ARN) != westARN || aws.ToString(g.VersionId) != aws.ToString(cr.VersionId) {
		t.Fatalf("replica value = %q %s %s", aws.ToString(g.SecretString), aws.ToString(g.ARN), aws.ToString(g.VersionId))
	}
	_, err = east.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("rep"), SecretString: aws.String("rep-v2")})
	mustOK(t, err, "PutSecretValue in the primary")
	g, err = west.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String(westARN)})
	mustOK(t, err, "replica after PutSecretValue")
	if aws.ToString(g.SecretString) != "rep-v2" {
		t.Errorf("replica AWSCURRENT = %q", aws.ToString(g.SecretString))
	}
	g, err = west.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("rep"), VersionStage: aws.String("AWSPREVIOUS")})
	mustOK(t, err, "replica AWSPREVIOUS")
	if aws.ToString(g.SecretString) != "rep-v1" {
		t.Errorf("replica AWSPREVIOUS = %q", aws.ToString(g.SecretString))
	}
	_, err = west.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("rep"), SecretString: aws.String("x")})
	wantErr[*smtypes.InvalidRequestException](t, err, "PutSecretValue in the replica")
	d, err := west.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("rep")})
	mustOK(t, err, "DescribeSecret replica")
	if aws.ToString(d.PrimaryRegion) != "us-east-1" {
		t.Errorf("replica PrimaryRegion = %q", aws.ToString(d.PrimaryRegion))
	}
	_, err = east.DeleteSecret(bg(), &sm.DeleteSecretInput{SecretId: aws.String("rep")})
	wantErr[*smtypes.InvalidRequestException](t, err, "DeleteSecret with replicas")
	_, err = east.ReplicateSecretToRegions(bg(), &sm.ReplicateSecretToRegionsInput{SecretId: aws.String("rep"),
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("ap-south-1")}}})
	wantErr[*smtypes.InvalidParameterException](t, err, "replicate to a region the deployment does not serve")

	rm, err := east.RemoveRegionsFromReplication(bg(), &sm.RemoveRegionsFromReplicationInput{SecretId: aws.String("rep"), RemoveReplicaRegions: []string{"eu-west-1"}})
	mustOK(t, err, "RemoveRegionsFromReplication")
	if len(rm.ReplicationStatus) != 0 {
		t.Errorf("ReplicationStatus after removal = %+v", rm.ReplicationStatus)
	}
	_, err = west.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("rep")})
	wantErr[*smtypes.ResourceNotFoundException](t, err, "replica after removal")

	// Replicating an existing secret copies every version.
	rp, err := east.ReplicateSecretToRegions(bg(), &sm.ReplicateSecretToRegionsInput{SecretId: aws.String("rep"),
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("eu-west-1"), KmsKeyId: aws.String("alias/aws/secretsmanager")}}})
	mustOK(t, err, "ReplicateSecretToRegions")
	if len(rp.ReplicationStatus) != 1 || rp.ReplicationStatus[0].Status != smtypes.StatusTypeInSync {
		t.Fatalf("ReplicationStatus = %+v", rp.ReplicationStatus)
	}
	g, err = west.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("rep"), VersionStage: aws.String("AWSPREVIOUS")})
	mustOK(t, err, "replica AWSPREVIOUS after ReplicateSecretToRegions")
	if aws.ToString(g.SecretString) != "rep-v1" {
		t.Errorf("replicated AWSPREVIOUS = %q", aws.ToString(g.SecretString))
	}
	// A name taken in the replica region: the replica fails, and says so.
	_, err = west.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("taken"), SecretString: aws.String("w")})
	mustOK(t, err, "CreateSecret in eu-west-1")
	ct, err := east.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("taken"), SecretString: aws.String("e"),
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("eu-west-1")}}})
	mustOK(t, err, "CreateSecret with a replica whose name is taken")
	if len(ct.ReplicationStatus) != 1 || ct.ReplicationStatus[0].Status != smtypes.StatusTypeFailed {
		t.Errorf("ReplicationStatus = %+v", ct.ReplicationStatus)
	}
	g, err = west.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("taken")})
	mustOK(t, err, "the other secret in eu-west-1")
	if aws.ToString(g.SecretString) != "w" {
		t.Errorf("the replica region's own secret was overwritten: %q", aws.ToString(g.SecretString))
	}
	// ForceOverwriteReplicaSecret replaces the other secret.
	_, err = west.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("taken2"), SecretString: aws.String("w2")})
	mustOK(t, err, "CreateSecret taken2 in eu-west-1")
	ct, err = east.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("taken2"), SecretString: aws.String("e2"), ForceOverwriteReplicaSecret: true,
		AddReplicaRegions: []smtypes.ReplicaRegionType{{Region: aws.String("eu-west-1")}}})
	mustOK(t, err, "CreateSecret with ForceOverwriteReplicaSecret")
	if len(ct.ReplicationStatus) != 1 || ct.ReplicationStatus[0].Status != smtypes.StatusTypeInSync {
		t.Errorf("ReplicationStatus = %+v", ct.ReplicationStatus)
	}
	g, err = west.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("taken2")})
	mustOK(t, err, "the forced replica")
	if aws.ToString(g.SecretString) != "e2" || aws.ToString(g.ARN) != strings.Replace(aws.ToString(ct.ARN), "us-east-1", "eu-west-1", 1) {
		t.Errorf("forced replica = %q %s", aws.ToString(g.SecretString), aws.ToString(g.ARN))
	}
}
