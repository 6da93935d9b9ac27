// Package slt runs sqllogictest files (the SQLite corpus format, with the
// DuckDB extensions most hand-written files use) against a SQL engine that
// returns Arrow record batches.
//
// A file is a list of records separated by blank lines:
//
//	statement ok|error [REGEX]
//	SQL...
//
//	query TYPES [nosort|rowsort|valuesort] [LABEL]
//	SQL...
//	----
//	expected values
//
// TYPES has one letter per column: I (integer), R (real, printed "%.3f"),
// T (text). Expected values are one per line, or one row per line with the
// values separated by tabs. See README.md in the shared corpus for the
// remaining rules (hash-threshold, skipif/onlyif, halt).
package slt

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Kind is the kind of a record.
type Kind int

// The record kinds.
const (
	KindStatement Kind = iota
	KindQuery
	KindHashThreshold
	KindHalt
	KindUnknown // an unrecognised directive: reported as a failure
)

// SortMode is how a query's result is sorted before comparing.
type SortMode int

// The sort modes.
const (
	NoSort SortMode = iota
	RowSort
	ValueSort
)

func (m SortMode) String() string {
	switch m {
	case RowSort:
		return "rowsort"
	case ValueSort:
		return "valuesort"
	}
	return "nosort"
}

// Condition is one skipif/onlyif line in front of a record.
type Condition struct {
	Skip   bool   // skipif (true) or onlyif (false)
	Engine string // engine name, lowercase
}

// Record is one parsed record of a file.
type Record struct {
	Kind       Kind
	Line       int // 1-based line of the record's directive (statement/query/...)
	Conditions []Condition
	SQL        string

	// statement error / query error
	ExpectError bool
	ErrorRegex  string // from the directive line ("" = any error)
	ErrorText   string // text after "----" of an error record (DuckDB style)

	// query
	Types    string
	Sort     SortMode
	Label    string
	Expected []string // lines after "----"

	Threshold int    // hash-threshold
	Directive string // the directive line of an unknown record
}

// Applies reports whether the record runs for engine.
func (r *Record) Applies(engine string) bool {
	engine = strings.ToLower(engine)
	for _, c := range r.Conditions {
		if c.Skip == (c.Engine == engine) {
			return false
		}
	}
	return true
}

