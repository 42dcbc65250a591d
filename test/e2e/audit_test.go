package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmw "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/middleware"
)

// cloudTrailClient returns a CloudTrail client for the server.
func (s *server) cloudTrailClient(akid, secret string) *cloudtrail.Client {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider(akid, secret, "")}
	return cloudtrail.NewFromConfig(cfg, func(o *cloudtrail.Options) {
		o.BaseEndpoint = aws.String(s.endpoint)
		o.Retryer = closedConnRetryer()
	})
}

// runArca runs the arca binary and returns its combined output and exit code.
func runArca(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(arcaBin, args...)
	cmd.Env = cleanEnv(env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("arca %v: %v", args, err)
	}
	return string(out), code
}

// auditLines reads every line of every segment of the audit log in dir.
func auditLines(t *testing.T, dir string) []map[string]any {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(dir, "segment-*.jsonl"))
	var out []map[string]any
	for _, p := range segs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// A segment still being written ends in preallocated zeros.
		for _, l := range bytes.Split(bytes.TrimSpace(bytes.TrimRight(b, "\x00")), []byte{'\n'}) {
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatalf("%s: line is not JSON: %v", p, err)
			}
			out = append(out, m)
		}
	}
	return out
}

// TestAuditWorkload runs a scripted workload through the SDK, then checks
// that every request left exactly one CloudTrail-shaped event with the
// request ID the client saw, that no secret it sent or received is in the
// log, that LookupEvents (SDK and aws CLI) finds events by key ARN and by
// user, and that `arca audit verify` passes.
func TestAuditWorkload(t *testing.T) {
	s := startServer(t, serverOpts{})
	ctx := bg()
	c := s.client("us-east-1")
	var reqIDs []string

	secrets := map[string][]byte{}
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("audit e2e")})
	mustOK(t, err, "CreateKey")
	keyARN := *key.KeyMetadata.Arn
	reqIDs = append(reqIDs, requestID(key.ResultMetadata))

	pt := []byte("audit-e2e-plaintext-7f3a9c")
	secrets["plaintext"] = pt
	secrets["plaintext base64"] = []byte(base64.StdEncoding.EncodeToString(pt))
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: pt,
		EncryptionContext: map[string]string{"purpose": "audit-test"}})
	mustOK(t, err, "Encrypt")
	reqIDs = append(reqIDs, requestID(enc.ResultMetadata))
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: map[string]string{"purpose": "audit-test"}})
	mustOK(t, err, "Decrypt")
	reqIDs = append(reqIDs, requestID(dec.ResultMetadata))
	dk, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: &keyARN, KeySpec: kmstypes.DataKeySpecAes256})
	mustOK(t, err, "GenerateDataKey")
	reqIDs = append(reqIDs, requestID(dk.ResultMetadata))
	secrets["data key"] = dk.Plaintext
	secrets["data key base64"] = []byte(base64.StdEncoding.EncodeToString(dk.Plaintext))
	// A failed call is recorded too.
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	wantCode(t, err, "InvalidCiphertextException", "Decrypt without context")

	sk, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	mustOK(t, err, "CreateKey ECC")
	msg := []byte("audit-e2e-message-to-sign-c41d")
	secrets["message"] = msg
	secrets["message base64"] = []byte(base64.StdEncoding.EncodeToString(msg))
	sig, err := c.Sign(ctx, &kms.SignInput{KeyId: sk.KeyMetadata.KeyId, Message: msg, SigningAlgorithm: kmstypes.SigningAlgorithmSpecEcdsaSha256})
	mustOK(t, err, "Sign")
	secrets["signature base64"] = []byte(base64.StdEncoding.EncodeToString(sig.Signature))

	// A secret: its value is never recorded, its name and ARN are.
	smc := s.smClient("us-east-1", rootAKID, rootSecret)
	secretValue := "audit-e2e-secret-value-5d1e0a"
	secrets["secret value"] = []byte(secretValue)
	cs, err := smc.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("audit/db"), SecretString: aws.String(secretValue)})
	mustOK(t, err, "CreateSecret")
	gv, err := smc.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: cs.ARN})
	mustOK(t, err, "GetSecretValue")
	reqIDs = append(reqIDs, requestID(cs.ResultMetadata), requestID(gv.ResultMetadata))
	_, err = smc.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: cs.ARN, SecretBinary: []byte(secretValue + "-binary")})
	mustOK(t, err, "PutSecretValue")

	// An IAM user with an access key; her calls are recorded under her name.
	ic := s.iamClient(rootAKID, rootSecret)
	_, err = ic.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("audit-alice")})
	mustOK(t, err, "CreateUser")
	ak, err := ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String("audit-alice")})
	mustOK(t, err, "CreateAccessKey")
	secrets["secret access key"] = []byte(*ak.AccessKey.SecretAccessKey)
	_, err = ic.PutUserPolicy(ctx, &iam.PutUserPolicyInput{UserName: aws.String("audit-alice"), PolicyName: aws.String("p"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","cloudtrail:LookupEvents"],"Resource":"*"}]}`)})
	mustOK(t, err, "PutUserPolicy")
	alice := s.clientWith("us-east-1", *ak.AccessKey.AccessKeyId, *ak.AccessKey.SecretAccessKey)
	pt2 := []byte("alice-plaintext-0b9e77")
	secrets["alice plaintext"] = pt2
	_, err = alice.Encrypt(ctx, &kms.EncryptInput{KeyId: &keyARN, Plaintext: pt2})
	mustOK(t, err, "alice Encrypt")
	_, err = alice.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &keyARN})
	wantCode(t, err, "AccessDeniedException", "alice DescribeKey")
	// An unauthenticated request is recorded too.
	_, err = s.clientWith("us-east-1", *ak.AccessKey.AccessKeyId, "wrong-secret-wrong-secret-wrong-secret00").ListKeys(ctx, &kms.ListKeysInput{})
	if err == nil {
		t.Fatal("a bad signature was accepted")
	}

	// LookupEvents by key ARN (root) and by user (alice, who sees her account).
	ct := s.cloudTrailClient(rootAKID, rootSecret)
	byKey, err := ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: &keyARN}}})
	mustOK(t, err, "LookupEvents by key ARN")
	names := map[string]int{}
	for _, e := range byKey.Events {
		names[*e.EventName]++
		if len(e.Resources) == 0 || *e.Resources[0].ResourceName != keyARN {
			t.Errorf("event %s: resources %+v, want %s", *e.EventName, e.Resources, keyARN)
		}
	}
	for _, want := range []string{"CreateKey", "Encrypt", "Decrypt", "GenerateDataKey"} {
		if names[want] == 0 {
			t.Errorf("LookupEvents by key ARN: no %s event (got %v)", want, names)
		}
	}
	if names["Encrypt"] != 2 || names["DescribeKey"] != 1 {
		t.Errorf("LookupEvents by key ARN: got %v; want 2 Encrypt (root, alice) and alice's denied DescribeKey", names)
	}
	act := s.cloudTrailClient(*ak.AccessKey.AccessKeyId, *ak.AccessKey.SecretAccessKey)
	byUser, err := act.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("audit-alice")}}, MaxResults: aws.Int32(1)})
	mustOK(t, err, "alice LookupEvents by user")
	if len(byUser.Events) != 1 || byUser.NextToken == nil {
		t.Fatalf("LookupEvents by user, MaxResults 1: %d events, NextToken %v", len(byUser.Events), byUser.NextToken)
	}
	var aliceEvents []cttypes.Event
	p := cloudtrail.NewLookupEventsPaginator(act, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyUsername, AttributeValue: aws.String("audit-alice")}}, MaxResults: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		mustOK(t, err, "LookupEvents page")
		aliceEvents = append(aliceEvents, page.Events...)
	}
	got := []string{}
	for _, e := range aliceEvents {
		got = append(got, *e.EventName)
		var ev map[string]any
		if err := json.Unmarshal([]byte(*e.CloudTrailEvent), &ev); err != nil {
			t.Fatalf("CloudTrailEvent is not JSON: %v", err)
		}
		// Every event names the node whose chain holds it (issue 9).
		nodeID, _ := os.ReadFile(filepath.Join(s.dataDir, "audit", "node-id"))
		if id, _ := ev["arcaNodeId"].(string); id == "" || id+"\n" != string(nodeID) {
			t.Errorf("alice's event %s: arcaNodeId %q; want the audit dir's node-id %q", *e.EventName, id, nodeID)
		}
		ui := ev["userIdentity"].(map[string]any)
		if ui["type"] != "IAMUser" || ui["userName"] != "audit-alice" || ui["accessKeyId"] != *ak.AccessKey.AccessKeyId {
			t.Errorf("alice's event %s: userIdentity %v", *e.EventName, ui)
		}
	}
	// Newest first: the lookup itself (first page), DescribeKey (denied), Encrypt.
	if strings.Join(got, ",") != "LookupEvents,DescribeKey,Encrypt" {
		t.Errorf("alice's events = %v; want LookupEvents,DescribeKey,Encrypt", got)
	}
	_, err = act.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: "Nope", AttributeValue: aws.String("x")}}})
	wantCode(t, err, "InvalidLookupAttributesException", "bad lookup attribute")
	_, err = act.LookupEvents(ctx, &cloudtrail.LookupEventsInput{StartTime: aws.Time(time.Now()), EndTime: aws.Time(time.Now().Add(-time.Hour))})
	wantCode(t, err, "InvalidTimeRangeException", "start after end")

	bySecret, err := ct.LookupEvents(ctx, &cloudtrail.LookupEventsInput{LookupAttributes: []cttypes.LookupAttribute{
		{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: cs.ARN}}})
	mustOK(t, err, "LookupEvents by secret ARN")
	if len(bySecret.Events) != 3 || *bySecret.Events[0].EventSource != "secretsmanager.amazonaws.com" {
		t.Errorf("LookupEvents by secret ARN: %d events", len(bySecret.Events))
	}

	// The aws CLI finds the key's events too.
	if awsBin := requireTool(t, "aws", "awscli"); awsBin != "" {
		cmd := exec.Command(awsBin, "cloudtrail", "lookup-events", "--endpoint-url", s.endpoint, "--region", "us-east-1",
			"--lookup-attributes", "AttributeKey=ResourceName,AttributeValue="+keyARN, "--output", "json")
		cmd.Env = cleanEnv("AWS_ACCESS_KEY_ID="+rootAKID, "AWS_SECRET_ACCESS_KEY="+rootSecret, "AWS_EC2_METADATA_DISABLED=true")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("aws cloudtrail lookup-events: %v\n%s", err, out)
		}
		var res struct {
			Events []struct{ EventName, EventId string }
		}
		if err := json.Unmarshal(out, &res); err != nil || len(res.Events) < 6 {
			t.Errorf("aws cloudtrail lookup-events: %d events (%v)\n%s", len(res.Events), err, out)
		}
	}

	// The public key from the server is the one in the log directory.
	auditDir := filepath.Join(s.dataDir, "audit")
	pemOut, code := runArca(t, []string{"AWS_ACCESS_KEY_ID=" + rootAKID, "AWS_SECRET_ACCESS_KEY=" + rootSecret},
		"audit", "public-key", "--endpoint", s.endpoint)
	fileOut, _ := runArca(t, nil, "audit", "public-key", auditDir)
	if code != 0 || !strings.Contains(pemOut, "BEGIN PUBLIC KEY") || pemOut != fileOut {
		t.Errorf("public-key from server (exit %d):\n%s\nfrom dir:\n%s", code, pemOut, fileOut)
	}
	// Rotate: two keys, old kept; checkpoints signed by both verify.
	rot, code := runArca(t, []string{"AWS_ACCESS_KEY_ID=" + rootAKID, "AWS_SECRET_ACCESS_KEY=" + rootSecret},
		"audit", "rotate-key", "--endpoint", s.endpoint)
	oldKey := pemBody(pemOut)
	if code != 0 || strings.Count(rot, "BEGIN PUBLIC KEY") != 2 || oldKey == "" || !strings.Contains(rot, oldKey) {
		t.Errorf("rotate-key (exit %d):\n%s", code, rot)
	}
	_, err = c.ListKeys(ctx, &kms.ListKeysInput{})
	mustOK(t, err, "ListKeys after rotation")

	if err := s.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// Every request is exactly one API event; the client's request IDs are
	// the events' requestIDs.
	lines := auditLines(t, auditDir)
	byReq := map[string]int{}
	for _, ev := range lines {
		if ev["eventType"] == "AwsApiCall" {
			byReq[ev["requestID"].(string)]++
			for _, f := range []string{"eventVersion", "userIdentity", "eventTime", "eventSource", "eventName", "awsRegion",
				"sourceIPAddress", "userAgent", "requestID", "eventID", "readOnly", "eventType", "recipientAccountId"} {
				if _, ok := ev[f]; !ok {
					t.Errorf("event %v lacks %s", ev["eventName"], f)
				}
			}
		}
	}
	for _, id := range reqIDs {
		if byReq[id] != 1 {
			t.Errorf("request %s has %d events, want 1", id, byReq[id])
		}
	}
	var sawUnauth, sawDenied bool
	for _, ev := range lines {
		if ev["errorCode"] == "IncompleteSignatureException" || ev["errorCode"] == "InvalidSignatureException" {
			sawUnauth = true
		}
		if ev["eventName"] == "DescribeKey" && ev["errorCode"] == "AccessDeniedException" {
			sawDenied = true
		}
	}
	if !sawUnauth || !sawDenied {
		t.Errorf("unauthenticated request recorded: %v; denied request recorded: %v", sawUnauth, sawDenied)
	}
	// No secret the workload sent or received is anywhere in the audit dir.
	if found := scanFiles(t, auditDir, secrets); len(found) > 0 {
		t.Errorf("secrets in the audit log: %v", found)
	}

	out, code := runArca(t, nil, "audit", "verify", auditDir)
	if code != 0 || !strings.Contains(out, "OK:") {
		t.Fatalf("arca audit verify: exit %d\n%s", code, out)
	}
	// --from/--to and an explicit key file.
	keyFile := filepath.Join(t.TempDir(), "keys.pem")
	os.WriteFile(keyFile, []byte(rot), 0o600)
	out, code = runArca(t, nil, "audit", "verify", "--public-key", keyFile, "--from", time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "--to", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), auditDir)
	if code != 0 {
		t.Fatalf("arca audit verify --from --to --public-key: exit %d\n%s", code, out)
	}
	// A key that did not sign the checkpoints fails them.
	foreign := filepath.Join(t.TempDir(), "foreign.pem")
	os.WriteFile(foreign, []byte(fileOut), 0o600) // only the pre-rotation key
	out, code = runArca(t, nil, "audit", "verify", "--public-key", foreign, auditDir)
	if code == 0 || !strings.Contains(out, "bad-checkpoint") || !strings.Contains(out, "unknown key") {
		t.Errorf("verify with only the old key: exit %d\n%s", code, out)
	}

	// The offline search finds alice's events.
	out, code = runArca(t, nil, "audit", "search", "--user", "audit-alice", auditDir)
	if code != 0 || strings.Count(out, "\n") < 3 || strings.Count(out, "\n") != strings.Count(out, `"userName":"audit-alice"`) {
		t.Errorf("arca audit search --user: exit %d\n%s", code, out)
	}
	out, code = runArca(t, nil, "audit", "tail", "-n", "2", auditDir)
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"eventName":"ListKeys"`) {
		t.Errorf("arca audit tail -n 2: exit %d\n%s", code, out)
	}

	t.Run("tamper", func(t *testing.T) { testAuditTamper(t, auditDir) })
}

// pemBody is the base64 line of the first Ed25519 key in a PEM text.
func pemBody(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "MCowBQYDK2VwAyEA") {
			return l
		}
	}
	return ""
}

// requestID is the x-amzn-RequestId the SDK saw.
func requestID(md middleware.Metadata) string {
	id, _ := awsmw.GetRequestIDMetadata(md)
	return id
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// testAuditTamper changes a copy of a verified log in each way an attacker
// (or a disk) might, and checks that `arca audit verify` fails and names
// exactly that problem, at the right place.
func testAuditTamper(t *testing.T, dir string) {
	seg := "segment-00000001.jsonl"
	edit := func(t *testing.T, name string, f func(lines []string) []string) string {
		d := copyDir(t, dir)
		b, err := os.ReadFile(filepath.Join(d, name))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		os.WriteFile(filepath.Join(d, name), []byte(strings.Join(f(lines), "")), 0o600)
		return d
	}
	cases := []struct {
		name, file string
		f          func([]string) []string
		want       []string
	}{
		{"modified", seg, func(l []string) []string {
			l[4] = strings.Replace(l[4], `"awsRegion":"us-east-1"`, `"awsRegion":"eu-west-1"`, 1)
			return l
		}, []string{"ERROR modified: " + seg + " line 5 (record 5): the record's content does not match its hash"}},
		{"deleted", seg, func(l []string) []string { return append(l[:4:4], l[5:]...) },
			[]string{"ERROR deleted: " + seg + " line 5 (record 6): 1 record(s) missing before record 6 (expected 5 next)"}},
		{"reordered", seg, func(l []string) []string { l[4], l[5] = l[5], l[4]; return l },
			[]string{"ERROR reordered: " + seg + " line 5 (record 6): record 6 appears before record 5"}},
		{"truncated tail", seg, func(l []string) []string { return l[:len(l)-2] },
			[]string{"ERROR truncated:", "which is not in the log"}},
		{"bad checkpoint signature", "checkpoints.jsonl", func(l []string) []string {
			var cp map[string]any
			json.Unmarshal([]byte(l[0]), &cp)
			sig, _ := base64.StdEncoding.DecodeString(cp["signature"].(string))
			sig[0] ^= 1
			cp["signature"] = sig
			b, _ := json.Marshal(cp)
			l[0] = string(b) + "\n"
			return l
		}, []string{"ERROR bad-checkpoint: checkpoints.jsonl line 1", "the signature is invalid"}},
		{"torn record", seg, func(l []string) []string {
			return append(l, `{"eventVersion":"1.08","userIdentity":{"type":"Ro`)
		}, []string{"ERROR torn: " + seg + " line " + "", "the last line is cut short (no newline): a torn write"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := edit(t, tc.file, tc.f)
			out, code := runArca(t, nil, "audit", "verify", d)
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s", code, out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if n := strings.Count(out, "ERROR "); n != 1 && tc.name != "truncated tail" {
				t.Errorf("%d errors reported, want exactly 1:\n%s", n, out)
			}
		})
	}
}

