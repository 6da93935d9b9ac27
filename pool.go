package bellows

import (
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/exec"
)

// PooledAllocator returns the process-wide recycling buffer pool, for
// Options.Allocator: about 10% less CPU on TPC-H than the Go allocator, as
// freed buffers are reused instead of zeroed fresh. The catch is arrow-go's:
// String.Value and friends alias the batch's buffers, so a caller that keeps
// such a string (or a slice) past the batch's Release, or past the reader's
// next Next, must copy it; with the pool its bytes are soon overwritten.
// The CLI and the benchmark, which print or count rows at once, use it.
func PooledAllocator() memory.Allocator { return exec.DefaultBufferPool }
