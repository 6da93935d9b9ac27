//go:build unix

package exec

import (
	"syscall"
	"time"
)

// aggProcessCPU returns the CPU time (user + system) the process used so far.
func aggProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
