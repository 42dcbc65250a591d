// Package auditrec turns one API request, as a transport sees it, into one
// CloudTrail-shaped audit event, and keeps the audit log's fail-closed
// contract for every transport the same way.
//
// What an event may say about a request is decided by a View: for every AWS
// member name (at any depth of an operation's input and output) a Class
// says whether it is recorded, hidden or left out. A member the view does
// not name is hidden ("HIDDEN_DUE_TO_SECURITY_REASONS", as CloudTrail
// writes it), so a field added to an operation later can never leak into
// the log by default; each transport's tests check that every member of
// every operation is classified on purpose.
//
// The transports stay free of storage: they hand finished events to a
// Recorder, which the server connects to the concrete log.
package auditrec

import (
	"context"
	"encoding"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/transport/httpreq"
)

// Recorder makes events durable; *audit.Log implements it. Append returns
// only once the event is durable, or an error if it is not.
type Recorder interface {
	Append(ctx context.Context, ev *audit.Event) error
}

// Class says what an event records of one member.
type Class uint8

// Member classes.
const (
	// Hide records the member's presence as HIDDEN_DUE_TO_SECURITY_REASONS,
	// never its value. It is the class of every member a view does not name.
	Hide Class = iota
	// Record records the value; its own members are classified in turn.
	Record
	// Verbatim records the value as it is, keys included: for maps whose
	// keys are the caller's own (encryption contexts).
	Verbatim
	// Omit leaves the member out, as CloudTrail does for blobs that are
	// not secret but carry nothing an auditor reads (ciphertexts, tokens).
	Omit
	// Additional records the value of an output member in
	// additionalEventData instead of responseElements (KMS's keyMaterialId).
	Additional
)

// Hidden is what a hidden member's value is replaced with.
const Hidden = "HIDDEN_DUE_TO_SECURITY_REASONS"

// View is what an audit event may say about one service's operations.
type View struct {
	// EventSource is CloudTrail's eventSource, e.g. "kms.amazonaws.com".
	EventSource string
	// Members classifies AWS member names, at any depth.
	Members map[string]Class
	// ReadOnly lists operations that change nothing (CloudTrail's readOnly)
	// besides those named Get*, List*, Describe* and Lookup*. The response
	// of a read-only operation is not recorded (responseElements is null,
	// as CloudTrail has it), and a read-only operation needs no intent
	// record before it runs.
	ReadOnly map[string]bool
	// Resources names the resources an event touched, from the caller and
	// the operation's input and output (either may be nil).
	Resources func(c *auth.Caller, in, out any) []audit.Resource
}

