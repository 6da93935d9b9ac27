package bellows_test

import (
	"math/big"
	"os"
	"strings"
	"testing"
)

func TestMatchValue(t *testing.T) {
	cases := []struct {
		class     answerClass
		got, want string
		ok        bool
	}{
		{classStr, "  BUILDING ", "BUILDING", true},
		{classStr, "BUILDING", "BUILDINGS", false},
		{classStr, "1995-03-05", "1995-03-05", true},
		{classStr, "1995-03-06", "1995-03-05", false},
		{classInt, "2456423", "2456423", true},
		{classInt, "2456424", "2456423", false},
		{classInt, "1995.0", "1995", true}, // an integer printed as a decimal
		{classCnt, "50004", "50005", false},
		{classCnt, "50005", "50005", true},
		{classNum, "9938.53", "9938.53", true},
		{classNum, "9938.54", "9938.53", false},
		{classNum, "13", "13", true}, // q22's cntrycode is text
		{classNum, "13a", "13", false},
		{classNum, "-1.005", "-1.01", true}, // half away from zero
		{classNum, "-1.004", "-1.01", false},
		{classSum, "406181.01", "406181.01", true},
		{classSum, "406281.01", "406181.01", true}, // +100
		{classSum, "406281.02", "406181.01", false},
		{classSum, "406081.01", "406181.01", true}, // -100
		{classSum, "406081.00", "406181.01", false},
		{classSum, "x", "406181.01", false},
		{classAvg, "25.522005853257337", "25.52", true},
		{classAvg, "25.77", "25.52", true},  // +0.98 %
		{classAvg, "25.78", "25.52", false}, // +1.02 %
		{classAvg, "0.04999", "0.05", true},
		{classRat, "16.38", "16.38", true},
		{classRat, "17", "16.38", false},
		{classRat, "0.004", "0.00", true}, // rounds to the official value
		{classRat, "0.006", "0.00", false},
	}
	for _, c := range cases {
		msg, ok := matchValue(c.class, c.got, c.want)
		if ok != c.ok {
			t.Errorf("matchValue(%s, %q, %q) = %v%s, want %v", c.class, c.got, c.want, ok, msg, c.ok)
		}
	}
}

const sampleAnswer = `l_orderkey            |revenue                                  |o_orderdat|o_shippriority      
               2456423|406181.01|1995-03-05|                   0
               3459808|405838.70|1995-03-04|                   0
`

