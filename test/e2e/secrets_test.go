package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// smClient returns a Secrets Manager client for the server, signed for
// region with the given credentials (the root's when akid is empty).
func (s *server) smClient(region, akid, secret string) *sm.Client {
	if akid == "" {
		akid, secret = rootAKID, rootSecret
	}
	cfg := aws.Config{Region: region, Credentials: credentials.NewStaticCredentialsProvider(akid, secret, "")}
	return sm.NewFromConfig(cfg, func(o *sm.Options) {
		o.BaseEndpoint = aws.String(s.endpoint)
		o.Retryer = closedConnRetryer()
		if s.sealed {
			o.HTTPClient = s.tlsClient()
		}
	})
}

func stages(out *sm.GetSecretValueOutput) []string {
	st := slices.Clone(out.VersionStages)
	slices.Sort(st)
	return st
}

// TestSecretsLifecycle drives the first slice of Secrets Manager through the
// SDK: create, read by name / full ARN / partial ARN, versions and staging
// labels, describe, list, delete with a recovery window the moved clock
// runs out, restore, force delete, and the errors on the way. It ends by
// scanning the data dir and the log for every secret value used.
func TestSecretsLifecycle(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.smClient("us-east-1", "", "")
	const v1, v2, v3 = "first-value-7f3a9c", "second-value-b81e2d", "third-value-0c55aa"
	bin := []byte("binary\x00value\xffc41d")

	cr, err := c.CreateSecret(bg(), &sm.CreateSecretInput{
		Name: aws.String("app/db"), SecretString: aws.String(v1), Description: aws.String("db password"),
		Tags: []smtypes.Tag{{Key: aws.String("team"), Value: aws.String("payments")}},
	})
	mustOK(t, err, "CreateSecret")
	arn := aws.ToString(cr.ARN)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db-") || len(arn) != len("arn:aws:secretsmanager:us-east-1:000000000000:secret:app/db-")+6 {
		t.Fatalf("ARN %q: want the name plus - and six characters", arn)
	}
	for _, id := range []string{"app/db", arn, strings.TrimSuffix(arn, arn[len(arn)-7:])} {
		g, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String(id)})
		mustOK(t, err, "GetSecretValue "+id)
		if aws.ToString(g.SecretString) != v1 || aws.ToString(g.VersionId) != aws.ToString(cr.VersionId) || !slices.Equal(stages(g), []string{"AWSCURRENT"}) {
			t.Fatalf("GetSecretValue %s = %q %v", id, aws.ToString(g.SecretString), g.VersionStages)
		}
	}

	// Idempotent retry of CreateSecret; a different value is refused.
	tok := "11111111-2222-3333-4444-555555555555"
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("idem"), SecretBinary: bin, ClientRequestToken: aws.String(tok)})
	mustOK(t, err, "CreateSecret idem")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("idem"), SecretBinary: bin, ClientRequestToken: aws.String(tok)})
	mustOK(t, err, "CreateSecret idem retry")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("idem"), SecretBinary: []byte("other"), ClientRequestToken: aws.String(tok)})
	wantErr[*smtypes.ResourceExistsException](t, err, "CreateSecret idem, other value")
	gb, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("idem")})
	mustOK(t, err, "GetSecretValue binary")
	if !bytes.Equal(gb.SecretBinary, bin) || gb.SecretString != nil {
		t.Fatalf("binary secret = %x", gb.SecretBinary)
	}

	// Versions: AWSCURRENT moves, AWSPREVIOUS follows; custom labels.
	p2, err := c.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String(v2)})
	mustOK(t, err, "PutSecretValue v2")
	p3, err := c.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(v3), VersionStages: []string{"STAGING"}})
	mustOK(t, err, "PutSecretValue v3 STAGING")
	for stage, want := range map[string]string{"AWSCURRENT": v2, "AWSPREVIOUS": v1, "STAGING": v3} {
		g, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String(stage)})
		mustOK(t, err, "GetSecretValue "+stage)
		if aws.ToString(g.SecretString) != want {
			t.Errorf("%s = %q, want %q", stage, aws.ToString(g.SecretString), want)
		}
	}
	_, err = c.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("changed"), ClientRequestToken: p2.VersionId})
	wantErr[*smtypes.ResourceExistsException](t, err, "PutSecretValue same token, other value")
	_, err = c.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String(v2), ClientRequestToken: p2.VersionId})
	mustOK(t, err, "PutSecretValue same token, same value")
	_, err = c.UpdateSecretVersionStage(bg(), &sm.UpdateSecretVersionStageInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: p3.VersionId})
	wantErr[*smtypes.InvalidParameterException](t, err, "move AWSCURRENT without RemoveFromVersionId")
	_, err = c.UpdateSecretVersionStage(bg(), &sm.UpdateSecretVersionStageInput{SecretId: aws.String("app/db"), VersionStage: aws.String("AWSCURRENT"),
		MoveToVersionId: p3.VersionId, RemoveFromVersionId: p2.VersionId})
	mustOK(t, err, "UpdateSecretVersionStage")
	d, err := c.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("app/db")})
	mustOK(t, err, "DescribeSecret")
	want := map[string][]string{aws.ToString(p3.VersionId): {"STAGING", "AWSCURRENT"}, aws.ToString(p2.VersionId): {"AWSPREVIOUS"}}
	for id, st := range want {
		if !slices.Equal(d.VersionIdsToStages[id], st) {
			t.Errorf("VersionIdsToStages[%s] = %v, want %v (all: %v)", id, d.VersionIdsToStages[id], st, d.VersionIdsToStages)
		}
	}
	if len(d.VersionIdsToStages) != 2 || aws.ToString(d.Description) != "db password" || len(d.Tags) != 1 {
		t.Errorf("DescribeSecret = %+v", d)
	}
	lv, err := c.ListSecretVersionIds(bg(), &sm.ListSecretVersionIdsInput{SecretId: aws.String("app/db"), IncludeDeprecated: aws.Bool(true)})
	mustOK(t, err, "ListSecretVersionIds")
	if len(lv.Versions) != 3 {
		t.Errorf("ListSecretVersionIds with deprecated: %d versions, want 3", len(lv.Versions))
	}
	_, err = c.UpdateSecret(bg(), &sm.UpdateSecretInput{SecretId: aws.String("app/db"), Description: aws.String("new description")})
	mustOK(t, err, "UpdateSecret description")

	// Errors.
	_, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("nope")})
	wantErr[*smtypes.ResourceNotFoundException](t, err, "GetSecretValue missing")
	_, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("app/db"), VersionStage: aws.String("NOPE")})
	wantErr[*smtypes.ResourceNotFoundException](t, err, "GetSecretValue missing stage")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")})
	wantErr[*smtypes.ResourceExistsException](t, err, "CreateSecret existing")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("big"), SecretString: aws.String(strings.Repeat("x", 65537))})
	wantCode(t, err, "ValidationException", "CreateSecret 65537 bytes")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("max"), SecretString: aws.String(strings.Repeat("x", 65536))})
	mustOK(t, err, "CreateSecret 65536 bytes")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("x"), SecretBinary: []byte("y")})
	wantErr[*smtypes.InvalidParameterException](t, err, "CreateSecret both values")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("bad name!")})
	wantCode(t, err, "ValidationException", "CreateSecret bad name")
	_, err = c.DeleteSecret(bg(), &sm.DeleteSecretInput{SecretId: aws.String("app/db"), RecoveryWindowInDays: aws.Int64(6)})
	wantErr[*smtypes.InvalidParameterException](t, err, "DeleteSecret window 6")
	_, err = c.DeleteSecret(bg(), &sm.DeleteSecretInput{SecretId: aws.String("app/db"), RecoveryWindowInDays: aws.Int64(7), ForceDeleteWithoutRecovery: aws.Bool(true)})
	wantErr[*smtypes.InvalidParameterException](t, err, "DeleteSecret window and force")

	// List with filters, paging and planned deletions.
	for _, n := range []string{"list/a", "list/b", "list/c"} {
		_, err := c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String(n), Tags: []smtypes.Tag{{Key: aws.String("kind"), Value: aws.String("list")}}})
		mustOK(t, err, "CreateSecret "+n)
	}
	var names []string
	pager := sm.NewListSecretsPaginator(c, &sm.ListSecretsInput{MaxResults: aws.Int32(2), Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"list/"}}},
		SortOrder: smtypes.SortOrderTypeAsc})
	for pager.HasMorePages() {
		pg, err := pager.NextPage(bg())
		mustOK(t, err, "ListSecrets page")
		for _, e := range pg.SecretList {
			names = append(names, aws.ToString(e.Name))
		}
	}
	if !slices.Equal(names, []string{"list/a", "list/b", "list/c"}) {
		t.Errorf("ListSecrets name=list/ = %v", names)
	}
	lt, err := c.ListSecrets(bg(), &sm.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeTagKey, Values: []string{"kind"}}, {Key: smtypes.FilterNameStringTypeName, Values: []string{"!list/b"}}}})
	mustOK(t, err, "ListSecrets tag-key, !name")
	if len(lt.SecretList) != 2 {
		t.Errorf("ListSecrets tag-key=kind, name!=list/b: %d secrets, want 2", len(lt.SecretList))
	}
	bg2, err := c.BatchGetSecretValue(bg(), &sm.BatchGetSecretValueInput{SecretIdList: []string{"app/db", "idem", "nope"}})
	mustOK(t, err, "BatchGetSecretValue")
	if len(bg2.SecretValues) != 2 || len(bg2.Errors) != 1 || aws.ToString(bg2.Errors[0].ErrorCode) != "ResourceNotFoundException" {
		t.Errorf("BatchGetSecretValue = %d values, errors %+v", len(bg2.SecretValues), bg2.Errors)
	}

	// Deletion with a recovery window, then restore; then let it run out.
	del, err := c.DeleteSecret(bg(), &sm.DeleteSecretInput{SecretId: aws.String("app/db"), RecoveryWindowInDays: aws.Int64(7)})
	mustOK(t, err, "DeleteSecret 7 days")
	if got := time.Until(aws.ToTime(del.DeletionDate)); got < 6*24*time.Hour || got > 8*24*time.Hour {
		t.Errorf("DeletionDate in %v, want 7 days", got)
	}
	_, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("app/db")})
	wantErr[*smtypes.InvalidRequestException](t, err, "GetSecretValue of a deleted secret")
	_, err = c.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("app/db"), SecretString: aws.String("x")})
	wantErr[*smtypes.InvalidRequestException](t, err, "PutSecretValue of a deleted secret")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String("x")})
	wantErr[*smtypes.InvalidRequestException](t, err, "CreateSecret with the name of a deleted secret")
	ls, err := c.ListSecrets(bg(), &sm.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"app/"}}}})
	mustOK(t, err, "ListSecrets")
	if len(ls.SecretList) != 0 {
		t.Errorf("ListSecrets lists a deleted secret")
	}
	ls, err = c.ListSecrets(bg(), &sm.ListSecretsInput{IncludePlannedDeletion: aws.Bool(true), Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"app/"}}}})
	mustOK(t, err, "ListSecrets IncludePlannedDeletion")
	if len(ls.SecretList) != 1 || ls.SecretList[0].DeletedDate == nil {
		t.Errorf("ListSecrets IncludePlannedDeletion = %+v", ls.SecretList)
	}
	_, err = c.RestoreSecret(bg(), &sm.RestoreSecretInput{SecretId: aws.String("app/db")})
	mustOK(t, err, "RestoreSecret")
	g, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("app/db")})
	mustOK(t, err, "GetSecretValue after restore")
	if aws.ToString(g.SecretString) != v3 {
		t.Errorf("after restore AWSCURRENT = %q", aws.ToString(g.SecretString))
	}
	_, err = c.DeleteSecret(bg(), &sm.DeleteSecretInput{SecretId: aws.String("app/db"), RecoveryWindowInDays: aws.Int64(7)})
	mustOK(t, err, "DeleteSecret again")
	advanceClock(t, s, 6*24*time.Hour)
	_, err = c.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("app/db")})
	mustOK(t, err, "DescribeSecret 6 days into the window")
	advanceClock(t, s, 25*time.Hour)
	_, err = c.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("app/db")})
	wantErr[*smtypes.ResourceNotFoundException](t, err, "DescribeSecret after the window")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("app/db"), SecretString: aws.String(v1)})
	mustOK(t, err, "CreateSecret reusing the name")
	_, err = c.DeleteSecret(bg(), &sm.DeleteSecretInput{SecretId: aws.String("idem"), ForceDeleteWithoutRecovery: aws.Bool(true)})
	mustOK(t, err, "DeleteSecret force")
	_, err = c.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("idem")})
	wantErr[*smtypes.ResourceNotFoundException](t, err, "DescribeSecret after force delete")

	rp, err := c.GetRandomPassword(bg(), &sm.GetRandomPasswordInput{PasswordLength: aws.Int64(40), ExcludePunctuation: aws.Bool(true), IncludeSpace: aws.Bool(false)})
	mustOK(t, err, "GetRandomPassword")
	if p := aws.ToString(rp.RandomPassword); len(p) != 40 || strings.ContainsAny(p, "!#$%&*") {
		t.Errorf("GetRandomPassword = %q", p)
	}
	_, err = c.GetRandomPassword(bg(), &sm.GetRandomPasswordInput{ExcludeNumbers: aws.Bool(true), ExcludePunctuation: aws.Bool(true), ExcludeUppercase: aws.Bool(true), ExcludeLowercase: aws.Bool(true)})
	wantErr[*smtypes.InvalidParameterException](t, err, "GetRandomPassword with nothing left")

	needles := map[string][]byte{"v1": []byte(v1), "v2": []byte(v2), "v3": []byte(v3), "binary": bin}
	if found := scanFiles(t, s.dataDir, needles, "dev-seal.key"); len(found) > 0 {
		t.Errorf("secret values on disk: %v", found)
	}
	logb, _ := os.ReadFile(s.logPath)
	if found := scanBytes(logb, needles, "the server log"); len(found) > 0 {
		t.Errorf("secret values in the log: %v", found)
	}
}