// TestAuditCrashDuringLoad kills the server (SIGKILL) under concurrent
// Encrypt load, leaves a torn last record as a crash mid-write would, and
// restarts it: every acknowledged request has its event, the torn record is
// cut off and reported as such (a notice), and the chain verifies.
func TestAuditCrashDuringLoad(t *testing.T) {
	s := startServer(t, serverOpts{})
	ctx := bg()
	c := s.client("us-east-1")
	key, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	mustOK(t, err, "CreateKey")
	var mu sync.Mutex
	var acked []string
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: key.KeyMetadata.KeyId, Plaintext: []byte("crash-load")})
				if err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, requestID(out.ResultMetadata))
				mu.Unlock()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	s.kill()
	stop.Store(true)
	wg.Wait()
	if len(acked) < 10 {
		t.Fatalf("only %d requests acknowledged before the kill", len(acked))
	}
	auditDir := filepath.Join(s.dataDir, "audit")
	segs, _ := filepath.Glob(filepath.Join(auditDir, "segment-*.jsonl"))
	f, err := os.OpenFile(segs[len(segs)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"eventVersion":"1.08","userIdentity":{"type":"Root","princ`)
	f.Close()

	s.start()
	_, err = s.client("us-east-1").ListKeys(ctx, &kms.ListKeysInput{})
	mustOK(t, err, "ListKeys after restart")
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	byReq := map[string]int{}
	for _, ev := range auditLines(t, auditDir) {
		if id, _ := ev["requestID"].(string); id != "" && ev["eventType"] == "AwsApiCall" {
			byReq[id]++
		}
	}
	for _, id := range acked {
		if byReq[id] != 1 {
			t.Errorf("acknowledged request %s has %d events, want 1", id, byReq[id])
		}
	}
	out, code := runArca(t, nil, "audit", "verify", auditDir)
	if code != 0 || !strings.Contains(out, "notice torn-recovered:") || !strings.Contains(out, "OK:") {
		t.Errorf("verify after crash: exit %d\n%s", code, out)
	}
	t.Logf("%d requests acknowledged before SIGKILL", len(acked))
}

// TestAuditOff: with --audit=false nothing is recorded and LookupEvents
// answers an empty list.
func TestAuditOff(t *testing.T) {
	s := startServer(t, serverOpts{env: []string{"ARCA_AUDIT=false"}})
	_, err := s.client("us-east-1").ListKeys(bg(), &kms.ListKeysInput{})
	mustOK(t, err, "ListKeys")
	out, err := s.cloudTrailClient(rootAKID, rootSecret).LookupEvents(bg(), &cloudtrail.LookupEventsInput{})
	mustOK(t, err, "LookupEvents")
	if len(out.Events) != 0 {
		t.Errorf("%d events with audit off", len(out.Events))
	}
	if _, err := os.Stat(filepath.Join(s.dataDir, "audit")); !os.IsNotExist(err) {
		t.Errorf("audit dir exists with audit off: %v", err)
	}
}
