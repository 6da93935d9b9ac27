//go:build !unix

package exec

// scanCPUNanos is unavailable here; benchmarks report 0.
func scanCPUNanos() int64 { return 0 }
