package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ProblemKind names what verification found.
type ProblemKind string

// Problem kinds. Every kind but Unanchored, TornRecovered and Pruned fails
// verification.
const (
	// Modified: a record's content does not match its hash.
	Modified ProblemKind = "modified"
	// Deleted: records are missing (a gap in sequence or a broken link).
	Deleted ProblemKind = "deleted"
	// Reordered: a record appears after records that follow it.
	Reordered ProblemKind = "reordered"
	// Torn: a line is cut short or is not a record.
	Torn ProblemKind = "torn"
	// Truncated: a checkpoint vouches for records that are gone.
	Truncated ProblemKind = "truncated"
	// BadCheckpoint: a checkpoint's signature is invalid, its key unknown,
	// or its hash disagrees with the record it names.
	BadCheckpoint ProblemKind = "bad-checkpoint"
	// TornRecovered (notice): Arca found a torn last record at restart,
	// cut it off and recorded it in the chain.
	TornRecovered ProblemKind = "torn-recovered"
	// Unanchored (notice): records after the last checkpoint, which no
	// signature covers yet.
	Unanchored ProblemKind = "unanchored"
	// Pruned (notice): retention removed the oldest records; the rest of
	// the chain is verified from the signed anchor left in their place.
	Pruned ProblemKind = "pruned"
	// BadAnchor: the prune anchor's signature is invalid or its key
	// unknown, or it disagrees with the records that remain.
	BadAnchor ProblemKind = "bad-anchor"
)

// Problem is one finding, located precisely.
type Problem struct {
	Kind     ProblemKind `json:"kind"`
	Segment  string      `json:"segment,omitempty"`
	Line     int         `json:"line,omitempty"`
	Sequence uint64      `json:"sequence,omitempty"`
	Detail   string      `json:"detail"`
}

// Fatal reports whether the problem fails verification.
func (p Problem) Fatal() bool {
	return p.Kind != Unanchored && p.Kind != TornRecovered && p.Kind != Pruned
}

// Report is the outcome of Verify.
type Report struct {
	Events      uint64 `json:"events"`
	Checkpoints int    `json:"checkpoints"`
	LastSeq     uint64 `json:"lastSequence"`
	// Pruned is the last record removed by retention (0 if none).
	Pruned   uint64    `json:"pruned,omitempty"`
	Problems []Problem `json:"problems"`
}

// OK reports whether no problem fails verification.
func (r *Report) OK() bool {
	for _, p := range r.Problems {
		if p.Fatal() {
			return false
		}
	}
	return true
}

func (r *Report) add(p Problem) { r.Problems = append(r.Problems, p) }

// Verify checks the log in dir: every record's hash, the chain's links and
// order, and every checkpoint's signature (with keys, by KeyID) against the
// records it names. It reads the files only; a running server may append
// meanwhile, and what it appends after the read is simply not covered.
func Verify(dir string, keys []ed25519.PublicKey) (*Report, error) {
	return VerifyRange(dir, keys, time.Time{}, time.Time{})
}

