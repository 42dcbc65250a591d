// This file drives the KMS key-management operations through the real
// aws-sdk-go-v2 KMS client: CreateKey, DescribeKey, GetKeyPolicy, ListKeys,
// EnableKey/DisableKey, ScheduleKeyDeletion/CancelKeyDeletion,
// UpdateKeyDescription, aliases, tags, regions and --account-id. Expected
// behaviour follows the AWS KMS API Reference
// (https://docs.aws.amazon.com/kms/latest/APIReference/).
package e2e

import (
	"encoding/json"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// uuidRE matches a KMS key ID.
var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// createKey calls CreateKey (in may be nil) and fails the test on error.
func createKey(t *testing.T, c *kms.Client, in *kms.CreateKeyInput) *types.KeyMetadata {
	t.Helper()
	if in == nil {
		in = &kms.CreateKeyInput{}
	}
	out, err := c.CreateKey(bg(), in)
	mustOK(t, err, "CreateKey")
	return out.KeyMetadata
}

// describe calls DescribeKey and fails the test on error.
func describe(t *testing.T, c *kms.Client, keyID string) *types.KeyMetadata {
	t.Helper()
	out, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(keyID)})
	mustOK(t, err, "DescribeKey "+keyID)
	return out.KeyMetadata
}

func TestCreateAndDescribeKey(t *testing.T) {
	t.Parallel()
	const account = "111122223333"
	s := startServer(t, serverOpts{account: account})
	c := s.client("us-east-1")
	policy := `{"Version":"2012-10-17","Statement":[{"Sid":"all","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`
	before := time.Now().Add(-time.Minute)
	m := createKey(t, c, &kms.CreateKeyInput{
		Description: aws.String("e2e key"),
		Policy:      aws.String(policy),
		KeySpec:     types.KeySpecSymmetricDefault,
		KeyUsage:    types.KeyUsageTypeEncryptDecrypt,
		Tags:        []types.Tag{{TagKey: aws.String("team"), TagValue: aws.String("core")}},
	})
	id := aws.ToString(m.KeyId)
	wantARN := "arn:aws:kms:us-east-1:" + account + ":key/" + id

	t.Run("metadata", func(t *testing.T) {
		if !uuidRE.MatchString(id) {
			t.Errorf("KeyId = %q, want a UUID", id)
		}
		if aws.ToString(m.Arn) != wantARN || aws.ToString(m.AWSAccountId) != account {
			t.Errorf("Arn, AWSAccountId = %s, %s; want %s, %s", aws.ToString(m.Arn), aws.ToString(m.AWSAccountId), wantARN, account)
		}
		checks := []struct {
			name      string
			got, want any
		}{
			{"KeySpec", m.KeySpec, types.KeySpecSymmetricDefault},
			// AWS still returns the deprecated field; older clients read it.
			//lint:ignore SA1019 checking the server fills the deprecated field
			{"CustomerMasterKeySpec", m.CustomerMasterKeySpec, types.CustomerMasterKeySpecSymmetricDefault},
			{"KeyUsage", m.KeyUsage, types.KeyUsageTypeEncryptDecrypt},
			{"KeyState", m.KeyState, types.KeyStateEnabled},
			{"Enabled", m.Enabled, true},
			{"Origin", m.Origin, types.OriginTypeAwsKms},
			{"KeyManager", m.KeyManager, types.KeyManagerTypeCustomer},
			{"Description", aws.ToString(m.Description), "e2e key"},
			{"EncryptionAlgorithms", m.EncryptionAlgorithms, []types.EncryptionAlgorithmSpec{types.EncryptionAlgorithmSpecSymmetricDefault}},
			{"MultiRegion", aws.ToBool(m.MultiRegion), false},
			{"DeletionDate", m.DeletionDate, (*time.Time)(nil)},
		}
		for _, ch := range checks {
			if !reflect.DeepEqual(ch.got, ch.want) {
				t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
			}
		}
		if m.CreationDate == nil || m.CreationDate.Before(before) || m.CreationDate.After(time.Now().Add(time.Minute)) {
			t.Errorf("CreationDate = %v, want about now", m.CreationDate)
		}
	})

	t.Run("DescribeKey by every identifier", func(t *testing.T) {
		_, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/e2e"), TargetKeyId: m.KeyId})
		mustOK(t, err, "CreateAlias")
		for _, ref := range []string{id, wantARN, "alias/e2e", "arn:aws:kms:us-east-1:" + account + ":alias/e2e"} {
			d := describe(t, c, ref)
			if aws.ToString(d.KeyId) != id || aws.ToString(d.Arn) != wantARN || aws.ToString(d.Description) != "e2e key" {
				t.Errorf("DescribeKey(%s) = %s %s", ref, aws.ToString(d.KeyId), aws.ToString(d.Arn))
			}
		}
	})

	t.Run("NotFoundException messages", func(t *testing.T) {
		// AWS: "Key 'arn:aws:kms:REGION:ACCOUNT:key/ID' does not exist" and
		// "Alias arn:aws:kms:REGION:ACCOUNT:alias/NAME is not found."
		const missing = "0b1f6f7e-0000-4000-8000-00000000000f"
		_, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(missing)})
		if want := "Key 'arn:aws:kms:us-east-1:" + account + ":key/" + missing + "' does not exist"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing key: %v; want a message containing %q", err, want)
		}
		_, err = c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String("alias/none")})
		if want := "Alias arn:aws:kms:us-east-1:" + account + ":alias/none is not found."; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing alias: %v; want a message containing %q", err, want)
		}
		_, err = c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String("not-a-key-id")})
		wantErr[*types.NotFoundException](t, err, "DescribeKey of a malformed key ID")
		_, err = c.ListAliases(bg(), &kms.ListAliasesInput{KeyId: aws.String(missing)})
		wantErr[*types.NotFoundException](t, err, "ListAliases for a missing key")
	})

	t.Run("DescribeKey of what does not exist", func(t *testing.T) {
		for _, ref := range []string{
			"alias/none",
			"0b1f6f7e-0000-4000-8000-000000000000",
			"arn:aws:kms:us-east-1:" + account + ":key/0b1f6f7e-0000-4000-8000-000000000000",
			"arn:aws:kms:us-east-1:" + account + ":alias/none",
		} {
			_, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(ref)})
			wantErr[*types.NotFoundException](t, err, "DescribeKey "+ref)
		}
	})

	t.Run("GetKeyPolicy returns the given policy", func(t *testing.T) {
		gp, err := c.GetKeyPolicy(bg(), &kms.GetKeyPolicyInput{KeyId: m.KeyId, PolicyName: aws.String("default")})
		mustOK(t, err, "GetKeyPolicy")
		if aws.ToString(gp.Policy) != policy {
			t.Errorf("policy = %s\nwant %s", aws.ToString(gp.Policy), policy)
		}
	})

	t.Run("default key policy", func(t *testing.T) {
		// https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html:
		// a key created through the API without a policy gets one statement
		// that allows the account (its root principal) kms:* on the key.
		def := createKey(t, c, nil)
		gp, err := c.GetKeyPolicy(bg(), &kms.GetKeyPolicyInput{KeyId: def.KeyId})
		mustOK(t, err, "GetKeyPolicy")
		var doc struct {
			Version   string
			Statement []struct {
				Sid       string
				Effect    string
				Principal map[string]any
				Action    any
				Resource  any
			}
		}
		if err := json.Unmarshal([]byte(aws.ToString(gp.Policy)), &doc); err != nil {
			t.Fatalf("default policy is not JSON: %v\n%s", err, aws.ToString(gp.Policy))
		}
		if doc.Version != "2012-10-17" || len(doc.Statement) != 1 {
			t.Fatalf("default policy = %s", aws.ToString(gp.Policy))
		}
		st := doc.Statement[0]
		if st.Sid != "Enable IAM User Permissions" || st.Effect != "Allow" || st.Action != "kms:*" || st.Resource != "*" ||
			st.Principal["AWS"] != "arn:aws:iam::"+account+":root" {
			t.Errorf("default policy statement = %+v", st)
		}
	})

	t.Run("CreateKey bad input", func(t *testing.T) {
		lk, err := c.ListKeys(bg(), &kms.ListKeysInput{})
		mustOK(t, err, "ListKeys")
		// "MalformedPolicyDocumentException: The request was rejected
		// because the specified policy is not syntactically or semantically
		// correct."
		_, err = c.CreateKey(bg(), &kms.CreateKeyInput{Policy: aws.String("this is not a policy")})
		wantErr[*types.MalformedPolicyDocumentException](t, err, "CreateKey with a policy that is not JSON")
		// TagKey "cannot begin with aws:".
		_, err = c.CreateKey(bg(), &kms.CreateKeyInput{Tags: []types.Tag{{TagKey: aws.String("aws:reserved"), TagValue: aws.String("x")}}})
		wantErr[*types.TagException](t, err, "CreateKey with an aws: tag")
		// Description: "Maximum length of 8192".
		_, err = c.CreateKey(bg(), &kms.CreateKeyInput{Description: aws.String(strings.Repeat("d", 8193))})
		wantCode(t, err, "ValidationException", "CreateKey with a description of 8193 characters")
		_, err = c.CreateKey(bg(), &kms.CreateKeyInput{KeySpec: types.KeySpecSymmetricDefault, KeyUsage: types.KeyUsageTypeSignVerify})
		wantCode(t, err, "ValidationException", "CreateKey SYMMETRIC_DEFAULT for SIGN_VERIFY")
		after, err := c.ListKeys(bg(), &kms.ListKeysInput{})
		if err != nil || len(after.Keys) != len(lk.Keys) {
			t.Errorf("rejected CreateKey calls created keys: %d -> %d (%v)", len(lk.Keys), len(after.Keys), err)
		}
	})

	t.Run("UpdateKeyDescription", func(t *testing.T) {
		_, err := c.UpdateKeyDescription(bg(), &kms.UpdateKeyDescriptionInput{KeyId: m.Arn, Description: aws.String("renamed")})
		mustOK(t, err, "UpdateKeyDescription")
		if d := describe(t, c, id); aws.ToString(d.Description) != "renamed" {
			t.Errorf("Description = %q, want renamed", aws.ToString(d.Description))
		}
	})

	t.Run("tags given to CreateKey", func(t *testing.T) {
		lt, err := c.ListResourceTags(bg(), &kms.ListResourceTagsInput{KeyId: m.KeyId})
		mustOK(t, err, "ListResourceTags")
		if got := tagMap(lt.Tags); !reflect.DeepEqual(got, map[string]string{"team": "core"}) {
			t.Errorf("tags = %v", got)
		}
	})
}

