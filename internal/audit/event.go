// Package audit keeps Arca's tamper-evident audit log: one CloudTrail-shaped
// event per API request, hash-chained, appended to segment files with group
// commit, anchored by Ed25519-signed checkpoints, and verifiable offline.
//
// It imports only the standard library: the transports fill in events, the
// server hands it a directory and a signing key, and `arca audit verify`
// reads the files without a running server.
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// EventVersion is the CloudTrail record version Arca writes.
const EventVersion = "1.08"

// Event is one audit record in CloudTrail's record shape, plus the chain
// fields. Request parameters and response elements are JSON chosen by the
// transport, which must never put plaintexts, secret values, key material or
// credentials in them.
type Event struct {
	EventVersion        string          `json:"eventVersion"`
	UserIdentity        UserIdentity    `json:"userIdentity"`
	EventTime           string          `json:"eventTime"`
	EventSource         string          `json:"eventSource"`
	EventName           string          `json:"eventName"`
	AWSRegion           string          `json:"awsRegion"`
	SourceIPAddress     string          `json:"sourceIPAddress"`
	UserAgent           string          `json:"userAgent"`
	ErrorCode           string          `json:"errorCode,omitempty"`
	ErrorMessage        string          `json:"errorMessage,omitempty"`
	RequestParameters   json.RawMessage `json:"requestParameters"`
	ResponseElements    json.RawMessage `json:"responseElements"`
	AdditionalEventData json.RawMessage `json:"additionalEventData,omitempty"`
	RequestID           string          `json:"requestID"`
	EventID             string          `json:"eventID"`
	ReadOnly            bool            `json:"readOnly"`
	Resources           []Resource      `json:"resources,omitempty"`
	EventType           string          `json:"eventType"`
	ManagementEvent     bool            `json:"managementEvent"`
	RecipientAccountID  string          `json:"recipientAccountId,omitempty"`
	EventCategory       string          `json:"eventCategory"`
	// NodeID names the Arca node whose chain holds the event (Options.NodeID):
	// with several nodes each keeps its own chain. It is Arca's extension,
	// after CloudTrail's members; logs written before it omit it.
	NodeID string `json:"arcaNodeId,omitempty"`

	// Sequence numbers events from 1 without gaps across segments;
	// PreviousHash is the Hash of event Sequence-1 (64 zeros for the first);
	// Hash is SHA-256 over PreviousHash and the event's canonical encoding.
	Sequence     uint64 `json:"arcaSequence"`
	PreviousHash string `json:"arcaPreviousHash"`
	Hash         string `json:"arcaHash"`
}

// UserIdentity is CloudTrail's userIdentity element.
type UserIdentity struct {
	Type           string          `json:"type,omitempty"`
	PrincipalID    string          `json:"principalId,omitempty"`
	ARN            string          `json:"arn,omitempty"`
	AccountID      string          `json:"accountId,omitempty"`
	AccessKeyID    string          `json:"accessKeyId,omitempty"`
	UserName       string          `json:"userName,omitempty"`
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes the session behind temporary credentials.
type SessionContext struct {
	SessionIssuer  *SessionIssuer    `json:"sessionIssuer,omitempty"`
	Attributes     SessionAttributes `json:"attributes"`
	SourceIdentity string            `json:"sourceIdentity,omitempty"`
}

// SessionIssuer is the role (or user) a session was made from.
type SessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

// SessionAttributes are the session's creation date and MFA state.
type SessionAttributes struct {
	CreationDate     string `json:"creationDate,omitempty"`
	MFAAuthenticated string `json:"mfaAuthenticated"`
}

// Resource is one resource an event touched.
type Resource struct {
	ARN       string `json:"ARN"`
	AccountID string `json:"accountId,omitempty"`
	Type      string `json:"type,omitempty"`
}

// ZeroHash is the PreviousHash of the first event of a log.
var ZeroHash = hex.EncodeToString(make([]byte, sha256.Size))

// canonical is the event's encoding for hashing: its JSON with Hash empty.
// encoding/json writes struct fields in declaration order and compacts raw
// JSON, so decoding a stored line and encoding it again gives the same
// bytes; whitespace or key order changed by an editor does not alter the
// meaning and is not reported, any change of a value is.
func (e *Event) canonical() ([]byte, error) {
	c := *e
	c.Hash = ""
	return json.Marshal(&c)
}

// computeHash returns SHA-256(PreviousHash ‖ canonical encoding), hex.
func (e *Event) computeHash() (string, error) {
	b, err := e.canonical()
	if err != nil {
		return "", fmt.Errorf("audit: encode event: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(e.PreviousHash))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}
