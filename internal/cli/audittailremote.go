package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Online tail (`arca audit tail --address`). It reads nodes' raw chains
// with ArcaExportAuditLog rather than LookupEvents: the lines are the log's
// own (the same bytes and filtering as the offline tail, the non-API
// records included for --all), and each comes with its node's sequence
// number, a position that survives segment rollovers and restarts, so a
// follower that goes on after the last sequence it saw prints every new
// record exactly once. LookupEvents has neither the raw lines nor such a
// position (its pages are by time, newest first).

// tailPollInterval is how often -f asks for new records while there are
// none; tailMaxBackoff bounds the wait between attempts while the server
// is unreachable or failing.
var (
	tailPollInterval = 500 * time.Millisecond
	tailMaxBackoff   = 10 * time.Second
)

// tailMaxLookBack bounds how many records of one node the first lines
// are searched among (one ArcaExportAuditLog page).
const tailMaxLookBack = 10000

// tailCursor is where following one node's chain goes on.
type tailCursor struct {
	// last is the sequence of the last record seen (0: none yet), and
	// time its eventTime (which the lines after it are merged by).
	last uint64
	time string
	// extra counts the lines that are not records (torn or garbage
	// lines, which --all prints) seen after last: the next page after
	// last begins with them again.
	extra int
}

// tailLine is one line to print, with what orders it among nodes.
type tailLine struct {
	line string
	time string // its record's eventTime, or the preceding record's
}

// remoteTail is the state of one `arca audit tail --address`.
type remoteTail struct {
	r      *remoteVerify
	all    bool
	stdout io.Writer
	stderr io.Writer
	// own holds the request IDs of this tail's own calls, each with when
	// it was made: every poll is an audited API call, and printing them
	// would make -f print its own polling forever.
	own map[string]time.Time
}

// ownCall notes one of this tail's requests.
func (t *remoteTail) ownCall(id string) {
	if id == "" {
		return
	}
	now := time.Now()
	t.own[id] = now
	if len(t.own) > 4096 {
		// An event is read within seconds of its call (or never, if the
		// node answering is not followed: --node); forget old calls.
		for k, at := range t.own {
			if now.Sub(at) > 10*time.Minute {
				delete(t.own, k)
			}
		}
	}
}

// isOwn reports whether a record is the event of one of this tail's
// calls. The ID is kept (until ownCall ages it out): the first lines may
// be read more than once while looking further back.
func (t *remoteTail) isOwn(reqID string) bool {
	_, ok := t.own[reqID]
	return ok && reqID != ""
}

// recordOf returns a line's sequence and eventTime if it is a record (as
// the server tells them apart: JSON with a hash).
func recordOf(line string) (seq uint64, t, reqID string, ok bool) {
	var r struct {
		Sequence  uint64 `json:"arcaSequence"`
		Hash      string `json:"arcaHash"`
		EventTime string `json:"eventTime"`
		RequestID string `json:"requestID"`
	}
	if json.Unmarshal([]byte(line), &r) != nil || r.Hash == "" {
		return 0, "", "", false
	}
	return r.Sequence, r.EventTime, r.RequestID, true
}

// page reads one page of node's records and advances cur past it,
// returning the lines to print (skipping those cur has already seen).
func (t *remoteTail) page(ctx context.Context, node string, in map[string]any, cur *tailCursor) (lines []tailLine, full bool, p *exportPage, err error) {
	p = &exportPage{}
	if node != "" {
		in["NodeId"] = node
	}
	if err := t.r.call(ctx, "ArcaExportAuditLog", in, p); err != nil {
		return nil, false, nil, err
	}
	skip, when := cur.extra, cur.time
	for _, l := range p.Lines {
		seq, tm, reqID, rec := recordOf(l)
		if rec {
			// Records after the cursor: the server returns nothing
			// earlier, and a record seen twice would be a server fault
			// that must not print twice.
			if seq <= cur.last && cur.last > 0 {
				continue
			}
			cur.last, cur.time, cur.extra, skip, when = seq, tm, 0, 0, tm
			if t.isOwn(reqID) {
				continue
			}
		} else {
			if skip > 0 {
				skip--
				continue
			}
			cur.extra++
		}
		if t.all || isAPIEvent([]byte(l)) {
			lines = append(lines, tailLine{line: l, time: when})
		}
	}
	return lines, p.NextToken != "", p, nil
}

// lastLines returns node's last n lines to print and the cursor after
// them. Without --all only some records are API events, so it looks
// further back (up to tailMaxLookBack records) until it has n.
func (t *remoteTail) lastLines(ctx context.Context, node string, n int) ([]tailLine, tailCursor, *exportPage, error) {
	m := n
	if !t.all {
		m = max(4*n, 100)
	}
	m = min(max(m, 1), tailMaxLookBack)
	for {
		var cur tailCursor
		lines, _, p, err := t.page(ctx, node, map[string]any{"FromEnd": true, "MaxResults": m}, &cur)
		if err != nil {
			return nil, cur, nil, err
		}
		records := 0
		for _, l := range p.Lines {
			if _, _, _, ok := recordOf(l); ok {
				records++
			}
		}
		// Enough, or the whole chain (fewer records than asked), or as
		// far back as it looks.
		if len(lines) >= n || records < m || m == tailMaxLookBack {
			return lines[max(0, len(lines)-n):], cur, p, nil
		}
		m = min(4*m, tailMaxLookBack)
	}
}