func TestKeyLifecycle(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	other := createKey(t, c, nil)
	state := func(id *string) types.KeyState { return describe(t, c, aws.ToString(id)).KeyState }

	t.Run("DisableKey and EnableKey", func(t *testing.T) {
		for range 2 { // both are idempotent
			_, err := c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: m.KeyId})
			mustOK(t, err, "DisableKey")
		}
		d := describe(t, c, aws.ToString(m.KeyId))
		if d.KeyState != types.KeyStateDisabled || d.Enabled {
			t.Errorf("after DisableKey: state %s enabled %v", d.KeyState, d.Enabled)
		}
		for range 2 {
			_, err := c.EnableKey(bg(), &kms.EnableKeyInput{KeyId: m.Arn})
			mustOK(t, err, "EnableKey")
		}
		d = describe(t, c, aws.ToString(m.KeyId))
		if d.KeyState != types.KeyStateEnabled || !d.Enabled {
			t.Errorf("after EnableKey: state %s enabled %v", d.KeyState, d.Enabled)
		}
	})

	t.Run("ScheduleKeyDeletion window out of range", func(t *testing.T) {
		// PendingWindowInDays: "it must be between 7 and 30, inclusive".
		for _, w := range []int32{0, 6, 31, 365} {
			_, err := c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: other.KeyId, PendingWindowInDays: aws.Int32(w)})
			wantCode(t, err, "ValidationException", "PendingWindowInDays "+strconv.Itoa(int(w)))
		}
		if st := state(other.KeyId); st != types.KeyStateEnabled {
			t.Errorf("state after rejected schedules = %s", st)
		}
	})

	t.Run("ScheduleKeyDeletion and CancelKeyDeletion", func(t *testing.T) {
		_, err := c.CancelKeyDeletion(bg(), &kms.CancelKeyDeletionInput{KeyId: m.KeyId})
		wantErr[*types.KMSInvalidStateException](t, err, "CancelKeyDeletion of an enabled key")

		sd, err := c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: aws.Int32(7)})
		mustOK(t, err, "ScheduleKeyDeletion")
		// The response's KeyId is the key ARN.
		if sd.KeyState != types.KeyStatePendingDeletion || aws.ToInt32(sd.PendingWindowInDays) != 7 || aws.ToString(sd.KeyId) != aws.ToString(m.Arn) {
			t.Errorf("ScheduleKeyDeletion = KeyId %s state %s window %d", aws.ToString(sd.KeyId), sd.KeyState, aws.ToInt32(sd.PendingWindowInDays))
		}
		if sd.DeletionDate == nil || time.Until(*sd.DeletionDate) < 7*24*time.Hour-time.Minute || time.Until(*sd.DeletionDate) > 8*24*time.Hour {
			t.Errorf("DeletionDate = %v, want in 7 days", sd.DeletionDate)
		}
		d := describe(t, c, aws.ToString(m.KeyId))
		if d.KeyState != types.KeyStatePendingDeletion || d.Enabled || d.DeletionDate == nil || !d.DeletionDate.Equal(*sd.DeletionDate) {
			t.Errorf("DescribeKey while pending deletion: state %s enabled %v DeletionDate %v", d.KeyState, d.Enabled, d.DeletionDate)
		}
		lk, err := c.ListKeys(bg(), &kms.ListKeysInput{})
		if err != nil || len(lk.Keys) != 2 {
			t.Errorf("ListKeys while a key is pending deletion: %d keys, %v; want 2", len(lk.Keys), err)
		}

		_, err = c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: m.KeyId})
		wantErr[*types.KMSInvalidStateException](t, err, "ScheduleKeyDeletion twice")
		_, err = c.EnableKey(bg(), &kms.EnableKeyInput{KeyId: m.KeyId})
		wantErr[*types.KMSInvalidStateException](t, err, "EnableKey while pending deletion")
		_, err = c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: m.KeyId})
		wantErr[*types.KMSInvalidStateException](t, err, "DisableKey while pending deletion")
		if st := state(m.KeyId); st != types.KeyStatePendingDeletion {
			t.Errorf("state after rejected calls = %s", st)
		}

		cd, err := c.CancelKeyDeletion(bg(), &kms.CancelKeyDeletionInput{KeyId: m.KeyId})
		mustOK(t, err, "CancelKeyDeletion")
		if aws.ToString(cd.KeyId) != aws.ToString(m.Arn) {
			t.Errorf("CancelKeyDeletion KeyId = %s, want the key ARN", aws.ToString(cd.KeyId))
		}
		// "the KMS key is in the Disabled state" after cancellation.
		d = describe(t, c, aws.ToString(m.KeyId))
		if d.KeyState != types.KeyStateDisabled || d.Enabled || d.DeletionDate != nil {
			t.Errorf("after CancelKeyDeletion: state %s enabled %v DeletionDate %v", d.KeyState, d.Enabled, d.DeletionDate)
		}
	})

	t.Run("ScheduleKeyDeletion default window is 30 days", func(t *testing.T) {
		sd, err := c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: other.Arn})
		mustOK(t, err, "ScheduleKeyDeletion")
		if aws.ToInt32(sd.PendingWindowInDays) != 30 || sd.DeletionDate == nil || time.Until(*sd.DeletionDate) < 30*24*time.Hour-time.Minute {
			t.Errorf("default window: %d days, DeletionDate %v", aws.ToInt32(sd.PendingWindowInDays), sd.DeletionDate)
		}
	})

	t.Run("operations on a missing key", func(t *testing.T) {
		missing := aws.String("0b1f6f7e-0000-4000-8000-000000000001")
		_, err := c.EnableKey(bg(), &kms.EnableKeyInput{KeyId: missing})
		wantErr[*types.NotFoundException](t, err, "EnableKey")
		_, err = c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: missing})
		wantErr[*types.NotFoundException](t, err, "DisableKey")
		_, err = c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: missing})
		wantErr[*types.NotFoundException](t, err, "ScheduleKeyDeletion")
		_, err = c.UpdateKeyDescription(bg(), &kms.UpdateKeyDescriptionInput{KeyId: missing, Description: aws.String("x")})
		wantErr[*types.NotFoundException](t, err, "UpdateKeyDescription")
		_, err = c.GetKeyPolicy(bg(), &kms.GetKeyPolicyInput{KeyId: missing})
		wantErr[*types.NotFoundException](t, err, "GetKeyPolicy")
	})
}

