package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File layout in the log directory:
//
//	segment-00000001.jsonl   events, one JSON object per line, in sequence
//	checkpoints.jsonl        signed checkpoints, one per line
//
// A new segment starts when the current one passes MaxSegmentBytes.
//
// The segment being written is preallocated: the writer extends it with
// zero bytes ahead of its records (preallocBytes at a time, made durable by
// a full fsync) and writes each batch over those zeros, so that the batch's
// fdatasync changes no file size and no block allocation and needs no
// journal commit (docs/PERFORMANCE.md). A segment may therefore end in a
// run of zero bytes, which readers treat as its end; the writer cuts the
// tail off when it leaves the segment and when the log is closed.
const (
	segmentPrefix   = "segment-"
	segmentSuffix   = ".jsonl"
	checkpointsFile = "checkpoints.jsonl"
	// maxBatch bounds how many events share one fsync.
	maxBatch = 512
	// preallocBytes is how far ahead of its records the writer extends the
	// segment with zeros (at most MaxSegmentBytes).
	preallocBytes = 4 << 20
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: log closed")

// Options configure a Log.
type Options struct {
	// MaxSegmentBytes starts a new segment past this size (default 64 MiB).
	MaxSegmentBytes int64
	// CheckpointInterval is how often a checkpoint is signed while events
	// arrive (default 1 minute); Close always writes one.
	CheckpointInterval time.Duration
	// Now is the clock.
	Now func() time.Time
	// Logger receives operational messages.
	Logger *slog.Logger
	// Durable, if set, is called by the writer goroutine after each batch
	// is durable, with the batch's JSON lines (each ending in '\n') and the
	// sequence number of its last event. It must return at once and must
	// not keep or modify lines: the sinks (internal/audit/sink) copy them
	// into bounded queues and read the segments when they fall behind.
	Durable func(lines []byte, last uint64)
	// NodeID is recorded in every event as arcaNodeId (see NodeID in
	// node.go); empty records none.
	NodeID string
	// CommitDelay is how long the writer waits, after a batch of at least
	// CommitSiblings events, before it takes the next batch: under load
	// more requests then share each sync (cf. PostgreSQL's commit_delay
	// and commit_siblings). A request that arrives alone, or with fewer
	// others than CommitSiblings, is never delayed. 0 disables it.
	CommitDelay time.Duration
	// CommitSiblings is the batch size from which CommitDelay applies
	// (default 8).
	CommitSiblings int
}

// Log is an append-only, hash-chained audit log in a directory. Append is
// safe for concurrent use; concurrent appends share one write and one fsync.
type Log struct {
	dir  string
	key  ed25519.PrivateKey
	kid  string
	opts Options
	log  *slog.Logger

	reqs chan *appendReq
	keys chan rotateReq
	done chan struct{}
	wg   sync.WaitGroup

	// Owned by the writer goroutine.
	seg      *os.File
	segNum   int
	segSize  int64 // where the segment's records end
	segAlloc int64 // the segment file's size: segSize and the zeros after it
	// syncFull is set when the segment's size changed since its last
	// sync: the next sync must be an fsync, not an fdatasync, so that
	// the size (and with it the zeros later batches overwrite) is durable.
	syncFull bool
	// side encodes the index sidecar of segment sumsSeg from the summaries
	// the writer indexes, when it wrote the segment from its start
	// (sumsFull), so that the sidecar is written from it when the log
	// moves on instead of decoding the whole segment again.
	side     *sidecarBuilder
	sumsSeg  int
	sumsFull bool
	seq      uint64
	prevHash string
	lastCP   uint64
	// Reused by writeBatch for every batch: the batch's lines, their
	// lengths, the job handed to syncJobs, the hash state and a copy of the
	// previous hash (hashed as bytes without converting a string per event).
	wbuf  []byte
	wlens []int
	wjob  syncJob
	wsum  hash.Hash
	wprev [2 * sha256.Size]byte

	index *Index

	// Set by the writer after each fsync: the last durable record, which
	// checkpoints sign, and the error that stopped the log (an fsync
	// failed).
	dmu      sync.Mutex
	dseq     uint64
	dhash    string
	brokeErr error

	closeOnce sync.Once
	closeErr  error
}

// Index is the log's lookup index, kept current with every durable batch.
func (l *Log) Index() *Index { return l.index }

type appendReq struct {
	ev *Event
	// body is ev's encoding up to its chain fields (appendEventBody), made
	// by the caller so that the writer, which every event passes through,
	// only splices in the sequence and hashes (nil: the writer encodes the
	// whole event). It is from bodyPool; the writer returns it.
	body *[]byte
	err  chan error
}

// isHash reports whether s is a lowercase hex SHA-256, which encodes in
// JSON as itself.
func isHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// reqPool recycles append requests with their reply channels: the writer
// sends exactly one reply per queued request and does not touch it after,
// so once Append has its reply the request is free again.
var reqPool = sync.Pool{New: func() any { return &appendReq{err: make(chan error, 1)} }}

// bodyPool recycles the event encodings Append makes (a few hundred bytes
// per request) once the writer has copied them into its batch.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// KeyID names a checkpoint signing key: the first 16 hex digits of the
// SHA-256 of its public key.
func KeyID(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}

// Open opens (or creates) the log in dir, signing checkpoints with key. It
// reads the last segment to continue the chain; a torn last line (a write
// cut short by a crash, never acknowledged) is cut off and recorded in the
// chain as an arca:TornRecord event, so verification reports it instead of
// silently accepting or losing it.
func Open(dir string, key ed25519.PrivateKey, opts Options) (*Log, error) {
	if opts.MaxSegmentBytes <= 0 {
		opts.MaxSegmentBytes = 64 << 20
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.CommitSiblings <= 0 {
		opts.CommitSiblings = 8
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	l := &Log{dir: dir, key: key, kid: KeyID(key.Public().(ed25519.PublicKey)), opts: opts, log: opts.Logger,
		reqs: make(chan *appendReq, maxBatch), keys: make(chan rotateReq), done: make(chan struct{}), prevHash: ZeroHash}
	torn, err := l.recover()
	if err != nil {
		return nil, err
	}
	l.index = newIndex(dir)
	if err := l.index.build(true); err != nil {
		return nil, fmt.Errorf("audit: index: %w", err)
	}
	l.dseq, l.dhash = l.seq, l.prevHash
	l.sumsSeg, l.sumsFull = l.segNum, l.segSize == 0
	if torn != nil {
		torn.NodeID = opts.NodeID
		job, err := l.writeBatch([]*appendReq{{ev: torn, err: make(chan error, 1)}})
		if err == nil {
			err = l.syncJobs([]*syncJob{job})
		}
		if err != nil {
			return nil, err
		}
		l.log.Warn("audit log: torn last record cut off and recorded", "segment", l.segNum)
	}
	l.wg.Add(1)
	go l.run()
	return l, nil
}

func segmentName(n int) string { return fmt.Sprintf("%s%08d%s", segmentPrefix, n, segmentSuffix) }

// segments lists the segment numbers in dir, ascending.
func segments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		name := e.Name()
		if !strings.HasPrefix(name, segmentPrefix) || !strings.HasSuffix(name, segmentSuffix) {
			continue
		}
		var n int
		if _, err := fmt.Sscanf(strings.TrimSuffix(strings.TrimPrefix(name, segmentPrefix), segmentSuffix), "%d", &n); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out, nil
}

// recover positions the log after its last complete event and returns the
// TornRecord event to append if the last line was torn.
func (l *Log) recover() (*Event, error) {
	segs, err := segments(l.dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if len(segs) == 0 {
		return nil, l.openSegment(1)
	}
	last := segs[len(segs)-1]
	path := filepath.Join(l.dir, segmentName(last))
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	end, good := dataEnd(data)
	tornBytes := data[good:end]
	body := data[:good]
	var lastEv *Event
	for len(body) > 0 {
		i := bytes.LastIndexByte(body[:len(body)-1], '\n') + 1
		var e Event
		if err := json.Unmarshal(body[i:len(body)-1], &e); err == nil && e.Hash != "" {
			lastEv = &e
			break
		}
		// A complete but unparsable last line is torn too (a partial
		// write that happened to end in a newline byte).
		tornBytes = data[i:end]
		good = i
		body = body[:i]
	}
	if lastEv == nil && last > 1 {
		// The segment holds no complete event: continue from the one before.
		prev, err := lastEventOf(filepath.Join(l.dir, segmentName(last-1)))
		if err != nil {
			return nil, err
		}
		lastEv = prev
	}
	if lastEv != nil {
		l.seq, l.prevHash = lastEv.Sequence, lastEv.Hash
	}
	var torn *Event
	if good < len(data) {
		// Cut the torn bytes and the preallocated zeros: writing resumes
		// at good, and the first sync after Open is a full fsync.
		if err := os.Truncate(path, int64(good)); err != nil {
			return nil, fmt.Errorf("audit: cut torn record: %w", err)
		}
	}
	if len(tornBytes) > 0 {
		sum := sha256.Sum256(tornBytes)
		extra, _ := json.Marshal(map[string]any{"segment": segmentName(last), "offset": good,
			"tornBytes": len(tornBytes), "tornSha256": hex.EncodeToString(sum[:])})
		torn = &Event{EventName: "arca:TornRecord", EventSource: "arca", AdditionalEventData: extra,
			EventType: "ArcaServiceEvent", EventCategory: "Management"}
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	l.seg, l.segNum, l.segSize, l.segAlloc, l.syncFull = f, last, st.Size(), st.Size(), true
	return torn, nil
}

// dataEnd finds where the records of a segment's bytes end. end is where
// the zero bytes of the preallocated tail begin (len(data) if there are
// none). good is just after the last newline before end, or before the
// first zero byte if one occurs earlier: records are JSON and never hold a
// zero byte, so a zero before end is a hole left by a crash (a batch whose
// pages reached the disk only in part), and neither the line it is in nor
// anything after it was ever acknowledged (an acknowledgement needs a sync
// covering every page up to its record). The bytes between good and end,
// if any, are torn.
func dataEnd(data []byte) (end, good int) {
	end = len(bytes.TrimRight(data, "\x00"))
	upto := end
	if h := bytes.IndexByte(data[:end], 0); h >= 0 {
		upto = h
	}
	return end, bytes.LastIndexByte(data[:upto], '\n') + 1
}

func lastEventOf(path string) (*Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	var last *Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		var e Event
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Hash != "" {
			last = &e
		}
	}
	return last, sc.Err()
}

// maxLine bounds one event's encoding when reading.
const maxLine = 4 << 20

// openSegment makes segment n the one written. The previous segment's file
// is not closed here: syncJobs closes it once its last batch is synced.
func (l *Log) openSegment(n int) error {
	f, err := os.OpenFile(filepath.Join(l.dir, segmentName(n)), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	l.seg, l.segNum, l.segSize, l.segAlloc, l.syncFull = f, n, 0, 0, true
	// The new file's directory entry must be durable before events in it
	// are acknowledged.
	return syncDir(l.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Append adds ev to the log and returns once it is durable (written and
// fsynced). It fills in the chain fields and EventVersion. An error means
// the event is not in the log and the request it describes must fail.
func (l *Log) Append(ctx context.Context, ev *Event) error {
	ev.EventVersion = EventVersion
	if ev.EventTime == "" {
		ev.EventTime = l.opts.Now().UTC().Format(time.RFC3339)
	}
	ev.NodeID = l.opts.NodeID
	ev.Sequence, ev.PreviousHash, ev.Hash = 0, "", ""
	bp := bodyPool.Get().(*[]byte)
	body, err := appendEventBody((*bp)[:0], ev)
	if err != nil {
		bodyPool.Put(bp)
		return fmt.Errorf("audit: encode event: %w", err)
	}
	*bp = body
	r := reqPool.Get().(*appendReq)
	r.ev, r.body = ev, bp
	notQueued := func(err error) error {
		bodyPool.Put(bp)
		r.ev, r.body = nil, nil
		reqPool.Put(r)
		return err
	}
	select {
	case <-l.done:
		return notQueued(ErrClosed)
	default:
	}
	select {
	case l.reqs <- r:
	case <-l.done:
		return notQueued(ErrClosed)
	case <-ctx.Done():
		return notQueued(ctx.Err())
	}
	// Once queued the event will be written; wait for the outcome even if
	// ctx ends, so a caller never reports failure for a durable event.
	err = <-r.err
	r.ev, r.body = nil, nil
	reqPool.Put(r)
	return err
}

func (l *Log) run() {
	defer l.wg.Done()
	tick := time.NewTicker(l.opts.CheckpointInterval)
	defer tick.Stop()
	batch := make([]*appendReq, 0, maxBatch)
	for {
		select {
		case r := <-l.reqs:
			batch = append(batch[:0], r)
		fill:
			for len(batch) < maxBatch {
				select {
				case r := <-l.reqs:
					batch = append(batch, r)
				default:
					break fill
				}
			}
			l.submit(batch)
			if d := l.delayAfter(len(batch)); d > 0 {
				// Requests that arrive meanwhile queue in l.reqs without
				// waking the writer, so waiting costs one timer per batch.
				time.Sleep(d)
			}
		case rq := <-l.keys:
			// Everything so far is anchored by the old key; checkpoints
			// from now on are signed by the new one.
			err := l.checkpoint()
			if err == nil {
				l.key, l.kid = rq.key, KeyID(rq.key.Public().(ed25519.PublicKey))
			}
			rq.err <- err
		case <-tick.C:
			if err := l.checkpoint(); err != nil {
				l.log.Error("audit checkpoint failed", "error", err)
			}
		case <-l.done:
			// Drain what was queued before Close.
			for {
				select {
				case r := <-l.reqs:
					l.submit([]*appendReq{r})
				default:
					return
				}
			}
		}
	}
}

// delayAfter is how long the writer waits after a batch of n events
// before it takes the next batch: CommitDelay once the batch shows that
// requests arrive together, nothing for a request on its own.
func (l *Log) delayAfter(n int) time.Duration {
	if n < l.opts.CommitSiblings {
		return 0
	}
	return l.opts.CommitDelay
}

// syncJob is a batch written to a segment file and not yet fsynced.
type syncJob struct {
	batch []*appendReq
	f     *os.File // the file written
	// closeAfter is a segment file the writer has left: cut to closeEnd
	// (its preallocated zeros dropped) and closed once synced.
	closeAfter *os.File
	closeEnd   int64
	// full: the sync must be an fsync (the file's size changed).
	full  bool
	seg   int
	start int64
	lens  []int
	buf   []byte
	seq   uint64 // the batch's last record
	hash  string
}

// submit writes a batch, fsyncs it and acknowledges it (group commit: one
// write and one fsync for every event queued meanwhile). Requests that
// arrive during the fsync queue up and form the next batch, so a request
// waits for about one fsync. One goroutine does both steps: a pipeline
// that wrote the next batch while another goroutine fsynced cost more CPU
// per request in goroutine and thread hand-offs (and sysmon's P retakes
// from two blocking syscalls) than its overlap saved (docs/PERFORMANCE.md).
func (l *Log) submit(batch []*appendReq) {
	if err := l.broken(); err != nil {
		for _, r := range batch {
			r.err <- err
		}
		return
	}
	job, err := l.writeBatch(batch)
	if err != nil {
		for _, r := range batch {
			r.err <- err
		}
		return
	}
	l.syncJobs([]*syncJob{job})
}

func (l *Log) broken() error {
	l.dmu.Lock()
	defer l.dmu.Unlock()
	return l.brokeErr
}

// syncJobs makes jobs durable, in order, and acknowledges them. An fsync
// failure stops the log: what the kernel did with the failed pages is
// unknown, so no later write may build on them; every append fails from
// then on and the requests are refused (fail-closed) until a restart, whose
// recovery reads what is really on disk. Records of refused requests may
// therefore be found in the log after a restart; none is ever missing for
// a request that was told it succeeded.
func (l *Log) syncJobs(jobs []*syncJob) error {
	err := l.broken()
	if err == nil {
		var last *os.File
		for _, j := range jobs {
			if j.f == last {
				continue
			}
			if e := syncFile(j.f, j.full); e != nil {
				err = fmt.Errorf("audit: fsync: %w", e)
				l.dmu.Lock()
				l.brokeErr = err
				l.dmu.Unlock()
				l.log.Error("audit log stopped: fsync failed; every request is refused until Arca restarts", "error", e)
				break
			}
			last = j.f
		}
	}
	for _, j := range jobs {
		if err == nil {
			if l.index != nil {
				l.index.mu.Lock()
				off := j.start
				for i, r := range j.batch {
					if r.ev.EventType == "AwsApiCall" {
						s := summarize(r.ev, off, j.lens[i])
						l.index.addSummary(j.seg, &s)
						if j.seg == l.sumsSeg && l.sumsFull {
							if l.side == nil {
								l.side = newSidecarBuilder()
							}
							l.side.add(&s)
						}
					}
					off += int64(j.lens[i]) + 1
				}
				l.index.mu.Unlock()
			}
			if l.opts.Durable != nil {
				l.opts.Durable(j.buf, j.seq)
			}
			l.dmu.Lock()
			l.dseq, l.dhash = j.seq, j.hash
			l.dmu.Unlock()
		}
		for _, r := range j.batch {
			r.err <- err
		}
		if j.closeAfter != nil {
			if err == nil {
				l.cutTail(j.closeAfter, j.closeEnd)
			}
			j.closeAfter.Close()
			var side *sidecarBuilder
			if j.seg == l.sumsSeg && l.sumsFull && err == nil {
				side = l.side
				if side == nil {
					side = newSidecarBuilder()
				}
			}
			// The segment just opened is written from its start.
			l.side, l.sumsSeg, l.sumsFull = nil, l.segNum, true
			l.saveSidecar(j.seg, side)
		}
	}
	return err
}

// writeBatch chains and writes a batch (syncJobs fsyncs it). On failure
// the chain state is left as before the batch, so the next batch continues
// from the last written event; the file is cut back to where it was. The
// job it returns, and the buffers in it, are the writer's and are reused by
// the next call: syncJobs must be done with it first.
func (l *Log) writeBatch(batch []*appendReq) (*syncJob, error) {
	seq, prev := l.seq, l.prevHash
	size := 0
	for _, r := range batch {
		if r.body != nil {
			size += len(*r.body) + 256
		}
	}
	if cap(l.wbuf) > 4<<20 {
		// Do not keep the memory of one huge batch for ever.
		l.wbuf, l.wlens = nil, nil
	}
	buf := slices.Grow(l.wbuf[:0], size)
	lens := l.wlens[:0]
	if l.wsum == nil {
		l.wsum = sha256.New()
	}
	sum := l.wsum
	var digest [sha256.Size]byte
	for _, r := range batch {
		e := r.ev
		seq++
		e.EventVersion = EventVersion
		e.Sequence, e.PreviousHash = seq, prev
		if e.EventTime == "" {
			e.EventTime = l.opts.Now().UTC().Format(time.RFC3339)
		}
		// One encoding serves both the hash and the line: the canonical
		// form ends with the empty hash, which is filled in place.
		n := len(buf)
		if r.body != nil && isHash(prev) {
			buf = append(buf, *r.body...)
			buf = append(buf, `"arcaSequence":`...)
			buf = strconv.AppendUint(buf, seq, 10)
			buf = append(buf, `,"arcaPreviousHash":"`...)
			buf = append(buf, prev...)
			buf = append(buf, `","arcaHash":"`...)
			sum.Reset()
			copy(l.wprev[:], prev)
			sum.Write(l.wprev[:])
			sum.Write(buf[n:])
			sum.Write(hashTail)
			buf = hex.AppendEncode(buf, sum.Sum(digest[:0]))
			e.Hash = string(buf[len(buf)-2*sha256.Size:])
			buf = append(buf, hashTail...)
		} else {
			// A log continued from a foreign last record, or an event
			// encoded here: the plain way.
			h, err := e.computeHash()
			if err != nil {
				return nil, err
			}
			e.Hash = h
			line, err := json.Marshal(e)
			if err != nil {
				return nil, err
			}
			buf = append(buf, line...)
		}
		if r.body != nil {
			if cap(*r.body) <= 64<<10 {
				bodyPool.Put(r.body)
			}
			r.body = nil
		}
		lens = append(lens, len(buf)-n)
		buf = append(buf, '\n')
		prev = e.Hash
	}
	l.wbuf, l.wlens = buf, lens
	start := l.segSize
	end := start + int64(len(buf))
	if err := l.writeAt(buf, start, end); err != nil {
		// Cut back to the last batch and let the next sync be a full one.
		l.seg.Truncate(start)
		l.segAlloc, l.syncFull = start, true
		return nil, fmt.Errorf("audit: write: %w", err)
	}
	job := &l.wjob
	*job = syncJob{batch: batch, f: l.seg, seg: l.segNum, start: start, lens: lens, buf: buf, seq: seq, hash: prev, full: l.syncFull}
	l.seq, l.prevHash, l.segSize, l.syncFull = seq, prev, end, false
	if l.segSize >= l.opts.MaxSegmentBytes {
		if err := l.openSegment(l.segNum + 1); err != nil {
			l.log.Error("audit: cannot start a new segment; continuing in the current one", "error", err)
		} else {
			job.closeAfter, job.closeEnd = job.f, end
		}
	}
	return job, nil
}

// zeros is what the writer preallocates segments with.
var zeros = make([]byte, 64<<10)

// writeAt writes a batch's lines at start, over the preallocated zeros. A
// batch that reaches past them first extends the file with its own bytes
// and then zeros up to preallocBytes beyond its end, and marks the next
// sync as a full fsync.
func (l *Log) writeAt(buf []byte, start, end int64) error {
	if _, err := l.seg.WriteAt(buf, start); err != nil {
		return err
	}
	if end <= l.segAlloc {
		return nil
	}
	alloc := end + min(preallocBytes, l.opts.MaxSegmentBytes)
	for off := end; off < alloc; {
		n, err := l.seg.WriteAt(zeros[:min(int64(len(zeros)), alloc-off)], off)
		if err != nil {
			return err
		}
		off += int64(n)
	}
	l.segAlloc, l.syncFull = alloc, true
	return nil
}

// cutTail drops a segment's preallocated zeros once the writer has left
// it (or at Close), so that finished segments hold only records. A failure
// only leaves the zeros, which readers skip.
func (l *Log) cutTail(f *os.File, end int64) {
	if err := f.Truncate(end); err != nil {
		l.log.Warn("audit: cannot cut a segment's preallocated tail", "file", f.Name(), "error", err)
		return
	}
	if err := f.Sync(); err != nil {
		l.log.Warn("audit: cannot sync a segment's cut tail", "file", f.Name(), "error", err)
	}
}

// hashTail closes an event's encoding after its hash.
var hashTail = []byte(`"}`)

type rotateReq struct {
	key ed25519.PrivateKey
	err chan error
}

// SetKey makes key the checkpoint signing key, after a last checkpoint
// signed with the current one. Keep the old public key for verification.
func (l *Log) SetKey(key ed25519.PrivateKey) error {
	rq := rotateReq{key: key, err: make(chan error, 1)}
	select {
	case l.keys <- rq:
		return <-rq.err
	case <-l.done:
		return ErrClosed
	}
}

// Checkpoint is a signed statement that event Sequence of the log has hash
// Hash: it anchors everything before it.
type Checkpoint struct {
	Sequence  uint64 `json:"sequence"`
	Hash      string `json:"hash"`
	Time      string `json:"time"`
	KeyID     string `json:"keyId"`
	Signature []byte `json:"signature"`
}

// signedBytes is what a checkpoint's signature covers.
func (c *Checkpoint) signedBytes() []byte {
	return fmt.Appendf(nil, "arca-audit-checkpoint-v1\n%d\n%s\n%s\n%s\n", c.Sequence, c.Hash, c.Time, c.KeyID)
}

// checkpoint signs the current head if it moved since the last checkpoint.
func (l *Log) checkpoint() error {
	// Only durable records are signed: a checkpoint must never vouch for a
	// record a crash could still take away.
	l.dmu.Lock()
	seq, hash := l.dseq, l.dhash
	l.dmu.Unlock()
	if seq == 0 || seq == l.lastCP {
		return nil
	}
	cp := Checkpoint{Sequence: seq, Hash: hash, Time: l.opts.Now().UTC().Format(time.RFC3339Nano), KeyID: l.kid}
	cp.Signature = ed25519.Sign(l.key, cp.signedBytes())
	line, err := json.Marshal(&cp)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(l.dir, checkpointsFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	l.lastCP = seq
	return nil
}

// Close writes the queued events and a final checkpoint, and closes the
// files. It is safe to call more than once.
func (l *Log) Close() error {
	l.closeOnce.Do(func() {
		close(l.done)
		l.wg.Wait()
		l.closeErr = l.checkpoint()
		if l.broken() == nil {
			l.cutTail(l.seg, l.segSize)
		}
		if err := l.seg.Close(); err != nil && l.closeErr == nil {
			l.closeErr = err
		}
		l.index.close()
	})
	return l.closeErr
}