// TestSecretsKMSKey checks the envelope encryption through KMS: the
// AWS managed key alias/aws/secretsmanager appears on first use, a
// customer key's policy sees the encryption context {SecretARN,
// SecretVersionId}, and a disabled key fails as AWS fails.
func TestSecretsKMSKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.smClient("us-east-1", "", "")
	k := s.client("us-east-1")
	_, err := c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("managed"), SecretString: aws.String("m-value")})
	mustOK(t, err, "CreateSecret with the default key")
	dk, err := k.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String("alias/aws/secretsmanager")})
	mustOK(t, err, "DescribeKey alias/aws/secretsmanager")
	if dk.KeyMetadata.KeyManager != "AWS" {
		t.Errorf("KeyManager = %s, want AWS", dk.KeyMetadata.KeyManager)
	}

	// A key whose policy allows data keys only for secrets named ctx/*.
	policy := `{"Version":"2012-10-17","Statement":[
	 {"Sid":"admin","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":["kms:DescribeKey","kms:DisableKey","kms:EnableKey","kms:PutKeyPolicy","kms:ScheduleKeyDeletion","kms:Decrypt"],"Resource":"*"},
	 {"Sid":"secrets","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:GenerateDataKey","Resource":"*",
	  "Condition":{"StringLike":{"kms:EncryptionContext:SecretARN":"arn:aws:secretsmanager:us-east-1:000000000000:secret:ctx/*"},"Null":{"kms:EncryptionContext:SecretVersionId":"false"}}}]}`
	ck, err := k.CreateKey(bg(), &kms.CreateKeyInput{Policy: aws.String(policy)})
	mustOK(t, err, "CreateKey")
	keyID := ck.KeyMetadata.KeyId
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("ctx/ok"), SecretString: aws.String("c-value"), KmsKeyId: keyID})
	mustOK(t, err, "CreateSecret under a context-conditioned key")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("other/no"), SecretString: aws.String("c-value"), KmsKeyId: keyID})
	wantCode(t, err, "AccessDeniedException", "CreateSecret whose SecretARN the key policy refuses")
	_, err = c.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("other/no")})
	wantErr[*smtypes.ResourceNotFoundException](t, err, "a refused CreateSecret leaves nothing behind")

	_, err = k.DisableKey(bg(), &kms.DisableKeyInput{KeyId: keyID})
	mustOK(t, err, "DisableKey")
	_, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("ctx/ok")})
	wantErr[*smtypes.DecryptionFailure](t, err, "GetSecretValue under a disabled key")
	_, err = c.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("ctx/ok"), SecretString: aws.String("c2")})
	wantErr[*smtypes.EncryptionFailure](t, err, "PutSecretValue under a disabled key")
	_, err = k.EnableKey(bg(), &kms.EnableKeyInput{KeyId: keyID})
	mustOK(t, err, "EnableKey")
	g, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("ctx/ok")})
	mustOK(t, err, "GetSecretValue after EnableKey")
	if aws.ToString(g.SecretString) != "c-value" {
		t.Errorf("value = %q", aws.ToString(g.SecretString))
	}
	_, err = k.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: keyID, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, err, "ScheduleKeyDeletion")
	_, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("ctx/ok")})
	wantErr[*smtypes.DecryptionFailure](t, err, "GetSecretValue under a key pending deletion")

	// Moving a secret to another key re-encrypts its labelled versions.
	_, err = c.UpdateSecret(bg(), &sm.UpdateSecretInput{SecretId: aws.String("managed"), KmsKeyId: aws.String("alias/aws/secretsmanager")})
	mustOK(t, err, "UpdateSecret KmsKeyId")
	g, err = c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("managed")})
	mustOK(t, err, "GetSecretValue after the key change")
	if aws.ToString(g.SecretString) != "m-value" {
		t.Errorf("value = %q", aws.ToString(g.SecretString))
	}
}

