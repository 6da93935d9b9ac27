package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// Report is the outcome of one benchmark run: where it ran, what it ran and
// every timed run of every query on both engines. It is what --json writes
// and what the table and the chart are drawn from.
type Report struct {
	Machine     Machine       `json:"machine"`
	ScaleFactor string        `json:"scale_factor"`
	Threads     int           `json:"threads"`
	Runs        int           `json:"runs"`        // timed runs per query and engine
	WarmupRuns  int           `json:"warmup_runs"` // untimed runs before them
	DataDir     string        `json:"data_dir"`    // the Parquet files both engines read
	Queries     []QueryResult `json:"queries"`     // in the order run
	Totals      Totals        `json:"totals"`      // filled by Summarize
	Elapsed     float64       `json:"elapsed_s"`   // wall time of all runs of both engines
}

// Machine describes where the benchmark ran and which versions it compared.
type Machine struct {
	Date           string `json:"date"` // RFC 3339, when the run started
	Hostname       string `json:"hostname,omitempty"`
	OS             string `json:"os"`
	Arch           string `json:"arch"`
	CPUModel       string `json:"cpu_model"`
	NumCPU         int    `json:"num_cpu"`
	GOMAXPROCS     int    `json:"gomaxprocs"`
	GoVersion      string `json:"go_version"`
	GitCommit      string `json:"git_commit,omitempty"` // of the Bellows repository
	GitDirty       bool   `json:"git_dirty,omitempty"`  // uncommitted changes at run time
	BellowsVersion string `json:"bellows_version"`      // module version (+ replace)
	DuckDBVersion  string `json:"duckdb_version"`       // SELECT version()
	DuckDBGo       string `json:"duckdb_go_version"`    // the Go driver module
}

// EngineResult is one engine's runs of one query. On an error, Times holds
// the runs that completed before it and Median is 0.
type EngineResult struct {
	Times  []float64 `json:"times_s"` // every timed run, in run order
	Median float64   `json:"median_s"`
	Rows   int64     `json:"rows"` // rows of the last run
	Error  string    `json:"error,omitempty"`
}

// QueryResult is one query on both engines. Ratio is Bellows' median over
// DuckDB's; it is absent when either engine failed.
type QueryResult struct {
	Query   string       `json:"query"` // "q01" … "q22"
	Bellows EngineResult `json:"bellows"`
	DuckDB  EngineResult `json:"duckdb"`
	Ratio   *float64     `json:"ratio,omitempty"`
	Note    string       `json:"note,omitempty"` // an error or a row count that differs
}

// Totals summarize the queries that both engines ran without error.
type Totals struct {
	Queries      int     `json:"queries"` // counted in the sums
	Failed       int     `json:"failed"`  // left out: an engine failed
	BellowsSum   float64 `json:"bellows_sum_median_s"`
	DuckDBSum    float64 `json:"duckdb_sum_median_s"`
	RatioOfSums  float64 `json:"ratio_of_sums"` // BellowsSum / DuckDBSum
	GeomeanRatio float64 `json:"geomean_ratio"` // of the per-query ratios
	RatioQueries int     `json:"ratio_queries"` // ratios in the geomean (finite, > 0)
}

// median returns the median of xs (the mean of the middle two for an even
// count), or 0 for none. It does not modify xs.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// newQueryResult combines both engines' runs of one query, setting the
// ratio and the note.
func newQueryResult(name string, b, d EngineResult) QueryResult {
	q := QueryResult{Query: name, Bellows: b, DuckDB: d}
	switch {
	case b.Error != "":
		q.Note = "bellows ERR: " + oneLine(b.Error, 200)
	case d.Error != "":
		q.Note = "duckdb ERR: " + oneLine(d.Error, 200)
	case b.Rows != d.Rows:
		q.Note = fmt.Sprintf("ROW COUNT DIFFERS: bellows %d, duckdb %d", b.Rows, d.Rows)
	}
	if b.Error == "" && d.Error == "" && d.Median > 0 {
		r := b.Median / d.Median
		q.Ratio = &r
	}
	return q
}

