//go:build !linux

package audit

import "os"

// syncFile makes f's written data durable (fsync; Linux uses fdatasync
// when it can, sync_linux.go).
func syncFile(f *os.File, _ bool) error { return f.Sync() }