// mergeByTime merges nodes' lines by eventTime, keeping each node's own
// order (a k-way merge on the lists' heads), so that a node whose clock
// is off still has its records in chain order.
func mergeByTime(lists [][]tailLine) []tailLine {
	var out []tailLine
	for {
		best := -1
		for i, l := range lists {
			if len(l) > 0 && (best < 0 || l[0].time < lists[best][0].time) {
				best = i
			}
		}
		if best < 0 {
			return out
		}
		out = append(out, lists[best][0])
		lists[best] = lists[best][1:]
	}
}

func (t *remoteTail) print(lines []tailLine) {
	for _, l := range lines {
		fmt.Fprintf(t.stdout, "%s\n", l.line)
	}
}

// run prints the last n lines (of node, or of every node merged by time)
// and with follow then every new one until ctx ends.
func (t *remoteTail) run(ctx context.Context, node string, n int, follow bool) error {
	nodes := []string{node}
	if node == "" {
		var p exportPage
		if err := t.r.call(ctx, "ArcaExportAuditLog", map[string]any{"MaxResults": 1}, &p); err != nil {
			return t.stopped(ctx, err)
		}
		nodes = p.Nodes
	}
	curs := map[string]*tailCursor{}
	var lists [][]tailLine
	for _, nd := range nodes {
		lines, cur, _, err := t.lastLines(ctx, nd, n)
		if err != nil {
			return t.stopped(ctx, fmt.Errorf("node %s: %w", nd, err))
		}
		curs[nd] = &cur
		lists = append(lists, lines)
	}
	merged := mergeByTime(lists)
	t.print(merged[max(0, len(merged)-n):])
	if !follow {
		return nil
	}
	wait, failing := tailPollInterval, false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		more, err := t.round(ctx, node, curs)
		if err != nil {
			var re *remoteError
			if ctx.Err() != nil {
				return nil
			}
			if !errors.As(err, &re) || !re.retryable() {
				return err
			}
			// Unreachable or failing: try again, less and less often.
			if !failing {
				fmt.Fprintf(t.stderr, "arca: %v; retrying\n", err)
			}
			failing, wait = true, min(2*max(wait, tailPollInterval), tailMaxBackoff)
			continue
		}
		if failing {
			fmt.Fprintf(t.stderr, "arca: reconnected\n")
		}
		failing, wait = false, tailPollInterval
		if more {
			wait = 0 // a full page: the rest is waiting
		}
	}
}

// round reads one page of each followed node's new records and prints
// them merged by time. A node that appears meanwhile (a new node sharing
// the PostgreSQL storage) is followed from the start of its chain, so
// none of its records are missed. more is set if a page was full.
func (t *remoteTail) round(ctx context.Context, node string, curs map[string]*tailCursor) (more bool, err error) {
	names := make([]string, 0, len(curs))
	for nd := range curs {
		names = append(names, nd)
	}
	slices.Sort(names)
	var lists [][]tailLine
	var seen []string
	for _, nd := range names {
		cur := *curs[nd]
		lines, full, p, err := t.page(ctx, nd, map[string]any{"StartAfterSequence": cur.last, "MaxResults": 1000}, &cur)
		if err != nil {
			// Print what the other nodes gave first: their cursors
			// have moved past it.
			t.print(mergeByTime(lists))
			return false, fmt.Errorf("node %s: %w", nd, err)
		}
		*curs[nd] = cur
		lists = append(lists, lines)
		more = more || full
		seen = p.Nodes
	}
	t.print(mergeByTime(lists))
	if node == "" {
		for _, nd := range seen {
			if curs[nd] == nil {
				curs[nd] = &tailCursor{}
				more = true
			}
		}
	}
	return more, nil
}

// stopped turns an error into nil if ctx ended (Ctrl-C during a call).
func (t *remoteTail) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// tailOnline is `arca audit tail --address`.
func tailOnline(ctx context.Context, o *operatorOpts, region, node string, n int, follow, all bool, stdout, stderr io.Writer) error {
	creds, err := envCredentials()
	if err != nil {
		return err
	}
	hc, err := o.httpClient()
	if err != nil {
		return err
	}
	hc.Timeout = time.Minute
	t := &remoteTail{r: &remoteVerify{address: strings.TrimRight(o.address, "/"), region: region, creds: creds, hc: hc},
		all: all, stdout: stdout, stderr: stderr, own: map[string]time.Time{}}
	t.r.requestID = t.ownCall
	return t.run(ctx, node, n, follow)
}
