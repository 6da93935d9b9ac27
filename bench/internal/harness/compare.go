// Package harness holds the engine-independent parts of the Bellows
// benchmark/conformance harness: parsing Bellows' CSV output, running the
// same SQL on DuckDB, comparing the two results value by value, and
// locating/generating TPC-H data.
package harness

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// Tolerances for numeric comparison: two numbers are equal when they differ
// by at most AbsTol, or by at most RelTol times the larger magnitude.
const (
	RelTol = 1e-6
	AbsTol = 0.01
)

// CSVResult is a result as printed by `bellows sql --format csv`.
type CSVResult struct {
	Header []string
	Rows   [][]string
}

// ParseCSV parses RFC 4180 CSV with a header row. Unlike encoding/csv it
// does not skip empty lines: every line terminator ends a record, so an
// empty line is a record with one empty field (which is how a single-column
// row holding NULL or ” is written, e.g. by encoding/csv's Writer). Both
// CRLF and LF terminators are accepted, and the last record may lack one.
func ParseCSV(data []byte) (*CSVResult, error) {
	recs, err := parseCSVRecords(data)
	if err != nil {
		return nil, fmt.Errorf("parse bellows CSV: %w", err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("parse bellows CSV: no header row (empty output)")
	}
	for i, r := range recs {
		if len(r) != len(recs[0]) {
			return nil, fmt.Errorf("parse bellows CSV: record %d has %d fields, header has %d: %q", i, len(r), len(recs[0]), r)
		}
	}
	return &CSVResult{Header: recs[0], Rows: recs[1:]}, nil
}

func parseCSVRecords(data []byte) ([][]string, error) {
	var recs [][]string
	var rec []string
	var field strings.Builder
	line := 1
	i, n := 0, len(data)
	for i < n {
		// Start of a field.
		field.Reset()
		if data[i] == '"' {
			startLine := line
			i++
			for {
				if i >= n {
					return nil, fmt.Errorf("line %d: unterminated quoted field", startLine)
				}
				c := data[i]
				if c == '"' {
					if i+1 < n && data[i+1] == '"' {
						field.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				if c == '\n' {
					line++
				}
				field.WriteByte(c)
				i++
			}
			if i < n && data[i] != ',' && data[i] != '\n' && !(data[i] == '\r' && i+1 < n && data[i+1] == '\n') && data[i] != '\r' {
				return nil, fmt.Errorf("line %d: unexpected %q after closing quote", line, data[i])
			}
		} else {
			for i < n && data[i] != ',' && data[i] != '\n' && data[i] != '\r' {
				if data[i] == '"' {
					return nil, fmt.Errorf("line %d: bare quote in unquoted field", line)
				}
				field.WriteByte(data[i])
				i++
			}
		}
		rec = append(rec, field.String())
		// End of field: comma, line end or EOF.
		if i >= n {
			recs = append(recs, rec)
			rec = nil
			break
		}
		switch data[i] {
		case ',':
			i++
			if i >= n { // trailing comma at EOF: one more empty field
				rec = append(rec, "")
				recs = append(recs, rec)
				rec = nil
			}
		case '\r':
			i++
			if i < n && data[i] == '\n' {
				i++
			}
			recs = append(recs, rec)
			rec = nil
			line++
		case '\n':
			i++
			recs = append(recs, rec)
			rec = nil
			line++
		}
	}
	return recs, nil
}

// Result is a result read from DuckDB through database/sql.
type Result struct {
	Columns []string
	Types   []string // DuckDB type names, e.g. "DATE", "DECIMAL(15,2)", "VARCHAR"
	Rows    [][]any
}

// CompareValue reports whether the Bellows CSV field got equals the DuckDB
// value want. dbType is DuckDB's type name for the column ("" if unknown).
// NULL (nil) matches only the empty field. Strings must be equal exactly;
// numbers (integers, floats, decimals, big integers) are parsed as float64
// on both sides and compared with RelTol/AbsTol; DATE values must be
// printed as YYYY-MM-DD.
func CompareValue(got string, want any, dbType string) bool {
	switch w := want.(type) {
	case nil:
		return got == ""
	case string:
		return got == w
	case []byte:
		return got == string(w)
	case bool:
		b, err := strconv.ParseBool(got)
		return err == nil && b == w
	case time.Time:
		return compareTime(got, w, dbType)
	case duckdb.Interval:
		return got == FormatValue(w, dbType)
	case duckdb.UUID:
		return strings.EqualFold(got, FormatValue(w, dbType))
	case *duckdb.UUID:
		return w != nil && strings.EqualFold(got, FormatValue(*w, dbType))
	}
	f, ok := toFloat(want)
	if !ok {
		// Unknown type (lists, structs, ...): compare printed forms.
		return got == FormatValue(want, dbType)
	}
	g, err := strconv.ParseFloat(strings.TrimSpace(got), 64)
	if err != nil || strings.TrimSpace(got) == "" {
		return false
	}
	return FloatsClose(g, f)
}

// FloatsClose reports whether a and b are equal within RelTol or AbsTol.
func FloatsClose(a, b float64) bool {
	if math.IsNaN(a) || math.IsNaN(b) {
		return math.IsNaN(a) && math.IsNaN(b)
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return a == b
	}
	d := math.Abs(a - b)
	if d <= AbsTol {
		return true
	}
	return d <= RelTol*math.Max(math.Abs(a), math.Abs(b))
}

func isNumber(v any) bool {
	_, ok := toFloat(v)
	return ok
}

// toFloat converts every numeric type DuckDB's driver returns to float64.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int8:
		return float64(x), true
	case int16:
		return float64(x), true
	case int32:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint8:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float32:
		return float64(x), true
	case float64:
		return x, true
	case duckdb.Decimal:
		if x.Value == nil {
			return 0, true
		}
		return x.Float64(), true
	case *duckdb.Decimal:
		if x == nil {
			return 0, false
		}
		return toFloat(*x)
	case *big.Int:
		if x == nil {
			return 0, false
		}
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, true
	case big.Int:
		return toFloat(&x)
	case *big.Float:
		if x == nil {
			return 0, false
		}
		f, _ := x.Float64()
		return f, true
	case *big.Rat:
		if x == nil {
			return 0, false
		}
		f, _ := x.Float64()
		return f, true
	}
	return 0, false
}

var timestampLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999Z07",
	"2006-01-02",
}

