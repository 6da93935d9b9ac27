//go:build unix

package exec

import "syscall"

// scanCPUNanos returns the CPU time (user + system) the process has used.
func scanCPUNanos() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