// Parse reads the records of a file. It only fails on read errors and on
// malformed directives it cannot skip (which it reports as KindUnknown
// records instead, so a file is never abandoned).
func Parse(r io.Reader) ([]Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var lines []string
	for sc.Scan() {
		lines = append(lines, strings.TrimRight(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	p := &parser{lines: lines}
	return p.parse(), nil
}

// ParseString parses records from a string.
func ParseString(s string) []Record {
	recs, _ := Parse(strings.NewReader(s))
	return recs
}

type parser struct {
	lines []string
	i     int
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

func comment(s string) bool { return strings.HasPrefix(strings.TrimSpace(s), "#") }

// fields splits a directive line, dropping a trailing "# comment".
func fields(s string) []string {
	f := strings.Fields(s)
	for i, w := range f {
		if strings.HasPrefix(w, "#") {
			return f[:i]
		}
	}
	return f
}

func (p *parser) parse() []Record {
	var out []Record
	for {
		// Skip blank lines and comments between records.
		for p.i < len(p.lines) && (blank(p.lines[p.i]) || comment(p.lines[p.i])) {
			p.i++
		}
		if p.i >= len(p.lines) {
			return out
		}
		var conds []Condition
		for p.i < len(p.lines) {
			f := fields(p.lines[p.i])
			if len(f) >= 2 && (f[0] == "skipif" || f[0] == "onlyif") {
				conds = append(conds, Condition{Skip: f[0] == "skipif", Engine: strings.ToLower(f[1])})
				p.i++
				continue
			}
			if comment(p.lines[p.i]) {
				p.i++
				continue
			}
			break
		}
		if p.i >= len(p.lines) || blank(p.lines[p.i]) {
			continue // conditions on nothing
		}
		rec := p.record()
		rec.Conditions = conds
		out = append(out, rec)
	}
}

// body collects the lines from p.i up to a blank line or (if stopAtDashes)
// a "----" line, skipping '#' comment lines. It reports whether it stopped
// at "----" (which it consumes).
func (p *parser) body(stopAtDashes bool) ([]string, bool) {
	var out []string
	for p.i < len(p.lines) {
		l := p.lines[p.i]
		if blank(l) {
			return out, false
		}
		if stopAtDashes && strings.TrimSpace(l) == "----" {
			p.i++
			return out, true
		}
		p.i++
		if comment(l) {
			continue
		}
		out = append(out, l)
	}
	return out, false
}

// results collects expected-result lines up to a blank line. Lines are kept
// exactly as they are, like the reference runner does (values may start
// with '#' or end in spaces).
func (p *parser) results() []string {
	var out []string
	for p.i < len(p.lines) && !blank(p.lines[p.i]) {
		out = append(out, p.lines[p.i])
		p.i++
	}
	return out
}

func (p *parser) skipRecord() {
	for p.i < len(p.lines) && !blank(p.lines[p.i]) {
		p.i++
	}
}

// restAfter returns the text of line after its first n fields.
func restAfter(line string, n int) string {
	s := strings.TrimSpace(line)
	for k := 0; k < n; k++ {
		j := strings.IndexAny(s, " \t")
		if j < 0 {
			return ""
		}
		s = strings.TrimSpace(s[j:])
	}
	return s
}

func (p *parser) record() Record {
	line := p.lines[p.i]
	rec := Record{Line: p.i + 1}
	f := fields(line)
	p.i++
	switch f[0] {
	case "statement":
		rec.Kind = KindStatement
		if len(f) < 2 || (f[1] != "ok" && f[1] != "error") {
			rec.Kind, rec.Directive = KindUnknown, line
			p.skipRecord()
			return rec
		}
		if f[1] == "error" {
			rec.ExpectError = true
			rec.ErrorRegex = restAfter(line, 2)
		}
		sqlLines, dashes := p.body(true)
		rec.SQL = strings.Join(sqlLines, "\n")
		if dashes {
			rec.ErrorText = strings.Join(p.results(), "\n")
		}
	case "query":
		rec.Kind = KindQuery
		if len(f) < 2 {
			rec.Kind, rec.Directive = KindUnknown, line
			p.skipRecord()
			return rec
		}
		if f[1] == "error" {
			rec.ExpectError = true
			rec.ErrorRegex = restAfter(line, 2)
			sqlLines, dashes := p.body(true)
			rec.SQL = strings.Join(sqlLines, "\n")
			if dashes {
				rec.ErrorText = strings.Join(p.results(), "\n")
			}
			return rec
		}
		rec.Types = f[1]
		rest := f[2:]
		if len(rest) > 0 {
			switch rest[0] {
			case "nosort":
				rest = rest[1:]
			case "rowsort":
				rec.Sort, rest = RowSort, rest[1:]
			case "valuesort":
				rec.Sort, rest = ValueSort, rest[1:]
			}
		}
		if len(rest) > 0 {
			rec.Label = rest[0]
		}
		sqlLines, dashes := p.body(true)
		rec.SQL = strings.Join(sqlLines, "\n")
		if dashes {
			rec.Expected = p.results()
		}
	case "hash-threshold":
		rec.Kind = KindHashThreshold
		n := -1
		if len(f) >= 2 {
			n, _ = strconv.Atoi(f[1])
		}
		if n < 0 {
			rec.Kind, rec.Directive = KindUnknown, line
		}
		rec.Threshold = n
		p.skipRecord()
	case "halt":
		rec.Kind = KindHalt
		p.skipRecord()
	default:
		rec.Kind, rec.Directive = KindUnknown, line
		p.skipRecord()
	}
	return rec
}

var hashLine = regexp.MustCompile(`^\s*(\d+) values hashing to ([0-9a-fA-F]{32})\s*$`)

// isHashResult reports whether expected is the single line
// "N values hashing to MD5".
func isHashResult(expected []string) bool {
	return len(expected) == 1 && hashLine.MatchString(expected[0])
}

// splitExpected turns the expected lines of a query with ncols columns
// into values. Lines are values one per line, unless every line holds a
// whole row: ncols-1 tabs each, or (when one value per line cannot fit
// nvalues, the actual number of values) exactly ncols space-separated words.
func splitExpected(lines []string, ncols, nvalues int) []string {
	if ncols <= 1 || len(lines) == 0 {
		return lines
	}
	tabs := true
	for _, l := range lines {
		if strings.Count(l, "\t") != ncols-1 {
			tabs = false
			break
		}
	}
	if tabs {
		out := make([]string, 0, len(lines)*ncols)
		for _, l := range lines {
			out = append(out, strings.Split(l, "\t")...)
		}
		return out
	}
	if len(lines) == nvalues || len(lines)*ncols != nvalues {
		return lines
	}
	out := make([]string, 0, len(lines)*ncols)
	for _, l := range lines {
		w := strings.Fields(l)
		if len(w) != ncols {
			return lines
		}
		out = append(out, w...)
	}
	return out
}

func (r Record) String() string {
	return fmt.Sprintf("line %d kind %d sql %q", r.Line, r.Kind, r.SQL)
}
