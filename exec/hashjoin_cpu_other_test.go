//go:build !unix

package exec

// hjCPUNanos is unavailable here; benchmarks report 0.
func hjCPUNanos() int64 { return 0 }
