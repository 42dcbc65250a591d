//go:build !linux

package memguard

import "runtime"

func harden(Options) Report {
	return Report{Problems: []string{"core-dump, ptrace and swap protections are implemented for Linux only; this is " + runtime.GOOS}}
}
