package kms

import (
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage/memory"
	"github.com/arca-kms/arca/internal/svcerr"
)

const (
	walkGrantee  = "arn:aws:iam::" + acct + ":user/walker"
	aliceARN     = "arn:aws:iam::" + acct + ":user/alice"
	bobARN       = "arn:aws:iam::" + acct + ":user/bob"
	roleARN      = "arn:aws:iam::" + acct + ":role/app"
	otherUserARN = "arn:aws:iam::" + otherAcct + ":user/alice"
)

func userByARN(arn string) *auth.Caller {
	account := strings.Split(arn, ":")[4]
	return &auth.Caller{Principal: auth.Principal{Type: auth.IAMUser, Account: account, ARN: arn}, Region: "us-east-1"}
}

func grantRoleSession(session string) *auth.Caller {
	return &auth.Caller{Principal: auth.Principal{
		Type: auth.AssumedRole, Account: acct, ARN: "arn:aws:sts::" + acct + ":assumed-role/app/" + session,
		SourceARN: roleARN, SessionName: session, Temporary: true,
	}, Region: "us-east-1"}
}

func strp(s string) *string { return &s }

// grant creates a Decrypt grant for walkGrantee on id.
func (f *fixture) grant(t *testing.T, id string) *CreateGrantOutput {
	t.Helper()
	return f.grantWith(t, CreateGrantInput{KeyID: id, GranteePrincipal: walkGrantee, Operations: []string{"Decrypt"}})
}

func (f *fixture) grantWith(t *testing.T, in CreateGrantInput) *CreateGrantOutput {
	t.Helper()
	out, err := f.s.CreateGrant(f.ctx, f.c, &in)
	if err != nil {
		t.Fatalf("CreateGrant(%+v): %v", in, err)
	}
	return out
}