// IsReadOnly reports whether op changes nothing.
func (v *View) IsReadOnly(op string) bool {
	if v.ReadOnly[op] {
		return true
	}
	for _, p := range []string{"Get", "List", "Describe", "Lookup"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

// DefaultView is the view of a service that has none: every member hidden.
func DefaultView(signingName string) *View {
	return &View{EventSource: signingName + ".amazonaws.com"}
}

// Names says how a transport names struct fields on the wire: by json tag
// (AWS JSON) or by query/xml tag (AWS Query).
type Names func(f reflect.StructField) string

// JSONName names a field by its json tag, or its Go name.
func JSONName(f reflect.StructField) string { return tagName(f, "json") }

// QueryName names a field by its query tag, then its xml tag, then its Go
// name (the AWS Query transport decodes by the first and encodes by the
// second; the member names are the same).
func QueryName(f reflect.StructField) string {
	if n := tagName(f, "query"); n != f.Name {
		return n
	}
	return tagName(f, "xml")
}

func tagName(f reflect.StructField, key string) string {
	tag, ok := f.Tag.Lookup(key)
	if !ok {
		return f.Name
	}
	name, _, _ := strings.Cut(tag, ",")
	if name == "" {
		return f.Name
	}
	return name
}

// ErrUnavailable is what a request gets when its event cannot be made
// durable; the transport answers with the service's internal-error shape.
var ErrUnavailable = errors.New("auditrec: the audit log cannot record requests")

// Auditor records the requests of one transport. A nil *Auditor records
// nothing (audit switched off).
type Auditor struct {
	rec Recorder
	// Operator is the account that sees events no account owns
	// (requests that were never authenticated).
	Operator string
	// failed latches once an operation may have changed state without its
	// outcome being recorded: from then on every request is refused.
	failed atomic.Bool
	now    func() time.Time
}

// New returns an Auditor that appends to rec; operator owns unattributed
// events.
func New(rec Recorder, operator string) *Auditor {
	return &Auditor{rec: rec, Operator: operator, now: time.Now}
}

// Failed reports whether the auditor has stopped accepting requests.
func (a *Auditor) Failed() bool { return a != nil && a.failed.Load() }

// Request is one request being recorded.
type Request struct {
	a      *Auditor
	view   *View
	names  Names
	outNms Names
	ev     audit.Event
	caller *auth.Caller
	op     string
	in     any
	out    any
	// intent is set once an intent record for a mutating operation is
	// durable.
	intent bool
}

type ctxKey struct{}

// Begin starts recording a request. It is nil (and every method a no-op)
// when a is nil.
func (a *Auditor) Begin(r *http.Request, reqID, sourceIP string) *Request {
	if a == nil {
		return nil
	}
	q := &Request{a: a}
	q.ev = audit.Event{
		EventTime:       a.now().UTC().Format(time.RFC3339),
		SourceIPAddress: sourceIP,
		UserAgent:       r.UserAgent(),
		RequestID:       reqID,
		EventID:         NewEventID(),
		EventType:       "AwsApiCall",
		ManagementEvent: true,
		EventCategory:   "Management",
	}
	if akid := accessKeyOf(r); akid != "" {
		q.ev.UserIdentity = audit.UserIdentity{Type: "Unknown", AccessKeyID: akid}
	}
	return q
}

// WithContext returns ctx carrying q, for the operation wrappers.
func (q *Request) WithContext(ctx context.Context) context.Context {
	if q == nil {
		return ctx
	}
	return context.WithValue(ctx, ctxKey{}, q)
}

// Service names the service and operation once the transport knows them.
// in and out name the struct fields of inputs and outputs.
func (q *Request) Service(v *View, signingName, op string, in, out Names) {
	if q == nil {
		return
	}
	if v == nil {
		v = DefaultView(signingName)
	}
	q.view, q.op, q.names, q.outNms = v, op, in, out
	q.ev.EventSource, q.ev.EventName = v.EventSource, op
	q.ev.ReadOnly = v.IsReadOnly(op)
}

// Region sets the event's region before the caller is known.
func (q *Request) Region(region string) {
	if q != nil {
		q.ev.AWSRegion = region
	}
}

// Anonymous sets the identity type of a request served without a
// signature (STS AssumeRoleWithWebIdentity: "WebIdentityUser").
func (q *Request) Anonymous(typ string) {
	if q != nil {
		q.ev.UserIdentity = audit.UserIdentity{Type: typ}
	}
}

// Caller sets who made the request.
func (q *Request) Caller(c *auth.Caller) {
	if q == nil {
		return
	}
	q.caller = c
	q.ev.AWSRegion = c.Region
	q.ev.UserIdentity = Identity(&c.Principal)
	q.ev.RecipientAccountID = c.Account
}

// Decoded is called by an operation wrapper with the decoded input, just
// before the operation runs. For an operation that may change state it
// first makes an intent record durable, so that a change is never made
// without a trace even if its outcome then cannot be recorded; if that
// fails the operation must not run.
func Decoded(ctx context.Context, in any) error {
	q, _ := ctx.Value(ctxKey{}).(*Request)
	if q == nil {
		return nil
	}
	q.in = in
	if q.view == nil || q.ev.ReadOnly {
		return nil
	}
	if q.a.failed.Load() {
		return ErrUnavailable
	}
	intent := q.ev
	intent.EventType = "ArcaIntent"
	intent.EventID = NewEventID()
	intent.RequestParameters = q.params()
	intent.ResponseElements = json.RawMessage("null")
	if err := q.a.rec.Append(ctx, &intent); err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	q.intent = true
	return nil
}

// Result is called by an operation wrapper with the operation's output.
func Result(ctx context.Context, out any) {
	if q, _ := ctx.Value(ctxKey{}).(*Request); q != nil {
		q.out = out
	}
}

// Refuse reports whether the request must be refused before it runs: the
// auditor has latched after an unrecorded outcome.
func (q *Request) Refuse() error {
	if q != nil && q.a.failed.Load() {
		return ErrUnavailable
	}
	return nil
}

// Finish records the request's outcome: errCode and errMsg are the wire
// error (empty on success). A non-nil result means the event is not
// durable: the transport must not send the operation's response and answer
// with its internal error instead. If the operation may have changed state
// the auditor latches and refuses every later request.
func (q *Request) Finish(ctx context.Context, errCode, errMsg string) error {
	if q == nil {
		return nil
	}
	ev := &q.ev
	ev.ErrorCode, ev.ErrorMessage = errCode, errMsg
	ev.RequestParameters = q.params()
	ev.ResponseElements = json.RawMessage("null")
	if q.view != nil {
		if errCode == "" && !ev.ReadOnly && q.out != nil {
			ev.ResponseElements, ev.AdditionalEventData = q.redact(q.out, q.outNms, true)
		} else if errCode == "" && q.out != nil && hasAdditional(q.view, q.out, q.outNms) {
			_, ev.AdditionalEventData = q.redact(q.out, q.outNms, true)
		}
		if q.view.Resources != nil && q.caller != nil {
			ev.Resources = q.view.Resources(q.caller, q.in, q.out)
		}
	}
	if ev.RecipientAccountID == "" {
		ev.RecipientAccountID = q.a.Operator
	}
	// The response waits for durability even if the client has gone, so
	// that what is recorded and what happened agree.
	err := q.a.rec.Append(context.WithoutCancel(ctx), ev)
	if err != nil && q.intent {
		q.a.failed.Store(true)
	}
	if err != nil {
		return errors.Join(ErrUnavailable, err)
	}
	return nil
}

func (q *Request) params() json.RawMessage {
	if q.in == nil || q.view == nil {
		return json.RawMessage("null")
	}
	p, _ := q.redact(q.in, q.names, false)
	return p
}

// redact renders v through the view; with extra, members of class
// Additional are returned separately.
func (q *Request) redact(v any, names Names, extra bool) (json.RawMessage, json.RawMessage) {
	if main, add, err := q.redactFast(v, names, extra); err == nil {
		return main, add
	}
	return q.redactSlow(v, names, extra)
}

// redactSlow is redact by walking v into maps and encoding those: the
// reference redactFast is held to, and its fallback.
func (q *Request) redactSlow(v any, names Names, extra bool) (json.RawMessage, json.RawMessage) {
	w := walker{m: q.view.Members, names: names, top: true}
	if extra {
		w.extra = map[string]any{}
	}
	r := w.value(reflect.ValueOf(v), Record)
	var main, add json.RawMessage = json.RawMessage("null"), nil
	if m, ok := r.(map[string]any); ok && len(m) > 0 {
		if b, err := json.Marshal(m); err == nil {
			main = b
		}
	}
	if len(w.extra) > 0 {
		add, _ = json.Marshal(w.extra)
	}
	return main, add
}

// walker renders typed values as the view allows.
type walker struct {
	m     map[string]Class
	names Names
	extra map[string]any
	top   bool // walking the outermost struct
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
	timeType      = reflect.TypeFor[time.Time]()
)

func (w *walker) value(v reflect.Value, depthClass Class) any {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	t := v.Type()
	if t == timeType {
		return v.Interface().(time.Time).UTC().Format(time.RFC3339)
	}
	if t.Kind() != reflect.Struct && (t.Implements(jsonMarshaler) || t.Implements(textMarshaler)) {
		return v.Interface()
	}
	switch t.Kind() {
	case reflect.Struct:
		if t.Implements(jsonMarshaler) {
			return v.Interface()
		}
		out := map[string]any{}
		top := w.top
		defer func() { w.top = top }()
		for i := 0; i < t.NumField(); i++ {
			w.top = top
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := w.names(f)
			if name == "-" {
				continue
			}
			fv := v.Field(i)
			if fv.IsZero() {
				continue
			}
			key := lowerFirst(name)
			switch w.m[name] {
			case Omit:
			case Hide:
				out[key] = Hidden
			case Verbatim:
				out[key] = fv.Interface()
			case Record:
				w.top = false
				if r := w.value(fv, Record); r != nil {
					out[key] = r
				}
			case Additional:
				// Only an output's own members go to additionalEventData;
				// elsewhere (inputs, nested lists) they are recorded.
				if w.extra != nil && w.top {
					w.extra[key] = w.value(fv, Record)
				} else if r := w.value(fv, Record); r != nil {
					out[key] = r
				}
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			// A blob whose member was classified Record: record its size,
			// never its bytes.
			return map[string]int{"length": v.Len()}
		}
		out := make([]any, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			out = append(out, w.value(v.Index(i), depthClass))
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			out[it.Key().String()] = w.value(it.Value(), depthClass)
		}
		return out
	}
	return v.Interface()
}

// lowerFirst spells a member as CloudTrail does: KeyId → keyId.
func lowerFirst(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError || unicode.IsLower(r) {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// Identity is CloudTrail's userIdentity of a principal.
func Identity(p *auth.Principal) audit.UserIdentity {
	u := audit.UserIdentity{Type: string(p.Type), PrincipalID: p.UserID, ARN: p.ARN, AccountID: p.Account,
		AccessKeyID: p.AccessKeyID, UserName: p.UserName}
	switch p.Type {
	case auth.Root:
		u.PrincipalID = p.Account
	case auth.AssumedRole:
		u.UserName = ""
		sc := &audit.SessionContext{Attributes: audit.SessionAttributes{MFAAuthenticated: "false"}, SourceIdentity: p.SourceIdentity}
		if p.SourceARN != "" {
			roleID, _, _ := strings.Cut(p.UserID, ":")
			name := p.SourceARN[strings.LastIndexByte(p.SourceARN, '/')+1:]
			sc.SessionIssuer = &audit.SessionIssuer{Type: "Role", PrincipalID: roleID, ARN: p.SourceARN, AccountID: p.Account, UserName: name}
		}
		u.SessionContext = sc
	default:
		if p.Temporary {
			u.SessionContext = &audit.SessionContext{Attributes: audit.SessionAttributes{MFAAuthenticated: "false"}}
		}
	}
	return u
}

// accessKeyOf reads the access key ID from a SigV4 Authorization header or
// presigned query, for events of requests that fail authentication.
func accessKeyOf(r *http.Request) string {
	cred := ""
	if h := r.Header.Get("Authorization"); h != "" {
		if i := strings.Index(h, "Credential="); i >= 0 {
			cred = h[i+len("Credential="):]
		}
	} else {
		cred = r.URL.Query().Get("X-Amz-Credential")
	}
	akid, _, _ := strings.Cut(cred, "/")
	if len(akid) > 128 {
		return ""
	}
	for _, c := range akid {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z') {
			return ""
		}
	}
	return akid
}

// NewEventID returns a random (version 4) UUID for an event's eventID,
// the same form as a request ID.
func NewEventID() string { return httpreq.NewRequestID() }

// Unclassified lists the member names reachable from t that m does not
// classify: the transports' tests call it for every operation's input and
// output type so that no member is hidden or recorded by accident.
func Unclassified(t reflect.Type, names Names, m map[string]Class) []string {
	var out []string
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] || t == timeType || t.Implements(jsonMarshaler) {
			return
		}
		seen[t] = true
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := names(f)
			if name == "-" {
				continue
			}
			c, ok := m[name]
			if !ok {
				out = append(out, t.Name()+"."+name)
				continue
			}
			if c == Record {
				walk(f.Type)
			}
		}
	}
	walk(t)
	return out
}

// fieldKey names one member of a struct type under one naming rule.
type fieldKey struct {
	t     reflect.Type
	names uintptr // the Names function's code pointer (JSONName, QueryName: top-level functions; closures with different captured state would share one)
	name  string
}

// fieldIndex caches fieldKey → the field's index (-1: none), so that the
// per-request lookups (Field, from every event's Resources) do not walk
// struct tags each time.
var fieldIndex sync.Map

func namesID(names Names) uintptr { return reflect.ValueOf(names).Pointer() }

func lookupField(t reflect.Type, names Names, name string) int {
	k := fieldKey{t, namesID(names), name}
	if i, ok := fieldIndex.Load(k); ok {
		return i.(int)
	}
	idx := -1
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && names(f) == name {
			idx = i
			break
		}
	}
	fieldIndex.Store(k, idx)
	return idx
}

