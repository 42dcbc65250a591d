// Package backup writes and restores snapshots of Arca's storage exactly as
// stored: every value still sealed by the barrier, the keyring still
// wrapped by the seal, the seal config in the clear (it is not secret). A
// snapshot is therefore as safe as the data dir itself: useless without
// the unseal shares or the seal's key.
//
// # Format (version 1)
//
//	"ARCABAK\x01"                                   8-byte magic and version
//	repeated: uint32 keyLen | key | uint32 valLen | value   (big-endian)
//	uint32 0xFFFFFFFF                               end of records
//	uint64 record count | 32-byte SHA-256 of every byte before it
//
// The digest detects truncation and accidental damage; it is not a MAC
// (the values authenticate themselves when opened through the barrier).
//
// It imports only internal/storage.
package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/arca-kms/arca/internal/storage"
)

var magic = []byte("ARCABAK\x01")

const (
	endMark  = 0xFFFFFFFF
	maxKey   = 64 << 10
	maxValue = 64 << 20
	page     = 512
)

// ErrCorrupt is returned by Restore for a damaged or truncated snapshot.
var ErrCorrupt = errors.New("backup: the snapshot is damaged or truncated")

// ErrNotEmpty is returned by Restore when the target storage holds data.
var ErrNotEmpty = errors.New("backup: the target storage is not empty; restore only onto a new data dir")

// Read takes a consistent snapshot of every record in backend, in one
// transaction, into memory: a read-only snapshot where the backend offers
// one (storage.Snapshotter: PostgreSQL), else an Update that writes
// nothing.
func Read(ctx context.Context, backend storage.Backend) ([]storage.Entry, error) {
	var out []storage.Entry
	read := func(r storage.Reader) error {
		out = out[:0]
		after := ""
		for {
			ents, err := r.List(ctx, "", after, page)
			if err != nil {
				return err
			}
			out = append(out, ents...)
			if len(ents) < page {
				return nil
			}
			after = ents[len(ents)-1].Key
		}
	}
	var err error
	if s, ok := backend.(storage.Snapshotter); ok {
		err = s.View(ctx, read)
	} else {
		err = backend.Update(ctx, func(tx storage.Tx) error { return read(tx) })
	}
	return out, err
}

// Write encodes entries as a snapshot.
func Write(w io.Writer, entries []storage.Entry) error {
	bw := bufio.NewWriter(w)
	h := sha256.New()
	mw := io.MultiWriter(bw, h)
	mw.Write(magic)
	var n [4]byte
	for _, e := range entries {
		binary.BigEndian.PutUint32(n[:], uint32(len(e.Key)))
		mw.Write(n[:])
		io.WriteString(mw, e.Key)
		binary.BigEndian.PutUint32(n[:], uint32(len(e.Value)))
		mw.Write(n[:])
		mw.Write(e.Value)
	}
	binary.BigEndian.PutUint32(n[:], endMark)
	mw.Write(n[:])
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], uint64(len(entries)))
	mw.Write(c[:])
	bw.Write(h.Sum(nil))
	return bw.Flush()
}

// Parse reads and verifies a whole snapshot; nothing is returned unless the
// digest matches.
func Parse(r io.Reader) ([]storage.Entry, error) {
	br := bufio.NewReader(r)
	h := sha256.New()
	tr := io.TeeReader(br, h)
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(tr, head); err != nil || !bytes.Equal(head, magic) {
		return nil, fmt.Errorf("%w: not an Arca snapshot (bad magic)", ErrCorrupt)
	}
	var out []storage.Entry
	for {
		k, err := readChunk(tr, maxKey, true)
		if err != nil {
			return nil, err
		}
		if k == nil {
			break
		}
		v, err := readChunk(tr, maxValue, false)
		if err != nil || v == nil {
			return nil, fmt.Errorf("%w: record %d", ErrCorrupt, len(out))
		}
		out = append(out, storage.Entry{Key: string(k), Value: v})
	}
	var c [8]byte
	if _, err := io.ReadFull(tr, c[:]); err != nil || binary.BigEndian.Uint64(c[:]) != uint64(len(out)) {
		return nil, fmt.Errorf("%w: record count", ErrCorrupt)
	}
	want := h.Sum(nil)
	got := make([]byte, sha256.Size)
	if _, err := io.ReadFull(br, got); err != nil || subtle.ConstantTimeCompare(got, want) != 1 {
		return nil, fmt.Errorf("%w: digest mismatch", ErrCorrupt)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the digest", ErrCorrupt)
	}
	return out, nil
}

// readChunk reads uint32 length and that many bytes; with endOK, the end
// mark returns (nil, nil).
func readChunk(r io.Reader, limit int, endOK bool) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	l := binary.BigEndian.Uint32(n[:])
	if l == endMark && endOK {
		return nil, nil
	}
	if int64(l) > int64(limit) || (endOK && l == 0) {
		return nil, fmt.Errorf("%w: bad length %d", ErrCorrupt, l)
	}
	// Grow with the data actually present, so a forged length cannot make
	// Parse allocate what the input does not hold.
	b, err := io.ReadAll(io.LimitReader(r, int64(l)))
	if err != nil || len(b) != int(l) {
		return nil, fmt.Errorf("%w: a record is cut short", ErrCorrupt)
	}
	return b, nil
}

// Restore writes entries into an empty backend in one transaction.
func Restore(ctx context.Context, backend storage.Backend, entries []storage.Entry) error {
	return backend.Update(ctx, func(tx storage.Tx) error {
		ents, err := tx.List(ctx, "", "", 1)
		if err != nil {
			return err
		}
		if len(ents) > 0 {
			return ErrNotEmpty
		}
		for _, e := range entries {
			if err := tx.Put(ctx, e.Key, e.Value); err != nil {
				return err
			}
		}
		return nil
	})
}
