package slt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// DB is the engine under test.
type DB interface {
	Exec(ctx context.Context, sql string) error
	Query(ctx context.Context, sql string) (array.RecordReader, error)
}

// Options configure a run.
type Options struct {
	// Engine is the name skipif/onlyif compare with ("" = "postgresql").
	Engine string
	// Verbose writes one line per record to Out.
	Verbose bool
	// Out receives the verbose lines (nil = nowhere).
	Out io.Writer
	// Timeout bounds each record (0 = 2 minutes; < 0 = none).
	Timeout time.Duration
}

// Result counts the records of a run.
type Result struct {
	Passed, Failed, Skipped int
	// Failures are "file:line: message"; the message may span lines
	// (the SQL, then expected and actual values).
	Failures []string
}

// Add accumulates another result into r.
func (r *Result) Add(o Result) {
	r.Passed += o.Passed
	r.Failed += o.Failed
	r.Skipped += o.Skipped
	r.Failures = append(r.Failures, o.Failures...)
}

// TestDirVar in SQL is replaced by a temporary folder private to the file's
// run (removed afterwards), for statements that write files.
const TestDirVar = "__TEST_DIR__"

// DefaultHashThreshold is the reference runner's default.
const DefaultHashThreshold = 8

// maxShown is how many values a failure message lists.
const maxShown = 20

// RunFile runs the records of the file at path on a fresh database from
// newDB (closed afterwards if it implements io.Closer). It fails only when
// the file cannot be read or the database cannot be opened; failing
// records are counted in the Result and the run goes on.
func RunFile(ctx context.Context, path string, newDB func() (DB, error), opt Options) (Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return Result{}, err
	}
	recs, err := Parse(f)
	f.Close()
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", path, err)
	}
	db, err := newDB()
	if err != nil {
		return Result{}, fmt.Errorf("%s: open database: %w", path, err)
	}
	if c, ok := db.(io.Closer); ok {
		defer c.Close()
	}
	dir, err := os.MkdirTemp("", "slt-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	r := &runner{name: path, db: db, opt: opt, threshold: DefaultHashThreshold, labels: map[string]labelHash{}, testDir: dir}
	if r.opt.Engine == "" {
		r.opt.Engine = "postgresql"
	}
	r.opt.Engine = strings.ToLower(r.opt.Engine)
	return r.run(ctx, recs), nil
}

// RunRecords runs already parsed records on db; name prefixes failures.
func RunRecords(ctx context.Context, name string, recs []Record, db DB, opt Options) Result {
	r := &runner{name: name, db: db, opt: opt, threshold: DefaultHashThreshold, labels: map[string]labelHash{}, testDir: os.TempDir()}
	if r.opt.Engine == "" {
		r.opt.Engine = "postgresql"
	}
	r.opt.Engine = strings.ToLower(r.opt.Engine)
	return r.run(ctx, recs)
}

type labelHash struct {
	hash string
	line int
}

type runner struct {
	name      string
	db        DB
	opt       Options
	threshold int
	labels    map[string]labelHash
	testDir   string
}

func (r *runner) logf(format string, args ...any) {
	if r.opt.Verbose && r.opt.Out != nil {
		fmt.Fprintf(r.opt.Out, format, args...)
	}
}

func (r *runner) run(ctx context.Context, recs []Record) Result {
	var res Result
	for i := range recs {
		if ctx.Err() != nil {
			res.Failed++
			res.Failures = append(res.Failures, fmt.Sprintf("%s:%d: run cancelled: %v", r.name, recs[i].Line, ctx.Err()))
			return res
		}
		rec := &recs[i]
		if !rec.Applies(r.opt.Engine) {
			if rec.Kind == KindStatement || rec.Kind == KindQuery {
				res.Skipped++
				r.logf("%s:%d: skipped\n", r.name, rec.Line)
			}
			continue
		}
		switch rec.Kind {
		case KindHalt:
			r.logf("%s:%d: halt\n", r.name, rec.Line)
			return res
		case KindHashThreshold:
			r.threshold = rec.Threshold
			continue
		case KindUnknown:
			res.Failed++
			res.Failures = append(res.Failures, fmt.Sprintf("%s:%d: unknown directive %q", r.name, rec.Line, rec.Directive))
			continue
		}
		start := time.Now()
		msg := r.record(ctx, rec)
		if msg == "" {
			res.Passed++
			r.logf("%s:%d: ok (%s)\n", r.name, rec.Line, time.Since(start).Round(time.Microsecond))
			continue
		}
		res.Failed++
		f := fmt.Sprintf("%s:%d: %s", r.name, rec.Line, msg)
		res.Failures = append(res.Failures, f)
		r.logf("%s\n", f)
	}
	return res
}

