package policy

import (
	"slices"
	"testing"
)

func TestContext(t *testing.T) {
	t.Parallel()
	var c Context
	c.Set("aws:username", "alice")
	c.Set("AWS:UserName", "bob") // same key, any case: replaces
	if v, ok := c.Values("aws:USERNAME"); !ok || !slices.Equal(v, []string{"bob"}) {
		t.Errorf("Values = %v, %v", v, ok)
	}
	c.SetMulti("aws:TagKeys", []string{"a", "b"})
	if v, _ := c.Values("aws:tagkeys"); !slices.Equal(v, []string{"a", "b"}) {
		t.Errorf("multi = %v", v)
	}
	if _, ok := c.variable("aws:TagKeys"); ok {
		t.Error("a multivalued key resolved as a variable")
	}
	c.SetMulti("aws:TagKeys", nil)
	if c.lookup("aws:TagKeys") != nil {
		t.Error("an empty multivalued key is present")
	}
	c.Delete("AWS:USERNAME")
	if _, ok := c.Values("aws:username"); ok {
		t.Error("Delete kept the key")
	}
	c.SetBool("aws:SecureTransport", false)
	if v, _ := c.Values("aws:SecureTransport"); v[0] != "false" {
		t.Errorf("SetBool = %v", v)
	}
	c.SetPrincipal(Principal{Type: TypeAssumedRole, Account: "111122223333",
		ARN: "arn:aws:sts::111122223333:assumed-role/r/s", SourceARN: "arn:aws:iam::111122223333:role/p/r"})
	for k, want := range map[string]string{
		"aws:PrincipalArn":     "arn:aws:iam::111122223333:role/p/r",
		"aws:PrincipalAccount": "111122223333",
		"aws:PrincipalType":    "AssumedRole",
	} {
		if v, _ := c.Values(k); len(v) != 1 || v[0] != want {
			t.Errorf("%s = %v, want %s", k, v, want)
		}
	}
	c.Reset()
	if _, ok := c.Values("aws:PrincipalType"); ok {
		t.Error("Reset kept keys")
	}
	var nilCtx *Context
	if nilCtx.lookup("x") != nil {
		t.Error("nil context has keys")
	}
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	good := []string{"2024", "2024-02", "2024-02-29", "2024-02-29T10:20Z", "2024-02-29T10:20:30Z",
		"2024-02-29T10:20:30.123456789Z", "2024-02-29T10:20:30+05:30", "2024-02-29T10:20:30-0800",
		"2024-02-29T10:20:30", "1700000000", "0"}
	bad := []string{"", "2024-1", "2024-2", "2023-02-29", "2024-02-29T10", "2024-02-29T25:00Z", "2024-02-29T10:20:30.Z",
		"2024-02-29T10:20:30+5", "2024-02-29 10:20", "-1", "1e9", "2024-01-01T00:00:00ZZ", "99999999999999999999"}
	for _, s := range good {
		if _, ok := parseDate(s); !ok {
			t.Errorf("parseDate(%q) failed", s)
		}
	}
	for _, s := range bad {
		if _, ok := parseDate(s); ok {
			t.Errorf("parseDate(%q) succeeded", s)
		}
	}
	a, _ := parseDate("2024-01-01T05:30:00+05:30")
	b, _ := parseDate("2024-01-01")
	if !a.Equal(b) {
		t.Errorf("offset: %v != %v", a, b)
	}
}
