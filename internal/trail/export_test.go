package trail

import (
	"context"
	"fmt"
	"testing"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/svcerr"
)

// fakeExport has nodes a (self) and b, each with 5 records and 3
// checkpoints.
type fakeExport struct{}

func (fakeExport) Nodes(context.Context) (string, []string, error) {
	return "a", []string{"a", "b"}, nil
}
func (fakeExport) Records(_ context.Context, node string, after uint64, limit int) ([]audit.RemoteRecord, error) {
	var out []audit.RemoteRecord
	for s := after + 1; s <= 5 && len(out) < limit; s++ {
		out = append(out, audit.RemoteRecord{Seq: s, Line: fmt.Appendf(nil, "%s%d", node, s)})
	}
	return out, nil
}
func (fakeExport) Checkpoints(_ context.Context, node string, after, limit int) ([][]byte, int, error) {
	var out [][]byte
	for n := after + 1; n <= 3 && len(out) < limit; n++ {
		out = append(out, fmt.Appendf(nil, "%s-cp%d", node, n))
	}
	return out, after + 1, nil
}
func (fakeExport) Anchor(_ context.Context, node string) ([]byte, error) {
	if node == "b" {
		return []byte(`{"sequence":0}`), nil
	}
	return nil, nil
}

func (fakeExport) Head(context.Context, string) (uint64, error) { return 5, nil }

func TestArcaExportAuditLog(t *testing.T) {
	s := New(Config{Export: fakeExport{}, Operator: "111122223333", Identities: fakeIDs{}})
	ctx := context.Background()
	two := 2
	var lines []string
	in := &ArcaExportAuditLogInput{NodeId: "b", MaxResults: &two}
	for pages := 0; ; pages++ {
		out, err := s.ArcaExportAuditLog(ctx, root, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.NodeId != "b" || out.ServingNodeId != "a" || len(out.Nodes) != 2 || out.Anchor == "" {
			t.Fatalf("page = %+v", out)
		}
		lines = append(lines, out.Lines...)
		if out.NextToken == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	if fmt.Sprint(lines) != "[b1 b2 b3 b4 b5]" {
		t.Errorf("records = %v", lines)
	}
	out, err := s.ArcaExportAuditLog(ctx, root, &ArcaExportAuditLogInput{Part: PartCheckpoints})
	if err != nil || out.NodeId != "a" || fmt.Sprint(out.Lines) != "[a-cp1 a-cp2 a-cp3]" || out.FirstLine != 1 {
		t.Fatalf("checkpoints = %+v, %v", out, err)
	}
	other := &auth.Caller{Principal: auth.Principal{Type: auth.Root, Account: "444455556666", ARN: "arn:aws:iam::444455556666:root"}}
	zero := 0
	for name, c := range map[string]struct {
		caller *auth.Caller
		in     ArcaExportAuditLogInput
		code   svcerr.Code
	}{
		"another account's root":   {other, ArcaExportAuditLogInput{}, svcerr.AccessDenied},
		"a user without policy":    {alice, ArcaExportAuditLogInput{}, svcerr.AccessDenied},
		"unknown node":             {root, ArcaExportAuditLogInput{NodeId: "zz"}, svcerr.ResourceNotFound},
		"bad part":                 {root, ArcaExportAuditLogInput{Part: "Keys"}, svcerr.Validation},
		"max results 0":            {root, ArcaExportAuditLogInput{MaxResults: &zero}, svcerr.InvalidMaxResults},
		"garbage token":            {root, ArcaExportAuditLogInput{NextToken: "!!"}, svcerr.InvalidNextToken},
		"another node's token":     {root, ArcaExportAuditLogInput{NodeId: "a", NextToken: exportToken("b", PartRecords, 2)}, svcerr.InvalidNextToken},
		"another part's token":     {root, ArcaExportAuditLogInput{NextToken: exportToken("a", PartCheckpoints, 2)}, svcerr.InvalidNextToken},
		"from end of checkpoints":  {root, ArcaExportAuditLogInput{Part: PartCheckpoints, FromEnd: true}, svcerr.Validation},
		"start after, checkpoints": {root, ArcaExportAuditLogInput{Part: PartCheckpoints, StartAfterSequence: new(uint64)}, svcerr.Validation},
		"from end and start after": {root, ArcaExportAuditLogInput{FromEnd: true, StartAfterSequence: new(uint64)}, svcerr.Validation},
		"from end and a token":     {root, ArcaExportAuditLogInput{FromEnd: true, NextToken: exportToken("a", PartRecords, 2)}, svcerr.Validation},
	} {
		if _, err := s.ArcaExportAuditLog(ctx, c.caller, &c.in); svcerr.CodeOf(err) != c.code {
			t.Errorf("%s: %v; want %s", name, err, c.code)
		}
	}
	// An identity of the operator account allowed the action may export.
	s2 := New(Config{Export: fakeExport{}, Operator: "111122223333",
		Identities: fakeIDs{doc: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"cloudtrail:ArcaExportAuditLog","Resource":"*"}]}`}})
	if _, err := s2.ArcaExportAuditLog(ctx, alice, &ArcaExportAuditLogInput{}); err != nil {
		t.Errorf("alice with cloudtrail:ArcaExportAuditLog: %v", err)
	}
	if _, err := New(Config{Operator: "111122223333"}).ArcaExportAuditLog(ctx, root, &ArcaExportAuditLogInput{}); svcerr.CodeOf(err) != svcerr.UnsupportedOperation {
		t.Errorf("audit off: %v", err)
	}
}

// TestArcaExportAuditLogTail: FromEnd gives the chain's last MaxResults
// records and StartAfterSequence goes on after LastSequence, which is how
// `arca audit tail --address` finds the end and follows it.
func TestArcaExportAuditLogTail(t *testing.T) {
	s := New(Config{Export: fakeExport{}, Operator: "111122223333", Identities: fakeIDs{}})
	ctx := context.Background()
	for _, c := range []struct {
		max  int
		want string
		last uint64
		tok  bool
	}{{2, "[b4 b5]", 5, true}, {5, "[b1 b2 b3 b4 b5]", 5, true}, {9, "[b1 b2 b3 b4 b5]", 5, false}} {
		out, err := s.ArcaExportAuditLog(ctx, root, &ArcaExportAuditLogInput{NodeId: "b", FromEnd: true, MaxResults: &c.max})
		if err != nil || fmt.Sprint(out.Lines) != c.want || out.LastSequence != c.last || (out.NextToken != "") != c.tok {
			t.Errorf("FromEnd, MaxResults %d: %+v, %v; want %s ending at %d", c.max, out, err, c.want, c.last)
		}
	}
	for _, c := range []struct {
		after uint64
		want  string
		last  uint64
	}{{0, "[a1 a2 a3 a4 a5]", 5}, {3, "[a4 a5]", 5}, {5, "[]", 0}} {
		out, err := s.ArcaExportAuditLog(ctx, root, &ArcaExportAuditLogInput{StartAfterSequence: &c.after})
		if err != nil || fmt.Sprint(out.Lines) != c.want || out.LastSequence != c.last || out.NextToken != "" {
			t.Errorf("StartAfterSequence %d: %+v, %v; want %s, last %d", c.after, out, err, c.want, c.last)
		}
	}
}
