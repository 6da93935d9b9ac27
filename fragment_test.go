package bellows

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/coordinator"
	"github.com/bellows-db/bellows/exec"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
	"github.com/bellows-db/bellows/planner/planpb"
	"github.com/bellows-db/bellows/sql"
	"github.com/bellows-db/bellows/tpch"
	"github.com/bellows-db/bellows/worker"
)

// TestFragmentTPCH cuts the 22 TPC-H plans into stages, with joins
// broadcast where they may be and with every equi-join partitioned, and
// checks the graph: every stage but the last feeds exactly one exchange
// of its own kind and columns, every scan lands in exactly one stage,
// broadcasts feed only build sides that never emit unmatched rows, hash
// keys are output columns, sorted results are merged on one task, and the
// last stage returns the plan's columns.
func TestFragmentTPCH(t *testing.T) {
	db := openTPCH(t, Options{})
	for _, opts := range []planner.FragmentOptions{
		{MaxTasks: 8, RowsPerTask: 1000, BroadcastRows: 1e12}, // broadcast wherever allowed
		{MaxTasks: 8, RowsPerTask: 1000, BroadcastRows: 0},    // partition every equi-join
	} {
		for n := 1; n <= 22; n++ {
			t.Run(fmt.Sprintf("q%02d/broadcast=%v", n, opts.BroadcastRows > 0), func(t *testing.T) {
				q, err := tpch.Query(n)
				if err != nil {
					t.Fatal(err)
				}
				plan := planQuery(t, db, q)
				g, err := planner.Fragment(plan, opts)
				if err != nil {
					t.Fatal(err)
				}
				checkFragments(t, plan, g, opts)
				if t.Failed() {
					t.Log("\n" + planner.ExplainDistributed(g))
				}
			})
		}
	}
}

func checkFragments(t *testing.T, plan planner.Node, g *planner.FragmentGraph, opts planner.FragmentOptions) {
	t.Helper()
	last := g.Stages[len(g.Stages)-1]
	if !sameColumns(last.Root.Columns(), plan.Columns()) {
		t.Errorf("the last stage returns %v, the plan %v", last.Root.Columns(), plan.Columns())
	}
	consumers := map[int]int{}
	scans := map[string]int{}
	var walk func(st *planner.Stage, n planner.Node, parent planner.Node, childIdx int)
	walk = func(st *planner.Stage, n planner.Node, parent planner.Node, childIdx int) {
		switch x := n.(type) {
		case *planner.Scan:
			scans[scanKey(x)]++
		case *planner.Exchange:
			consumers[x.Stage]++
			if x.Stage >= st.ID {
				t.Errorf("stage %d reads stage %d, which is not before it", st.ID, x.Stage)
				return
			}
			prod := g.Stages[x.Stage]
			if prod.Output != x.Kind || fmt.Sprint(prod.Keys) != fmt.Sprint(x.Keys) {
				t.Errorf("stage %d outputs %s %v, its exchange reads %s %v", prod.ID, prod.Output, prod.Keys, x.Kind, x.Keys)
			}
			if !sameColumns(prod.Root.Columns(), x.Cols) {
				t.Errorf("exchange of stage %d: columns %v, producer %v", x.Stage, x.Cols, prod.Root.Columns())
			}
			out := map[planner.ColumnID]bool{}
			for _, c := range prod.Root.Columns() {
				out[c.ID] = true
			}
			for _, k := range x.Keys {
				if !out[k] {
					t.Errorf("hash key #%d is not an output of stage %d", k, prod.ID)
				}
			}
			if x.Kind == planner.ExchangeBroadcast {
				j, ok := parent.(*planner.Join)
				if !ok || childIdx != 1 {
					t.Errorf("a broadcast from stage %d feeds %T, not a join's build side", x.Stage, parent)
				} else if k := j.Kind; k == planner.JoinRight || k == planner.JoinFull || k == planner.JoinRightSemi || k == planner.JoinRightAnti {
					t.Errorf("a %s join broadcasts its build side", k)
				}
			}
			if x.Kind == planner.ExchangeGather && !st.Single {
				t.Errorf("stage %d reads a gather but may run as %d tasks", st.ID, st.Tasks)
			}
		case *planner.Sort:
			if st.ID == last.ID && !st.Single {
				t.Errorf("the result is sorted on %d tasks without a merge", st.Tasks)
			}
		}
		for i, c := range n.Children() {
			walk(st, c, n, i)
		}
	}
	for _, st := range g.Stages {
		if st.Tasks < 1 || st.Tasks > opts.MaxTasks || st.Single && st.Tasks != 1 {
			t.Errorf("stage %d: %d tasks (single %v)", st.ID, st.Tasks, st.Single)
		}
		walk(st, st.Root, nil, 0)
	}
	for _, st := range g.Stages[:len(g.Stages)-1] {
		if consumers[st.ID] != 1 {
			t.Errorf("stage %d feeds %d exchanges, want 1", st.ID, consumers[st.ID])
		}
	}
	want := map[string]int{}
	var walkPlan func(planner.Node)
	walkPlan = func(n planner.Node) {
		if s, ok := n.(*planner.Scan); ok {
			want[scanKey(s)]++
		}
		for _, c := range n.Children() {
			walkPlan(c)
		}
	}
	walkPlan(plan)
	if fmt.Sprint(want) != fmt.Sprint(scans) {
		t.Errorf("scans in the stages %v, in the plan %v", scans, want)
	}
}

func scanKey(s *planner.Scan) string {
	var ids []string
	for _, c := range s.Cols {
		ids = append(ids, fmt.Sprint(c.ID))
	}
	return s.Table + "(" + strings.Join(ids, ",") + ")"
}

