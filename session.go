package bellows

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/bellows-db/bellows/exec"
	"github.com/bellows-db/bellows/sql"
)

// settings are the session settings SET changes.
type settings struct {
	parallelism      int
	memoryLimit      int64
	batchSize        int
	spillDir         string
	statementTimeout time.Duration // 0: none
}

// Session is one connection's view of a DB: the same tables, its own
// settings (SET / SHOW: parallelism, memory_limit, statement_timeout,
// batch_size, spill_dir). Safe for concurrent use; each query runs with
// the settings current when it starts. A session holds no resources, so
// it needs no Close.
type Session struct {
	db *DB

	mu  sync.Mutex
	set settings
}

// NewSession returns a session with the DB's default settings (Options).
func (db *DB) NewSession() *Session {
	return &Session{db: db, set: db.defaultSettings()}
}

func (db *DB) defaultSettings() settings {
	return settings{parallelism: db.opts.Parallelism, memoryLimit: db.opts.MemoryLimit, batchSize: exec.DefaultBatchSize, spillDir: db.opts.SpillDir}
}

// settings returns a copy of the current settings.
func (s *Session) settings() settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set
}

// Result is what a statement without a result set reports.
type Result struct {
	// RowsAffected counts the rows an INSERT, CREATE TABLE AS or COPY
	// wrote; 0 for other statements.
	RowsAffected int64
}

// Exec runs statements (separated by semicolons) and discards result
// sets; the Result is the last statement's.
func (s *Session) Exec(ctx context.Context, sqlText string) (Result, error) {
	stmts, err := sql.Parse(sqlText)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for _, p := range stmts {
		if res, err = s.runAndDrain(ctx, p, nil); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// Query runs the statements of sqlText; all but the last are executed for
// their effects, the last one's result is returned (statements without a
// result give an empty result).
func (s *Session) Query(ctx context.Context, sqlText string) (*Rows, error) {
	stmts, err := sql.Parse(sqlText)
	if err != nil {
		return nil, err
	}
	if len(stmts) == 0 {
		return emptyRows(), nil
	}
	for _, p := range stmts[:len(stmts)-1] {
		if _, err := s.runAndDrain(ctx, p, nil); err != nil {
			return nil, err
		}
	}
	r, _, err := s.run(ctx, stmts[len(stmts)-1], nil)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return emptyRows(), nil
	}
	return r, nil
}

// runAndDrain runs one statement for its effects, discarding any result.
func (s *Session) runAndDrain(ctx context.Context, p *sql.Parsed, params []sql.Param) (Result, error) {
	r, n, err := s.run(ctx, p, params)
	if err != nil || r == nil {
		return Result{RowsAffected: n}, err
	}
	defer r.Release()
	for r.Next() {
	}
	return Result{}, r.Err()
}

// SettingNames are the settings SET and SHOW know (beyond those accepted
// and ignored for client compatibility).
var SettingNames = []string{"parallelism", "memory_limit", "statement_timeout", "batch_size", "spill_dir"}

// Set changes a setting as SET name = value does.
func (s *Session) Set(name, value string) error {
	return s.apply(&sql.Set{Name: strings.ToLower(name), Value: value})
}

// Reset restores a setting's default, as RESET name does.
func (s *Session) Reset(name string) error {
	return s.apply(&sql.Set{Name: strings.ToLower(name), Reset: true})
}

// Show reads a setting as SHOW name does.
func (s *Session) Show(name string) (string, error) { return s.show(strings.ToLower(name)) }

// apply applies a SET statement.
func (s *Session) apply(st *sql.Set) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	def := s.db.defaultSettings()
	v := strings.TrimSpace(st.Value)
	switch st.Name {
	case "parallelism", "threads":
		if st.Reset {
			s.set.parallelism = def.parallelism
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 4096 {
			return fmt.Errorf("invalid value for parameter %q: %q (want a number of drivers, 0 = number of cores)", st.Name, st.Value)
		}
		s.set.parallelism = n
	case "memory_limit":
		if st.Reset {
			s.set.memoryLimit = def.memoryLimit
			return nil
		}
		n, err := parseBytes(v)
		if err != nil {
			return fmt.Errorf("invalid value for parameter \"memory_limit\": %v", err)
		}
		s.set.memoryLimit = n
	case "spill_dir":
		if st.Reset {
			s.set.spillDir = def.spillDir
			return nil
		}
		s.set.spillDir = v
	case "batch_size":
		if st.Reset {
			s.set.batchSize = def.batchSize
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("invalid value for parameter \"batch_size\": %q", st.Value)
		}
		s.set.batchSize = n
	case "statement_timeout":
		if st.Reset {
			s.set.statementTimeout = 0
			return nil
		}
		d, err := parseTimeout(v)
		if err != nil {
			return fmt.Errorf("invalid value for parameter \"statement_timeout\": %v", err)
		}
		s.set.statementTimeout = d
	case "transaction", "search_path", "client_encoding", "timezone", "datestyle", "application_name", "extra_float_digits":
		// accepted for client compatibility
	default:
		return fmt.Errorf("unrecognized configuration parameter %q", st.Name)
	}
	return nil
}

// show reads a setting.
func (s *Session) show(name string) (string, error) {
	st := s.settings()
	switch name {
	case "parallelism", "threads":
		p := st.parallelism
		if p == 0 {
			p = runtime.GOMAXPROCS(0)
		}
		return strconv.Itoa(p), nil
	case "memory_limit":
		return strconv.FormatInt(st.memoryLimit, 10), nil
	case "batch_size":
		return strconv.Itoa(st.batchSize), nil
	case "spill_dir":
		if st.spillDir == "" {
			return os.TempDir(), nil
		}
		return st.spillDir, nil
	case "statement_timeout":
		if st.statementTimeout == 0 {
			return "0", nil
		}
		return st.statementTimeout.String(), nil
	case "workers":
		if s.db.cluster == nil {
			return "0", nil
		}
		return strconv.Itoa(len(s.db.cluster.workers())), nil
	case "distributed_retries":
		return strconv.FormatInt(s.db.Retries(), 10), nil
	case "distributed_task_retries":
		if s.db.cluster == nil {
			return "0", nil
		}
		return strconv.FormatInt(s.db.cluster.sched.TaskRetries(), 10), nil
	}
	return "", fmt.Errorf("unrecognized configuration parameter %q", name)
}

// parseTimeout reads a statement timeout as PostgreSQL does: a bare number
// is milliseconds; units ms, s, min, h (and Go durations) are accepted.
func parseTimeout(v string) (time.Duration, error) {
	v = strings.Trim(strings.TrimSpace(v), "'")
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
		return time.Duration(n) * time.Millisecond, nil
	}
	l := strings.ToLower(strings.ReplaceAll(v, " ", ""))
	l = strings.TrimSuffix(strings.TrimSuffix(l, "in"), "ute") // min, minute -> m
	if d, err := time.ParseDuration(l); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("%q is not a duration (examples: 1500, '2s', '5min')", v)
}

