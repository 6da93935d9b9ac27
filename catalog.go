package bellows

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/bellows-db/bellows/exec"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
	"github.com/bellows-db/bellows/sql"
)

// catalog holds tables and views. Managed tables (CREATE TABLE) live under
// dataDir/tables/NAME/ as Parquet files; the committed file lists are in
// dataDir/catalog.json, replaced atomically, so an interrupted write leaves
// the previous state. Safe for concurrent use.
type catalog struct {
	mu      sync.RWMutex
	dataDir string
	tables  map[string]*sql.Table
}

type catalogFile struct {
	Tables []*sql.Table `json:"tables"`
}

func openCatalog(dataDir string) (*catalog, error) {
	c := &catalog{dataDir: dataDir, tables: map[string]*sql.Table{}}
	if err := os.MkdirAll(filepath.Join(dataDir, "tables"), 0o755); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dataDir, err)
	}
	raw, err := os.ReadFile(filepath.Join(dataDir, "catalog.json"))
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	var f catalogFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", filepath.Join(dataDir, "catalog.json"), err)
	}
	for _, t := range f.Tables {
		c.tables[t.Name] = t
	}
	return c, nil
}

// save writes the managed tables and views to catalog.json atomically.
// Caller holds mu.
func (c *catalog) save() error {
	var f catalogFile
	for _, t := range c.tables {
		if t.Managed || t.ViewSQL != "" {
			f.Tables = append(f.Tables, t)
		}
	}
	sort.Slice(f.Tables, func(i, j int) bool { return f.Tables[i].Name < f.Tables[j].Name })
	raw, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(c.dataDir, "catalog.json")
	tmp := path + ".tmp"
	fh, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := fh.Write(raw); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Lookup implements sql.Catalog.
func (c *catalog) Lookup(name string) (*sql.Table, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.tables[strings.ToLower(name)]
	if ok && t.Managed {
		cp := *t
		cp.Paths = c.absPaths(t)
		return &cp, true
	}
	return t, ok
}

func (c *catalog) absPaths(t *sql.Table) []string {
	out := make([]string, len(t.Paths))
	for i, p := range t.Paths {
		if filepath.IsAbs(p) {
			out[i] = p
		} else {
			out[i] = filepath.Join(c.dataDir, p)
		}
	}
	return out
}

// TableFunction implements sql.Catalog: read_parquet, read_csv, read_arrow.
func (c *catalog) TableFunction(name string, args []kernels.Value) (*sql.Table, error) {
	var format planner.FileFormat
	switch name {
	case "read_parquet", "parquet_scan":
		format = planner.FormatParquet
	case "read_csv", "read_csv_auto":
		format = planner.FormatCSV
	case "read_arrow", "read_ipc":
		format = planner.FormatArrow
	default:
		return nil, fmt.Errorf("table function %s does not exist (read_parquet, read_csv, read_arrow)", name)
	}
	if len(args) != 1 || args[0].Null {
		return nil, fmt.Errorf("%s takes one argument: a file path or glob", name)
	}
	return describeFiles(name, format, args[0].S)
}

// describeFiles expands a path, glob or directory and reads the files'
// schema and statistics.
func describeFiles(name string, format planner.FileFormat, pattern string) (*sql.Table, error) {
	paths, err := expandPaths(pattern, format)
	if err != nil {
		return nil, err
	}
	names, types, err := exec.InferSchema(format, paths, nil)
	if err != nil {
		return nil, err
	}
	t := &sql.Table{Name: name, Format: format, Paths: paths}
	for i, n := range names {
		t.Columns = append(t.Columns, sql.ColumnDef{Name: strings.ToLower(n), Type: types[i], Nullable: true, FileName: n})
	}
	if st, err := exec.ReadStats(format, paths, nil); err == nil {
		t.Stats = st
	}
	return t, nil
}

func expandPaths(pattern string, format planner.FileFormat) ([]string, error) {
	if st, err := os.Stat(pattern); err == nil && st.IsDir() {
		pattern = filepath.Join(pattern, "*."+string(format))
	}
	paths, err := filepath.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("bad file pattern %q: %w", pattern, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no files match %q", pattern)
	}
	sort.Strings(paths)
	return paths, nil
}

func formatOf(path string) planner.FileFormat {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv", ".tsv", ".txt":
		return planner.FormatCSV
	case ".arrow", ".ipc", ".feather", ".arrows":
		return planner.FormatArrow
	}
	return planner.FormatParquet
}

// Tables lists the table and view names, sorted.
func (db *DB) Tables() []string {
	db.cat.mu.RLock()
	defer db.cat.mu.RUnlock()
	out := make([]string, 0, len(db.cat.tables))
	for n, t := range db.cat.tables {
		kind := "table"
		if t.ViewSQL != "" {
			kind = "view"
		}
		out = append(out, n+" ("+kind+")")
	}
	sort.Strings(out)
	return out
}

// Relation describes one table or view of the catalog.
type Relation struct {
	Name   string
	View   bool
	Schema *arrow.Schema // the columns, in order
}

// Relations lists the tables and views, sorted by name. The result is a
// snapshot the caller owns.
func (db *DB) Relations() []Relation {
	db.cat.mu.RLock()
	defer db.cat.mu.RUnlock()
	out := make([]Relation, 0, len(db.cat.tables))
	for n, t := range db.cat.tables {
		fields := make([]arrow.Field, len(t.Columns))
		for i, c := range t.Columns {
			fields[i] = arrow.Field{Name: c.Name, Type: c.Type.Arrow(), Nullable: c.Nullable}
		}
		out = append(out, Relation{Name: n, View: t.ViewSQL != "", Schema: arrow.NewSchema(fields, nil)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Describe lists a table's columns as "name type".
func (db *DB) Describe(name string) ([]string, error) {
	t, ok := db.cat.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("relation %q does not exist", name)
	}
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name + " " + c.Type.String()
	}
	return out, nil
}
