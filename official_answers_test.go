package bellows_test

// The official TPC-H answers (answers/official-sf1 in the shared TPC-H
// material) and the rules for comparing a result with them. The files are
// written by the official qgen/dbgen tools: qN.out holds a header line and one
// line per row, fields padded and separated by '|', numbers rounded to 2
// decimals. colprecision.txt holds one line per query (line N is query N) with
// each column's comparison class.

import (
	"bufio"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
)

// answerClass is how a column of an official answer is compared (TPC-H
// specification clause 2.1.3.5, as written in colprecision.txt).
type answerClass string

const (
	classStr answerClass = "str" // exact text after trimming spaces
	classInt answerClass = "int" // exact value (a key, a year, a size)
	classCnt answerClass = "cnt" // exact value (a COUNT)
	classNum answerClass = "num" // exact value (a stored decimal)
	classSum answerClass = "sum" // within ±100 (a SUM of money)
	classAvg answerClass = "avg" // within 1 % relative (an AVG)
	classRat answerClass = "rat" // within 1 % relative (a ratio)
)

// officialAnswer is one parsed qN.out: the trimmed column names and the
// trimmed fields of every row.
type officialAnswer struct {
	header []string
	rows   [][]string
}

// parseAnswer reads a qN.out file. Every row must have as many fields as the
// header; an empty file (no header) is an error.
func parseAnswer(r io.Reader) (*officialAnswer, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	a := &officialAnswer{}
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if line == 1 {
			a.header = splitAnswerLine(text)
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue // a trailing empty line
		}
		f := splitAnswerLine(text)
		if len(f) != len(a.header) {
			return nil, fmt.Errorf("line %d: %d fields, the header has %d", line, len(f), len(a.header))
		}
		a.rows = append(a.rows, f)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, fmt.Errorf("empty answer file (no header line)")
	}
	return a, nil
}

func splitAnswerLine(s string) []string {
	f := strings.Split(s, "|")
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	return f
}

// parseColPrecision reads colprecision.txt: line N lists query N's column
// classes, separated by spaces. It returns them indexed by query number
// (index 0 unused). An unknown class is an error.
func parseColPrecision(r io.Reader) ([][]answerClass, error) {
	sc := bufio.NewScanner(r)
	out := [][]answerClass{nil}
	for sc.Scan() {
		words := strings.Fields(sc.Text())
		if len(words) == 0 {
			if len(out) > 22 {
				continue // trailing empty lines
			}
			return nil, fmt.Errorf("line %d: no column classes", len(out))
		}
		cls := make([]answerClass, len(words))
		for i, w := range words {
			switch c := answerClass(w); c {
			case classStr, classInt, classCnt, classNum, classSum, classAvg, classRat:
				cls[i] = c
			default:
				return nil, fmt.Errorf("line %d: unknown column class %q", len(out), w)
			}
		}
		out = append(out, cls)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) != 23 {
		return nil, fmt.Errorf("%d lines of column classes, want 22 (one per query)", len(out)-1)
	}
	return out, nil
}

// loadOfficial reads colprecision.txt and q1.out … q22.out from dir, checking
// that each answer has as many columns as its line of classes.
func loadOfficial(dir string) (classes [][]answerClass, answers []*officialAnswer, err error) {
	f, err := os.Open(filepath.Join(dir, "colprecision.txt"))
	if err != nil {
		return nil, nil, err
	}
	classes, err = parseColPrecision(f)
	f.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("colprecision.txt: %w", err)
	}
	answers = make([]*officialAnswer, 23)
	for q := 1; q <= 22; q++ {
		name := filepath.Join(dir, fmt.Sprintf("q%d.out", q))
		f, err := os.Open(name)
		if err != nil {
			return nil, nil, err
		}
		a, err := parseAnswer(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if len(a.header) != len(classes[q]) {
			return nil, nil, fmt.Errorf("%s: %d columns, colprecision.txt line %d has %d classes", name, len(a.header), q, len(classes[q]))
		}
		answers[q] = a
	}
	return classes, answers, nil
}

// answerMismatch is one difference between a result and an official answer.
// Row and Col are 0-based; -1 means the difference is not about one cell.
type answerMismatch struct {
	Row, Col int
	Msg      string
}

