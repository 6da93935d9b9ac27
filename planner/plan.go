package planner

import (
	"fmt"
	"math"

	"github.com/bellows-db/bellows/kernels"
)

// Node is a logical plan operator. Nodes are plain data: rules return new
// nodes instead of mutating shared ones. Columns lists the node's output.
type Node interface {
	Columns() []Column
	Children() []Node
	// WithChildren returns a shallow copy of the node over new children
	// (same count and order as Children).
	WithChildren(ch []Node) Node
}

// FileFormat names how a scanned table is stored.
type FileFormat string

// Supported file formats.
const (
	FormatParquet FileFormat = "parquet"
	FormatCSV     FileFormat = "csv"
	FormatArrow   FileFormat = "arrow"
)

// TableStats are what the optimizer knows about a table or a node's output.
type TableStats struct {
	Rows    float64               `json:"rows"`
	Columns map[string]ColumnStat `json:"columns,omitempty"` // by file column name
}

// ColumnStat holds min/max and null counts of a column, when known.
type ColumnStat struct {
	Min, Max  kernels.Value
	HasMinMax bool
	NullCount int64
	Distinct  float64 // estimated; 0 = unknown
}

// Scan reads columns of a file-backed table. Filter holds conjuncts pushed
// into the scan (applied to every row; also used to prune row groups).
// FileCols[i] is the column name in the files for Cols[i].
type Scan struct {
	Table    string            `json:"table"`
	Format   FileFormat        `json:"format"`
	Paths    []string          `json:"paths"`
	Cols     []Column          `json:"cols"`
	FileCols []string          `json:"file_cols"`
	Filter   []*Expr           `json:"filter,omitempty"`
	Options  map[string]string `json:"options,omitempty"` // e.g. CSV header/delimiter
	Stats    *TableStats       `json:"stats,omitempty"`
	// Out lists the indices of the Cols the scan outputs, when some are
	// read only for Filter (nil: all of them). Rows failing the filter are
	// dropped without copying those columns.
	Out []int `json:"out,omitempty"`
}

// Series produces one bigint column: Start, Start+Step, ... while not
// past Stop (Stop included unless Exclusive). generate_series and range.
type Series struct {
	Col       Column `json:"col"`
	Start     int64  `json:"start"`
	Stop      int64  `json:"stop"`
	Step      int64  `json:"step"` // never 0
	Exclusive bool   `json:"exclusive,omitempty"`
}

// Count returns the number of rows the series produces (at most
// MaxInt64).
func (n *Series) Count() int64 {
	var span, step uint64
	switch {
	case n.Step > 0 && n.Stop >= n.Start:
		span, step = uint64(n.Stop)-uint64(n.Start), uint64(n.Step)
	case n.Step < 0 && n.Stop <= n.Start:
		span, step = uint64(n.Start)-uint64(n.Stop), uint64(-(n.Step+1))+1
	default:
		return 0
	}
	c := span/step + 1
	if n.Exclusive && span%step == 0 {
		c--
	}
	return int64(min(c, math.MaxInt64))
}

// Value returns the series' k-th value (0-based, k < Count).
func (n *Series) Value(k int64) int64 {
	return int64(uint64(n.Start) + uint64(k)*uint64(n.Step)) // wraps back into range
}

// Values produces constant rows.
type Values struct {
	Cols []Column  `json:"cols"`
	Rows [][]*Expr `json:"rows"`
}

// Filter keeps the rows for which Cond is TRUE.
type Filter struct {
	Input Node  `json:"input"`
	Cond  *Expr `json:"cond"`
}

// Project computes Exprs[i] as output column Cols[i].
type Project struct {
	Input Node     `json:"input"`
	Exprs []*Expr  `json:"exprs"`
	Cols  []Column `json:"cols"`
}

// AggCall is one aggregate: Func (count, count_star, sum, avg, min, max, ...)
// over Args, optionally DISTINCT.
type AggCall struct {
	Func     string  `json:"func"`
	Args     []*Expr `json:"args,omitempty"`
	Distinct bool    `json:"distinct,omitempty"`
	Type     kernels.Type
}

// Aggregate groups by Groups (output GroupCols) and computes Aggs (output
// AggCols). Output order: GroupCols then AggCols. No groups: one row.
type Aggregate struct {
	Input     Node      `json:"input"`
	Groups    []*Expr   `json:"groups"`
	GroupCols []Column  `json:"group_cols"`
	Aggs      []AggCall `json:"aggs"`
	AggCols   []Column  `json:"agg_cols"`
}

