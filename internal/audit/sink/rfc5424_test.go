package sink

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// parse5424 checks msg against RFC 5424 §6's ABNF and returns its fields.
// It is written from the grammar, independently of AppendFormat:
//
//	SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]
//	HEADER     = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
//	PRI        = "<" PRIVAL ">"  ; PRIVAL 1*3DIGIT, 0-191
//	VERSION    = NONZERO-DIGIT 0*2DIGIT
//	HOSTNAME   = NILVALUE / 1*255PRINTUSASCII  (APP-NAME 48, PROCID 128, MSGID 32)
//	TIMESTAMP  = NILVALUE / FULL-DATE "T" FULL-TIME  ; TIME-SECFRAC 1*6DIGIT
//	SD-ELEMENT = "[" SD-ID *(SP SD-PARAM) "]"; SD-PARAM = PARAM-NAME "=" %d34 PARAM-VALUE %d34
//	SD-NAME    = 1*32PRINTUSASCII except '=', SP, ']', %d34
//	PARAM-VALUE = UTF-8-STRING with '"', '\' and ']' escaped
//	MSG        = MSG-ANY / MSG-UTF8 ; MSG-UTF8 = BOM UTF-8-STRING
func parse5424(msg []byte) (map[string]string, error) {
	out := map[string]string{}
	s := string(msg)
	hdr := regexp.MustCompile(`^<([0-9]{1,3})>([1-9][0-9]{0,2}) (-|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})) ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) `)
	m := hdr.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("header does not match: %q", s[:min(len(s), 120)])
	}
	if p, _ := strconv.Atoi(m[1]); p > 191 || (len(m[1]) > 1 && m[1][0] == '0') {
		return nil, fmt.Errorf("PRIVAL %s out of range", m[1])
	}
	if m[3] != "-" {
		if _, err := time.Parse(time.RFC3339Nano, m[3]); err != nil {
			return nil, fmt.Errorf("TIMESTAMP %q: %v", m[3], err)
		}
	}
	out["pri"], out["version"], out["timestamp"], out["hostname"], out["app"], out["procid"], out["msgid"] = m[1], m[2], m[3], m[6], m[7], m[8], m[9]
	rest := s[len(m[0]):]
	// STRUCTURED-DATA
	if strings.HasPrefix(rest, "-") {
		out["sd"] = "-"
		rest = rest[1:]
	} else {
		sdName := `[!#-<>-\\^-~]{1,32}` // PRINTUSASCII minus '"' (34), '=' (61), ']' (93)
		elem := regexp.MustCompile(`^\[` + `([!#-<>-\\^-~]+)` + `((?: ` + sdName + `="(?:[^"\\\]]|\\["\\\]])*")*)\]`)
		n := 0
		for strings.HasPrefix(rest, "[") {
			em := elem.FindStringSubmatch(rest)
			if em == nil {
				return nil, fmt.Errorf("SD-ELEMENT does not match: %q", rest[:min(len(rest), 80)])
			}
			id := em[1]
			name, _, hasAt := strings.Cut(id, "@")
			if len(name) > 32 || (!hasAt && len(id) > 32) {
				return nil, fmt.Errorf("SD-ID %q too long", id)
			}
			out["sd"] += em[0]
			rest = rest[len(em[0]):]
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("no STRUCTURED-DATA")
		}
	}
	if rest == "" {
		return out, nil
	}
	if rest[0] != ' ' {
		return nil, fmt.Errorf("no SP before MSG: %q", rest[:min(len(rest), 40)])
	}
	body := []byte(rest[1:])
	if bytes.HasPrefix(body, []byte{0xEF, 0xBB, 0xBF}) {
		if !utf8.Valid(body[3:]) {
			return nil, fmt.Errorf("MSG-UTF8 is not UTF-8")
		}
		body = body[3:]
	}
	out["msg"] = string(body)
	return out, nil
}

