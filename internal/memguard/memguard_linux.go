//go:build linux

package memguard

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// capIPCLock is CAP_IPC_LOCK's bit number (linux/capability.h).
const capIPCLock = 14

func harden(o Options) Report {
	var r Report
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("prctl(PR_SET_DUMPABLE, 0) failed: %v; a crash could write a core dump holding key material", err))
	} else {
		r.NotDumpable = true
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: 0}); err != nil {
		r.Problems = append(r.Problems, fmt.Sprintf("setting RLIMIT_CORE to 0 failed: %v", err))
	} else {
		r.NoCore = true
	}
	if !o.Mlock {
		why := o.NoMlockWhy
		if why == "" {
			why = "by configuration (disable_mlock)"
		}
		r.Problems = append(r.Problems, "memory locking is disabled "+why+"; key material may be written to swap unless swap is off or encrypted")
		return r
	}
	if raceEnabled {
		// The race detector's shadow memory would be locked too: hundreds
		// of MiB per process for a test build.
		r.Problems = append(r.Problems, "mlockall skipped: this is a race-detector build (tests only)")
		return r
	}
	err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE)
	if err == nil {
		r.Locked = true
		return r
	}
	why := err.Error()
	if errors.Is(err, unix.ENOMEM) || errors.Is(err, unix.EPERM) {
		var lim unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
		cur := "unlimited"
		if lim.Cur != unix.RLIM_INFINITY {
			cur = fmt.Sprintf("%d bytes", lim.Cur)
		}
		why = fmt.Sprintf("%v (RLIMIT_MEMLOCK is %s, CAP_IPC_LOCK %s)", err, cur, map[bool]string{true: "held", false: "not held"}[hasCap(capIPCLock)])
	}
	r.Problems = append(r.Problems, "mlockall(MCL_CURRENT|MCL_FUTURE) failed: "+why+
		"; key material may be written to swap. Grant CAP_IPC_LOCK (systemd: AmbientCapabilities=CAP_IPC_LOCK) or LimitMEMLOCK=infinity, or turn swap off/encrypt it and set disable_mlock")
	return r
}

// hasCap reports whether the process has capability c in its effective set.
func hasCap(c uint) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<(c%32)) != 0
}