func sameColumns(a, b []planner.Column) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID {
			return false
		}
	}
	return true
}

// TestExplainDistributed shows stages, exchanges and task counts for a
// partitioned join and a global aggregate.
func TestExplainDistributed(t *testing.T) {
	db := openTPCH(t, Options{})
	got, err := collect(t, db, context.Background(), "EXPLAIN (DISTRIBUTED) SELECT o_orderpriority, count(*) FROM orders JOIN lineitem ON o_orderkey = l_orderkey GROUP BY o_orderpriority ORDER BY 1", nil)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{"Stage 0:", "to the client", "Exchange gather from stage", "merging sorted streams", "output hash [o_orderpriority]"} {
		if !strings.Contains(text, want) {
			t.Errorf("EXPLAIN (DISTRIBUTED) lacks %q:\n%s", want, text)
		}
	}
}

// TestDistributedLocalTPCH runs the 22 queries cut into stages, sent
// through their protobuf form, each stage as several tasks with in-memory
// exchanges (worker.RunLocal), with joins
// broadcast where allowed and with every equi-join partitioned: every
// answer must equal the single-node engine's, and the source stages'
// tasks must all have read splits.
func TestDistributedLocalTPCH(t *testing.T) {
	// One batch per queue at a time: the most back-pressure there can be.
	defer func(old int64) { exec.DefaultQueueBytes = old }(exec.DefaultQueueBytes)
	exec.DefaultQueueBytes = 1
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	db := openTPCH(t, Options{Allocator: mem})
	ctx := context.Background()
	for _, opts := range []planner.FragmentOptions{
		{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 1e12},
		{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 0},
	} {
		for n := 1; n <= 22; n++ {
			t.Run(fmt.Sprintf("q%02d/broadcast=%v", n, opts.BroadcastRows > 0), func(t *testing.T) {
				q, err := tpch.Query(n)
				if err != nil {
					t.Fatal(err)
				}
				want, err := collect(t, db, ctx, q, nil)
				if err != nil {
					t.Fatal(err)
				}
				cut := fragmentQuery(t, db, q, opts)
				// The stages travel as workers will get them: protobuf.
				wire, err := planpb.Marshal(cut)
				if err != nil {
					t.Fatal(err)
				}
				g, err := planpb.Unmarshal(wire)
				if err != nil {
					t.Fatal(err)
				}
				// Scans' statistics stay home (only estimates read them).
				noEst := regexp.MustCompile(` \(est\. [0-9]+ rows\)`)
				if a, b := noEst.ReplaceAllString(planner.ExplainDistributed(cut), ""), noEst.ReplaceAllString(planner.ExplainDistributed(g), ""); a != b {
					t.Fatalf("the plan changed on the wire:\n%s\nbecame\n%s", a, b)
				}
				run, err := worker.RunLocal(ctx, g, worker.LocalOptions{
					NewQuery: func() *exec.QueryContext { return exec.NewQueryContext(mem, 0, 2) },
				})
				if err != nil {
					t.Fatal(err)
				}
				got := drainRows(t, ctx, run.Next, run.Close)
				if err := run.Wait(); err != nil {
					t.Fatal(err)
				}
				sameRows(t, fmt.Sprintf("distributed (%d stages)", len(g.Stages))+"\nplan:\n"+planner.ExplainDistributed(g), got, want)
				// Every task of a stage that scans read at least one split
				// when the stage had splits enough for all.
				for _, ts := range run.Stats() {
					st := g.Stages[ts.Stage]
					if planner.HasScan(st.Root) && st.Tasks > 1 && ts.Splits == 0 {
						t.Logf("stage %d task %d read no split (of a %d-task stage)", ts.Stage, ts.Task, st.Tasks)
					}
				}
			})
		}
	}
	mem.AssertSize(t, 0)
}

// renderBatches renders rows as collect does.
func renderBatches(t *testing.T, bs []arrow.RecordBatch) []string {
	t.Helper()
	var out []string
	for _, b := range bs {
		for r := 0; r < int(b.NumRows()); r++ {
			var cells []string
			for c := 0; c < int(b.NumCols()); c++ {
				arr := b.Column(c)
				typ, err := kernels.FromArrow(arr.DataType())
				if err != nil {
					t.Fatal(err)
				}
				v := kernels.ValueAt(arr, typ, r)
				s := v.Format(typ)
				if typ.IsFloat() && !v.Null {
					s = fmt.Sprintf("%.6g", v.F)
				}
				cells = append(cells, s)
			}
			out = append(out, strings.Join(cells, "|"))
		}
	}
	return out
}

