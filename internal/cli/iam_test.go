package cli

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseXML(t *testing.T) {
	t.Parallel()
	got, err := parseXML([]byte(`<ArcaListAccountsResponse xmlns="x"><ArcaListAccountsResult><Accounts>` +
		`<member><AccountId>1</AccountId></member><member><AccountId>2</AccountId></member></Accounts>` +
		`<IsTruncated>false</IsTruncated></ArcaListAccountsResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ArcaListAccountsResponse>`))
	want := map[string]any{
		"ArcaListAccountsResult": map[string]any{
			"Accounts":    []any{map[string]any{"AccountId": "1"}, map[string]any{"AccountId": "2"}},
			"IsTruncated": "false",
		},
		"ResponseMetadata": map[string]any{"RequestId": "r"},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseXML = %#v, %v", got, err)
	}
	if _, err := parseXML([]byte("<a><b>")); err == nil {
		t.Error("parseXML accepted truncated XML")
	}
}

func TestReadDocument(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "d.json")
	if err := os.WriteFile(p, []byte(`{"x":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, policy, doc, want string
		ok                      bool
	}{
		{"inline", "p", `{}`, `{}`, true},
		{"file", "p", "file://" + p, `{"x":1}`, true},
		{"missing file", "p", "file://" + p + ".nope", "", false},
		{"no policy name", "", `{}`, "", false},
		{"no document", "p", "", "", false},
	} {
		got, err := readDocument("u", "user-name", c.policy, c.doc)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("%s: readDocument = %q, %v", c.name, got, err)
		}
	}
	if _, err := readDocument("", "user-name", "p", "{}"); err == nil {
		t.Error("readDocument accepted a missing name")
	}
}
