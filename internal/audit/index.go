package audit

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Lookup attributes, as CloudTrail's LookupEvents names them.
const (
	AttrEventID      = "EventId"
	AttrEventName    = "EventName"
	AttrReadOnly     = "ReadOnly"
	AttrUsername     = "Username"
	AttrResourceType = "ResourceType"
	AttrResourceName = "ResourceName"
	AttrEventSource  = "EventSource"
	AttrAccessKeyID  = "AccessKeyId"
)

// indexedAttrs are the attributes kept as posting lists (EventId has its
// own map).
var indexedAttrs = []string{AttrEventName, AttrReadOnly, AttrUsername, AttrResourceType, AttrResourceName, AttrEventSource, AttrAccessKeyID}

// Index finds API events by account, lookup attribute and time without
// reading the log: it keeps, per event, its time and place in the segment
// files, and per (account, attribute, value) the ascending list of events
// that have it. It is built by reading the log once at Open and then
// extended by the writer after every durable batch. Memory is about 110
// bytes per event plus the distinct values.
//
// Only API events (eventType AwsApiCall) are indexed: intent records and
// the log's own notices are evidence for verification, not answers to
// lookups.
type Index struct {
	dir string

	mu   sync.RWMutex
	ents []entry
	post map[string]*[]uint32
	// scratch builds posting keys in add.
	scratch []byte
	ids     map[[16]byte]uint32
	files   map[uint32]*os.File
}

// entry is one indexed event: its time and where its line is.
type entry struct {
	time int64 // unix seconds
	off  int64
	seg  uint32
	n    uint32
}

func newIndex(dir string) *Index {
	return &Index{dir: dir, post: map[string]*[]uint32{}, ids: map[[16]byte]uint32{}, files: map[uint32]*os.File{}}
}

// Len is the number of indexed events.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.ents)
}

func postKey(account, attr, value string) string {
	return account + "\x00" + attr + "\x00" + value
}

// Username is the name CloudTrail's LookupEvents shows for an event's
// caller: the IAM user's name, "root", a role session's name.
func (e *Event) Username() string {
	u := &e.UserIdentity
	switch {
	case u.UserName != "":
		return u.UserName
	case u.Type == "Root":
		return "root"
	case u.Type == "AssumedRole" && u.ARN != "":
		return u.ARN[strings.LastIndexByte(u.ARN, '/')+1:]
	}
	return u.PrincipalID
}

// Account is the account an event belongs to for lookups.
func (e *Event) Account() string {
	if e.RecipientAccountID != "" {
		return e.RecipientAccountID
	}
	return e.UserIdentity.AccountID
}

// add indexes ev, written at (seg, off) with n bytes (newline excluded).
// The caller holds mu for writing.
func (ix *Index) add(ev *Event, seg int, off int64, n int) {
	if ev.EventType != "AwsApiCall" {
		return
	}
	s := summarize(ev, off, n)
	ix.addSummary(seg, &s)
}

// addSummary indexes one API event of segment seg. The caller holds mu
// for writing.
func (ix *Index) addSummary(seg int, s *summary) {
	ord := uint32(len(ix.ents))
	ix.ents = append(ix.ents, entry{time: s.time, off: s.off, seg: uint32(seg), n: uint32(s.n)})
	acct := s.account
	put := func(attr, v string) {
		if v == "" {
			return
		}
		// The key is built in a reused buffer: nearly every event's
		// values were seen before, and the lookup needs no string.
		k := append(append(append(append(append(ix.scratch[:0], acct...), 0), attr...), 0), v...)
		ix.scratch = k
		l := ix.post[string(k)]
		if l == nil {
			l = new([]uint32)
			ix.post[string(k)] = l
		}
		if n := len(*l); n > 0 && (*l)[n-1] == ord {
			return
		}
		*l = append(*l, ord)
	}
	put("", "*")
	put(AttrEventName, s.name)
	put(AttrReadOnly, strconv.FormatBool(s.readOnly))
	put(AttrUsername, s.username)
	put(AttrEventSource, s.source)
	put(AttrAccessKeyID, s.accessKeyID)
	for _, r := range s.resources {
		put(AttrResourceType, r.Type)
		put(AttrResourceName, r.ARN)
	}
	if s.hasID {
		ix.ids[s.id] = ord
	}
}