// startFlightCluster starts the in-process cluster of Options.Workers: a
// scheduler and n workers, each a gRPC server on a loopback port.
func startFlightCluster(t *testing.T, alloc memory.Allocator, n int) *embeddedCluster {
	t.Helper()
	c, err := startEmbeddedCluster(Options{Allocator: alloc, Workers: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.stop)
	return c
}

// drainRows reads a distributed result to its end (closing it on an
// error) and renders its rows as collect does.
func drainRows(t *testing.T, ctx context.Context, next func(context.Context) (arrow.RecordBatch, error), closeRun func()) []string {
	t.Helper()
	var batches []arrow.RecordBatch
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	for {
		b, err := next(ctx)
		if err == io.EOF {
			return renderBatches(t, batches)
		}
		if err != nil {
			closeRun()
			t.Fatal(err)
		}
		batches = append(batches, b)
	}
}

// TestDistributedFlightTPCH runs the 22 queries on 3 workers over Flight
// (loopback gRPC): stages placed on workers, exchanges streamed between
// them as Arrow IPC, splits claimed from the scheduler. Every answer must
// equal the single-node engine's; the tasks must have been spread over
// all workers and be gone from them afterwards.
func TestDistributedFlightTPCH(t *testing.T) {
	// One batch per queue at a time: the most back-pressure there can be.
	defer func(old int64) { exec.DefaultQueueBytes = old }(exec.DefaultQueueBytes)
	exec.DefaultQueueBytes = 1
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	db := openTPCH(t, Options{Allocator: mem})
	cl := startFlightCluster(t, mem, 3)
	ctx := context.Background()
	used := map[string]bool{}
	for _, opts := range []planner.FragmentOptions{
		{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 1e12},
		{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 0},
	} {
		for n := 1; n <= 22; n++ {
			t.Run(fmt.Sprintf("q%02d/broadcast=%v", n, opts.BroadcastRows > 0), func(t *testing.T) {
				q, err := tpch.Query(n)
				if err != nil {
					t.Fatal(err)
				}
				want, err := collect(t, db, ctx, q, nil)
				if err != nil {
					t.Fatal(err)
				}
				g := fragmentQuery(t, db, q, opts)
				res, err := cl.sched.Run(ctx, g, cl.workers(), coordinator.RunOptions{Parallelism: 2})
				if err != nil {
					t.Fatal(err)
				}
				got := drainRows(t, ctx, res.Next, res.Close)
				res.Close()
				for _, st := range res.Placement {
					for _, w := range st {
						used[w] = true
					}
				}
				sameRows(t, fmt.Sprintf("over Flight (%d stages)", len(g.Stages)), got, want)
			})
		}
	}
	if len(used) != len(cl.workers()) {
		t.Errorf("tasks ran on %d of %d workers", len(used), len(cl.workers()))
	}
	for i, svc := range cl.svcs {
		if n := svc.Tasks(); n != 0 {
			t.Errorf("worker %d still holds %d tasks", i, n)
		}
	}
	mem.AssertSize(t, 0)
}

// planQuery binds and optimizes the last statement of q.
func planQuery(t *testing.T, db *DB, q string) planner.Node {
	t.Helper()
	stmts, err := sql.Parse(q)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sql.Bind(db.cat, stmts[len(stmts)-1], nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := optimize(st.Query)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

// fragmentQuery binds, optimizes and cuts a query.
func fragmentQuery(t *testing.T, db *DB, q string, opts planner.FragmentOptions) *planner.FragmentGraph {
	t.Helper()
	g, err := planner.Fragment(planQuery(t, db, q), opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestEmbeddedCluster opens a DB with 3 in-process workers
// (Options.Workers): the 22 queries through the ordinary API equal the
// single-node answers, and CREATE TABLE AS runs its query on the cluster.
func TestEmbeddedCluster(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	single := openTPCH(t, Options{})
	db := openTPCH(t, Options{Allocator: mem, Workers: 3,
		Fragment: planner.FragmentOptions{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 5000}})
	ctx := context.Background()
	for n := 1; n <= 22; n++ {
		q, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		want, err := collect(t, single, ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := collect(t, db, ctx, q, nil)
		if err != nil {
			t.Fatalf("q%02d: %v", n, err)
		}
		sameRows(t, fmt.Sprintf("q%02d on the cluster", n), got, want)
	}
	if err := db.Exec(ctx, "CREATE TABLE big_orders AS SELECT o_orderkey, o_totalprice FROM orders WHERE o_totalprice > 300000"); err != nil {
		t.Fatal(err)
	}
	a, err := collect(t, db, ctx, "SELECT count(*), sum(o_totalprice) FROM big_orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := collect(t, single, ctx, "SELECT count(*), sum(o_totalprice) FROM orders WHERE o_totalprice > 300000", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a[0] != b[0] {
		t.Fatalf("CREATE TABLE AS on the cluster: %v, want %v", a, b)
	}
	db.Close()
	mem.AssertSize(t, 0)
}

// TestAddTasksToRunningScan starts Q1, Q6 and Q14 with their scan stage
// on one task, then adds two tasks to the running stage (Q14's also reads
// part through a broadcast exchange, whose producer serves the new
// consumers its whole output): the answers equal the single-node
// engine's and the added tasks read splits (per-task claim counts).
// Claims are slowed to 30 ms so the scan outlasts the addition.
func TestAddTasksToRunningScan(t *testing.T) {
	db := openTPCH(t, Options{})
	cl := startFlightCluster(t, memory.NewGoAllocator(), 3)
	for _, svc := range cl.svcs {
		svc.ClaimDelay = 30 * time.Millisecond
	}
	ctx := context.Background()
	for _, n := range []int{1, 6, 14} {
		q, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		want, err := collect(t, db, ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := fragmentQuery(t, db, q, planner.FragmentOptions{MaxTasks: 1, RowsPerTask: 1 << 30, BroadcastRows: 1e12})
		scan := -1
		for _, st := range g.Stages {
			if planner.HasScan(st.Root) && !st.Single {
				scan = st.ID
			}
		}
		if scan < 0 {
			t.Fatalf("q%d: no scan stage:\n%s", n, planner.ExplainDistributed(g))
		}
		// Q14's lineitem stage also reads part through a broadcast: the
		// added tasks are new consumers of that running producer.
		if n == 14 && !strings.Contains(planner.ExplainDistributed(g), "Exchange broadcast") {
			t.Fatalf("q14: no broadcast input:\n%s", planner.ExplainDistributed(g))
		}
		res, err := cl.sched.Run(ctx, g, cl.workers(), coordinator.RunOptions{Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := res.AddTasks(ctx, scan, 2); err != nil {
			res.Close()
			t.Fatal(err)
		}
		got := drainRows(t, ctx, res.Next, res.Close)
		counts := res.SplitCounts(scan)
		res.Close()
		sameRows(t, fmt.Sprintf("q%d with added tasks", n), got, want)
		if len(counts) != 3 || counts[1] == 0 || counts[2] == 0 {
			t.Fatalf("q%d: splits per task %v: the added tasks read nothing", n, counts)
		}
		t.Logf("q%d: splits per task of the scan stage %v", n, counts)
	}
}

// TestSplitAggregates runs aggregates that the fragmenter splits into a
// partial aggregate per task and a final one (count, sum, avg, min, max,
// bool_and/bool_or over integers, numerics, doubles, text and booleans,
// NULL groups and NULL values, empty tasks and an empty input) on an
// embedded 3-worker cluster: the answers equal the single-node engine's,
// and EXPLAIN (DISTRIBUTED) shows the split.
func TestSplitAggregates(t *testing.T) {
	ctx := context.Background()
	single, err := Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	dir := t.TempDir()
	// Two files, so the scan has several splits and tasks get different rows.
	for i, r := range [][2]int{{0, 6000}, {6000, 9001}} {
		q := fmt.Sprintf(`COPY (SELECT CASE WHEN x %% 7 = 0 THEN NULL ELSE x %% 5 END AS g,
			CASE WHEN x %% 11 = 0 THEN NULL ELSE x::integer END AS i, x * 1000003 AS b,
			(x %% 997)::numeric(12,2) / 7 AS d, CASE WHEN x %% 13 = 0 THEN NULL ELSE x / 3.0::double precision END AS f,
			x %% 3 = 0 AS flag, 'v' || (x %% 101)::text AS s
			FROM generate_series(%d, %d) AS t(x)) TO '%s/part%d.parquet' (FORMAT parquet)`, r[0], r[1]-1, dir, i)
		if err := single.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := Open(Options{Workers: 3, Fragment: planner.FragmentOptions{MaxTasks: 3, RowsPerTask: 100}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, db := range []*DB{single, cl} {
		if err := db.RegisterTable("t", dir); err != nil {
			t.Fatal(err)
		}
	}
	const aggs = `count(*), count(i), sum(i), sum(b), sum(d), sum(f), avg(i), avg(b), avg(d), avg(f),
		min(s), max(s), min(d), max(f), min(i), bool_and(flag), bool_or(flag), count(DISTINCT g)`
	plain := strings.Replace(aggs, ", count(DISTINCT g)", "", 1)
	for _, c := range []struct {
		q     string
		split bool
	}{
		{"SELECT g, " + plain + " FROM t GROUP BY g ORDER BY g", true},
		{"SELECT " + plain + " FROM t", true},
		{"SELECT " + plain + " FROM t WHERE i < 0", true}, // no rows: one partial row per task
		{"SELECT s, g, avg(d), max(i) FROM t GROUP BY s, g ORDER BY s, g", true},
		{"SELECT g, count(*), sum(i) FROM t WHERE i < 0 GROUP BY g", false}, // too few rows to gain
		{"SELECT " + aggs + " FROM t", false},                               // DISTINCT
	} {
		q := c.q
		want, err := collect(t, single, ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := collect(t, cl, ctx, q, nil)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		sameRows(t, fmt.Sprintf("%s\non the cluster", q), got, want)
		plan, err := collect(t, cl, ctx, "EXPLAIN (DISTRIBUTED) "+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		if split := strings.Count(strings.Join(plan, "\n"), "Aggregate") == 2; split != c.split {
			t.Errorf("%s: split %v, want %v:\n%s", q, split, c.split, strings.Join(plan, "\n"))
		}
	}
}

// TestSetParallelismOfRunningQuery changes the task count of a running
// distributed query through SQL from another session: CALL
// set_parallelism grows Q1's and Q6's scan stage from 1 task to 3 (the
// added tasks read splits) and shrinks Q1's from 3 to 1 (the retired
// tasks, stopped while they read, take no split after it, the last one
// reads the rest); SHOW
// queries reports the new counts; every answer equals the single node's.
// Claims are slowed to 40 ms so the scans outlast the change.
func TestSetParallelismOfRunningQuery(t *testing.T) {
	single := openTPCH(t, Options{})
	db := openTPCH(t, Options{Workers: 3, Fragment: planner.FragmentOptions{MaxTasks: 1, RowsPerTask: 1 << 30}})
	for _, svc := range db.cluster.svcs {
		svc.ClaimDelay = 40 * time.Millisecond
	}
	ctx := context.Background()
	admin := db.NewSession()
	for _, c := range []struct{ q, from, to int }{{1, 1, 3}, {6, 1, 3}, {1, 3, 1}} {
		q, err := tpch.Query(c.q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := collect(t, single, ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.cluster.frag = planner.FragmentOptions{MaxTasks: c.from, RowsPerTask: 1}
		var res *coordinator.Result
		var atChange []int
		var shown, progress string
		got, err := collect(t, db, ctx, q, func(id string) {
			db.mu.Lock()
			res = db.running[id].result()
			db.mu.Unlock()
			// Shrinking: wait until every task is reading, so the retired
			// ones are stopped mid-scan.
			for deadline := time.Now().Add(5 * time.Second); c.to < c.from && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
				if slices.Min(res.SplitCounts(0)) > 0 {
					break
				}
			}
			if _, err := admin.Exec(ctx, fmt.Sprintf("CALL set_parallelism('%s', %d)", id, c.to)); err != nil {
				t.Errorf("q%d: %v", c.q, err)
			}
			atChange = res.SplitCounts(0)
			rows, err := admin.Query(ctx, "SHOW queries")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Release()
			for rows.Next() {
				b := rows.RecordBatch()
				for r := 0; r < int(b.NumRows()); r++ {
					if b.Column(0).ValueStr(r) == id {
						shown = b.Column(2).ValueStr(r)
						progress = b.Column(4).ValueStr(r)
					}
				}
			}
		})
		if err != nil {
			t.Fatalf("q%d: %v", c.q, err)
		}
		sameRows(t, fmt.Sprintf("q%d from %d to %d tasks", c.q, c.from, c.to), got, want)
		if !strings.HasPrefix(shown, fmt.Sprintf("0:%d,", c.to)) {
			t.Errorf("q%d: SHOW queries says tasks %q, want stage 0 at %d", c.q, shown, c.to)
		}
		// Q1's final aggregation reads a hash exchange: an elastic stage,
		// which sends nothing before its input ends, so it follows too.
		g := fragmentQuery(t, db, q, db.cluster.frag)
		if c.q == 1 && (!g.Stages[1].Elastic || !strings.Contains(shown, fmt.Sprintf(",1:%d,", c.to))) {
			t.Errorf("q1: SHOW queries says tasks %q, want the elastic stage 1 at %d:\n%s", shown, c.to, planner.ExplainDistributed(g))
		}
		// Shrinking, SHOW queries came after every task had claimed.
		var claimed, total int
		if _, err := fmt.Sscanf(progress, "0:%d/%d", &claimed, &total); c.to < c.from && (err != nil || claimed < c.from || claimed > total) {
			t.Errorf("q%d: SHOW queries says splits %q, want stage 0's claimed (at least %d) of its total", c.q, progress, c.from)
		}
		counts := res.SplitCounts(0)
		t.Logf("q%d %d->%d tasks: splits per task %v (at the change %v)", c.q, c.from, c.to, counts, atChange)
		if len(counts) != max(c.from, c.to) {
			t.Fatalf("q%d: %d tasks ran, want %d", c.q, len(counts), max(c.from, c.to))
		}
		if c.to > c.from {
			for k := c.from; k < c.to; k++ {
				if counts[k] == 0 {
					t.Errorf("q%d: added task %d read no split", c.q, k)
				}
			}
		} else {
			for k := c.to; k < c.from; k++ {
				if counts[k] > atChange[k]+1 { // a claim in flight at the change may land
					t.Errorf("q%d: retired task %d read %d splits after the change", c.q, k, counts[k]-atChange[k])
				}
			}
			if counts[0] <= atChange[0] {
				t.Errorf("q%d: the remaining task read nothing after the change (%v then %v)", c.q, atChange, counts)
			}
		}
	}
	if _, err := admin.Exec(ctx, "CALL set_parallelism('q999999', 2)"); err == nil || !strings.Contains(err.Error(), "no running query") {
		t.Errorf("an unknown query: %v", err)
	}
	if _, err := admin.Exec(ctx, "CALL nosuch(1)"); err == nil || !strings.Contains(err.Error(), "procedure nosuch does not exist") {
		t.Errorf("an unknown procedure: %v", err)
	}
}

// TestEarlyFinishingTasksFreeProducers runs a LIMIT over a partitioned
// join with one batch per exchange queue: each join task stops after its
// first rows, while the scans that feed it also feed the other join
// tasks. A finished task must drop its inputs, or the shared producers
// wait on it for ever (in process they do; over Flight the same fix ends
// the task's fetches, though at this size gRPC's flow-control windows
// absorb the rest of the input anyway).
func TestEarlyFinishingTasksFreeProducers(t *testing.T) {
	defer func(old int64) { exec.DefaultQueueBytes = old }(exec.DefaultQueueBytes)
	exec.DefaultQueueBytes = 1
	db := openTPCH(t, Options{})
	cl := startFlightCluster(t, memory.NewGoAllocator(), 3)
	const q = "SELECT l_orderkey, o_orderdate FROM lineitem JOIN orders ON l_orderkey = o_orderkey LIMIT 7"
	g := fragmentQuery(t, db, q, planner.FragmentOptions{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 0})
	if !strings.Contains(planner.ExplainDistributed(g), "Exchange hash") {
		t.Fatalf("the join is not partitioned:\n%s", planner.ExplainDistributed(g))
	}
	for _, where := range []string{"in process", "over Flight"} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		var got []string
		switch where {
		case "in process":
			run, err := worker.RunLocal(ctx, g, worker.LocalOptions{
				NewQuery: func() *exec.QueryContext { return exec.NewQueryContext(memory.NewGoAllocator(), 0, 2) },
			})
			if err != nil {
				t.Fatal(err)
			}
			got = drainRows(t, ctx, run.Next, run.Close)
			if err := run.Wait(); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		default:
			res, err := cl.sched.Run(ctx, g, cl.workers(), coordinator.RunOptions{Parallelism: 2})
			if err != nil {
				t.Fatal(err)
			}
			got = drainRows(t, ctx, res.Next, res.Close)
			res.Close()
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: the query hung (producers waiting on finished tasks)", where)
		}
		cancel()
		if len(got) != 7 {
			t.Fatalf("%s: %d rows, want 7", where, len(got))
		}
	}
}

// TestLostWorkerTasksRerun stops one of 3 in-process workers (its gRPC
// server closes every connection, as a crash would) in the middle of Q1
// and Q6, once its scan task has claimed splits. That worker runs only
// scan tasks, whose stage (scan and partial aggregate) is replayable:
// the coordinator re-runs the lost task on another worker, on the splits
// it had claimed, and the consumers read the re-run instead. The answers
// equal the single node's, with one task re-run and no query restart.
func TestLostWorkerTasksRerun(t *testing.T) {
	single := openTPCH(t, Options{})
	ctx := context.Background()
	for _, n := range []int{1, 6} {
		db := openTPCH(t, Options{Workers: 3, Fragment: planner.FragmentOptions{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 5000}})
		for _, svc := range db.cluster.svcs {
			svc.ClaimDelay = 40 * time.Millisecond
		}
		q, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		want, err := collect(t, single, ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := fragmentQuery(t, db, q, db.cluster.frag)
		if !g.Stages[0].Replayable || g.Stages[0].Tasks != 3 {
			t.Fatalf("q%d: want a replayable scan stage of 3 tasks:\n%s", n, planner.ExplainDistributed(g))
		}
		var victim string
		got, err := collect(t, db, ctx, q, func(id string) {
			db.mu.Lock()
			res := db.running[id].result()
			db.mu.Unlock()
			place := res.Tasks()
			// The worker of the scan stage's last task, if it runs
			// nothing else.
			victim = place[0][2]
			for st := 1; st < len(place); st++ {
				if slices.Contains(place[st], victim) {
					t.Fatalf("q%d: %s also runs stage %d: %v", n, victim, st, place)
				}
			}
			for deadline := time.Now().Add(5 * time.Second); res.SplitCounts(0)[2] == 0; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("q%d: the scan task on %s claimed nothing", n, victim)
				}
			}
			db.cluster.stopWorker(slices.Index(db.cluster.addrs, victim))
		})
		if err != nil {
			t.Fatalf("q%d after losing %s: %v", n, victim, err)
		}
		sameRows(t, fmt.Sprintf("q%d after losing %s", n, victim), got, want)
		if r := db.cluster.sched.TaskRetries(); r != 1 {
			t.Errorf("q%d: %d tasks re-run, want 1", n, r)
		}
		if r := db.Retries(); r != 0 {
			t.Errorf("q%d: the query was restarted %d times; only the lost task should run again", n, r)
		}
		db.Close()
	}
}

// TestWorkerJoinsRunningQuery starts Q1 and Q6 on 2 of 3 in-process
// workers, then lets the third join the cluster while the scan runs: the
// running query adds a scan task on it by itself, that task reads
// splits, and the answers equal the single node's.
func TestWorkerJoinsRunningQuery(t *testing.T) {
	single := openTPCH(t, Options{})
	db := openTPCH(t, Options{Workers: 3, Fragment: planner.FragmentOptions{MaxTasks: 2, RowsPerTask: 1000, BroadcastRows: 5000}})
	for _, svc := range db.cluster.svcs {
		svc.ClaimDelay = 40 * time.Millisecond
	}
	ctx := context.Background()
	for _, n := range []int{1, 6} {
		db.cluster.setDown(2, true)
		q, err := tpch.Query(n)
		if err != nil {
			t.Fatal(err)
		}
		want, err := collect(t, single, ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		var res *coordinator.Result
		got, err := collect(t, db, ctx, q, func(id string) {
			db.mu.Lock()
			res = db.running[id].result()
			db.mu.Unlock()
			if slices.Contains(res.Workers(), db.cluster.addrs[2]) {
				t.Fatalf("q%d started on the worker that has not joined yet", n)
			}
			db.cluster.setDown(2, false)
		})
		if err != nil {
			t.Fatalf("q%d: %v", n, err)
		}
		sameRows(t, fmt.Sprintf("q%d with a worker joining", n), got, want)
		place, counts := res.Tasks()[0], res.SplitCounts(0)
		t.Logf("q%d: scan tasks on %v read %v splits", n, place, counts)
		// One task per growable stage: the scan's, and the final
		// aggregation's (elastic) when it took buckets.
		if res.Grown() < 1 || len(place) != 3 || place[2] != db.cluster.addrs[2] {
			t.Fatalf("q%d: %d tasks added, scan stage on %v; want one more on %s", n, res.Grown(), place, db.cluster.addrs[2])
		}
		if counts[2] == 0 {
			t.Fatalf("q%d: the task on the joined worker read no split (%v)", n, counts)
		}
	}
}

// TestExplainAnalyzeDistributed runs Q1 with EXPLAIN (DISTRIBUTED,
// ANALYZE) on an embedded 3-worker cluster: every stage reports the tasks
// that ran (from the workers' task_stats), the scan stage the splits it
// read, and the last stage as many rows as the query returns.
func TestExplainAnalyzeDistributed(t *testing.T) {
	db := openTPCH(t, Options{Workers: 3, Fragment: planner.FragmentOptions{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 5000}})
	ctx := context.Background()
	q, err := tpch.Query(1)
	if err != nil {
		t.Fatal(err)
	}
	want, err := collect(t, db, ctx, q, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := collect(t, db, ctx, "EXPLAIN (DISTRIBUTED, ANALYZE) "+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(out, "\n")
	g := fragmentQuery(t, db, q, db.cluster.frag)
	actual := regexp.MustCompile(`actual: (\d+) tasks ran, (\d+) rows out, slowest task [^,]+(, (\d+) splits read)?`).FindAllStringSubmatch(text, -1)
	if len(actual) != len(g.Stages) {
		t.Fatalf("%d stage reports for %d stages:\n%s", len(actual), len(g.Stages), text)
	}
	// Stages are printed last first.
	last, scan := actual[0], actual[len(actual)-1]
	if last[2] != fmt.Sprint(len(want)) {
		t.Errorf("the last stage sent %s rows, the query returns %d:\n%s", last[2], len(want), text)
	}
	if scan[1] != "3" || scan[4] == "" || scan[4] == "0" {
		t.Errorf("the scan stage: %q, want 3 tasks that read splits:\n%s", scan[0], text)
	}
	if !regexp.MustCompile(fmt.Sprintf(`\n%d rows in `, len(want))).MatchString(text) {
		t.Errorf("no total line:\n%s", text)
	}
	t.Log("\n" + text)
	if _, err := collect(t, openTPCH(t, Options{}), ctx, "EXPLAIN (DISTRIBUTED, ANALYZE) "+q, nil); err == nil || !strings.Contains(err.Error(), "needs a cluster") {
		t.Errorf("without a cluster: %v", err)
	}
}

// sameRows fails the test when a distributed answer differs from the
// single node's, showing both.
func sameRows(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDistributedNullAwareJoins runs IN and NOT IN subqueries whose
// answers hinge on NULLs (a NULL probe key against a non-empty subquery
// is NULL; NOT IN against a subquery holding a NULL is never true) on a
// cluster that would otherwise partition every join: each probe task
// must see the whole subquery, or tasks whose part of it is empty or
// NULL-free answer FALSE or TRUE. The answers equal the single node's.
func TestDistributedNullAwareJoins(t *testing.T) {
	single := openTPCH(t, Options{})
	db := openTPCH(t, Options{Workers: 3, Fragment: planner.FragmentOptions{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 0}})
	ctx := context.Background()
	for _, q := range []string{
		"SELECT o_orderkey, (CASE WHEN o_orderkey % 7 = 0 THEN NULL ELSE o_custkey END) IN (SELECT c_custkey FROM customer WHERE c_nationkey = 3) AS m FROM orders ORDER BY o_orderkey",
		"SELECT count(*) FROM orders WHERE o_custkey NOT IN (SELECT CASE WHEN c_custkey % 100 = 0 THEN NULL ELSE c_custkey END FROM customer)",
		"SELECT count(*) FROM orders WHERE o_custkey NOT IN (SELECT c_custkey FROM customer WHERE c_nationkey = 3)",
		"SELECT n_name, (CASE WHEN n_nationkey = 3 THEN NULL ELSE 'x' END) IN (SELECT 'a' FROM orders) AS m FROM nation ORDER BY n_name",
	} {
		want, err := collect(t, single, ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := collect(t, db, ctx, q, nil)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		sameRows(t, q, got, want)
	}
}

// TestDistributedErrorFailsFast checks that a task's error (an overflow
// in a replayable sort stage, whose consumers would wait for a re-run of
// a lost producer) fails the query at once with the engine's message,
// rather than after the wait for a re-run.
func TestDistributedErrorFailsFast(t *testing.T) {
	db := openTPCH(t, Options{Workers: 3, Fragment: planner.FragmentOptions{MaxTasks: 3, RowsPerTask: 1000, BroadcastRows: 5000}})
	ctx := context.Background()
	const q = "SELECT l_orderkey * 9223372036854775807 AS x FROM lineitem ORDER BY 1"
	g := fragmentQuery(t, db, q, db.cluster.frag)
	if !g.Stages[0].Replayable {
		t.Fatalf("want a replayable first stage:\n%s", planner.ExplainDistributed(g))
	}
	start := time.Now()
	_, err := collect(t, db, ctx, q, nil)
	if err == nil || !regexp.MustCompile(`^bigint out of range \(task q[0-9a-f]+\.0\.\d+ on 127\.0\.0\.1:\d+\)$`).MatchString(err.Error()) {
		t.Fatalf("got %v, want the overflow, naming the task and its worker", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the error took %v to arrive", d)
	}
}

// TestElasticStageChangesTasks grows and shrinks running stages that read
// hash exchanges (elastic stages: a final aggregation, and a partitioned
// join under a partial aggregation) after they have taken in rows: the
// tasks that hand over or take buckets restart on their new ranges, the
// producers serve their kept output from the start, and the answers
// equal the single node's. Task stats show the restarts, that added
// tasks sent rows and that retired ones sent none. Claims are slowed to
// 30 ms so the scans outlast the change.
func TestElasticStageChangesTasks(t *testing.T) {
	db := openTPCH(t, Options{})
	cl := startFlightCluster(t, memory.NewGoAllocator(), 3)
	for _, svc := range cl.svcs {
		svc.ClaimDelay = 30 * time.Millisecond
	}
	ctx := context.Background()
	agg := "SELECT l_orderkey, sum(l_quantity) AS q, count(*) AS n FROM lineitem GROUP BY l_orderkey ORDER BY q DESC, l_orderkey LIMIT 20"
	join := "SELECT o_orderpriority, count(*), sum(l_quantity) FROM orders, lineitem WHERE o_orderkey = l_orderkey GROUP BY o_orderpriority ORDER BY o_orderpriority"
	for _, c := range []struct {
		name, sql string
		from, to  int
	}{{"aggregate", agg, 2, 4}, {"join", join, 2, 3}, {"aggregate", agg, 3, 1}, {"join", join, 3, 2}, {"aggregate", agg, 1, 8}} {
		what := fmt.Sprintf("%s from %d to %d tasks", c.name, c.from, c.to)
		want, err := collect(t, db, ctx, c.sql, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := fragmentQuery(t, db, c.sql, planner.FragmentOptions{MaxTasks: c.from, RowsPerTask: 1, KeepRows: 1 << 30})
		elastic, scan := -1, -1
		for _, st := range g.Stages {
			if st.Elastic && elastic < 0 {
				elastic = st.ID
			}
			if planner.HasScan(st.Root) {
				scan = st.ID
			}
		}
		if elastic < 0 || g.Stages[elastic].Tasks != c.from {
			t.Fatalf("%s: want an elastic stage of %d tasks:\n%s", what, c.from, planner.ExplainDistributed(g))
		}
		res, err := cl.sched.Run(ctx, g, cl.workers(), coordinator.RunOptions{Parallelism: 1})
		if err != nil {
			t.Fatal(err)
		}
		// Change once the elastic tasks have had rows to take in.
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if n := res.SplitCounts(scan); len(n) > 0 && slices.Max(n) >= 2 {
				break
			}
		}
		if c.to > c.from {
			err = res.AddTasks(ctx, elastic, c.to-c.from)
		} else {
			var n int
			n, err = res.RetireTasks(ctx, elastic, c.from-c.to)
			if err == nil && n != c.from-c.to {
				err = fmt.Errorf("retired %d tasks, want %d", n, c.from-c.to)
			}
		}
		if err != nil {
			res.Close()
			t.Fatalf("%s: %v", what, err)
		}
		if got := res.ActiveTasks()[elastic]; got != c.to {
			t.Errorf("%s: %d active tasks after the change", what, got)
		}
		got := drainRows(t, ctx, res.Next, res.Close)
		stats := res.Stats(ctx)
		res.Close()
		sameRows(t, what, got, want)
		var rows []int64
		var runs []int32
		for _, st := range stats {
			if int(st.Stage) == elastic {
				rows, runs = append(rows, st.RowsOut), append(runs, st.Runs)
			}
		}
		t.Logf("%s: rows out per task %v, runs %v", what, rows, runs)
		if len(rows) != max(c.from, c.to) || slices.Max(runs) < 2 {
			t.Fatalf("%s: %d tasks ran %v times: want %d, some restarted", what, len(rows), runs, max(c.from, c.to))
		}
		sending := 0
		for k, n := range rows {
			if n > 0 {
				sending++
			} else if k >= c.from {
				t.Errorf("%s: added task %d sent no rows", what, k)
			}
		}
		if sending != c.to {
			t.Errorf("%s: %d tasks sent rows, want %d", what, sending, c.to)
		}
	}
}

// TestLostWorkerTasksRerunThroughKeptOutputs stops one of 3 in-process
// workers in the middle of queries whose stages are neither replayable nor
// single: scans that stream rows into kept hash outputs, and elastic
// stages (an aggregation, a partitioned join) reading them. The victim
// runs a task of each such stage and nothing else. The lost scan tasks
// run again on their claimed splits, the lost elastic tasks on their
// buckets, and the elastic tasks on live workers restart on the re-runs
// (none has sent rows yet): the answers equal the single node's, with
// tasks re-run and no query restart.
func TestLostWorkerTasksRerunThroughKeptOutputs(t *testing.T) {
	single := openTPCH(t, Options{})
	ctx := context.Background()
	agg := "SELECT l_orderkey, sum(l_quantity) AS q, count(*) AS n FROM lineitem GROUP BY l_orderkey ORDER BY q DESC, l_orderkey LIMIT 20"
	join := "SELECT o_orderpriority, count(*), sum(l_quantity) FROM orders, lineitem WHERE o_orderkey = l_orderkey GROUP BY o_orderpriority ORDER BY o_orderpriority"
	// The join's tasks send rows once the orders scan has ended: lost
	// early, none has; lost late, they take them back (their consumers,
	// the elastic final aggregation, restart too). claims: lineitem
	// splits the stage has handed out at the loss.
	for _, c := range []struct {
		q      string
		claims int
	}{{agg, 2}, {join, 1}, {join, 12}} {
		q := c.q
		frag := planner.FragmentOptions{MaxTasks: 3, RowsPerTask: 1, KeepRows: 1 << 30}
		db := openTPCH(t, Options{Workers: 3, Fragment: frag})
		for _, svc := range db.cluster.svcs {
			svc.ClaimDelay = 40 * time.Millisecond
		}
		want, err := collect(t, single, ctx, q, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := fragmentQuery(t, db, q, frag)
		elastic := 0
		for _, st := range g.Stages {
			if st.Elastic {
				elastic++
			}
		}
		if elastic == 0 {
			t.Fatalf("no elastic stage:\n%s", planner.ExplainDistributed(g))
		}
		var victim string
		var lost int
		got, err := collect(t, db, ctx, q, func(id string) {
			db.mu.Lock()
			res := db.running[id].result()
			db.mu.Unlock()
			place := res.Tasks()
			// A worker that runs only tasks of leaf and elastic stages.
			for _, w := range db.cluster.addrs {
				ok, n := true, 0
				for st, ws := range place {
					if slices.Contains(ws, w) {
						n++
						leaf := !strings.Contains(planner.Explain(g.Stages[st].Root, nil), "Exchange")
						ok = ok && (leaf || g.Stages[st].Elastic)
					}
				}
				if ok && n >= 2 {
					victim, lost = w, n
					break
				}
			}
			if victim == "" {
				t.Fatalf("no worker runs only leaf and elastic tasks: %v\n%s", place, planner.ExplainDistributed(g))
			}
			// Claims of the whole stage: per task they spread evenly (6
			// from one task may never come).
			claimed := func() int {
				n := 0
				for _, k := range res.SplitCounts(0) {
					n += k
				}
				return n
			}
			for deadline := time.Now().Add(5 * time.Second); claimed() < c.claims; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the scan claimed %d splits, not %d", claimed(), c.claims)
				}
			}
			db.cluster.stopWorker(slices.Index(db.cluster.addrs, victim))
		})
		if err != nil {
			t.Fatalf("after losing %s: %v\n%s", victim, err, q)
		}
		sameRows(t, fmt.Sprintf("%s after losing %s", q, victim), got, want)
		retries := db.cluster.sched.TaskRetries()
		t.Logf("lost %s with %d tasks after %d claims: %d tasks re-run, %d restarted taking back rows, %d query restarts", victim, lost, c.claims, retries, db.cluster.sched.TakenBack(), db.Retries())
		if retries < int64(lost) {
			t.Errorf("%d tasks re-run, want the %d lost", retries, lost)
		}
		if r := db.Retries(); r != 0 {
			t.Errorf("the query was restarted %d times; only the lost tasks should run again", r)
		}
		db.Close()
	}
}
