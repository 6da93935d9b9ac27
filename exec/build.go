package exec

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Plan is a physical plan: pipelines in dependency order, ending in the
// result sink. Run it once; Close it always.
type Plan struct {
	Pipelines []*Pipeline
	closers   []func()
	// NodeStats maps logical nodes to the stats of the operator that runs
	// them, for EXPLAIN ANALYZE.
	NodeStats map[planner.Node]*OpStats
	// Elapsed per pipeline, filled by Run.
	Elapsed []time.Duration
	// Scans are the plan's scan sources (for their split and row counts).
	Scans   []*ScanSource
	release [][]func() // per pipeline: state to free once it has run
	// Held is the memory the query holds when each pipeline ends (the
	// state its sink keeps: hash tables, sorted runs); Peak the most the
	// query held while the pipeline ran (its operators' working memory
	// plus the state earlier pipelines keep).
	Held, Peak []int64
}

// Build lowers a logical plan into pipelines whose final sink is sink.
func Build(q *QueryContext, root planner.Node, sink Sink) (*Plan, error) {
	b := &builder{q: q, plan: &Plan{NodeStats: map[planner.Node]*OpStats{}}}
	// Closers run in reverse: the spill directory goes after every operator.
	b.closer(func() { q.Close() })
	pb, err := b.build(root)
	if err != nil {
		b.plan.Close()
		return nil, err
	}
	// Final projection into the root's column order is implicit: every
	// operator outputs its node's columns in order.
	b.finish(pb, sink, "result")
	return b.plan, nil
}

// Run executes the pipelines in order.
func (p *Plan) Run(ctx context.Context, q *QueryContext) error {
	for i, pl := range p.Pipelines {
		t0 := time.Now()
		q.Pool.ResetWindow()
		if err := q.Run(ctx, pl); err != nil {
			return err
		}
		for _, f := range p.release[i] {
			f() // operators' Close is idempotent; Plan.Close calls it again
		}
		p.Elapsed = append(p.Elapsed, time.Since(t0))
		p.Held = append(p.Held, q.Pool.Used())
		p.Peak = append(p.Peak, q.Pool.WindowPeak())
	}
	return nil
}

// Close frees every operator's state.
func (p *Plan) Close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

type builder struct {
	q    *QueryContext
	plan *Plan
}

// pipeBuilder is a pipeline under construction: a source and operators so
// far, producing cols.
type pipeBuilder struct {
	name    string
	source  Source
	srcStat *OpStats
	ops     []Operator
	stats   []*OpStats
	cols    []planner.Column
	ordered bool // output order matters: run with one driver
	// release frees operator state once this pipeline has run (hash
	// tables it probed, the breaker whose output it read).
	release []func()
}

func (b *builder) stat(n planner.Node) *OpStats {
	s := &OpStats{}
	b.plan.NodeStats[n] = s
	return s
}

func (b *builder) finish(pb *pipeBuilder, sink Sink, name string) {
	p := &Pipeline{Name: pb.name + " -> " + name, Source: pb.source, Ops: pb.ops, Sink: sink, SourceStats: pb.srcStat, OpStats: pb.stats}
	if pb.ordered {
		p.MaxDrivers = 1
	}
	b.plan.Pipelines = append(b.plan.Pipelines, p)
	b.plan.release = append(b.plan.release, pb.release)
}

func (b *builder) closer(f func()) { b.plan.closers = append(b.plan.closers, f) }

func (b *builder) source(n planner.Node, name string, s Source) *pipeBuilder {
	b.closer(s.Close)
	return &pipeBuilder{name: name, source: s, srcStat: b.stat(n), cols: n.Columns()}
}

// breakerSource starts a pipeline reading a breaker's output; the breaker
// is freed once that pipeline has run.
func (b *builder) breakerSource(n planner.Node, name string, s Source, free func()) *pipeBuilder {
	pb := b.source(n, name, s)
	pb.release = append(pb.release, free)
	return pb
}