// record runs one statement or query and returns "" when it passes, else
// the failure message.
func (r *runner) record(ctx context.Context, rec *Record) (msg string) {
	timeout := r.opt.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			stack := string(debug.Stack())
			if lines := strings.Split(stack, "\n"); len(lines) > 24 {
				stack = strings.Join(lines[:24], "\n")
			}
			msg = fmt.Sprintf("panic: %v\n%s\n%s", p, indent(rec.SQL), indent(stack))
		}
	}()
	sqlText := strings.ReplaceAll(rec.SQL, TestDirVar, r.testDir)
	if rec.Kind == KindStatement {
		err := r.db.Exec(ctx, sqlText)
		return r.checkError(rec, err)
	}
	values, ncols, err := r.query(ctx, sqlText, rec.Types)
	if rec.ExpectError {
		return r.checkError(rec, err)
	}
	if err != nil {
		return fmt.Sprintf("query failed: %v\n%s", err, indent(rec.SQL))
	}
	if ncols != len(rec.Types) {
		return fmt.Sprintf("query returned %d columns, record declares %d (%s)\n%s", ncols, len(rec.Types), rec.Types, indent(rec.SQL))
	}
	SortValues(values, ncols, rec.Sort)
	hashed := rec.Label != "" || (r.threshold > 0 && len(values) > r.threshold) || isHashResult(rec.Expected)
	var hash string
	if hashed {
		hash = Hash(values)
	}
	if rec.Label != "" {
		if prev, ok := r.labels[rec.Label]; ok {
			if prev.hash != hash {
				return fmt.Sprintf("result of label %s differs from the one at line %d: %s, earlier %s\n%s\n  got:\n%s",
					rec.Label, prev.line, hash, prev.hash, indent(rec.SQL), showValues(values, ncols))
			}
		} else {
			r.labels[rec.Label] = labelHash{hash: hash, line: rec.Line}
		}
	}
	if isHashResult(rec.Expected) {
		if !strings.EqualFold(strings.TrimSpace(rec.Expected[0]), hash) {
			return fmt.Sprintf("wrong result hash\n%s\n  expected: %s\n  got:      %s\n%s",
				indent(rec.SQL), strings.TrimSpace(rec.Expected[0]), hash, showValues(values, ncols))
		}
		return ""
	}
	exp := splitExpected(rec.Expected, ncols, len(values))
	if rec.Sort != NoSort {
		exp = append([]string(nil), exp...)
		SortValues(exp, ncols, rec.Sort)
	}
	if !equalStrings(exp, values) {
		why := "wrong result"
		if len(exp) != len(values) {
			why = fmt.Sprintf("wrong result: expected %d values, got %d", len(exp), len(values))
		} else {
			for k := range exp {
				if exp[k] != values[k] {
					row, col := k, 0
					if ncols > 0 {
						row, col = k/ncols, k%ncols
					}
					why = fmt.Sprintf("wrong result: first difference at row %d column %d: expected %q, got %q", row+1, col+1, exp[k], values[k])
					break
				}
			}
		}
		return fmt.Sprintf("%s\n%s\n  expected:\n%s\n  got:\n%s", why, indent(rec.SQL), showValues(exp, ncols), showValues(values, ncols))
	}
	return ""
}

// query runs sql and renders its values, consuming the whole result.
func (r *runner) query(ctx context.Context, sqlText, types string) (values []string, ncols int, err error) {
	rr, err := r.db.Query(ctx, sqlText)
	if err != nil {
		return nil, 0, err
	}
	defer rr.Release()
	return ReadResult(rr, types)
}

// checkError checks the outcome of a statement, or of a query expected to
// fail.
func (r *runner) checkError(rec *Record, err error) string {
	if !rec.ExpectError {
		if err != nil {
			return fmt.Sprintf("statement failed: %v\n%s", err, indent(rec.SQL))
		}
		return ""
	}
	if err == nil {
		return fmt.Sprintf("expected an error, but it succeeded\n%s", indent(rec.SQL))
	}
	text := errText(err)
	if rec.ErrorRegex != "" {
		re, cerr := regexp.Compile(rec.ErrorRegex)
		if cerr != nil {
			return fmt.Sprintf("bad error regex %q: %v", rec.ErrorRegex, cerr)
		}
		if !re.MatchString(text) {
			return fmt.Sprintf("error %q does not match %q\n%s", text, rec.ErrorRegex, indent(rec.SQL))
		}
	}
	if want := strings.TrimSpace(rec.ErrorText); want != "" && !strings.Contains(text, want) {
		if re, cerr := regexp.Compile(want); cerr != nil || !re.MatchString(text) {
			return fmt.Sprintf("error %q does not contain %q\n%s", text, want, indent(rec.SQL))
		}
	}
	return ""
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout: " + err.Error()
	}
	return err.Error()
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

// showValues lists up to maxShown values, a row per line.
func showValues(values []string, ncols int) string {
	if len(values) == 0 {
		return "    (no rows)"
	}
	if ncols <= 0 {
		ncols = 1
	}
	var b strings.Builder
	n := len(values)
	if n > maxShown {
		n = maxShown - maxShown%ncols
		if n == 0 {
			n = ncols
		}
		if n > len(values) {
			n = len(values)
		}
	}
	for i := 0; i < n; i += ncols {
		end := i + ncols
		if end > n {
			end = n
		}
		b.WriteString("    ")
		b.WriteString(strings.Join(values[i:end], "\t"))
		b.WriteString("\n")
	}
	if n < len(values) {
		fmt.Fprintf(&b, "    ... (%d values in all)\n", len(values))
	}
	return strings.TrimRight(b.String(), "\n")
}
