package exec

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/bellows-db/bellows/kernels"
)

// csvOptions are the CSV settings of a scan or writer: options "header"
// (default true) and "delim" (one character; "\t" or "tab" for a tab).
type csvOptions struct {
	header bool
	delim  byte
}

func parseCSVOptions(opts map[string]string) (csvOptions, error) {
	o := csvOptions{header: true, delim: ','}
	for k, v := range opts {
		switch strings.ToLower(k) {
		case "header":
			switch strings.ToLower(strings.TrimSpace(v)) {
			case "true", "t", "1", "yes", "on", "":
				o.header = true
			case "false", "f", "0", "no", "off":
				o.header = false
			default:
				return o, fmt.Errorf("invalid value %q for CSV option header", v)
			}
		case "delim", "delimiter", "sep":
			switch v {
			case `\t`, "tab", "\t":
				o.delim = '\t'
			default:
				if len(v) != 1 || v[0] == '"' || v[0] == '\n' || v[0] == '\r' || v[0] >= 0x80 {
					return o, fmt.Errorf("invalid CSV delimiter %q: must be one ASCII character other than a quote or newline", v)
				}
				o.delim = v[0]
			}
		}
	}
	return o, nil
}

// maxCSVRecord bounds one record's size, so a file without line breaks
// cannot exhaust memory.
const maxCSVRecord = 256 << 20

var scBOM = []byte{0xEF, 0xBB, 0xBF}

// csvReader splits RFC 4180 text into records. It tells a quoted empty field
// ("" = empty string) from an unquoted one (NULL).
type csvReader struct {
	r         *bufio.Reader
	delim     byte
	skipEmpty bool  // skip empty lines (true unless the file has one column)
	line      int64 // line where the current record starts (1-based)
	nline     int64
	buf       []byte
	ends      []int
	quoted    []bool
	long      []byte
	started   bool
}

func newCSVReader(r io.Reader, delim byte) *csvReader {
	return &csvReader{r: bufio.NewReaderSize(r, 1<<20), delim: delim, skipEmpty: true}
}

func (c *csvReader) readLine() ([]byte, error) {
	line, err := c.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		c.long = append(c.long[:0], line...)
		for err == bufio.ErrBufferFull {
			if len(c.long) > maxCSVRecord {
				return nil, fmt.Errorf("line %d is longer than %d bytes", c.nline+1, maxCSVRecord)
			}
			line, err = c.r.ReadSlice('\n')
			c.long = append(c.long, line...)
		}
		line = c.long
	}
	if err != nil && err != io.EOF {
		return nil, err
	}
	if len(line) == 0 && err == io.EOF {
		return nil, io.EOF
	}
	c.nline++
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if !c.started {
		c.started = true
		line = bytes.TrimPrefix(line, scBOM)
	}
	return line, nil
}

// next reads one record; false at the end of the input.
func (c *csvReader) next() (bool, error) {
	for {
		line, err := c.readLine()
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		c.line = c.nline
		if len(line) == 0 && c.skipEmpty {
			continue
		}
		return true, c.parse(line)
	}
}

