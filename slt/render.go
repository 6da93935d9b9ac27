package slt

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/bellows-db/bellows/kernels"
)

// RenderValue renders row i of arr the way the reference runner prints a
// value of column type typ ('I', 'R' or 'T'; other letters act as 'T').
func RenderValue(arr arrow.Array, i int, typ byte) string {
	if d, ok := arr.(*array.Dictionary); ok {
		if d.IsNull(i) {
			return "NULL"
		}
		return RenderValue(d.Dictionary(), d.GetValueIndex(i), typ)
	}
	if arr.IsNull(i) {
		return "NULL"
	}
	t, err := kernels.FromArrow(arr.DataType())
	if err != nil {
		return printable(arr.ValueStr(i), typ)
	}
	v := kernels.ValueAt(arr, t, i)
	if v.Null {
		return "NULL"
	}
	// A copy: string values alias the batch's buffers, which a recycling
	// allocator reuses once the batch is released.
	return strings.Clone(renderValue(v, t, typ))
}

func renderValue(v kernels.Value, t kernels.Type, typ byte) string {
	switch typ {
	case 'I':
		switch {
		case t.ID == kernels.Bool || t.IsInteger():
			return strconv.FormatInt(v.I, 10)
		case t.IsFloat():
			return truncFloat(v.F)
		case t.ID == kernels.Decimal:
			return truncDecimal(v.Dec.ToString(t.Scale))
		case t.ID == kernels.String:
			return truncFloat(numericPrefix(v.S))
		}
	case 'R':
		switch {
		case t.ID == kernels.Bool || t.IsInteger():
			return formatReal(float64(v.I))
		case t.IsFloat():
			return formatReal(v.F)
		case t.ID == kernels.Decimal:
			f, _ := strconv.ParseFloat(v.Dec.ToString(t.Scale), 64)
			return formatReal(f)
		case t.ID == kernels.String:
			return formatReal(numericPrefix(v.S))
		}
	}
	return printable(v.Format(t), typ)
}

// printable applies the text rules: "(empty)" for an empty string, '@' for
// every byte outside printable ASCII.
func printable(s string, typ byte) string {
	if s == "" {
		if typ == 'I' {
			return "0"
		}
		if typ == 'R' {
			return "0.000"
		}
		return "(empty)"
	}
	var b []byte
	for k := 0; k < len(s); k++ {
		if c := s[k]; c < ' ' || c > '~' {
			if b == nil {
				b = []byte(s)
			}
			b[k] = '@'
		}
	}
	if b != nil {
		return string(b)
	}
	return s
}

// truncFloat prints the integer part of f (truncated toward zero).
func truncFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "0"
	case math.IsInf(f, 1) || f >= math.MaxInt64:
		return strconv.FormatInt(math.MaxInt64, 10)
	case math.IsInf(f, -1) || f <= math.MinInt64:
		return strconv.FormatInt(math.MinInt64, 10)
	}
	return strconv.FormatInt(int64(f), 10)
}

// truncDecimal drops the fraction of a decimal string.
func truncDecimal(s string) string {
	if j := strings.IndexByte(s, '.'); j >= 0 {
		s = s[:j]
	}
	if s == "-0" || s == "" || s == "-" {
		return "0"
	}
	return s
}

// formatReal is C's "%.3f".
func formatReal(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	return strconv.FormatFloat(f, 'f', 3, 64)
}

// numericPrefix reads the leading number of s as SQLite does when a text
// value is read as a number ("12abc" is 12, "abc" is 0).
func numericPrefix(s string) float64 {
	s = strings.TrimSpace(s)
	end := 0
	seenDigit, seenDot, seenExp := false, false, false
	for end < len(s) {
		c := s[end]
		switch {
		case c >= '0' && c <= '9':
			seenDigit = true
		case (c == '+' || c == '-') && (end == 0 || s[end-1] == 'e' || s[end-1] == 'E'):
		case c == '.' && !seenDot && !seenExp:
			seenDot = true
		case (c == 'e' || c == 'E') && seenDigit && !seenExp:
			seenExp = true
		default:
			goto done
		}
		end++
	}
done:
	for end > 0 {
		if f, err := strconv.ParseFloat(s[:end], 64); err == nil {
			return f
		}
		end--
	}
	return 0
}

// ReadResult renders every value of a result, row after row, with the
// column types in types (one letter per column). It consumes and releases
// nothing: the caller owns rr.
func ReadResult(rr array.RecordReader, types string) (values []string, ncols int, err error) {
	ncols = rr.Schema().NumFields()
	for rr.Next() {
		rec := rr.RecordBatch()
		if rec == nil {
			continue
		}
		if int(rec.NumCols()) != ncols {
			return nil, ncols, fmt.Errorf("batch has %d columns, schema %d", rec.NumCols(), ncols)
		}
		for i := 0; i < int(rec.NumRows()); i++ {
			for c := 0; c < ncols; c++ {
				typ := byte('T')
				if c < len(types) {
					typ = types[c]
				}
				values = append(values, RenderValue(rec.Column(c), i, typ))
			}
		}
	}
	return values, ncols, rr.Err()
}

// SortValues sorts values in place for mode: whole rows of ncols values
// compared column by column (rowsort), or every value (valuesort).
func SortValues(values []string, ncols int, mode SortMode) {
	switch mode {
	case ValueSort:
		sort.Strings(values)
	case RowSort:
		if ncols <= 0 || len(values)%ncols != 0 {
			sort.Strings(values)
			return
		}
		n := len(values) / ncols
		rows := make([][]string, n)
		for i := range rows {
			rows[i] = values[i*ncols : (i+1)*ncols : (i+1)*ncols]
		}
		sort.SliceStable(rows, func(a, b int) bool {
			for c := 0; c < ncols; c++ {
				if x, y := rows[a][c], rows[b][c]; x != y {
					return x < y
				}
			}
			return false
		})
		out := make([]string, 0, len(values))
		for _, r := range rows {
			out = append(out, r...)
		}
		copy(values, out)
	}
}

// Hash returns "N values hashing to MD5": MD5 over every value followed by
// a newline, in lowercase hex.
func Hash(values []string) string {
	h := md5.New()
	for _, v := range values {
		h.Write([]byte(v))
		h.Write([]byte("\n"))
	}
	return fmt.Sprintf("%d values hashing to %s", len(values), hex.EncodeToString(h.Sum(nil)))
}
