package planner

import (
	"fmt"
	"math"
	"strings"

	"github.com/bellows-db/bellows/kernels"
)

// Distributed plans: Fragment cuts an optimized plan at exchanges into
// stages. A stage is a plan whose leaves are scans (split among its tasks),
// constant sources, or Exchange nodes reading another stage's output; its
// tasks run the same plan on different parts of the data. Every stage but
// the last sends its output to exactly one consumer stage, partitioned as
// its Output says; the last stage's output goes to the client.

// ExchangeKind says how a stage's rows reach the tasks of its consumer.
type ExchangeKind uint8

// Exchange kinds.
const (
	// ExchangeGather sends every row to the consumer's only task.
	ExchangeGather ExchangeKind = iota
	// ExchangeHash sends a row to the task that owns the hash of its Keys
	// (through JoinPartitions-style virtual buckets, so tasks can be added).
	ExchangeHash
	// ExchangeBroadcast sends every row to every consumer task.
	ExchangeBroadcast
	// ExchangeRoundRobin spreads rows evenly over the consumer's tasks.
	ExchangeRoundRobin
)

func (k ExchangeKind) String() string {
	return [...]string{"gather", "hash", "broadcast", "round-robin"}[k]
}

// Exchange is a stage's input: the output of stage Stage, as it arrives
// partitioned by Kind (hash on Keys, columns of Cols).
type Exchange struct {
	Stage int          `json:"stage"`
	Kind  ExchangeKind `json:"kind"`
	Keys  []ColumnID   `json:"keys,omitempty"`
	Cols  []Column     `json:"cols"`
	Est   float64      `json:"est"` // the producer's estimated rows
	Merge []SortKey    `json:"merge,omitempty"`
}

func (n *Exchange) Columns() []Column           { return n.Cols }
func (n *Exchange) Children() []Node            { return nil }
func (n *Exchange) WithChildren(ch []Node) Node { c := *n; return &c }

// Stage is one fragment of a distributed plan.
type Stage struct {
	ID   int  `json:"id"`
	Root Node `json:"root"`
	// Output is how the stage's rows go to its consumer (the stage whose
	// Exchange names this one); the last stage's output goes to the client.
	Output ExchangeKind `json:"output"`
	Keys   []ColumnID   `json:"keys,omitempty"` // of a hash output
	// Tasks is the suggested number of tasks, from estimates (1 for a
	// stage whose input arrives gathered).
	Tasks int `json:"tasks"`
	// Single says the stage must run as one task (its input is gathered).
	Single bool `json:"single,omitempty"`
	// Replayable says a lost task of the stage can be run again alone: it
	// reads no other stage (only scan splits, which the coordinator
	// records per task) and emits nothing before it has read all its
	// input (a blocking root: aggregate, sort, top-N), so its consumers
	// hold each task's output until it is complete, and a re-run on the
	// same splits yields the same output.
	Replayable bool `json:"replayable,omitempty"`
	// Kept says the stage's hash output is kept whole, cut into buckets
	// (exec.KeptBuffer), until the query ends: its consumer stage is
	// Elastic.
	Kept bool `json:"kept,omitempty"`
	// Elastic says the stage's task count can change while it runs: it
	// scans nothing, reads every hash input from Kept producers (each
	// task a range of buckets) and the others through broadcasts, so a
	// task that has not sent a row yet can hand buckets to a new task, or
	// take over a retired one's, by restarting on its new range.
	Elastic bool `json:"elastic,omitempty"`
}

// FragmentGraph is the stages of a plan, producers before consumers; the
// last stage's output is the query's result.
type FragmentGraph struct {
	Stages []*Stage `json:"stages"`
}

// TaskCounts returns each stage's task count: its Tasks (at least 1), or
// override's answer when override is set, and 1 for a single-task stage.
func (g *FragmentGraph) TaskCounts(override func(*Stage) int) []int {
	out := make([]int, len(g.Stages))
	for i, st := range g.Stages {
		switch {
		case st.Single:
			out[i] = 1
		case override != nil:
			out[i] = max(override(st), 1)
		default:
			out[i] = max(st.Tasks, 1)
		}
	}
	return out
}

