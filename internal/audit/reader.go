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

// ReadFrom calls fn with the sequence number and JSON line (without its
// newline) of every record of the log in dir whose sequence is at least
// from, in order, and returns when it reaches the end of the log or fn
// returns an error (which it returns). A last line still being written
// (no newline yet) is not returned. Records pruned by retention are
// simply absent: the first record passed may be later than from.
//
// It reads the files only, so it may run beside the writer; the sinks use
// it to catch up after falling behind. line is valid only during the call.
func ReadFrom(dir string, from uint64, fn func(seq uint64, line []byte) error) error {
	segs, err := segments(dir)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	// Start in the last segment whose first record is not after from.
	start := 0
	for i, n := range segs {
		first, ok, err := firstSequence(filepath.Join(dir, segmentName(n)))
		if err != nil {
			return err
		}
		if ok && first <= from {
			start = i
		}
		if ok && first > from {
			break
		}
	}
	for _, n := range segs[start:] {
		if err := readSegment(filepath.Join(dir, segmentName(n)), from, fn); err != nil {
			return err
		}
	}
	return nil
}

type seqOnly struct {
	Sequence uint64 `json:"arcaSequence"`
}

func firstSequence(path string) (uint64, bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil // pruned meanwhile
	}
	if err != nil {
		return 0, false, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	line, err := bufio.NewReaderSize(f, 64<<10).ReadBytes('\n')
	if err != nil {
		return 0, false, nil // empty, or a first line still being written
	}
	var s seqOnly
	if json.Unmarshal(line, &s) != nil {
		return 0, false, nil
	}
	return s.Sequence, true, nil
}

func readSegment(path string, from uint64, fn func(uint64, []byte) error) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A record longer than the buffer: gather it whole.
			buf := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(buf) <= maxLine {
				line, err = r.ReadSlice('\n')
				buf = append(buf, line...)
			}
			line = buf
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil // the end, or a line still being written
			}
			return fmt.Errorf("audit: read %s: %w", filepath.Base(path), err)
		}
		line = line[:len(line)-1]
		if bytes.IndexByte(line, 0) >= 0 {
			// Records hold no zero byte: this is a batch being written
			// over the preallocated zeros right now (seen before all its
			// bytes), or a hole a crash left. Nothing after it is durable
			// yet; a later call reads it whole.
			return nil
		}
		var s seqOnly
		if json.Unmarshal(line, &s) != nil || s.Sequence < from {
			continue
		}
		if err := fn(s.Sequence, line); err != nil {
			return err
		}
	}
}

// Head returns the sequence number of the last complete record of the log
// in dir, as Export and ReadFrom see it (0 for an empty log; the prune
// anchor's when retention left no record). It reads the newest segments
// backwards from their ends, so finding the end of a long log (a sink
// starting, `arca audit tail --address`) costs a few reads, not a decode
// of a whole segment.
func Head(dir string) (uint64, error) {
	segs, err := segments(dir)
	if err != nil {
		return 0, fmt.Errorf("audit: %w", err)
	}
	for i := len(segs) - 1; i >= 0; i-- {
		seq, ok, err := lastSequenceOf(filepath.Join(dir, segmentName(segs[i])))
		if err != nil {
			return 0, err
		}
		if ok {
			return seq, nil
		}
	}
	if a, err := readAnchor(dir); err == nil && a != nil {
		return a.Sequence, nil
	}
	return 0, nil
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
