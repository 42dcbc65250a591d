package audit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Index sidecars.
//
// Building the lookup index means decoding every event of the log, about
// 11 µs each: 11 s per million events at every start. A segment never
// changes once the log has moved past it, so what the index needs from it
// (each API event's time, place and lookup values) is saved beside it in
// an index sidecar, SEGMENT.idx, and read back at the next start without
// decoding JSON. A sidecar is a cache: it is written only for closed
// segments, records the segment's size and modification time, and is
// ignored (and the segment decoded again) when either differs, when its
// checksum fails, or when it does not parse. It holds nothing that the
// segment does not hold in clear, and verification never reads it.
//
// Format (little endian, integers as uvarints unless noted):
//
//	"ARCAIDX1" | segment size | segment mtime (unix ns, varint) |
//	string count | strings (length, bytes)... |
//	entry count | entries... | CRC-32C of everything before (4 bytes)
//
// An entry is: time (varint), offset, length, has-ID byte, [16-byte event
// ID], read-only byte, then string-table indexes for account, eventName,
// username, eventSource and accessKeyId, a resource count and, per
// resource, indexes for its type and ARN.

const (
	sidecarMagic  = "ARCAIDX1"
	sidecarSuffix = ".idx"
)

func sidecarName(n int) string { return segmentName(n) + sidecarSuffix }

// summary is what the index keeps of one API event.
type summary struct {
	time                                         int64
	off                                          int64
	n                                            int
	id                                           [16]byte
	hasID                                        bool
	readOnly                                     bool
	account, name, username, source, accessKeyID string
	resources                                    []Resource // Type and ARN only
}

// summarize reads the lookup values of ev (an API event) at (off, n).
func summarize(ev *Event, off int64, n int) summary {
	t, _ := time.Parse(time.RFC3339, ev.EventTime)
	s := summary{time: t.Unix(), off: off, n: n, readOnly: ev.ReadOnly, account: ev.Account(),
		name: ev.EventName, username: ev.Username(), source: ev.EventSource,
		accessKeyID: ev.UserIdentity.AccessKeyID, resources: ev.Resources}
	s.id, s.hasID = parseUUID(ev.EventID)
	return s
}

