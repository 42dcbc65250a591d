package e2e

// Audit across nodes (issue 9): each node keeps its own chain, ships it to
// PostgreSQL, and LookupEvents on any node returns every node's events in
// time order.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/jackc/pgx/v5"
)

// ctEvent is what the tests read from a LookupEvents event's record.
type ctEvent struct {
	EventID   string `json:"eventID"`
	EventTime string `json:"eventTime"`
	EventName string `json:"eventName"`
	Node      string `json:"arcaNodeId"`
	RequestID string `json:"requestID"`
}

// lookupAll pages through LookupEvents by resource name, pageSize at a time.
func lookupAll(t *testing.T, ct *cloudtrail.Client, resource string, pageSize int32) []ctEvent {
	t.Helper()
	var out []ctEvent
	p := cloudtrail.NewLookupEventsPaginator(ct, &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(pageSize),
		LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: aws.String(resource)}}})
	for p.HasMorePages() {
		page, err := p.NextPage(bg())
		mustOK(t, err, "LookupEvents page")
		for _, e := range page.Events {
			var ev ctEvent
			if err := json.Unmarshal([]byte(*e.CloudTrailEvent), &ev); err != nil {
				t.Fatalf("CloudTrailEvent: %v", err)
			}
			out = append(out, ev)
		}
	}
	return out
}

