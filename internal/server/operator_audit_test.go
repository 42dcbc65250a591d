package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/arca-kms/arca/internal/audit"
)

// TestOperatorEventsWaitForTheLog: actions while sealed wait, reach the log
// in order once services are live, a failing log keeps them, and the
// queue's bound drops the oldest and says so.
func TestOperatorEventsWaitForTheLog(t *testing.T) {
	ctx := context.Background()
	c := &core{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	var got []*audit.Event
	fail := false
	svc := &services{record: func(_ context.Context, ev *audit.Event) error {
		if fail {
			return errors.New("disk full")
		}
		got = append(got, ev)
		return nil
	}}

	c.recordOperator(ctx, OperatorEvent{Op: "unseal", Outcome: "progress", Progress: 1, Threshold: 3, SourceIP: "192.0.2.1"})
	c.recordOperator(ctx, OperatorEvent{Op: "unseal", Outcome: "denied", Detail: "bad share"})
	if len(got) != 0 || len(c.ops.pending) != 2 {
		t.Fatalf("while sealed: %d recorded, %d waiting", len(got), len(c.ops.pending))
	}
	c.live.Store(svc)
	c.flushOperator(ctx)
	if len(got) != 2 || len(c.ops.pending) != 0 {
		t.Fatalf("after unseal: %d recorded, %d waiting", len(got), len(c.ops.pending))
	}
	if e := got[0]; e.EventName != "Operator:unseal" || e.EventType != "ArcaOperatorAction" || e.SourceIPAddress != "192.0.2.1" ||
		!strings.Contains(string(e.RequestParameters), `"progress":1`) || e.ErrorCode != "" || e.UserIdentity.Type != "Unknown" {
		t.Errorf("first event: %+v", e)
	}
	if e := got[1]; e.ErrorCode != "AccessDenied" || e.ErrorMessage != "bad share" {
		t.Errorf("denied event: %+v", e)
	}

	fail = true
	c.recordOperator(ctx, OperatorEvent{Op: "rotate-root", Outcome: "ok", Principal: "arn:aws:iam::000000000000:root"})
	if len(c.ops.pending) != 1 {
		t.Fatalf("a failing log dropped the event: %d waiting", len(c.ops.pending))
	}
	fail = false
	c.flushOperator(ctx)
	if len(got) != 3 || got[2].UserIdentity.ARN != "arn:aws:iam::000000000000:root" {
		t.Fatalf("retry: %d recorded, last %+v", len(got), got[len(got)-1])
	}

	c.live.Store(nil)
	for range maxPendingOperatorEvents + 5 {
		c.recordOperator(ctx, OperatorEvent{Op: "unseal", Outcome: "denied"})
	}
	c.live.Store(svc)
	c.flushOperator(ctx)
	if n := len(got) - 3; n != maxPendingOperatorEvents {
		t.Fatalf("%d events after the bound; want %d", n, maxPendingOperatorEvents)
	}
	if !strings.Contains(string(got[3].AdditionalEventData), `"arcaDroppedBefore":5`) {
		t.Errorf("dropped count not recorded: %s", got[3].AdditionalEventData)
	}
}