func (f *fixture) key(t *testing.T, id string) *keystore.Key {
	t.Helper()
	k, err := f.s.ks.Get(f.ctx, acct, f.c.Region, id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (f *fixture) grantIDs(t *testing.T, keyID string) []string {
	t.Helper()
	out, err := f.s.ListGrants(f.ctx, f.c, &ListGrantsInput{KeyID: keyID, Limit: i32(100)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, g := range out.Grants {
		ids = append(ids, g.GrantID)
	}
	return ids
}

func wantErr(t *testing.T, err error, code svcerr.Code, msgPart string) {
	t.Helper()
	e := svcerr.As(err)
	if e == nil || e.Code != code || !strings.Contains(e.Msg, msgPart) {
		t.Errorf("error = %v, want %s containing %q", err, code, msgPart)
	}
}

func TestCreateGrantValidation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sym := f.createKey(t)
	rsa, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: "RSA_2048", KeyUsage: "ENCRYPT_DECRYPT"})
	if err != nil {
		t.Fatal(err)
	}
	hmacKey, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: "HMAC_256", KeyUsage: UsageMac})
	if err != nil {
		t.Fatal(err)
	}
	alias := "alias/grant-target"
	if _, err := f.s.CreateAlias(f.ctx, f.c, &AliasInput{AliasName: alias, TargetKeyID: sym.KeyID}); err != nil {
		t.Fatal(err)
	}
	nine := map[string]string{}
	for i := range 9 {
		nine[fmt.Sprint("k", i)] = "v"
	}
	ok := CreateGrantInput{KeyID: sym.KeyID, GranteePrincipal: aliceARN, Operations: []string{"Decrypt"}}
	with := func(mod func(in *CreateGrantInput)) CreateGrantInput {
		in := ok
		mod(&in)
		return in
	}
	tests := []struct {
		name string
		in   CreateGrantInput
		code svcerr.Code
		msg  string
	}{
		{"no key", with(func(in *CreateGrantInput) { in.KeyID = "" }), svcerr.Validation, "Value null at 'keyId'"},
		{"no grantee", with(func(in *CreateGrantInput) { in.GranteePrincipal = "" }), svcerr.Validation, "Value null at 'granteePrincipal'"},
		{"grantee pattern", with(func(in *CreateGrantInput) { in.GranteePrincipal = "arn:aws:iam::1:user/a b" }), svcerr.Validation, `regular expression pattern: ^[\w+=,.@:/-]+$`},
		{"grantee too long", with(func(in *CreateGrantInput) { in.GranteePrincipal = strings.Repeat("a", 257) }), svcerr.Validation, "less than or equal to 256"},
		{"retiring empty", with(func(in *CreateGrantInput) { in.RetiringPrincipal = strp("") }), svcerr.Validation, "greater than or equal to 1"},
		{"retiring pattern", with(func(in *CreateGrantInput) { in.RetiringPrincipal = strp("a*b") }), svcerr.Validation, "'retiringPrincipal'"},
		{"no operations", with(func(in *CreateGrantInput) { in.Operations = nil }), svcerr.Validation, "Value null at 'operations'"},
		{"empty operations", with(func(in *CreateGrantInput) { in.Operations = []string{} }), svcerr.Validation, "greater than or equal to 1"},
		{"unknown operation", with(func(in *CreateGrantInput) { in.Operations = []string{"Decrypt", "Shred"} }), svcerr.Validation, "Value '[Decrypt, Shred]' at 'operations'"},
		{"only CreateGrant", with(func(in *CreateGrantInput) { in.Operations = []string{"CreateGrant", "CreateGrant"} }), svcerr.Validation, grantOnlyCreateGrantMsg},
		{"empty name", with(func(in *CreateGrantInput) { in.Name = strp("") }), svcerr.Validation, "'name' failed to satisfy constraint: Member must have length greater than or equal to 1"},
		{"long name", with(func(in *CreateGrantInput) { in.Name = strp(strings.Repeat("n", 257)) }), svcerr.Validation, "less than or equal to 256"},
		{"name pattern", with(func(in *CreateGrantInput) { in.Name = strp("a.b") }), svcerr.Validation, "^[a-zA-Z0-9:/_-]+$"},
		{"eleven tokens", with(func(in *CreateGrantInput) { in.GrantTokens = make([]string, 11) }), svcerr.Validation, "'grantTokens'"},
		{"malformed token", with(func(in *CreateGrantInput) { in.GrantTokens = []string{"not-a-token"} }), svcerr.InvalidGrantToken, "Invalid grant token."},
		{"nine constraint pairs", with(func(in *CreateGrantInput) { in.Constraints = &GrantConstraints{EncryptionContextSubset: nine} }), svcerr.Validation, "at most 8"},
		{"long constraint value", with(func(in *CreateGrantInput) {
			in.Constraints = &GrantConstraints{EncryptionContextEquals: map[string]string{"k": strings.Repeat("v", 385)}}
		}), svcerr.Validation, "384"},
		{"Sign on a symmetric key", with(func(in *CreateGrantInput) { in.Operations = []string{"Decrypt", "Sign", "GetPublicKey"} }), svcerr.Validation, "[GetPublicKey, Sign]"},
		{"GenerateDataKey on an RSA key", with(func(in *CreateGrantInput) {
			in.KeyID = rsa.KeyMetadata.KeyID
			in.Operations = []string{"GenerateDataKey"}
		}), svcerr.Validation, "[GenerateDataKey]"},
		{"Encrypt on an HMAC key", with(func(in *CreateGrantInput) { in.KeyID = hmacKey.KeyMetadata.KeyID; in.Operations = []string{"Encrypt"} }), svcerr.Validation, "[Encrypt]"},
		{"constraint on an RSA key", with(func(in *CreateGrantInput) {
			in.KeyID = rsa.KeyMetadata.KeyID
			in.Constraints = &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}}
		}), svcerr.Validation, "symmetric encryption"},
		{"unknown key", with(func(in *CreateGrantInput) { in.KeyID = "1234abcd-12ab-34cd-56ef-1234567890ab" }), svcerr.NotFound, "does not exist"},
		{"alias", with(func(in *CreateGrantInput) { in.KeyID = alias }), svcerr.NotFound, "Invalid keyId"},
		{"dry run", with(func(in *CreateGrantInput) { in.DryRun = true }), svcerr.DryRunOperation, "DryRun"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.s.CreateGrant(f.ctx, f.c, &tc.in)
			wantErr(t, err, tc.code, tc.msg)
		})
	}
	for _, id := range []string{sym.KeyID, rsa.KeyMetadata.KeyID, hmacKey.KeyMetadata.KeyID} {
		if ids := f.grantIDs(t, id); len(ids) != 0 {
			t.Errorf("refused CreateGrant calls left grants on %s: %v", id, ids)
		}
	}

	// What each key type may grant, per AWS.
	valid := []struct {
		keyID string
		ops   []string
	}{
		{sym.KeyID, []string{"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
			"GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "CreateGrant", "DescribeKey", "RetireGrant"}},
		{rsa.KeyMetadata.KeyID, []string{"Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey", "CreateGrant", "DescribeKey", "RetireGrant"}},
		{hmacKey.KeyMetadata.KeyID, []string{"GenerateMac", "VerifyMac", "DescribeKey"}},
	}
	for _, v := range valid {
		f.grantWith(t, CreateGrantInput{KeyID: v.keyID, GranteePrincipal: aliceARN, Operations: v.ops})
	}
	sign, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: "ECC_NIST_P256", KeyUsage: UsageSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	f.grantWith(t, CreateGrantInput{KeyID: sign.KeyMetadata.Arn, GranteePrincipal: aliceARN, Operations: []string{"Sign", "Verify", "GetPublicKey"}})
	_, err = f.s.CreateGrant(f.ctx, f.c, &CreateGrantInput{KeyID: sign.KeyMetadata.KeyID, GranteePrincipal: aliceARN, Operations: []string{"Decrypt"}})
	wantCode(t, err, svcerr.Validation)
}

func TestCreateGrantIdempotentName(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	in := CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: aliceARN, RetiringPrincipal: strp(bobARN),
		Operations: []string{"Encrypt", "Decrypt"}, Name: strp("app-grant"),
		Constraints: &GrantConstraints{EncryptionContextSubset: map[string]string{"dept": "it"}}}
	first := f.grantWith(t, in)
	retry := in
	retry.Operations = []string{"Decrypt", "Encrypt", "Decrypt"} // same set, other order
	second := f.grantWith(t, retry)
	if second.GrantID != first.GrantID || second.GrantToken == first.GrantToken {
		t.Errorf("retry with the same Name: id %s token new=%v; want the same id and a new token", second.GrantID, second.GrantToken != first.GrantToken)
	}
	changed := []func(in *CreateGrantInput){
		func(in *CreateGrantInput) { in.GranteePrincipal = bobARN },
		func(in *CreateGrantInput) { in.RetiringPrincipal = nil },
		func(in *CreateGrantInput) { in.Operations = []string{"Decrypt"} },
		func(in *CreateGrantInput) { in.Constraints = nil },
		func(in *CreateGrantInput) {
			in.Constraints = &GrantConstraints{EncryptionContextEquals: map[string]string{"dept": "it"}}
		},
		func(in *CreateGrantInput) { in.Name = strp("other") },
		func(in *CreateGrantInput) { in.Name = nil },
	}
	seen := map[string]bool{first.GrantID: true}
	for i, mod := range changed {
		c := in
		mod(&c)
		out := f.grantWith(t, c)
		if seen[out.GrantID] {
			t.Errorf("change %d returned an existing grant %s", i, out.GrantID)
		}
		seen[out.GrantID] = true
	}
	if got := f.grantIDs(t, m.KeyID); len(got) != len(seen) {
		t.Errorf("%d grants, want %d", len(got), len(seen))
	}
	// Without a Name, identical requests make distinct grants.
	plain := CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: aliceARN, Operations: []string{"Decrypt"}}
	if a, b := f.grantWith(t, plain), f.grantWith(t, plain); a.GrantID == b.GrantID {
		t.Error("two unnamed grants share an ID")
	}
	// Every token of the grant works: the first one retires it.
	if _, err := f.s.RetireGrant(f.ctx, f.c, &RetireGrantInput{GrantToken: first.GrantToken}); err != nil {
		t.Fatal(err)
	}
	_, err := f.s.RetireGrant(f.ctx, f.c, &RetireGrantInput{GrantToken: second.GrantToken})
	wantCode(t, err, svcerr.NotFound)
}

func TestGrantIDAndToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	a, b := f.grant(t, m.KeyID), f.grant(t, m.KeyID)
	for _, g := range []*CreateGrantOutput{a, b} {
		if !isGrantID(g.GrantID) {
			t.Errorf("GrantId %q is not 64 hex digits", g.GrantID)
		}
		if len(g.GrantToken) > maxGrantTokenLen || len(g.GrantToken) == 0 {
			t.Errorf("token length %d", len(g.GrantToken))
		}
	}
	if a.GrantID == b.GrantID {
		t.Error("two grants share an ID")
	}
	// A token names its own grant only: swapping in b's MAC fails.
	ra, _ := base64.RawURLEncoding.DecodeString(a.GrantToken)
	rb, _ := base64.RawURLEncoding.DecodeString(b.GrantToken)
	mixed := slices.Concat(ra[:len(ra)-32], rb[len(rb)-32:])
	_, err := f.s.RetireGrant(f.ctx, f.c, &RetireGrantInput{GrantToken: base64.RawURLEncoding.EncodeToString(mixed)})
	wantCode(t, err, svcerr.InvalidGrantToken)
	// a's header with b's grant ID and a's MAC: the MAC covers the ID.
	idAt := len(ra) - 32 - 16 - 32
	forged := slices.Clone(ra)
	copy(forged[idAt:idAt+32], rb[idAt:idAt+32])
	_, err = f.s.RetireGrant(f.ctx, f.c, &RetireGrantInput{GrantToken: base64.RawURLEncoding.EncodeToString(forged)})
	wantCode(t, err, svcerr.InvalidGrantToken)
	if ids := f.grantIDs(t, m.KeyID); len(ids) != 2 {
		t.Errorf("forged tokens retired grants: %v left", ids)
	}
	// No single-byte change to a token verifies for its grant.
	set, err := f.s.ks.Grants(f.ctx, acct, f.c.Region, m.KeyID)
	if err != nil {
		t.Fatal(err)
	}
	ga := set.Get(a.GrantID)
	if pt, ok := parseGrantToken(a.GrantToken); !ok || !pt.verify(ga) {
		t.Fatal("the minted token does not verify")
	}
	for i := range ra {
		mut := slices.Clone(ra)
		mut[i] ^= 0x01
		if pt, ok := parseGrantToken(base64.RawURLEncoding.EncodeToString(mut)); ok && pt.verify(ga) {
			t.Errorf("token with byte %d changed verifies", i)
		}
	}
}

func TestListGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	other := f.createKey(t)
	f.grant(t, other.KeyID)
	var ids []string
	for i := range 5 {
		grantee := aliceARN
		if i%2 == 1 {
			grantee = bobARN
		}
		in := CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: grantee, Operations: []string{"Encrypt", "Decrypt"}}
		if i == 0 {
			in.Name, in.RetiringPrincipal = strp("first"), strp(bobARN)
			in.Constraints = &GrantConstraints{EncryptionContextEquals: map[string]string{"a": "b"}}
		}
		ids = append(ids, f.grantWith(t, in).GrantID)
	}
	slices.Sort(ids)

	var got []string
	marker := ""
	for pages := 0; ; pages++ {
		out, err := f.s.ListGrants(f.ctx, f.c, &ListGrantsInput{KeyID: m.Arn, Limit: i32(2), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range out.Grants {
			got = append(got, g.GrantID)
		}
		if !out.Truncated {
			if out.NextMarker != "" {
				t.Error("NextMarker on the last page")
			}
			break
		}
		marker = out.NextMarker
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
	}
	if !slices.Equal(got, ids) {
		t.Errorf("paged grants %v, want %v", got, ids)
	}

	out, err := f.s.ListGrants(f.ctx, f.c, &ListGrantsInput{KeyID: m.KeyID, GranteePrincipal: bobARN})
	if err != nil || len(out.Grants) != 2 {
		t.Errorf("GranteePrincipal filter: %d grants, %v", len(out.Grants), err)
	}
	var first GrantListEntry
	for _, g := range f.mustList(t, m.KeyID).Grants {
		if g.Name == "first" {
			first = g
		}
	}
	one, err := f.s.ListGrants(f.ctx, f.c, &ListGrantsInput{KeyID: m.KeyID, GrantID: first.GrantID})
	if err != nil || len(one.Grants) != 1 {
		t.Fatalf("GrantId filter: %+v, %v", one, err)
	}
	e := one.Grants[0]
	if e.KeyID != m.Arn || e.IssuingAccount != "arn:aws:iam::"+acct+":root" || e.GranteePrincipal != aliceARN ||
		e.RetiringPrincipal != bobARN || !slices.Equal(e.Operations, []string{"Decrypt", "Encrypt"}) ||
		e.Constraints == nil || !maps.Equal(e.Constraints.EncryptionContextEquals, map[string]string{"a": "b"}) ||
		e.Constraints.EncryptionContextSubset != nil || e.CreationDate == nil || !e.CreationDate.Time.Equal(f.now) {
		t.Errorf("entry = %+v", e)
	}
	none, err := f.s.ListGrants(f.ctx, f.c, &ListGrantsInput{KeyID: m.KeyID, GrantID: strings.Repeat("0", 64)})
	if err != nil || len(none.Grants) != 0 || none.Grants == nil {
		t.Errorf("unknown GrantId filter: %+v, %v", none, err)
	}

	errs := []struct {
		in   ListGrantsInput
		code svcerr.Code
	}{
		{ListGrantsInput{}, svcerr.Validation},
		{ListGrantsInput{KeyID: m.KeyID, Limit: i32(0)}, svcerr.Validation},
		{ListGrantsInput{KeyID: m.KeyID, Limit: i32(101)}, svcerr.Validation},
		{ListGrantsInput{KeyID: m.KeyID, Marker: "junk"}, svcerr.InvalidMarker},
		{ListGrantsInput{KeyID: m.KeyID, GrantID: "xyz"}, svcerr.InvalidGrantID},
		{ListGrantsInput{KeyID: m.KeyID, GrantID: strings.Repeat("a", 129)}, svcerr.Validation},
		{ListGrantsInput{KeyID: m.KeyID, GranteePrincipal: "bad principal"}, svcerr.Validation},
		{ListGrantsInput{KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab"}, svcerr.NotFound},
	}
	for _, tc := range errs {
		_, err := f.s.ListGrants(f.ctx, f.c, &tc.in)
		wantCode(t, err, tc.code)
	}
	_, err = f.s.ListGrants(f.ctx, userByARN(aliceARN), &ListGrantsInput{KeyID: m.KeyID})
	wantCode(t, err, svcerr.AccessDenied)
}

func (f *fixture) mustList(t *testing.T, keyID string) *ListGrantsOutput {
	t.Helper()
	out, err := f.s.ListGrants(f.ctx, f.c, &ListGrantsInput{KeyID: keyID, Limit: i32(100)})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestListRetirableGrants(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var want []string
	for range 3 {
		m := f.createKey(t)
		for range 2 {
			want = append(want, f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: aliceARN, RetiringPrincipal: strp(bobARN), Operations: []string{"Decrypt"}}).GrantID)
		}
		f.grant(t, m.KeyID) // no retiring principal
	}
	var got []string
	marker := ""
	for {
		out, err := f.s.ListRetirableGrants(f.ctx, f.c, &ListRetirableGrantsInput{RetiringPrincipal: bobARN, Limit: i32(4), Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range out.Grants {
			if g.RetiringPrincipal != bobARN {
				t.Errorf("listed %+v", g)
			}
			got = append(got, g.GrantID)
		}
		if !out.Truncated {
			break
		}
		marker = out.NextMarker
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("retirable grants %v, want %v", got, want)
	}
	out, err := f.s.ListRetirableGrants(f.ctx, f.c, &ListRetirableGrantsInput{RetiringPrincipal: aliceARN})
	if err != nil || len(out.Grants) != 0 {
		t.Errorf("grants retirable by alice: %+v, %v", out, err)
	}
	// Another region sees none of them.
	west := root("eu-west-1")
	if out, err := f.s.ListRetirableGrants(f.ctx, west, &ListRetirableGrantsInput{RetiringPrincipal: bobARN}); err != nil || len(out.Grants) != 0 {
		t.Errorf("eu-west-1 lists %d grants, %v", len(out.Grants), err)
	}
	_, err = f.s.ListRetirableGrants(f.ctx, f.c, &ListRetirableGrantsInput{})
	wantErr(t, err, svcerr.Validation, "Value null at 'retiringPrincipal'")
	_, err = f.s.ListRetirableGrants(f.ctx, f.c, &ListRetirableGrantsInput{RetiringPrincipal: bobARN, Marker: "junk"})
	wantCode(t, err, svcerr.InvalidMarker)
	_, err = f.s.ListRetirableGrants(f.ctx, f.c, &ListRetirableGrantsInput{RetiringPrincipal: otherUserARN})
	wantCode(t, err, svcerr.AccessDenied)
}

func TestRetireGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	mk := func(ops ...string) *CreateGrantOutput {
		return f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: aliceARN, RetiringPrincipal: strp(bobARN), Operations: ops})
	}
	exists := func(id string) bool { return slices.Contains(f.grantIDs(t, m.KeyID), id) }

	t.Run("by token", func(t *testing.T) {
		g := mk("Decrypt")
		if _, err := f.s.RetireGrant(f.ctx, userByARN(bobARN), &RetireGrantInput{GrantToken: g.GrantToken}); err != nil || exists(g.GrantID) {
			t.Errorf("retire by token: %v, still there %v", err, exists(g.GrantID))
		}
		_, err := f.s.RetireGrant(f.ctx, userByARN(bobARN), &RetireGrantInput{GrantToken: g.GrantToken})
		wantErr(t, err, svcerr.NotFound, g.GrantID)
	})
	t.Run("by key and id", func(t *testing.T) {
		g := mk("Decrypt")
		if _, err := f.s.RetireGrant(f.ctx, userByARN(bobARN), &RetireGrantInput{KeyID: m.Arn, GrantID: g.GrantID}); err != nil || exists(g.GrantID) {
			t.Errorf("retire by id: %v", err)
		}
	})
	t.Run("who may retire", func(t *testing.T) {
		plain, retirable := mk("Decrypt"), mk("Decrypt", "RetireGrant")
		cases := []struct {
			who  *auth.Caller
			g    *CreateGrantOutput
			code svcerr.Code
		}{
			{userByARN(aliceARN), plain, svcerr.AccessDenied},     // grantee without RetireGrant
			{userByARN(otherUserARN), plain, svcerr.AccessDenied}, // stranger in another account
			{grantRoleSession("s1"), plain, svcerr.AccessDenied},  // unrelated role
			{userByARN(aliceARN), retirable, ""},                  // grantee with RetireGrant
			{userByARN(bobARN), plain, ""},                        // retiring principal
			{root("us-east-1"), mk("Decrypt"), ""},                // the key's account, through its policy
			{userByARN(otherUserARN), mk("Decrypt"), svcerr.AccessDenied},
		}
		for i, tc := range cases {
			_, err := f.s.RetireGrant(f.ctx, tc.who, &RetireGrantInput{KeyID: m.Arn, GrantID: tc.g.GrantID})
			if tc.code == "" {
				if err != nil || exists(tc.g.GrantID) {
					t.Errorf("case %d (%s): %v", i, tc.who.ARN, err)
				}
				continue
			}
			wantCode(t, err, tc.code)
			if !exists(tc.g.GrantID) {
				t.Errorf("case %d: refused retirement removed the grant", i)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		g := mk("Decrypt")
		other := f.createKey(t)
		cases := []struct {
			in   RetireGrantInput
			code svcerr.Code
		}{
			{RetireGrantInput{}, svcerr.Validation},
			{RetireGrantInput{KeyID: m.KeyID}, svcerr.Validation},
			{RetireGrantInput{GrantID: g.GrantID}, svcerr.Validation},
			{RetireGrantInput{GrantToken: "garbage!"}, svcerr.InvalidGrantToken},
			{RetireGrantInput{GrantToken: base64.RawURLEncoding.EncodeToString([]byte{1, 2, 3})}, svcerr.InvalidGrantToken},
			{RetireGrantInput{GrantToken: strings.Repeat("A", 8193)}, svcerr.Validation},
			{RetireGrantInput{KeyID: m.KeyID, GrantID: "nope"}, svcerr.InvalidGrantID},
			{RetireGrantInput{KeyID: m.KeyID, GrantID: strings.Repeat("f", 64)}, svcerr.NotFound},
			{RetireGrantInput{KeyID: other.KeyID, GrantID: g.GrantID}, svcerr.NotFound},
			{RetireGrantInput{GrantToken: g.GrantToken, KeyID: other.KeyID}, svcerr.InvalidGrantID},
			{RetireGrantInput{GrantToken: g.GrantToken, GrantID: strings.Repeat("f", 64)}, svcerr.InvalidGrantID},
			{RetireGrantInput{KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab", GrantID: g.GrantID}, svcerr.NotFound},
			{RetireGrantInput{GrantToken: g.GrantToken, DryRun: true}, svcerr.DryRunOperation},
		}
		for i, tc := range cases {
			_, err := f.s.RetireGrant(f.ctx, userByARN(bobARN), &tc.in)
			if svcerr.CodeOf(err) != tc.code {
				t.Errorf("case %d %+v: %v, want %s", i, tc.in, err, tc.code)
			}
		}
		if !exists(g.GrantID) {
			t.Error("failed retirements removed the grant")
		}
		// A token is valid only in its key's region.
		_, err := f.s.RetireGrant(f.ctx, &auth.Caller{Principal: userByARN(bobARN).Principal, Region: "eu-west-1"}, &RetireGrantInput{GrantToken: g.GrantToken})
		wantCode(t, err, svcerr.InvalidGrantToken)
	})
}

func TestRevokeGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	g := f.grant(t, m.KeyID)
	cases := []struct {
		who  *auth.Caller
		in   RevokeGrantInput
		code svcerr.Code
	}{
		{f.c, RevokeGrantInput{GrantID: g.GrantID}, svcerr.Validation},
		{f.c, RevokeGrantInput{KeyID: m.KeyID}, svcerr.Validation},
		{f.c, RevokeGrantInput{KeyID: m.KeyID, GrantID: "bad"}, svcerr.InvalidGrantID},
		{f.c, RevokeGrantInput{KeyID: m.KeyID, GrantID: strings.Repeat("0", 64)}, svcerr.NotFound},
		{f.c, RevokeGrantInput{KeyID: "alias/x", GrantID: g.GrantID}, svcerr.NotFound},
		// The grantee and even the retiring principal need kms:RevokeGrant.
		{userByARN(walkGrantee), RevokeGrantInput{KeyID: m.KeyID, GrantID: g.GrantID}, svcerr.AccessDenied},
		{f.c, RevokeGrantInput{KeyID: m.KeyID, GrantID: g.GrantID, DryRun: true}, svcerr.DryRunOperation},
	}
	for i, tc := range cases {
		_, err := f.s.RevokeGrant(f.ctx, tc.who, &tc.in)
		if svcerr.CodeOf(err) != tc.code {
			t.Errorf("case %d: %v, want %s", i, err, tc.code)
		}
	}
	if _, err := f.s.RevokeGrant(f.ctx, f.c, &RevokeGrantInput{KeyID: m.Arn, GrantID: g.GrantID}); err != nil {
		t.Fatal(err)
	}
	if ids := f.grantIDs(t, m.KeyID); len(ids) != 0 {
		t.Errorf("grants after revoke: %v", ids)
	}
	_, err := f.s.RevokeGrant(f.ctx, f.c, &RevokeGrantInput{KeyID: m.KeyID, GrantID: g.GrantID})
	wantCode(t, err, svcerr.NotFound)
}

func TestGrantQuota(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.s.grantQuota = 3
	m := f.createKey(t)
	named := CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: aliceARN, Operations: []string{"Decrypt"}, Name: strp("n")}
	first := f.grantWith(t, named)
	f.grant(t, m.KeyID)
	f.grant(t, m.KeyID)
	_, err := f.s.CreateGrant(f.ctx, f.c, &CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: aliceARN, Operations: []string{"Decrypt"}})
	wantErr(t, err, svcerr.LimitExceeded, "quota of 3 grants per KMS key")
	// An idempotent retry at the quota still answers with the existing grant.
	if again := f.grantWith(t, named); again.GrantID != first.GrantID {
		t.Errorf("retry at the quota: %s, want %s", again.GrantID, first.GrantID)
	}
	// The quota is per key.
	f.grant(t, f.createKey(t).KeyID)
	// Retiring one makes room.
	if _, err := f.s.RetireGrant(f.ctx, f.c, &RetireGrantInput{GrantToken: first.GrantToken}); err != nil {
		t.Fatal(err)
	}
	f.grant(t, m.KeyID)
}

func TestConstraintsMatch(t *testing.T) {
	t.Parallel()
	ab := map[string]string{"a": "1", "b": "2"}
	cases := []struct {
		name           string
		subset, equals map[string]string
		ec             map[string]string
		want           bool
	}{
		{"none", nil, nil, nil, true},
		{"subset, same", ab, nil, ab, true},
		{"subset, more in request", ab, nil, map[string]string{"a": "1", "b": "2", "c": "3"}, true},
		{"subset, pair missing", ab, nil, map[string]string{"a": "1"}, false},
		{"subset, no context", ab, nil, nil, false},
		{"subset, value differs", ab, nil, map[string]string{"a": "1", "b": "3"}, false},
		{"subset, value case differs", map[string]string{"a": "x"}, nil, map[string]string{"a": "X"}, false},
		{"subset, key case differs", map[string]string{"Dept": "IT"}, nil, map[string]string{"dept": "IT"}, true},
		{"subset, key case differs, value case too", map[string]string{"Dept": "IT"}, nil, map[string]string{"dept": "it"}, false},
		{"subset empty", map[string]string{}, nil, nil, true},
		{"equals, same", nil, ab, map[string]string{"b": "2", "a": "1"}, true},
		{"equals, extra pair", nil, ab, map[string]string{"a": "1", "b": "2", "c": "3"}, false},
		{"equals, missing pair", nil, ab, map[string]string{"a": "1"}, false},
		{"equals, no context", nil, ab, nil, false},
		{"equals, value differs", nil, ab, map[string]string{"a": "1", "b": "x"}, false},
		{"equals, key case differs", nil, map[string]string{"Dept": "IT"}, map[string]string{"DEPT": "IT"}, true},
		{"equals, same size other key", nil, map[string]string{"a": "1"}, map[string]string{"z": "1"}, false},
		{"equals empty, no context", nil, map[string]string{}, nil, true},
		{"equals empty, a context", nil, map[string]string{}, map[string]string{"a": "1"}, false},
		{"both, satisfied", map[string]string{"a": "1"}, ab, ab, true},
		{"both, equals fails", map[string]string{"a": "1"}, ab, map[string]string{"a": "1"}, false},
	}
	for _, tc := range cases {
		g := &keystore.Grant{Subset: tc.subset, Equals: tc.equals}
		if got := constraintsMatch(g, tc.ec); got != tc.want {
			t.Errorf("%s: constraintsMatch = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestGrantAllows(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	bare := f.createKey(t)
	rsaOut, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{KeySpec: "RSA_2048", KeyUsage: UsageSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := rsaOut.KeyMetadata
	alice := f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: aliceARN, Operations: []string{"Encrypt", "Decrypt", "GenerateDataKeyPair", "ReEncryptFrom", "DescribeKey"},
		Constraints: &GrantConstraints{EncryptionContextSubset: map[string]string{"Dept": "IT"}}})
	f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: roleARN, Operations: []string{"Decrypt", "GenerateDataKey"},
		Constraints: &GrantConstraints{EncryptionContextEquals: map[string]string{"app": "x"}}})
	f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: otherUserARN, Operations: []string{"ReEncryptTo"}})
	f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: "arn:aws:iam::" + otherAcct + ":root", Operations: []string{"Encrypt"}})
	f.grantWith(t, CreateGrantInput{KeyID: rsaKey.KeyID, GranteePrincipal: bobARN, Operations: []string{"Sign", "GetPublicKey"}})

	it := map[string]string{"Dept": "IT", "x": "y"}
	cases := []struct {
		name   string
		c      *auth.Caller
		key    string
		action string
		ec     map[string]string
		want   bool
	}{
		{"user, constraint met", userByARN(aliceARN), m.KeyID, ActEncrypt, it, true},
		{"user, decrypt", userByARN(aliceARN), m.KeyID, ActDecrypt, map[string]string{"dept": "IT"}, true},
		{"user, GenerateDataKeyPair", userByARN(aliceARN), m.KeyID, ActGenerateDataKeyPair, it, true},
		{"user, ReEncryptFrom", userByARN(aliceARN), m.KeyID, ActReEncryptFrom, it, true},
		{"user, ReEncryptTo not granted", userByARN(aliceARN), m.KeyID, ActReEncryptTo, it, false},
		{"user, GenerateDataKeyPairWithoutPlaintext not granted", userByARN(aliceARN), m.KeyID, ActGenerateDataKeyPairWithoutPlaintext, it, false},
		{"user, DescribeKey ignores the constraint", userByARN(aliceARN), m.KeyID, ActDescribeKey, nil, true},
		{"user, constraint value case", userByARN(aliceARN), m.KeyID, ActEncrypt, map[string]string{"Dept": "it"}, false},
		{"user, no context", userByARN(aliceARN), m.KeyID, ActEncrypt, nil, false},
		{"user, wrong operation", userByARN(aliceARN), m.KeyID, ActGenerateDataKey, it, false},
		{"user, not an operation grants cover", userByARN(aliceARN), m.KeyID, ActScheduleKeyDeletion, nil, false},
		{"user, other key", userByARN(aliceARN), bare.KeyID, ActEncrypt, it, false},
		{"other user", userByARN(bobARN), m.KeyID, ActEncrypt, it, false},
		{"role session via SourceARN", grantRoleSession("s1"), m.KeyID, ActDecrypt, map[string]string{"app": "x"}, true},
		{"another role session", grantRoleSession("s2"), m.KeyID, ActGenerateDataKey, map[string]string{"app": "x"}, true},
		{"role session, equals with extra pair", grantRoleSession("s1"), m.KeyID, ActDecrypt, map[string]string{"app": "x", "b": "c"}, false},
		{"role session, wrong operation", grantRoleSession("s1"), m.KeyID, ActEncrypt, map[string]string{"app": "x"}, false},
		{"other account user, its grant", userByARN(otherUserARN), m.KeyID, ActReEncryptTo, nil, true},
		{"other account user, not granted", userByARN(otherUserARN), m.KeyID, ActDecrypt, nil, false},
		{"account grantee covers its users", userByARN("arn:aws:iam::" + otherAcct + ":user/carol"), m.KeyID, ActEncrypt, nil, true},
		{"account grantee, its root", &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: otherAcct, ARN: "arn:aws:iam::" + otherAcct + ":root"}, Region: "us-east-1"}, m.KeyID, ActEncrypt, nil, true},
		{"same ARN in another account", userByARN("arn:aws:iam::777788889999:user/alice"), m.KeyID, ActEncrypt, it, false},
		{"CreateGrant never via grantAllows", userByARN(aliceARN), m.KeyID, ActCreateGrant, nil, false},
		{"asymmetric sign", userByARN(bobARN), rsaKey.KeyID, ActSign, nil, true},
		{"asymmetric verify not granted", userByARN(bobARN), rsaKey.KeyID, ActVerify, nil, false},
	}
	for _, tc := range cases {
		got, err := f.s.grantAllows(f.ctx, tc.c, f.key(t, tc.key), tc.action, tc.ec, nil)
		if err != nil || got != tc.want {
			t.Errorf("%s: grantAllows = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}

	k := f.key(t, m.KeyID)
	// A valid token of the grant changes nothing, for better or worse.
	if ok, err := f.s.grantAllows(f.ctx, userByARN(aliceARN), k, ActEncrypt, it, []string{alice.GrantToken}); !ok || err != nil {
		t.Errorf("with its token: %v, %v", ok, err)
	}
	if ok, err := f.s.grantAllows(f.ctx, userByARN(bobARN), k, ActEncrypt, it, []string{alice.GrantToken}); ok || err != nil {
		t.Errorf("another's token widened access: %v, %v", ok, err)
	}
	if ok, err := f.s.grantAllows(f.ctx, userByARN(aliceARN), k, ActGenerateDataKey, it, []string{alice.GrantToken}); ok || err != nil {
		t.Errorf("token widened the grant's operations: %v, %v", ok, err)
	}
	// Malformed and forged tokens are refused, also on a key without grants.
	raw, _ := base64.RawURLEncoding.DecodeString(alice.GrantToken)
	raw[len(raw)-1] ^= 1
	forged := base64.RawURLEncoding.EncodeToString(raw)
	for _, tc := range []struct {
		key *keystore.Key
		tok string
	}{{k, "%%%"}, {k, forged}, {f.key(t, bare.KeyID), "AAAA"}} {
		_, err := f.s.grantAllows(f.ctx, userByARN(aliceARN), tc.key, ActEncrypt, it, []string{tc.tok})
		wantCode(t, err, svcerr.InvalidGrantToken)
	}
	// A token of another key is well formed and ignored.
	if ok, err := f.s.grantAllows(f.ctx, userByARN(aliceARN), f.key(t, bare.KeyID), ActEncrypt, it, []string{alice.GrantToken}); ok || err != nil {
		t.Errorf("token of another key: %v, %v", ok, err)
	}
	// Revoked: the grant stops at once.
	if _, err := f.s.RetireGrant(f.ctx, f.c, &RetireGrantInput{GrantToken: alice.GrantToken}); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.s.grantAllows(f.ctx, userByARN(aliceARN), k, ActEncrypt, it, []string{alice.GrantToken}); ok || err != nil {
		t.Errorf("after retirement: %v, %v", ok, err)
	}
}

func TestGrantAllowsCreateGrant(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	m := f.createKey(t)
	f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: aliceARN, Operations: []string{"CreateGrant", "Decrypt", "Encrypt"},
		Constraints: &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "1"}}})
	f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: bobARN, Operations: []string{"CreateGrant", "Decrypt"},
		Constraints: &GrantConstraints{EncryptionContextEquals: map[string]string{"a": "1"}}})
	f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: roleARN, Operations: []string{"Decrypt", "DescribeKey"}})
	k := f.key(t, m.KeyID)
	sub := func(kv ...string) *GrantConstraints {
		c := &GrantConstraints{EncryptionContextSubset: map[string]string{}}
		for i := 0; i < len(kv); i += 2 {
			c.EncryptionContextSubset[kv[i]] = kv[i+1]
		}
		return c
	}
	eq := func(kv ...string) *GrantConstraints {
		c := &GrantConstraints{EncryptionContextEquals: map[string]string{}}
		for i := 0; i < len(kv); i += 2 {
			c.EncryptionContextEquals[kv[i]] = kv[i+1]
		}
		return c
	}
	cases := []struct {
		name string
		c    *auth.Caller
		ops  []string
		cons *GrantConstraints
		want bool
	}{
		{"subset parent, same constraint", userByARN(aliceARN), []string{"Decrypt"}, sub("a", "1"), true},
		{"subset parent, stricter subset", userByARN(aliceARN), []string{"Decrypt", "Encrypt"}, sub("a", "1", "b", "2"), true},
		{"subset parent, equals containing it", userByARN(aliceARN), []string{"Decrypt"}, eq("a", "1", "b", "2"), true},
		{"subset parent, no constraint", userByARN(aliceARN), []string{"Decrypt"}, nil, false},
		{"subset parent, other value", userByARN(aliceARN), []string{"Decrypt"}, sub("a", "2"), false},
		{"subset parent, more operations", userByARN(aliceARN), []string{"Decrypt", "GenerateDataKey"}, sub("a", "1"), false},
		{"subset parent, passes CreateGrant on", userByARN(aliceARN), []string{"CreateGrant", "Decrypt"}, sub("a", "1"), true},
		{"equals parent, same", userByARN(bobARN), []string{"Decrypt"}, eq("a", "1"), true},
		{"equals parent, subset child", userByARN(bobARN), []string{"Decrypt"}, sub("a", "1"), false},
		{"equals parent, other equals", userByARN(bobARN), []string{"Decrypt"}, eq("a", "1", "b", "2"), false},
		{"no CreateGrant in the grant", grantRoleSession("s"), []string{"Decrypt"}, nil, false},
		{"not a grantee", userByARN(otherUserARN), []string{"Decrypt"}, sub("a", "1"), false},
	}
	for _, tc := range cases {
		got, err := f.s.grantAllowsCreateGrant(f.ctx, tc.c, k, &CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: "arn:aws:iam::" + acct + ":user/x", Operations: tc.ops, Constraints: tc.cons})
		if err != nil || got != tc.want {
			t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	_, err := f.s.grantAllowsCreateGrant(f.ctx, userByARN(aliceARN), k, &CreateGrantInput{Operations: []string{"Decrypt"}, GrantTokens: []string{"bad"}})
	wantCode(t, err, svcerr.InvalidGrantToken)
}

