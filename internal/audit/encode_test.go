package audit

import (
	"bytes"
	"encoding/json"
	"testing"
)

// checkEncoding fails t unless appendEvent writes what json.Marshal writes
// for e, or fails where it fails.
func checkEncoding(t *testing.T, e *Event) {
	t.Helper()
	want, werr := json.Marshal(e)
	got, gerr := appendEvent([]byte("prefix"), e)
	if (werr != nil) != (gerr != nil) {
		t.Fatalf("json.Marshal error %v, appendEvent error %v\nevent %#v", werr, gerr, e)
	}
	if werr != nil {
		return
	}
	if !bytes.Equal(got[len("prefix"):], want) {
		t.Fatalf("encoding differs from json.Marshal:\n got %s\nwant %s", got[len("prefix"):], want)
	}
}

func TestAppendEventMatchesJSON(t *testing.T) {
	full := Event{
		EventVersion: EventVersion,
		UserIdentity: UserIdentity{Type: "AssumedRole", PrincipalID: "AROA:s", ARN: "arn:aws:sts::1:assumed-role/r/s", AccountID: "1",
			AccessKeyID: "ASIA", UserName: "u", SessionContext: &SessionContext{
				SessionIssuer:  &SessionIssuer{Type: "Role", PrincipalID: "AROA", ARN: "arn:aws:iam::1:role/r", AccountID: "1", UserName: "r"},
				Attributes:     SessionAttributes{CreationDate: "2026-01-01T00:00:00Z", MFAAuthenticated: "false"},
				SourceIdentity: "me"}},
		EventTime: "2026-12-03T18:00:00Z", EventSource: "kms.amazonaws.com", EventName: "Encrypt", AWSRegion: "us-east-1",
		SourceIPAddress: "127.0.0.1", UserAgent: "aws-sdk-go-v2/1.0 os/linux", ErrorCode: "NotFoundException", ErrorMessage: "Key 'x' does not exist",
		RequestParameters:   json.RawMessage(`{"keyId":"k","encryptionContext":{"a":"b"}}`),
		ResponseElements:    json.RawMessage(`null`),
		AdditionalEventData: json.RawMessage(`{"keyMaterialId":"abc"}`),
		RequestID:           "r", EventID: "e", ReadOnly: true,
		Resources: []Resource{{ARN: "arn:a", AccountID: "1", Type: "AWS::KMS::Key"}, {ARN: "arn:b"}},
		EventType: "AwsApiCall", ManagementEvent: true, RecipientAccountID: "1", EventCategory: "Management", NodeID: "node-a",
		Sequence: 18446744073709551615, PreviousHash: ZeroHash, Hash: "ab",
	}
	cases := map[string]func(e *Event){
		"full":                    func(e *Event) {},
		"zero":                    func(e *Event) { *e = Event{} },
		"no session issuer":       func(e *Event) { e.UserIdentity.SessionContext.SessionIssuer = nil },
		"no session context":      func(e *Event) { e.UserIdentity.SessionContext = nil },
		"only session context":    func(e *Event) { e.UserIdentity = UserIdentity{SessionContext: &SessionContext{}} },
		"empty resources":         func(e *Event) { e.Resources = []Resource{} },
		"empty resource":          func(e *Event) { e.Resources = []Resource{{}} },
		"html in strings":         func(e *Event) { e.UserAgent = `<script>&"\'</script>`; e.ErrorMessage = "a\u2028b\u2029c" },
		"control characters":      func(e *Event) { e.EventName = "\x00\x01\b\f\n\r\t\x1f\x7f" },
		"invalid utf-8":           func(e *Event) { e.UserAgent = "a\xff\xfeb\xe2\x80" },
		"non-ascii":               func(e *Event) { e.ErrorMessage = "clé 鍵 🔑 \u2027\u202a" },
		"raw with spaces":         func(e *Event) { e.RequestParameters = json.RawMessage(" { \"a\" : [ 1 , \"b c\" ] }\n") },
		"raw with html":           func(e *Event) { e.RequestParameters = json.RawMessage(`{"a":"<&>"}`) },
		"raw with separators":     func(e *Event) { e.ResponseElements = json.RawMessage("\"\u2028\u2029\xe2\"") },
		"raw invalid":             func(e *Event) { e.RequestParameters = json.RawMessage(`{"a":`) },
		"raw empty non-nil":       func(e *Event) { e.RequestParameters = json.RawMessage{} },
		"raw nil":                 func(e *Event) { e.RequestParameters, e.ResponseElements = nil, nil },
		"raw two values":          func(e *Event) { e.ResponseElements = json.RawMessage(`1 2`) },
		"raw trailing garbage":    func(e *Event) { e.ResponseElements = json.RawMessage(`{}x`) },
		"raw control in string":   func(e *Event) { e.ResponseElements = json.RawMessage("\"\x01\"") },
		"raw invalid utf-8":       func(e *Event) { e.ResponseElements = json.RawMessage("\"\xff\"") },
		"additional empty":        func(e *Event) { e.AdditionalEventData = json.RawMessage{} },
		"additional invalid":      func(e *Event) { e.AdditionalEventData = json.RawMessage(`nul`) },
		"chain fields not a hash": func(e *Event) { e.PreviousHash, e.Hash = `"<x>"`, "\xff" },
		"no node id":              func(e *Event) { e.NodeID = "" },
		"node id escaped":         func(e *Event) { e.NodeID = "<\u2028\xff>" },
		"false and zero": func(e *Event) {
			e.ReadOnly, e.ManagementEvent, e.Sequence = false, false, 0
		},
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			e := full
			ui := full.UserIdentity
			sc := *full.UserIdentity.SessionContext
			si := *sc.SessionIssuer
			sc.SessionIssuer = &si
			ui.SessionContext = &sc
			e.UserIdentity = ui
			mod(&e)
			checkEncoding(t, &e)
		})
	}
}

