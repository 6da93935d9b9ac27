package sql

import (
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Catalog is what the binder needs to know about tables, views and table
// functions. Implementations must be safe for concurrent use.
type Catalog interface {
	// Lookup finds a table or view by (lower-case) name.
	Lookup(name string) (*Table, bool)
	// TableFunction resolves read_parquet/read_csv/read_arrow style calls
	// into a file-backed table.
	TableFunction(name string, args []kernels.Value) (*Table, error)
}

// Table describes a table or a view. For a file-backed table Paths lists
// the files (globs already expanded); for a view, ViewSQL holds its query.
type Table struct {
	Name    string
	Columns []ColumnDef
	Format  planner.FileFormat
	Paths   []string
	Options map[string]string
	Stats   *planner.TableStats
	ViewSQL string
	Managed bool // stored under the data directory, writable
}

// ColumnDef is a table column: FileName is its name inside the files (for
// renamed columns; "" = Name).
type ColumnDef struct {
	Name     string
	Type     kernels.Type
	Nullable bool
	FileName string
}
