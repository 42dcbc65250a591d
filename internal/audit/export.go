package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Export returns up to limit records of the log in dir after sequence
// after, as ReadFrom would, but keeps the lines that are not records (a
// torn write, garbage) where they stand, with Seq 0, so that whoever
// verifies the export sees them as verification of the files would. Only
// complete lines are returned: the last one may still be being written.
// Lines that are not records are returned once the record before them
// (or the start of the log) is past after.
func Export(dir string, after uint64, limit int) ([]RemoteRecord, error) {
	segs, err := segments(dir)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	start := 0
	for i, n := range segs {
		first, ok, err := firstSequence(filepath.Join(dir, segmentName(n)))
		if err != nil {
			return nil, err
		}
		// From the segment holding record after: lines that are not
		// records may follow it there.
		if ok && first <= after {
			start = i
		}
		if ok && first > after {
			break
		}
	}
	var out []RemoteRecord
	// last is the highest sequence seen so far (records before after
	// included), deciding whether a non-record line is in the page.
	var last uint64
	records := 0
	for _, n := range segs[start:] {
		f, err := os.Open(filepath.Join(dir, segmentName(n)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // pruned meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		r := bufio.NewReaderSize(f, 64<<10)
		for records < limit {
			line, err := r.ReadBytes('\n')
			if errors.Is(err, io.EOF) {
				break // the end, or a line still being written
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("audit: read %s: %w", segmentName(n), err)
			}
			line = bytes.TrimSuffix(line, []byte{'\n'})
			if bytes.IndexByte(line, 0) >= 0 {
				// A batch seen while it is written over the segment's
				// preallocated zeros (see ReadFrom): the end for now.
				break
			}
			var s struct {
				Sequence uint64 `json:"arcaSequence"`
				Hash     string `json:"arcaHash"`
			}
			if json.Unmarshal(line, &s) != nil || s.Hash == "" {
				if last >= after {
					out = append(out, RemoteRecord{Line: line})
				}
				continue
			}
			last = max(last, s.Sequence)
			if s.Sequence <= after {
				continue
			}
			out = append(out, RemoteRecord{Seq: s.Sequence, Line: line})
			records++
		}
		f.Close()
		if records == limit {
			break
		}
	}
	return out, nil
}

// lastSequenceOf finds the last complete record of one segment, reading
// windows from its end that double until one holds a whole record.
func lastSequenceOf(path string) (uint64, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil // pruned meanwhile
	}
	if err != nil {
		return 0, false, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, false, fmt.Errorf("audit: %w", err)
	}
	end := st.Size()
	for w := int64(64 << 10); ; w *= 2 {
		start := max(0, end-w)
		buf := make([]byte, end-start)
		if _, err := f.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, false, fmt.Errorf("audit: read %s: %w", filepath.Base(path), err)
		}
		// The preallocated zeros, a batch being written over them (records
		// hold no zero byte) and an unterminated last line are not records
		// yet: Export stops before them too.
		if h := bytes.IndexByte(buf, 0); h >= 0 {
			if h == 0 && start > 0 {
				// All zeros so far (the open segment's preallocated
				// tail, up to 4 MiB): look before them, not again
				// over them.
				end = start
				continue
			}
			buf = buf[:h]
		}
		buf = buf[:bytes.LastIndexByte(buf, '\n')+1]
		lines := bytes.Split(bytes.TrimSuffix(buf, []byte{'\n'}), []byte{'\n'})
		if start > 0 && len(lines) > 0 {
			lines = lines[1:] // may begin mid-line
		}
		for i := len(lines) - 1; i >= 0; i-- {
			var s struct {
				Sequence uint64 `json:"arcaSequence"`
				Hash     string `json:"arcaHash"`
			}
			if json.Unmarshal(lines[i], &s) == nil && s.Hash != "" {
				return s.Sequence, true, nil
			}
		}
		if start == 0 {
			return 0, false, nil
		}
	}
}