// JoinKind is the kind of a join.
type JoinKind uint8

// Join kinds. Semi/Anti/Mark output only the left columns (Mark adds one
// boolean column MarkCol: TRUE if a match exists, NULL if unknown, FALSE).
// Single is a left join that fails if a left row matches more than one
// right row (scalar subqueries).
const (
	JoinInner JoinKind = iota
	JoinLeft
	JoinRight
	JoinFull
	JoinSemi
	JoinAnti
	JoinMark
	JoinSingle
	// JoinRightSemi and JoinRightAnti output the RIGHT rows that have (do
	// not have) a match: a semi/anti join whose preserved side is the small
	// one, built into the hash table while the big side probes.
	JoinRightSemi
	JoinRightAnti
)

func (k JoinKind) String() string {
	return [...]string{"inner", "left", "right", "full", "semi", "anti", "mark", "single", "right semi", "right anti"}[k]
}

// Join combines Left and Right rows satisfying Cond (nil = cross product).
// NullAware makes an anti join follow NOT IN semantics: any NULL on the
// right side of the first equality, or a NULL left key, rejects the row.
type Join struct {
	Kind      JoinKind `json:"kind"`
	Left      Node     `json:"left"`
	Right     Node     `json:"right"`
	Cond      *Expr    `json:"cond,omitempty"`
	NullAware bool     `json:"null_aware,omitempty"`
	MarkCol   Column   `json:"mark_col,omitempty"`
}

// SortKey orders by Expr.
type SortKey struct {
	Expr       *Expr `json:"expr"`
	Desc       bool  `json:"desc,omitempty"`
	NullsFirst bool  `json:"nulls_first,omitempty"`
}

// Sort orders its input.
type Sort struct {
	Input Node      `json:"input"`
	Keys  []SortKey `json:"keys"`
}

// Limit skips Offset rows then passes at most Count rows (Count < 0: all).
type Limit struct {
	Input  Node  `json:"input"`
	Count  int64 `json:"count"`
	Offset int64 `json:"offset,omitempty"`
}

// SetOpKind is UNION, INTERSECT or EXCEPT.
type SetOpKind uint8

// Set operations.
const (
	SetUnion SetOpKind = iota
	SetIntersect
	SetExcept
)

func (k SetOpKind) String() string { return [...]string{"union", "intersect", "except"}[k] }

// SetOp combines two inputs with the same column types positionally.
type SetOp struct {
	Kind  SetOpKind `json:"kind"`
	All   bool      `json:"all,omitempty"`
	Left  Node      `json:"left"`
	Right Node      `json:"right"`
	Cols  []Column  `json:"cols"`
}

// WindowFunc is one window function call.
type WindowFunc struct {
	Func        string    `json:"func"` // row_number, rank, dense_rank, sum, avg, count, count_star, min, max
	Args        []*Expr   `json:"args,omitempty"`
	PartitionBy []*Expr   `json:"partition_by,omitempty"`
	OrderBy     []SortKey `json:"order_by,omitempty"`
	Col         Column    `json:"col"`
}

// Window appends one column per function to its input's columns. With an
// ORDER BY the frame is RANGE UNBOUNDED PRECEDING to CURRENT ROW (peers
// included); without, the whole partition.
type Window struct {
	Input Node         `json:"input"`
	Funcs []WindowFunc `json:"funcs"`
}

// EnforceSingleRow passes its input if it has at most one row; an empty
// input gives one row of NULLs; more than one row is an error.
type EnforceSingleRow struct {
	Input Node `json:"input"`
}

// Columns implementations.

