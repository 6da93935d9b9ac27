package exec

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// parquetFooter is a parsed Parquet footer with its Arrow schema mapping.
type parquetFooter struct {
	path     string
	size     int64
	md       *metadata.FileMetaData
	manifest *pqarrow.SchemaManifest
}

// readParquetFooter opens path and parses its footer once. Panics from the
// parser become errors naming the file.
func readParquetFooter(path string, mem memory.Allocator) (ft *parquetFooter, err error) {
	defer func() {
		if r := recover(); r != nil {
			ft, err = nil, scPanicErr(path, -1, r)
		}
	}()
	f, err := os.Open(path)
	if err != nil {
		return nil, scFileErr(path, -1, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, scFileErr(path, -1, err)
	}
	rdr, err := file.NewParquetReader(f, file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return nil, scFileErr(path, -1, err)
	}
	md := rdr.MetaData()
	md.WriterVersion() // fill the lazily computed version before sharing md
	fr, err := pqarrow.NewFileReader(rdr, pqarrow.ArrowReadProperties{}, mem)
	if err != nil {
		return nil, scFileErr(path, -1, err)
	}
	return &parquetFooter{path: path, size: st.Size(), md: md, manifest: fr.Manifest}, nil
}

// fieldNames lists the top-level column names.
func (ft *parquetFooter) fieldNames() []string {
	names := make([]string, len(ft.manifest.Fields))
	for i, f := range ft.manifest.Fields {
		names[i] = f.Field.Name
	}
	return names
}

// scLeaves returns the leaf column indices under a top-level field.
func scLeaves(f *pqarrow.SchemaField, out []int) []int {
	if f.IsLeaf() {
		return append(out, f.ColIndex)
	}
	for i := range f.Children {
		out = scLeaves(&f.Children[i], out)
	}
	return out
}

// checkRowGroup verifies that the chunks of the given scLeaves lie inside the
// file, so a corrupt footer cannot make the reader allocate wildly.
func (ft *parquetFooter) checkRowGroup(rg int, leafCols []int) error {
	meta := ft.md.RowGroup(rg)
	if meta.NumRows() < 0 {
		return fmt.Errorf("negative row count %d", meta.NumRows())
	}
	for _, c := range leafCols {
		cc, err := meta.ColumnChunk(c)
		if err != nil {
			return err
		}
		start := cc.DataPageOffset()
		if cc.HasDictionaryPage() && cc.DictionaryPageOffset() > 0 && cc.DictionaryPageOffset() < start {
			start = cc.DictionaryPageOffset()
		}
		n := cc.TotalCompressedSize()
		if start < 0 || n < 0 || start > ft.size || n > ft.size-start {
			return fmt.Errorf("column chunk %d (offset %d, %d bytes) lies outside the file (%d bytes)", c, start, n, ft.size)
		}
	}
	return nil
}

// parquetFile is one file of a Parquet scan.
type parquetFile struct {
	*parquetFooter
	scLeaves []int // leaf columns to read, grouped by output field
	pos      []int // output column -> field position in the record reader's schema
	// per output column: the file's Arrow type and its single leaf (-1 if
	// nested), for statistics
	types  []arrow.DataType
	leafOf []int
	// string leaves whose data pages are all dictionary encoded: read as
	// dictionary arrays (cheap to decode) and unpacked by the scan
	dictLeaves []int
	// unscaled marks output columns of a decimal stored as INT32/INT64
	// whose type the scan keeps: the reader hands over the stored integers
	// without a copy (rawFields: their manifest fields and integer types)
	// and the scan widens them to decimal128 in one pass.
	unscaled  []bool
	rawFields map[int]arrow.DataType
}

// dictionaryLeaves picks the string columns among outputs whose data pages
// are dictionary encoded in every row group.
func (pf *parquetFile) dictionaryLeaves() []int {
	var out []int
	for i, leaf := range pf.leafOf {
		if leaf < 0 || slices.Contains(out, leaf) {
			continue
		}
		switch pf.types[i].ID() {
		case arrow.STRING, arrow.BINARY, arrow.LARGE_STRING, arrow.LARGE_BINARY:
		default:
			continue
		}
		if pf.md.Schema.Column(leaf).PhysicalType() != parquet.Types.ByteArray {
			continue
		}
		all := pf.md.NumRowGroups() > 0
		for rg := 0; rg < pf.md.NumRowGroups() && all; rg++ {
			cc, err := pf.md.RowGroup(rg).ColumnChunk(leaf)
			if err != nil {
				all = false
				break
			}
			stats := cc.EncodingStats()
			all = len(stats) > 0
			for _, st := range stats {
				isData := st.PageType == 0 || st.PageType == 3 // DATA_PAGE, DATA_PAGE_V2
				if isData && st.Encoding != parquet.Encodings.PlainDict && st.Encoding != parquet.Encodings.RLEDict {
					all = false
				}
			}
		}
		if all {
			out = append(out, leaf)
		}
	}
	return out
}

type parquetScan struct {
	src   *ScanSource
	files []*parquetFile
}

func newParquetScan(src *ScanSource, conj []*planner.Expr) (*parquetScan, error) {
	s := src.scan
	ps := &parquetScan{src: src}
	pr := newScPruner(conj, s.Cols)
	for fi, path := range s.Paths {
		ft, err := readParquetFooter(path, src.q.Alloc)
		if err != nil {
			return nil, err
		}
		pf := &parquetFile{parquetFooter: ft}
		names := ft.fieldNames()
		fieldPos := map[int]int{} // manifest field -> reader position
		for _, name := range s.FileCols {
			fidx := scMatchColumn(names, name)
			if fidx < 0 {
				return nil, scErrNoColumn(path, name)
			}
			field := &ft.manifest.Fields[fidx]
			p, ok := fieldPos[fidx]
			if !ok {
				p = len(fieldPos)
				fieldPos[fidx] = p
				pf.scLeaves = scLeaves(field, pf.scLeaves)
			}
			pf.pos = append(pf.pos, p)
			pf.types = append(pf.types, field.Field.Type)
			leaf := -1
			if field.IsLeaf() {
				leaf = field.ColIndex
			}
			pf.leafOf = append(pf.leafOf, leaf)
			pf.unscaled = append(pf.unscaled, false)
			if leaf >= 0 && field.Field.Type.ID() == arrow.DECIMAL128 {
				var raw arrow.DataType
				switch ft.md.Schema.Column(leaf).PhysicalType() {
				case parquet.Types.Int64:
					raw = arrow.PrimitiveTypes.Int64
				case parquet.Types.Int32:
					raw = arrow.PrimitiveTypes.Int32
				}
				if nt, err := kernels.FromArrow(field.Field.Type); raw != nil && err == nil && nt == s.Cols[len(pf.pos)-1].Type {
					if pf.rawFields == nil {
						pf.rawFields = map[int]arrow.DataType{}
					}
					pf.rawFields[fidx] = raw
					pf.unscaled[len(pf.unscaled)-1] = true
				}
			}
			if _, err := kernels.FromArrow(field.Field.Type); err != nil {
				return nil, &FileError{Path: path, RowGroup: -1, Column: name, Err: err}
			}
		}
		// A field read as integers must be so for every output column.
		for i, name := range s.FileCols {
			fidx := scMatchColumn(names, name)
			if _, raw := pf.rawFields[fidx]; raw && !pf.unscaled[i] {
				delete(pf.rawFields, fidx)
			}
		}
		for i, name := range s.FileCols {
			_, raw := pf.rawFields[scMatchColumn(names, name)]
			pf.unscaled[i] = raw
		}
		pf.dictLeaves = pf.dictionaryLeaves()
		ps.files = append(ps.files, pf)
		for rg := 0; rg < ft.md.NumRowGroups(); rg++ {
			if err := ft.checkRowGroup(rg, pf.scLeaves); err != nil {
				return nil, scFileErr(path, rg, err)
			}
			src.RowGroups++
			meta := ft.md.RowGroup(rg)
			if meta.NumRows() == 0 {
				continue
			}
			if pr.skip(func(col int) (scColStats, bool) { return pf.stats(meta, col, s.Cols[col].Type) }) {
				src.RowGroupsPruned++
				continue
			}
			src.splits = append(src.splits, scanSplit{file: fi, unit: rg})
		}
	}
	return ps, nil
}

// stats returns the statistics of output column col in a row group, as
// values of type t.
func (pf *parquetFile) stats(meta *metadata.RowGroupMetaData, col int, t kernels.Type) (scColStats, bool) {
	if pf.leafOf[col] < 0 {
		return scColStats{}, false
	}
	return parquetColumnStats(meta, pf.leafOf[col], pf.types[col], t)
}

func (ps *parquetScan) where(sp scanSplit) (string, int) {
	if sp.file < 0 || sp.file >= len(ps.files) {
		return "?", -1
	}
	return ps.files[sp.file].path, sp.unit
}

func (ps *parquetScan) close() {}

func (ps *parquetScan) local() scanFormatLocal { return &parquetLocal{ps: ps, file: -1} }

// parquetLocal keeps one file open per driver; the footer parsed by NewScan
// is reused, so opening costs no footer parse.
type parquetLocal struct {
	ps   *parquetScan
	file int
	f    *os.File
	fr   *pqarrow.FileReader
}

func (pl *parquetLocal) close() {
	if pl.f != nil {
		pl.f.Close()
		pl.f, pl.fr, pl.file = nil, nil, -1
	}
}

func (pl *parquetLocal) open(sp scanSplit) (scanSplitReader, error) {
	q := pl.ps.src.q
	pf := pl.ps.files[sp.file]
	rows := pf.md.RowGroup(sp.unit).NumRows()
	if len(pf.scLeaves) == 0 {
		return &scCountReader{schema: pl.ps.src.schema, rows: rows, batchSize: int64(q.BatchSize)}, nil
	}
	if pl.file != sp.file {
		pl.close()
		f, err := os.Open(pf.path)
		if err != nil {
			return nil, err
		}
		rdr, err := file.NewParquetReader(f, file.WithMetadata(pf.md), file.WithReadProps(parquet.NewReaderProperties(q.Alloc)))
		if err != nil {
			f.Close()
			return nil, err
		}
		props := pqarrow.ArrowReadProperties{BatchSize: int64(q.BatchSize), Parallel: false}
		for _, leaf := range pf.dictLeaves {
			props.SetReadDict(leaf, true)
		}
		fr, err := pqarrow.NewFileReader(rdr, props, q.Alloc)
		if err != nil {
			f.Close()
			return nil, err
		}
		for fidx, raw := range pf.rawFields {
			sf := &fr.Manifest.Fields[fidx] // this reader's own manifest
			f := *sf.Field
			f.Type = raw
			sf.Field = &f
		}
		pl.f, pl.fr, pl.file = f, fr, sp.file
	}
	rr, err := pl.fr.GetRecordReader(context.Background(), pf.scLeaves, []int{sp.unit})
	if err != nil {
		return nil, err
	}
	return &parquetSplit{src: pl.ps.src, pf: pf, rr: rr, rows: rows}, nil
}

// parquetSplit reads one row group.
type parquetSplit struct {
	src  *ScanSource
	pf   *parquetFile
	rr   pqarrow.RecordReader
	rows int64 // in the row group, from the footer
	read int64
	// scratch of assembleDict and the filters it applied to the last batch
	keep  []byte
	sel   []int32
	appld uint64
}

func (s *parquetSplit) applied() uint64 { return s.appld }

func (s *parquetSplit) next() (arrow.RecordBatch, bool, error) {
	if s.read >= s.rows {
		return nil, true, io.EOF
	}
	if !s.rr.Next() {
		if err := s.rr.Err(); err != nil {
			return nil, true, err
		}
		if s.read < s.rows {
			return nil, true, fmt.Errorf("row group ended after %d of %d rows", s.read, s.rows)
		}
		return nil, true, io.EOF
	}
	raw := s.rr.RecordBatch()
	if raw.NumRows() > s.rows-s.read {
		return nil, true, fmt.Errorf("row group holds more than the %d rows its metadata declares", s.rows)
	}
	s.read += raw.NumRows()
	var b arrow.RecordBatch
	var err error
	b, s.appld, s.keep, s.sel, err = s.src.assembleDict(raw, s.pf.pos, s.pf.unscaled, s.keep, s.sel)
	return b, s.read >= s.rows, err
}

func (s *parquetSplit) close() {
	if s.rr != nil {
		s.rr.Release()
		s.rr = nil
	}
}

// parquetStats aggregates the footers of paths into table statistics.
func parquetStats(paths []string) (*planner.TableStats, error) {
	ts := &planner.TableStats{Columns: map[string]planner.ColumnStat{}}
	type acc struct {
		t      kernels.Type
		st     scColStats
		minMax bool
		files  int // files holding the column
	}
	cols := map[string]*acc{}
	var order []string
	mem := memory.NewGoAllocator()
	distinct := map[string]float64{}
	for fi, path := range paths {
		ft, err := readParquetFooter(path, mem)
		if err != nil {
			return nil, err
		}
		if fi == 0 {
			distinct = parquetDictDistinct(ft, mem)
		}
		ts.Rows += float64(ft.md.NumRows)
		names := ft.fieldNames()
		if fi == 0 {
			for i := range ft.manifest.Fields {
				field := &ft.manifest.Fields[i]
				if t, err := kernels.FromArrow(field.Field.Type); err == nil && field.IsLeaf() {
					cols[names[i]] = &acc{t: t, minMax: true}
					order = append(order, names[i])
				}
			}
		}
		for _, name := range order {
			a := cols[name]
			i := scMatchColumn(names, name)
			if i < 0 || !ft.manifest.Fields[i].IsLeaf() {
				continue
			}
			a.files++
			field := &ft.manifest.Fields[i]
			for rg := 0; rg < ft.md.NumRowGroups(); rg++ {
				st, ok := scSafeStats(ft.md, rg, field.ColIndex, field.Field.Type, a.t)
				if !ok {
					a.minMax = false
					continue
				}
				a.st.nulls += st.nulls
				if st.hasNulls && st.nulls >= st.rows {
					continue // all NULL: no min/max needed
				}
				if !st.hasMinMax {
					a.minMax = false
					continue
				}
				if !a.st.hasMinMax {
					a.st.min, a.st.max, a.st.hasMinMax = st.min, st.max, true
					continue
				}
				if c, ok := scCmpValues(st.min, a.t, a.st.min, a.t); ok && c < 0 {
					a.st.min = st.min
				}
				if c, ok := scCmpValues(st.max, a.t, a.st.max, a.t); ok && c > 0 {
					a.st.max = st.max
				}
			}
		}
	}
	for _, name := range order {
		a := cols[name]
		cs := planner.ColumnStat{NullCount: a.st.nulls, Distinct: distinct[name]}
		if a.minMax && a.st.hasMinMax && a.files == len(paths) {
			cs.Min, cs.Max, cs.HasMinMax = a.st.min, a.st.max, true
		}
		ts.Columns[name] = cs
	}
	return ts, nil
}

// scSafeStats reads one row group's statistics, treating any failure as
// "unknown".
func scSafeStats(md *metadata.FileMetaData, rg, leaf int, ft arrow.DataType, t kernels.Type) (st scColStats, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			st, ok = scColStats{}, false
		}
	}()
	return parquetColumnStats(md.RowGroup(rg), leaf, ft, t)
}

