package sink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Syslog sends each record as one RFC 5424 message: facility log audit (13)
// by default, severity notice, or warning for a failed call (errorCode
// set); TIMESTAMP the event's time, APP-NAME "arca", MSGID the event name,
// structured data [arca@32473 sequence="…" eventID="…"] and the event's
// JSON as MSG. Stream transports (tcp, tls, unix) use octet-counting
// framing (RFC 6587 §3.4.1; RFC 5425 for tls); datagram transports (udp,
// unixgram) send one message per datagram (RFC 5426).
//
// 32473 is the private enterprise number RFC 5612 reserves for examples;
// Arca has none of its own, and the SD-ID only keeps its parameters apart
// from registered ones.
type Syslog struct {
	network, addr string
	facility      int
	hostname      string
	procID        string
	timeout       time.Duration
	tls           *tls.Config

	conn net.Conn
}

// SyslogOptions configure a Syslog sink.
type SyslogOptions struct {
	// Network is tcp, tls (TCP with TLS, RFC 5425), udp, unix (stream)
	// or unixgram.
	Network string
	// TLS configures the tls network (nil: the system's roots, the
	// address's host name).
	TLS *tls.Config
	// Address is host:port, or a socket path.
	Address string
	// Facility is the RFC 5424 facility code 0-23 (default 13, log audit).
	Facility int
	// Hostname is the HOSTNAME field (default os.Hostname).
	Hostname string
	// Timeout bounds a connect and a write (default 10s).
	Timeout time.Duration
}

// maxDatagram bounds a UDP message; a larger event is sent as a stub
// naming it (its sequence and eventID), since a datagram that never fits
// would stop the sink for good.
const maxDatagram = 60000

// NewSyslog returns a Syslog sink; it connects on first delivery.
func NewSyslog(o SyslogOptions) (*Syslog, error) {
	switch o.Network {
	case "tcp", "tls", "udp", "unix", "unixgram":
	default:
		return nil, fmt.Errorf("syslog sink: network %q: want tcp, tls, udp, unix or unixgram", o.Network)
	}
	if o.Address == "" {
		return nil, fmt.Errorf("syslog sink: address must be set")
	}
	if o.Facility < 0 || o.Facility > 23 {
		return nil, fmt.Errorf("syslog sink: facility %d: want 0-23", o.Facility)
	}
	if o.Facility == 0 {
		o.Facility = FacilityLogAudit
	}
	if o.Hostname == "" {
		o.Hostname, _ = os.Hostname()
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	return &Syslog{network: o.Network, addr: o.Address, facility: o.Facility, hostname: o.Hostname,
		procID: strconv.Itoa(os.Getpid()), timeout: o.Timeout, tls: o.TLS}, nil
}

func (s *Syslog) stream() bool { return s.network != "udp" && s.network != "unixgram" }

// eventHead is what a syslog header needs from an event.
type eventHead struct {
	EventTime string `json:"eventTime"`
	EventName string `json:"eventName"`
	EventID   string `json:"eventID"`
	ErrorCode string `json:"errorCode"`
}

// Format returns the RFC 5424 message for rec.
func (s *Syslog) Format(rec Record) []byte {
	var h eventHead
	_ = json.Unmarshal(rec.Line, &h)
	m := Message{Facility: s.facility, Severity: SeverityNotice, Hostname: s.hostname, AppName: "arca",
		ProcID: s.procID, MsgID: h.EventName, Msg: rec.Line,
		Data: []SDElement{{ID: "arca@32473", Params: []SDParam{
			{"sequence", strconv.FormatUint(rec.Seq, 10)}, {"eventID", h.EventID}}}}}
	if t, err := time.Parse(time.RFC3339Nano, h.EventTime); err == nil {
		m.Timestamp = t
	}
	if h.ErrorCode != "" {
		m.Severity = SeverityWarning
	}
	out := m.AppendFormat(nil)
	if !s.stream() && len(out) > maxDatagram {
		stub, _ := json.Marshal(map[string]any{"arcaSequence": rec.Seq, "eventID": h.EventID, "eventName": h.EventName,
			"arcaTruncated": "the event is larger than a datagram; read it from the audit log"})
		m.Msg = stub
		out = m.AppendFormat(nil)
	}
	return out
}

// Deliver sends recs one message at a time; on a failure it drops the
// connection (the retry reconnects) and reports how many went out.
func (s *Syslog) Deliver(ctx context.Context, recs []Record) (int, error) {
	if s.conn == nil {
		d := net.Dialer{Timeout: s.timeout}
		var c net.Conn
		var err error
		if s.network == "tls" {
			cfg := s.tls
			if cfg == nil {
				cfg = &tls.Config{}
			}
			c, err = (&tls.Dialer{NetDialer: &d, Config: cfg}).DialContext(ctx, "tcp", s.addr)
		} else {
			c, err = d.DialContext(ctx, s.network, s.addr)
		}
		if err != nil {
			return 0, fmt.Errorf("syslog sink: %w", err)
		}
		s.conn = c
	}
	var frame []byte
	for i, r := range recs {
		msg := s.Format(r)
		frame = frame[:0]
		if s.stream() {
			frame = strconv.AppendInt(frame, int64(len(msg)), 10)
			frame = append(frame, ' ')
		}
		frame = append(frame, msg...)
		s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
		if _, err := s.conn.Write(frame); err != nil {
			s.conn.Close()
			s.conn = nil
			return i, fmt.Errorf("syslog sink: %w", err)
		}
	}
	return len(recs), nil
}

// Close closes the connection.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}