func TestGrantConditionKeys(t *testing.T) {
	t.Parallel()
	got := GrantConditionKeys(&CreateGrantInput{GranteePrincipal: aliceARN, RetiringPrincipal: strp(bobARN), Operations: []string{"Decrypt", "Encrypt"},
		Constraints: &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "b"}, EncryptionContextEquals: map[string]string{}}})
	want := map[string][]string{
		"kms:GrantOperations":       {"Decrypt", "Encrypt"},
		"kms:GranteePrincipal":      {aliceARN},
		"kms:RetiringPrincipal":     {bobARN},
		"kms:GrantConstraintType":   {"EncryptionContextEquals", "EncryptionContextSubset"},
		"kms:GrantIsForAWSResource": {"false"},
	}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("GrantConditionKeys = %v, want %v", got, want)
	}
	bare := GrantConditionKeys(&CreateGrantInput{GranteePrincipal: aliceARN, Operations: []string{"Decrypt"}})
	if _, ok := bare["kms:RetiringPrincipal"]; ok {
		t.Error("kms:RetiringPrincipal set without a retiring principal")
	}
	if _, ok := bare["kms:GrantConstraintType"]; ok {
		t.Error("kms:GrantConstraintType set without constraints")
	}
}

// TestGrantsDeletedWithKey: the sweep that deletes a key deletes its grants
// and their retirable-listing entries.
func TestGrantsDeletedWithKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	doomed, kept := f.createKey(t), f.createKey(t)
	g := f.grantWith(t, CreateGrantInput{KeyID: doomed.KeyID, GranteePrincipal: aliceARN, RetiringPrincipal: strp(bobARN), Operations: []string{"Decrypt"}})
	f.grantWith(t, CreateGrantInput{KeyID: kept.KeyID, GranteePrincipal: aliceARN, RetiringPrincipal: strp(bobARN), Operations: []string{"Decrypt"}})
	if _, err := f.s.ScheduleKeyDeletion(f.ctx, f.c, &ScheduleKeyDeletionInput{KeyID: doomed.KeyID, PendingWindowInDays: i32(7)}); err != nil {
		t.Fatal(err)
	}
	// Grants stay listable and revocable while deletion is pending, but no
	// new grant can be made.
	if len(f.grantIDs(t, doomed.KeyID)) != 1 {
		t.Error("grant gone before the key")
	}
	_, err := f.s.CreateGrant(f.ctx, f.c, &CreateGrantInput{KeyID: doomed.KeyID, GranteePrincipal: aliceARN, Operations: []string{"Decrypt"}})
	wantCode(t, err, svcerr.InvalidState)
	f.now = f.now.Add(8 * 24 * time.Hour)
	f.s.Sweep(f.ctx)
	if _, err := f.s.ks.Get(f.ctx, acct, f.c.Region, doomed.KeyID); err == nil {
		t.Fatal("key not deleted")
	}
	gs, err := f.s.ks.Grants(f.ctx, acct, f.c.Region, doomed.KeyID)
	if err != nil || gs.Len() != 0 {
		t.Errorf("grants of the deleted key: %d, %v", gs.Len(), err)
	}
	out, err := f.s.ListRetirableGrants(f.ctx, f.c, &ListRetirableGrantsInput{RetiringPrincipal: bobARN})
	if err != nil || len(out.Grants) != 1 || out.Grants[0].KeyID != kept.Arn {
		t.Errorf("retirable after deletion: %+v, %v", out, err)
	}
	_, err = f.s.RetireGrant(f.ctx, userByARN(bobARN), &RetireGrantInput{GrantToken: g.GrantToken})
	wantCode(t, err, svcerr.NotFound)
}