// additionalKey is a view and an output type under one naming rule.
type additionalKey struct {
	v     *View
	t     reflect.Type
	names uintptr
}

// additionalCache caches hasAdditional's answers.
var additionalCache sync.Map

// hasAdditional reports whether out (an operation's output) has a member
// of class Additional, the only part of a read-only operation's output an
// event records: for the others Finish skips rendering the output at all.
func hasAdditional(v *View, out any, names Names) bool {
	t := reflect.TypeOf(out)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return true // not a struct: let redact decide
	}
	k := additionalKey{v, t, namesID(names)}
	if b, ok := additionalCache.Load(k); ok {
		return b.(bool)
	}
	has := false
	for i := 0; i < t.NumField(); i++ {
		if f := t.Field(i); f.IsExported() && v.Members[names(f)] == Additional {
			has = true
			break
		}
	}
	additionalCache.Store(k, has)
	return has
}

// Field returns the string member at path (wire names) of v, or "".
func Field(v any, names Names, path ...string) string {
	rv := reflect.ValueOf(v)
	for _, name := range path {
		for rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface {
			if rv.IsNil() {
				return ""
			}
			rv = rv.Elem()
		}
		if rv.Kind() != reflect.Struct {
			return ""
		}
		i := lookupField(rv.Type(), names, name)
		if i < 0 {
			return ""
		}
		rv = rv.Field(i)
	}
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return ""
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.String {
		return ""
	}
	return rv.String()
}