func (c *csvReader) parse(line []byte) error {
	c.buf, c.ends, c.quoted = c.buf[:0], c.ends[:0], c.quoted[:0]
	pos := 0
	for {
		if pos < len(line) && line[pos] == '"' {
			pos++
			for {
				i := bytes.IndexByte(line[pos:], '"')
				if i < 0 {
					c.buf = append(c.buf, line[pos:]...)
					c.buf = append(c.buf, '\n')
					if len(c.buf) > maxCSVRecord {
						return fmt.Errorf("record is longer than %d bytes", maxCSVRecord)
					}
					next, err := c.readLine()
					if err == io.EOF {
						return errors.New("unterminated quoted field at end of file")
					}
					if err != nil {
						return err
					}
					line, pos = next, 0
					continue
				}
				c.buf = append(c.buf, line[pos:pos+i]...)
				pos += i + 1
				if pos < len(line) && line[pos] == '"' {
					c.buf = append(c.buf, '"')
					pos++
					continue
				}
				break
			}
			c.ends = append(c.ends, len(c.buf))
			c.quoted = append(c.quoted, true)
			if pos == len(line) {
				return nil
			}
			if line[pos] != c.delim {
				return fmt.Errorf("unexpected character %q after a closing quote", line[pos])
			}
			pos++
			continue
		}
		i := bytes.IndexByte(line[pos:], c.delim)
		if i < 0 {
			c.buf = append(c.buf, line[pos:]...)
			c.ends = append(c.ends, len(c.buf))
			c.quoted = append(c.quoted, false)
			return nil
		}
		c.buf = append(c.buf, line[pos:pos+i]...)
		c.ends = append(c.ends, len(c.buf))
		c.quoted = append(c.quoted, false)
		pos += i + 1
	}
}

// field returns field i of the current record.
func (c *csvReader) field(i int) []byte {
	start := 0
	if i > 0 {
		start = c.ends[i-1]
	}
	return c.buf[start:c.ends[i]]
}

// csvHeader reads the first record of path: the column names (with a
// header) or column0..N-1.
func csvHeader(path string, o csvOptions) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, scFileErr(path, -1, err)
	}
	defer f.Close()
	r := newCSVReader(f, o.delim)
	ok, err := r.next()
	if err != nil {
		return nil, &FileError{Path: path, RowGroup: -1, Line: r.line, Err: err}
	}
	if !ok {
		return nil, nil
	}
	names := make([]string, len(r.ends))
	for i := range names {
		if o.header {
			names[i] = strings.TrimSpace(string(r.field(i)))
		}
		if names[i] == "" {
			names[i] = "column" + strconv.Itoa(i)
		}
	}
	return names, nil
}

type csvFile struct {
	path   string
	ncols  int
	fields []int // output column -> field index
}

type csvScan struct {
	src   *ScanSource
	opts  csvOptions
	files []*csvFile
}

func newCSVScan(src *ScanSource) (*csvScan, error) {
	o, err := parseCSVOptions(src.scan.Options)
	if err != nil {
		return nil, err
	}
	cs := &csvScan{src: src, opts: o}
	for i, path := range src.scan.Paths {
		names, err := csvHeader(path, o)
		if err != nil {
			return nil, err
		}
		cf := &csvFile{path: path, ncols: len(names)}
		if names != nil {
			for _, name := range src.scan.FileCols {
				j := scMatchColumn(names, name)
				if j < 0 {
					return nil, scErrNoColumn(path, name)
				}
				cf.fields = append(cf.fields, j)
			}
		}
		cs.files = append(cs.files, cf)
		if names != nil {
			src.splits = append(src.splits, scanSplit{file: i, unit: -1})
		}
	}
	return cs, nil
}

func (cs *csvScan) where(sp scanSplit) (string, int) {
	if sp.file < 0 || sp.file >= len(cs.files) {
		return "?", -1
	}
	return cs.files[sp.file].path, -1
}

func (cs *csvScan) close() {}

func (cs *csvScan) local() scanFormatLocal { return csvLocal{cs} }

// csvLocal opens splits; a CSV split is a whole file.
type csvLocal struct{ cs *csvScan }

func (l csvLocal) close() {}

func (l csvLocal) open(sp scanSplit) (scanSplitReader, error) {
	cs := l.cs
	cf := cs.files[sp.file]
	f, err := os.Open(cf.path)
	if err != nil {
		return nil, err
	}
	r := newCSVReader(f, cs.opts.delim)
	r.skipEmpty = cf.ncols != 1
	if cs.opts.header {
		if _, err := r.next(); err != nil {
			f.Close()
			return nil, &FileError{Path: cf.path, RowGroup: -1, Line: r.line, Err: err}
		}
	}
	s := &csvSplit{cs: cs, cf: cf, f: f, r: r}
	for i, fi := range cf.fields {
		col, err := newCSVColumn(cs.src.q, cs.src.scan.FileCols[i], fi, cs.src.scan.Cols[i].Type)
		if err != nil {
			s.close()
			return nil, err
		}
		s.cols = append(s.cols, col)
	}
	return s, nil
}

