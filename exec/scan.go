package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// FileError is a failure to read one file of a scanned table. RowGroup
// (Parquet, else -1), Line (CSV, else 0) and Column ("" if none) locate it.
type FileError struct {
	Path     string
	RowGroup int
	Line     int64
	Column   string
	Err      error
}

// Error names the file and the position, then the cause.
func (e *FileError) Error() string {
	var b strings.Builder
	b.WriteString("file ")
	b.WriteString(e.Path)
	if e.RowGroup >= 0 {
		fmt.Fprintf(&b, ", row group %d", e.RowGroup)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, ", line %d", e.Line)
	}
	if e.Column != "" {
		fmt.Fprintf(&b, ", column %q", e.Column)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// scFileErr wraps err with the file's path unless it already names it.
func scFileErr(path string, rowGroup int, err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		if fe.Path == "" {
			c := *fe
			c.Path = path
			if c.RowGroup < 0 {
				c.RowGroup = rowGroup
			}
			return &c
		}
		return err
	}
	var ml *ErrMemoryLimit
	if errors.As(err, &ml) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err
	}
	return &FileError{Path: path, RowGroup: rowGroup, Err: err}
}

// scPanicErr turns a value recovered from file-reading code into an error.
func scPanicErr(path string, rowGroup int, r any) error {
	if m, ok := r.(memLimitPanic); ok {
		return m.err
	}
	return &FileError{Path: path, RowGroup: rowGroup, Err: fmt.Errorf("corrupt or unreadable file: %v", r)}
}

// ScanSource is the Source NewScan returns. Splits (a Parquet row group, an
// Arrow record batch, a CSV file) come from a shared queue, so any number of
// drivers can read it and join or leave between splits.
type ScanSource struct {
	// RowGroups counts the Parquet row groups of the scanned files and
	// RowGroupsPruned those skipped by their statistics. Set by NewScan.
	RowGroups, RowGroupsPruned int64
	// RowsRead counts the rows read from files, before the filter.
	RowsRead atomic.Int64
	// SplitsClaimed counts the splits this source's drivers read.
	SplitsClaimed atomic.Int64
	// DictFiltered counts conjuncts evaluated on a batch's dictionary
	// instead of its rows.
	DictFiltered atomic.Int64

	q       *QueryContext
	scan    *planner.Scan
	schema  *arrow.Schema
	filters []*Evaluator
	// out lists the columns (of schema) the scan emits, nil: all; the
	// others are read for the filters only. outSchema is their schema.
	out       []int
	outSchema *arrow.Schema
	// filterCol is, per filter, the one output column it reads (else -1):
	// such filters run on dictionaries (assembleDict).
	filterCol []int
	format    scanFormat
	splits    []scanSplit
	next      atomic.Int64
	queue     SplitSource // shared with the stage's other tasks; nil: next
}

// scanSplit is one unit of work: a file and a row group or record batch
// (-1: the whole file).
type scanSplit struct{ file, unit int }

// scanFormat is the per-format part of a scan.
type scanFormat interface {
	local() scanFormatLocal
	// where names a split in errors.
	where(sp scanSplit) (path string, rowGroup int)
	close()
}

// scanFormatLocal is one driver's file state (an open file, reused between the
// splits of that file).
type scanFormatLocal interface {
	open(sp scanSplit) (scanSplitReader, error)
	close()
}

// scanSplitReader reads one split. next returns batches in the scan's output
// layout (owned by the caller), last = true on the split's final batch when
// known, or io.EOF.
type scanSplitReader interface {
	next() (b arrow.RecordBatch, last bool, err error)
	close()
}

// NewScan reads a planner.Scan: columns FileCols (matched by name, case
// insensitively) of the files in Paths, converted to Cols' types, keeping
// the rows for which every conjunct of Filter is TRUE. It returns a
// *ScanSource; errors name the file (and row group or line).
func NewScan(q *QueryContext, s *planner.Scan) (Source, error) {
	if len(s.FileCols) != len(s.Cols) {
		return nil, fmt.Errorf("internal error: scan of %s has %d columns but %d file columns", s.Table, len(s.Cols), len(s.FileCols))
	}
	src := &ScanSource{q: q, scan: s, schema: scanSchema(s.Cols)}
	if q.SplitQueues != nil {
		src.queue = q.SplitQueues(s)
	}
	src.outSchema = src.schema
	if s.Out != nil {
		for _, k := range s.Out {
			if k < 0 || k >= len(s.Cols) {
				return nil, fmt.Errorf("internal error: scan of %s outputs column %d of %d", s.Table, k, len(s.Cols))
			}
		}
		src.out = s.Out
		src.outSchema = scanSchema(s.Columns())
	}
	var conj []*planner.Expr
	for _, f := range s.Filter {
		conj = append(conj, planner.Conjuncts(f)...)
	}
	for _, c := range conj {
		ev, err := Compile(c, s.Cols, q.Kernels)
		if err != nil {
			return nil, err
		}
		src.filters = append(src.filters, ev)
	}
	src.filterCol = singleColumnFilters(conj, s.Cols)
	var err error
	switch s.Format {
	case planner.FormatParquet:
		src.format, err = newParquetScan(src, conj)
	case planner.FormatCSV:
		src.format, err = newCSVScan(src)
	case planner.FormatArrow:
		src.format, err = newArrowScan(src)
	default:
		err = fmt.Errorf("unsupported file format %q", s.Format)
	}
	if err != nil {
		return nil, err
	}
	for _, c := range conj {
		if c.Kind == planner.EConst && (c.Value.Null || (c.Type.ID == kernels.Bool && c.Value.I == 0)) {
			src.splits = nil // a constant FALSE or NULL conjunct: nothing passes
		}
	}
	return src, nil
}

