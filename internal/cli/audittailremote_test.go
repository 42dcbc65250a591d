package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeExportServer answers ArcaExportAuditLog (Records) over lines held in
// memory, with the server's rules: a line that is not a record comes with
// the page that starts after the record before it.
type fakeExportServer struct {
	mu    sync.Mutex
	nodes map[string][]string
	fail  int // answer this many calls with 503 first
	calls int
	reqs  int
}

func fakeRecord(node string, seq int, tm string) string {
	return fmt.Sprintf(`{"eventTime":"%s","eventType":"AwsApiCall","eventName":"%s%d","requestID":"r-%s%d","arcaSequence":%d,"arcaHash":"h"}`, tm, node, seq, node, seq, seq)
}

func (f *fakeExportServer) add(node string, lines ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nodes[node] = append(f.nodes[node], lines...)
}

func (f *fakeExportServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs++
	// The tail's own call: its event would be the line named after it.
	w.Header().Set("x-amzn-RequestId", fmt.Sprintf("own-%d", f.reqs))
	if f.fail > 0 {
		f.fail--
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"__type":"KMSInternalException","message":"Arca is sealed"}`))
		return
	}
	f.calls++
	var in struct {
		NodeId             string
		MaxResults         int
		StartAfterSequence *uint64
		FromEnd            bool
	}
	json.NewDecoder(r.Body).Decode(&in)
	if in.NodeId == "" {
		in.NodeId = "a"
	}
	lines, ok := f.nodes[in.NodeId]
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"No audit chain"}`))
		return
	}
	var after uint64
	if in.StartAfterSequence != nil {
		after = *in.StartAfterSequence
	}
	if in.FromEnd {
		var head uint64
		for _, l := range lines {
			if s, _, _, ok := recordOf(l); ok {
				head = s
			}
		}
		after = head - min(head, uint64(in.MaxResults))
	}
	out := map[string]any{"NodeId": in.NodeId, "Lines": []string{}}
	var nodes []string
	for n := range f.nodes {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	out["Nodes"] = nodes
	var page []string
	var last, lastOut uint64
	n := 0
	for _, l := range lines {
		s, _, _, ok := recordOf(l)
		if !ok {
			if last >= after {
				page = append(page, l)
			}
			continue
		}
		if n == in.MaxResults {
			break
		}
		last = s
		if s > after {
			page, lastOut = append(page, l), s
			n++
		}
	}
	if page != nil {
		out["Lines"] = page
	}
	out["LastSequence"] = lastOut
	if n == in.MaxResults {
		out["NextToken"] = "more"
	}
	json.NewEncoder(w).Encode(out)
}

