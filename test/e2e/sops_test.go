// This file drives Arca with SOPS (github.com/getsops/sops/v3), the real
// binary, configured the way a user would: shared credentials and config
// files, and the endpoint from AWS_ENDPOINT_URL_KMS or a profile's
// endpoint_url. SOPS is not a dependency of the module (it would bring the
// GCP, Azure and Vault SDKs): .ci/run installs the binary with go install.
package e2e

import (
	"bytes"
	"encoding/json"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// sopsVersion is the SOPS release .ci/run installs and the tests were
// written against.
const sopsVersion = "v3.13.3"

// requireSops returns the sops binary: $ARCA_E2E_SOPS, else sops on PATH,
// else GOPATH/bin/sops. When there is none the test is skipped, except under
// CI=true, where it fails.
func requireSops(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("ARCA_E2E_SOPS"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("sops"); err == nil {
		return p
	}
	if p := filepath.Join(build.Default.GOPATH, "bin", "sops"); build.Default.GOPATH != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "sops not installed: GOBIN=$(go env GOPATH)/bin go install github.com/getsops/sops/v3/cmd/sops@" + sopsVersion + " (or set ARCA_E2E_SOPS)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must install it (.ci/run)")
	}
	t.Skip(msg)
	return ""
}

// TestSOPS encrypts a YAML file (endpoint from AWS_ENDPOINT_URL_KMS, key by
// key ARN) and a JSON file (endpoint from a named profile's endpoint_url,
// key by alias ARN) with an encryption context, checks that no value is left
// in the clear, decrypts both back, finds the calls in Arca's audit log, and
// checks that with the key disabled `sops decrypt` fails with KMS's error.
func TestSOPS(t *testing.T) {
	t.Parallel()
	sops := requireSops(t)
	s := startServer(t, serverOpts{})
	ctx := bg()
	c := s.client("us-east-1")
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("sops e2e")})
	mustOK(t, err, "CreateKey")
	keyARN := *k.KeyMetadata.Arn
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/sops-e2e"), TargetKeyId: k.KeyMetadata.KeyId})
	mustOK(t, err, "CreateAlias")
	aliasARN := strings.Replace(keyARN, ":key/"+*k.KeyMetadata.KeyId, ":alias/sops-e2e", 1)

	// A user who may only assume a role that may use the key: SOPS's
	// KEY_ARN+ROLE_ARN form calls STS AssumeRole (on Arca, through
	// AWS_ENDPOINT_URL) and then KMS with the session's credentials.
	ic := s.iamClient(rootAKID, rootSecret)
	_, err = ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("sops-user")})
	mustOK(t, err, "CreateUser")
	ak, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("sops-user")})
	mustOK(t, err, "CreateAccessKey")
	userARN := "arn:aws:iam::" + defaultAccount + ":user/sops-user"
	roleARN := "arn:aws:iam::" + defaultAccount + ":role/sops-e2e"
	_, err = ic.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("sops-e2e"),
		AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":{"AWS":"` + userARN + `"},"Action":"sts:AssumeRole"}`)})
	mustOK(t, err, "CreateRole")
	_, err = ic.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("sops-e2e"), PolicyName: aws.String("use-key"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"` + keyARN + `"}`)})
	mustOK(t, err, "PutRolePolicy")
	_, err = ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("sops-user"), PolicyName: aws.String("assume"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + roleARN + `"}`)})
	mustOK(t, err, "PutUserPolicy")

	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The default profile has no endpoint (it comes from the environment);
	// the arca profile carries one, as a user's ~/.aws/config would.
	write("credentials", "[default]\naws_access_key_id = "+rootAKID+"\naws_secret_access_key = "+rootSecret+"\n"+
		"[arca]\naws_access_key_id = "+rootAKID+"\naws_secret_access_key = "+rootSecret+"\n"+
		"[sops-user]\naws_access_key_id = "+*ak.AccessKey.AccessKeyId+"\naws_secret_access_key = "+*ak.AccessKey.SecretAccessKey+"\n")
	write("config", "[default]\nregion = us-east-1\n[profile arca]\nregion = us-east-1\nendpoint_url = "+s.endpoint+"\n"+
		"[profile sops-user]\nregion = us-east-1\n")
	baseEnv := []string{
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "credentials"),
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "config"),
		"HOME=" + t.TempDir(),          // no ~/.aws or ~/.sops.yaml of the developer's
		"SOPS_DISABLE_VERSION_CHECK=1", // no call to GitHub
	}
	runIn := func(cwd string, env []string, args ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(sops, args...)
		cmd.Dir = cwd
		cmd.Env = cleanEnv(append(baseEnv, env...)...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if err != nil {
			return stdout.String() + stderr.String(), err
		}
		return stdout.String(), nil
	}
	run := func(env []string, args ...string) (string, error) {
		t.Helper()
		return runIn(dir, env, args...)
	}
	viaEnv := []string{"AWS_ENDPOINT_URL_KMS=" + s.endpoint}
	ec := map[string]string{"app": "sops-e2e", "env": "test"}
	ecFlag := "app:sops-e2e,env:test"

	viaRole := []string{"AWS_ENDPOINT_URL=" + s.endpoint, "AWS_PROFILE=sops-user"}

	secrets := []string{"yaml-db-password-4a1f9e", "yaml-api-token-b7c2d0", "json-db-password-0e5d3c", "json-nested-token-91aa7b", "role-token-3f8e22"}
	files := []struct {
		name, body string
		env, args  []string
	}{
		{"app.yaml", "db:\n    user: app\n    password: " + secrets[0] + "\napi_token: " + secrets[1] + "\nreplicas: 3\n",
			viaEnv, []string{"--kms", keyARN}},
		{"app.json", "{\n\t\"db_password\": \"" + secrets[2] + "\",\n\t\"nested\": {\n\t\t\"token\": \"" + secrets[3] + "\"\n\t}\n}\n",
			nil, []string{"--kms", aliasARN, "--aws-profile", "arca"}},
		{"role.yaml", "token: " + secrets[4] + "\n",
			viaRole, []string{"--kms", keyARN + "+" + roleARN}},
	}
	for _, f := range files {
		in := write(f.name, f.body)
		encPath := filepath.Join(dir, "enc."+f.name)
		args := append([]string{"encrypt"}, f.args...)
		out, err := run(f.env, append(args, "--encryption-context", ecFlag, "--output", encPath, in)...)
		if err != nil {
			t.Fatalf("sops encrypt %s: %v\n%s", f.name, err, out)
		}
		enc, err := os.ReadFile(encPath)
		mustOK(t, err, "reading the encrypted file")
		for _, sec := range secrets {
			if bytes.Contains(enc, []byte(sec)) {
				t.Errorf("encrypted %s holds the value %q in the clear", f.name, sec)
			}
		}
		if !bytes.Contains(enc, []byte("ENC[AES256_GCM,")) || !bytes.Contains(enc, []byte("sops-e2e")) {
			t.Errorf("encrypted %s has no SOPS values or no KMS context:\n%s", f.name, enc)
		}
		out, err = run(f.env, "decrypt", encPath)
		if err != nil {
			t.Fatalf("sops decrypt %s: %v\n%s", f.name, err, out)
		}
		if out != f.body {
			t.Errorf("sops decrypt %s:\n%s\nwant:\n%s", f.name, out, f.body)
		}
	}

	// The usual set-up: a .sops.yaml creation rule names the key (alias
	// ARN), context and profile; `sops rotate` replaces the data key
	// (Decrypt, then Encrypt).
	cfgDir := filepath.Join(dir, "repo")
	mustOK(t, os.Mkdir(cfgDir, 0o700), "mkdir")
	mustOK(t, os.WriteFile(filepath.Join(cfgDir, ".sops.yaml"), []byte("creation_rules:\n  - path_regex: \\.env$\n    key_groups:\n"+
		"      - kms:\n          - arn: "+aliasARN+"\n            aws_profile: arca\n            context:\n              app: sops-e2e\n              env: test\n"), 0o600), "writing .sops.yaml")
	envBody := "DB_PASSWORD=" + secrets[0] + "\nAPI_TOKEN=" + secrets[1] + "\n"
	mustOK(t, os.WriteFile(filepath.Join(cfgDir, "app.env"), []byte(envBody), 0o600), "writing app.env")
	if out, err := runIn(cfgDir, nil, "encrypt", "--output", "enc.app.env", "app.env"); err != nil {
		t.Fatalf("sops encrypt with .sops.yaml: %v\n%s", err, out)
	}
	before, err := os.ReadFile(filepath.Join(cfgDir, "enc.app.env"))
	mustOK(t, err, "reading enc.app.env")
	if out, err := runIn(cfgDir, nil, "rotate", "-i", "enc.app.env"); err != nil {
		t.Fatalf("sops rotate: %v\n%s", err, out)
	}
	after, err := os.ReadFile(filepath.Join(cfgDir, "enc.app.env"))
	mustOK(t, err, "reading the rotated enc.app.env")
	if bytes.Equal(before, after) {
		t.Error("sops rotate left the file unchanged")
	}
	for _, sec := range secrets {
		if bytes.Contains(after, []byte(sec)) {
			t.Errorf("encrypted app.env holds the value %q in the clear", sec)
		}
	}
	if out, err := runIn(cfgDir, nil, "decrypt", "enc.app.env"); err != nil || out != envBody {
		t.Errorf("sops decrypt of the rotated app.env: %v\n%s\nwant:\n%s", err, out, envBody)
	}

	wantAudit(t, s, keyARN, "Encrypt", ec)
	wantAudit(t, s, keyARN, "Decrypt", ec)
	wantAuditBy(t, s, keyARN, "Decrypt", "arn:aws:sts::"+defaultAccount+":assumed-role/sops-e2e/sops@")

	// The user's own credentials may not use the key: the role did.
	if out, err := run([]string{"AWS_ENDPOINT_URL=" + s.endpoint, "AWS_PROFILE=sops-user"}, "decrypt", filepath.Join(dir, "enc.app.yaml")); err == nil {
		t.Errorf("sops decrypt as sops-user without the role succeeded:\n%s", out)
	} else if !strings.Contains(out, "AccessDeniedException") {
		t.Errorf("sops decrypt as sops-user without the role: %v; want AccessDeniedException:\n%s", err, out)
	}

	// With the key disabled SOPS cannot get its data key, and says why.
	_, err = c.DisableKey(ctx, &kms.DisableKeyInput{KeyId: &keyARN})
	mustOK(t, err, "DisableKey")
	out, err := run(viaEnv, "decrypt", filepath.Join(dir, "enc.app.yaml"))
	if err == nil {
		t.Fatalf("sops decrypt with the key disabled succeeded:\n%s", out)
	}
	if !strings.Contains(out, "DisabledException") {
		t.Errorf("sops decrypt with the key disabled: %v; want a message naming DisabledException:\n%s", err, out)
	}
	for _, sec := range secrets {
		if strings.Contains(out, sec) {
			t.Errorf("the failed decrypt printed the value %q", sec)
		}
	}
}

// wantAuditBy reports an error unless LookupEvents finds a successful event
// named name on the key made by a principal whose ARN starts with arnPrefix.
func wantAuditBy(t *testing.T, s *server, keyARN, name, arnPrefix string) {
	t.Helper()
	out, err := s.cloudTrailClient(rootAKID, rootSecret).LookupEvents(bg(), &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: &keyARN}}})
	mustOK(t, err, "LookupEvents")
	var seen []string
	for _, e := range out.Events {
		var ev struct {
			ErrorCode    string `json:"errorCode"`
			UserIdentity struct {
				ARN string `json:"arn"`
			} `json:"userIdentity"`
		}
		if err := json.Unmarshal([]byte(*e.CloudTrailEvent), &ev); err != nil {
			t.Fatalf("CloudTrailEvent is not JSON: %v", err)
		}
		seen = append(seen, *e.EventName+" by "+ev.UserIdentity.ARN)
		if *e.EventName == name && ev.ErrorCode == "" && strings.HasPrefix(ev.UserIdentity.ARN, arnPrefix) {
			return
		}
	}
	t.Errorf("audit: no successful %s on %s by %s* (events: %v)", name, keyARN, arnPrefix, seen)
}