// Links returns, for each stage, the stage that reads its output (-1 for
// the last, whose output is the result) and the stages it reads, in walk
// order. It fails unless every stage but the last feeds exactly one later
// stage.
func (g *FragmentGraph) Links() (consumer []int, inputs [][]int, err error) {
	n := len(g.Stages)
	if n == 0 {
		return nil, nil, fmt.Errorf("internal error: no stages")
	}
	consumer = make([]int, n)
	for i := range consumer {
		consumer[i] = -1
	}
	inputs = make([][]int, n)
	for _, st := range g.Stages {
		Walk(st.Root, func(x Node) {
			if ex, ok := x.(*Exchange); ok && err == nil {
				if ex.Stage < 0 || ex.Stage >= st.ID || consumer[ex.Stage] >= 0 {
					err = fmt.Errorf("internal error: stage %d read twice or out of order", ex.Stage)
					return
				}
				consumer[ex.Stage] = st.ID
				inputs[st.ID] = append(inputs[st.ID], ex.Stage)
			}
		})
		if err != nil {
			return nil, nil, err
		}
	}
	for s := range g.Stages[:n-1] {
		if consumer[s] < 0 {
			return nil, nil, fmt.Errorf("internal error: stage %d feeds no stage", s)
		}
	}
	return consumer, inputs, nil
}

// FragmentOptions steer the cut.
type FragmentOptions struct {
	// MaxTasks bounds a stage's task count (e.g. workers x cores); >= 1.
	MaxTasks int
	// RowsPerTask is the estimated input rows that justify one task.
	RowsPerTask float64
	// BroadcastRows is the largest estimated build side a join broadcasts
	// instead of hash-partitioning both sides.
	BroadcastRows float64
	// KeepRows is the largest estimated output per task of a hash
	// producer that is kept for its consumers (Stage.Kept), making the
	// consuming stage elastic; 0 means DefaultFragmentOptions', a
	// negative value keeps none.
	KeepRows float64
}

// DefaultFragmentOptions are used where no cluster shape is known.
var DefaultFragmentOptions = FragmentOptions{MaxTasks: 8, RowsPerTask: 1 << 20, BroadcastRows: 1 << 18, KeepRows: 1 << 21}

// partitioning describes how the rows of a stage's current subtree are
// spread over its tasks.
type partitioning struct {
	single bool       // one task holds all rows
	keys   []ColumnID // hash-partitioned on these columns (nil: arbitrary)
}

type fragmenter struct {
	opts   FragmentOptions
	es     *estimator
	stages []*Stage
	lastID ColumnID // the largest column ID in use (new columns go above)
}

// Fragment cuts n (an optimized plan) into stages.
func Fragment(n Node, opts FragmentOptions) (*FragmentGraph, error) {
	if opts.MaxTasks < 1 {
		opts.MaxTasks = 1
	}
	if opts.RowsPerTask <= 0 {
		opts.RowsPerTask = DefaultFragmentOptions.RowsPerTask
	}
	f := &fragmenter{opts: opts, es: newEstimator(), lastID: maxColumnID(n)}
	root, part, err := f.cut(n)
	if err != nil {
		return nil, err
	}
	f.finish(root, part, ExchangeGather, nil)
	g := &FragmentGraph{Stages: f.stages}
	if err := f.markElastic(g); err != nil {
		return nil, err
	}
	return g, nil
}

// markElastic makes the stages that can change their task count while
// they run Elastic, and their hash producers Kept (see Stage.Elastic):
// stages not bound to one task that scan nothing, read at least one hash
// input, every hash input from a producer whose estimated output per
// task is within KeepRows and not merge-sorted, and other inputs only
// through broadcasts.
func (f *fragmenter) markElastic(g *FragmentGraph) error {
	keep := f.opts.KeepRows
	if keep == 0 {
		keep = DefaultFragmentOptions.KeepRows
	}
	if keep < 0 {
		return nil
	}
	_, inputs, err := g.Links()
	if err != nil {
		return err
	}
	for _, st := range g.Stages {
		if st.Single || HasScan(st.Root) {
			continue
		}
		merged := false
		Walk(st.Root, func(n Node) {
			if ex, ok := n.(*Exchange); ok && len(ex.Merge) > 0 {
				merged = true
			}
		})
		hashed, ok := 0, !merged
		for _, in := range inputs[st.ID] {
			p := g.Stages[in]
			switch p.Output {
			case ExchangeHash:
				hashed++
				ok = ok && f.es.est(p.Root)/float64(max(p.Tasks, 1)) <= keep
			case ExchangeBroadcast:
			default:
				ok = false
			}
		}
		if !ok || hashed == 0 {
			continue
		}
		st.Elastic = true
		for _, in := range inputs[st.ID] {
			if g.Stages[in].Output == ExchangeHash {
				g.Stages[in].Kept = true
			}
		}
	}
	return nil
}

