package awsquery

import (
	"net/url"
	"reflect"
	"testing"

	"github.com/arca-kms/arca/internal/svcerr"
)

type tag struct {
	Key   string
	Value string
}

type input struct {
	UserName    string
	AccessKeyID string `query:"AccessKeyId"`
	Skipped     string `query:"-"`
	MaxItems    *int32
	Count       int32
	Force       bool
	Maybe       *bool
	TagKeys     []string
	Tags        []tag
	hidden      string
}

func i32(v int32) *int32 { return &v }
func bp(v bool) *bool    { return &v }

func TestDecode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		form string
		want input
		code svcerr.Code
	}{
		{"empty", "", input{}, ""},
		{"scalars", "UserName=bob&AccessKeyId=AKIA&MaxItems=10&Count=-3&Force=true&Maybe=false",
			input{UserName: "bob", AccessKeyID: "AKIA", MaxItems: i32(10), Count: -3, Force: true, Maybe: bp(false)}, ""},
		{"first value wins", "UserName=a&UserName=b", input{UserName: "a"}, ""},
		{"tag name, not field name", "AccessKeyID=x", input{}, ""},
		{"dash tag ignored", "Skipped=x", input{}, ""},
		{"unknown parameters ignored", "Action=X&Version=Y&Nope=1", input{}, ""},
		{"string list in index order", "TagKeys.member.2=b&TagKeys.member.1=a&TagKeys.member.10=c",
			input{TagKeys: []string{"a", "b", "c"}}, ""},
		{"sparse list compacts", "TagKeys.member.3=c&TagKeys.member.1=a", input{TagKeys: []string{"a", "c"}}, ""},
		{"empty list", "TagKeys=", input{TagKeys: []string{}}, ""},
		{"struct list", "Tags.member.1.Key=k1&Tags.member.1.Value=v1&Tags.member.2.Key=k2",
			input{Tags: []tag{{"k1", "v1"}, {"k2", ""}}}, ""},
		{"struct list unknown member field ignored", "Tags.member.1.Key=k&Tags.member.1.Other=x", input{Tags: []tag{{Key: "k"}}}, ""},
		{"index 1000", "TagKeys.member.1000=z", input{TagKeys: []string{"z"}}, ""},
		{"index 0", "TagKeys.member.0=a", input{}, svcerr.InvalidQueryParameter},
		{"index 1001", "TagKeys.member.1001=a", input{}, svcerr.InvalidQueryParameter},
		{"leading zero", "TagKeys.member.01=a", input{}, svcerr.InvalidQueryParameter},
		{"negative index", "TagKeys.member.-1=a", input{}, svcerr.InvalidQueryParameter},
		{"huge index", "Tags.member.99999999999999999999.Key=a", input{}, svcerr.InvalidQueryParameter},
		{"no index", "TagKeys.member.=a", input{}, svcerr.InvalidQueryParameter},
		{"nested on a string list", "TagKeys.member.1.Key=a", input{}, svcerr.InvalidQueryParameter},
		{"no field on a struct list", "Tags.member.1=a", input{}, svcerr.InvalidQueryParameter},
		{"empty field on a struct list", "Tags.member.1.=a", input{}, svcerr.InvalidQueryParameter},
		{"int not a number", "MaxItems=ten", input{}, svcerr.Validation},
		{"int overflow", "MaxItems=2147483648", input{}, svcerr.Validation},
		{"bool not a bool", "Force=yes", input{}, svcerr.Validation},
		{"bool spelled otherwise", "Force=TRUE", input{}, svcerr.Validation},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			form, err := url.ParseQuery(c.form)
			if err != nil {
				t.Fatal(err)
			}
			var got input
			err = Decode(form, &got)
			if svcerr.CodeOf(err) != c.code {
				t.Fatalf("Decode(%q) = %v, want code %q", c.form, err, c.code)
			}
			if c.code == "" && !reflect.DeepEqual(got, c.want) {
				t.Errorf("Decode(%q) =\n %+v, want\n %+v", c.form, got, c.want)
			}
		})
	}
}

func TestDecodeMessageNamesMember(t *testing.T) {
	t.Parallel()
	var in input
	err := Decode(url.Values{"MaxItems": {"ten"}}, &in)
	want := "1 validation error detected: Value 'ten' at 'maxItems' failed to satisfy constraint: Member must be a number"
	if se := svcerr.As(err); se == nil || se.Msg != want {
		t.Errorf("message = %v, want %q", err, want)
	}
}

func TestDecodeRejectsUnsupportedTypes(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Decode accepted a map field")
		}
	}()
	var in struct{ M map[string]string }
	Decode(url.Values{}, &in)
}

func TestLowerFirst(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"UserName": "userName", "": "", "x": "x", "Tags.member.1.Key": "tags.member.1.Key"} {
		if got := LowerFirst(in); got != want {
			t.Errorf("LowerFirst(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeSkipsUnexportedFields(t *testing.T) {
	t.Parallel()
	var in input
	if err := Decode(url.Values{"hidden": {"x"}}, &in); err != nil || in.hidden != "" {
		t.Errorf("Decode set an unexported field: %q %v", in.hidden, err)
	}
}
