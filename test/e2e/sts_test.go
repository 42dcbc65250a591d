package e2e

// The access matrix: principals of every kind Arca has (an account's root,
// an IAM user with a narrow policy, a role session from AssumeRole, a
// web-identity session from AssumeRoleWithWebIdentity, the root of another
// account) × KMS operations × keys with different key policies and grants,
// through the real SDK and its unchanged stscreds credential providers.
// Then the life of temporary credentials: session policies narrow and never
// widen, DurationSeconds bounds, expiry (ExpiredTokenException) and the end
// of a deleted role's sessions.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/go-jose/go-jose/v4"
)

const (
	testIssuer   = "https://idp.arca.test"
	testAudience = "sts.amazonaws.com"
	testSubject  = "system:serviceaccount:prod:app"
)

// idp is a test OpenID Connect issuer: an ECDSA key whose public half the
// server reads from a JWKS file.
type idp struct {
	key  *ecdsa.PrivateKey
	jwks string // path of the JWKS file
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Use: "sig", Algorithm: "ES256"}}}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return &idp{key: k, jwks: p}
}

// token signs a JWT for sub, valid from now for life (negative: expired).
func (p *idp) token(t *testing.T, sub string, life time.Duration) string {
	t.Helper()
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: p.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	iat := now
	if life < 0 {
		iat = now.Add(2 * life)
	}
	claims, _ := json.Marshal(map[string]any{"iss": testIssuer, "aud": testAudience, "sub": sub,
		"iat": iat.Unix(), "exp": now.Add(life).Unix()})
	jws, err := s.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenFile writes a token where stscreds.IdentityTokenFile reads it.
func tokenFile(t *testing.T, tok string) stscreds.IdentityTokenFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return stscreds.IdentityTokenFile(p)
}

// startSTSServer starts a server that trusts the test issuer.
func startSTSServer(t *testing.T, p *idp) *server {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "arca.yaml")
	yaml := fmt.Sprintf("oidc_providers:\n  - url: %s\n    audiences: [%s]\n    jwks_file: %s\n", testIssuer, testAudience, p.jwks)
	if err := os.WriteFile(conf, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, serverOpts{env: []string{"ARCA_CONFIG=" + conf}})
}

// kmsWith returns a KMS client with a credentials provider (cached, as
// config.LoadDefaultConfig would wrap it).
func (s *server) kmsWith(p aws.CredentialsProvider) *kms.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.NewCredentialsCache(p)}
	return kms.NewFromConfig(cfg, func(o *kms.Options) {
		o.BaseEndpoint = aws.String(s.endpoint)
		o.Retryer = closedConnRetryer()
	})
}

// anonSTS is an STS client without credentials: what a pod or function
// has before AssumeRoleWithWebIdentity.
func (s *server) anonSTS() *sts.Client {
	return sts.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}}, func(o *sts.Options) {
		o.BaseEndpoint = aws.String(s.endpoint)
		o.Retryer = closedConnRetryer()
	})
}

// kmsOp is one KMS operation of the matrix on one key.
type kmsOp struct {
	name string
	call func(c *kms.Client, keyARN string, blob []byte) error
}

var matrixOps = []kmsOp{
	{"Encrypt", func(c *kms.Client, k string, _ []byte) error {
		_, err := c.Encrypt(bg(), &kms.EncryptInput{KeyId: &k, Plaintext: []byte("matrix")})
		return err
	}},
	{"Decrypt", func(c *kms.Client, k string, blob []byte) error {
		out, err := c.Decrypt(bg(), &kms.DecryptInput{KeyId: &k, CiphertextBlob: blob})
		if err == nil && string(out.Plaintext) != "matrix" {
			return fmt.Errorf("Decrypt returned %q", out.Plaintext)
		}
		return err
	}},
	{"DescribeKey", func(c *kms.Client, k string, _ []byte) error {
		_, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: &k})
		return err
	}},
	{"GenerateDataKey", func(c *kms.Client, k string, _ []byte) error {
		_, err := c.GenerateDataKey(bg(), &kms.GenerateDataKeyInput{KeyId: &k, KeySpec: types.DataKeySpecAes256})
		return err
	}},
}