func TestListKeysPagination(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	want := map[string]string{} // key ID -> ARN
	for range 7 {
		m := createKey(t, c, nil)
		want[aws.ToString(m.KeyId)] = aws.ToString(m.Arn)
	}

	t.Run("SDK paginator", func(t *testing.T) {
		got := map[string]string{}
		pages := 0
		p := kms.NewListKeysPaginator(c, &kms.ListKeysInput{Limit: aws.Int32(3)})
		for p.HasMorePages() {
			out, err := p.NextPage(bg())
			mustOK(t, err, "ListKeys page")
			pages++
			if len(out.Keys) > 3 {
				t.Errorf("page %d has %d keys, Limit 3", pages, len(out.Keys))
			}
			for _, k := range out.Keys {
				if _, dup := got[aws.ToString(k.KeyId)]; dup {
					t.Errorf("key %s listed twice", aws.ToString(k.KeyId))
				}
				got[aws.ToString(k.KeyId)] = aws.ToString(k.KeyArn)
			}
		}
		if !reflect.DeepEqual(got, want) || pages != 3 {
			t.Errorf("listed %d keys in %d pages, want 7 in 3; got %v", len(got), pages, got)
		}
	})

	t.Run("Limit and Marker by hand", func(t *testing.T) {
		first, err := c.ListKeys(bg(), &kms.ListKeysInput{Limit: aws.Int32(5)})
		mustOK(t, err, "ListKeys")
		if len(first.Keys) != 5 || !first.Truncated || aws.ToString(first.NextMarker) == "" {
			t.Fatalf("first page: %d keys, Truncated %v, NextMarker %q", len(first.Keys), first.Truncated, aws.ToString(first.NextMarker))
		}
		rest, err := c.ListKeys(bg(), &kms.ListKeysInput{Limit: aws.Int32(5), Marker: first.NextMarker})
		mustOK(t, err, "ListKeys with Marker")
		if len(rest.Keys) != 2 || rest.Truncated || rest.NextMarker != nil {
			t.Errorf("last page: %d keys, Truncated %v, NextMarker %q", len(rest.Keys), rest.Truncated, aws.ToString(rest.NextMarker))
		}
		all, err := c.ListKeys(bg(), &kms.ListKeysInput{})
		if err != nil || len(all.Keys) != 7 || all.Truncated {
			t.Errorf("ListKeys without Limit: %d keys, Truncated %v, %v", len(all.Keys), all.Truncated, err)
		}
	})

	t.Run("bad Limit and Marker", func(t *testing.T) {
		_, err := c.ListKeys(bg(), &kms.ListKeysInput{Marker: aws.String("not-a-marker")})
		wantErr[*types.InvalidMarkerException](t, err, "ListKeys bad Marker")
		for _, l := range []int32{0, 1001} {
			_, err := c.ListKeys(bg(), &kms.ListKeysInput{Limit: aws.Int32(l)})
			wantCode(t, err, "ValidationException", "ListKeys Limit "+strconv.Itoa(int(l)))
		}
	})
}