func TestParseAndCompareAnswer(t *testing.T) {
	a, err := parseAnswer(strings.NewReader(sampleAnswer))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(a.header, ","); got != "l_orderkey,revenue,o_orderdat,o_shippriority" {
		t.Fatalf("header %q", got)
	}
	cls := []answerClass{classInt, classSum, classStr, classInt}
	good := [][]string{
		{"2456423", "406181.0133", "1995-03-05", "0"},
		{"3459808", "405838.6989", "1995-03-04", "0"},
	}
	if ms := compareAnswer(cls, a, good); len(ms) != 0 {
		t.Fatalf("matching result reported: %v", ms)
	}

	bad := [][]string{
		{"2456423", "406381.01", "1995-03-05", "0"}, // sum off by 200
		{"3459808", "405838.70", "1995-03-14", "1"}, // date and int differ
	}
	ms := compareAnswer(cls, a, bad)
	var got []string
	for _, m := range ms {
		got = append(got, m.String())
	}
	want := []string{
		`row 1 col 2: revenue (sum): got "406381.01", want "406181.01" (off by 200.00, allowed 100)`,
		`row 2 col 3: o_orderdat (str): got "1995-03-14", want "1995-03-04"`,
		`row 2 col 4: o_shippriority (int): got "1", want "0"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("mismatches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	if ms := compareAnswer(cls, a, good[:1]); len(ms) != 1 || ms[0].String() != "1 rows, want 2" {
		t.Errorf("missing row: %v", ms)
	}
	if ms := compareAnswer(cls, a, [][]string{good[0], good[1][:3]}); len(ms) != 1 || ms[0].String() != "row 2: 3 columns, want 4" {
		t.Errorf("short row: %v", ms)
	}
	if ms := compareAnswer(cls[:3], a, good); len(ms) != 1 {
		t.Errorf("class count: %v", ms)
	}
}

func TestParseAnswerErrors(t *testing.T) {
	if _, err := parseAnswer(strings.NewReader("")); err == nil {
		t.Error("empty file accepted")
	}
	if _, err := parseAnswer(strings.NewReader("a|b\n1|2|3\n")); err == nil || !strings.Contains(err.Error(), "line 2: 3 fields") {
		t.Errorf("ragged row: %v", err)
	}
	lines := strings.Repeat("str\n", 22)
	if c, err := parseColPrecision(strings.NewReader(lines + "\n")); err != nil || len(c) != 23 {
		t.Errorf("22 lines: %v, %d", err, len(c))
	}
	if _, err := parseColPrecision(strings.NewReader(strings.Repeat("str\n", 21))); err == nil {
		t.Error("21 lines accepted")
	}
	if _, err := parseColPrecision(strings.NewReader(strings.Replace(lines, "str", "money", 1))); err == nil || !strings.Contains(err.Error(), `unknown column class "money"`) {
		t.Errorf("unknown class: %v", err)
	}
	if _, err := parseColPrecision(strings.NewReader("\n" + lines)); err == nil {
		t.Error("empty first line accepted")
	}
}

// TestOfficialAnswersSelfCheck loads the real official answers (when
// BELLOWS_TPCH_OFFICIAL is set), checks that each matches itself, and that
// perturbing one value of each kind is detected.
func TestOfficialAnswersSelfCheck(t *testing.T) {
	dir := os.Getenv(envOfficial)
	if dir == "" {
		t.Skipf("%s is not set", envOfficial)
	}
	classes, answers, err := loadOfficial(dir)
	if err != nil {
		t.Fatal(err)
	}
	for q := 1; q <= 22; q++ {
		a := answers[q]
		if len(a.rows) == 0 {
			t.Errorf("q%d: no rows", q)
			continue
		}
		if ms := compareAnswer(classes[q], a, a.rows); len(ms) != 0 {
			t.Errorf("q%d does not match itself: %v", q, ms[0])
		}
		// Perturb the last row's every column in turn beyond its tolerance.
		last := len(a.rows) - 1
		for c, cl := range classes[q] {
			got := cloneRows(a.rows)
			got[last][c] = perturb(t, cl, got[last][c])
			ms := compareAnswer(classes[q], a, got)
			if len(ms) != 1 || ms[0].Row != last || ms[0].Col != c {
				t.Errorf("q%d col %d (%s): perturbed %q → %q, reported %v", q, c+1, cl, a.rows[last][c], got[last][c], ms)
			}
		}
	}
}

func cloneRows(rows [][]string) [][]string {
	out := make([][]string, len(rows))
	for i, r := range rows {
		out[i] = append([]string(nil), r...)
	}
	return out
}

// perturb changes v just beyond what class tolerates.
func perturb(t *testing.T, class answerClass, v string) string {
	switch class {
	case classSum:
		return addTo(t, v, "100.01")
	case classAvg, classRat:
		if strings.TrimLeft(v, "-0.") == "" { // zero: rounding is the tolerance
			return addTo(t, v, "0.01")
		}
		// 2 % off and a rounding step further, away from zero
		if strings.HasPrefix(v, "-") {
			return addTo(t, mulBy(t, v, "1.02"), "-0.01")
		}
		return addTo(t, mulBy(t, v, "1.02"), "0.01")
	case classStr:
		return v + "x"
	}
	if _, ok := new(big.Rat).SetString(v); !ok {
		return v + "x" // text in a numeric column (q22's cntrycode is "num")
	}
	return addTo(t, v, "1")
}

func addTo(t *testing.T, v, d string) string {
	return ratOp(t, v, d, (*big.Rat).Add)
}

func mulBy(t *testing.T, v, f string) string {
	return ratOp(t, v, f, (*big.Rat).Mul)
}

func ratOp(t *testing.T, a, b string, op func(z, x, y *big.Rat) *big.Rat) string {
	t.Helper()
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	if !ok1 || !ok2 {
		t.Fatalf("not numbers: %q, %q", a, b)
	}
	return op(new(big.Rat), x, y).FloatString(4)
}
