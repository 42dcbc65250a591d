package auditrec

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"regexp"
	"testing"
	"time"
)

type diffInner struct {
	Name     string            `json:"Name"`
	Count    int32             `json:"Count"`
	Secret   string            `json:"Secret"`
	Blob     []byte            `json:"Blob"`
	Ctx      map[string]string `json:"Ctx"`
	Material string            `json:"Material"`
	When     *time.Time        `json:"When"`
	Skipped  string            `json:"-"`
	private  string
}

type diffOuter struct {
	KeyID    string                `json:"KeyId"`
	Enabled  *bool                 `json:"Enabled"`
	Limit    uint16                `json:"Limit"`
	Plain    []byte                `json:"Plaintext"`
	Cipher   []byte                `json:"CiphertextBlob"`
	Ctx      map[string]string     `json:"EncryptionContext"`
	Items    []diffInner           `json:"Items"`
	Ptrs     []*diffInner          `json:"Ptrs"`
	ByName   map[string]*diffInner `json:"ByName"`
	Meta     *diffInner            `json:"Meta"`
	Material string                `json:"Material"`
	Created  time.Time             `json:"Created"`
	Tags     []string              `json:"Tags"`
	Unnamed  string
	Ratio    float64         `json:"Ratio"`
	Raw      json.RawMessage `json:"Raw"`
	Any      any             `json:"Any"`
}

var diffMembers = map[string]Class{
	"KeyId": Record, "Enabled": Record, "Limit": Record, "Plaintext": Omit, "CiphertextBlob": Record,
	"EncryptionContext": Verbatim, "Items": Record, "Ptrs": Record, "ByName": Record, "Meta": Record,
	"Material": Additional, "Created": Record, "Tags": Record, "Name": Record, "Count": Record,
	"Secret": Hide, "Blob": Record, "Ctx": Verbatim, "When": Record, "Ratio": Record, "Raw": Record, "Any": Record,
}

var diffStrings = []string{"", "a", "key/1234", "<script>&", "é\u2028\u2029", "\x00\n\"\\", "\xff", "Zz"}

// fill sets v to random values, zero about a third of the time.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	if r.IntN(3) == 0 || depth > 4 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(diffStrings[r.IntN(len(diffStrings))])
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int32, reflect.Int:
		v.SetInt(r.Int64N(2000) - 1000)
	case reflect.Uint16:
		v.SetUint(r.Uint64N(70000))
	case reflect.Float64:
		if r.IntN(4) == 0 {
			v.SetFloat(r.Float64() * 1e22)
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(r, p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		if v.Type() == reflect.TypeFor[json.RawMessage]() {
			if r.IntN(3) == 0 {
				v.SetBytes([]byte(`{"a": 1}`))
			}
			return
		}
		n := r.IntN(3)
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			fill(r, s.Index(i), depth+1)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for i := r.IntN(4); i > 0; i-- {
			k := reflect.New(v.Type().Key()).Elem()
			k.SetString(diffStrings[r.IntN(len(diffStrings))])
			e := reflect.New(v.Type().Elem()).Elem()
			fill(r, e, depth+1)
			m.SetMapIndex(k, e)
		}
		v.Set(m)
	case reflect.Struct:
		if v.Type() == timeType {
			v.Set(reflect.ValueOf(time.Unix(r.Int64N(4e9), 0).In(time.FixedZone("x", 3600))))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(r, v.Field(i), depth+1)
			}
		}
	case reflect.Interface:
		if r.IntN(2) == 0 {
			v.Set(reflect.ValueOf(diffStrings[r.IntN(len(diffStrings))]))
		} else {
			in := &diffInner{}
			fill(r, reflect.ValueOf(in).Elem(), depth+1)
			v.Set(reflect.ValueOf(in))
		}
	}
}

// TestRedactFastMatchesWalker: the direct encoder writes exactly what the
// reflective walker and encoding/json write, for inputs and outputs, or
// hands the value to the walker.
func TestRedactFastMatchesWalker(t *testing.T) {
	q := &Request{view: &View{Members: diffMembers}}
	r := rand.New(rand.NewPCG(1, 2))
	fast := 0
	for i := 0; i < 20000; i++ {
		v := &diffOuter{}
		fill(r, reflect.ValueOf(v).Elem(), 0)
		for _, extra := range []bool{false, true} {
			wm, wa := q.redactSlow(v, JSONName, extra)
			gm, ga, err := q.redactFast(v, JSONName, extra)
			if err == errSlow {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			fast++
			if !bytes.Equal(gm, wm) || !bytes.Equal(ga, wa) {
				t.Fatalf("extra=%v %+v\n got %s %s\nwant %s %s", extra, v, gm, ga, wm, wa)
			}
		}
	}
	if fast < 5000 {
		t.Fatalf("only %d of 40000 renderings took the fast path", fast)
	}
	// The common shapes never need the walker.
	for _, v := range []any{&diffInner{Name: "n", private: "never recorded", Ctx: map[string]string{"b": "<", "a": "x"}, Material: "m"}, &struct{}{}, (*diffInner)(nil)} {
		if _, _, err := q.redactFast(v, JSONName, true); err != nil {
			t.Errorf("%T: %v", v, err)
		}
	}
}

func TestNewEventIDIsUUIDv4(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewEventID()
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("event ID %q is not a fresh version 4 UUID", id)
		}
		seen[id] = true
	}
}
