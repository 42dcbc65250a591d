//go:build !cgo

package pkcs11

import (
	"context"
)

// Seal is the HSM seal; without cgo it cannot be opened.
type Seal struct{}

// Open reports ErrNoCgo: loading a PKCS#11 module needs cgo.
func Open(context.Context, Config) (*Seal, bool, error) { return nil, false, ErrNoCgo }

// Type names the seal kind.
func (s *Seal) Type() string { return "pkcs11" }

// Wrap is unreachable without cgo.
func (s *Seal) Wrap(context.Context, []byte) ([]byte, error) { return nil, ErrNoCgo }

// Unwrap is unreachable without cgo.
func (s *Seal) Unwrap(context.Context, []byte) ([]byte, error) { return nil, ErrNoCgo }

// Params are the configuration's identifying settings.
func (s *Seal) Params() map[string]string { return nil }

// Close does nothing.
func (s *Seal) Close() error { return nil }
