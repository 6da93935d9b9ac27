package bellows

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/exec"
	"github.com/bellows-db/bellows/planner"
	"github.com/bellows-db/bellows/sql"
)

// run executes one parsed statement. A nil *Rows means no result set;
// the count is the rows a statement without one wrote.
func (s *Session) run(ctx context.Context, p *sql.Parsed, params []sql.Param) (*Rows, int64, error) {
	db := s.db
	st, err := sql.Bind(db.cat, p, params)
	if err != nil {
		return nil, 0, err
	}
	ctx = withStatementText(ctx, p.Text)
	switch {
	case st.Query != nil:
		r, err := s.startQuery(ctx, st.Query)
		return r, 0, err
	case st.Explain != nil:
		r, err := s.explain(ctx, st.Explain)
		return r, 0, err
	case st.Set != nil:
		return nil, 0, s.apply(st.Set)
	case st.Call != nil:
		return nil, 0, s.call(st.Call)
	case st.Show != nil && st.Show.Name == "queries":
		return s.queries(), 0, nil
	case st.Show != nil && st.Show.Name == "nodes":
		return s.nodes(), 0, nil
	case st.Show != nil:
		v, err := s.show(st.Show.Name)
		if err != nil {
			return nil, 0, err
		}
		return textRows(st.Show.Name, []string{v}), 0, nil
	case st.CreateTable != nil:
		n, err := s.createTable(ctx, st.CreateTable)
		return nil, n, err
	case st.CreateView != nil:
		return nil, 0, db.createView(st.CreateView)
	case st.Insert != nil:
		n, err := s.insert(ctx, st.Insert)
		return nil, n, err
	case st.Drop != nil:
		return nil, 0, db.drop(st.Drop)
	case st.Copy != nil:
		n, err := s.runToFile(ctx, st.Copy.Query, st.Copy.Format, st.Copy.Path)
		return nil, n, err
	}
	return nil, 0, fmt.Errorf("unsupported statement")
}

// optimize runs the planner's rules.
func optimize(q *sql.Query) (planner.Node, error) {
	return planner.Optimize(q.Plan)
}

func schemaOf(names []string, cols []planner.Column) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: names[i], Type: c.Type.Arrow(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// startQuery plans the query and starts it in the background; the returned
// Rows stream its result.
func (s *Session) startQuery(ctx context.Context, q *sql.Query) (*Rows, error) {
	db := s.db
	plan, err := optimize(q)
	if err != nil {
		return nil, err
	}
	set := s.settings()
	schema := schemaOf(q.Names, plan.Columns())
	if db.cluster != nil {
		return s.startDistributed(ctx, plan, schema, set)
	}
	id, qc := db.newQuery(ctx, set)
	cctx, cancel := withStatementTimeout(ctx, set.statementTimeout)
	rows := &Rows{id: id, schema: schema, ch: make(chan arrow.RecordBatch, 4), cancel: cancel, done: make(chan struct{})}
	rows.refs.Store(1)
	sink := &resultSink{schema: schema, ch: rows.ch, ctx: cctx}
	phys, err := exec.Build(qc, plan, sink)
	if err != nil {
		cancel()
		db.endQuery(id)
		return nil, err
	}
	go func() {
		defer close(rows.done)
		defer db.endQuery(id)
		defer phys.Close()
		err := phys.Run(cctx, qc)
		if err != nil {
			err = statementError(ctx, cctx, err)
		}
		rows.err = err
		close(rows.ch)
	}()
	return rows, nil
}

// withStatementTimeout derives the context a statement runs under: ctx,
// cancelled after timeout when one is set.
func withStatementTimeout(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if timeout > 0 {
		return context.WithTimeoutCause(ctx, timeout, ErrStatementTimeout)
	}
	return context.WithCancel(ctx)
}

// statementError names why a statement stopped: the caller's context
// (cancelled, deadline), the statement timeout, or err itself.
func statementError(ctx, cctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(context.Cause(cctx), ErrStatementTimeout):
		return ErrStatementTimeout
	}
	return err
}

