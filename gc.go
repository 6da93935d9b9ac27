package bellows

import (
	"math"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// AnalyticsGCPercent is the garbage collector target TuneGC sets.
const AnalyticsGCPercent = 400

var gcTuned atomic.Bool

// TuneGC sets the process's GC target to AnalyticsGCPercent unless the
// GOGC environment variable says otherwise, and returns the value in
// force. Query buffers are pooled, so the live Go heap stays small and
// the default target (100) collects every few megabytes of allocation:
// 25 collections for one TPC-H query at SF 1. With the target raised, a
// query run with a memory limit also sets the runtime's soft memory limit
// to that limit plus a margin (see gcFitQueryLimit), so the heap's slack
// does not take the process far past it. It changes process-wide
// settings: call it from main (the CLI and the benchmark do), never from
// a library.
func TuneGC() int {
	if v, ok := os.LookupEnv("GOGC"); ok && v != "" {
		cur := debug.SetGCPercent(100) // read the value in force...
		debug.SetGCPercent(cur)        // ...and put it back
		return cur
	}
	debug.SetGCPercent(AnalyticsGCPercent)
	gcTuned.Store(true)
	return AnalyticsGCPercent
}

var gcLimitMu sync.Mutex

// gcFitQueryLimit raises the runtime's soft memory limit to a query's
// memory limit plus an eighth and 256 MiB (never lowers it), when TuneGC
// is in force. At SF 10, Q18 under a 4 GiB limit held 2.2 GB of accounted
// memory but reached 8.8 GB resident at GOGC=400 without it.
func gcFitQueryLimit(limit int64) {
	if !gcTuned.Load() || limit <= 0 {
		return
	}
	want := limit + limit/8 + 256<<20
	gcLimitMu.Lock()
	defer gcLimitMu.Unlock()
	if cur := debug.SetMemoryLimit(-1); cur == math.MaxInt64 || want > cur {
		debug.SetMemoryLimit(want)
	}
}
