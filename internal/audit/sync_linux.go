package audit

import (
	"errors"
	"os"
	"syscall"
)

// syncFile makes f's written data durable: with fsync when full (the
// file's size changed since its last sync), otherwise with fdatasync, which
// skips the inode's timestamps and so, for a batch written over the
// segment's preallocated zeros, needs no journal commit.
func syncFile(f *os.File, full bool) error {
	if full {
		return f.Sync()
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: serr}
	}
	return nil
}