// Summarize fills r.Totals from r.Queries.
func (r *Report) Summarize() {
	t := Totals{}
	var logSum float64
	for _, q := range r.Queries {
		if q.Bellows.Error != "" || q.DuckDB.Error != "" {
			t.Failed++
			continue
		}
		t.Queries++
		t.BellowsSum += q.Bellows.Median
		t.DuckDBSum += q.DuckDB.Median
		if q.Ratio != nil && *q.Ratio > 0 && !math.IsInf(*q.Ratio, 0) {
			logSum += math.Log(*q.Ratio)
			t.RatioQueries++
		}
	}
	if t.DuckDBSum > 0 {
		t.RatioOfSums = t.BellowsSum / t.DuckDBSum
	}
	if t.RatioQueries > 0 {
		t.GeomeanRatio = math.Exp(logSum / float64(t.RatioQueries))
	}
	r.Totals = t
}

// WriteTable prints the per-query medians and the totals as a text table.
func (r *Report) WriteTable(w io.Writer) {
	writeTableHeader(w)
	for _, q := range r.Queries {
		writeTableRow(w, q)
	}
	r.writeTableTotals(w)
}

// writeTableHeader, writeTableRow and writeTableTotals are WriteTable in
// pieces, so a run can print each query's row as soon as it is measured.
func writeTableHeader(w io.Writer) {
	fmt.Fprintf(w, "%-6s %12s %12s %8s  %s\n", "query", "bellows_s", "duckdb_s", "ratio", "note")
}

func writeTableRow(w io.Writer, q QueryResult) {
	secs := func(e EngineResult) string {
		if e.Error != "" {
			return "ERR"
		}
		return fmt.Sprintf("%.4f", e.Median)
	}
	ratio := "-"
	if q.Ratio != nil {
		ratio = fmt.Sprintf("%.2f", *q.Ratio)
	}
	fmt.Fprintf(w, "%-6s %12s %12s %8s  %s\n", q.Query, secs(q.Bellows), secs(q.DuckDB), ratio, q.Note)
}

func (r *Report) writeTableTotals(w io.Writer) {
	fmt.Fprintln(w, strings.Repeat("-", 48))
	t := r.Totals
	if t.Queries > 0 {
		fmt.Fprintf(w, "%-6s %12.4f %12.4f %8.2f  (%d queries)\n", "sum", t.BellowsSum, t.DuckDBSum, t.RatioOfSums, t.Queries)
		if t.RatioQueries > 0 {
			fmt.Fprintf(w, "geomean ratio bellows/duckdb: %.3f (%d queries)\n", t.GeomeanRatio, t.RatioQueries)
		}
	}
	if t.Failed > 0 {
		fmt.Fprintf(w, "errors: %d of %d queries failed (excluded from sums)\n", t.Failed, len(r.Queries))
	}
}

// WriteJSON writes r, indented, to path (creating its folder), through a
// temporary file renamed into place so a failed write leaves no half file.
func (r *Report) WriteJSON(path string) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "=>" in a version, not "\u003e"
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// ReadReport reads a file written by WriteJSON.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r := &Report{}
	if err := json.Unmarshal(data, r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil { // CreateTemp makes it 0600
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// probeMachine describes this machine and the Bellows checkout at repo;
// duckVersion is what DuckDB's version() returned. Facts it cannot find
// (no git, no /proc/cpuinfo) are left empty.
func probeMachine(ctx context.Context, repo, duckVersion string, now time.Time) Machine {
	m := Machine{
		Date:          now.Format(time.RFC3339),
		OS:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		CPUModel:      cpuModel(),
		NumCPU:        runtime.NumCPU(),
		GOMAXPROCS:    runtime.GOMAXPROCS(0),
		GoVersion:     runtime.Version(),
		DuckDBVersion: duckVersion,
	}
	m.Hostname, _ = os.Hostname()
	if out, err := exec.CommandContext(ctx, "git", "-C", repo, "rev-parse", "HEAD").Output(); err == nil {
		m.GitCommit = strings.TrimSpace(string(out))
		if st, err := exec.CommandContext(ctx, "git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
			m.GitDirty = len(strings.TrimSpace(string(st))) > 0
		}
	}
	m.BellowsVersion, m.DuckDBGo = "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			v := d.Version
			if d.Replace != nil {
				v += " => " + d.Replace.Path
				if d.Replace.Version != "" && d.Replace.Version != "(devel)" {
					v += " " + d.Replace.Version
				}
			}
			switch d.Path {
			case "github.com/bellows-db/bellows":
				m.BellowsVersion = v
			case "github.com/duckdb/duckdb-go/v2":
				m.DuckDBGo = v
			}
		}
	}
	return m
}

// cpuModel is the first "model name" of /proc/cpuinfo (Linux), else
// GOARCH.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