// resultSink forwards batches to the consumer, relabelled with the
// result's column names.
type resultSink struct {
	schema *arrow.Schema
	ch     chan arrow.RecordBatch
	ctx    context.Context
}

func (s *resultSink) Local(ctx context.Context) (exec.SinkLocal, error) { return s, nil }
func (s *resultSink) Consume(ctx context.Context, in arrow.RecordBatch) error {
	out := array.NewRecordBatch(s.schema, in.Columns(), in.NumRows())
	select {
	case s.ch <- out:
		return nil
	case <-ctx.Done():
		out.Release()
		return context.Cause(ctx)
	case <-s.ctx.Done():
		out.Release()
		return s.ctx.Err()
	}
}
func (s *resultSink) Combine(ctx context.Context) error  { return nil }
func (s *resultSink) Finalize(ctx context.Context) error { return nil }
func (s *resultSink) Close()                             {}

// countSink counts the result rows of EXPLAIN ANALYZE and drops them, so
// the result does not count against the query's memory.
type countSink struct{ rows atomic.Int64 }

func (s *countSink) Local(ctx context.Context) (exec.SinkLocal, error) { return s, nil }
func (s *countSink) Consume(ctx context.Context, in arrow.RecordBatch) error {
	s.rows.Add(in.NumRows())
	return nil
}
func (s *countSink) Combine(ctx context.Context) error  { return nil }
func (s *countSink) Finalize(ctx context.Context) error { return nil }
func (s *countSink) Close()                             {}

// Rows is a query's result stream; it implements array.RecordReader.
// Batches arrive while the query still runs. Not safe for concurrent use;
// Release stops the query if it has not finished.
type Rows struct {
	id     string
	schema *arrow.Schema
	ch     chan arrow.RecordBatch
	cur    arrow.RecordBatch
	err    error
	cancel context.CancelFunc
	done   chan struct{}
	refs   atomic.Int64
	static []arrow.RecordBatch
	// finished is set once Next saw the end; Err is final from then on.
	finished bool
}

var _ array.RecordReader = (*Rows)(nil)

func emptyRows() *Rows {
	r := &Rows{schema: arrow.NewSchema(nil, nil)}
	r.refs.Store(1)
	return r
}

// textSchema is the schema of a one-column text result.
func textSchema(name string) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{{Name: name, Type: arrow.BinaryTypes.String, Nullable: true}}, nil)
}

// queriesSchema is the schema of SHOW queries.
var queriesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "query_id", Type: arrow.BinaryTypes.String},
	{Name: "elapsed_ms", Type: arrow.PrimitiveTypes.Int64},
	{Name: "tasks", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "placement", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "splits", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "query", Type: arrow.BinaryTypes.String},
}, nil)

// queries lists the running queries (SHOW queries): for a distributed
// one, its stages' task counts ("stage:tasks", comma separated), where
// the tasks run ("stage:addr|addr") and its scans' progress
// ("stage:claimed/total" splits).
func (s *Session) queries() *Rows {
	qs := s.db.Queries()
	b := array.NewRecordBuilder(memory.DefaultAllocator, queriesSchema)
	defer b.Release()
	for _, q := range qs {
		b.Field(0).(*array.StringBuilder).Append(q.ID)
		b.Field(1).(*array.Int64Builder).Append(time.Since(q.Started).Milliseconds())
		if q.Tasks == nil {
			b.Field(2).AppendNull()
		} else {
			parts := make([]string, len(q.Tasks))
			for i, n := range q.Tasks {
				parts[i] = fmt.Sprintf("%d:%d", i, n)
			}
			b.Field(2).(*array.StringBuilder).Append(strings.Join(parts, ","))
		}
		if q.Placement == nil {
			b.Field(3).AppendNull()
		} else {
			parts := make([]string, len(q.Placement))
			for i, ws := range q.Placement {
				parts[i] = fmt.Sprintf("%d:%s", i, strings.Join(ws, "|"))
			}
			b.Field(3).(*array.StringBuilder).Append(strings.Join(parts, ","))
		}
		var splits []string
		for st := range q.Splits {
			if q.Splits[st] > 0 {
				splits = append(splits, fmt.Sprintf("%d:%d/%d", st, q.SplitsClaimed[st], q.Splits[st]))
			}
		}
		if q.Splits == nil {
			b.Field(4).AppendNull()
		} else {
			b.Field(4).(*array.StringBuilder).Append(strings.Join(splits, ","))
		}
		b.Field(5).(*array.StringBuilder).Append(q.SQL)
	}
	r := &Rows{schema: queriesSchema, static: []arrow.RecordBatch{b.NewRecordBatch()}}
	r.refs.Store(1)
	return r
}