type csvSplit struct {
	cs   *csvScan
	cf   *csvFile
	f    *os.File
	r    *csvReader
	cols []*csvColumn
	done bool
}

func (s *csvSplit) close() {
	for _, c := range s.cols {
		c.b.Release()
	}
	s.cols = nil
	if s.f != nil {
		s.f.Close()
		s.f = nil
	}
}

func (s *csvSplit) next() (arrow.RecordBatch, bool, error) {
	if s.done {
		return nil, true, io.EOF
	}
	q := s.cs.src.q
	rows := 0
	for rows < q.BatchSize {
		ok, err := s.r.next()
		if err != nil {
			return nil, true, &FileError{Path: s.cf.path, RowGroup: -1, Line: s.r.line, Err: err}
		}
		if !ok {
			s.done = true
			break
		}
		if len(s.r.ends) != s.cf.ncols {
			return nil, true, &FileError{Path: s.cf.path, RowGroup: -1, Line: s.r.line,
				Err: fmt.Errorf("expected %d fields, found %d", s.cf.ncols, len(s.r.ends))}
		}
		for _, c := range s.cols {
			if err := c.app(s.r.field(c.field), s.r.quoted[c.field]); err != nil {
				return nil, true, &FileError{Path: s.cf.path, RowGroup: -1, Line: s.r.line, Column: c.name, Err: err}
			}
		}
		rows++
	}
	if rows == 0 {
		return nil, true, io.EOF
	}
	arrs := make([]arrow.Array, len(s.cols))
	for i, c := range s.cols {
		a := c.b.NewArray()
		if c.post != c.t {
			conv, err := kernels.Cast(q.KernelContext(), a, c.post, c.t)
			a.Release()
			if err != nil {
				releaseAll(arrs[:i])
				return nil, true, &FileError{Path: s.cf.path, RowGroup: -1, Column: c.name, Err: err}
			}
			a = conv
		}
		arrs[i] = a
	}
	b := array.NewRecordBatch(s.cs.src.schema, arrs, int64(rows))
	releaseAll(arrs)
	return b, s.done, nil
}

// csvColumn parses one field of every record into a builder.
type csvColumn struct {
	name  string
	field int
	t     kernels.Type // output type
	post  kernels.Type // builder type; cast to t after (String for types parsed by kernels.Cast)
	b     array.Builder
	app   func(f []byte, quoted bool) error
}

// scUnsafeString views b as a string for parsing calls that do not keep it.
func scUnsafeString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func scSyntaxErr(t kernels.Type, f []byte) error {
	return fmt.Errorf("invalid input syntax for type %s: %q", t, string(f))
}

