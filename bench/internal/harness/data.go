package harness

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Tables are the eight TPC-H tables, written by `bellows tpch gen` as
// DIR/<table>.parquet.
var Tables = []string{"region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem"}

// RootModule is the module path of the main Bellows module.
const RootModule = "github.com/bellows-db/bellows"

// markerFile marks a completely generated data directory.
const markerFile = ".bellows-tpch-complete"

// FindRepoRoot walks up from dir to the directory whose go.mod declares
// module github.com/bellows-db/bellows.
func FindRepoRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && modulePath(data) == RootModule {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no go.mod for module %s above %s", RootModule, dir)
		}
		d = parent
	}
}

func modulePath(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// BuildBellows runs `go build -o out ./cmd/bellows` in repoRoot.
func BuildBellows(ctx context.Context, repoRoot, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/bellows")
	cmd.Dir = repoRoot
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/bellows (in %s): %w\n%s", repoRoot, err, buf.String())
	}
	return nil
}

// NormalizeSF canonicalises a scale factor string ("0.10" -> "0.1", "1.0" -> "1").
func NormalizeSF(sf string) (string, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(sf), 64)
	if err != nil || f <= 0 {
		return "", fmt.Errorf("bad scale factor %q", sf)
	}
	return strconv.FormatFloat(f, 'f', -1, 64), nil
}

// DefaultDataDir is the cache directory for generated data at sf:
// os.TempDir()/bellows-tpch-sf<SF>.
func DefaultDataDir(sf string) string {
	return filepath.Join(os.TempDir(), "bellows-tpch-sf"+sf)
}

// GeneratorKey identifies the data generator's version: a hash of the
// non-test Go files in repoRoot/tpch. Cached data generated with another
// key is regenerated, so a fixed generator does not leave stale data behind
// (changes elsewhere in the engine do not invalidate the cache).
func GeneratorKey(repoRoot string) string {
	files, _ := filepath.Glob(filepath.Join(repoRoot, "tpch", "*.go"))
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func markerContent(sf, key string) string {
	return "sf=" + sf + "\ngenerator=" + key + "\n"
}

// HasData reports whether dir holds a completed generation of scale factor
// sf by generator key (marker file matches and all table files are there).
func HasData(dir, sf, key string) bool {
	data, err := os.ReadFile(filepath.Join(dir, markerFile))
	if err != nil || string(data) != markerContent(sf, key) {
		return false
	}
	return hasAllTables(dir)
}

func hasAllTables(dir string) bool {
	for _, t := range Tables {
		if _, err := os.Stat(filepath.Join(dir, t+".parquet")); err != nil {
			return false
		}
	}
	return true
}

// EnsureData makes sure dir holds TPC-H data at scale factor sf. If the
// marker file is there and names sf and generator key (see GeneratorKey),
// and regen is false, nothing is done. Otherwise the
// data is generated with `bin tpch gen --sf sf --out TMP` into a sibling
// temporary directory that is then renamed to dir, so that an interrupted
// or concurrent generation never leaves a half-written dir behind.
// bin is called lazily: it returns the bellows binary path (building it).
//
// A dir that has all table files but no marker and was not created by this
// harness (e.g. --data pointing at hand-made data) is used as is.
func EnsureData(ctx context.Context, bin func() (string, error), sf, key, dir string, regen bool) (generated bool, err error) {
	if !regen && HasData(dir, sf, key) {
		return false, nil
	}
	if !regen && hasAllTables(dir) && !isHarnessDir(dir) {
		return false, nil
	}
	if !isHarnessDir(dir) && !emptyOrMissing(dir) {
		return false, fmt.Errorf("%s lacks some of the TPC-H tables %v but is not empty: refusing to overwrite it (use an empty or new directory)", dir, Tables)
	}
	b, err := bin()
	if err != nil {
		return false, err
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return false, err
	}
	tmp, err := os.MkdirTemp(parent, filepath.Base(dir)+".tmp-*")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(tmp) // no-op after a successful rename
	cmd := exec.CommandContext(ctx, b, "tpch", "gen", "--sf", sf, "--out", tmp)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("bellows tpch gen --sf %s: %w\n%s", sf, err, out.String())
	}
	if !hasAllTables(tmp) {
		return false, fmt.Errorf("bellows tpch gen --sf %s did not write all of %v into %s", sf, Tables, tmp)
	}
	if err := os.WriteFile(filepath.Join(tmp, markerFile), []byte(markerContent(sf, key)), 0o644); err != nil {
		return false, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return false, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another process may have won the race.
		if HasData(dir, sf, key) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

func emptyOrMissing(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err != nil || len(ents) == 0
}

// isHarnessDir reports whether dir is one of our cache dirs (named
// bellows-tpch-sf*), which must carry the marker file to be trusted.
func isHarnessDir(dir string) bool {
	return strings.HasPrefix(filepath.Base(dir), "bellows-tpch-sf")
}

// QueryFile is the path of TPC-H query n in the main module.
func QueryFile(repoRoot string, n int) string {
	return filepath.Join(repoRoot, "tpch", "queries", fmt.Sprintf("q%02d.sql", n))
}

// ReadQuery reads the text of TPC-H query n from the main module.
func ReadQuery(repoRoot string, n int) (string, error) {
	data, err := os.ReadFile(QueryFile(repoRoot, n))
	if err != nil {
		return "", err
	}
	return string(data), nil
}

// ParseQueryList parses "1,3,6" (ranges like "1-5" too) into query numbers
// in 1..22. An empty string means all 22.
func ParseQueryList(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		all := make([]int, 22)
		for i := range all {
			all[i] = i + 1
		}
		return all, nil
	}
	seen := map[int]bool{}
	var out []int
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(part)), "q"))
		if part == "" {
			continue
		}
		lo, hi := part, part
		if i := strings.Index(part, "-"); i > 0 {
			lo, hi = part[:i], strings.TrimPrefix(part[i+1:], "q")
		}
		a, err1 := strconv.Atoi(lo)
		b, err2 := strconv.Atoi(hi)
		if err := errors.Join(err1, err2); err != nil || a < 1 || b > 22 || a > b {
			return nil, fmt.Errorf("bad query list entry %q (want numbers 1..22)", part)
		}
		for q := a; q <= b; q++ {
			if !seen[q] {
				seen[q] = true
				out = append(out, q)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty query list %q", s)
	}
	return out, nil
}
