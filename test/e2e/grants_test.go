// This file covers KMS grants end to end with the real SDK. IAM users cannot
// be created over the API yet, so a grantee using its grant is proven by the
// unit tests of kms.grantAllows; here the account root manages grants.
package e2e

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func TestGrants(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	account := aws.ToString(m.AWSAccountId)
	grantee := "arn:aws:iam::" + account + ":role/app"
	retiring := "arn:aws:iam::" + account + ":user/ops"

	in := &kms.CreateGrantInput{
		KeyId: m.KeyId, GranteePrincipal: aws.String(grantee), RetiringPrincipal: aws.String(retiring),
		Operations:  []types.GrantOperation{types.GrantOperationDecrypt, types.GrantOperationGenerateDataKey, types.GrantOperationRetireGrant},
		Constraints: &types.GrantConstraints{EncryptionContextSubset: map[string]string{"dept": "it"}},
		Name:        aws.String("app-decrypt"),
	}
	g1, err := c.CreateGrant(bg(), in)
	mustOK(t, err, "CreateGrant")
	if len(aws.ToString(g1.GrantId)) != 64 || aws.ToString(g1.GrantToken) == "" {
		t.Fatalf("CreateGrant = %+v", g1)
	}
	// The same Name and parameters: the same grant, a new token.
	g2, err := c.CreateGrant(bg(), in)
	mustOK(t, err, "CreateGrant again")
	if aws.ToString(g2.GrantId) != aws.ToString(g1.GrantId) || aws.ToString(g2.GrantToken) == aws.ToString(g1.GrantToken) {
		t.Errorf("idempotent CreateGrant = %+v, first %+v", g2, g1)
	}
	other, err := c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: m.Arn, GranteePrincipal: aws.String(grantee),
		Operations: []types.GrantOperation{types.GrantOperationEncrypt}, GrantTokens: []string{aws.ToString(g1.GrantToken)}})
	mustOK(t, err, "CreateGrant with a grant token")

	lg, err := c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId})
	mustOK(t, err, "ListGrants")
	if len(lg.Grants) != 2 || lg.Truncated {
		t.Fatalf("ListGrants = %+v", lg)
	}
	var named types.GrantListEntry
	for _, g := range lg.Grants {
		if aws.ToString(g.GrantId) == aws.ToString(g1.GrantId) {
			named = g
		}
	}
	if aws.ToString(named.KeyId) != aws.ToString(m.Arn) || aws.ToString(named.Name) != "app-decrypt" ||
		aws.ToString(named.GranteePrincipal) != grantee || aws.ToString(named.RetiringPrincipal) != retiring ||
		aws.ToString(named.IssuingAccount) != "arn:aws:iam::"+account+":root" || named.CreationDate == nil ||
		time.Since(*named.CreationDate) > time.Hour || len(named.Operations) != 3 || named.Constraints == nil ||
		!maps.Equal(named.Constraints.EncryptionContextSubset, map[string]string{"dept": "it"}) {
		t.Errorf("ListGrants entry = %+v", named)
	}
	page, err := c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId, Limit: aws.Int32(1)})
	mustOK(t, err, "ListGrants page 1")
	if !page.Truncated || page.NextMarker == nil || len(page.Grants) != 1 {
		t.Fatalf("first page = %+v", page)
	}
	page2, err := c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId, Limit: aws.Int32(1), Marker: page.NextMarker})
	mustOK(t, err, "ListGrants page 2")
	if page2.Truncated || len(page2.Grants) != 1 || aws.ToString(page2.Grants[0].GrantId) == aws.ToString(page.Grants[0].GrantId) {
		t.Errorf("second page = %+v", page2)
	}
	byID, err := c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId, GrantId: other.GrantId})
	mustOK(t, err, "ListGrants by GrantId")
	if len(byID.Grants) != 1 || aws.ToString(byID.Grants[0].GrantId) != aws.ToString(other.GrantId) {
		t.Errorf("ListGrants by GrantId = %+v", byID)
	}

	rg, err := c.ListRetirableGrants(bg(), &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String(retiring)})
	mustOK(t, err, "ListRetirableGrants")
	if len(rg.Grants) != 1 || aws.ToString(rg.Grants[0].GrantId) != aws.ToString(g1.GrantId) {
		t.Errorf("ListRetirableGrants = %+v", rg)
	}

	_, err = c.RetireGrant(bg(), &kms.RetireGrantInput{GrantToken: g2.GrantToken, DryRun: aws.Bool(true)})
	wantErr[*types.DryRunOperationException](t, err, "RetireGrant DryRun")
	_, err = c.RetireGrant(bg(), &kms.RetireGrantInput{GrantToken: g2.GrantToken})
	mustOK(t, err, "RetireGrant by token")
	_, err = c.RetireGrant(bg(), &kms.RetireGrantInput{GrantToken: g1.GrantToken})
	wantErr[*types.NotFoundException](t, err, "RetireGrant of a retired grant")
	_, err = c.RevokeGrant(bg(), &kms.RevokeGrantInput{KeyId: m.KeyId, GrantId: other.GrantId, DryRun: aws.Bool(true)})
	wantErr[*types.DryRunOperationException](t, err, "RevokeGrant DryRun")
	_, err = c.RevokeGrant(bg(), &kms.RevokeGrantInput{KeyId: m.KeyId, GrantId: other.GrantId})
	mustOK(t, err, "RevokeGrant")
	_, err = c.RevokeGrant(bg(), &kms.RevokeGrantInput{KeyId: m.KeyId, GrantId: other.GrantId})
	wantErr[*types.NotFoundException](t, err, "RevokeGrant of a revoked grant")
	if lg, err := c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId}); err != nil || len(lg.Grants) != 0 {
		t.Errorf("ListGrants after retire and revoke = %+v, %v", lg, err)
	}

	// Retire by KeyId and GrantId.
	g3, err := c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: m.KeyId, GranteePrincipal: aws.String(grantee), Operations: []types.GrantOperation{types.GrantOperationDescribeKey}})
	mustOK(t, err, "CreateGrant")
	_, err = c.RetireGrant(bg(), &kms.RetireGrantInput{KeyId: m.Arn, GrantId: g3.GrantId})
	mustOK(t, err, "RetireGrant by id")
}

