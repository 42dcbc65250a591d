package sink

import (
	"strconv"
	"strings"
	"time"
)

// Message is one RFC 5424 syslog message. Go's log/syslog writes the older
// BSD format (RFC 3164), so Arca formats its own.
type Message struct {
	Facility, Severity int
	// Timestamp is written in UTC with microseconds; zero writes "-".
	Timestamp time.Time
	// Hostname, AppName, ProcID and MsgID are cleaned to printable
	// US-ASCII and cut to RFC 5424's lengths (255, 48, 128, 32); empty
	// writes "-".
	Hostname, AppName, ProcID, MsgID string
	// Data is the structured data; nil writes "-".
	Data []SDElement
	// Msg is the free-form message, UTF-8; it is written after a BOM.
	Msg []byte
}

// SDElement is one structured-data element, e.g. [arca@32473 seq="1"].
type SDElement struct {
	ID     string
	Params []SDParam
}

// SDParam is one structured-data parameter.
type SDParam struct{ Name, Value string }

// Syslog facilities and severities Arca uses (RFC 5424 §6.2.1).
const (
	FacilityLogAudit = 13
	SeverityWarning  = 4
	SeverityNotice   = 5
)

// AppendFormat appends the message in RFC 5424's SYSLOG-MSG form.
func (m *Message) AppendFormat(b []byte) []byte {
	pri := min(max(m.Facility, 0), 23)*8 + min(max(m.Severity, 0), 7)
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(pri), 10)
	b = append(b, ">1 "...)
	if m.Timestamp.IsZero() {
		b = append(b, '-')
	} else {
		b = m.Timestamp.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	}
	for _, f := range []struct {
		v string
		n int
	}{{m.Hostname, 255}, {m.AppName, 48}, {m.ProcID, 128}, {m.MsgID, 32}} {
		b = append(b, ' ')
		b = appendHeaderField(b, f.v, f.n)
	}
	b = append(b, ' ')
	if len(m.Data) == 0 {
		b = append(b, '-')
	}
	for _, e := range m.Data {
		b = append(b, '[')
		b = appendSDName(b, e.ID, true)
		for _, p := range e.Params {
			b = append(b, ' ')
			b = appendSDName(b, p.Name, false)
			b = append(b, '=', '"')
			for _, r := range p.Value {
				if r == '"' || r == '\\' || r == ']' {
					b = append(b, '\\')
				}
				b = append(b, string(r)...)
			}
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	if len(m.Msg) > 0 {
		b = append(b, ' ', 0xEF, 0xBB, 0xBF)
		b = append(b, strings.ToValidUTF8(string(m.Msg), "\uFFFD")...)
	}
	return b
}

// appendHeaderField writes 1*n PRINTUSASCII, or "-" for an empty value.
func appendHeaderField(b []byte, v string, n int) []byte {
	if v == "" {
		return append(b, '-')
	}
	for i := 0; i < len(v) && i < n; i++ {
		c := v[i]
		if c < 33 || c > 126 {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}

// appendSDName writes an SD-NAME: 1*32 PRINTUSASCII except '=', ' ', ']'
// and '"'. An SD-ID may also carry "@" (a private ID, NAME@PEN).
func appendSDName(b []byte, v string, id bool) []byte {
	if v == "" {
		return append(b, '_')
	}
	limit := 32
	if id {
		if at := strings.IndexByte(v, '@'); at >= 0 {
			limit = len(v)
		}
	}
	for i := 0; i < len(v) && i < limit; i++ {
		c := v[i]
		if c < 33 || c > 126 || c == '=' || c == ']' || c == '"' || (c == '@' && !id) {
			c = '_'
		}
		b = append(b, c)
	}
	return b
}