// checkMatrixCell calls op and checks the outcome: allowed, or
// AccessDeniedException naming the principal, the action and the key.
func checkMatrixCell(t *testing.T, who, principalARN string, c *kms.Client, op kmsOp, keyName, keyARN string, blob []byte, allowed bool) {
	t.Helper()
	err := op.call(c, keyARN, blob)
	what := fmt.Sprintf("%s %s on %s", who, op.name, keyName)
	if allowed {
		if err != nil {
			t.Errorf("%s: %v, want success", what, err)
		}
		return
	}
	wantCode(t, err, "AccessDeniedException", what)
	want := "User: " + principalARN + " is not authorized to perform: kms:" + op.name + " on resource: " + keyARN + " "
	if msg := errMessage(err); !strings.HasPrefix(msg, want) {
		t.Errorf("%s: message %q\nwant prefix          %q", what, msg, want)
	}
}

func TestSTSAccessMatrix(t *testing.T) {
	t.Parallel()
	p := newIDP(t)
	srv := startSTSServer(t, p)
	admin := srv.iamClient(rootAKID, rootSecret)
	rootKMS := srv.client("us-east-1")
	const acctA = defaultAccount
	arnA := func(res string) string { return "arn:aws:iam::" + acctA + ":" + res }

	// Another account, with its own root key.
	const acctB = "222233334444"
	r := queryCall(t, srv, "iam", rootAKID, rootSecret, url.Values{"Version": {"2010-05-08"}, "Action": {"ArcaCreateAccount"}, "AccountId": {acctB}})
	var acct arcaAccount
	if err := xml.Unmarshal(r.body, &acct); r.status != 200 || err != nil {
		t.Fatalf("ArcaCreateAccount: %d %s", r.status, r.body)
	}
	otherKMS := srv.clientWith("us-east-1", acct.Result.AccessKey.AccessKeyID, acct.Result.AccessKey.SecretAccessKey)

	newUser := func(name string) (akid, secret string) {
		_, err := admin.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String(name)})
		mustOK(t, err, "CreateUser "+name)
		ak, err := admin.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String(name)})
		mustOK(t, err, "CreateAccessKey "+name)
		return aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey)
	}

	// K1: the default key policy (the account delegates to IAM), and a
	// grant of Decrypt to the web role. K2: a key policy that names the
	// app role for DescribeKey and lets account B Encrypt and DescribeKey.
	k1, err := rootKMS.CreateKey(bg(), &kms.CreateKeyInput{Description: aws.String("K1")})
	mustOK(t, err, "CreateKey K1")
	k1ARN := aws.ToString(k1.KeyMetadata.Arn)
	k2, err := rootKMS.CreateKey(bg(), &kms.CreateKeyInput{Description: aws.String("K2"), Policy: aws.String(`{"Version":"2012-10-17","Statement":[
	  {"Sid":"Owner","Effect":"Allow","Principal":{"AWS":"` + arnA("root") + `"},"Action":"kms:*","Resource":"*"},
	  {"Sid":"AppRole","Effect":"Allow","Principal":{"AWS":"` + arnA("role/app") + `"},"Action":"kms:DescribeKey","Resource":"*"},
	  {"Sid":"OtherAccount","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctB + `:root"},"Action":["kms:Encrypt","kms:DescribeKey"],"Resource":"*"}]}`),
		BypassPolicyLockoutSafetyCheck: false})
	if err != nil && strings.Contains(err.Error(), "role/app") {
		t.Fatalf("CreateKey K2 before the role exists: %v", err)
	}
	mustOK(t, err, "CreateKey K2")
	k2ARN := aws.ToString(k2.KeyMetadata.Arn)
	blobs := map[string][]byte{}
	for name, k := range map[string]string{"K1": k1ARN, "K2": k2ARN} {
		enc, err := rootKMS.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(k), Plaintext: []byte("matrix")})
		mustOK(t, err, "Encrypt by root with "+name)
		blobs[name] = enc.CiphertextBlob
	}

	// The narrow user may Encrypt with K1, nothing else.
	narrowAKID, narrowSecret := newUser("narrow")
	_, err = admin.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("narrow"), PolicyName: aws.String("kms"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"` + k1ARN + `"}`)})
	mustOK(t, err, "PutUserPolicy narrow")

	// The app role trusts the assumer user; its policy allows Encrypt,
	// Decrypt and DescribeKey with K1.
	assumerAKID, assumerSecret := newUser("assumer")
	_, err = admin.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("app"), AssumeRolePolicyDocument: policyDoc(
		`{"Effect":"Allow","Principal":{"AWS":"` + arnA("user/assumer") + `"},"Action":"sts:AssumeRole"}`)})
	mustOK(t, err, "CreateRole app")
	_, err = admin.PutRolePolicy(bg(), &iam.PutRolePolicyInput{RoleName: aws.String("app"), PolicyName: aws.String("kms"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"` + k1ARN + `"}`)})
	mustOK(t, err, "PutRolePolicy app")

	// The web role trusts the issuer for one service account; its policy
	// allows Encrypt and GenerateDataKey with K1, and a grant Decrypt.
	provider := arnA("oidc-provider/idp.arca.test")
	_, err = admin.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("web"), AssumeRolePolicyDocument: policyDoc(
		`{"Effect":"Allow","Principal":{"Federated":"` + provider + `"},"Action":"sts:AssumeRoleWithWebIdentity",
		  "Condition":{"StringEquals":{"idp.arca.test:sub":"` + testSubject + `","idp.arca.test:aud":"` + testAudience + `"}}}`)})
	mustOK(t, err, "CreateRole web")
	_, err = admin.PutRolePolicy(bg(), &iam.PutRolePolicyInput{RoleName: aws.String("web"), PolicyName: aws.String("kms"),
		PolicyDocument: policyDoc(`{"Effect":"Allow","Action":["kms:Encrypt","kms:GenerateDataKey"],"Resource":"` + k1ARN + `"}`)})
	mustOK(t, err, "PutRolePolicy web")
	_, err = rootKMS.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: aws.String(k1ARN), GranteePrincipal: aws.String(arnA("role/web")),
		Operations: []types.GrantOperation{types.GrantOperationDecrypt}})
	mustOK(t, err, "CreateGrant to the web role")

	// Sessions, through the SDK's own credential providers.
	assumerSTS := srv.stsClient("us-east-1", assumerAKID, assumerSecret)
	appCreds := stscreds.NewAssumeRoleProvider(assumerSTS, arnA("role/app"), func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = "matrix"
	})
	appKMS := srv.kmsWith(appCreds)
	webCreds := stscreds.NewWebIdentityRoleProvider(srv.anonSTS(), arnA("role/web"), tokenFile(t, p.token(t, testSubject, 10*time.Minute)),
		func(o *stscreds.WebIdentityRoleOptions) { o.RoleSessionName = "pod-1" })
	webKMS := srv.kmsWith(webCreds)

	// Who each session is, as STS says.
	for _, c := range []struct {
		p    aws.CredentialsProvider
		want string
	}{
		{appCreds, "arn:aws:sts::" + acctA + ":assumed-role/app/matrix"},
		{webCreds, "arn:aws:sts::" + acctA + ":assumed-role/web/pod-1"},
	} {
		stsc := sts.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: aws.NewCredentialsCache(c.p)}, func(o *sts.Options) {
			o.BaseEndpoint = aws.String(srv.endpoint)
		})
		id, err := stsc.GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{})
		mustOK(t, err, "GetCallerIdentity of "+c.want)
		if aws.ToString(id.Arn) != c.want || aws.ToString(id.Account) != acctA || !reRoleID.MatchString(strings.Split(aws.ToString(id.UserId), ":")[0]) {
			t.Errorf("GetCallerIdentity = %s %s %s, want %s", aws.ToString(id.Arn), aws.ToString(id.UserId), aws.ToString(id.Account), c.want)
		}
	}

	principals := []struct {
		who, arn string
		c        *kms.Client
		allowed  map[string]string // key name → allowed operations, space-separated
	}{
		{"root", arnA("root"), rootKMS, map[string]string{"K1": "Encrypt Decrypt DescribeKey GenerateDataKey", "K2": "Encrypt Decrypt DescribeKey GenerateDataKey"}},
		{"narrow user", arnA("user/narrow"), srv.clientWith("us-east-1", narrowAKID, narrowSecret), map[string]string{"K1": "Encrypt"}},
		{"app role session", "arn:aws:sts::" + acctA + ":assumed-role/app/matrix", appKMS, map[string]string{"K1": "Encrypt Decrypt DescribeKey", "K2": "DescribeKey"}},
		{"web identity session", "arn:aws:sts::" + acctA + ":assumed-role/web/pod-1", webKMS, map[string]string{"K1": "Encrypt Decrypt GenerateDataKey"}},
		{"other account's root", "arn:aws:iam::" + acctB + ":root", otherKMS, map[string]string{"K2": "Encrypt DescribeKey"}},
	}
	for _, pr := range principals {
		for _, key := range []struct{ name, arn string }{{"K1", k1ARN}, {"K2", k2ARN}} {
			allowed := " " + pr.allowed[key.name] + " "
			for _, op := range matrixOps {
				checkMatrixCell(t, pr.who, pr.arn, pr.c, op, key.name, key.arn, blobs[key.name], strings.Contains(allowed, " "+op.name+" "))
			}
		}
	}

	t.Run("SessionPolicies", func(t *testing.T) {
		assume := func(name, pol string) *kms.Client {
			return srv.kmsWith(stscreds.NewAssumeRoleProvider(assumerSTS, arnA("role/app"), func(o *stscreds.AssumeRoleOptions) {
				o.RoleSessionName = name
				o.Policy = aws.String(pol)
			}))
		}
		// A session policy allowing only DescribeKey narrows the role.
		narrowed := assume("narrowed", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:DescribeKey","Resource":"*"}]}`)
		sessARN := "arn:aws:sts::" + acctA + ":assumed-role/app/narrowed"
		checkMatrixCell(t, "narrowed session", sessARN, narrowed, matrixOps[2], "K1", k1ARN, nil, true)
		checkMatrixCell(t, "narrowed session", sessARN, narrowed, matrixOps[2], "K2", k2ARN, nil, true)
		checkMatrixCell(t, "narrowed session", sessARN, narrowed, matrixOps[0], "K1", k1ARN, nil, false)
		checkMatrixCell(t, "narrowed session", sessARN, narrowed, matrixOps[1], "K1", k1ARN, blobs["K1"], false)
		// A session policy allowing everything widens nothing.
		wide := assume("wide", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`)
		sessARN = "arn:aws:sts::" + acctA + ":assumed-role/app/wide"
		checkMatrixCell(t, "wide session", sessARN, wide, matrixOps[0], "K1", k1ARN, nil, true)
		checkMatrixCell(t, "wide session", sessARN, wide, matrixOps[3], "K1", k1ARN, nil, false)
		checkMatrixCell(t, "wide session", sessARN, wide, matrixOps[0], "K2", k2ARN, nil, false)
		_, err := wide.CreateKey(bg(), &kms.CreateKeyInput{})
		wantCode(t, err, "AccessDeniedException", "CreateKey by a session whose session policy allows everything")
		// A session policy with an explicit deny wins over the role.
		denied := assume("denied", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},
		  {"Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}]}`)
		checkMatrixCell(t, "denying session", "arn:aws:sts::"+acctA+":assumed-role/app/denied", denied, matrixOps[0], "K1", k1ARN, nil, false)
		checkMatrixCell(t, "denying session", "arn:aws:sts::"+acctA+":assumed-role/app/denied", denied, matrixOps[2], "K1", k1ARN, nil, true)
	})

	t.Run("AssumeRoleRefusals", func(t *testing.T) {
		// DurationSeconds: 900 to 43200, and no more than the role's
		// MaxSessionDuration (3600 by default).
		for _, c := range []struct {
			d    int32
			code string
		}{{899, "ValidationError"}, {43201, "ValidationError"}, {7200, "ValidationError"}, {900, ""}, {3600, ""}} {
			out, err := assumerSTS.AssumeRole(bg(), &sts.AssumeRoleInput{RoleArn: aws.String(arnA("role/app")),
				RoleSessionName: aws.String("dd"), DurationSeconds: aws.Int32(c.d)})
			if c.code == "" {
				mustOK(t, err, fmt.Sprintf("AssumeRole DurationSeconds %d", c.d))
				if got := time.Until(aws.ToTime(out.Credentials.Expiration)); got > time.Duration(c.d)*time.Second+time.Minute || got < time.Duration(c.d)*time.Second-time.Minute {
					t.Errorf("DurationSeconds %d: credentials expire in %v", c.d, got)
				}
				continue
			}
			wantQueryErr(t, err, c.code, 400, fmt.Sprintf("AssumeRole DurationSeconds %d", c.d))
		}
		_, err := admin.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("long"), MaxSessionDuration: aws.Int32(43200),
			AssumeRolePolicyDocument: policyDoc(`{"Effect":"Allow","Principal":{"AWS":"` + arnA("user/assumer") + `"},"Action":"sts:AssumeRole"}`)})
		mustOK(t, err, "CreateRole long")
		_, err = assumerSTS.AssumeRole(bg(), &sts.AssumeRoleInput{RoleArn: aws.String(arnA("role/long")),
			RoleSessionName: aws.String("dd"), DurationSeconds: aws.Int32(43200)})
		mustOK(t, err, "AssumeRole 43200 s with MaxSessionDuration 43200")
		// Not trusted: the narrow user; root never.
		_, err = srv.stsClient("us-east-1", narrowAKID, narrowSecret).AssumeRole(bg(), &sts.AssumeRoleInput{
			RoleArn: aws.String(arnA("role/app")), RoleSessionName: aws.String("xx")})
		wantQueryErr(t, err, "AccessDenied", 403, "AssumeRole by an untrusted user")
		if want := "User: " + arnA("user/narrow") + " is not authorized to perform: sts:AssumeRole on resource: " + arnA("role/app"); !strings.HasPrefix(errMessage(err), want) {
			t.Errorf("AssumeRole denial message %q", errMessage(err))
		}
		_, err = srv.stsClient("us-east-1", rootAKID, rootSecret).AssumeRole(bg(), &sts.AssumeRoleInput{
			RoleArn: aws.String(arnA("role/app")), RoleSessionName: aws.String("xx")})
		wantQueryErr(t, err, "AccessDenied", 403, "AssumeRole by root")
		_, err = assumerSTS.AssumeRole(bg(), &sts.AssumeRoleInput{RoleArn: aws.String(arnA("role/nope")), RoleSessionName: aws.String("xx")})
		wantQueryErr(t, err, "AccessDenied", 403, "AssumeRole of a missing role")
		// A session policy larger than the packed allowance.
		big := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"` + strings.Repeat("a", 2100) + `"}]}`
		_, err = assumerSTS.AssumeRole(bg(), &sts.AssumeRoleInput{RoleArn: aws.String(arnA("role/app")), RoleSessionName: aws.String("xx"), Policy: &big})
		var ppt *ststypes.PackedPolicyTooLargeException
		if !errors.As(err, &ppt) {
			t.Errorf("AssumeRole with a too large session policy: %v, want PackedPolicyTooLargeException", err)
		}
	})

	t.Run("WebIdentityRefusals", func(t *testing.T) {
		anon := srv.anonSTS()
		in := func(tok string) *sts.AssumeRoleWithWebIdentityInput {
			return &sts.AssumeRoleWithWebIdentityInput{RoleArn: aws.String(arnA("role/web")), RoleSessionName: aws.String("xx"), WebIdentityToken: &tok}
		}
		_, err := anon.AssumeRoleWithWebIdentity(bg(), in(p.token(t, "system:serviceaccount:prod:other", time.Minute)))
		wantQueryErr(t, err, "AccessDenied", 403, "web identity with a subject the role does not trust")
		_, err = anon.AssumeRoleWithWebIdentity(bg(), in(p.token(t, testSubject, -10*time.Minute)))
		var exp *ststypes.ExpiredTokenException
		if !errors.As(err, &exp) {
			t.Errorf("web identity with an expired token: %v, want ExpiredTokenException", err)
		}
		forged := newIDP(t).token(t, testSubject, time.Minute)
		_, err = anon.AssumeRoleWithWebIdentity(bg(), in(forged))
		var inv *ststypes.InvalidIdentityTokenException
		if !errors.As(err, &inv) {
			t.Errorf("web identity with a token signed by another key: %v, want InvalidIdentityTokenException", err)
		}
		out, err := anon.AssumeRoleWithWebIdentity(bg(), in(p.token(t, testSubject, time.Minute)))
		mustOK(t, err, "AssumeRoleWithWebIdentity")
		if aws.ToString(out.Provider) != testIssuer || aws.ToString(out.Audience) != testAudience || aws.ToString(out.SubjectFromWebIdentityToken) != testSubject {
			t.Errorf("AssumeRoleWithWebIdentity = provider %q audience %q subject %q", aws.ToString(out.Provider), aws.ToString(out.Audience), aws.ToString(out.SubjectFromWebIdentityToken))
		}
	})

	t.Run("GetSessionToken", func(t *testing.T) {
		out, err := srv.stsClient("us-east-1", narrowAKID, narrowSecret).GetSessionToken(bg(), &sts.GetSessionTokenInput{DurationSeconds: aws.Int32(900)})
		mustOK(t, err, "GetSessionToken by the narrow user")
		c := out.Credentials
		if !strings.HasPrefix(aws.ToString(c.AccessKeyId), "ASIA") || aws.ToString(c.SessionToken) == "" {
			t.Fatalf("GetSessionToken credentials %s", aws.ToString(c.AccessKeyId))
		}
		sess := credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
		k := srv.kmsWith(sess)
		checkMatrixCell(t, "narrow user's session", arnA("user/narrow"), k, matrixOps[0], "K1", k1ARN, nil, true)
		checkMatrixCell(t, "narrow user's session", arnA("user/narrow"), k, matrixOps[3], "K1", k1ARN, nil, false)
		// A wrong session token with the right key is refused.
		bad := srv.kmsWith(credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), "ArcaSTSforged"))
		_, err = bad.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(k1ARN), Plaintext: []byte("x")})
		wantCode(t, err, "UnrecognizedClientException", "Encrypt with a forged session token")
		// No IAM calls with GetSessionToken credentials (AWS: only with MFA).
		iamc := iam.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: sess}, func(o *iam.Options) { o.BaseEndpoint = aws.String(srv.endpoint) })
		_, err = iamc.ListUsers(bg(), &iam.ListUsersInput{})
		wantQueryErr(t, err, "InvalidClientTokenId", 403, "ListUsers with GetSessionToken credentials")

		// The session ends with its user, even though a key policy names
		// the user's ARN.
		gstAKID, gstSecret := newUser("leaver")
		_, err = rootKMS.PutKeyPolicy(bg(), &kms.PutKeyPolicyInput{KeyId: aws.String(k2ARN), Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		  {"Sid":"Owner","Effect":"Allow","Principal":{"AWS":"` + arnA("root") + `"},"Action":"kms:*","Resource":"*"},
		  {"Sid":"Leaver","Effect":"Allow","Principal":{"AWS":"` + arnA("user/leaver") + `"},"Action":"kms:DescribeKey","Resource":"*"}]}`)})
		mustOK(t, err, "PutKeyPolicy naming the leaver")
		out, err = srv.stsClient("us-east-1", gstAKID, gstSecret).GetSessionToken(bg(), &sts.GetSessionTokenInput{})
		mustOK(t, err, "GetSessionToken by the leaver")
		leaver := srv.kmsWith(credentials.NewStaticCredentialsProvider(aws.ToString(out.Credentials.AccessKeyId),
			aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)))
		_, err = leaver.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(k2ARN)})
		mustOK(t, err, "DescribeKey by the leaver's session")
		_, err = admin.DeleteAccessKey(bg(), &iam.DeleteAccessKeyInput{UserName: aws.String("leaver"), AccessKeyId: aws.String(gstAKID)})
		mustOK(t, err, "DeleteAccessKey leaver")
		_, err = admin.DeleteUser(bg(), &iam.DeleteUserInput{UserName: aws.String("leaver")})
		mustOK(t, err, "DeleteUser leaver")
		_, err = leaver.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(k2ARN)})
		wantCode(t, err, "UnrecognizedClientException", "DescribeKey by a deleted user's session")
	})

	t.Run("RoleDeletionEndsSessions", func(t *testing.T) {
		_, err := admin.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("temp"), AssumeRolePolicyDocument: policyDoc(
			`{"Effect":"Allow","Principal":{"AWS":"` + arnA("user/assumer") + `"},"Action":"sts:AssumeRole"}`)})
		mustOK(t, err, "CreateRole temp")
		_, err = admin.PutRolePolicy(bg(), &iam.PutRolePolicyInput{RoleName: aws.String("temp"), PolicyName: aws.String("kms"),
			PolicyDocument: policyDoc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`)})
		mustOK(t, err, "PutRolePolicy temp")
		k := srv.kmsWith(stscreds.NewAssumeRoleProvider(assumerSTS, arnA("role/temp")))
		_, err = k.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(k1ARN), Plaintext: []byte("x")})
		mustOK(t, err, "Encrypt by the temp role's session")
		_, err = admin.DeleteRolePolicy(bg(), &iam.DeleteRolePolicyInput{RoleName: aws.String("temp"), PolicyName: aws.String("kms")})
		mustOK(t, err, "DeleteRolePolicy temp")
		_, err = k.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(k1ARN), Plaintext: []byte("x")})
		wantCode(t, err, "AccessDeniedException", "Encrypt by the session after its role lost its policy")
		_, err = admin.DeleteRole(bg(), &iam.DeleteRoleInput{RoleName: aws.String("temp")})
		mustOK(t, err, "DeleteRole temp")
		_, err = k.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(k1ARN), Plaintext: []byte("x")})
		wantCode(t, err, "UnrecognizedClientException", "Encrypt by a session of a deleted role")
		// A new role of the same name does not revive the old sessions.
		_, err = admin.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("temp"), AssumeRolePolicyDocument: policyDoc(
			`{"Effect":"Allow","Principal":{"AWS":"` + arnA("user/assumer") + `"},"Action":"sts:AssumeRole"}`)})
		mustOK(t, err, "CreateRole temp again")
		_, err = k.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(k1ARN)})
		wantCode(t, err, "UnrecognizedClientException", "DescribeKey by a session of a deleted and re-created role")
	})

	t.Run("CrossAccountRole", func(t *testing.T) {
		// A user of account B assumes a role of account A that trusts
		// account B: both the trust policy and B's identity policy must
		// allow it; the session then acts as A's role.
		adminB := srv.iamClient(acct.Result.AccessKey.AccessKeyID, acct.Result.AccessKey.SecretAccessKey)
		_, err := adminB.CreateUser(bg(), &iam.CreateUserInput{UserName: aws.String("visitor")})
		mustOK(t, err, "CreateUser visitor in B")
		ak, err := adminB.CreateAccessKey(bg(), &iam.CreateAccessKeyInput{UserName: aws.String("visitor")})
		mustOK(t, err, "CreateAccessKey visitor")
		visitorSTS := srv.stsClient("us-east-1", aws.ToString(ak.AccessKey.AccessKeyId), aws.ToString(ak.AccessKey.SecretAccessKey))
		_, err = admin.CreateRole(bg(), &iam.CreateRoleInput{RoleName: aws.String("partner"), AssumeRolePolicyDocument: policyDoc(
			`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acctB + `:root"},"Action":"sts:AssumeRole"}`)})
		mustOK(t, err, "CreateRole partner")
		_, err = admin.PutRolePolicy(bg(), &iam.PutRolePolicyInput{RoleName: aws.String("partner"), PolicyName: aws.String("kms"),
			PolicyDocument: policyDoc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"` + k1ARN + `"}`)})
		mustOK(t, err, "PutRolePolicy partner")
		in := &sts.AssumeRoleInput{RoleArn: aws.String(arnA("role/partner")), RoleSessionName: aws.String("visit")}
		_, err = visitorSTS.AssumeRole(bg(), in)
		wantQueryErr(t, err, "AccessDenied", 403, "cross-account AssumeRole without B's identity policy")
		_, err = adminB.PutUserPolicy(bg(), &iam.PutUserPolicyInput{UserName: aws.String("visitor"), PolicyName: aws.String("assume"),
			PolicyDocument: policyDoc(`{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"` + arnA("role/partner") + `"}`)})
		mustOK(t, err, "PutUserPolicy visitor")
		out, err := visitorSTS.AssumeRole(bg(), in)
		mustOK(t, err, "cross-account AssumeRole")
		if got := aws.ToString(out.AssumedRoleUser.Arn); got != "arn:aws:sts::"+acctA+":assumed-role/partner/visit" {
			t.Errorf("AssumedRoleUser.Arn = %s", got)
		}
		k := srv.kmsWith(credentials.NewStaticCredentialsProvider(aws.ToString(out.Credentials.AccessKeyId),
			aws.ToString(out.Credentials.SecretAccessKey), aws.ToString(out.Credentials.SessionToken)))
		sessARN := "arn:aws:sts::" + acctA + ":assumed-role/partner/visit"
		checkMatrixCell(t, "partner session", sessARN, k, matrixOps[0], "K1", k1ARN, nil, true)
		checkMatrixCell(t, "partner session", sessARN, k, matrixOps[2], "K1", k1ARN, nil, false)
	})

	// Last, because it moves the server's clock: session credentials stop
	// at their expiry, with ExpiredTokenException from KMS and from STS.
	t.Run("Expiry", func(t *testing.T) {
		out, err := assumerSTS.AssumeRole(bg(), &sts.AssumeRoleInput{RoleArn: aws.String(arnA("role/app")),
			RoleSessionName: aws.String("short"), DurationSeconds: aws.Int32(900)})
		mustOK(t, err, "AssumeRole 900 s")
		c := out.Credentials
		static := credentials.NewStaticCredentialsProvider(aws.ToString(c.AccessKeyId), aws.ToString(c.SecretAccessKey), aws.ToString(c.SessionToken))
		k := srv.kmsWith(static)
		stsc := sts.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: static}, func(o *sts.Options) { o.BaseEndpoint = aws.String(srv.endpoint) })
		_, err = k.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(k1ARN), Plaintext: []byte("x")})
		mustOK(t, err, "Encrypt before expiry")
		advanceClock(t, srv, 901*time.Second)
		_, err = k.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(k1ARN), Plaintext: []byte("x")})
		wantCode(t, err, "ExpiredTokenException", "Encrypt after expiry")
		_, err = appKMS.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(k1ARN), Plaintext: []byte("x")})
		wantCode(t, err, "ExpiredTokenException", "Encrypt by the stscreds session after its 15 minutes")
		// (GetCallerIdentity's model lists no errors, so the SDK has no
		// typed error here; the code is STS's.)
		_, err = stsc.GetCallerIdentity(bg(), &sts.GetCallerIdentityInput{})
		wantQueryErr(t, err, "ExpiredTokenException", 400, "GetCallerIdentity after expiry")
		_, err = stsc.AssumeRole(bg(), &sts.AssumeRoleInput{RoleArn: aws.String(arnA("role/app")), RoleSessionName: aws.String("chain")})
		var exp *ststypes.ExpiredTokenException
		if !errors.As(err, &exp) {
			t.Errorf("AssumeRole with expired credentials: %v, want sts ExpiredTokenException", err)
		}
		// Long-term credentials are unaffected.
		_, err = rootKMS.Encrypt(bg(), &kms.EncryptInput{KeyId: aws.String(k1ARN), Plaintext: []byte("x")})
		mustOK(t, err, "Encrypt by root after the clock moved")
	})
}