func TestRFC5424Format(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 12, 3, 18, 4, 5, 123456789, time.FixedZone("X", 3600))
	cases := []struct {
		name string
		m    Message
		want map[string]string // fields that must be exactly this
		raw  string            // exact output, if set
	}{
		{"typical", Message{Facility: 13, Severity: 5, Timestamp: ts, Hostname: "host1", AppName: "arca", ProcID: "42", MsgID: "Encrypt",
			Data: []SDElement{{ID: "arca@32473", Params: []SDParam{{"sequence", "7"}, {"eventID", "e-1"}}}}, Msg: []byte(`{"a":1}`)},
			nil, "<109>1 2026-12-03T17:04:05.123456Z host1 arca 42 Encrypt [arca@32473 sequence=\"7\" eventID=\"e-1\"] \ufeff{\"a\":1}"},
		{"nil values", Message{Facility: 0, Severity: 0}, nil, "<0>1 - - - - - -"},
		{"highest priority value", Message{Facility: 23, Severity: 7, Hostname: "h"}, map[string]string{"pri": "191"}, ""},
		{"out of range facility clamps", Message{Facility: 99, Severity: -3, Hostname: "h"}, map[string]string{"pri": "184"}, ""},
		{"spaces and non-ASCII in header fields", Message{Hostname: "my host", AppName: "app\tname", ProcID: "1 2", MsgID: "Größe"},
			map[string]string{"hostname": "my_host", "app": "app_name", "procid": "1_2", "msgid": "Gr____e"}, ""},
		{"long fields are cut", Message{Hostname: strings.Repeat("h", 300), AppName: strings.Repeat("a", 60), ProcID: strings.Repeat("p", 200), MsgID: strings.Repeat("m", 40)},
			map[string]string{"hostname": strings.Repeat("h", 255), "app": strings.Repeat("a", 48), "procid": strings.Repeat("p", 128), "msgid": strings.Repeat("m", 32)}, ""},
		{"param values are escaped", Message{Hostname: "h", Data: []SDElement{{ID: "x@1", Params: []SDParam{{"v", `a"b\c]d`}}}}},
			map[string]string{"sd": `[x@1 v="a\"b\\c\]d"]`}, ""},
		{"bad characters in SD names", Message{Hostname: "h", Data: []SDElement{{ID: "a b=c", Params: []SDParam{{"n=m]", "v"}, {"", "w"}}}}},
			map[string]string{"sd": `[a_b_c n_m_="v" _="w"]`}, ""},
		{"invalid UTF-8 in MSG is replaced", Message{Hostname: "h", Msg: []byte{'o', 0xff, 'k'}}, map[string]string{"msg": "o\uFFFDk"}, ""},
		{"several elements", Message{Hostname: "h", Data: []SDElement{{ID: "a@1"}, {ID: "b@2", Params: []SDParam{{"k", ""}}}}},
			map[string]string{"sd": `[a@1][b@2 k=""]`}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.m.AppendFormat(nil)
			if tc.raw != "" && string(got) != tc.raw {
				t.Errorf("got  %q\nwant %q", got, tc.raw)
			}
			fields, err := parse5424(got)
			if err != nil {
				t.Fatalf("%q is not RFC 5424: %v", got, err)
			}
			for k, v := range tc.want {
				if fields[k] != v {
					t.Errorf("%s = %q, want %q (message %q)", k, fields[k], v, got)
				}
			}
		})
	}
}

// The validator itself must reject what RFC 5424 forbids, or the table
// above proves nothing.
func TestRFC5424ValidatorRejects(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"<192>1 - - - - - -",         // PRIVAL > 191
		"<13>0 - - - - - -",          // VERSION 0
		"<13>1 - h\x01st - - - -",    // control character in HOSTNAME
		"<13>1 2026-13-45 - - - - -", // not a timestamp
		"<13>1 - h - - - [a b=c]",    // unquoted value
		"<13>1 - h - - - [a b=\"c]",  // unterminated value
		"<13>1 - h - - - [a b=\"]\"]",
		"<13>1 - h - - " + strings.Repeat("m", 33) + " -",
		"<13>1 - h - - - -msg", // no SP before MSG
	} {
		if _, err := parse5424([]byte(bad)); err == nil {
			t.Errorf("validator accepted %q", bad)
		}
	}
}

func TestSyslogFormatOfEvents(t *testing.T) {
	t.Parallel()
	s, err := NewSyslog(SyslogOptions{Network: "udp", Address: "127.0.0.1:9", Hostname: "arca-1"})
	if err != nil {
		t.Fatal(err)
	}
	ok := s.Format(Record{Seq: 12, Line: []byte(`{"eventTime":"2026-12-03T10:00:00Z","eventName":"Decrypt","eventID":"abc"}`)})
	f, err := parse5424(ok)
	if err != nil {
		t.Fatal(err)
	}
	if f["pri"] != "109" || f["msgid"] != "Decrypt" || f["timestamp"] != "2026-12-03T10:00:00.000000Z" || f["sd"] != `[arca@32473 sequence="12" eventID="abc"]` || f["app"] != "arca" {
		t.Errorf("fields = %v", f)
	}
	failed := s.Format(Record{Seq: 13, Line: []byte(`{"eventName":"Decrypt","errorCode":"AccessDeniedException"}`)})
	if f, _ := parse5424(failed); f["pri"] != "108" || f["timestamp"] != "-" {
		t.Errorf("failed call: %v", f)
	}
	huge := s.Format(Record{Seq: 14, Line: []byte(`{"eventName":"X","eventID":"big","requestParameters":"` + strings.Repeat("x", 70000) + `"}`)})
	if f, err := parse5424(huge); err != nil || len(huge) > maxDatagram || !strings.Contains(f["msg"], `"arcaSequence":14`) {
		t.Errorf("oversized datagram: %d bytes, %v", len(huge), err)
	}
}
