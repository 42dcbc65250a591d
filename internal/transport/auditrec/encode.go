package auditrec

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/audit"
)

// The redaction encoder writes what walker+json.Marshal write (an object
// of the view's members, keys sorted as encoding/json sorts a map's) but
// straight into bytes, with each struct type's member list worked out once:
// the map-of-maps walk was most of an audited request's allocations.
// Whatever it does not know how to write exactly (floats, marshalers,
// non-string map keys, two fields with one member name) makes it give up,
// and the request is rendered the old way (redactSlow); encode_test.go
// holds the two to the same output.

var errSlow = errors.New("auditrec: use the reflective walker")

// fieldPlan is one exported, named struct field, in member-key order.
type fieldPlan struct {
	index int
	name  string // wire name, the view's key
	key   []byte // `"keyId":`
}

type planKey struct {
	t     reflect.Type
	names uintptr
}

// plans caches []fieldPlan (nil: the type needs the slow path) per struct
// type and naming.
var plans sync.Map

func planOf(t reflect.Type, names Names) []fieldPlan {
	k := planKey{t, reflect.ValueOf(names).Pointer()}
	if p, ok := plans.Load(k); ok {
		return p.([]fieldPlan)
	}
	var out []fieldPlan
	seen := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := names(f)
		if name == "-" {
			continue
		}
		key := lowerFirst(name)
		if seen[key] {
			out = nil
			break
		}
		seen[key] = true
		kb := append(audit.AppendJSONString(nil, key), ':')
		out = append(out, fieldPlan{index: i, name: name, key: kb})
	}
	if len(seen) > 0 && out == nil {
		out = []fieldPlan{} // non-nil marker: slow path
		plans.Store(k, out)
		return out
	}
	slices.SortFunc(out, func(a, b fieldPlan) int { return strings.Compare(lowerFirst(a.name), lowerFirst(b.name)) })
	if out == nil {
		out = []fieldPlan{}
	}
	plans.Store(k, out)
	return out
}

// encoder renders a value through a view into JSON.
type encoder struct {
	m     map[string]Class
	names Names
	// extra collects top-level Additional members, when wanted.
	wantExtra bool
	extra     []byte
	inExtra   bool
}

// value appends v's rendering; ok is false when the walker's result would
// be nil (nothing is appended then).
func (w *encoder) value(dst []byte, v reflect.Value, top bool) ([]byte, bool, error) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return dst, false, nil
		}
		v = v.Elem()
	}
	t := v.Type()
	if t == timeType {
		return audit.AppendJSONString(dst, v.Interface().(time.Time).UTC().Format(time.RFC3339)), true, nil
	}
	if t.Implements(jsonMarshaler) || t.Implements(textMarshaler) {
		return dst, false, errSlow
	}
	switch t.Kind() {
	case reflect.Struct:
		plan := planOf(t, w.names)
		if len(plan) == 0 && t.NumField() > 0 {
			// Either no member is named (the walker gives nil too) or the
			// plan is marked slow; let the walker decide.
			return dst, false, errSlow
		}
		start := len(dst)
		dst = append(dst, '{')
		n := 0
		for i := range plan {
			f := &plan[i]
			fv := v.Field(f.index)
			if fv.IsZero() {
				continue
			}
			mark := len(dst)
			if n > 0 {
				dst = append(dst, ',')
			}
			switch w.m[f.name] {
			case Omit:
				dst = dst[:mark]
				continue
			case Hide:
				dst = append(dst, f.key...)
				dst = append(dst, `"`+Hidden+`"`...)
			case Verbatim:
				dst = append(dst, f.key...)
				var err error
				if dst, err = appendVerbatim(dst, fv); err != nil {
					return dst, false, err
				}
			case Record:
				dst = append(dst, f.key...)
				var ok bool
				var err error
				if dst, ok, err = w.value(dst, fv, false); err != nil {
					return dst, false, err
				} else if !ok {
					dst = dst[:mark]
					continue
				}
			case Additional:
				if w.wantExtra && top {
					if w.inExtra {
						// An Additional member inside one: the walker
						// interleaves them, which this encoder does not.
						return dst, false, errSlow
					}
					dst = dst[:mark]
					if len(w.extra) > 0 {
						w.extra = append(w.extra, ',')
					} else {
						w.extra = append(w.extra, '{')
					}
					w.extra = append(w.extra, f.key...)
					var ok bool
					var err error
					w.inExtra = true
					w.extra, ok, err = w.value(w.extra, fv, top)
					w.inExtra = false
					if err != nil {
						return dst, false, err
					} else if !ok {
						w.extra = append(w.extra, "null"...)
					}
					continue
				}
				dst = append(dst, f.key...)
				var ok bool
				var err error
				if dst, ok, err = w.value(dst, fv, top); err != nil {
					return dst, false, err
				} else if !ok {
					dst = dst[:mark]
					continue
				}
			default:
				return dst, false, errSlow
			}
			n++
		}
		if n == 0 {
			return dst[:start], false, nil
		}
		return append(dst, '}'), true, nil
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			dst = append(dst, `{"length":`...)
			return append(strconv.AppendInt(dst, int64(v.Len()), 10), '}'), true, nil
		}
		dst = append(dst, '[')
		for i := 0; i < v.Len(); i++ {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			var err error
			if dst, ok, err = w.value(dst, v.Index(i), top); err != nil {
				return dst, false, err
			} else if !ok {
				dst = append(dst, "null"...)
			}
		}
		return append(dst, ']'), true, nil
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return dst, false, errSlow
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(audit.AppendJSONString(dst, k.String()), ':')
			var ok bool
			var err error
			if dst, ok, err = w.value(dst, v.MapIndex(k), top); err != nil {
				return dst, false, err
			} else if !ok {
				dst = append(dst, "null"...)
			}
		}
		return append(dst, '}'), true, nil
	case reflect.String:
		return audit.AppendJSONString(dst, v.String()), true, nil
	case reflect.Bool:
		return strconv.AppendBool(dst, v.Bool()), true, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.AppendInt(dst, v.Int(), 10), true, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.AppendUint(dst, v.Uint(), 10), true, nil
	}
	return dst, false, errSlow
}

// appendVerbatim appends a Verbatim member as json.Marshal writes it.
func appendVerbatim(dst []byte, v reflect.Value) ([]byte, error) {
	if m, ok := v.Interface().(map[string]string); ok && m != nil {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(audit.AppendJSONString(dst, k), ':')
			dst = audit.AppendJSONString(dst, m[k])
		}
		return append(dst, '}'), nil
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return dst, errSlow
	}
	return append(dst, b...), nil
}

// redactFast is redact without the intermediate maps; errSlow means the
// value needs redactSlow.
func (q *Request) redactFast(v any, names Names, extra bool) (json.RawMessage, json.RawMessage, error) {
	w := encoder{m: q.view.Members, names: names, wantExtra: extra}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
		if rv.IsNil() {
			return json.RawMessage("null"), nil, nil
		}
		rv = rv.Elem()
	}
	var main json.RawMessage = json.RawMessage("null")
	if rv.Kind() != reflect.Struct || rv.Type() == timeType {
		return nil, nil, errSlow
	}
	b, ok, err := w.value(make([]byte, 0, 256), rv, true)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		main = b
	}
	var add json.RawMessage
	if len(w.extra) > 0 {
		add = append(w.extra, '}')
	}
	return main, add, nil
}