// parquetDictDistinct estimates the distinct count of the low-cardinality
// string columns of a file from the dictionary page of its first row
// group: when every data page of that chunk is dictionary encoded and the
// dictionary holds under a tenth of its rows, its size is the column's
// distinct count (l_returnflag: 3, p_brand: 25). Other columns are left
// out; any failure just leaves the estimate unknown.
func parquetDictDistinct(ft *parquetFooter, mem memory.Allocator) (out map[string]float64) {
	out = map[string]float64{}
	if ft.md.NumRowGroups() == 0 {
		return out
	}
	defer func() {
		if r := recover(); r != nil {
			out = map[string]float64{}
		}
	}()
	pf := &parquetFile{parquetFooter: ft}
	names := ft.fieldNames()
	for i := range ft.manifest.Fields {
		f := &ft.manifest.Fields[i]
		if f.IsLeaf() {
			pf.leafOf = append(pf.leafOf, f.ColIndex)
			pf.types = append(pf.types, f.Field.Type)
		}
	}
	leaves := pf.dictionaryLeaves()
	if len(leaves) == 0 {
		return out
	}
	f, err := os.Open(ft.path)
	if err != nil {
		return out
	}
	defer f.Close()
	rdr, err := file.NewParquetReader(f, file.WithMetadata(ft.md), file.WithReadProps(parquet.NewReaderProperties(mem)))
	if err != nil {
		return out
	}
	rg := rdr.RowGroup(0)
	rows := ft.md.RowGroup(0).NumRows()
	for _, leaf := range leaves {
		pr, err := rg.GetColumnPageReader(leaf)
		if err != nil || !pr.Next() {
			continue
		}
		if dp, ok := pr.Page().(*file.DictionaryPage); ok && int64(dp.NumValues())*10 < rows {
			for i := range ft.manifest.Fields {
				if ft.manifest.Fields[i].ColIndex == leaf {
					out[names[i]] = float64(max(dp.NumValues(), 1))
				}
			}
		}
		pr.Close()
	}
	return out
}
