package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

type postureFinding struct {
	ID, Severity, Title, ResourceArn, ResourceType, Region, Detail, Remedy string
}

// runPosture runs `arca posture` with the given credentials and returns its
// findings (-o json), or the error output when it fails.
func runPosture(t *testing.T, s *server, akid, secret string, args ...string) ([]postureFinding, string, error) {
	t.Helper()
	cmd := exec.Command(arcaBin, append([]string{"posture"}, args...)...)
	cmd.Env = cleanEnv("ARCA_ADDR="+s.endpoint, "AWS_ACCESS_KEY_ID="+akid, "AWS_SECRET_ACCESS_KEY="+secret)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, stderr.String(), err
	}
	if !strings.Contains(strings.Join(args, " "), "json") {
		return nil, stdout.String(), nil
	}
	var out struct {
		Findings []postureFinding
		Account  string
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("arca posture -o json is not JSON: %v\n%s", err, stdout.String())
	}
	return out.Findings, stdout.String(), nil
}

// findingFor returns the finding with rule id on a resource whose ARN ends
// with suffix.
func findingFor(fs []postureFinding, id, suffix string) *postureFinding {
	for i := range fs {
		if fs[i].ID == id && strings.HasSuffix(fs[i].ResourceArn, suffix) {
			return &fs[i]
		}
	}
	return nil
}