func TestAliases(t *testing.T) {
	t.Parallel()
	const account = "444455556666"
	s := startServer(t, serverOpts{account: account})
	c := s.client("us-east-1")
	a, b := createKey(t, c, nil), createKey(t, c, nil)
	mustOK(t, err2(c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: a.KeyId})), "CreateAlias")
	mustOK(t, err2(c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/app-by-arn"), TargetKeyId: a.Arn})), "CreateAlias by key ARN")

	t.Run("ListAliases entries", func(t *testing.T) {
		la, err := c.ListAliases(bg(), &kms.ListAliasesInput{KeyId: a.KeyId})
		mustOK(t, err, "ListAliases")
		var names []string
		for _, al := range la.Aliases {
			names = append(names, aws.ToString(al.AliasName))
			if aws.ToString(al.AliasArn) != "arn:aws:kms:us-east-1:"+account+":"+aws.ToString(al.AliasName) {
				t.Errorf("AliasArn = %s", aws.ToString(al.AliasArn))
			}
			// TargetKeyId is the key ID, not its ARN.
			if aws.ToString(al.TargetKeyId) != aws.ToString(a.KeyId) {
				t.Errorf("TargetKeyId = %s, want %s", aws.ToString(al.TargetKeyId), aws.ToString(a.KeyId))
			}
			if al.CreationDate == nil {
				t.Errorf("alias %s has no CreationDate", aws.ToString(al.AliasName))
			}
		}
		sort.Strings(names)
		if !reflect.DeepEqual(names, []string{"alias/app", "alias/app-by-arn"}) {
			t.Errorf("ListAliases(KeyId=a) = %v", names)
		}
		la, err = c.ListAliases(bg(), &kms.ListAliasesInput{KeyId: b.Arn})
		if err != nil || len(la.Aliases) != 0 {
			t.Errorf("ListAliases(KeyId=b ARN) = %d aliases, %v; want 0", len(la.Aliases), err)
		}
	})

	t.Run("CreateAlias errors", func(t *testing.T) {
		_, err := c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: b.KeyId})
		wantErr[*types.AlreadyExistsException](t, err, "duplicate alias")
		_, err = c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/new"), TargetKeyId: aws.String("0b1f6f7e-0000-4000-8000-000000000002")})
		wantErr[*types.NotFoundException](t, err, "alias for a missing key")
		_, err = c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/has space"), TargetKeyId: b.KeyId})
		wantCode(t, err, "ValidationException", "alias name outside ^[a-zA-Z0-9:/_-]+$")
		// "The alias/aws/ prefix is reserved for AWS managed keys" (developer
		// guide, alias-create). The API Reference does not name the error;
		// AWS answers NotAuthorizedException, the brief asked for
		// InvalidAliasNameException: accept either.
		_, err = c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/aws/mine"), TargetKeyId: b.KeyId})
		if code := apiCode(err); code != "NotAuthorizedException" && code != "InvalidAliasNameException" {
			t.Errorf("reserved alias/aws/ prefix: got %v; want NotAuthorizedException or InvalidAliasNameException", err)
		} else {
			checkClientError(t, err, "reserved alias")
		}
		_, err = c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("noprefix"), TargetKeyId: b.KeyId})
		if code := apiCode(err); code != "ValidationException" && code != "InvalidAliasNameException" {
			t.Errorf("alias without alias/ prefix: got %v; want ValidationException or InvalidAliasNameException", err)
		}
		la, _ := c.ListAliases(bg(), &kms.ListAliasesInput{})
		if n := countCustomerAliases(la); n != 2 {
			t.Errorf("%d aliases after rejected CreateAlias calls, want 2", n)
		}
	})

	t.Run("UpdateAlias", func(t *testing.T) {
		mustOK(t, err2(c.UpdateAlias(bg(), &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: b.KeyId})), "UpdateAlias")
		if d := describe(t, c, "alias/app"); aws.ToString(d.KeyId) != aws.ToString(b.KeyId) {
			t.Errorf("alias/app -> %s after UpdateAlias, want %s", aws.ToString(d.KeyId), aws.ToString(b.KeyId))
		}
		la, err := c.ListAliases(bg(), &kms.ListAliasesInput{KeyId: b.KeyId})
		if err != nil || len(la.Aliases) != 1 || aws.ToString(la.Aliases[0].AliasName) != "alias/app" {
			t.Errorf("ListAliases(b) after UpdateAlias: %+v, %v", la, err)
		}
		_, err = c.UpdateAlias(bg(), &kms.UpdateAliasInput{AliasName: aws.String("alias/none"), TargetKeyId: b.KeyId})
		wantErr[*types.NotFoundException](t, err, "UpdateAlias of a missing alias")
		_, err = c.UpdateAlias(bg(), &kms.UpdateAliasInput{AliasName: aws.String("alias/app"), TargetKeyId: aws.String("0b1f6f7e-0000-4000-8000-000000000003")})
		wantErr[*types.NotFoundException](t, err, "UpdateAlias to a missing key")
	})

	t.Run("DeleteAlias", func(t *testing.T) {
		mustOK(t, err2(c.DeleteAlias(bg(), &kms.DeleteAliasInput{AliasName: aws.String("alias/app")})), "DeleteAlias")
		_, err := c.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String("alias/app")})
		wantErr[*types.NotFoundException](t, err, "DescribeKey of a deleted alias")
		_, err = c.DeleteAlias(bg(), &kms.DeleteAliasInput{AliasName: aws.String("alias/app")})
		wantErr[*types.NotFoundException](t, err, "DeleteAlias twice")
		// Deleting an alias does not affect its key.
		if d := describe(t, c, aws.ToString(b.KeyId)); d.KeyState != types.KeyStateEnabled {
			t.Errorf("key state after DeleteAlias = %s", d.KeyState)
		}
	})

	t.Run("ListAliases pagination", func(t *testing.T) {
		for _, n := range []string{"p1", "p2", "p3", "p4", "p5"} {
			mustOK(t, err2(c.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/page/" + n), TargetKeyId: b.KeyId})), "CreateAlias")
		}
		var names []string
		pages := 0
		p := kms.NewListAliasesPaginator(c, &kms.ListAliasesInput{Limit: aws.Int32(2)})
		for p.HasMorePages() {
			out, err := p.NextPage(bg())
			mustOK(t, err, "ListAliases page")
			pages++
			if len(out.Aliases) > 2 {
				t.Errorf("page of %d aliases, Limit 2", len(out.Aliases))
			}
			for _, al := range out.Aliases {
				if n := aws.ToString(al.AliasName); !strings.HasPrefix(n, "alias/aws/") {
					names = append(names, n)
				}
			}
		}
		sort.Strings(names)
		want := []string{"alias/app-by-arn", "alias/page/p1", "alias/page/p2", "alias/page/p3", "alias/page/p4", "alias/page/p5"}
		if !reflect.DeepEqual(names, want) || pages < 3 {
			t.Errorf("ListAliases in %d pages = %v, want %v", pages, names, want)
		}
		_, err := c.ListAliases(bg(), &kms.ListAliasesInput{Marker: aws.String("garbage")})
		wantErr[*types.InvalidMarkerException](t, err, "ListAliases bad Marker")
	})
}

// countCustomerAliases counts the aliases in la that are not AWS managed.
func countCustomerAliases(la *kms.ListAliasesOutput) int {
	n := 0
	if la != nil {
		for _, a := range la.Aliases {
			if !strings.HasPrefix(aws.ToString(a.AliasName), "alias/aws/") {
				n++
			}
		}
	}
	return n
}

func TestTags(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	k := createKey(t, c, nil)
	list := func() map[string]string {
		t.Helper()
		lt, err := c.ListResourceTags(bg(), &kms.ListResourceTagsInput{KeyId: k.KeyId})
		mustOK(t, err, "ListResourceTags")
		return tagMap(lt.Tags)
	}
	tag := func(k, v string) types.Tag { return types.Tag{TagKey: aws.String(k), TagValue: aws.String(v)} }

	if got := list(); len(got) != 0 {
		t.Errorf("new key has tags %v", got)
	}
	mustOK(t, err2(c.TagResource(bg(), &kms.TagResourceInput{KeyId: k.KeyId, Tags: []types.Tag{tag("b", "2"), tag("a", "1"), tag("empty", "")}})), "TagResource")
	if got := list(); !reflect.DeepEqual(got, map[string]string{"a": "1", "b": "2", "empty": ""}) {
		t.Errorf("tags = %v", got)
	}
	// TagResource with an existing key replaces its value.
	mustOK(t, err2(c.TagResource(bg(), &kms.TagResourceInput{KeyId: k.Arn, Tags: []types.Tag{tag("a", "one")}})), "TagResource overwrite")
	mustOK(t, err2(c.UntagResource(bg(), &kms.UntagResourceInput{KeyId: k.KeyId, TagKeys: []string{"b", "not-there"}})), "UntagResource")
	if got := list(); !reflect.DeepEqual(got, map[string]string{"a": "one", "empty": ""}) {
		t.Errorf("tags after overwrite and untag = %v", got)
	}

	// "The tag key (TagKey) cannot begin with aws:" -> TagException.
	_, err := c.TagResource(bg(), &kms.TagResourceInput{KeyId: k.KeyId, Tags: []types.Tag{tag("aws:x", "v")}})
	wantErr[*types.TagException](t, err, "aws: tag key")
	_, err = c.TagResource(bg(), &kms.TagResourceInput{KeyId: aws.String("0b1f6f7e-0000-4000-8000-000000000004"), Tags: []types.Tag{tag("a", "b")}})
	wantErr[*types.NotFoundException](t, err, "TagResource of a missing key")
	_, err = c.ListResourceTags(bg(), &kms.ListResourceTagsInput{KeyId: aws.String("alias/none")})
	if err == nil {
		t.Errorf("ListResourceTags with an alias name succeeded; it takes a key ID or ARN only")
	}
	if got := list(); !reflect.DeepEqual(got, map[string]string{"a": "one", "empty": ""}) {
		t.Errorf("tags after rejected calls = %v", got)
	}
}

// tagMap turns tags into a map.
func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, t := range tags {
		m[aws.ToString(t.TagKey)] = aws.ToString(t.TagValue)
	}
	return m
}