func (b *builder) op(pb *pipeBuilder, n planner.Node, op Operator) {
	b.closer(op.Close)
	pb.ops = append(pb.ops, op)
	pb.stats = append(pb.stats, b.stat(n))
	pb.cols = n.Columns()
}

func (b *builder) build(n planner.Node) (*pipeBuilder, error) {
	q := b.q
	switch x := n.(type) {
	case *planner.Scan:
		src, err := NewScan(q, x)
		if err != nil {
			return nil, err
		}
		if ss, ok := src.(*ScanSource); ok {
			b.plan.Scans = append(b.plan.Scans, ss)
		}
		return b.source(x, "scan "+x.Table, src), nil
	case *planner.Series:
		return b.source(x, "series", NewSeries(q, x)), nil
	case *planner.Exchange:
		if q.Exchanges == nil {
			return nil, fmt.Errorf("internal error: an exchange (from stage %d) outside a distributed run", x.Stage)
		}
		src, err := q.Exchanges(x)
		if err != nil {
			return nil, err
		}
		return b.source(x, fmt.Sprintf("exchange %s from stage %d", x.Kind, x.Stage), src), nil
	case *planner.Values:
		src, err := NewValues(q, x.Cols, x.Rows)
		if err != nil {
			return nil, err
		}
		return b.source(x, "values", src), nil
	case *planner.Filter:
		pb, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		op, err := NewFilter(q, pb.cols, x.Cond)
		if err != nil {
			return nil, err
		}
		b.op(pb, x, op)
		return pb, nil
	case *planner.Project:
		pb, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		op, err := NewProject(q, pb.cols, x.Exprs, x.Cols)
		if err != nil {
			return nil, err
		}
		b.op(pb, x, op)
		return pb, nil
	case *planner.Aggregate:
		pb, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		agg, err := NewHashAggregate(q, pb.cols, x.Groups, x.Aggs, x.Columns())
		if err != nil {
			return nil, err
		}
		b.closer(agg.Close)
		b.finish(pb, agg, "aggregate")
		out := b.breakerSource(x, "aggregate", agg.Source(), agg.Close)
		agg.SetStats(out.srcStat)
		return out, nil
	case *planner.Join:
		return b.buildJoin(x)
	case *planner.Sort:
		pb, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		s, err := NewSort(q, pb.cols, x.Keys)
		if err != nil {
			return nil, err
		}
		b.closer(s.Close)
		b.finish(pb, s, "sort")
		out := b.breakerSource(x, "sorted", s.Source(), s.Close)
		s.SetStats(out.srcStat)
		out.ordered = true
		return out, nil
	case *planner.Limit:
		if s, ok := x.Input.(*planner.Sort); ok && x.Count >= 0 {
			pb, err := b.build(s.Input)
			if err != nil {
				return nil, err
			}
			t, err := NewTopN(q, pb.cols, s.Keys, x.Count, x.Offset)
			if err != nil {
				return nil, err
			}
			b.closer(t.Close)
			b.finish(pb, t, "top-n")
			out := b.breakerSource(x, "top-n", t.Source(), t.Close)
			out.ordered = true
			return out, nil
		}
		pb, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		b.op(pb, x, NewLimit(q, x.Count, x.Offset))
		return pb, nil
	case *planner.SetOp:
		s, err := NewSetOp(q, x.Kind, x.All, x.Cols)
		if err != nil {
			return nil, err
		}
		b.closer(s.Close)
		l, err := b.build(x.Left)
		if err != nil {
			return nil, err
		}
		b.finish(l, s.LeftSink(), "set-op left")
		r, err := b.build(x.Right)
		if err != nil {
			return nil, err
		}
		b.finish(r, s.RightSink(), "set-op right")
		return b.breakerSource(x, "set-op", s.Source(), s.Close), nil
	case *planner.Window:
		pb, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		w, err := NewWindow(q, pb.cols, x.Funcs)
		if err != nil {
			return nil, err
		}
		b.closer(w.Close)
		b.finish(pb, w, "window")
		return b.breakerSource(x, "window", w.Source(), w.Close), nil
	case *planner.EnforceSingleRow:
		pb, err := b.build(x.Input)
		if err != nil {
			return nil, err
		}
		s := NewEnforceSingleRow(q, pb.cols)
		b.closer(s.Close)
		b.finish(pb, s, "single-row")
		return b.breakerSource(x, "single-row", s.Source(), s.Close), nil
	}
	return nil, fmt.Errorf("internal error: no physical operator for %s", planner.Name(n))
}