func TestGrantErrors(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	grantee := aws.String("arn:aws:iam::" + aws.ToString(m.AWSAccountId) + ":user/alice")
	decrypt := []types.GrantOperation{types.GrantOperationDecrypt}

	_, err := c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: aws.String("1234abcd-12ab-34cd-56ef-1234567890ab"), GranteePrincipal: grantee, Operations: decrypt})
	wantErr[*types.NotFoundException](t, err, "CreateGrant on an unknown key")
	_, err = c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: m.KeyId, GranteePrincipal: grantee, Operations: []types.GrantOperation{types.GrantOperationSign}})
	wantCode(t, err, "ValidationException", "CreateGrant of Sign on a symmetric key")
	_, err = c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: m.KeyId, GranteePrincipal: grantee, Operations: []types.GrantOperation{types.GrantOperationCreateGrant}})
	wantCode(t, err, "ValidationException", "CreateGrant of only CreateGrant")
	_, err = c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: m.KeyId, GranteePrincipal: grantee, Operations: decrypt, Name: aws.String("bad name")})
	wantCode(t, err, "ValidationException", "CreateGrant with a bad Name")
	_, err = c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: m.KeyId, GranteePrincipal: grantee, Operations: decrypt, GrantTokens: []string{"forged"}})
	wantErr[*types.InvalidGrantTokenException](t, err, "CreateGrant with a malformed grant token")
	_, err = c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: m.KeyId, GranteePrincipal: grantee, Operations: decrypt, DryRun: aws.Bool(true)})
	wantErr[*types.DryRunOperationException](t, err, "CreateGrant DryRun")

	_, err = c.RetireGrant(bg(), &kms.RetireGrantInput{GrantToken: aws.String("forged")})
	wantErr[*types.InvalidGrantTokenException](t, err, "RetireGrant with a malformed token")
	_, err = c.RetireGrant(bg(), &kms.RetireGrantInput{})
	wantCode(t, err, "ValidationException", "RetireGrant without a grant")
	_, err = c.RevokeGrant(bg(), &kms.RevokeGrantInput{KeyId: m.KeyId, GrantId: aws.String("not-a-grant")})
	wantErr[*types.InvalidGrantIdException](t, err, "RevokeGrant with a malformed ID")
	_, err = c.RevokeGrant(bg(), &kms.RevokeGrantInput{KeyId: m.KeyId, GrantId: aws.String(strings.Repeat("0", 64))})
	wantErr[*types.NotFoundException](t, err, "RevokeGrant of an unknown grant")
	_, err = c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId, Marker: aws.String("junk")})
	wantErr[*types.InvalidMarkerException](t, err, "ListGrants with a bad marker")
	_, err = c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId, Limit: aws.Int32(101)})
	wantCode(t, err, "ValidationException", "ListGrants Limit 101")
	_, err = c.ListRetirableGrants(bg(), &kms.ListRetirableGrantsInput{RetiringPrincipal: aws.String("bad principal")})
	wantCode(t, err, "ValidationException", "ListRetirableGrants with a bad principal")

	// A disabled key takes no new grants, but its grants can be listed.
	_, err = c.DisableKey(bg(), &kms.DisableKeyInput{KeyId: m.KeyId})
	mustOK(t, err, "DisableKey")
	_, err = c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: m.KeyId, GranteePrincipal: grantee, Operations: decrypt})
	wantErr[*types.DisabledException](t, err, "CreateGrant on a disabled key")
	_, err = c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId})
	mustOK(t, err, "ListGrants on a disabled key")
}

