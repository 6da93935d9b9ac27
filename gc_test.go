package bellows

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	t.Setenv("GOGC", "")
	if got := TuneGC(); got != AnalyticsGCPercent || debug.SetGCPercent(100) != AnalyticsGCPercent {
		t.Fatalf("TuneGC set %d, want %d", got, AnalyticsGCPercent)
	}
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	if got := TuneGC(); got != 150 || debug.SetGCPercent(150) != 150 {
		t.Fatalf("TuneGC overrode GOGC=150: %d", got)
	}
}

func TestGCFitQueryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer gcTuned.Store(gcTuned.Load())
	debug.SetMemoryLimit(math.MaxInt64)
	gcTuned.Store(false)
	gcFitQueryLimit(1 << 30)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Fatalf("untuned process got a memory limit %d", got)
	}
	gcTuned.Store(true)
	gcFitQueryLimit(1 << 30)
	want := int64(1<<30 + 1<<27 + 256<<20)
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Fatalf("memory limit %d, want %d", got, want)
	}
	gcFitQueryLimit(1 << 20) // a smaller query limit does not lower it
	if got := debug.SetMemoryLimit(-1); got != want {
		t.Fatalf("memory limit lowered to %d", got)
	}
}