// FuzzAppendEvent holds appendEvent to json.Marshal for arbitrary field
// values; flags choose which optional parts are present.
func FuzzAppendEvent(f *testing.F) {
	f.Add("Encrypt", "aws-sdk-go/1.0", "arn:aws:kms:us-east-1:1:key/k", "", []byte(`{"keyId":"k"}`), []byte(`null`), []byte(nil), uint64(7), uint8(0xff))
	f.Add("<&>", "\u2028\u2029", "\xff\x00", "\"\\", []byte(" {\"a\" : 1 }"), []byte(`"<>"`), []byte(`{`), uint64(0), uint8(0))
	f.Fuzz(func(t *testing.T, s1, s2, s3, s4 string, raw1, raw2, raw3 []byte, seq uint64, flags uint8) {
		e := Event{
			EventVersion: s1, EventTime: s2, EventSource: s3, EventName: s4, AWSRegion: s1, SourceIPAddress: s2,
			UserAgent: s3, ErrorCode: s4, ErrorMessage: s1, RequestID: s2, EventID: s3, EventType: s4,
			RecipientAccountID: s1, EventCategory: s2, NodeID: s3, Sequence: seq, PreviousHash: s3, Hash: s4,
			ReadOnly: flags&1 != 0, ManagementEvent: flags&2 != 0,
			UserIdentity: UserIdentity{Type: s1, PrincipalID: s2, ARN: s3, AccountID: s4, AccessKeyID: s1, UserName: s2},
		}
		if flags&4 != 0 {
			e.RequestParameters = raw1
		}
		if flags&8 != 0 {
			e.ResponseElements = raw2
		}
		if flags&16 != 0 {
			e.AdditionalEventData = raw3
		}
		if flags&32 != 0 {
			e.Resources = []Resource{{ARN: s1, AccountID: s2, Type: s3}, {ARN: s4}}
		}
		if flags&64 != 0 {
			e.UserIdentity.SessionContext = &SessionContext{Attributes: SessionAttributes{CreationDate: s3, MFAAuthenticated: s4}, SourceIdentity: s1}
		}
		if flags&128 != 0 && e.UserIdentity.SessionContext != nil {
			e.UserIdentity.SessionContext.SessionIssuer = &SessionIssuer{Type: s1, PrincipalID: s2, ARN: s3, AccountID: s4, UserName: s1}
		}
		checkEncoding(t, &e)
	})
}