// finish makes root a stage with the given output and returns its ID.
func (f *fragmenter) finish(root Node, part partitioning, out ExchangeKind, keys []ColumnID) int {
	st := &Stage{ID: len(f.stages), Root: root, Output: out, Keys: keys, Single: part.single, Tasks: 1}
	if !part.single {
		st.Tasks = f.tasksFor(root)
	}
	st.Replayable = f.replayable(root, st.Tasks)
	f.stages = append(f.stages, st)
	return st.ID
}

// tasksFor sizes a stage from the rows it reads: its scans' and inputs'
// estimates.
func (f *fragmenter) tasksFor(root Node) int {
	var rows float64
	Walk(root, func(n Node) {
		switch x := n.(type) {
		case *Scan, *Values, *Series:
			rows += f.es.est(n)
		case *Exchange:
			rows += x.Est
		}
	})
	t := int(math.Ceil(rows / f.opts.RowsPerTask))
	return max(1, min(t, f.opts.MaxTasks))
}

// exchange ends the stage rooted at n (partitioned as part) with the
// given output and returns the Exchange that reads it.
func (f *fragmenter) exchange(n Node, part partitioning, kind ExchangeKind, keys []ColumnID) *Exchange {
	est := f.es.est(n)
	id := f.finish(n, part, kind, keys)
	return &Exchange{Stage: id, Kind: kind, Keys: keys, Cols: n.Columns(), Est: est}
}

// gather returns n gathered to one task (n itself if it already is).
func (f *fragmenter) gather(n Node, part partitioning) (Node, partitioning) {
	if part.single {
		return n, part
	}
	return f.exchange(n, part, ExchangeGather, nil), partitioning{single: true}
}

// hashed returns n hash-partitioned on keys (n itself if it already is).
func (f *fragmenter) hashed(n Node, part partitioning, keys []ColumnID) (Node, partitioning) {
	if part.single || sameKeys(part.keys, keys) {
		return n, part // one task, or already partitioned so
	}
	return f.exchange(n, part, ExchangeHash, keys), partitioning{keys: keys}
}