func newCSVColumn(q *QueryContext, name string, field int, t kernels.Type) (*csvColumn, error) {
	c := &csvColumn{name: name, field: field, t: t, post: t}
	switch t.ID {
	case kernels.Null, kernels.Interval:
		c.post = kernels.TString
	}
	c.b = array.NewBuilder(q.Alloc, c.post.Arrow())
	c.b.Reserve(q.BatchSize)
	isNull := func(f []byte, quoted bool) bool { return len(f) == 0 && !quoted }
	switch t.ID {
	case kernels.String, kernels.Null, kernels.Interval:
		sb := c.b.(*array.StringBuilder)
		c.app = func(f []byte, quoted bool) error {
			if isNull(f, quoted) {
				sb.AppendNull()
			} else {
				sb.BinaryBuilder.Append(f)
			}
			return nil
		}
		return c, nil
	}
	// Other types: surrounding blanks are ignored, and an empty field (quoted
	// or not) is NULL.
	trimmed := func(f []byte) []byte { return bytes.Trim(f, " \t") }
	switch t.ID {
	case kernels.Bool:
		bb := c.b.(*array.BooleanBuilder)
		c.app = func(f []byte, _ bool) error {
			f = trimmed(f)
			if len(f) == 0 {
				bb.AppendNull()
				return nil
			}
			switch strings.ToLower(scUnsafeString(f)) {
			case "t", "true", "1", "yes", "y", "on":
				bb.Append(true)
			case "f", "false", "0", "no", "n", "off":
				bb.Append(false)
			default:
				return scSyntaxErr(t, f)
			}
			return nil
		}
	case kernels.Int16, kernels.Int32, kernels.Int64:
		lo, hi := scIntRange(t)
		var put func(int64)
		switch bb := c.b.(type) {
		case *array.Int16Builder:
			put = func(v int64) { bb.Append(int16(v)) }
		case *array.Int32Builder:
			put = func(v int64) { bb.Append(int32(v)) }
		case *array.Int64Builder:
			put = bb.Append
		}
		b := c.b
		c.app = func(f []byte, _ bool) error {
			f = trimmed(f)
			if len(f) == 0 {
				b.AppendNull()
				return nil
			}
			v, ok := scParseInt(f)
			if !ok {
				return scSyntaxErr(t, f)
			}
			if v < lo || v > hi {
				return fmt.Errorf("value %q is out of range for type %s", string(f), t)
			}
			put(v)
			return nil
		}
	case kernels.Float32, kernels.Float64:
		bits := 64
		var put func(float64)
		switch bb := c.b.(type) {
		case *array.Float32Builder:
			bits = 32
			put = func(v float64) { bb.Append(float32(v)) }
		case *array.Float64Builder:
			put = bb.Append
		}
		b := c.b
		c.app = func(f []byte, _ bool) error {
			f = trimmed(f)
			if len(f) == 0 {
				b.AppendNull()
				return nil
			}
			v, err := strconv.ParseFloat(scUnsafeString(f), bits)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return scSyntaxErr(t, f)
			}
			put(v)
			return nil
		}
	case kernels.Decimal:
		bb := c.b.(*array.Decimal128Builder)
		c.app = func(f []byte, _ bool) error {
			f = trimmed(f)
			if len(f) == 0 {
				bb.AppendNull()
				return nil
			}
			v, err := scParseDecimal(f, t.Precision, t.Scale)
			if err != nil {
				return err
			}
			bb.Append(v)
			return nil
		}
	case kernels.Date:
		bb := c.b.(*array.Date32Builder)
		c.app = func(f []byte, _ bool) error {
			f = trimmed(f)
			if len(f) == 0 {
				bb.AppendNull()
				return nil
			}
			d, ok := scParseDate(f)
			if !ok {
				v, err := kernels.ParseDate(string(f))
				if err != nil {
					return err
				}
				d = v
			}
			bb.Append(arrow.Date32(d))
			return nil
		}
	case kernels.Timestamp:
		bb := c.b.(*array.TimestampBuilder)
		c.app = func(f []byte, _ bool) error {
			f = trimmed(f)
			if len(f) == 0 {
				bb.AppendNull()
				return nil
			}
			v, err := kernels.ParseTimestamp(string(f))
			if err != nil {
				return err
			}
			bb.Append(arrow.Timestamp(v))
			return nil
		}
	default:
		c.b.Release()
		return nil, fmt.Errorf("cannot read CSV column %q as %s", name, t)
	}
	return c, nil
}