func TestPosture(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{env: []string{"ARCA_POSTURE_ACCESS_KEY_MAX_AGE=30d"}})
	c := s.client("us-east-1")

	noRot := createKey(t, c, nil)
	rot := createKey(t, c, nil)
	_, err := c.EnableKeyRotation(bg(), &kms.EnableKeyRotationInput{KeyId: rot.KeyId})
	mustOK(t, err, "EnableKeyRotation")

	del := createKey(t, c, nil)
	sched, err := c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: del.KeyId, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, err, "ScheduleKeyDeletion")

	dis := createKey(t, c, nil)
	_, err = c.EnableKeyRotation(bg(), &kms.EnableKeyRotationInput{KeyId: dis.KeyId})
	mustOK(t, err, "EnableKeyRotation")
	_, err = c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/posture-disabled"), TargetKeyId: dis.KeyId})
	mustOK(t, err, "CreateAlias")
	_, err = c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: dis.KeyId})
	mustOK(t, err, "DisableKey")

	// Imported material that expires in 10 days, wrapped with RSAES_OAEP_SHA_256.
	imp := createKey(t, c, &kms.CreateKeyInput{Origin: types.OriginTypeExternal})
	params, err := c.GetParametersForImport(bg(), &kms.GetParametersForImportInput{KeyId: imp.KeyId,
		WrappingAlgorithm: types.AlgorithmSpecRsaesOaepSha256, WrappingKeySpec: types.WrappingKeySpecRsa2048})
	mustOK(t, err, "GetParametersForImport")
	pub, err := x509.ParsePKIXPublicKey(params.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub.(*rsa.PublicKey), material, nil)
	if err != nil {
		t.Fatal(err)
	}
	validTo := time.Now().Add(10 * 24 * time.Hour)
	_, err = c.ImportKeyMaterial(bg(), &kms.ImportKeyMaterialInput{KeyId: imp.KeyId, ImportToken: params.ImportToken,
		EncryptedKeyMaterial: wrapped, ExpirationModel: types.ExpirationModelTypeKeyMaterialExpires, ValidTo: &validTo})
	mustOK(t, err, "ImportKeyMaterial")

	// A key policy open to every principal (the linter's ARCA-POL-001).
	public := `{"Version":"2012-10-17","Statement":[
	 {"Sid":"Root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},
	 {"Sid":"Everyone","Effect":"Allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}]}`
	pubKey := createKey(t, c, &kms.CreateKeyInput{Policy: aws.String(public)})
	_, err = c.EnableKeyRotation(bg(), &kms.EnableKeyRotationInput{KeyId: pubKey.KeyId})
	mustOK(t, err, "EnableKeyRotation")

	// A secret without rotation.
	sec, err := s.smClient("us-east-1", rootAKID, rootSecret).CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("posture/db"), SecretString: aws.String("pw-not-rotated")})
	mustOK(t, err, "CreateSecret")

	// An IAM user with an access key, allowed to list findings.
	ic := s.iamClient(rootAKID, rootSecret)
	_, err = ic.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("auditor")})
	mustOK(t, err, "CreateUser")
	ak, err := ic.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("auditor")})
	mustOK(t, err, "CreateAccessKey")
	uid, usecret := *ak.AccessKey.AccessKeyId, *ak.AccessKey.SecretAccessKey
	if _, errOut, err := runPosture(t, s, uid, usecret, "-o", "json"); err == nil || !strings.Contains(errOut, "AccessDeniedException") || !strings.Contains(errOut, "arca:ListFindings") {
		t.Fatalf("user without arca:ListFindings: %v %s", err, errOut)
	}
	_, err = ic.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("auditor"), PolicyName: aws.String("posture"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"arca:ListFindings","Resource":"*"}]}`)})
	mustOK(t, err, "PutUserPolicy")

	fs, raw, err := runPosture(t, s, uid, usecret, "-o", "json")
	if err != nil {
		t.Fatalf("arca posture as the auditor: %v %s", err, raw)
	}
	// GetAccessKeyLastUsed sees the auditor's signed calls; a new key is N/A.
	lu, err := ic.GetAccessKeyLastUsed(bg(), &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(uid)})
	mustOK(t, err, "GetAccessKeyLastUsed")
	if lu.AccessKeyLastUsed == nil || lu.AccessKeyLastUsed.LastUsedDate == nil || aws.ToString(lu.AccessKeyLastUsed.ServiceName) != "arca" ||
		aws.ToString(lu.AccessKeyLastUsed.Region) != "us-east-1" || aws.ToString(lu.UserName) != "auditor" ||
		time.Since(*lu.AccessKeyLastUsed.LastUsedDate) > 5*time.Minute {
		t.Errorf("GetAccessKeyLastUsed = %+v %+v", lu, lu.AccessKeyLastUsed)
	}
	ak2, err := ic.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("auditor")})
	mustOK(t, err, "CreateAccessKey")
	lu, err = ic.GetAccessKeyLastUsed(bg(), &iam.GetAccessKeyLastUsedInput{AccessKeyId: ak2.AccessKey.AccessKeyId})
	mustOK(t, err, "GetAccessKeyLastUsed")
	if lu.AccessKeyLastUsed.LastUsedDate != nil || aws.ToString(lu.AccessKeyLastUsed.ServiceName) != "N/A" || aws.ToString(lu.AccessKeyLastUsed.Region) != "N/A" {
		t.Errorf("unused key: %+v", lu.AccessKeyLastUsed)
	}
	_, err = ic.GetAccessKeyLastUsed(bg(), &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String("AKIAUNKNOWNUNKNOWN00")})
	wantCode(t, err, "NoSuchEntity", "GetAccessKeyLastUsed of an unknown key")
	_, err = ic.DeleteAccessKey(bg(), &iam.DeleteAccessKeyInput{UserName: aws.String("auditor"), AccessKeyId: ak2.AccessKey.AccessKeyId})
	mustOK(t, err, "DeleteAccessKey")

	want := []struct{ id, key, detail string }{
		{"ARCA-KMS-001", *noRot.KeyId, "rotation is disabled"},
		{"ARCA-KMS-002", *del.KeyId, sched.DeletionDate.UTC().Format(time.RFC3339)},
		{"ARCA-KMS-003", *dis.KeyId, "alias/posture-disabled"},
		{"ARCA-KMS-004", *imp.KeyId, "expires on " + validTo.UTC().Format("2006-01-02")},
		{"ARCA-POL-001", *pubKey.KeyId, `Sid "Everyone"`},
		{"ARCA-IAM-003", ":root", "signed kms calls"},
		{"ARCA-SM-001", *sec.ARN, "posture/db has no rotation"},
	}
	for _, w := range want {
		f := findingFor(fs, w.id, w.key)
		if f == nil {
			t.Errorf("no %s finding for %s in:\n%s", w.id, w.key, raw)
			continue
		}
		if !strings.Contains(f.Detail, w.detail) || f.Remedy == "" || f.Severity == "" {
			t.Errorf("%s for %s = %+v; want detail with %q", w.id, w.key, f, w.detail)
		}
	}
	for _, f := range fs {
		if strings.Contains(f.Detail, "pw-not-rotated") {
			t.Errorf("a secret value in a finding: %+v", f)
		}
		if strings.HasSuffix(f.ResourceArn, *rot.KeyId) {
			t.Errorf("healthy key reported: %+v", f)
		}
		if f.ID == "ARCA-IAM-001" || f.ID == "ARCA-IAM-002" {
			t.Errorf("fresh access key reported: %+v", f)
		}
	}

	// The table for people.
	if _, table, err := runPosture(t, s, rootAKID, rootSecret); err != nil || !strings.Contains(table, "SEVERITY") ||
		!strings.Contains(table, "ARCA-KMS-002") || !strings.Contains(table, "Remedies:") {
		t.Errorf("table: %v\n%s", err, table)
	}

	// 95 days later: the auditor's key is unused for 90 days and older than
	// the configured 30; root's last kms call is too old to report; the
	// deleted key is gone.
	advanceClock(t, s, 95*24*time.Hour)
	fs, raw, err = runPosture(t, s, rootAKID, rootSecret, "-o", "json")
	if err != nil {
		t.Fatalf("arca posture: %v %s", err, raw)
	}
	if f := findingFor(fs, "ARCA-IAM-001", ":user/auditor"); f == nil || !strings.Contains(f.Detail, uid) {
		t.Errorf("no unused-key finding for the auditor:\n%s", raw)
	}
	if f := findingFor(fs, "ARCA-IAM-002", ":user/auditor"); f == nil || !strings.Contains(f.Detail, "(maximum 30 days)") {
		t.Errorf("no old-key finding for the auditor:\n%s", raw)
	}
	if findingFor(fs, "ARCA-IAM-003", ":root") != nil || findingFor(fs, "ARCA-KMS-002", *del.KeyId) != nil {
		t.Errorf("stale findings after 95 days:\n%s", raw)
	}
	// A per-report maximum age, and a severity filter.
	fs, raw, _ = runPosture(t, s, rootAKID, rootSecret, "-o", "json", "--max-key-age-days", "365", "--min-severity", "medium")
	if findingFor(fs, "ARCA-IAM-002", ":user/auditor") != nil {
		t.Errorf("--max-key-age-days 365 still reports the 95-day-old key:\n%s", raw)
	}
	for _, f := range fs {
		if f.Severity != "MEDIUM" && f.Severity != "HIGH" && f.Severity != "CRITICAL" {
			t.Errorf("--min-severity medium returned %+v", f)
		}
	}
}

// TestPostureSecretRotationFailed: a secret whose rotation keeps failing
// (its webhook rotator answers 500) is reported as ARCA-SM-002 with the
// failing step, and no longer as a secret without rotation.
func TestPostureSecretRotationFailed(t *testing.T) {
	t.Parallel()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "rotation target unreachable", http.StatusInternalServerError)
	}))
	defer hook.Close()
	cfg := filepath.Join(t.TempDir(), "arca.yaml")
	yaml := "rotators:\n  - {name: broken, type: webhook, url: " + hook.URL + "/rotate, hmac_secret_env: ARCA_E2E_HOOK_KEY, timeout: 5s}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, serverOpts{env: []string{"ARCA_CONFIG=" + cfg, "ARCA_E2E_HOOK_KEY=e2e-posture-hook-key-0123456789"}})
	c := s.smClient("us-east-1", rootAKID, rootSecret)
	sec, err := c.CreateSecret(bg(), &sm.CreateSecretInput{Name: aws.String("posture/rotating"), SecretString: aws.String("pw-rotation-value")})
	mustOK(t, err, "CreateSecret")
	_, err = c.RotateSecret(bg(), &sm.RotateSecretInput{SecretId: sec.ARN,
		RotationLambdaARN: aws.String("arn:aws:lambda:us-east-1:000000000000:function:broken"),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(30)}})
	mustOK(t, err, "RotateSecret")
	var f *postureFinding
	var raw string
	deadline := time.Now().Add(30 * time.Second)
	for f == nil && time.Now().Before(deadline) {
		var fs []postureFinding
		fs, raw, err = runPosture(t, s, rootAKID, rootSecret, "-o", "json")
		if err != nil {
			t.Fatalf("arca posture: %v %s", err, raw)
		}
		if f = findingFor(fs, "ARCA-SM-002", *sec.ARN); f == nil {
			time.Sleep(200 * time.Millisecond)
		} else if findingFor(fs, "ARCA-SM-001", *sec.ARN) != nil {
			t.Errorf("a secret with rotation reported as without:\n%s", raw)
		}
	}
	if f == nil {
		t.Fatalf("no ARCA-SM-002 for the failing rotation:\n%s", raw)
	}
	if f.Severity != "HIGH" || !strings.Contains(f.Detail, "step ") || strings.Contains(raw, "pw-rotation-value") {
		t.Errorf("finding = %+v", f)
	}
}