func TestClusterAuditLookupMerged(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, 2)
	a, b := c.nodes[0], c.nodes[1]
	ka, kb := a.client("us-east-1"), b.client("us-east-1")
	key := createKey(t, ka, nil)
	// Encrypts alternate between the nodes a second apart, so time order
	// interleaves the two chains.
	var want []string // request IDs, oldest first
	for i := range 6 {
		cl := ka
		if i%2 == 1 {
			cl = kb
		}
		out, err := cl.Encrypt(bg(), &kms.EncryptInput{KeyId: key.Arn, Plaintext: []byte("x")})
		mustOK(t, err, "Encrypt")
		want = append(want, requestID(out.ResultMetadata))
		if i < 5 {
			time.Sleep(1100 * time.Millisecond)
		}
	}
	done := time.Now()
	ct := a.cloudTrailClient(rootAKID, rootSecret)
	// B's last event becomes visible on A: measure how soon.
	var got []ctEvent
	for {
		got = lookupAll(t, ct, *key.Arn, 50)
		if slices.ContainsFunc(got, func(e ctEvent) bool { return e.RequestID == want[5] }) {
			break
		}
		if time.Since(done) > 10*time.Second {
			t.Fatalf("node B's Encrypt not in node A's LookupEvents after 10s: %+v", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("node B's event visible in node A's LookupEvents %v after its response", time.Since(done).Round(time.Millisecond))
	var encrypts []string
	nodes := map[string]bool{}
	for i, e := range got {
		if e.EventName == "Encrypt" {
			encrypts = append(encrypts, e.RequestID)
			nodes[e.Node] = true
		}
		if i > 0 && e.EventTime > got[i-1].EventTime {
			t.Errorf("event %d (%s) is newer than the one before it (%s): not newest first", i, e.EventTime, got[i-1].EventTime)
		}
	}
	slices.Reverse(encrypts)
	if !slices.Equal(encrypts, want) {
		t.Errorf("Encrypts newest first from node A = %v; want %v reversed", encrypts, want)
	}
	if len(nodes) != 2 {
		t.Errorf("events from %d nodes (%v); want 2", len(nodes), nodes)
	}
	// Paging one event at a time gives the same merged list, on either node.
	for i, n := range c.nodes {
		deadline := time.Now().Add(10 * time.Second)
		for {
			one := lookupAll(t, n.cloudTrailClient(rootAKID, rootSecret), *key.Arn, 1)
			ids := func(es []ctEvent) []string {
				var out []string
				for _, e := range es {
					if e.EventName == "Encrypt" || e.EventName == "CreateKey" {
						out = append(out, e.EventID)
					}
				}
				return out
			}
			if slices.Equal(ids(one), ids(got)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node %d, one per page: %v; want %v", i, ids(one), ids(got))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// arca audit search --address shows the same merged view.
	out, code := runArca(t, []string{"AWS_ACCESS_KEY_ID=" + rootAKID, "AWS_SECRET_ACCESS_KEY=" + rootSecret},
		"audit", "search", "--address", a.endpoint, "--resource", *key.Arn, "--max", "100")
	var searched []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev ctEvent
		if json.Unmarshal([]byte(l), &ev) == nil && (ev.EventName == "Encrypt" || ev.EventName == "CreateKey") {
			searched = append(searched, ev.EventID)
		}
	}
	var wantIDs []string
	for _, e := range got {
		if e.EventName == "Encrypt" || e.EventName == "CreateKey" {
			wantIDs = append(wantIDs, e.EventID)
		}
	}
	if code != 0 || !slices.Equal(searched, wantIDs) {
		t.Errorf("arca audit search --address: exit %d, %v; want %v\n%s", code, searched, wantIDs, out)
	}
	// The delay over several trials: Encrypt on B, then LookupEvents on A
	// every 20 ms until the event is there.
	var delays []time.Duration
	for trial := range 20 {
		// Spread the Encrypts over the poll's phase.
		time.Sleep(time.Duration(trial*37%250) * time.Millisecond)
		out, err := kb.Encrypt(bg(), &kms.EncryptInput{KeyId: key.Arn, Plaintext: []byte("x")})
		mustOK(t, err, "Encrypt on B")
		id, acked := requestID(out.ResultMetadata), time.Now()
		for {
			page, err := ct.LookupEvents(bg(), &cloudtrail.LookupEventsInput{MaxResults: aws.Int32(3),
				LookupAttributes: []cttypes.LookupAttribute{{AttributeKey: cttypes.LookupAttributeKeyResourceName, AttributeValue: key.Arn}}})
			mustOK(t, err, "LookupEvents on A")
			if slices.ContainsFunc(page.Events, func(e cttypes.Event) bool { return strings.Contains(*e.CloudTrailEvent, id) }) {
				break
			}
			if time.Since(acked) > 10*time.Second {
				t.Fatalf("node B's Encrypt %s not visible on node A after 10s", id)
			}
			time.Sleep(20 * time.Millisecond)
		}
		delays = append(delays, time.Since(acked))
	}
	slices.Sort(delays)
	t.Logf("cross-node audit visibility over %d trials (Encrypt on B → LookupEvents on A): median %v, worst %v",
		len(delays), delays[len(delays)/2].Round(time.Millisecond), delays[len(delays)-1].Round(time.Millisecond))
	if delays[len(delays)-1] > 2*time.Second {
		t.Errorf("worst cross-node audit visibility %v; want within 2s (poll interval 250ms)", delays[len(delays)-1])
	}
}

// TestClusterAuditVerifyOnline: `arca audit verify --address` through one
// node verifies both nodes' chains and reports per node; a record of node
// B changed, then one deleted, in PostgreSQL is reported against node B
// with its sequence number, while node A stays OK.
func TestClusterAuditVerifyOnline(t *testing.T) {
	t.Parallel()
	c := startCluster(t, nil, 2)
	a, b := c.nodes[0], c.nodes[1]
	key := createKey(t, a.client("us-east-1"), nil)
	var bReq string
	for i := range 3 {
		for j, n := range c.nodes {
			out, err := n.client("us-east-1").Encrypt(bg(), &kms.EncryptInput{KeyId: key.Arn, Plaintext: []byte("x")})
			mustOK(t, err, "Encrypt")
			if j == 1 && i == 1 {
				bReq = requestID(out.ResultMetadata)
			}
		}
	}
	conn, err := pgx.Connect(bg(), c.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(bg())
	// Node B's Encrypt reaches the table right after its fsync.
	var bNode string
	var bSeq int64
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := conn.QueryRow(bg(), `SELECT node_id, seq FROM arca_audit_records
			WHERE position($1::bytea in line) > 0 AND position('"eventType":"AwsApiCall"'::bytea in line) > 0`, []byte(bReq)).Scan(&bNode, &bSeq)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node B's Encrypt not shipped to PostgreSQL after 10s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	env := []string{"AWS_ACCESS_KEY_ID=" + rootAKID, "AWS_SECRET_ACCESS_KEY=" + rootSecret}
	verify := func(through *server) (string, int) {
		return runArca(t, env, "audit", "verify", "--address", through.endpoint)
	}
	out, code := verify(a)
	if code != 0 || strings.Count(out, ": OK: ") != 2 || !strings.Contains(out, "node "+bNode+": OK: ") {
		t.Fatalf("verify through node A: exit %d\n%s", code, out)
	}
	t.Logf("verify through node A:\n%s", out)
	// Checkpoints signed at shutdown ship too: node B's chain is then
	// anchored (no unanchored notice for it after its restart).
	b.restart()
	if err := b.waitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		var n int
		conn.QueryRow(bg(), `SELECT count(*) FROM arca_audit_checkpoints WHERE node_id = $1`, bNode).Scan(&n)
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node B's checkpoints not shipped after its restart")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A DBA changes one of node B's records.
	tag, err := conn.Exec(bg(), `UPDATE arca_audit_records
		SET line = convert_to(replace(convert_from(line, 'UTF8'), '"eventName":"Encrypt"', '"eventName":"Decrypt"'), 'UTF8')
		WHERE node_id = $1 AND seq = $2`, bNode, bSeq)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("tamper: %v, %v", tag, err)
	}
	out, code = verify(a)
	wantLine := fmt.Sprintf("node %s: ERROR modified: (record %d)", bNode, bSeq)
	if code == 0 || !strings.Contains(out, wantLine) || strings.Count(out, ": OK: ") != 1 || !strings.Contains(out, "node "+bNode+": FAILED") {
		t.Fatalf("verify after changing node B's record %d: exit %d; want a line %q and node A OK\n%s", bSeq, code, wantLine, out)
	}
	// ... then deletes the record before it.
	if _, err := conn.Exec(bg(), `DELETE FROM arca_audit_records WHERE node_id = $1 AND seq = $2`, bNode, bSeq-1); err != nil {
		t.Fatal(err)
	}
	out, code = verify(a)
	wantLine = fmt.Sprintf("node %s: ERROR deleted: (record %d): 1 record(s) missing before record %d", bNode, bSeq, bSeq)
	if code == 0 || !strings.Contains(out, wantLine) {
		t.Fatalf("verify after deleting node B's record %d: exit %d; want %q\n%s", bSeq-1, code, wantLine, out)
	}
	t.Logf("verify through node A after tampering with node B's copy:\n%s", out)
	// Node B answers for its own chain from its files, which nobody
	// touched; node A's copy in the table is intact too.
	out, code = verify(b)
	if code != 0 || strings.Count(out, ": OK: ") != 2 {
		t.Fatalf("verify through node B: exit %d\n%s", code, out)
	}
}

// TestAuditVerifyOnlineSingleNode: with bbolt there is one node, and
// verify --address checks its files through the server; --node names an
// unknown node precisely.
func TestAuditVerifyOnlineSingleNode(t *testing.T) {
	t.Parallel()
	s := startServer(t, serverOpts{})
	createKey(t, s.client("us-east-1"), nil)
	env := []string{"AWS_ACCESS_KEY_ID=" + rootAKID, "AWS_SECRET_ACCESS_KEY=" + rootSecret}
	out, code := runArca(t, env, "audit", "verify", "--address", s.endpoint)
	id, _ := os.ReadFile(filepath.Join(s.dataDir, "audit", "node-id"))
	if code != 0 || strings.Count(out, ": OK: ") != 1 || !strings.Contains(out, "node "+strings.TrimSpace(string(id))+": OK: ") {
		t.Fatalf("verify --address: exit %d\n%s", code, out)
	}
	out, code = runArca(t, env, "audit", "verify", "--address", s.endpoint, "--node", "nope")
	if code == 0 || !strings.Contains(out, "ResourceNotFoundException") {
		t.Fatalf("verify --node nope: exit %d\n%s", code, out)
	}
	// The node's own files are exported as they are: a record changed and
	// a garbage line put in while it was stopped are reported online as
	// offline.
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(s.dataDir, "audit", "segment-00000001.jsonl")
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) < 3 || !strings.Contains(lines[1], `"arcaSequence":2,`) {
		t.Fatalf("segment: %d lines, second %q", len(lines), lines[1])
	}
	lines[1] = strings.Replace(lines[1], `"awsRegion":"us-east-1"`, `"awsRegion":"eu-west-1"`, 1)
	lines = slices.Insert(lines, 2, "garbage\n")
	if err := os.WriteFile(seg, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start()
	out, code = runArca(t, env, "audit", "verify", "--address", s.endpoint)
	for _, want := range []string{"ERROR modified: (record 2)", "ERROR torn: exported line 3: not a record", ": FAILED: 2 problem(s)"} {
		if code == 0 || !strings.Contains(out, want) {
			t.Fatalf("verify --address after changing the files: exit %d; want %q\n%s", code, want, out)
		}
	}
	// Offline, the same files give the same findings, located by file.
	out, code = runArca(t, nil, "audit", "verify", "--audit-dir", filepath.Join(s.dataDir, "audit"))
	for _, want := range []string{"ERROR modified: segment-00000001.jsonl line 2 (record 2)", "ERROR torn: segment-00000001.jsonl line 3: not a record"} {
		if code == 0 || !strings.Contains(out, want) {
			t.Fatalf("verify --audit-dir: exit %d; want %q\n%s", code, want, out)
		}
	}
	// Without credentials of the operator account: refused.
	out, code = runArca(t, []string{"AWS_ACCESS_KEY_ID=AKIAARCAE2ENOSUCHKEY", "AWS_SECRET_ACCESS_KEY=" + rootSecret}, "audit", "verify", "--address", s.endpoint)
	if code == 0 {
		t.Fatalf("verify with unknown credentials: exit 0\n%s", out)
	}
}
