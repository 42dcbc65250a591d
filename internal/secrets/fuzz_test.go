package secrets

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/arca-kms/arca/internal/svcerr"
)

// FuzzOperations decodes arbitrary JSON into each operation's input, as the
// transport does, and runs it against a service holding a few secrets. No
// input may panic, produce an internal error, or see a secret value (they
// all contain "SEKRET") in an error message.
func FuzzOperations(f *testing.F) {
	seeds := []struct {
		op   uint8
		body string
	}{
		{0, `{"Name":"a/b","SecretString":"SEKRET-1","Tags":[{"Key":"k","Value":"v"}]}`},
		{0, `{"Name":"x","SecretBinary":"U0VLUkVU","ClientRequestToken":"00000000-0000-4000-8000-000000000000"}`},
		{1, `{"SecretId":"fixed","VersionStage":"AWSPREVIOUS"}`},
		{1, `{"SecretId":"arn:aws:secretsmanager:us-east-1:111122223333:secret:fixed"}`},
		{2, `{"SecretId":"fixed","SecretString":"SEKRET-2","VersionStages":["A","B"]}`},
		{3, `{"SecretId":"fixed","VersionStage":"AWSCURRENT","MoveToVersionId":"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}`},
		{4, `{"Filters":[{"Key":"name","Values":["!fi"]}],"MaxResults":1,"NextToken":"arca:1"}`},
		{5, `{"SecretId":"fixed","RecoveryWindowInDays":7}`},
		{6, `{"PasswordLength":5,"ExcludeCharacters":"abc","RequireEachIncludedType":true}`},
		{7, `{"SecretId":"fixed","ResourcePolicy":"{\"Version\":\"2012-10-17\",\"Statement\":[]}"}`},
		{8, `{"SecretId":"fixed","RotationLambdaARN":"arn:aws:lambda:us-east-1:111122223333:function:fake","RotationRules":{"ScheduleExpression":"cron(0 4 ? * MON *)","Duration":"3h"},"RotateImmediately":false}`},
		{9, `{"SecretIdList":["fixed","nope"]}`},
		{10, `{"SecretId":"fixed","KmsKeyId":"k2","Description":"d"}`},
		{11, `{"SecretId":"fixed","AddReplicaRegions":[{"Region":"eu-west-1"}]}`},
	}
	for _, s := range seeds {
		f.Add(s.op, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		fx := newFixture(t)
		if _, err := fx.s.CreateSecret(fx.ctx, fx.c, &CreateSecretInput{Name: "fixed", SecretString: ptr("SEKRET-fixed")}); err != nil {
			t.Fatal(err)
		}
		var err error
		call := func(in any, run func() error) {
			if json.Unmarshal(body, in) != nil {
				return
			}
			err = run()
		}
		switch op % 12 {
		case 0:
			in := &CreateSecretInput{}
			call(in, func() error { _, e := fx.s.CreateSecret(fx.ctx, fx.c, in); return e })
		case 1:
			in := &GetSecretValueInput{}
			call(in, func() error { _, e := fx.s.GetSecretValue(fx.ctx, fx.c, in); return e })
		case 2:
			in := &PutSecretValueInput{}
			call(in, func() error { _, e := fx.s.PutSecretValue(fx.ctx, fx.c, in); return e })
		case 3:
			in := &UpdateSecretVersionStageInput{}
			call(in, func() error { _, e := fx.s.UpdateSecretVersionStage(fx.ctx, fx.c, in); return e })
		case 4:
			in := &ListSecretsInput{}
			call(in, func() error { _, e := fx.s.ListSecrets(fx.ctx, fx.c, in); return e })
		case 5:
			in := &DeleteSecretInput{}
			call(in, func() error { _, e := fx.s.DeleteSecret(fx.ctx, fx.c, in); return e })
		case 6:
			in := &GetRandomPasswordInput{}
			call(in, func() error {
				if in.PasswordLength != nil && *in.PasswordLength > 64 {
					return nil // the range check is tested; huge passwords only slow the fuzzer
				}
				_, e := fx.s.GetRandomPassword(fx.ctx, fx.c, in)
				return e
			})
		case 7:
			in := &PutResourcePolicyInput{}
			call(in, func() error { _, e := fx.s.PutResourcePolicy(fx.ctx, fx.c, in); return e })
		case 8:
			in := &RotateSecretInput{}
			call(in, func() error { _, e := fx.s.RotateSecret(fx.ctx, fx.c, in); fx.s.background.Wait(); return e })
		case 9:
			in := &BatchGetSecretValueInput{}
			call(in, func() error { _, e := fx.s.BatchGetSecretValue(fx.ctx, fx.c, in); return e })
		case 10:
			in := &UpdateSecretInput{}
			call(in, func() error { _, e := fx.s.UpdateSecret(fx.ctx, fx.c, in); return e })
		case 11:
			in := &ReplicateSecretToRegionsInput{}
			call(in, func() error { _, e := fx.s.ReplicateSecretToRegions(fx.ctx, fx.c, in); return e })
		}
		if err == nil {
			return
		}
		e := svcerr.As(err)
		if e == nil || e.Code == svcerr.InternalServiceError || e.Code == svcerr.Internal {
			t.Fatalf("op %d: error %v is not a client error", op%12, err)
		}
		if strings.Contains(e.Msg, "SEKRET") {
			t.Fatalf("op %d: a secret value in the message: %q", op%12, e.Msg)
		}
	})
}