// nodesSchema is the schema of SHOW nodes.
var nodesSchema = arrow.NewSchema([]arrow.Field{
	{Name: "name", Type: arrow.BinaryTypes.String},
	{Name: "role", Type: arrow.BinaryTypes.String},
	{Name: "addr", Type: arrow.BinaryTypes.String},
	{Name: "cores", Type: arrow.PrimitiveTypes.Int64},
	{Name: "memory_bytes", Type: arrow.PrimitiveTypes.Int64},
	{Name: "gpus", Type: arrow.PrimitiveTypes.Int64},
}, nil)

// nodes lists the cluster's live nodes (SHOW nodes); none without a
// cluster.
func (s *Session) nodes() *Rows {
	var ns []NodeInfo
	if s.db.cluster != nil {
		ns = s.db.cluster.nodeList()
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, nodesSchema)
	defer b.Release()
	for _, n := range ns {
		b.Field(0).(*array.StringBuilder).Append(n.Name)
		b.Field(1).(*array.StringBuilder).Append(n.Role)
		b.Field(2).(*array.StringBuilder).Append(n.Addr)
		b.Field(3).(*array.Int64Builder).Append(int64(n.Cores))
		b.Field(4).(*array.Int64Builder).Append(n.Memory)
		b.Field(5).(*array.Int64Builder).Append(int64(n.GPUs))
	}
	r := &Rows{schema: nodesSchema, static: []arrow.RecordBatch{b.NewRecordBatch()}}
	r.refs.Store(1)
	return r
}

// call runs CALL name(args).
func (s *Session) call(c *sql.Call) error {
	switch c.Name {
	case "set_parallelism":
		if len(c.Args) != 2 {
			return fmt.Errorf("CALL set_parallelism(query_id, n): %d arguments given", len(c.Args))
		}
		n, err := strconv.Atoi(c.Args[1])
		if err != nil {
			return fmt.Errorf("CALL set_parallelism: %q is not a number", c.Args[1])
		}
		return s.db.SetParallelism(c.Args[0], n)
	}
	return fmt.Errorf("procedure %s does not exist (known: set_parallelism)", c.Name)
}

// textRows builds a one-column text result.
func textRows(name string, lines []string) *Rows {
	schema := textSchema(name)
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(lines, nil)
	arr := b.NewArray()
	defer arr.Release()
	r := &Rows{schema: schema, static: []arrow.RecordBatch{array.NewRecordBatch(schema, []arrow.Array{arr}, int64(len(lines)))}}
	r.refs.Store(1)
	return r
}

// ID is the query's identifier for (*DB).SetParallelism.
func (r *Rows) ID() string { return r.id }

// Schema returns the result columns.
func (r *Rows) Schema() *arrow.Schema { return r.schema }

// Next advances to the next batch; false at the end or on error (see Err).
func (r *Rows) Next() bool {
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	if r.ch == nil {
		if len(r.static) == 0 {
			return false
		}
		r.cur, r.static = r.static[0], r.static[1:]
		return true
	}
	b, ok := <-r.ch
	if !ok {
		<-r.done // the query's error (if any) is set before done closes
		r.finished = true
		return false
	}
	r.cur = b
	return true
}

// RecordBatch returns the current batch, valid until the next Next.
func (r *Rows) RecordBatch() arrow.RecordBatch { return r.cur }

// Record is RecordBatch (deprecated name kept for array.RecordReader).
func (r *Rows) Record() arrow.RecordBatch { return r.cur }