// parseUUID reads a UUID's 32 hex digits, ignoring dashes wherever they
// are.
func parseUUID(s string) ([16]byte, bool) {
	var out [16]byte
	var h [32]byte
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		if n == len(h) {
			return out, false
		}
		h[n] = s[i]
		n++
	}
	if n != len(h) {
		return out, false
	}
	if _, err := hex.Decode(out[:], h[:]); err != nil {
		return out, false
	}
	return out, true
}

// Query is one lookup.
type Query struct {
	// Account limits results to one account's events; "" means every
	// account (operators, offline).
	Account string
	// Attr and Value are at most one lookup attribute (CloudTrail allows
	// one); Attr "" matches every event.
	Attr, Value string
	// Start and End bound eventTime, inclusive; zero means unbounded.
	Start, End time.Time
	// Max is the page size (default 50).
	Max int
	// Before continues a previous page: only events older than this
	// position (a Page's Next) are returned. 0 starts at the newest.
	Before uint64
	// Cursor, if not nil, continues a previous page instead of Before: a
	// Page's Cursor, opaque (ErrBadCursor if it is not one).
	Cursor []byte
}

// Page is a lookup's result: raw event lines, newest first, and the
// position to continue from (0 when there is no more).
type Page struct {
	Events [][]byte
	Next   uint64
	// Cursor is Next as Query.Cursor takes it (nil when there is no more).
	Cursor []byte
}

// ErrBadCursor is returned for a Query.Cursor no lookup made.
var ErrBadCursor = errors.New("audit: bad lookup cursor")

// ErrUnknownAttribute is returned for a lookup attribute that is not indexed.
var ErrUnknownAttribute = errors.New("audit: unknown lookup attribute")

// timeSlack is how far out of time order events may be written: a
// request's time is taken when it arrives and the event is appended when
// it ends.
const timeSlack = 5 * 60

// Lookup returns the newest events that match q.
func (ix *Index) Lookup(q Query) (Page, error) {
	if q.Max <= 0 {
		q.Max = 50
	}
	if q.Cursor != nil {
		if len(q.Cursor) != 8 {
			return Page{}, ErrBadCursor
		}
		q.Before = binary.BigEndian.Uint64(q.Cursor)
	}
	want, ords, err := ix.scan(q, q.Before, q.Max+1)
	if err != nil {
		return Page{}, err
	}
	var page Page
	if len(want) > q.Max {
		page.Next = uint64(ords[q.Max]) + 1
		page.Cursor = binary.BigEndian.AppendUint64(nil, page.Next)
		want = want[:q.Max]
	}
	for _, e := range want {
		b, err := ix.read(e)
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, os.ErrClosed) {
			continue // pruned by retention (and dropped by DropMissing)
		}
		if err != nil {
			return Page{}, err
		}
		if !accountMatches(q, b) {
			continue
		}
		page.Events = append(page.Events, b)
	}
	return page, nil
}

// accountMatches checks an event found by ID against the query's account:
// event IDs are indexed for every account at once.
func accountMatches(q Query, b []byte) bool {
	if q.Account == "" || q.Attr != AttrEventID {
		return true
	}
	var ev Event
	return json.Unmarshal(b, &ev) == nil && ev.Account() == q.Account
}