// TestSecretsBadInput sends malformed requests to the secretsmanager
// target: each gets a 4xx with AWS's __type, and nothing is created.
func TestSecretsBadInput(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	call := func(target, service, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.endpoint+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("X-Amz-Target", target)
		sum := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: rootAKID, SecretAccessKey: rootSecret}
		if err := v4.NewSigner().SignHTTP(bg(), creds, req, hex.EncodeToString(sum[:]), service, "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct {
			Type string `json:"__type"`
		}
		json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Type
	}
	cases := []struct {
		target, service, body, code string
	}{
		{"secretsmanager.CreateSecret", "secretsmanager", `{"Name":`, "SerializationException"},
		{"secretsmanager.CreateSecret", "secretsmanager", `{"Name":5}`, "SerializationException"},
		{"secretsmanager.CreateSecret", "secretsmanager", `{"Name":"ok","SecretBinary":"not base64!"}`, "SerializationException"},
		{"secretsmanager.CreateSecret", "secretsmanager", `{}`, "ValidationException"},
		{"secretsmanager.CreateSecret", "secretsmanager", `{"Name":"ok","ClientRequestToken":"short"}`, "ValidationException"},
		{"secretsmanager.CreateSecret", "secretsmanager", `{"Name":"ok","Tags":[{"Key":"aws:x","Value":"v"}]}`, "InvalidParameterException"},
		{"secretsmanager.CreateSecret", "kms", `{"Name":"ok"}`, "InvalidSignatureException"},
		{"secretsmanager.NoSuchOperation", "secretsmanager", `{}`, "UnknownOperationException"},
		{"secretsmanager.GetSecretValue", "secretsmanager", `{}`, "ValidationException"},
		{"secretsmanager.GetSecretValue", "secretsmanager", `{"SecretId":"arn:aws:kms:us-east-1:000000000000:key/x"}`, "ValidationException"},
		{"secretsmanager.ListSecrets", "secretsmanager", `{"MaxResults":0}`, "ValidationException"},
		{"secretsmanager.ListSecrets", "secretsmanager", `{"NextToken":"garbage"}`, "InvalidNextTokenException"},
		{"secretsmanager.ListSecrets", "secretsmanager", `{"Filters":[{"Key":"color","Values":["x"]}]}`, "ValidationException"},
		{"secretsmanager.GetRandomPassword", "secretsmanager", `{"PasswordLength":4097}`, "ValidationException"},
		{"secretsmanager.RotateSecret", "secretsmanager", `{"SecretId":"x","RotationRules":{"ScheduleExpression":"rate(1 minutes)"}}`, "InvalidParameterException"},
		{"secretsmanager.BatchGetSecretValue", "secretsmanager", `{}`, "InvalidParameterException"},
		{"secretsmanager.UpdateSecretVersionStage", "secretsmanager", `{"SecretId":"x"}`, "ValidationException"},
	}
	for _, tc := range cases {
		st, code := call(tc.target, tc.service, tc.body)
		if st < 400 || st > 499 || code != tc.code {
			t.Errorf("%s %s: %d %s; want 4xx %s", tc.target, tc.body, st, code, tc.code)
		}
	}
	ls, err := s.smClient("us-east-1", "", "").ListSecrets(bg(), &sm.ListSecretsInput{})
	mustOK(t, err, "ListSecrets")
	if len(ls.SecretList) != 0 {
		t.Errorf("bad input created secrets: %+v", ls.SecretList)
	}
}