// Err returns the query's error once Next returned false.
func (r *Rows) Err() error {
	if r.done != nil && !r.finished {
		select {
		case <-r.done:
		default:
			return nil
		}
	}
	return r.err
}

// Retain adds a reference.
func (r *Rows) Retain() { r.refs.Add(1) }

// Release drops a reference; the last one cancels the query if it still
// runs and frees the buffered batches.
func (r *Rows) Release() {
	if r.refs.Add(-1) != 0 {
		return
	}
	if r.cur != nil {
		r.cur.Release()
		r.cur = nil
	}
	for _, b := range r.static {
		b.Release()
	}
	r.static = nil
	if r.cancel != nil {
		r.cancel()
		for b := range r.ch {
			b.Release()
		}
		<-r.done
	}
}

func (s *Session) explain(ctx context.Context, ex *sql.Explain) (*Rows, error) {
	db := s.db
	plan, err := optimize(ex.Query)
	if err != nil {
		return nil, err
	}
	if ex.Distributed {
		if ex.Analyze {
			return s.explainAnalyzeDistributed(ctx, plan)
		}
		opts := planner.DefaultFragmentOptions // no cluster: how a default one would cut it
		if db.cluster != nil {
			opts = db.cluster.fragmentOptions(len(db.cluster.workers()))
		}
		g, err := planner.Fragment(plan, opts)
		if err != nil {
			return nil, err
		}
		return textRows("QUERY PLAN", strings.Split(strings.TrimRight(planner.ExplainDistributed(g), "\n"), "\n")), nil
	}
	if !ex.Analyze {
		return textRows("QUERY PLAN", strings.Split(strings.TrimRight(planner.Explain(plan, nil), "\n"), "\n")), nil
	}
	set := s.settings()
	id, qc := db.newQuery(ctx, set)
	defer db.endQuery(id)
	sink := &countSink{}
	phys, err := exec.Build(qc, plan, sink)
	if err != nil {
		return nil, err
	}
	cctx, cancel := withStatementTimeout(ctx, set.statementTimeout)
	defer cancel()
	t0 := time.Now()
	err = phys.Run(cctx, qc)
	elapsed := time.Since(t0)
	rowsOut := sink.rows.Load()
	phys.Close()
	if err != nil {
		return nil, statementError(ctx, cctx, err)
	}
	text := planner.Explain(plan, func(n planner.Node) string {
		st := phys.NodeStats[n]
		if st == nil {
			return ""
		}
		spill := ""
		if f := st.SpillFiles.Load(); f > 0 {
			spill = fmt.Sprintf(" spilled=%d bytes in %d files", st.SpillBytes.Load(), f)
		}
		return fmt.Sprintf("[rows=%d time=%s batches=%d%s]", st.RowsOut.Load(), time.Duration(st.Nanos.Load()).Round(time.Microsecond), st.Batches.Load(), spill)
	})
	text += phys.Describe()
	text += fmt.Sprintf("result: %d rows in %s, peak memory %d bytes, spilled %d bytes in %d files, parallelism %d\n", rowsOut, elapsed.Round(time.Microsecond), qc.Pool.Peak(), qc.Spill().BytesWritten(), qc.Spill().FilesWritten(), qc.Parallelism())
	return textRows("QUERY PLAN", strings.Split(strings.TrimRight(text, "\n"), "\n")), nil
}

// runToFile runs a query into a file writer.
func (s *Session) runToFile(ctx context.Context, q *sql.Query, format planner.FileFormat, path string) (int64, error) {
	rows, err := s.startQuery(ctx, q)
	if err != nil {
		return 0, err
	}
	defer rows.Release()
	w, err := exec.NewFileWriter(format, path, rows.Schema())
	if err != nil {
		return 0, err
	}
	n := int64(0)
	for rows.Next() {
		if err := w.Write(rows.RecordBatch()); err != nil {
			w.Abort()
			return 0, err
		}
		n += rows.RecordBatch().NumRows()
	}
	if err := rows.Err(); err != nil {
		w.Abort()
		return 0, err
	}
	return n, w.Close()
}

