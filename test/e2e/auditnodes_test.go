package e2e

// Audit across nodes (issue 9): each node keeps its own chain, ships it to
// PostgreSQL, and LookupEvents on any node returns every node's events in
// time order.

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudtrail"
	cttypes "github.com/aws/aws-sdk-go-v2/service/cloudtrail/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
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
}