// TestSecretsSurviveKill checks that acknowledged secret writes survive
// kill -9: a version, a label move, a deletion schedule and a rotation
// configuration are all there after a restart.
func TestSecretsSurviveKill(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.smClient("us-east-1", "", "")
	_, err := c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("durable"), SecretString: aws.String("d1-value")})
	mustOK(t, err, "CreateSecret")
	p, err := c.PutSecretValue(bg(), &sm.PutSecretValueInput{SecretId: aws.String("durable"), SecretString: aws.String("d2-value")})
	mustOK(t, err, "PutSecretValue")
	_, err = c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("doomed"), SecretString: aws.String("x-value")})
	mustOK(t, err, "CreateSecret doomed")
	_, err = c.DeleteSecret(bg(), &sm.DeleteSecretInput{SecretId: aws.String("doomed"), RecoveryWindowInDays: aws.Int64(10)})
	mustOK(t, err, "DeleteSecret")
	s.kill()
	s.start()
	c = s.smClient("us-east-1", "", "")
	g, err := c.GetSecretValue(bg(), &sm.GetSecretValueInput{SecretId: aws.String("durable")})
	mustOK(t, err, "GetSecretValue after kill -9")
	if aws.ToString(g.SecretString) != "d2-value" || aws.ToString(g.VersionId) != aws.ToString(p.VersionId) {
		t.Errorf("after restart AWSCURRENT = %q", aws.ToString(g.SecretString))
	}
	d, err := c.DescribeSecret(bg(), &sm.DescribeSecretInput{SecretId: aws.String("doomed")})
	mustOK(t, err, "DescribeSecret doomed")
	if d.DeletedDate == nil {
		t.Errorf("deletion schedule lost")
	}
}