// ErrStatementTimeout is the error of a statement stopped by
// statement_timeout.
var ErrStatementTimeout = errors.New("canceling statement due to statement timeout")

// Stmt is a prepared statement: parsed once, bound and planned again at
// each execution with that execution's parameters ($1, $2, ...). Safe for
// concurrent use.
type Stmt struct {
	s      *Session
	parsed *sql.Parsed
	// NumParams is the highest $n the statement uses.
	NumParams int
	schema    *arrow.Schema // nil: no result set
}

// Prepare parses one statement for repeated execution. Its result schema
// is computed now, with unknown parameters typed as text.
func (s *Session) Prepare(sqlText string) (*Stmt, error) {
	stmts, err := sql.Parse(sqlText)
	if err != nil {
		return nil, err
	}
	if len(stmts) != 1 {
		return nil, fmt.Errorf("a prepared statement holds one statement, got %d", len(stmts))
	}
	st := &Stmt{s: s, parsed: stmts[0], NumParams: stmts[0].NumParams()}
	bound, err := sql.Bind(s.db.cat, stmts[0], nil)
	if err != nil {
		return nil, err
	}
	switch {
	case bound.Query != nil:
		plan, err := optimize(bound.Query)
		if err != nil {
			return nil, err
		}
		st.schema = schemaOf(bound.Query.Names, plan.Columns())
	case bound.Explain != nil:
		st.schema = textSchema("QUERY PLAN")
	case bound.Show != nil && bound.Show.Name == "queries":
		st.schema = queriesSchema
	case bound.Show != nil && bound.Show.Name == "nodes":
		st.schema = nodesSchema
	case bound.Show != nil:
		st.schema = textSchema(bound.Show.Name)
	}
	return st, nil
}

// Schema returns the result columns, nil for a statement without a result
// set. With parameters whose types the statement does not fix, the types
// at execution may differ (they follow the bound values).
func (st *Stmt) Schema() *arrow.Schema { return st.schema }

// Query executes the statement with params (one per $n, in order) and
// streams its result.
func (st *Stmt) Query(ctx context.Context, params ...Param) (*Rows, error) {
	ps, err := st.bind(params)
	if err != nil {
		return nil, err
	}
	r, _, err := st.s.run(ctx, st.parsed, ps)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return emptyRows(), nil
	}
	return r, nil
}

// Exec executes the statement with params for its effects.
func (st *Stmt) Exec(ctx context.Context, params ...Param) (Result, error) {
	ps, err := st.bind(params)
	if err != nil {
		return Result{}, err
	}
	return st.s.runAndDrain(ctx, st.parsed, ps)
}

func (st *Stmt) bind(params []Param) ([]sql.Param, error) {
	if len(params) < st.NumParams {
		return nil, fmt.Errorf("the statement has %d parameters, %d given", st.NumParams, len(params))
	}
	out := make([]sql.Param, len(params))
	for i, p := range params {
		out[i] = sql.Param(p)
	}
	return out, nil
}

// Param is one statement parameter value; make it with ParamOf or
// ParamFromArrow.
type Param sql.Param
