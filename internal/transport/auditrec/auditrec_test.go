package auditrec

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/arca-kms/arca/internal/auth"
)

func TestIdentity(t *testing.T) {
	tests := []struct {
		name string
		p    auth.Principal
		want string
	}{
		{"root", auth.Principal{Type: auth.Root, Account: "111122223333", ARN: "arn:aws:iam::111122223333:root", UserID: "111122223333", AccessKeyID: "AKIAROOT"},
			`{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333","accessKeyId":"AKIAROOT"}`},
		{"user", auth.Principal{Type: auth.IAMUser, Account: "111122223333", ARN: "arn:aws:iam::111122223333:user/alice", UserID: "AIDAX", UserName: "alice", AccessKeyID: "AKIAX"},
			`{"type":"IAMUser","principalId":"AIDAX","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAX","userName":"alice"}`},
		{"role session", auth.Principal{Type: auth.AssumedRole, Account: "111122223333", ARN: "arn:aws:sts::111122223333:assumed-role/app/s1",
			UserID: "AROAX:s1", AccessKeyID: "ASIAX", SourceARN: "arn:aws:iam::111122223333:role/path/app", SourceIdentity: "bob", Temporary: true},
			`{"type":"AssumedRole","principalId":"AROAX:s1","arn":"arn:aws:sts::111122223333:assumed-role/app/s1","accountId":"111122223333","accessKeyId":"ASIAX",` +
				`"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROAX","arn":"arn:aws:iam::111122223333:role/path/app","accountId":"111122223333","userName":"app"},` +
				`"attributes":{"mfaAuthenticated":"false"},"sourceIdentity":"bob"}}`},
		{"user session", auth.Principal{Type: auth.IAMUser, Account: "111122223333", ARN: "arn:aws:iam::111122223333:user/alice", UserID: "AIDAX", UserName: "alice", AccessKeyID: "ASIAY", Temporary: true},
			`{"type":"IAMUser","principalId":"AIDAX","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"ASIAY","userName":"alice","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}}`},
	}
	for _, tc := range tests {
		u := Identity(&tc.p)
		b, _ := json.Marshal(u)
		if string(b) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, b, tc.want)
		}
	}
}

func TestAccessKeyOf(t *testing.T) {
	for h, want := range map[string]string{
		"AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261203/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=ab": "AKIAEXAMPLE",
		"AWS4-HMAC-SHA256 Credential=AKIA\"<script>/x":                                                                  "",
		"Bearer x": "",
	} {
		r := httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Authorization", h)
		if got := accessKeyOf(r); got != want {
			t.Errorf("%q: got %q, want %q", h, got, want)
		}
	}
	r := httptest.NewRequest("GET", "/?X-Amz-Credential=AKIAPRESIGNED%2F20261203%2Fus-east-1%2Fkms%2Faws4_request", nil)
	if got := accessKeyOf(r); got != "AKIAPRESIGNED" {
		t.Errorf("presigned: %q", got)
	}
}

func TestRedactNested(t *testing.T) {
	type key struct {
		AccessKeyID     string `xml:"AccessKeyId"`
		SecretAccessKey string `xml:"SecretAccessKey"`
		Unknown         string `xml:"Unknown"`
	}
	type out struct {
		AccessKey key    `xml:"AccessKey"`
		Blob      []byte `xml:"Blob"`
	}
	q := &Request{view: &View{Members: map[string]Class{"AccessKey": Record, "AccessKeyId": Record, "SecretAccessKey": Hide, "Blob": Record}}}
	got, _ := q.redact(&out{AccessKey: key{"AKIA1", "very-secret", "u"}, Blob: []byte("0123456789")}, QueryName, true)
	want := `{"accessKey":{"accessKeyId":"AKIA1","secretAccessKey":"HIDDEN_DUE_TO_SECURITY_REASONS","unknown":"HIDDEN_DUE_TO_SECURITY_REASONS"},"blob":{"length":10}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if u := Unclassified(reflect.TypeFor[out](), QueryName, q.view.Members); len(u) != 1 || u[0] != "key.Unknown" {
		t.Errorf("Unclassified = %v", u)
	}
}

func TestHasAdditional(t *testing.T) {
	v := &View{Members: map[string]Class{"KeyId": Record, "KeyMaterialId": Additional}}
	type with struct {
		KeyID string `json:"KeyId"`
		ID    string `json:"KeyMaterialId"`
	}
	type without struct {
		KeyID string `json:"KeyId"`
	}
	type nested struct {
		Inner with `json:"Inner"`
	}
	for _, tc := range []struct {
		name string
		out  any
		want bool
	}{
		{"member of class Additional", &with{}, true},
		{"none", &without{}, false},
		{"only nested (recorded, not additional)", &nested{}, false},
		{"not a struct: left to redact", map[string]string{}, true},
	} {
		for range 2 { // the second answer comes from the cache
			if got := hasAdditional(v, tc.out, JSONName); got != tc.want {
				t.Errorf("%s: hasAdditional = %v; want %v", tc.name, got, tc.want)
			}
		}
	}
}