// buildJoin builds the right (build) side into the hash table, then
// continues the left side's pipeline through the probe.
func (b *builder) buildJoin(j *planner.Join) (*pipeBuilder, error) {
	lcols, rcols := j.Left.Columns(), j.Right.Columns()
	lset, rset := map[planner.ColumnID]bool{}, map[planner.ColumnID]bool{}
	for _, c := range lcols {
		lset[c.ID] = true
	}
	for _, c := range rcols {
		rset[c.ID] = true
	}
	var lk, rk, residual []*planner.Expr
	for _, c := range planner.Conjuncts(j.Cond) {
		if c.Kind == planner.ECall && c.Func == "eq" && len(c.Args) == 2 {
			a, bb := c.Args[0], c.Args[1]
			if within(a, rset) && within(bb, lset) {
				a, bb = bb, a
			}
			if within(a, lset) && within(bb, rset) {
				if a.Type != bb.Type {
					// keys hash as bytes: bring both sides to one type
					t, ok := kernels.CommonType(a.Type, bb.Type)
					if !ok {
						return nil, fmt.Errorf("cannot join on %s = %s", a.Type, bb.Type)
					}
					a, bb = castExpr(a, t), castExpr(bb, t)
				}
				lk, rk = append(lk, a), append(rk, bb)
				continue
			}
		}
		residual = append(residual, c)
	}
	hj, err := NewHashJoin(b.q, j.Kind, lcols, rcols, lk, rk, planner.And(residual...), j.NullAware)
	if err != nil {
		return nil, err
	}
	b.closer(hj.Close)
	rb, err := b.build(j.Right)
	if err != nil {
		return nil, err
	}
	b.finish(rb, hj.BuildSink(), "hash build")
	lb, err := b.build(j.Left)
	if err != nil {
		return nil, err
	}
	probe := hj.Probe()
	b.op(lb, j, probe)
	hj.SetStats(lb.stats[len(lb.stats)-1])
	lb.release = append(lb.release, hj.Close)
	lb.ordered = false
	return lb, nil
}

func castExpr(e *planner.Expr, t kernels.Type) *planner.Expr {
	if e.Type == t {
		return e
	}
	return &planner.Expr{Kind: planner.ECast, Type: t, Args: []*planner.Expr{e}}
}

func within(e *planner.Expr, set map[planner.ColumnID]bool) bool {
	cols := e.Columns()
	if len(cols) == 0 {
		return false
	}
	for c := range cols {
		if !set[c] {
			return false
		}
	}
	return true
}

// Describe lists the pipelines, for EXPLAIN ANALYZE.
func (p *Plan) Describe() string {
	var sb strings.Builder
	for i, pl := range p.Pipelines {
		el := time.Duration(0)
		if i < len(p.Elapsed) {
			el = p.Elapsed[i]
		}
		held, peak := int64(0), int64(0)
		if i < len(p.Held) {
			held, peak = p.Held[i], p.Peak[i]
		}
		fmt.Fprintf(&sb, "pipeline %d: %s (drivers: %d started, %d at once; %s; query holds %s after it, peak %s while it ran)\n", i, pl.Name, pl.DriversStarted.Load(), pl.MaxConcurrent.Load(), el.Round(time.Microsecond), bytesStr(held), bytesStr(peak))
	}
	return sb.String()
}

func bytesStr(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