// VerifyRange is Verify limited to records whose eventTime lies within
// [from, to] (a zero bound is open): the chain is still followed through
// every record, so a record deleted or moved inside the range is found, but
// only records in the range are re-hashed and reported. Checkpoints and
// torn lines are always checked.
func VerifyRange(dir string, keys []ed25519.PublicKey, from, to time.Time) (*Report, error) {
	segs, err := segments(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	rep := &Report{Problems: []Problem{}}
	// First pass: which sequence numbers exist, to tell a missing record
	// from a moved one.
	present := map[uint64]bool{}
	for _, n := range segs {
		if err := eachLine(filepath.Join(dir, segmentName(n)), func(_ int, line []byte, _ bool) {
			var e Event
			if json.Unmarshal(line, &e) == nil {
				present[e.Sequence] = true
			}
		}); err != nil {
			return nil, err
		}
	}
	hashes := map[uint64]string{}
	expect, prev := uint64(1), ZeroHash
	// moved are records already reported as appearing late (a record after
	// them came first): their own late appearance is the same problem.
	moved := map[uint64]bool{}
	// pruned is the last record retention removed (0: none); the chain
	// starts after it, from the anchor's hash, if the anchor is genuine.
	var pruned uint64
	if a := verifyAnchor(dir, keys, rep); a != nil {
		pruned, expect, prev = a.Sequence, a.Sequence+1, a.Hash
		rep.Pruned = a.Sequence
	}
	for _, n := range segs {
		name := segmentName(n)
		err := eachLine(filepath.Join(dir, name), func(ln int, line []byte, terminated bool) {
			var e Event
			if err := json.Unmarshal(line, &e); err != nil || e.Hash == "" {
				what := "not a record"
				if !terminated {
					what = "the last line is cut short (no newline): a torn write"
				}
				rep.add(Problem{Kind: Torn, Segment: name, Line: ln, Detail: what})
				return
			}
			if e.Sequence <= pruned {
				// Left by a prune cut short after its anchor was written.
				if e.Sequence == pruned && e.Hash != prev {
					rep.add(Problem{Kind: BadAnchor, Segment: name, Line: ln, Sequence: e.Sequence,
						Detail: "the anchor's hash differs from the record it names"})
				}
				return
			}
			rep.Events++
			at := Problem{Segment: name, Line: ln, Sequence: e.Sequence}
			add := rep.add
			if !from.IsZero() || !to.IsZero() {
				t, err := time.Parse(time.RFC3339, e.EventTime)
				if err == nil && (!from.IsZero() && t.Before(from) || !to.IsZero() && t.After(to)) {
					add = func(Problem) {}
				}
			}
			if h, err := e.computeHash(); err != nil || h != e.Hash {
				at.Kind, at.Detail = Modified, "the record's content does not match its hash"
				add(at)
			}
			switch {
			case e.Sequence == expect:
				if e.PreviousHash != prev {
					at.Kind, at.Detail = Deleted, "the link to the previous record is broken"
					add(at)
				}
			case e.Sequence < expect:
				if !moved[e.Sequence] {
					at.Kind, at.Detail = Reordered, fmt.Sprintf("record %d appears after record %d", e.Sequence, expect-1)
					add(at)
				}
			default:
				// A gap wider than the number of records can only be
				// missing records; never walk it (a forged sequence number
				// near 2^64 would take forever).
				gap := e.Sequence - expect
				missing := gap
				if gap <= uint64(len(present)) {
					missing = 0
					for s := expect; s < e.Sequence; s++ {
						if !present[s] {
							missing++
						}
					}
				}
				if missing > 0 {
					at.Kind, at.Detail = Deleted, fmt.Sprintf("%d record(s) missing before record %d (expected %d next)", missing, e.Sequence, expect)
				} else {
					at.Kind, at.Detail = Reordered, fmt.Sprintf("record %d appears before record %d", e.Sequence, expect)
					for s := expect; s < e.Sequence; s++ {
						moved[s] = true
					}
				}
				add(at)
			}
			if e.EventName == "arca:TornRecord" {
				add(Problem{Kind: TornRecovered, Segment: name, Line: ln, Sequence: e.Sequence,
					Detail: "a torn record was found and cut off at restart: " + string(e.AdditionalEventData)})
			}
			if e.Sequence >= expect {
				// The chain continues from the highest record so far; a
				// late record does not move it.
				expect = e.Sequence + 1
				prev = e.Hash
			}
			hashes[e.Sequence] = e.Hash
			if e.Sequence > rep.LastSeq {
				rep.LastSeq = e.Sequence
			}
		})
		if err != nil {
			return nil, err
		}
	}
	verifyCheckpoints(dir, keys, hashes, pruned, rep)
	return rep, nil
}

// verifyAnchor checks the prune anchor, if any, and returns it when its
// signature holds. A bad anchor is reported and not used, so the records
// it claims were pruned show up as deleted too.
func verifyAnchor(dir string, keys []ed25519.PublicKey, rep *Report) *Anchor {
	a, err := readAnchor(dir)
	if err != nil {
		rep.add(Problem{Kind: BadAnchor, Segment: anchorFile, Detail: err.Error()})
		return nil
	}
	if a == nil {
		return nil
	}
	at := Problem{Kind: BadAnchor, Segment: anchorFile, Sequence: a.Sequence}
	var key ed25519.PublicKey
	for _, k := range keys {
		if KeyID(k) == a.KeyID {
			key = k
		}
	}
	switch {
	case key == nil:
		at.Detail = "signed by unknown key " + a.KeyID
	case !ed25519.Verify(key, a.signedBytes(), a.Signature):
		at.Detail = "the signature is invalid"
	default:
		rep.add(Problem{Kind: Pruned, Segment: anchorFile, Sequence: a.Sequence,
			Detail: fmt.Sprintf("records 1 to %d (through %s) were removed by retention at %s; the chain is verified from the signed anchor", a.Sequence, a.EventTime, a.Time)})
		return a
	}
	rep.add(at)
	return nil
}

func verifyCheckpoints(dir string, keys []ed25519.PublicKey, hashes map[uint64]string, pruned uint64, rep *Report) {
	byID := map[string]ed25519.PublicKey{}
	for _, k := range keys {
		byID[KeyID(k)] = k
	}
	anchored := pruned
	path := filepath.Join(dir, checkpointsFile)
	if _, err := os.Stat(path); os.IsNotExist(err) {
		if rep.LastSeq > 0 {
			rep.add(Problem{Kind: Unanchored, Detail: fmt.Sprintf("no checkpoint yet: records 1 to %d are not covered by a signature", rep.LastSeq)})
		}
		return
	}
	err := eachLine(path, func(ln int, line []byte, terminated bool) {
		at := Problem{Kind: BadCheckpoint, Segment: checkpointsFile, Line: ln}
		var cp Checkpoint
		if err := json.Unmarshal(line, &cp); err != nil {
			if !terminated {
				at.Kind, at.Detail = Torn, "the last checkpoint is cut short"
			} else {
				at.Detail = "not a checkpoint"
			}
			rep.add(at)
			return
		}
		rep.Checkpoints++
		at.Sequence = cp.Sequence
		key, ok := byID[cp.KeyID]
		switch {
		case !ok:
			at.Detail = "signed by unknown key " + cp.KeyID
			rep.add(at)
			return
		case !ed25519.Verify(key, cp.signedBytes(), cp.Signature):
			at.Detail = "the signature is invalid"
			rep.add(at)
			return
		}
		h, ok := hashes[cp.Sequence]
		switch {
		case !ok && cp.Sequence <= pruned:
			// The record it names was pruned; the anchor vouches instead.
		case !ok:
			rep.add(Problem{Kind: Truncated, Sequence: cp.Sequence,
				Detail: fmt.Sprintf("checkpoint %d vouches for record %d, which is not in the log (the log ends at %d)", ln, cp.Sequence, rep.LastSeq)})
		case h != cp.Hash:
			at.Detail = fmt.Sprintf("record %d's hash differs from the one the checkpoint signed", cp.Sequence)
			rep.add(at)
		}
		anchored = max(anchored, cp.Sequence)
	})
	if err != nil {
		rep.add(Problem{Kind: BadCheckpoint, Segment: checkpointsFile, Detail: err.Error()})
		return
	}
	if rep.LastSeq > anchored {
		rep.add(Problem{Kind: Unanchored, Sequence: anchored + 1,
			Detail: fmt.Sprintf("records %d to %d follow the last checkpoint; no signature covers them yet", anchored+1, rep.LastSeq)})
	}
}

// eachLine calls fn for every line of the file (1-based numbers), telling
// whether the line ended with a newline. The zero bytes that end a segment
// being written (its preallocated tail, see log.go) are not a line; a
// record cut short before them is, unterminated.
func eachLine(path string, fn func(ln int, line []byte, terminated bool)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for ln := 1; ; ln++ {
		line, err := r.ReadBytes('\n')
		if err != nil {
			line = bytes.TrimRight(line, "\x00")
		}
		if len(line) > 0 {
			terminated := line[len(line)-1] == '\n'
			fn(ln, bytes.TrimSuffix(line, []byte{'\n'}), terminated)
		}
		if err != nil {
			return nil
		}
	}
}