func (s *Session) createTable(ctx context.Context, ct *sql.CreateTable) (int64, error) {
	db := s.db
	db.cat.mu.RLock()
	_, exists := db.cat.tables[ct.Name]
	db.cat.mu.RUnlock()
	if exists {
		if ct.IfNotExists {
			return 0, nil
		}
		return 0, fmt.Errorf("relation %q already exists", ct.Name)
	}
	t := &sql.Table{Name: ct.Name, Columns: ct.Columns, Format: planner.FormatParquet, Managed: true}
	dir := filepath.Join(db.cat.dataDir, "tables", ct.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	var n int64
	if ct.AsQuery != nil {
		rel := filepath.Join("tables", ct.Name, fmt.Sprintf("part-%d.parquet", time.Now().UnixNano()))
		var err error
		if n, err = s.runToFile(ctx, ct.AsQuery, planner.FormatParquet, filepath.Join(db.cat.dataDir, rel)); err != nil {
			return 0, err
		}
		t.Paths = []string{rel}
	}
	db.cat.mu.Lock()
	defer db.cat.mu.Unlock()
	if _, exists := db.cat.tables[ct.Name]; exists {
		return 0, fmt.Errorf("relation %q already exists", ct.Name)
	}
	db.cat.tables[ct.Name] = t
	if err := db.cat.save(); err != nil {
		delete(db.cat.tables, ct.Name)
		return 0, err
	}
	return n, nil
}

func (db *DB) createView(cv *sql.CreateView) error {
	db.cat.mu.Lock()
	defer db.cat.mu.Unlock()
	if old, exists := db.cat.tables[cv.Name]; exists && !(cv.Replace && old.ViewSQL != "") {
		return fmt.Errorf("relation %q already exists", cv.Name)
	}
	db.cat.tables[cv.Name] = &sql.Table{Name: cv.Name, Columns: cv.Columns, ViewSQL: cv.SQL}
	return db.cat.save()
}

func (s *Session) insert(ctx context.Context, ins *sql.Insert) (int64, error) {
	db := s.db
	rel := filepath.Join("tables", ins.Table, fmt.Sprintf("part-%d.parquet", time.Now().UnixNano()))
	n, err := s.runToFile(ctx, ins.Source, planner.FormatParquet, filepath.Join(db.cat.dataDir, rel))
	if err != nil {
		return 0, err
	}
	if n == 0 {
		os.Remove(filepath.Join(db.cat.dataDir, rel))
		return 0, nil
	}
	db.cat.mu.Lock()
	defer db.cat.mu.Unlock()
	t, ok := db.cat.tables[ins.Table]
	if !ok {
		os.Remove(filepath.Join(db.cat.dataDir, rel))
		return 0, fmt.Errorf("relation %q was dropped during INSERT", ins.Table)
	}
	nt := *t
	nt.Paths = append(append([]string{}, t.Paths...), rel)
	nt.Stats = nil
	db.cat.tables[ins.Table] = &nt
	if err := db.cat.save(); err != nil {
		db.cat.tables[ins.Table] = t
		os.Remove(filepath.Join(db.cat.dataDir, rel))
		return 0, err
	}
	return n, nil
}

func (db *DB) drop(d *sql.Drop) error {
	db.cat.mu.Lock()
	defer db.cat.mu.Unlock()
	for _, name := range d.Names {
		t, ok := db.cat.tables[name]
		if !ok {
			if d.IfExists {
				continue
			}
			kind := "table"
			if d.View {
				kind = "view"
			}
			return fmt.Errorf("%s %q does not exist", kind, name)
		}
		if d.View != (t.ViewSQL != "") {
			if d.View {
				return fmt.Errorf("%q is not a view", name)
			}
			return fmt.Errorf("%q is not a table", name)
		}
		delete(db.cat.tables, name)
		if err := db.cat.save(); err != nil {
			db.cat.tables[name] = t
			return err
		}
		if t.Managed {
			os.RemoveAll(filepath.Join(db.cat.dataDir, "tables", name))
		}
	}
	return nil
}