// TestGrantsGoneWithKey: when the scheduler deletes a key, its grants go too.
func TestGrantsGoneWithKey(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	c := s.client("us-east-1")
	m := createKey(t, c, nil)
	account := aws.ToString(m.AWSAccountId)
	retiring := aws.String("arn:aws:iam::" + account + ":user/ops")
	g, err := c.CreateGrant(bg(), &kms.CreateGrantInput{KeyId: m.KeyId, GranteePrincipal: aws.String("arn:aws:iam::" + account + ":user/alice"),
		RetiringPrincipal: retiring, Operations: []types.GrantOperation{types.GrantOperationEncrypt}})
	mustOK(t, err, "CreateGrant")
	_, err = c.ScheduleKeyDeletion(bg(), &kms.ScheduleKeyDeletionInput{KeyId: m.KeyId, PendingWindowInDays: aws.Int32(7)})
	mustOK(t, err, "ScheduleKeyDeletion")
	lg, err := c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId})
	if err != nil || len(lg.Grants) != 1 {
		t.Fatalf("ListGrants while pending deletion = %+v, %v", lg, err)
	}
	advanceClock(t, s, 7*24*time.Hour+time.Minute)
	_, err = c.ListGrants(bg(), &kms.ListGrantsInput{KeyId: m.KeyId})
	wantErr[*types.NotFoundException](t, err, "ListGrants of a deleted key")
	rg, err := c.ListRetirableGrants(bg(), &kms.ListRetirableGrantsInput{RetiringPrincipal: retiring})
	mustOK(t, err, "ListRetirableGrants")
	if len(rg.Grants) != 0 {
		t.Errorf("grants of a deleted key still retirable: %+v", rg.Grants)
	}
	_, err = c.RetireGrant(bg(), &kms.RetireGrantInput{GrantToken: g.GrantToken})
	wantErr[*types.NotFoundException](t, err, "RetireGrant of a deleted key's grant")
}
