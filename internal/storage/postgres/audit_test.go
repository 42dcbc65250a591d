package postgres

import (
	"bytes"
	"slices"
	"testing"
)

func TestAuditTables(t *testing.T) {
	b := open(t, newDSN(t), Options{})
	recs := []AuditRecord{{1, []byte(`{"a":1}`)}, {2, []byte(`{"a":2}`)}, {3, []byte(`{"a":3}`)}}
	if err := b.ShipAuditRecords(ctx, "n1", recs); err != nil {
		t.Fatal(err)
	}
	// At least once: a record shipped again keeps the stored bytes.
	if err := b.ShipAuditRecords(ctx, "n1", []AuditRecord{{3, []byte(`changed`)}, {4, []byte(`{"a":4}`)}}); err != nil {
		t.Fatal(err)
	}
	b.ShipAuditRecords(ctx, "n2", []AuditRecord{{1, []byte(`{"b":1}`)}})
	nodes, err := b.AuditNodes(ctx)
	if err != nil || !slices.Equal(nodes, []string{"n1", "n2"}) {
		t.Fatalf("AuditNodes = %v, %v", nodes, err)
	}
	if h, err := b.AuditHead(ctx, "n1"); err != nil || h != 4 {
		t.Fatalf("AuditHead = %d, %v", h, err)
	}
	if h, _ := b.AuditHead(ctx, "none"); h != 0 {
		t.Fatalf("AuditHead of an unknown node = %d", h)
	}
	got, err := b.AuditRecordsAfter(ctx, "n1", 1, 2)
	if err != nil || len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 || string(got[1].Line) != `{"a":3}` {
		t.Fatalf("AuditRecordsAfter = %+v, %v", got, err)
	}
	lines, err := b.AuditLines(ctx, "n1", []uint64{4, 1, 9})
	if err != nil || len(lines) != 2 {
		t.Fatalf("AuditLines = %+v, %v", lines, err)
	}
	if err := b.ShipAuditCheckpoints(ctx, "n1", 1, [][]byte{[]byte("c1"), []byte("c2")}); err != nil {
		t.Fatal(err)
	}
	b.ShipAuditCheckpoints(ctx, "n1", 2, [][]byte{[]byte("c2"), []byte("c3")})
	if n, err := b.AuditCheckpointHead(ctx, "n1"); err != nil || n != 3 {
		t.Fatalf("AuditCheckpointHead = %d, %v", n, err)
	}
	cps, first, err := b.AuditCheckpoints(ctx, "n1", 1, 10)
	if err != nil || first != 2 || len(cps) != 2 || string(cps[1]) != "c3" {
		t.Fatalf("AuditCheckpoints = %q from %d, %v", cps, first, err)
	}
	if a, err := b.AuditAnchor(ctx, "n1"); err != nil || a != nil {
		t.Fatalf("AuditAnchor before a prune = %q, %v", a, err)
	}
	// A prune's anchor drops the records it covers.
	if err := b.ShipAuditAnchor(ctx, "n1", []byte(`{"sequence":2}`), 2); err != nil {
		t.Fatal(err)
	}
	if a, _ := b.AuditAnchor(ctx, "n1"); !bytes.Equal(a, []byte(`{"sequence":2}`)) {
		t.Fatalf("AuditAnchor = %q", a)
	}
	if got, _ := b.AuditRecordsAfter(ctx, "n1", 0, 10); len(got) != 2 || got[0].Seq != 3 {
		t.Fatalf("after the anchor: %+v", got)
	}
	if a, err := b.AuditAnchor(ctx, "unknown"); err != nil || a != nil {
		t.Fatalf("AuditAnchor of an unknown node = %q, %v", a, err)
	}
}