func compareTime(got string, w time.Time, dbType string) bool {
	switch strings.ToUpper(dbType) {
	case "DATE":
		return got == w.Format("2006-01-02")
	case "TIME":
		t, err := time.Parse("15:04:05.999999999", got)
		return err == nil && t.Hour() == w.Hour() && t.Minute() == w.Minute() &&
			t.Second() == w.Second() && t.Nanosecond() == w.Nanosecond()
	}
	if dbType == "" && isMidnightUTC(w) {
		// Unknown column type: a DuckDB DATE comes back as UTC midnight.
		if got == w.Format("2006-01-02") {
			return true
		}
	}
	for _, layout := range timestampLayouts {
		t, err := time.Parse(layout, got)
		if err == nil {
			return t.Equal(w)
		}
	}
	return false
}

func isMidnightUTC(t time.Time) bool {
	return t.Location() == time.UTC && t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// FormatValue renders a DuckDB value the way the Bellows CSV output is
// expected to render it (used for messages, and for exotic types).
func FormatValue(v any, dbType string) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		switch strings.ToUpper(dbType) {
		case "DATE":
			return x.Format("2006-01-02")
		case "TIME":
			return x.Format("15:04:05.999999")
		}
		if dbType == "" && isMidnightUTC(x) {
			return x.Format("2006-01-02")
		}
		return x.Format("2006-01-02 15:04:05.999999")
	case duckdb.Decimal:
		return formatDecimal(x)
	case *duckdb.Decimal:
		if x == nil {
			return "NULL"
		}
		return formatDecimal(*x)
	case *big.Int:
		if x == nil {
			return "NULL"
		}
		return x.String()
	case big.Int:
		return x.String()
	case *big.Float:
		return x.Text('g', 17)
	case *big.Rat:
		return x.FloatString(9)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case duckdb.UUID:
		return x.String()
	case duckdb.Interval:
		return fmt.Sprintf("%d months %d days %d us", x.Months, x.Days, x.Micros)
	}
	return fmt.Sprint(v)
}

// formatDecimal prints a decimal keeping its scale (e.g. 12.50, not 12.5).
func formatDecimal(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	s := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + s
	}
	if len(s) <= scale {
		s = strings.Repeat("0", scale-len(s)+1) + s
	}
	return sign + s[:len(s)-scale] + "." + s[len(s)-scale:]
}