// TestTailOnlineFollow runs the online tail against a fake server: the
// first lines merged by time over nodes, then each new line once
// (lines that are not records after the last record included, the tail's
// own calls left out), a node that appears meanwhile followed from its
// start, failures retried, and a clean stop when the context ends.
func TestTailOnlineFollow(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	defer func(p, b time.Duration) { tailPollInterval, tailMaxBackoff = p, b }(tailPollInterval, tailMaxBackoff)
	tailPollInterval, tailMaxBackoff = 10*time.Millisecond, 40*time.Millisecond
	f := &fakeExportServer{nodes: map[string][]string{}}
	f.add("a", fakeRecord("a", 1, "t1"), fakeRecord("a", 2, "t3"), fakeRecord("a", 3, "t5"), "garbage-a")
	f.add("b", fakeRecord("b", 1, "t2"), fakeRecord("b", 2, "t4"))
	srv := httptest.NewServer(f)
	defer srv.Close()

	for _, c := range []struct {
		args []string
		node string
		n    int
		all  bool
		want string
	}{
		{n: 3, all: true, want: "b2 a3 garbage-a"},
		{n: 3, want: "a2 b2 a3"},
		{n: 10, node: "b", want: "b1 b2"},
		{n: 0, all: true, want: ""},
	} {
		var out syncBuf
		err := tailOnline(context.Background(), &operatorOpts{address: srv.URL}, "us-east-1", c.node, c.n, false, c.all, &out, &out)
		if got := names(out.String()); err != nil || got != c.want {
			t.Errorf("-n %d --all=%v --node %q: %q, %v; want %q", c.n, c.all, c.node, got, err, c.want)
		}
	}

	f.mu.Lock()
	f.reqs = 0 // the follower's first call is answered with own-1
	f.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errs syncBuf
	done := make(chan error, 1)
	go func() {
		done <- tailOnline(ctx, &operatorOpts{address: srv.URL}, "us-east-1", "", 3, true, true, &out, &errs)
	}()
	// Across nodes, lines are ordered by time within each poll only: the
	// check is each line once, and each node's in its order.
	waitFor := func(want string) {
		t.Helper()
		for start := time.Now(); !sameFollow(names(out.String()), want); time.Sleep(5 * time.Millisecond) {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("tail -f printed %q; want %q", names(out.String()), want)
			}
		}
	}
	waitFor("b2 a3 garbage-a")
	// The event of the tail's first call (a request ID it was answered
	// with) is left out; another client's is shown.
	f.add("a", "garbage-a2", strings.Replace(fakeRecord("a", 4, "t6"), "r-a4", "own-1", 1), fakeRecord("a", 5, "t6"))
	f.add("b", fakeRecord("b", 3, "t7"))
	waitFor("b2 a3 garbage-a garbage-a2 a5 b3")
	f.mu.Lock()
	f.fail = 3
	f.mu.Unlock()
	f.add("a", fakeRecord("a", 6, "t9"))
	f.add("c", fakeRecord("c", 1, "t0"), fakeRecord("c", 2, "t8"))
	const all = "b2 a3 garbage-a garbage-a2 a5 b3 a6 c1 c2"
	waitFor(all)
	// Polls go on and print nothing twice.
	f.mu.Lock()
	calls := f.calls
	f.mu.Unlock()
	for start := time.Now(); ; time.Sleep(5 * time.Millisecond) {
		f.mu.Lock()
		c := f.calls
		f.mu.Unlock()
		if c > calls+10 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("no more polls")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tail -f after cancel: %v", err)
	}
	if got := names(out.String()); !sameFollow(got, all) {
		t.Fatalf("tail -f printed %q", got)
	}
	if !strings.Contains(errs.String(), "KMSInternalException") || !strings.Contains(errs.String(), "reconnected") {
		t.Errorf("stderr: %q", errs.String())
	}

	// Refused (not retried): the error ends the tail.
	err := tailOnline(context.Background(), &operatorOpts{address: srv.URL}, "us-east-1", "zz", 1, true, false, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Errorf("--node zz: %v", err)
	}
}

// names reduces printed lines to their event names (or whole lines).
func names(out string) string {
	var ns []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e struct {
			EventName string `json:"eventName"`
		}
		if json.Unmarshal([]byte(l), &e) == nil && e.EventName != "" {
			l = e.EventName
		}
		if l != "" {
			ns = append(ns, l)
		}
	}
	return strings.Join(ns, " ")
}

// sameFollow reports whether got has want's lines, each once, and each
// node's (named by their last letter's node: a, b, c) in want's order.
func sameFollow(got, want string) bool {
	g, w := strings.Fields(got), strings.Fields(want)
	if len(g) != len(w) {
		return false
	}
	for _, node := range []string{"a", "b", "c"} {
		of := func(xs []string) []string {
			var out []string
			for _, x := range xs {
				if strings.TrimPrefix(x, "garbage-")[:1] == node {
					out = append(out, x)
				}
			}
			return out
		}
		if !slices.Equal(of(g), of(w)) {
			return false
		}
	}
	return true
}

// TestTailOnlineLooksBack: without --all, the first lines are looked for
// further back when the chain's end holds too few API events, and the
// tail's own calls stay left out on every look.
func TestTailOnlineLooksBack(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	f := &fakeExportServer{nodes: map[string][]string{}}
	f.add("a", fakeRecord("a", 1, "t1"), fakeRecord("a", 2, "t1"))
	for s := 3; s <= 150; s++ {
		f.add("a", strings.Replace(fakeRecord("a", s, "t2"), "AwsApiCall", "ArcaServiceEvent", 1))
	}
	// The event of the tail's first call, among the last 100 records.
	f.add("a", strings.Replace(fakeRecord("a", 151, "t3"), "r-a151", "own-1", 1))
	srv := httptest.NewServer(f)
	defer srv.Close()
	var out syncBuf
	err := tailOnline(context.Background(), &operatorOpts{address: srv.URL}, "us-east-1", "", 2, false, false, &out, &out)
	if got := names(out.String()); err != nil || got != "a1 a2" {
		t.Fatalf("-n 2: %q, %v; want a1 a2", got, err)
	}
}
