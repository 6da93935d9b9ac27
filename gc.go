package bellows

import (
	"os"
	"runtime/debug"
)

// AnalyticsGCPercent is the garbage collector target TuneGC sets.
const AnalyticsGCPercent = 400

// TuneGC sets the process's GC target to AnalyticsGCPercent unless the
// GOGC environment variable says otherwise, and returns the value in
// force. Query buffers are pooled, so the live Go heap stays small and
// the default target (100) collects every few megabytes of allocation:
// 25 collections for one TPC-H query at SF 1. It changes a process-wide
// setting: call it from main (the CLI and the benchmark do), never from a
// library.
func TuneGC() int {
	if v, ok := os.LookupEnv("GOGC"); ok && v != "" {
		cur := debug.SetGCPercent(100) // read the value in force...
		debug.SetGCPercent(cur)        // ...and put it back
		return cur
	}
	debug.SetGCPercent(AnalyticsGCPercent)
	return AnalyticsGCPercent
}
