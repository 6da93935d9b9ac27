package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGen writes a shell script that acts like `bellows tpch gen` (empty
// table files) and counts its calls in a file.
func fakeGen(t *testing.T) (bin, countFile string) {
	t.Helper()
	dir := t.TempDir()
	countFile = filepath.Join(dir, "count")
	bin = filepath.Join(dir, "bellows")
	script := "#!/bin/sh\n" +
		"# usage: bellows tpch gen --sf SF --out DIR\n" +
		"echo x >> " + countFile + "\n" +
		"for t in " + strings.Join(Tables, " ") + "; do : > \"$6/$t.parquet\"; done\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, countFile
}

func calls(t *testing.T, countFile string) int {
	data, _ := os.ReadFile(countFile)
	return strings.Count(string(data), "x")
}

func TestEnsureDataCaches(t *testing.T) {
	bin, count := fakeGen(t)
	getBin := func() (string, error) { return bin, nil }
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "bellows-tpch-sf0.01")

	for i, c := range []struct {
		key   string
		regen bool
		calls int
	}{
		{"k1", false, 1}, // generate
		{"k1", false, 1}, // cached
		{"k2", false, 2}, // generator changed
		{"k2", true, 3},  // forced
		{"k2", false, 3}, // cached
	} {
		if _, err := EnsureData(ctx, getBin, "0.01", c.key, dir, c.regen); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if n := calls(t, count); n != c.calls {
			t.Fatalf("step %d: generator ran %d times, want %d", i, n, c.calls)
		}
		if !HasData(dir, "0.01", c.key) {
			t.Fatalf("step %d: no data", i)
		}
	}
	// A different scale factor in the same dir does not count as cached.
	if HasData(dir, "0.1", "k2") {
		t.Error("marker of SF 0.01 accepted for SF 0.1")
	}
	// Half-written data (no marker) is regenerated.
	os.Remove(filepath.Join(dir, markerFile))
	if _, err := EnsureData(ctx, getBin, "0.01", "k2", dir, false); err != nil {
		t.Fatal(err)
	}
	if n := calls(t, count); n != 4 {
		t.Errorf("generator ran %d times, want 4", n)
	}
	// No leftover temp dirs.
	ents, _ := os.ReadDir(filepath.Dir(dir))
	if len(ents) != 1 {
		t.Errorf("leftovers next to the data dir: %v", ents)
	}
}

func TestEnsureDataUserDir(t *testing.T) {
	bin, count := fakeGen(t)
	getBin := func() (string, error) { return bin, nil }
	ctx := context.Background()

	// A user dir holding other files is never overwritten.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("x"), 0o644)
	if _, err := EnsureData(ctx, getBin, "1", "k", dir, false); err == nil {
		t.Fatal("expected a refusal to overwrite a non-empty dir")
	}
	if _, err := os.Stat(filepath.Join(dir, "precious.txt")); err != nil {
		t.Fatal("user file removed")
	}
	// A user dir with all tables is used as is, marker or not.
	for _, tb := range Tables {
		os.WriteFile(filepath.Join(dir, tb+".parquet"), nil, 0o644)
	}
	if gen, err := EnsureData(ctx, getBin, "1", "k", dir, false); err != nil || gen {
		t.Fatalf("gen=%v err=%v", gen, err)
	}
	// A new (missing) user dir is generated.
	newDir := filepath.Join(t.TempDir(), "mydata")
	if gen, err := EnsureData(ctx, getBin, "1", "k", newDir, false); err != nil || !gen {
		t.Fatalf("gen=%v err=%v", gen, err)
	}
	if n := calls(t, count); n != 1 {
		t.Errorf("generator ran %d times, want 1", n)
	}
}

func TestFindRepoRootAndKey(t *testing.T) {
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "bench", "go.mod")); err != nil {
		t.Errorf("root %s has no bench/go.mod", root)
	}
	if k := GeneratorKey(root); len(k) != 16 {
		t.Errorf("GeneratorKey = %q", k)
	}
}
