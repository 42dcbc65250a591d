package awsquery

import (
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/arca-kms/arca/internal/svcerr"
)

// MaxListMembers is the most members a list parameter may have. AWS's own
// lists are far shorter (50 tags); the bound keeps a hostile body from
// making the decoder allocate a huge slice from one large index.
const MaxListMembers = 1000

// Decode fills the struct that in points to from form values, the AWS
// Query way:
//
//	Name=value                        a string, bool or int32 member
//	Name.member.N=value               the Nth (from 1) element of a []string
//	Name.member.N.Field=value         a field of the Nth element of a []struct
//	Name=                             an empty list
//
// A field's parameter name is its `query` tag, or else its Go name. Members
// of other types are not supported (Decode panics on such a struct type at
// its first use, a programming error). Parameters that name no field are
// ignored, as AWS ignores them. Errors are *svcerr.Error values that name
// the parameter at fault.
func Decode(form url.Values, in any) error {
	v := reflect.ValueOf(in)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic("awsquery: Decode needs a pointer to a struct")
	}
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return decodeStruct(form, keys, "", v.Elem(), infoOf(v.Elem().Type()))
}

type kind uint8

const (
	kString kind = iota + 1
	kBool
	kInt32
	kPtrInt32
	kPtrBool
	kStrings
	kStructs
)

type fieldInfo struct {
	name  string
	index int
	kind  kind
	elem  *structInfo // kStructs only
}

type structInfo struct{ fields []fieldInfo }

var infos sync.Map // reflect.Type → *structInfo

func infoOf(t reflect.Type) *structInfo {
	if v, ok := infos.Load(t); ok {
		return v.(*structInfo)
	}
	si := &structInfo{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag := f.Tag.Get("query"); tag == "-" {
			continue
		} else if tag != "" {
			name = tag
		}
		fi := fieldInfo{name: name, index: i}
		switch ft := f.Type; {
		case ft.Kind() == reflect.String:
			fi.kind = kString
		case ft.Kind() == reflect.Bool:
			fi.kind = kBool
		case ft.Kind() == reflect.Int32:
			fi.kind = kInt32
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Int32:
			fi.kind = kPtrInt32
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Bool:
			fi.kind = kPtrBool
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			fi.kind = kStrings
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			fi.kind = kStructs
			fi.elem = infoOf(ft.Elem())
		default:
			panic("awsquery: unsupported field type " + ft.String() + " in " + t.String())
		}
		si.fields = append(si.fields, fi)
	}
	v, _ := infos.LoadOrStore(t, si)
	return v.(*structInfo)
}

// decodeStruct decodes the fields of v whose parameters start with prefix.
// keys are the form's keys, sorted, so a list's members are one range.
func decodeStruct(form url.Values, keys []string, prefix string, v reflect.Value, si *structInfo) error {
	for _, f := range si.fields {
		name := prefix + f.name
		fv := v.Field(f.index)
		switch f.kind {
		case kStrings, kStructs:
			if err := decodeList(form, keys, name, fv, f); err != nil {
				return err
			}
			continue
		}
		vals, ok := form[name]
		if !ok || len(vals) == 0 {
			continue
		}
		s := vals[0]
		switch f.kind {
		case kString:
			fv.SetString(s)
		case kBool, kPtrBool:
			b, err := strconv.ParseBool(s)
			if err != nil || (s != "true" && s != "false") {
				return invalidValue(name, s, "Member must be true or false")
			}
			if f.kind == kBool {
				fv.SetBool(b)
			} else {
				fv.Set(reflect.ValueOf(&b))
			}
		case kInt32, kPtrInt32:
			n, err := strconv.ParseInt(s, 10, 32)
			if err != nil {
				return invalidValue(name, s, "Member must be a number")
			}
			if f.kind == kInt32 {
				fv.SetInt(n)
			} else {
				i := int32(n)
				fv.Set(reflect.ValueOf(&i))
			}
		}
	}
	return nil
}

// decodeList decodes the members Name.member.N[.Field] of one list.
func decodeList(form url.Values, keys []string, name string, fv reflect.Value, f fieldInfo) error {
	if _, ok := form[name]; ok {
		// "Name=" is how the SDKs send an empty list.
		fv.Set(reflect.MakeSlice(fv.Type(), 0, 0))
	}
	head := name + ".member."
	lo := sort.SearchStrings(keys, head)
	var idx []int
	seen := map[int]bool{}
	for _, k := range keys[lo:] {
		if !strings.HasPrefix(k, head) {
			break
		}
		rest := k[len(head):]
		num, sub, nested := strings.Cut(rest, ".")
		if nested != (f.kind == kStructs) || (nested && sub == "") {
			return svcerr.New(svcerr.InvalidQueryParameter, "The parameter %s is not a valid member of list %s.", clip(k), name)
		}
		n, ok := listIndex(num)
		if !ok {
			return svcerr.New(svcerr.InvalidQueryParameter, "The parameter %s has an invalid list index; members are numbered from 1 to %d.", clip(k), MaxListMembers)
		}
		if !seen[n] {
			seen[n] = true
			idx = append(idx, n)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	sort.Ints(idx)
	out := reflect.MakeSlice(fv.Type(), len(idx), len(idx))
	for i, n := range idx {
		member := head + strconv.Itoa(n)
		if f.kind == kStrings {
			out.Index(i).SetString(form.Get(member))
			continue
		}
		if err := decodeStruct(form, keys, member+".", out.Index(i), f.elem); err != nil {
			return err
		}
	}
	fv.Set(out)
	return nil
}

// listIndex parses a list index: decimal, no sign or leading zero, 1 to
// MaxListMembers.
func listIndex(s string) (int, bool) {
	if s == "" || len(s) > 4 || s[0] == '0' {
		return 0, false
	}
	n := 0
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1 && n <= MaxListMembers
}

// invalidValue is AWS's validation message for a value of the wrong type,
// naming the member as AWS does (first letter lower-case).
func invalidValue(name, value, constraint string) error {
	return svcerr.Validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s",
		clip(value), LowerFirst(name), constraint)
}

// LowerFirst returns name with its first letter in lower case, the way AWS
// names members in validation messages ("userName", "tags.1.member.key").
func LowerFirst(name string) string {
	if name == "" || name[0] < 'A' || name[0] > 'Z' {
		return name
	}
	return string(name[0]+'a'-'A') + name[1:]
}

// clip shortens a client-supplied string for an error message.
func clip(s string) string {
	const max = 128
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