func (m answerMismatch) String() string {
	switch {
	case m.Row < 0:
		return m.Msg
	case m.Col < 0:
		return fmt.Sprintf("row %d: %s", m.Row+1, m.Msg)
	}
	return fmt.Sprintf("row %d col %d: %s", m.Row+1, m.Col+1, m.Msg)
}

// compareAnswer compares got (rows of formatted values, in result order)
// with want under the column classes, and returns every difference: a
// different column or row count, and each cell that does not match (rows
// are compared by position up to the shorter of the two).
func compareAnswer(classes []answerClass, want *officialAnswer, got [][]string) []answerMismatch {
	var out []answerMismatch
	ncol := len(want.header)
	if len(classes) != ncol {
		return []answerMismatch{{-1, -1, fmt.Sprintf("%d column classes for %d columns", len(classes), ncol)}}
	}
	if len(got) != len(want.rows) {
		out = append(out, answerMismatch{-1, -1, fmt.Sprintf("%d rows, want %d", len(got), len(want.rows))})
	}
	for r := 0; r < len(got) && r < len(want.rows); r++ {
		if len(got[r]) != ncol {
			out = append(out, answerMismatch{r, -1, fmt.Sprintf("%d columns, want %d", len(got[r]), ncol)})
			continue
		}
		for c := 0; c < ncol; c++ {
			if msg, ok := matchValue(classes[c], got[r][c], want.rows[r][c]); !ok {
				out = append(out, answerMismatch{r, c, fmt.Sprintf("%s (%s): got %q, want %q%s", want.header[c], classes[c], got[r][c], want.rows[r][c], msg)})
			}
		}
	}
	return out
}

var (
	ratHundred = big.NewRat(100, 1)
	ratHalf    = big.NewRat(1, 2)
)

// matchValue reports whether got matches the official value want under
// class. Numbers are compared exactly (math/big), never through float64:
//   - str: equal after trimming spaces.
//   - int, cnt, num: got, rounded half away from zero to as many decimals as
//     want has, equals want (the official files round to 2 decimals; an
//     integer column keeps 0). Text that is not a number on either side
//     is compared as str.
//   - sum: |got − want| ≤ 100.
//   - avg, rat: |got − want| ≤ 1 % of |want|, or got rounds to want (so a
//     value whose rounding to 2 decimals is 0 or tiny still has a chance).
//
// On a mismatch msg may add a detail (such as the difference).
func matchValue(class answerClass, got, want string) (msg string, ok bool) {
	got = strings.TrimSpace(got)
	if class == classStr {
		return "", got == want
	}
	g, gok := new(big.Rat).SetString(got)
	w, wok := new(big.Rat).SetString(want)
	if !gok || !wok {
		if class == classInt || class == classCnt || class == classNum {
			return "", got == want
		}
		return " (not a number)", false
	}
	roundsTo := roundRat(g, decimals(want)).Cmp(w) == 0
	diff := new(big.Rat).Sub(g, w)
	diff.Abs(diff)
	switch class {
	case classInt, classCnt, classNum:
		return "", roundsTo
	case classSum:
		if diff.Cmp(ratHundred) <= 0 {
			return "", true
		}
		return fmt.Sprintf(" (off by %s, allowed 100)", diff.FloatString(2)), false
	default: // avg, rat
		limit := new(big.Rat).Abs(w)
		limit.Quo(limit, ratHundred)
		if diff.Cmp(limit) <= 0 || roundsTo {
			return "", true
		}
		rel := "inf"
		if w.Sign() != 0 {
			rel = new(big.Rat).Quo(diff, new(big.Rat).Abs(w)).FloatString(4)
		}
		return fmt.Sprintf(" (relative difference %s, allowed 0.01)", rel), false
	}
}

// decimals is the number of digits after the point in a plain decimal
// number such as "123.45" (0 when there is no point).
func decimals(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 && !strings.ContainsAny(s, "eE") {
		return len(s) - i - 1
	}
	return 0
}

// roundRat rounds x half away from zero to d decimals.
func roundRat(x *big.Rat, d int) *big.Rat {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d)), nil)
	v := new(big.Rat).Mul(x, new(big.Rat).SetInt(scale))
	neg := v.Sign() < 0
	v.Abs(v)
	v.Add(v, ratHalf)
	n := new(big.Int).Quo(v.Num(), v.Denom()) // floor, v ≥ 0
	if neg {
		n.Neg(n)
	}
	return new(big.Rat).SetFrac(n, scale)
}