// scanSegment decodes segment n's API events.
func scanSegment(dir string, n int) ([]summary, error) {
	var out []summary
	var off int64
	err := eachLine(filepath.Join(dir, segmentName(n)), func(_ int, line []byte, terminated bool) {
		start := off
		off += int64(len(line))
		if terminated {
			off++
		}
		var e Event
		if json.Unmarshal(line, &e) == nil && e.EventType == "AwsApiCall" {
			out = append(out, summarize(&e, start, len(line)))
		}
	})
	return out, err
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// sidecarBuilder encodes a segment's summaries into a sidecar as they
// come: the writer adds each API event it indexes, and the sidecar is
// ready when the log leaves the segment. What it keeps is a string table
// of the distinct values and the entries' bytes, which the garbage
// collector need not scan, instead of a summary (five strings and a
// slice) per event: a full 64 MiB segment's summaries cost every
// collection about 1 µs per request of marking under load
// (docs/PERFORMANCE.md).
type sidecarBuilder struct {
	strs  map[string]uint64
	table []string
	ents  []byte
	count int
}

func newSidecarBuilder() *sidecarBuilder { return &sidecarBuilder{strs: map[string]uint64{}} }

func (b *sidecarBuilder) ref(s string) uint64 {
	if i, ok := b.strs[s]; ok {
		return i
	}
	i := uint64(len(b.table))
	b.strs[s] = i
	b.table = append(b.table, s)
	return i
}

// add appends one summary's entry.
func (b *sidecarBuilder) add(s *summary) {
	e := b.ents
	e = binary.AppendVarint(e, s.time)
	e = binary.AppendUvarint(e, uint64(s.off))
	e = binary.AppendUvarint(e, uint64(s.n))
	if s.hasID {
		e = append(e, 1)
		e = append(e, s.id[:]...)
	} else {
		e = append(e, 0)
	}
	if s.readOnly {
		e = append(e, 1)
	} else {
		e = append(e, 0)
	}
	for _, v := range [...]string{s.account, s.name, s.username, s.source, s.accessKeyID} {
		e = binary.AppendUvarint(e, b.ref(v))
	}
	e = binary.AppendUvarint(e, uint64(len(s.resources)))
	for _, r := range s.resources {
		e = binary.AppendUvarint(e, b.ref(r.Type))
		e = binary.AppendUvarint(e, b.ref(r.ARN))
	}
	b.ents = e
	b.count++
}

// encode returns the sidecar of a segment of size bytes modified at mtime
// (unix ns).
func (b *sidecarBuilder) encode(size, mtime int64) []byte {
	out := append([]byte(nil), sidecarMagic...)
	out = binary.AppendUvarint(out, uint64(size))
	out = binary.AppendVarint(out, mtime)
	out = binary.AppendUvarint(out, uint64(len(b.table)))
	for _, s := range b.table {
		out = binary.AppendUvarint(out, uint64(len(s)))
		out = append(out, s...)
	}
	out = binary.AppendUvarint(out, uint64(b.count))
	out = append(out, b.ents...)
	return binary.LittleEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
}

// writeSidecar saves sums as segment n's sidecar, stamped with the
// segment's size and modification time.
func writeSidecar(dir string, n int, st os.FileInfo, sums []summary) error {
	b := newSidecarBuilder()
	for i := range sums {
		b.add(&sums[i])
	}
	return saveSidecarFile(dir, n, st, b)
}

// saveSidecarFile writes b as segment n's sidecar. It writes a temporary
// file and renames it, so a crash leaves the old sidecar, none, or the new
// one. It does not fsync: a lost sidecar only costs a decode at the next
// start.
func saveSidecarFile(dir string, n int, st os.FileInfo, b *sidecarBuilder) error {
	tmp := filepath.Join(dir, sidecarName(n)+".tmp")
	if err := os.WriteFile(tmp, b.encode(st.Size(), st.ModTime().UnixNano()), 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, sidecarName(n))); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

var errStaleSidecar = errors.New("audit: index sidecar does not match its segment")

// readSidecar loads segment n's sidecar if it matches the segment as st
// describes it.
func readSidecar(dir string, n int, st os.FileInfo) ([]summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, sidecarName(n)))
	if err != nil {
		return nil, err
	}
	return parseSidecar(b, st.Size(), st.ModTime().UnixNano())
}

// parseSidecar decodes a sidecar made for a segment of size bytes last
// modified at mtime (unix ns). It is fuzzed: any input gives summaries or
// errStaleSidecar, never a panic, and allocations in proportion to the input.
func parseSidecar(b []byte, size, mtime int64) ([]summary, error) {
	if len(b) < len(sidecarMagic)+4 || string(b[:len(sidecarMagic)]) != sidecarMagic {
		return nil, errStaleSidecar
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, errStaleSidecar
	}
	r := &sidecarReader{b: body[len(sidecarMagic):]}
	if sz, mt := r.uvarint(), r.varint(); r.err != nil || sz != uint64(size) || mt != mtime {
		return nil, errStaleSidecar
	}
	nstr := r.count()
	table := make([]string, 0, nstr)
	for range nstr {
		table = append(table, r.str())
	}
	str := func() string {
		i := r.uvarint()
		if i >= uint64(len(table)) {
			r.fail()
			return ""
		}
		return table[i]
	}
	nent := r.count()
	out := make([]summary, 0, nent)
	for range nent {
		var s summary
		s.time = r.varint()
		s.off = int64(r.uvarint())
		s.n = int(r.uvarint())
		if r.byte() == 1 {
			s.hasID = true
			copy(s.id[:], r.bytes(16))
		}
		s.readOnly = r.byte() == 1
		s.account, s.name, s.username, s.source, s.accessKeyID = str(), str(), str(), str(), str()
		if nr := r.count(); nr > 0 {
			s.resources = make([]Resource, nr)
			for i := range s.resources {
				s.resources[i].Type = str()
				s.resources[i].ARN = str()
			}
		}
		if r.err != nil {
			break
		}
		out = append(out, s)
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, errStaleSidecar
	}
	return out, nil
}

