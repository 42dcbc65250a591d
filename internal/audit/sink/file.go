package sink

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// File appends records as JSON lines to a file and rotates it by size and
// age. A rotated file is renamed to NAME-YYYYMMDDTHHMMSS.sssZ.EXT (names
// sort in time order) and, if MaxFiles is set, the oldest rotated files
// beyond it are removed.
type File struct {
	path     string
	maxBytes int64
	maxAge   time.Duration
	maxFiles int
	now      func() time.Time

	f      *os.File
	size   int64
	opened time.Time
}

// FileOptions configure a File sink.
type FileOptions struct {
	// Path is the live file.
	Path string
	// MaxBytes rotates before a write that would take the file past it
	// (0: no size limit).
	MaxBytes int64
	// MaxAge rotates a non-empty file this long after it was opened
	// (0: no age limit). The age counts from when this process opened
	// or started the file.
	MaxAge time.Duration
	// MaxFiles keeps at most this many rotated files (0: keep all).
	MaxFiles int
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

// NewFile opens (or creates) the file sink's live file.
func NewFile(o FileOptions) (*File, error) {
	if o.Path == "" {
		return nil, fmt.Errorf("file sink: path must be set")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return nil, fmt.Errorf("file sink: %w", err)
	}
	s := &File{path: o.Path, maxBytes: o.MaxBytes, maxAge: o.MaxAge, maxFiles: o.MaxFiles, now: o.Now}
	if err := s.open(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *File) open() error {
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file sink: %w", err)
	}
	s.f, s.size, s.opened = f, st.Size(), s.now()
	return nil
}

// Deliver writes recs (rotating first if due) and fsyncs.
func (s *File) Deliver(_ context.Context, recs []Record) (int, error) {
	var buf []byte
	for _, r := range recs {
		buf = append(append(buf, r.Line...), '\n')
	}
	if s.f == nil {
		if err := s.open(); err != nil {
			return 0, err
		}
	}
	if s.size > 0 && ((s.maxBytes > 0 && s.size+int64(len(buf)) > s.maxBytes) || (s.maxAge > 0 && s.now().Sub(s.opened) >= s.maxAge)) {
		if err := s.rotate(); err != nil {
			return 0, err
		}
	}
	if _, err := s.f.Write(buf); err != nil {
		// Cut back a partial write so no torn line stays behind.
		s.f.Truncate(s.size)
		return 0, fmt.Errorf("file sink: write: %w", err)
	}
	if err := s.f.Sync(); err != nil {
		s.f.Truncate(s.size)
		return 0, fmt.Errorf("file sink: fsync: %w", err)
	}
	s.size += int64(len(buf))
	return len(recs), nil
}

func (s *File) rotate() error {
	ext := filepath.Ext(s.path)
	base := strings.TrimSuffix(s.path, ext)
	name := base + "-" + s.now().UTC().Format("20060102T150405.000Z") + ext
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	s.f = nil
	if err := os.Rename(s.path, name); err != nil {
		return fmt.Errorf("file sink: rotate: %w", err)
	}
	if err := s.open(); err != nil {
		return err
	}
	if s.maxFiles > 0 {
		old, _ := filepath.Glob(base + "-*" + ext)
		slices.Sort(old)
		for len(old) > s.maxFiles {
			os.Remove(old[0])
			old = old[1:]
		}
	}
	return nil
}

// Close closes the live file.
func (s *File) Close() error {
	if s.f == nil {
		return nil
	}
	return s.f.Close()
}