// TestGrantsConcurrent creates, retires and checks grants from many
// goroutines (run with -race): every created grant is listed once, and a
// grant is effective as soon as CreateGrant returns.
func TestGrantsConcurrent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mem := memory.New()
	f.s = New(keystore.New(mem), Config{Now: func() time.Time { return f.now }})
	m := f.createKey(t)
	k := f.key(t, m.KeyID)
	const workers, each = 8, 10
	var wg sync.WaitGroup
	kept := make([][]string, workers)
	errs := make(chan error, workers*each*3)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			grantee := fmt.Sprintf("arn:aws:iam::%s:user/u%d", acct, w)
			for i := range each {
				out, err := f.s.CreateGrant(f.ctx, f.c, &CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: grantee, Operations: []string{"Encrypt"}})
				if err != nil {
					errs <- err
					return
				}
				ok, err := f.s.grantAllows(f.ctx, userByARN(grantee), k, ActEncrypt, nil, nil)
				if err != nil || !ok {
					errs <- fmt.Errorf("grant %s not effective at once: %v, %v", out.GrantID, ok, err)
				}
				if i%2 == 0 {
					if _, err := f.s.RetireGrant(f.ctx, f.c, &RetireGrantInput{GrantToken: out.GrantToken}); err != nil {
						errs <- err
					}
				} else {
					kept[w] = append(kept[w], out.GrantID)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var want []string
	for _, ids := range kept {
		want = append(want, ids...)
	}
	slices.Sort(want)
	if got := f.grantIDs(t, m.KeyID); !slices.Equal(got, want) {
		t.Errorf("listed %d grants, want %d", len(got), len(want))
	}
	// A fresh store over the same storage reads the same grants.
	fresh := keystore.New(mem)
	gs, err := fresh.Grants(f.ctx, acct, f.c.Region, m.KeyID)
	if err != nil || gs.Len() != len(want) {
		t.Errorf("reloaded %d grants, %v; want %d", gs.Len(), err, len(want))
	}
}

