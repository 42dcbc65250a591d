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