// scan returns up to limit of the newest entries that match q among those
// before position before (0: all), newest first, with their positions.
func (ix *Index) scan(q Query, before uint64, limit int) ([]entry, []uint32, error) {
	ix.mu.RLock()
	var list []uint32
	switch q.Attr {
	case AttrEventID:
		if id, ok := parseUUID(q.Value); ok {
			if o, ok := ix.ids[id]; ok {
				list = []uint32{o}
			}
		}
	case "":
		list = ix.postings(q.Account, "", "*")
	default:
		if !slices.Contains(indexedAttrs, q.Attr) {
			ix.mu.RUnlock()
			return nil, nil, ErrUnknownAttribute
		}
		list = ix.postings(q.Account, q.Attr, q.Value)
	}
	ents := ix.ents
	ix.mu.RUnlock()

	hi := len(list) // candidates are list[:hi]
	if before > 0 {
		hi, _ = slices.BinarySearch(list, uint32(before))
	}
	if !q.End.IsZero() {
		end := q.End.Unix() + timeSlack
		hi, _ = slices.BinarySearchFunc(list[:hi], end, func(o uint32, t int64) int {
			if ents[o].time <= t {
				return -1
			}
			return 1
		})
	}
	var want []entry
	var ords []uint32
	for i := hi - 1; i >= 0 && len(want) < limit; i-- {
		e := ents[list[i]]
		if !q.Start.IsZero() && e.time < q.Start.Unix() {
			if e.time < q.Start.Unix()-timeSlack {
				break
			}
			continue
		}
		if !q.End.IsZero() && e.time > q.End.Unix() {
			continue
		}
		want = append(want, e)
		ords = append(ords, list[i])
	}
	return want, ords, nil
}

func (ix *Index) postings(account, attr, value string) []uint32 {
	if account != "" {
		if l := ix.post[postKey(account, attr, value)]; l != nil {
			return *l
		}
		return nil
	}
	// Every account: merge the lists (operators and offline use only).
	var out []uint32
	for k, l := range ix.post {
		if p := strings.SplitN(k, "\x00", 3); len(p) == 3 && p[1] == attr && p[2] == value {
			out = append(out, (*l)...)
		}
	}
	slices.Sort(out)
	return out
}

// read returns an indexed event's line.
func (ix *Index) read(e entry) ([]byte, error) {
	path := filepath.Join(ix.dir, segmentName(int(e.seg)))
	ix.mu.Lock()
	f := ix.files[e.seg]
	if f != nil {
		// Retention may have removed the segment since it was opened; an
		// open descriptor would still read it.
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			f.Close()
			delete(ix.files, e.seg)
			ix.mu.Unlock()
			return nil, err
		}
	}
	if f == nil {
		var err error
		f, err = os.Open(path)
		if err != nil {
			ix.mu.Unlock()
			return nil, fmt.Errorf("audit: %w", err)
		}
		ix.files[e.seg] = f
	}
	ix.mu.Unlock()
	b := make([]byte, e.n)
	if _, err := f.ReadAt(b, e.off); err != nil {
		return nil, fmt.Errorf("audit: read event: %w", err)
	}
	return b, nil
}

// DropMissing closes the open segment files that retention has removed, so
// that their disk space is freed and their events are no longer returned
// (a lookup reading one at that moment skips it). The server calls it
// after each prune.
func (ix *Index) DropMissing() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for seg, f := range ix.files {
		if _, err := os.Stat(filepath.Join(ix.dir, segmentName(int(seg)))); errors.Is(err, os.ErrNotExist) {
			f.Close()
			delete(ix.files, seg)
		}
	}
}

func (ix *Index) close() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for k, f := range ix.files {
		f.Close()
		delete(ix.files, k)
	}
}

// build indexes every segment of the log: closed segments from their
// sidecars where they match (see sidecar.go), the rest by decoding. With
// write set (the log's own index) it saves the sidecars it lacked.
func (ix *Index) build(write bool) error {
	segs, err := segments(ix.dir)
	if err != nil {
		return err
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	for i, n := range segs {
		sums, err := loadSegment(ix.dir, n, i < len(segs)-1, write)
		if err != nil {
			return err
		}
		for j := range sums {
			ix.addSummary(n, &sums[j])
		}
	}
	return nil
}

// OpenIndex indexes the log in dir for reading without a server (arca
// audit search). Close it when done.
func OpenIndex(dir string) (*Index, error) {
	ix := newIndex(dir)
	if err := ix.build(false); err != nil {
		return nil, fmt.Errorf("audit: index: %w", err)
	}
	return ix, nil
}

// Close releases the segment files a reading index holds open.
func (ix *Index) Close() { ix.close() }
