package exec

import (
	"bufio"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// BatchWriter writes batches of one schema to a file. Nothing is visible at
// the path until Close commits; Abort (or a failed Close) leaves it as it was.
type BatchWriter interface {
	// Write appends b (borrowed).
	Write(b arrow.RecordBatch) error
	// Close flushes, syncs and atomically renames the file into place.
	Close() error
	// Abort discards the file. Safe after Close and more than once.
	Abort()
}

// WriteRowGroupRows is the number of rows per Parquet row group written.
const WriteRowGroupRows = 122880

// NewFileWriter returns a writer of format to path (see
// NewFileWriterOptions; no options).
func NewFileWriter(format planner.FileFormat, path string, schema *arrow.Schema) (BatchWriter, error) {
	return NewFileWriterOptions(format, path, schema, nil)
}

// NewFileWriterOptions returns a writer of format to path, writing to a
// temporary file in the same directory. CSV options: "header", "delim".
func NewFileWriterOptions(format planner.FileFormat, path string, schema *arrow.Schema, options map[string]string) (BatchWriter, error) {
	var csvOpts csvOptions
	if format == planner.FormatCSV {
		var err error
		if csvOpts, err = parseCSVOptions(options); err != nil {
			return nil, err
		}
	} else if format != planner.FormatParquet && format != planner.FormatArrow {
		return nil, fmt.Errorf("unsupported file format %q", format)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, err
	}
	w := &wrFile{path: path, f: f, schema: schema}
	w.buf = bufio.NewWriterSize(f, 1<<20)
	mem := memory.DefaultAllocator
	switch format {
	case planner.FormatParquet:
		props := parquet.NewWriterProperties(
			parquet.WithAllocator(mem),
			parquet.WithCompression(compress.Codecs.Snappy),
			parquet.WithMaxRowGroupLength(WriteRowGroupRows),
			parquet.WithStats(true),
			parquet.WithStoreDecimalAsInteger(true), // int32/int64 for precision <= 18: faster to read
		)
		pw, err := pqarrow.NewFileWriter(schema, w.buf, props, pqarrow.NewArrowWriterProperties(pqarrow.WithStoreSchema(), pqarrow.WithAllocator(mem)))
		if err != nil {
			w.Abort()
			return nil, err
		}
		w.enc = &parquetEncoder{w: pw}
	case planner.FormatArrow:
		iw, err := ipc.NewFileWriter(w.buf, ipc.WithSchema(schema), ipc.WithAllocator(mem))
		if err != nil {
			w.Abort()
			return nil, err
		}
		w.enc = &arrowEncoder{w: iw}
	case planner.FormatCSV:
		ce := &csvEncoder{w: w.buf, schema: schema, delim: csvOpts.delim}
		if csvOpts.header {
			if err := ce.header(); err != nil {
				w.Abort()
				return nil, err
			}
		}
		w.enc = ce
	}
	return w, nil
}

// WriteFile writes the batches (borrowed) to path atomically.
func WriteFile(format planner.FileFormat, path string, schema *arrow.Schema, batches iter.Seq2[arrow.RecordBatch, error]) error {
	w, err := NewFileWriter(format, path, schema)
	if err != nil {
		return err
	}
	for b, err := range batches {
		if err == nil {
			err = w.Write(b)
		}
		if err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

type wrEncoder interface {
	write(b arrow.RecordBatch) error
	close() error
}

type wrFile struct {
	path   string
	schema *arrow.Schema
	f      *os.File
	buf    *bufio.Writer
	enc    wrEncoder
	done   bool
}

func (w *wrFile) Write(b arrow.RecordBatch) (err error) {
	if w.done {
		return errors.New("write to a closed file writer")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("writing %s: %v", w.path, r)
		}
	}()
	if !b.Schema().Equal(w.schema) {
		// same columns under other names or nullability: relabel
		if int(b.NumCols()) != w.schema.NumFields() {
			return fmt.Errorf("writing %s: batch has %d columns, file has %d", w.path, b.NumCols(), w.schema.NumFields())
		}
		for i, f := range w.schema.Fields() {
			if !arrow.TypeEqual(f.Type, b.Column(i).DataType()) {
				return fmt.Errorf("writing %s: column %q has type %s, file has %s", w.path, f.Name, b.Column(i).DataType(), f.Type)
			}
		}
		b = array.NewRecordBatch(w.schema, b.Columns(), b.NumRows())
		defer b.Release()
	}
	if err := w.enc.write(b); err != nil {
		return fmt.Errorf("writing %s: %w", w.path, err)
	}
	return nil
}

func (w *wrFile) Close() error {
	if w.done {
		return errors.New("file writer already closed")
	}
	err := w.enc.close()
	if err == nil {
		err = w.buf.Flush()
	}
	if err == nil {
		err = w.f.Sync()
	}
	tmp := w.f.Name()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	w.done = true
	if err == nil {
		err = os.Rename(tmp, w.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", w.path, err)
	}
	if d, err := os.Open(filepath.Dir(w.path)); err == nil {
		d.Sync() // make the rename durable; best effort
		d.Close()
	}
	return nil
}

func (w *wrFile) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.f.Close()
	os.Remove(w.f.Name())
}

type parquetEncoder struct{ w *pqarrow.FileWriter }

func (e *parquetEncoder) write(b arrow.RecordBatch) error { return e.w.WriteBuffered(b) }
func (e *parquetEncoder) close() error                    { return e.w.Close() }

type arrowEncoder struct{ w *ipc.FileWriter }

func (e *arrowEncoder) write(b arrow.RecordBatch) error { return e.w.Write(b) }
func (e *arrowEncoder) close() error                    { return e.w.Close() }

// csvEncoder writes RFC 4180 CSV: NULL is an empty field, an empty string
// is "", dates YYYY-MM-DD, decimals at their scale.
type csvEncoder struct {
	w      *bufio.Writer
	schema *arrow.Schema
	delim  byte
	line   []byte
}

func (e *csvEncoder) header() error {
	e.line = e.line[:0]
	for i, f := range e.schema.Fields() {
		if i > 0 {
			e.line = append(e.line, e.delim)
		}
		e.line = e.quote(e.line, []byte(f.Name), true)
	}
	e.line = append(e.line, '\r', '\n')
	_, err := e.w.Write(e.line)
	return err
}

// quote appends s, quoted if it holds the delimiter, a quote or a line
// break, or if it is empty and not NULL.
func (e *csvEncoder) quote(out, s []byte, empty bool) []byte {
	need := len(s) == 0 && empty
	for _, c := range s {
		if c == e.delim || c == '"' || c == '\n' || c == '\r' {
			need = true
			break
		}
	}
	if !need {
		return append(out, s...)
	}
	out = append(out, '"')
	for _, c := range s {
		if c == '"' {
			out = append(out, '"')
		}
		out = append(out, c)
	}
	return append(out, '"')
}

func (e *csvEncoder) write(b arrow.RecordBatch) error {
	n := int(b.NumRows())
	cols := make([]func([]byte, int) []byte, b.NumCols())
	for j := range cols {
		f, err := e.formatter(b.Column(j))
		if err != nil {
			return fmt.Errorf("column %q: %w", b.Schema().Field(j).Name, err)
		}
		cols[j] = f
	}
	for i := 0; i < n; i++ {
		line := e.line[:0]
		for j, c := range cols {
			if j > 0 {
				line = append(line, e.delim)
			}
			if !b.Column(j).IsNull(i) {
				line = c(line, i)
			}
		}
		line = append(line, '\r', '\n')
		e.line = line
		if _, err := e.w.Write(line); err != nil {
			return err
		}
	}
	return nil
}

// formatter returns a function appending row i of a (not NULL) as a field.
func (e *csvEncoder) formatter(a arrow.Array) (func([]byte, int) []byte, error) {
	switch a := a.(type) {
	case *array.String:
		return func(out []byte, i int) []byte { return e.quote(out, []byte(a.Value(i)), true) }, nil
	case *array.LargeString:
		return func(out []byte, i int) []byte { return e.quote(out, []byte(a.Value(i)), true) }, nil
	case *array.Binary:
		return func(out []byte, i int) []byte { return e.quote(out, a.Value(i), true) }, nil
	case *array.Int16:
		return func(out []byte, i int) []byte { return strconv.AppendInt(out, int64(a.Value(i)), 10) }, nil
	case *array.Int32:
		return func(out []byte, i int) []byte { return strconv.AppendInt(out, int64(a.Value(i)), 10) }, nil
	case *array.Int64:
		return func(out []byte, i int) []byte { return strconv.AppendInt(out, a.Value(i), 10) }, nil
	case *array.Float64:
		return func(out []byte, i int) []byte { return append(out, kernels.FormatFloat(a.Value(i), 64)...) }, nil
	case *array.Float32:
		return func(out []byte, i int) []byte { return append(out, kernels.FormatFloat(float64(a.Value(i)), 32)...) }, nil
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return func(out []byte, i int) []byte { return append(out, a.Value(i).ToString(scale)...) }, nil
	case *array.Date32:
		return func(out []byte, i int) []byte { return wrAppendDate(out, int32(a.Value(i))) }, nil
	case *array.Boolean:
		return func(out []byte, i int) []byte { return strconv.AppendBool(out, a.Value(i)) }, nil
	}
	t, err := kernels.FromArrow(a.DataType())
	if err != nil || kernels.NeedsConversion(a.DataType()) {
		return nil, fmt.Errorf("cannot write type %s as CSV", a.DataType())
	}
	return func(out []byte, i int) []byte {
		return e.quote(out, []byte(kernels.ValueAt(a, t, i).Format(t)), true)
	}, nil
}

// wrAppendDate appends days since 1970-01-01 as YYYY-MM-DD (years 0-9999;
// others through kernels.FormatDate).
func wrAppendDate(out []byte, days int32) []byte {
	y, m, d := wrCivilFromDays(int(days))
	if y < 0 || y > 9999 {
		return append(out, kernels.FormatDate(days)...)
	}
	return append(out, byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-', byte('0'+d/10), byte('0'+d%10))
}

// wrCivilFromDays is the inverse of scDaysFromCivil.
func wrCivilFromDays(z int) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era = (z - 146096) / 146097
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	if m <= 2 {
		y++
	}
	return
}

func (e *csvEncoder) close() error { return nil }
