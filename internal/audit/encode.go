package audit

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// appendEvent appends e's encoding, byte for byte what json.Marshal(e)
// writes (the hash chain and Verify depend on that: Verify re-encodes
// parsed lines with encoding/json). It exists because every request's event
// is encoded once on the request path, and encoding/json's reflection and
// raw-message compaction were a large part of the audit log's cost.
// encode_test.go holds it to json.Marshal with a table and a fuzz test.
//
// A raw message that is not already compact, HTML-escaped JSON goes
// through encoding/json, which compacts it or reports it invalid (the
// error is json.Marshal's).
func appendEvent(dst []byte, e *Event) ([]byte, error) {
	dst, err := appendEventBody(dst, e)
	if err != nil {
		return dst, err
	}
	return appendChain(dst, e.Sequence, e.PreviousHash, e.Hash), nil
}

// appendEventBody appends e's encoding up to its chain fields (the last
// three), ending with the comma before "arcaSequence".
func appendEventBody(dst []byte, e *Event) ([]byte, error) {
	var err error
	dst = append(dst, `{"eventVersion":`...)
	dst = appendString(dst, e.EventVersion)
	dst = append(dst, `,"userIdentity":`...)
	dst = appendUserIdentity(dst, &e.UserIdentity)
	dst = append(dst, `,"eventTime":`...)
	dst = appendString(dst, e.EventTime)
	dst = append(dst, `,"eventSource":`...)
	dst = appendString(dst, e.EventSource)
	dst = append(dst, `,"eventName":`...)
	dst = appendString(dst, e.EventName)
	dst = append(dst, `,"awsRegion":`...)
	dst = appendString(dst, e.AWSRegion)
	dst = append(dst, `,"sourceIPAddress":`...)
	dst = appendString(dst, e.SourceIPAddress)
	dst = append(dst, `,"userAgent":`...)
	dst = appendString(dst, e.UserAgent)
	if e.ErrorCode != "" {
		dst = append(dst, `,"errorCode":`...)
		dst = appendString(dst, e.ErrorCode)
	}
	if e.ErrorMessage != "" {
		dst = append(dst, `,"errorMessage":`...)
		dst = appendString(dst, e.ErrorMessage)
	}
	dst = append(dst, `,"requestParameters":`...)
	if dst, err = appendRaw(dst, e.RequestParameters); err != nil {
		return dst, err
	}
	dst = append(dst, `,"responseElements":`...)
	if dst, err = appendRaw(dst, e.ResponseElements); err != nil {
		return dst, err
	}
	if len(e.AdditionalEventData) > 0 {
		dst = append(dst, `,"additionalEventData":`...)
		if dst, err = appendRaw(dst, e.AdditionalEventData); err != nil {
			return dst, err
		}
	}
	dst = append(dst, `,"requestID":`...)
	dst = appendString(dst, e.RequestID)
	dst = append(dst, `,"eventID":`...)
	dst = appendString(dst, e.EventID)
	dst = append(dst, `,"readOnly":`...)
	dst = strconv.AppendBool(dst, e.ReadOnly)
	if len(e.Resources) > 0 {
		dst = append(dst, `,"resources":[`...)
		for i := range e.Resources {
			if i > 0 {
				dst = append(dst, ',')
			}
			r := &e.Resources[i]
			dst = append(dst, `{"ARN":`...)
			dst = appendString(dst, r.ARN)
			if r.AccountID != "" {
				dst = append(dst, `,"accountId":`...)
				dst = appendString(dst, r.AccountID)
			}
			if r.Type != "" {
				dst = append(dst, `,"type":`...)
				dst = appendString(dst, r.Type)
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	dst = append(dst, `,"eventType":`...)
	dst = appendString(dst, e.EventType)
	dst = append(dst, `,"managementEvent":`...)
	dst = strconv.AppendBool(dst, e.ManagementEvent)
	if e.RecipientAccountID != "" {
		dst = append(dst, `,"recipientAccountId":`...)
		dst = appendString(dst, e.RecipientAccountID)
	}
	dst = append(dst, `,"eventCategory":`...)
	dst = appendString(dst, e.EventCategory)
	if e.NodeID != "" {
		dst = append(dst, `,"arcaNodeId":`...)
		dst = appendString(dst, e.NodeID)
	}
	dst = append(dst, ',')
	return dst, nil
}

// appendChain appends the chain fields and the closing brace.
func appendChain(dst []byte, seq uint64, prev, hash string) []byte {
	dst = append(dst, `"arcaSequence":`...)
	dst = strconv.AppendUint(dst, seq, 10)
	dst = append(dst, `,"arcaPreviousHash":`...)
	dst = appendString(dst, prev)
	dst = append(dst, `,"arcaHash":`...)
	dst = appendString(dst, hash)
	return append(dst, '}')
}

func appendUserIdentity(dst []byte, u *UserIdentity) []byte {
	dst = append(dst, '{')
	first := true
	field := func(name, v string) {
		if v == "" {
			return
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, name...)
		dst = append(dst, `":`...)
		dst = appendString(dst, v)
	}
	field("type", u.Type)
	field("principalId", u.PrincipalID)
	field("arn", u.ARN)
	field("accountId", u.AccountID)
	field("accessKeyId", u.AccessKeyID)
	field("userName", u.UserName)
	if sc := u.SessionContext; sc != nil {
		if !first {
			dst = append(dst, ',')
		}
		dst = append(dst, `"sessionContext":{`...)
		if si := sc.SessionIssuer; si != nil {
			dst = append(dst, `"sessionIssuer":{"type":`...)
			dst = appendString(dst, si.Type)
			dst = append(dst, `,"principalId":`...)
			dst = appendString(dst, si.PrincipalID)
			dst = append(dst, `,"arn":`...)
			dst = appendString(dst, si.ARN)
			dst = append(dst, `,"accountId":`...)
			dst = appendString(dst, si.AccountID)
			dst = append(dst, `,"userName":`...)
			dst = appendString(dst, si.UserName)
			dst = append(dst, "},"...)
		}
		dst = append(dst, `"attributes":{`...)
		if sc.Attributes.CreationDate != "" {
			dst = append(dst, `"creationDate":`...)
			dst = appendString(dst, sc.Attributes.CreationDate)
			dst = append(dst, ',')
		}
		dst = append(dst, `"mfaAuthenticated":`...)
		dst = appendString(dst, sc.Attributes.MFAAuthenticated)
		dst = append(dst, '}')
		if sc.SourceIdentity != "" {
			dst = append(dst, `,"sourceIdentity":`...)
			dst = appendString(dst, sc.SourceIdentity)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendRaw appends a raw JSON value as encoding/json does: nil is null;
// anything else is compacted and HTML-escaped, and must be valid. Values
// that are already compact and need no escaping (what json.Marshal makes,
// as the transports do) are copied after validation.
func appendRaw(dst []byte, raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return append(dst, "null"...), nil
	}
	if rawVerbatim(raw) && json.Valid(raw) {
		return append(dst, raw...), nil
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// rawVerbatim reports whether raw holds none of the bytes encoding/json's
// compaction could change: whitespace (insignificant outside strings, kept
// inside; either way the slow path decides), <, > and &, and the first byte
// of U+2028 and U+2029.
func rawVerbatim(raw []byte) bool {
	for _, c := range raw {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2:
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// appendString is encoding/json's string encoding with HTML escaping (as
// json.Marshal does it): <, > and & as \u003c..., control characters as
// \b \f \n \r \t or \u00XX, invalid UTF-8 as \ufffd, and U+2028 and U+2029
// escaped.
// plainASCII marks the ASCII bytes a JSON string holds as they are (the
// test per byte of appendString's loop, where events spend most of their
// encoding time).
var plainASCII = func() (t [utf8.RuneSelf]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return t
}()

func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if plainASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendJSONString appends s as json.Marshal encodes a string (HTML
// characters, U+2028, U+2029 and invalid UTF-8 escaped), for callers that
// build event members without encoding/json's reflection.
func AppendJSONString(dst []byte, s string) []byte { return appendString(dst, s) }
