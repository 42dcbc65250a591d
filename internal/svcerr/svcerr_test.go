package svcerr

import (
	"errors"
	"fmt"
	"testing"
)

type flagErr struct{ unavailable, sealed bool }

func (e flagErr) Error() string     { return "flag" }
func (e flagErr) Unavailable() bool { return e.unavailable }
func (e flagErr) Sealed() bool      { return e.sealed }

func TestInternalErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Code
	}{
		{"plain", errors.New("disk on fire"), Internal},
		{"storage unreachable", fmt.Errorf("get: %w", flagErr{unavailable: true}), DependencyTimeout},
		{"sealed in flight", fmt.Errorf("get: %w", flagErr{sealed: true}), DependencyTimeout},
		{"neither", flagErr{}, Internal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := InternalError(tc.err)
			if e.Code != tc.want {
				t.Fatalf("code %s, want %s", e.Code, tc.want)
			}
			if !errors.Is(e, tc.err) {
				t.Fatal("cause not kept for the log")
			}
		})
	}
}