func TestRegionsAreSeparate(t *testing.T) {
	t.Parallel()
	const account = "777788889999"
	s := startServer(t, serverOpts{regions: "us-east-1,eu-west-1", account: account})
	east, west := s.client("us-east-1"), s.client("eu-west-1")
	m := createKey(t, east, nil)
	if !strings.HasPrefix(aws.ToString(m.Arn), "arn:aws:kms:us-east-1:"+account+":key/") {
		t.Errorf("us-east-1 key ARN = %s", aws.ToString(m.Arn))
	}
	_, err := east.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/east"), TargetKeyId: m.KeyId})
	mustOK(t, err, "CreateAlias")

	for _, ref := range []string{aws.ToString(m.KeyId), aws.ToString(m.Arn), "alias/east"} {
		_, err := west.DescribeKey(bg(), &kms.DescribeKeyInput{KeyId: aws.String(ref)})
		wantErr[*types.NotFoundException](t, err, "eu-west-1 DescribeKey "+ref)
	}
	enc, err := east.Encrypt(bg(), &kms.EncryptInput{KeyId: m.KeyId, Plaintext: []byte("regional")})
	mustOK(t, err, "Encrypt")
	// The API Reference does not say what Decrypt answers for a ciphertext
	// of another Region's key: accept InvalidCiphertextException or
	// NotFoundException, as long as it is a 4xx.
	_, err = west.Decrypt(bg(), &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob})
	if code := apiCode(err); code != "InvalidCiphertextException" && code != "NotFoundException" {
		t.Errorf("eu-west-1 Decrypt of a us-east-1 ciphertext: %v; want InvalidCiphertextException or NotFoundException", err)
	} else {
		checkClientError(t, err, "cross-region Decrypt")
	}
	// Aliases are per Region: the same name may exist in both.
	wm := createKey(t, west, nil)
	if !strings.HasPrefix(aws.ToString(wm.Arn), "arn:aws:kms:eu-west-1:"+account+":key/") {
		t.Errorf("eu-west-1 key ARN = %s", aws.ToString(wm.Arn))
	}
	_, err = west.CreateAlias(bg(), &kms.CreateAliasInput{AliasName: aws.String("alias/east"), TargetKeyId: wm.KeyId})
	mustOK(t, err, "CreateAlias of the same name in eu-west-1")
	if d := describe(t, west, "alias/east"); aws.ToString(d.KeyId) != aws.ToString(wm.KeyId) {
		t.Errorf("eu-west-1 alias/east -> %s", aws.ToString(d.KeyId))
	}
	for region, c := range map[string]*kms.Client{"us-east-1": east, "eu-west-1": west} {
		lk, err := c.ListKeys(bg(), &kms.ListKeysInput{})
		if err != nil || len(lk.Keys) != 1 {
			t.Errorf("%s ListKeys: %d keys, %v; want 1", region, len(lk.Keys), err)
		}
	}
	// A Region the server does not serve.
	_, err = s.client("ap-south-1").ListKeys(bg(), &kms.ListKeysInput{})
	if err == nil {
		t.Errorf("ListKeys signed for a region the server does not serve succeeded")
	} else {
		checkClientError(t, err, "unserved region")
	}
}

// err2 drops the first of two results.
func err2[T any](_ T, err error) error { return err }
