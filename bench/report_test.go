package main

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, c := range cases {
		in := append([]float64(nil), c.in...)
		if got := median(in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		if !reflect.DeepEqual(in, c.in) && len(c.in) > 0 {
			t.Errorf("median reordered its input: %v", in)
		}
	}
}

// sampleReport has three measured queries (ratios 2, 8 and 0.5) and one
// where Bellows failed.
func sampleReport() *Report {
	eng := func(times ...float64) EngineResult {
		return EngineResult{Times: times, Median: median(times), Rows: 4}
	}
	r := &Report{
		Machine:     probeMachine(context.Background(), ".", "v1.5.6", time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)),
		ScaleFactor: "0.01",
		Threads:     2,
		Runs:        3,
		WarmupRuns:  1,
		DataDir:     "/tmp/data",
		Queries: []QueryResult{
			newQueryResult("q01", eng(2.1, 1.9, 2.0), eng(1.0, 1.1, 0.9)),
			newQueryResult("q02", eng(8, 8, 8), eng(1, 1, 1)),
			newQueryResult("q03", eng(0.25, 0.5, 0.75), eng(1, 1, 1)),
			newQueryResult("q04", EngineResult{Times: []float64{1}, Error: "out of memory\nat line 2"}, eng(1, 1, 1)),
		},
		Elapsed: 30,
	}
	r.Summarize()
	return r
}

func TestSummarize(t *testing.T) {
	r := sampleReport()
	tt := r.Totals
	if tt.Queries != 3 || tt.Failed != 1 || tt.RatioQueries != 3 {
		t.Fatalf("counts: %+v", tt)
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	near("bellows sum", tt.BellowsSum, 2+8+0.5)
	near("duckdb sum", tt.DuckDBSum, 1+1+1)
	near("ratio of sums", tt.RatioOfSums, 10.5/3)
	near("geomean", tt.GeomeanRatio, 2) // (2·8·0.5)^(1/3)
	if q := r.Queries[3]; q.Ratio != nil || !strings.HasPrefix(q.Note, "bellows ERR: out of memory at line 2") {
		t.Errorf("failed query: ratio %v, note %q", q.Ratio, q.Note)
	}
	rowsDiffer := newQueryResult("q05", EngineResult{Times: []float64{1}, Median: 1, Rows: 3}, EngineResult{Times: []float64{1}, Median: 1, Rows: 4})
	if rowsDiffer.Note != "ROW COUNT DIFFERS: bellows 3, duckdb 4" || rowsDiffer.Ratio == nil {
		t.Errorf("row count note %q, ratio %v", rowsDiffer.Note, rowsDiffer.Ratio)
	}
}

func TestWriteJSON(t *testing.T) {
	r := sampleReport()
	path := filepath.Join(t.TempDir(), "out", "tpch-sf0.01.json") // the folder is created
	if err := r.WriteJSON(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, r) {
		t.Errorf("JSON round trip differs:\n got %+v\nwant %+v", back, r)
	}
	// The field names are the file's contract with its readers.
	data, _ := os.ReadFile(path)
	for _, key := range []string{`"gomaxprocs": `, `"cpu_model": `, `"duckdb_version": "v1.5.6"`, `"scale_factor": "0.01"`,
		`"times_s": [`, `"median_s": 2`, `"ratio": 2`, `"bellows_sum_median_s": 10.5`, `"geomean_ratio": 2`, `"ratio_of_sums": 3.5`} {
		if !bytes.Contains(data, []byte(key)) {
			t.Errorf("JSON lacks %s:\n%s", key, data)
		}
	}
	if m := back.Machine; m.GOMAXPROCS != runtime.GOMAXPROCS(0) || m.NumCPU != runtime.NumCPU() || m.CPUModel == "" || m.Date != "2026-11-23T10:00:00Z" {
		t.Errorf("machine: %+v", m)
	}
	if r.Machine.GitCommit == "" {
		t.Log("no git commit found (not a git checkout?)")
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
	if _, err := ReadReport(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("reading a missing file succeeded")
	}
}

func TestWritePNG(t *testing.T) {
	r := sampleReport()
	path := filepath.Join(t.TempDir(), "tpch.png")
	if err := r.WritePNG(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("not a PNG: % x", data[:min(8, len(data))])
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != chartWidthPx || b.Dy() != chartHeightPx {
		t.Errorf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), chartWidthPx, chartHeightPx)
	}
	// Something was drawn in both engines' colors (the bars).
	if n := countColor(img, bellowsColor.R, bellowsColor.G, bellowsColor.B); n < 500 {
		t.Errorf("%d Bellows-colored pixels, want bars", n)
	}
	if n := countColor(img, duckdbColor.R, duckdbColor.G, duckdbColor.B); n < 500 {
		t.Errorf("%d DuckDB-colored pixels, want bars", n)
	}

	if err := (&Report{}).WritePNG(filepath.Join(t.TempDir(), "empty.png")); err == nil {
		t.Error("charting no queries succeeded")
	}
}

func countColor(img image.Image, r, g, b uint8) int {
	n := 0
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if uint8(cr>>8) == r && uint8(cg>>8) == g && uint8(cb>>8) == b {
				n++
			}
		}
	}
	return n
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	sampleReport().WriteTable(&buf)
	out := buf.String()
	for _, want := range []string{
		"q01          2.0000       1.0000     2.00",
		"q04             ERR       1.0000        -  bellows ERR: out of memory at line 2",
		"sum         10.5000       3.0000     3.50  (3 queries)",
		"geomean ratio bellows/duckdb: 2.000 (3 queries)",
		"errors: 1 of 4 queries failed (excluded from sums)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestOutPath(t *testing.T) {
	if got := outPath("", "results/x.json"); got != "results/x.json" {
		t.Errorf("default: %q", got)
	}
	if got := outPath("none", "results/x.json"); got != "" {
		t.Errorf("none: %q", got)
	}
	if got := outPath("/tmp/y.json", "results/x.json"); got != "/tmp/y.json" {
		t.Errorf("given: %q", got)
	}
}