func scanSchema(cols []planner.Column) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type.Arrow(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// Schema returns the schema of the batches the scan produces.
func (s *ScanSource) Schema() *arrow.Schema { return s.outSchema }

// project keeps the output columns of b (owned; released if replaced).
func (s *ScanSource) project(b arrow.RecordBatch) arrow.RecordBatch {
	if s.out == nil {
		return b
	}
	cols := make([]arrow.Array, len(s.out))
	for i, k := range s.out {
		cols[i] = b.Column(k)
	}
	p := array.NewRecordBatch(s.outSchema, cols, b.NumRows())
	b.Release()
	return p
}

// claim returns the index of the next split to read, from the stage's
// shared queue when there is one.
func (s *ScanSource) claim() (int, bool, error) {
	if s.queue != nil {
		return s.queue.Claim(len(s.splits))
	}
	i := s.next.Add(1) - 1
	return int(i), i < int64(len(s.splits)), nil
}

// Splits returns the number of splits left after pruning.
func (s *ScanSource) Splits() int { return len(s.splits) }

// Local implements Source.
func (s *ScanSource) Local(ctx context.Context) (SourceLocal, error) {
	return &scanLocal{s: s, fl: s.format.local()}, nil
}

// Close implements Source.
func (s *ScanSource) Close() { s.format.close() }

type scanLocal struct {
	s    *ScanSource
	fl   scanFormatLocal
	cur  scanSplitReader
	sp   scanSplit
	keep []byte
	sel  []int32
}

// Idle implements SourceLocal: no split is partly read.
func (l *scanLocal) Idle() bool { return l.cur == nil }

// Close implements SourceLocal.
func (l *scanLocal) Close() {
	l.drop()
	l.fl.close()
}

func (l *scanLocal) drop() {
	if l.cur != nil {
		l.cur.close()
		l.cur = nil
	}
}

// Next implements SourceLocal.
func (l *scanLocal) Next(ctx context.Context) (b arrow.RecordBatch, err error) {
	defer func() {
		if r := recover(); r != nil {
			path, rg := l.s.format.where(l.sp)
			err = scPanicErr(path, rg, r)
			b = nil
			func() {
				defer func() { _ = recover() }()
				l.drop()
			}()
			l.cur = nil
		}
	}()
	for {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		if l.cur == nil {
			i, ok, err := l.s.claim()
			if err != nil {
				return nil, fmt.Errorf("scan of %s: claiming a split: %w", l.s.scan.Table, err)
			}
			if !ok {
				return nil, io.EOF
			}
			l.s.SplitsClaimed.Add(1)
			l.sp = l.s.splits[i]
			r, err := l.fl.open(l.sp)
			if err != nil {
				path, rg := l.s.format.where(l.sp)
				return nil, scFileErr(path, rg, err)
			}
			l.cur = r
		}
		b, last, err := l.cur.next()
		var applied uint64
		if pf, ok := l.cur.(scPrefiltered); ok && err == nil {
			applied = pf.applied()
		}
		if last || err != nil {
			l.drop()
		}
		if err == io.EOF {
			continue
		}
		if err != nil {
			path, rg := l.s.format.where(l.sp)
			return nil, scFileErr(path, rg, err)
		}
		l.s.RowsRead.Add(b.NumRows())
		if b, err = l.filter(b, applied); err != nil {
			return nil, err
		}
		if b != nil {
			return b, nil
		}
	}
}

// scPrefiltered is a split reader that applies some conjuncts itself:
// applied reports which (a bit per filter) for the batch next returned.
type scPrefiltered interface{ applied() uint64 }

// filter applies the pushed conjuncts not in applied to b (owned); nil
// means no row passed.
func (l *scanLocal) filter(b arrow.RecordBatch, applied uint64) (arrow.RecordBatch, error) {
	if len(l.s.filters) == 0 || b.NumRows() == 0 {
		if b.NumRows() == 0 {
			b.Release()
			return nil, nil
		}
		return l.s.project(b), nil
	}
	n := int(b.NumRows())
	nb := int(bitutil.BytesForBits(int64(n)))
	if cap(l.keep) < nb {
		l.keep = make([]byte, nb)
	}
	keep := l.keep[:nb]
	first := true
	for i, ev := range l.s.filters {
		if applied&(1<<i) != 0 {
			continue
		}
		arr, err := ev.Eval(l.s.q, b)
		if err != nil {
			b.Release()
			return nil, err
		}
		ok := scAndMask(keep, arr, n, first)
		first = false
		arr.Release()
		if !ok {
			b.Release()
			return nil, nil
		}
	}
	if first {
		return l.s.project(b), nil // every filter ran on dictionaries already
	}
	cnt := bitutil.CountSetBits(keep, 0, n)
	switch cnt {
	case 0:
		b.Release()
		return nil, nil
	case n:
		return l.s.project(b), nil
	}
	sel := l.sel[:0]
	for i := 0; i < n; i++ {
		if keep[i>>3]&(1<<(i&7)) != 0 {
			sel = append(sel, int32(i))
		}
	}
	l.sel = sel
	b = l.s.project(b) // filter-only columns are not gathered
	out, err := scSelect(l.s.q.Alloc, b, sel)
	b.Release()
	return out, err
}

// scAndMask ANDs the TRUE rows of a boolean result into keep (or sets keep
// when first). It returns false when no row can pass.
func scAndMask(keep []byte, arr arrow.Array, n int, first bool) bool {
	ba, ok := arr.(*array.Boolean)
	if !ok || ba.Len() != n {
		return false // NULL-typed: never TRUE
	}
	d := ba.Data()
	vals := d.Buffers()[1].Bytes()
	if first {
		bitutil.CopyBitmap(vals, d.Offset(), n, keep, 0)
	} else {
		bitutil.BitmapAnd(keep, vals, 0, int64(d.Offset()), keep, 0, int64(n))
	}
	if ba.NullN() > 0 {
		bitutil.BitmapAnd(keep, ba.NullBitmapBytes(), 0, int64(d.Offset()), keep, 0, int64(n))
	}
	return true
}

// assemble converts the columns pos[i] of raw (borrowed) to the scan's
// output types. Columns that fail name themselves in the error.
func (s *ScanSource) assemble(raw arrow.RecordBatch, pos []int) (arrow.RecordBatch, error) {
	return s.assembleWith(raw, pos, nil)
}

// assembleWith is assemble where unscaled[i] marks output columns that
// arrive as the unscaled integers of their decimal type (see
// parquetFile.unscaled).
func (s *ScanSource) assembleWith(raw arrow.RecordBatch, pos []int, unscaled []bool) (arrow.RecordBatch, error) {
	cols := make([]arrow.Array, len(pos))
	for i, p := range pos {
		c, err := s.convertCol(raw.Column(p), i, unscaled)
		if err != nil {
			releaseAll(cols[:i])
			return nil, &FileError{RowGroup: -1, Column: s.scan.FileCols[i], Err: err}
		}
		cols[i] = c
	}
	out := array.NewRecordBatch(s.schema, cols, raw.NumRows())
	releaseAll(cols)
	return out, nil
}

// convertCol converts a file column to output column i's type.
func (s *ScanSource) convertCol(arr arrow.Array, i int, unscaled []bool) (arrow.Array, error) {
	if i < len(unscaled) && unscaled[i] {
		return scDecimalFromUnscaled(s.q.Alloc, arr, s.scan.Cols[i].Type)
	}
	return scConvert(s.q.Alloc, arr, s.scan.Cols[i].Type)
}

// countBatches emits batches without columns: rows rows in batchSize pieces.
type scCountReader struct {
	schema    *arrow.Schema
	rows      int64
	batchSize int64
}

func (c *scCountReader) next() (arrow.RecordBatch, bool, error) {
	if c.rows <= 0 {
		return nil, true, io.EOF
	}
	n := min(c.rows, c.batchSize)
	c.rows -= n
	return array.NewRecordBatch(c.schema, nil, n), c.rows == 0, nil
}

func (c *scCountReader) close() {}

// scMatchColumn finds name among names: exact match first, then case
// insensitive. It returns -1 if absent.
func scMatchColumn(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	for i, n := range names {
		if strings.EqualFold(n, name) {
			return i
		}
	}
	return -1
}

// scErrNoColumn is the error for a missing file column.
func scErrNoColumn(path, col string) error {
	return &FileError{Path: path, RowGroup: -1, Column: col, Err: errors.New("column does not exist in the file")}
}
