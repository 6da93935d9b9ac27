//go:build !unix

package exec

import "time"

// aggProcessCPU is not measured on this platform.
func aggProcessCPU() time.Duration { return 0 }
