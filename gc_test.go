package bellows

import (
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