// scParseInt parses an optionally signed decimal integer.
func scParseInt(f []byte) (int64, bool) {
	neg := false
	i := 0
	if len(f) > 0 && (f[0] == '-' || f[0] == '+') {
		neg = f[0] == '-'
		i = 1
	}
	if i == len(f) {
		return 0, false
	}
	var u uint64
	for ; i < len(f); i++ {
		d := f[i] - '0'
		if d > 9 {
			return 0, false
		}
		if u > (math.MaxUint64-9)/10 {
			return 0, false
		}
		u = u*10 + uint64(d)
	}
	if neg {
		if u > 1<<63 {
			return 0, false
		}
		return -int64(u), true
	}
	if u > math.MaxInt64 {
		return 0, false
	}
	return int64(u), true
}

var scTen = decimal128.FromU64(10)

// scParseDecimal parses [+-]digits[.digits][e[+-]digits] into an
// unscaled decimal of scale s, rounding half away from zero, and checks
// precision p.
func scParseDecimal(f []byte, p, s int32) (decimal128.Num, error) {
	t := kernels.DecimalType(p, s)
	bad := func() (decimal128.Num, error) { return decimal128.Num{}, scSyntaxErr(t, f) }
	i := 0
	neg := false
	if i < len(f) && (f[i] == '-' || f[i] == '+') {
		neg = f[i] == '-'
		i++
	}
	var n decimal128.Num
	digits, frac := 0, int32(0)
	dot := false
	roundUp := false
	overflow := false
	for ; i < len(f); i++ {
		ch := f[i]
		if ch == '.' && !dot {
			dot = true
			continue
		}
		if ch == 'e' || ch == 'E' {
			break
		}
		d := ch - '0'
		if d > 9 {
			return bad()
		}
		digits++
		if dot {
			if frac >= s {
				if frac == s && d >= 5 {
					roundUp = true
				}
				frac++
				continue
			}
			frac++
		}
		if !n.FitsInPrecision(37) {
			overflow = true
			continue
		}
		n = n.Mul(scTen).Add(decimal128.FromU64(uint64(d)))
	}
	if digits == 0 {
		return bad()
	}
	if i < len(f) { // exponent: use the general parser
		v, err := decimal128.FromString(string(f), max(p, 1), s)
		if err != nil {
			return bad()
		}
		if !v.FitsInPrecision(max(p, 1)) {
			return decimal128.Num{}, fmt.Errorf("value %q overflows %s", string(f), t)
		}
		return v, nil
	}
	if overflow {
		return decimal128.Num{}, fmt.Errorf("value %q overflows %s", string(f), t)
	}
	if frac < s {
		n = n.IncreaseScaleBy(s - frac)
	}
	if roundUp {
		n = n.Add(decimal128.FromU64(1))
	}
	if neg {
		n = n.Negate()
	}
	if p > 0 && p <= 38 && !n.FitsInPrecision(p) {
		return decimal128.Num{}, fmt.Errorf("value %q overflows %s", string(f), t)
	}
	return n, nil
}