func (n *Scan) Columns() []Column {
	if n.Out == nil {
		return n.Cols
	}
	out := make([]Column, len(n.Out))
	for i, k := range n.Out {
		out[i] = n.Cols[k]
	}
	return out
}
func (n *Values) Columns() []Column  { return n.Cols }
func (n *Series) Columns() []Column  { return []Column{n.Col} }
func (n *Filter) Columns() []Column  { return n.Input.Columns() }
func (n *Project) Columns() []Column { return n.Cols }
func (n *Aggregate) Columns() []Column {
	out := make([]Column, 0, len(n.GroupCols)+len(n.AggCols))
	return append(append(out, n.GroupCols...), n.AggCols...)
}
func (n *Join) Columns() []Column {
	l := n.Left.Columns()
	switch n.Kind {
	case JoinSemi, JoinAnti:
		return l
	case JoinMark:
		return append(append([]Column{}, l...), n.MarkCol)
	case JoinRightSemi, JoinRightAnti:
		return n.Right.Columns()
	}
	r := n.Right.Columns()
	out := make([]Column, 0, len(l)+len(r))
	for _, c := range l {
		if n.Kind == JoinRight || n.Kind == JoinFull {
			c.Nullable = true
		}
		out = append(out, c)
	}
	for _, c := range r {
		if n.Kind == JoinLeft || n.Kind == JoinFull || n.Kind == JoinSingle {
			c.Nullable = true
		}
		out = append(out, c)
	}
	return out
}
func (n *Sort) Columns() []Column  { return n.Input.Columns() }
func (n *Limit) Columns() []Column { return n.Input.Columns() }
func (n *SetOp) Columns() []Column { return n.Cols }
func (n *Window) Columns() []Column {
	in := n.Input.Columns()
	out := append(make([]Column, 0, len(in)+len(n.Funcs)), in...)
	for _, f := range n.Funcs {
		out = append(out, f.Col)
	}
	return out
}
func (n *EnforceSingleRow) Columns() []Column {
	out := append([]Column{}, n.Input.Columns()...)
	for i := range out {
		out[i].Nullable = true
	}
	return out
}

// Children implementations.

func (n *Scan) Children() []Node             { return nil }
func (n *Values) Children() []Node           { return nil }
func (n *Series) Children() []Node           { return nil }
func (n *Filter) Children() []Node           { return []Node{n.Input} }
func (n *Project) Children() []Node          { return []Node{n.Input} }
func (n *Aggregate) Children() []Node        { return []Node{n.Input} }
func (n *Join) Children() []Node             { return []Node{n.Left, n.Right} }
func (n *Sort) Children() []Node             { return []Node{n.Input} }
func (n *Limit) Children() []Node            { return []Node{n.Input} }
func (n *SetOp) Children() []Node            { return []Node{n.Left, n.Right} }
func (n *Window) Children() []Node           { return []Node{n.Input} }
func (n *EnforceSingleRow) Children() []Node { return []Node{n.Input} }

// WithChildren implementations.

func (n *Scan) WithChildren(ch []Node) Node   { c := *n; return &c }
func (n *Values) WithChildren(ch []Node) Node { c := *n; return &c }
func (n *Series) WithChildren(ch []Node) Node { c := *n; return &c }
func (n *Filter) WithChildren(ch []Node) Node { c := *n; c.Input = ch[0]; return &c }
func (n *Project) WithChildren(ch []Node) Node {
	c := *n
	c.Input = ch[0]
	return &c
}
func (n *Aggregate) WithChildren(ch []Node) Node {
	c := *n
	c.Input = ch[0]
	return &c
}
func (n *Join) WithChildren(ch []Node) Node {
	c := *n
	c.Left, c.Right = ch[0], ch[1]
	return &c
}
func (n *Sort) WithChildren(ch []Node) Node  { c := *n; c.Input = ch[0]; return &c }
func (n *Limit) WithChildren(ch []Node) Node { c := *n; c.Input = ch[0]; return &c }
func (n *SetOp) WithChildren(ch []Node) Node {
	c := *n
	c.Left, c.Right = ch[0], ch[1]
	return &c
}
func (n *Window) WithChildren(ch []Node) Node { c := *n; c.Input = ch[0]; return &c }
func (n *EnforceSingleRow) WithChildren(ch []Node) Node {
	c := *n
	c.Input = ch[0]
	return &c
}

// ColumnIDs returns the IDs of cols.
func ColumnIDs(cols []Column) []ColumnID {
	out := make([]ColumnID, len(cols))
	for i, c := range cols {
		out[i] = c.ID
	}
	return out
}

// IndexOf returns the position of id in cols, or -1.
func IndexOf(cols []Column, id ColumnID) int {
	for i, c := range cols {
		if c.ID == id {
			return i
		}
	}
	return -1
}

// Name returns a short operator name for EXPLAIN.
func Name(n Node) string {
	switch n := n.(type) {
	case *Scan:
		return "Scan"
	case *Values:
		return "Values"
	case *Series:
		return "Series"
	case *Exchange:
		return "Exchange"
	case *Filter:
		return "Filter"
	case *Project:
		return "Project"
	case *Aggregate:
		return "Aggregate"
	case *Join:
		return "Join(" + n.Kind.String() + ")"
	case *Sort:
		return "Sort"
	case *Limit:
		return "Limit"
	case *SetOp:
		return "SetOp(" + n.Kind.String() + ")"
	case *Window:
		return "Window"
	case *EnforceSingleRow:
		return "EnforceSingleRow"
	}
	return fmt.Sprintf("%T", n)
}