// sidecarReader decodes a sidecar's body; the first error sticks.
type sidecarReader struct {
	b   []byte
	err error
}

func (r *sidecarReader) fail() {
	if r.err == nil {
		r.err = errStaleSidecar
	}
	r.b = nil
}

func (r *sidecarReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *sidecarReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a length that must fit in what is left (each element takes
// at least one byte), so a corrupt count cannot make a huge allocation.
func (r *sidecarReader) count() int {
	v := r.uvarint()
	if v > uint64(len(r.b)) {
		r.fail()
		return 0
	}
	return int(v)
}

func (r *sidecarReader) bytes(n int) []byte {
	if n > len(r.b) {
		r.fail()
		return make([]byte, n)
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *sidecarReader) byte() byte { return r.bytes(1)[0] }

func (r *sidecarReader) str() string { return string(r.bytes(r.count())) }

// loadSegment returns segment n's summaries: from its sidecar when n is
// closed (the log has moved past it) and a sidecar matches, otherwise by
// decoding the segment, and then, if n is closed and write is set (the
// caller is the log, which owns the directory), saving a sidecar for the
// next start.
func loadSegment(dir string, n int, closed, write bool) ([]summary, error) {
	st, err := os.Stat(filepath.Join(dir, segmentName(n)))
	if err != nil {
		return nil, err
	}
	if closed {
		if sums, err := readSidecar(dir, n, st); err == nil {
			return sums, nil
		}
	}
	sums, err := scanSegment(dir, n)
	if err != nil {
		return nil, err
	}
	if closed && write {
		// Best effort: without a sidecar the next start decodes again.
		_ = writeSidecar(dir, n, st, sums)
	}
	return sums, nil
}

// saveSidecar writes the sidecar of segment n, which the log has just
// left, in the background: decoding a 64 MiB segment takes about a second
// of CPU, which must not hold up the writer. side, if not nil, holds the
// segment's summaries as the writer indexed them: written as they are,
// without decoding (which cost about 8 µs per event, a third of the audit
// path's whole CPU cost per request under load).
func (l *Log) saveSidecar(n int, side *sidecarBuilder) {
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		if side != nil {
			st, err := os.Stat(filepath.Join(l.dir, segmentName(n)))
			if err == nil {
				err = saveSidecarFile(l.dir, n, st, side)
			}
			if err != nil {
				l.log.Warn("audit: index sidecar not saved; the next start decodes the segment", "segment", segmentName(n), "error", err)
			}
			return
		}
		if _, err := loadSegment(l.dir, n, true, true); err != nil {
			l.log.Warn("audit: index sidecar not saved; the next start decodes the segment", "segment", segmentName(n), "error", err)
		}
	}()
}

// removeSidecar deletes segment n's sidecar, if any (retention).
func removeSidecar(dir string, n int) error {
	err := os.Remove(filepath.Join(dir, sidecarName(n)))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// sidecarSegments lists the segment numbers that have a sidecar (tests).
func sidecarSegments(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		name := e.Name()
		if !bytes.HasSuffix([]byte(name), []byte(segmentSuffix+sidecarSuffix)) {
			continue
		}
		num := name[len(segmentPrefix) : len(name)-len(segmentSuffix+sidecarSuffix)]
		if v, err := strconv.Atoi(num); err == nil {
			out = append(out, v)
		}
	}
	return out, nil
}