// scParseDate parses YYYY-MM-DD into days since 1970-01-01.
func scParseDate(f []byte) (int32, bool) {
	if len(f) != 10 || f[4] != '-' || f[7] != '-' {
		return 0, false
	}
	num := func(b []byte) (int, bool) {
		v := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	y, ok1 := num(f[0:4])
	m, ok2 := num(f[5:7])
	d, ok3 := num(f[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 || d < 1 || d > scDaysIn(y, m) {
		return 0, false
	}
	return int32(scDaysFromCivil(y, m, d)), true
}

func scDaysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// scDaysFromCivil converts a proleptic Gregorian date to days since
// 1970-01-01 (H. Hinnant's algorithm).
func scDaysFromCivil(y, m, d int) int {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era = (y - 399) / 400
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// csvRowCount counts the records of a CSV file cheaply (line breaks; quoted
// line breaks make it an estimate). Files over csvCountLimit give -1.
func csvRowCount(path string, o csvOptions) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, scFileErr(path, -1, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, scFileErr(path, -1, err)
	}
	if st.Size() > csvCountLimit {
		return -1, nil
	}
	buf := make([]byte, 1<<20)
	lines := int64(0)
	var last byte = '\n'
	for {
		n, err := f.Read(buf)
		if n > 0 {
			lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
			last = buf[n-1]
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, scFileErr(path, -1, err)
		}
	}
	if last != '\n' {
		lines++
	}
	if o.header && lines > 0 {
		lines--
	}
	return float64(lines), nil
}

// csvCountLimit is the largest file whose rows ReadStats counts.
const csvCountLimit = 64 << 20

// inferCSV infers column names and types from the first scInferRows records.
func inferCSV(path string, o csvOptions) ([]string, []kernels.Type, error) {
	names, err := csvHeader(path, o)
	if err != nil {
		return nil, nil, err
	}
	if names == nil {
		return nil, nil, &FileError{Path: path, RowGroup: -1, Err: errors.New("the file is empty")}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, scFileErr(path, -1, err)
	}
	defer f.Close()
	r := newCSVReader(f, o.delim)
	r.skipEmpty = len(names) != 1
	if o.header {
		if _, err := r.next(); err != nil {
			return nil, nil, &FileError{Path: path, RowGroup: -1, Line: r.line, Err: err}
		}
	}
	const (
		isInt = 1 << iota
		isFloat
		isDate
	)
	kinds := make([]int, len(names))
	seen := make([]bool, len(names))
	for i := range kinds {
		kinds[i] = isInt | isFloat | isDate
	}
	for rows := 0; rows < scInferRows; rows++ {
		ok, err := r.next()
		if err != nil {
			return nil, nil, &FileError{Path: path, RowGroup: -1, Line: r.line, Err: err}
		}
		if !ok {
			break
		}
		if len(r.ends) != len(names) {
			return nil, nil, &FileError{Path: path, RowGroup: -1, Line: r.line,
				Err: fmt.Errorf("expected %d fields, found %d", len(names), len(r.ends))}
		}
		for i := range names {
			f := bytes.Trim(r.field(i), " \t")
			if len(f) == 0 {
				continue
			}
			seen[i] = true
			k := kinds[i]
			if k&isInt != 0 {
				if _, ok := scParseInt(f); !ok {
					k &^= isInt
				}
			}
			if k&isFloat != 0 && !scDecimalLooking(f) {
				k &^= isFloat
			}
			if k&isDate != 0 {
				if _, ok := scParseDate(f); !ok {
					k &^= isDate
				}
			}
			kinds[i] = k
		}
	}
	types := make([]kernels.Type, len(names))
	for i, k := range kinds {
		switch {
		case !seen[i]:
			types[i] = kernels.TString
		case k&isInt != 0:
			types[i] = kernels.TInt64
		case k&isFloat != 0:
			types[i] = kernels.TFloat64
		case k&isDate != 0:
			types[i] = kernels.TDate
		default:
			types[i] = kernels.TString
		}
	}
	return names, types, nil
}

// scInferRows is how many records InferSchema looks at.
const scInferRows = 1000

// scDecimalLooking matches [+-]digits[.digits][e[+-]digits] (at least one digit).
func scDecimalLooking(f []byte) bool {
	i := 0
	if i < len(f) && (f[i] == '+' || f[i] == '-') {
		i++
	}
	digits := 0
	for ; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
		digits++
	}
	if i < len(f) && f[i] == '.' {
		i++
		for ; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
			digits++
		}
	}
	if digits == 0 {
		return false
	}
	if i < len(f) && (f[i] == 'e' || f[i] == 'E') {
		i++
		if i < len(f) && (f[i] == '+' || f[i] == '-') {
			i++
		}
		e := 0
		for ; i < len(f) && f[i] >= '0' && f[i] <= '9'; i++ {
			e++
		}
		if e == 0 {
			return false
		}
	}
	return i == len(f)
}
