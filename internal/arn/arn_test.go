package arn

import (
	"strings"
	"testing"
)

func TestParseKeyRef(t *testing.T) {
	t.Parallel()
	const id = "1234abcd-12ab-34cd-56ef-1234567890ab"
	tests := []struct {
		in      string
		kind    RefKind
		keyID   string
		alias   string
		region  string
		account string
		wantErr bool
	}{
		{in: id, kind: RefKeyID, keyID: id},
		{in: strings.ToUpper(id), kind: RefKeyID, keyID: strings.ToUpper(id)},
		{in: "mrk-1234abcd12ab34cd56ef1234567890ab", kind: RefKeyID, keyID: "mrk-1234abcd12ab34cd56ef1234567890ab"},
		{in: "arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", kind: RefKeyARN, keyID: "mrk-1234abcd12ab34cd56ef1234567890ab", region: "eu-west-1", account: "111122223333"},
		{in: "arn:aws:kms:us-east-2:111122223333:key/" + id, kind: RefKeyARN, keyID: id, region: "us-east-2", account: "111122223333"},
		{in: "alias/app", kind: RefAliasName, alias: "alias/app"},
		{in: "alias/a/b_c-d", kind: RefAliasName, alias: "alias/a/b_c-d"},
		{in: "arn:aws:kms:us-east-2:111122223333:alias/app", kind: RefAliasARN, alias: "alias/app", region: "us-east-2", account: "111122223333"},
		{in: "", wantErr: true},
		{in: "alias/", wantErr: true},
		{in: "alias/bad name", wantErr: true},
		{in: "1234abcd-12ab-34cd-56ef-1234567890a", wantErr: true},
		{in: "1234abcd-12ab-34cd-56ef-1234567890abc", wantErr: true},
		{in: "1234abcd_12ab-34cd-56ef-1234567890ab", wantErr: true},
		{in: "g234abcd-12ab-34cd-56ef-1234567890ab", wantErr: true},
		{in: "mrk-1234", wantErr: true},
		{in: "mrk-1234abcd12ab34cd56ef1234567890a", wantErr: true},
		{in: "mrk-1234abcd12ab34cd56ef1234567890abc", wantErr: true},
		{in: "mrk-1234abcd12ab34cd56ef1234567890ag", wantErr: true},
		{in: "mrk-1234abcd-12ab-34cd-56ef-1234567890ab", wantErr: true},
		{in: "MRK-1234abcd12ab34cd56ef1234567890ab", wantErr: true},
		{in: "arn:aws:kms:eu-west-1:111122223333:key/mrk-", wantErr: true},
		{in: "arn:aws:s3:us-east-2:111122223333:key/" + id, wantErr: true},
		{in: "arn:aws:kms:us-east-2:111122223333:key/nope", wantErr: true},
		{in: "arn:aws:kms::111122223333:key/" + id, wantErr: true},
		{in: "arn:aws:kms:us-east-2::key/" + id, wantErr: true},
		{in: "arn:aws:kms:us-east-2:111122223333:grant/x", wantErr: true},
		{in: "arn:aws", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			r, err := ParseKeyRef(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParseKeyRef(%q) = %+v, want error", tc.in, r)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeyRef(%q): %v", tc.in, err)
			}
			if r.Kind != tc.kind || r.KeyID != tc.keyID || r.AliasName != tc.alias || r.Region != tc.region || r.Account != tc.account {
				t.Errorf("ParseKeyRef(%q) = %+v", tc.in, r)
			}
			if r.IsAlias() != (tc.alias != "") {
				t.Errorf("IsAlias() = %v", r.IsAlias())
			}
		})
	}
}

func TestValidAliasNameLength(t *testing.T) {
	t.Parallel()
	ok := "alias/" + strings.Repeat("a", AliasMaxLen-len("alias/"))
	if err := ValidAliasName(ok); err != nil {
		t.Errorf("%d-char alias rejected: %v", len(ok), err)
	}
	if err := ValidAliasName(ok + "a"); err == nil {
		t.Errorf("%d-char alias accepted", len(ok)+1)
	}
}

func TestARNRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws-cn:iam::000000000000:root",
		"arn:aws:secretsmanager:eu-west-1:000000000000:secret:db:pass-AbCdEf",
	} {
		a, err := Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if a.String() != s {
			t.Errorf("Parse(%q).String() = %q", s, a.String())
		}
	}
	if got := KeyARN("aws", "us-east-1", "000000000000", "k"); got != "arn:aws:kms:us-east-1:000000000000:key/k" {
		t.Errorf("KeyARN = %q", got)
	}
	if got := AliasARN("aws", "us-east-1", "000000000000", "alias/x"); got != "arn:aws:kms:us-east-1:000000000000:alias/x" {
		t.Errorf("AliasARN = %q", got)
	}
}

func FuzzParseKeyRef(f *testing.F) {
	for _, s := range []string{
		"1234abcd-12ab-34cd-56ef-1234567890ab", "alias/app", "mrk-1234abcd12ab34cd56ef1234567890ab",
		"arn:aws:kms:us-east-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:us-east-2:111122223333:alias/app", "arn:::::", "",
		"arn:aws:kms:eu-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab", "mrk-",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseKeyRef(s)
		if err != nil {
			return
		}
		switch r.Kind {
		case RefKeyID, RefKeyARN:
			if !IsKeyID(r.KeyID) {
				t.Errorf("accepted %q with key ID %q", s, r.KeyID)
			}
		case RefAliasName, RefAliasARN:
			if ValidAliasName(r.AliasName) != nil {
				t.Errorf("accepted %q with alias %q", s, r.AliasName)
			}
		default:
			t.Errorf("accepted %q with kind %d", s, r.Kind)
		}
	})
}