// BenchmarkGrantAllowsNoGrants is the cost Encrypt pays on a key without
// grants: one map lookup, no allocation.
func BenchmarkGrantAllowsNoGrants(b *testing.B) {
	f := &fixture{now: time.Now(), c: root("us-east-1")}
	f.ctx = b.Context()
	f.s = New(keystore.New(memory.New()), Config{})
	out, err := f.s.CreateKey(f.ctx, f.c, &CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	k, _ := f.s.ks.Get(f.ctx, acct, "us-east-1", out.KeyMetadata.KeyID)
	c := userByARN(aliceARN)
	b.ReportAllocs()
	for b.Loop() {
		if ok, err := f.s.grantAllows(f.ctx, c, k, ActEncrypt, nil, nil); ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// FuzzParseGrantToken: no input panics the token parser, and only the one
// canonical spelling of a minted token verifies. (Each fuzz worker mints its
// own token, so the seeds are the coordinator's and verify only there.)
func FuzzParseGrantToken(f *testing.F) {
	s := New(nil, Config{})
	g := &keystore.Grant{ID: strings.Repeat("ab", 32), Account: acct, Region: "us-east-1", KeyID: "1234abcd-12ab-34cd-56ef-1234567890ab", Secret: []byte("0123456789abcdef0123456789abcdef")}
	tok, err := s.mintGrantToken(g)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add("")
	f.Add("AQ")
	f.Add(tok[:len(tok)-2])
	f.Fuzz(func(t *testing.T, in string) {
		pt, ok := parseGrantToken(in)
		if !ok {
			return
		}
		if !isGrantID(pt.grantID) || pt.account == "" || pt.region == "" {
			t.Fatalf("parsed %q into %+v", in, pt)
		}
		if pt.verify(g) && in != tok {
			raw, _ := base64.RawURLEncoding.DecodeString(in)
			if base64.RawURLEncoding.EncodeToString(raw) != in {
				t.Fatalf("a second spelling %q of a token verifies", in)
			}
		}
	})
}

// TestCreateGrantConditionKeys: policies deciding CreateGrant see the new
// grant's kms:GrantOperations, kms:GranteePrincipal, kms:RetiringPrincipal,
// kms:GrantConstraintType and kms:GrantIsForAWSResource; a grantee whose
// grant allows CreateGrant may create grants no wider than its own.
func TestCreateGrantConditionKeys(t *testing.T) {
	t.Parallel()
	f, ids := newAuthzFixture(t)
	m := f.createKey(t)
	ids.identity[aliceARN] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*",
	  "Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]},"StringEquals":{"kms:GranteePrincipal":"`+bobARN+`"},
	    "Bool":{"kms:GrantIsForAWSResource":"false"}}}]}`)}
	ids.identity[bobARN] = []*policy.Policy{mustPolicy(t, policy.KindIdentity, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*",
	  "Condition":{"Null":{"kms:GrantConstraintType":"false"},"StringEquals":{"kms:RetiringPrincipal":"`+aliceARN+`"}}}]}`)}
	create := func(c *auth.Caller, in CreateGrantInput) error {
		in.KeyID = m.KeyID
		_, err := f.s.CreateGrant(f.ctx, c, &in)
		return err
	}
	sub := &GrantConstraints{EncryptionContextSubset: map[string]string{"a": "1"}}
	cases := []struct {
		name string
		c    *auth.Caller
		in   CreateGrantInput
		want bool
	}{
		{"alice: allowed operations to bob", user(acct, "alice"), CreateGrantInput{GranteePrincipal: bobARN, Operations: []string{"Decrypt"}}, true},
		{"alice: an operation outside the list", user(acct, "alice"), CreateGrantInput{GranteePrincipal: bobARN, Operations: []string{"Decrypt", "ReEncryptFrom"}}, false},
		{"alice: another grantee", user(acct, "alice"), CreateGrantInput{GranteePrincipal: aliceARN, Operations: []string{"Decrypt"}}, false},
		{"bob: constrained, retiring alice", user(acct, "bob"), CreateGrantInput{GranteePrincipal: bobARN, Operations: []string{"Decrypt"}, RetiringPrincipal: strp(aliceARN), Constraints: sub}, true},
		{"bob: no constraints", user(acct, "bob"), CreateGrantInput{GranteePrincipal: bobARN, Operations: []string{"Decrypt"}, RetiringPrincipal: strp(aliceARN)}, false},
		{"bob: no retiring principal", user(acct, "bob"), CreateGrantInput{GranteePrincipal: bobARN, Operations: []string{"Decrypt"}, Constraints: sub}, false},
	}
	for _, tc := range cases {
		err := create(tc.c, tc.in)
		if tc.want && err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if !tc.want {
			wantCode(t, err, svcerr.AccessDenied)
		}
	}

	// carol has no policy, but a grant with CreateGrant: she may pass on
	// a part of it, and nothing more.
	f.grantWith(t, CreateGrantInput{KeyID: m.KeyID, GranteePrincipal: "arn:aws:iam::" + acct + ":user/carol", Operations: []string{"CreateGrant", "Decrypt"}})
	carol := user(acct, "carol")
	if err := create(carol, CreateGrantInput{GranteePrincipal: bobARN, Operations: []string{"Decrypt"}}); err != nil {
		t.Errorf("carol passes on Decrypt through her grant: %v", err)
	}
	wantCode(t, create(carol, CreateGrantInput{GranteePrincipal: bobARN, Operations: []string{"Encrypt"}}), svcerr.AccessDenied)
}
