package server

import (
	"context"
	"encoding/json"
	"time"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/transport/auditrec"
)

// Operator actions on the seal are audited like API calls, but most of them
// (unseal shares, the unseal itself, a seal) happen while the audit log
// cannot be open: its signing key is under the barrier. So each action
// becomes an event when it happens, with its own time, waits in memory
// while there is no log, and is appended, in order, as soon as services
// with a log are live again (the unseal that reaches the threshold flushes
// the shares that led to it). A process that stops while sealed loses only
// what is waiting, which the server log also has (emit logs every action).
// Operator events are not API calls: LookupEvents does not index them;
// `arca audit verify` and `arca audit tail --all` see them.

// maxPendingOperatorEvents bounds what waits while sealed, so that anonymous
// unseal attempts cannot grow memory without limit; past it the oldest are
// dropped and counted in the next event appended.
const maxPendingOperatorEvents = 1024

// operatorEventSource is the eventSource of operator events.
const operatorEventSource = "arca.amazonaws.com"

// operatorAudit queues operator events until a log can take them.
type operatorAudit struct {
	pending []*audit.Event
	dropped int
}

// recordOperator turns ev into an audit event and appends it, with any
// waiting before it, to the live services' log; without one it waits.
func (c *core) recordOperator(ctx context.Context, ev OperatorEvent) {
	c.opsMu.Lock()
	defer c.opsMu.Unlock()
	if len(c.ops.pending) == maxPendingOperatorEvents {
		c.ops.pending = c.ops.pending[1:]
		c.ops.dropped++
	}
	c.ops.pending = append(c.ops.pending, operatorAuditEvent(ev, time.Now()))
	c.flushOperatorLocked(ctx)
}

// flushOperator appends waiting operator events to the live log, if any.
func (c *core) flushOperator(ctx context.Context) {
	c.opsMu.Lock()
	defer c.opsMu.Unlock()
	c.flushOperatorLocked(ctx)
}

func (c *core) flushOperatorLocked(ctx context.Context) {
	svc := c.live.Load()
	if svc == nil || svc.record == nil || len(c.ops.pending) == 0 {
		return
	}
	if c.ops.dropped > 0 {
		first := c.ops.pending[0]
		first.AdditionalEventData, _ = json.Marshal(map[string]int{"arcaDroppedBefore": c.ops.dropped})
	}
	for len(c.ops.pending) > 0 {
		if err := svc.record(ctx, c.ops.pending[0]); err != nil {
			c.log.Error("operator events not yet in the audit log; kept for the next try",
				"waiting", len(c.ops.pending), "err", err)
			return
		}
		c.ops.pending = c.ops.pending[1:]
		c.ops.dropped = 0
	}
	c.ops.pending = nil
}

// operatorAuditEvent is ev in CloudTrail's shape. Share holders are
// anonymous (the share is the authority), so only SigV4-authenticated
// actions name a principal.
func operatorAuditEvent(ev OperatorEvent, now time.Time) *audit.Event {
	params, _ := json.Marshal(struct {
		Progress  int `json:"progress,omitempty"`
		Threshold int `json:"threshold,omitempty"`
	}{ev.Progress, ev.Threshold})
	e := &audit.Event{
		EventVersion:      "1.08",
		UserIdentity:      audit.UserIdentity{Type: "Unknown"},
		EventTime:         now.UTC().Format(time.RFC3339),
		EventSource:       operatorEventSource,
		EventName:         "Operator:" + ev.Op,
		SourceIPAddress:   ev.SourceIP,
		RequestParameters: params,
		ResponseElements:  json.RawMessage("null"),
		EventID:           auditrec.NewEventID(),
		EventType:         "ArcaOperatorAction",
		ManagementEvent:   true,
		EventCategory:     "Management",
	}
	if ev.Principal != "" {
		e.UserIdentity = audit.UserIdentity{Type: "Root", ARN: ev.Principal}
	}
	switch ev.Outcome {
	case "denied":
		e.ErrorCode, e.ErrorMessage = "AccessDenied", ev.Detail
	case "failed":
		e.ErrorCode, e.ErrorMessage = "Failed", ev.Detail
	}
	return e
}