func sameKeys(a, b []ColumnID) bool {
	if len(a) == 0 || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// columnKeys returns the column IDs of es if every one is a plain column.
func columnKeys(es []*Expr) ([]ColumnID, bool) {
	keys := make([]ColumnID, len(es))
	for i, e := range es {
		if e.Kind != EColumn {
			return nil, false
		}
		keys[i] = e.Col
	}
	return keys, true
}

// keep returns part restricted to what n still outputs.
func keep(part partitioning, n Node) partitioning {
	if part.single || part.keys == nil {
		return part
	}
	out := colSet(n.Columns())
	for _, k := range part.keys {
		if !out[k] {
			return partitioning{}
		}
	}
	return part
}

// cut returns n's plan for the current stage and how its rows are spread.
func (f *fragmenter) cut(n Node) (Node, partitioning, error) {
	switch x := n.(type) {
	case *Scan:
		return x, partitioning{}, nil
	case *Values, *Series:
		return n, partitioning{single: true}, nil
	case *Filter, *Project:
		child, part, err := f.cut(n.Children()[0])
		if err != nil {
			return nil, part, err
		}
		out := n.WithChildren([]Node{child})
		return out, keep(part, out), nil
	case *Aggregate:
		child, part, err := f.cut(x.Input)
		if err != nil {
			return nil, part, err
		}
		keys, ok := columnKeys(x.Groups)
		if (len(x.Groups) == 0 || ok) && !part.single && !sameKeys(part.keys, keys) && f.splitAgg(x, child) {
			return f.partialFinal(x, child, part)
		}
		if len(x.Groups) == 0 || !ok {
			child, part = f.gather(child, part)
		} else {
			child, part = f.hashed(child, part, keys)
		}
		out := x.WithChildren([]Node{child})
		if part.single {
			return out, part, nil
		}
		ids := make([]ColumnID, len(x.GroupCols))
		for i, c := range x.GroupCols {
			ids[i] = c.ID
		}
		return out, partitioning{keys: ids}, nil
	case *Join:
		return f.join(x)
	case *Limit:
		if srt, ok := x.Input.(*Sort); ok {
			// Top-N: each task keeps its first Count+Offset rows in
			// order, one task merges them and applies the limit.
			child, part, err := f.cut(srt.Input)
			if err != nil {
				return nil, part, err
			}
			if !part.single && x.Count >= 0 {
				local := &Limit{Input: srt.WithChildren([]Node{child}), Count: x.Count + x.Offset}
				ex := f.exchange(local, part, ExchangeGather, nil)
				ex.Merge = srt.Keys
				child, part = ex, partitioning{single: true}
			} else {
				child, part = f.sorted(srt, child, part)
				return x.WithChildren([]Node{child}), part, nil
			}
			return x.WithChildren([]Node{srt.WithChildren([]Node{child})}), part, nil
		}
		child, part, err := f.cut(x.Input)
		if err != nil {
			return nil, part, err
		}
		if !part.single && x.Count >= 0 {
			local := &Limit{Input: child, Count: x.Count + x.Offset}
			child, part = f.exchange(local, part, ExchangeGather, nil), partitioning{single: true}
		} else {
			child, part = f.gather(child, part)
		}
		return x.WithChildren([]Node{child}), part, nil
	case *Sort:
		child, part, err := f.cut(x.Input)
		if err != nil {
			return nil, part, err
		}
		out, part := f.sorted(x, child, part)
		return out, part, nil
	case *Window:
		child, part, err := f.cut(x.Input)
		if err != nil {
			return nil, part, err
		}
		keys, ok := windowKeys(x)
		if ok {
			child, part = f.hashed(child, part, keys)
		} else {
			child, part = f.gather(child, part)
		}
		return x.WithChildren([]Node{child}), keep(part, x), nil
	case *SetOp, *EnforceSingleRow:
		ch := n.Children()
		out := make([]Node, len(ch))
		for i, c := range ch {
			cn, part, err := f.cut(c)
			if err != nil {
				return nil, part, err
			}
			out[i], _ = f.gather(cn, part)
		}
		return n.WithChildren(out), partitioning{single: true}, nil
	case *Exchange:
		return nil, partitioning{}, fmt.Errorf("internal error: plan already fragmented")
	}
	return nil, partitioning{}, fmt.Errorf("internal error: cannot fragment %T", n)
}

// sorted places sort s over child: sorted in each task, then merged on
// one task (the exchange keeps each task's order; the final sort merges).
func (f *fragmenter) sorted(s *Sort, child Node, part partitioning) (Node, partitioning) {
	if part.single {
		return s.WithChildren([]Node{child}), part
	}
	ex := f.exchange(s.WithChildren([]Node{child}), part, ExchangeGather, nil)
	ex.Merge = s.Keys
	return s.WithChildren([]Node{ex}), partitioning{single: true}
}

// windowKeys returns the PARTITION BY columns all window functions share.
func windowKeys(w *Window) ([]ColumnID, bool) {
	var keys []ColumnID
	for i, fn := range w.Funcs {
		k, ok := columnKeys(fn.PartitionBy)
		if !ok || len(k) == 0 || (i > 0 && !sameKeys(k, keys)) {
			return nil, false
		}
		keys = k
	}
	return keys, keys != nil
}

// join places a join: the build side broadcast to the probe side's tasks
// when it is small and the join kind allows (the build side's unmatched
// rows are never emitted), else both sides hash-partitioned on the
// equi-join columns; a keyless join that must see every build row once
// runs on one task.
func (f *fragmenter) join(j *Join) (Node, partitioning, error) {
	left, lpart, err := f.cut(j.Left)
	if err != nil {
		return nil, lpart, err
	}
	right, rpart, err := f.cut(j.Right)
	if err != nil {
		return nil, rpart, err
	}
	pairs := equiPairs(j)
	broadcastable := j.Kind == JoinInner || j.Kind == JoinLeft || j.Kind == JoinSemi ||
		j.Kind == JoinAnti || j.Kind == JoinMark || j.Kind == JoinSingle
	with := func(l, r Node, part partitioning) (Node, partitioning, error) {
		c := *j
		c.Left, c.Right = l, r
		return &c, keep(part, &c), nil
	}
	if lpart.single && rpart.single {
		return with(left, right, lpart)
	}
	// A null-aware join (x IN / NOT IN a subquery) answers NULL or FALSE
	// for a probe row by what the whole build side holds (is it empty,
	// has it NULLs): every probe task must see all of it.
	if broadcastable && (len(pairs) == 0 || j.NullAware || f.es.est(j.Right) <= f.opts.BroadcastRows || lpart.single || f.broadcastCheaper(j, left, lpart, rpart, pairs)) {
		if lpart.single {
			right, _ = f.gather(right, rpart)
			return with(left, right, lpart)
		}
		ex := f.exchange(right, rpart, ExchangeBroadcast, nil)
		return with(left, ex, lpart)
	}
	if len(pairs) == 0 || j.NullAware {
		left, lpart = f.gather(left, lpart)
		right, _ = f.gather(right, rpart)
		return with(left, right, lpart)
	}
	lk, rk := make([]ColumnID, len(pairs)), make([]ColumnID, len(pairs))
	for i, p := range pairs {
		lk[i], rk[i] = p[0], p[1]
	}
	if lpart.single || rpart.single {
		// One side is on one task already: bring the other there.
		left, lpart = f.gather(left, lpart)
		right, _ = f.gather(right, rpart)
		return with(left, right, lpart)
	}
	left, lpart = f.hashed(left, lpart, lk)
	right, _ = f.hashed(right, rpart, rk)
	part := lpart
	if j.Kind == JoinRight || j.Kind == JoinFull || j.Kind == JoinRightSemi || j.Kind == JoinRightAnti {
		part = partitioning{keys: rk} // rows of each task still share the build keys' buckets
		if j.Kind == JoinFull {
			part = partitioning{} // NULL-extended rows of both sides
		}
	}
	return with(left, right, part)
}

// ExplainDistributed renders the stages, last (the result) first.
func ExplainDistributed(g *FragmentGraph) string {
	var b strings.Builder
	for i := len(g.Stages) - 1; i >= 0; i-- {
		st := g.Stages[i]
		out := "to the client"
		if i < len(g.Stages)-1 {
			out = "output " + st.Output.String()
			if st.Output == ExchangeHash {
				out += " " + keyNames(st.Root, st.Keys)
			}
		}
		tasks := fmt.Sprintf("%d tasks", st.Tasks)
		if st.Tasks == 1 {
			tasks = "1 task"
		}
		if st.Single {
			tasks = "1 task (gathered input)"
		}
		if st.Replayable && i < len(g.Stages)-1 {
			out += ", replayable"
		}
		if st.Kept && i < len(g.Stages)-1 {
			out += ", kept"
		}
		if g.Rerunnable(st) {
			out += ", lost tasks re-run"
		}
		if st.Elastic {
			tasks += ", elastic"
		}
		fmt.Fprintf(&b, "Stage %d: %s, %s\n", st.ID, tasks, out)
		for _, line := range strings.Split(strings.TrimRight(Explain(st.Root, nil), "\n"), "\n") {
			b.WriteString("  " + line + "\n")
		}
	}
	return b.String()
}

func keyNames(n Node, keys []ColumnID) string {
	names := make([]string, len(keys))
	cols := n.Columns()
	for i, k := range keys {
		names[i] = fmt.Sprintf("#%d", k)
		if j := IndexOf(cols, k); j >= 0 {
			names[i] = cols[j].Name
		}
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// splitAgg reports whether an aggregate over child (not gathered, not
// partitioned on its keys) should be split into a partial aggregate in
// each task, an exchange of the partial results, and a final one: when
// every call can be merged, and the estimates say each task's partial
// aggregate shrinks its rows at least 4 times (a global aggregate always
// does: one row per task).
func (f *fragmenter) splitAgg(x *Aggregate, child Node) bool {
	for _, c := range x.Aggs {
		if c.Distinct && c.Func != "min" && c.Func != "max" && c.Func != "bool_and" && c.Func != "bool_or" && c.Func != "every" {
			return false
		}
		switch c.Func {
		case "count", "count_star", "sum", "avg", "min", "max", "bool_and", "bool_or", "every":
		default:
			return false
		}
	}
	if len(x.Groups) == 0 {
		return true
	}
	perTask := f.es.est(child) / float64(f.tasksFor(child))
	return f.groups(x, child)*4 <= perTask
}

// groups estimates the number of groups of aggregate x over child: the
// product of its group columns' distinct counts (from statistics:
// dictionaries, integer ranges), at most child's rows; child's rows when
// a key is an expression.
func (f *fragmenter) groups(x *Aggregate, child Node) float64 {
	rows := f.es.est(child)
	keys, ok := columnKeys(x.Groups)
	if !ok {
		return rows
	}
	g := 1.0
	for _, k := range keys {
		g *= f.es.distinct(child, k)
		if g >= rows {
			return rows
		}
	}
	return max(g, 1)
}

// partialFinal splits aggregate x over child (spread as part) in two:
// each task aggregates its own rows into partial states (count, sum,
// min, max; avg as a sum and a count), which are hashed on the group
// columns (or gathered) to a final aggregate that merges them (counts
// are summed; avg divides once, as the single-node aggregate does). The
// final aggregate outputs x's columns.
func (f *fragmenter) partialFinal(x *Aggregate, child Node, part partitioning) (Node, partitioning, error) {
	newCol := func(name string, t kernels.Type) Column {
		f.lastID++
		return Column{ID: f.lastID, Name: name, Type: t, Nullable: true}
	}
	partial := &Aggregate{Input: child, Groups: x.Groups, GroupCols: x.GroupCols}
	final := &Aggregate{GroupCols: x.GroupCols, AggCols: x.AggCols}
	for _, g := range x.GroupCols {
		final.Groups = append(final.Groups, Col(g))
	}
	add := func(c AggCall, name string) *Expr {
		col := newCol(name, c.Type)
		partial.Aggs = append(partial.Aggs, c)
		partial.AggCols = append(partial.AggCols, col)
		return Col(col)
	}
	for i, c := range x.Aggs {
		name := x.AggCols[i].Name
		switch c.Func {
		case "count", "count_star":
			n := add(AggCall{Func: c.Func, Args: c.Args, Type: kernels.TInt64}, name)
			final.Aggs = append(final.Aggs, AggCall{Func: "sum", Args: []*Expr{n}, Type: kernels.TInt64})
		case "avg":
			at := c.Args[0].Type
			st := kernels.TFloat64
			if at.IsInteger() || at.ID == kernels.Decimal {
				st = kernels.DecimalType(38, at.Scale) // exact, as avg sums
			}
			sum := add(AggCall{Func: "sum", Args: c.Args, Type: st}, name+"_sum")
			n := add(AggCall{Func: "count", Args: c.Args, Type: kernels.TInt64}, name+"_count")
			final.Aggs = append(final.Aggs, AggCall{Func: AvgMerge, Args: []*Expr{sum, n}, Type: c.Type})
		default: // sum, min, max, bool_and, bool_or, every: the same again
			v := add(AggCall{Func: c.Func, Args: c.Args, Distinct: c.Distinct, Type: c.Type}, name)
			final.Aggs = append(final.Aggs, AggCall{Func: c.Func, Args: []*Expr{v}, Type: c.Type})
		}
	}
	if len(x.Groups) == 0 {
		final.Input, part = f.gather(partial, part)
		return final, part, nil
	}
	ids := make([]ColumnID, len(x.GroupCols))
	for i, c := range x.GroupCols {
		ids[i] = c.ID
	}
	ex := f.exchange(partial, part, ExchangeHash, ids)
	ex.Est = min(ex.Est, f.groups(x, child)*float64(f.tasksFor(child))) // each task's groups
	final.Input = ex
	return final, partitioning{keys: ids}, nil
}

// AvgMerge is the final step of a split avg: its arguments are the
// partial sums (exact numeric or double) and counts, its result their
// quotient, rounded once as avg's is. Only the fragmenter makes it.
const AvgMerge = "avg_merge"

// maxColumnID returns the largest column ID that n and its expressions
// (subquery plans included) use.
func maxColumnID(n Node) ColumnID {
	var m ColumnID
	cols := func(n Node) {
		for _, c := range n.Columns() {
			m = max(m, c.ID)
		}
	}
	Walk(n, cols)
	WalkExprs(n, func(e *Expr) {
		if e.Kind == EColumn {
			m = max(m, e.Col)
		}
		if e.Kind == ESubquery {
			Walk(e.Sub.Plan, cols)
		}
	})
	return m
}

// broadcastMaxRows bounds the build side a join broadcasts because it
// is cheaper than partitioning: every probe task builds a table of it.
const broadcastMaxRows = 1 << 22

// broadcastCheaper reports whether sending the build side of j to every
// task of the probe side costs less than hash-partitioning both sides.
// Broadcasting sends and builds the build side once per probe task;
// partitioning sends the sides not already partitioned on the keys and
// builds once: a 475k-row build against a 6M-row probe on 4 tasks is
// 2 x 475k x 4 = 3.8M against 6M + 2 x 475k. The probe side must also
// run on at least 2 tasks and half as many as the partitioned join
// would, or the broadcast would funnel the join into too few tasks
// (Q13's one-task customer side would get all of orders). Only when
// broadcasting is allowed at all (BroadcastRows > 0), and for builds up
// to broadcastMaxRows.
func (f *fragmenter) broadcastCheaper(j *Join, left Node, lpart, rpart partitioning, pairs [][2]ColumnID) bool {
	if f.opts.BroadcastRows <= 0 {
		return false
	}
	build, probe := f.es.est(j.Right), f.es.est(j.Left)
	if build > broadcastMaxRows {
		return false
	}
	tasks := float64(f.tasksFor(left))
	partitioned := min(math.Ceil((probe+build)/f.opts.RowsPerTask), float64(f.opts.MaxTasks))
	if tasks < 2 || 2*tasks < partitioned {
		return false
	}
	lk, rk := make([]ColumnID, len(pairs)), make([]ColumnID, len(pairs))
	for i, p := range pairs {
		lk[i], rk[i] = p[0], p[1]
	}
	hash := build // built once
	if !sameKeys(lpart.keys, lk) {
		hash += probe
	}
	if !sameKeys(rpart.keys, rk) {
		hash += build
	}
	return 2*build*tasks < hash
}

// replayMaxRows bounds the estimated output of one task of a replayable
// stage: its consumers hold that much until the task is complete.
const replayMaxRows = 1 << 20

// replayable reports whether a stage rooted at root, run as tasks tasks,
// can have a lost task re-run alone (see Stage.Replayable).
func (f *fragmenter) replayable(root Node, tasks int) bool {
	leaf := true
	Walk(root, func(n Node) {
		if _, ok := n.(*Exchange); ok {
			leaf = false
		}
	})
	if !leaf || f.es.est(root)/float64(max(tasks, 1)) > replayMaxRows {
		return false
	}
	n := root
	for {
		switch x := n.(type) {
		case *Project, *Filter:
			n = x.Children()[0]
			continue
		case *Aggregate, *Sort:
			return true
		case *Limit:
			_, ok := x.Input.(*Sort)
			return ok
		}
		return false
	}
}

// Rerunnable reports whether a lost task of stage st can run again by
// itself: every stage it reads keeps its output for any consumer (a
// broadcast, or a Kept hash output), so the re-run reads its inputs
// from the start, and its splits (if it scans) are the lost task's.
func (g *FragmentGraph) Rerunnable(st *Stage) bool {
	ok := true
	Walk(st.Root, func(n Node) {
		if ex, isEx := n.(*Exchange); isEx {
			if ex.Stage < 0 || ex.Stage >= len(g.Stages) {
				ok = false
				return
			}
			in := g.Stages[ex.Stage]
			ok = ok && (in.Output == ExchangeBroadcast || in.Output == ExchangeHash && in.Kept)
		}
	})
	return ok
}

// Walk calls fn on n and every node below it, parents first (not the
// plans of subqueries inside expressions: see WalkExprs).
func Walk(n Node, fn func(Node)) {
	fn(n)
	for _, c := range n.Children() {
		Walk(c, fn)
	}
}

// HasScan reports whether a plan reads a table (a stage that does has
// splits its tasks share).
func HasScan(n Node) bool {
	found := false
	Walk(n, func(x Node) {
		if _, ok := x.(*Scan); ok {
			found = true
		}
	})
	return found
}
