// Package memguard hardens the Arca process against leaking key material
// through memory that leaves it: core dumps, ptrace/proc access by other
// processes of the same user, and swap. It is best effort and Linux-only
// (elsewhere Harden reports that nothing was done); docs/SECURITY.md,
// "Memory hygiene", says what it does and what Go cannot guarantee.
//
// It imports nothing of Arca's.
package memguard

import "log/slog"

// Options choose what Harden does.
type Options struct {
	// Mlock asks for mlockall(MCL_CURRENT|MCL_FUTURE), so no page of the
	// process is written to swap. It needs CAP_IPC_LOCK or an unlimited
	// RLIMIT_MEMLOCK; without them Harden warns and carries on.
	Mlock bool
	// NoMlockWhy says why Mlock is off, for the log (default: the
	// disable_mlock setting).
	NoMlockWhy string
}

// Report says what Harden achieved.
type Report struct {
	// NotDumpable: prctl(PR_SET_DUMPABLE, 0) succeeded (no core dumps, and
	// /proc/PID/mem and ptrace are closed to other processes of the user).
	NotDumpable bool
	// NoCore: RLIMIT_CORE is 0.
	NoCore bool
	// Locked: mlockall succeeded.
	Locked bool
	// Problems explains each step that did not succeed.
	Problems []string
}

// Harden applies the protections and logs the outcome: one info line, plus
// a warning per step that failed. It never fails the process: a server that
// cannot lock memory still runs, and says so.
func Harden(log *slog.Logger, o Options) Report {
	r := harden(o)
	if log != nil {
		log.Info("memory hygiene", "not_dumpable", r.NotDumpable, "core_dumps_disabled", r.NoCore, "memory_locked", r.Locked)
		for _, p := range r.Problems {
			log.Warn("memory hygiene: " + p)
		}
	}
	return r
}