// CompareResults compares a Bellows CSV result with a DuckDB result: same
// column count, same row count, same row order, every value equal per
// CompareValue. It returns nil on a match and otherwise an error whose text
// is a readable diff (first differing row, both values, and a hint whether
// the rows only differ in order).
func CompareResults(got *CSVResult, want *Result) error {
	if got == nil || want == nil {
		return fmt.Errorf("missing result (bellows=%v, duckdb=%v)", got != nil, want != nil)
	}
	if len(got.Header) != len(want.Columns) {
		return fmt.Errorf("column count differs: bellows %d %q, duckdb %d %q",
			len(got.Header), got.Header, len(want.Columns), want.Columns)
	}
	var b strings.Builder
	firstBad := -1
	badRows := 0
	n := min(len(got.Rows), len(want.Rows))
	for i := 0; i < n; i++ {
		if c := firstBadColumn(got.Rows[i], want.Rows[i], want.Types); c >= 0 {
			badRows++
			if firstBad < 0 {
				firstBad = i
				fmt.Fprintf(&b, "first difference at row %d (0-based), column %d %q: bellows %q, duckdb %s (%s)\n",
					i, c, colName(got.Header, want.Columns, c), got.Rows[i][c],
					quoteVal(want.Rows[i][c], typ(want.Types, c)), typeDesc(want.Rows[i][c], typ(want.Types, c)))
				fmt.Fprintf(&b, "  bellows row: %s\n", fmtCSVRow(got.Rows[i]))
				fmt.Fprintf(&b, "  duckdb  row: %s\n", fmtDuckRow(want.Rows[i], want.Types))
			}
		}
	}
	if len(got.Rows) != len(want.Rows) {
		fmt.Fprintf(&b, "row count differs: bellows %d rows, duckdb %d rows\n", len(got.Rows), len(want.Rows))
		if firstBad < 0 {
			if len(got.Rows) > n {
				fmt.Fprintf(&b, "  first extra bellows row %d: %s\n", n, fmtCSVRow(got.Rows[n]))
			} else {
				fmt.Fprintf(&b, "  first missing duckdb row %d: %s\n", n, fmtDuckRow(want.Rows[n], want.Types))
			}
		}
	}
	if b.Len() == 0 {
		return nil
	}
	if badRows > 0 {
		fmt.Fprintf(&b, "%d of %d compared rows differ\n", badRows, n)
		if len(got.Rows) == len(want.Rows) && sameMultiset(got, want) {
			b.WriteString("note: the same rows are present in a different order (ORDER BY / tie problem)\n")
		}
	}
	fmt.Fprintf(&b, "columns: bellows %q, duckdb %q", got.Header, want.Columns)
	return fmt.Errorf("%s", b.String())
}

func firstBadColumn(got []string, want []any, types []string) int {
	if len(got) != len(want) {
		return 0
	}
	for c := range got {
		if !CompareValue(got[c], want[c], typ(types, c)) {
			return c
		}
	}
	return -1
}

// sameMultiset reports whether both results hold the same rows in some
// order. Rows are bucketed by their non-numeric fields; numeric fields are
// then matched greedily with tolerance. Gives up (false) on huge results.
func sameMultiset(got *CSVResult, want *Result) bool {
	if len(want.Rows) > 200000 {
		return false
	}
	numeric := make([]bool, len(want.Columns))
	for c := range numeric {
		for _, row := range want.Rows {
			if row[c] != nil {
				numeric[c] = isNumber(row[c])
				break
			}
		}
	}
	key := func(row []string) string {
		var k []string
		for c, v := range row {
			if !numeric[c] {
				k = append(k, v)
			}
		}
		return strings.Join(k, "\x00")
	}
	buckets := map[string][]int{}
	for i, row := range ResultToCSVRows(want) {
		buckets[key(row)] = append(buckets[key(row)], i)
	}
	for _, row := range got.Rows {
		if len(row) != len(want.Columns) {
			return false
		}
		k := key(row)
		cands := buckets[k]
		found := -1
		for j, idx := range cands {
			if firstBadColumn(row, want.Rows[idx], want.Types) < 0 {
				found = j
				break
			}
		}
		if found < 0 {
			return false
		}
		buckets[k] = append(cands[:found], cands[found+1:]...)
	}
	return true
}

func typ(types []string, c int) string {
	if c < len(types) {
		return types[c]
	}
	return ""
}

func colName(a, b []string, c int) string {
	if c < len(a) && a[c] != "" {
		return a[c]
	}
	if c < len(b) {
		return b[c]
	}
	return ""
}

func quoteVal(v any, dbType string) string {
	if v == nil {
		return "NULL"
	}
	if _, ok := v.(string); ok {
		return strconv.Quote(v.(string))
	}
	return FormatValue(v, dbType)
}

func typeDesc(v any, dbType string) string {
	if dbType != "" {
		return fmt.Sprintf("%s, Go %T", dbType, v)
	}
	return fmt.Sprintf("Go %T", v)
}

func fmtCSVRow(row []string) string {
	q := make([]string, len(row))
	for i, v := range row {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func fmtDuckRow(row []any, types []string) string {
	q := make([]string, len(row))
	for i, v := range row {
		q[i] = quoteVal(v, typ(types, i))
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// ResultToCSVRows renders a DuckDB result like Bellows' CSV (NULL as "").
// Handy for writing expected outputs and for debugging.
func ResultToCSVRows(r *Result) [][]string {
	out := make([][]string, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = make([]string, len(row))
		for c, v := range row {
			if v != nil {
				out[i][c] = FormatValue(v, typ(r.Types, c))
			}
		}
	}
	return out
}
