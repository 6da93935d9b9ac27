package planner

import (
	"fmt"

	"github.com/bellows-db/bellows/kernels"
)

// NewColumn allocates a fresh column for rules that add columns.
type NewColumn func(name string, t kernels.Type) Column

// Decorrelate removes every subquery expression from the plan, turning them
// into joins: EXISTS/IN conjuncts of a filter become semi/anti joins,
// other EXISTS/IN uses become mark joins, and scalar subqueries become
// joins with a single-row (uncorrelated) or grouped (correlated) input.
// Correlated predicates are pulled out of the subquery into the join
// condition; nothing is evaluated row by row.
func Decorrelate(n Node, newCol NewColumn) (Node, error) {
	d := &decorrelator{newCol: newCol}
	return d.node(n)
}

type decorrelator struct{ newCol NewColumn }

func (d *decorrelator) node(n Node) (Node, error) {
	ch := n.Children()
	if len(ch) > 0 {
		nc := make([]Node, len(ch))
		for i, c := range ch {
			var err error
			if nc[i], err = d.node(c); err != nil {
				return nil, err
			}
		}
		n = n.WithChildren(nc)
	}
	switch x := n.(type) {
	case *Filter:
		if !x.Cond.HasSubquery() {
			return x, nil
		}
		return d.filter(x)
	case *Project:
		has := false
		for _, e := range x.Exprs {
			has = has || e.HasSubquery()
		}
		if !has {
			return x, nil
		}
		input := x.Input
		exprs := make([]*Expr, len(x.Exprs))
		for i, e := range x.Exprs {
			var err error
			if input, exprs[i], err = d.replaceSubqueries(input, e); err != nil {
				return nil, err
			}
		}
		return &Project{Input: input, Exprs: exprs, Cols: x.Cols}, nil
	default:
		var err error
		WalkExprsShallow(n, func(e *Expr) {
			if e.HasSubquery() && err == nil {
				err = fmt.Errorf("subqueries are not supported in this clause")
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (d *decorrelator) filter(f *Filter) (Node, error) {
	input := f.Input
	var rest []*Expr
	for _, c := range Conjuncts(f.Cond) {
		neg := false
		e := c
		if e.Kind == ENot && e.Args[0].Kind == ESubquery {
			neg, e = true, e.Args[0]
		}
		if e.Kind == ESubquery && e.Sub.Cmp != nil {
			j, err := d.quantified(input, e.Sub, neg)
			if err != nil {
				return nil, err
			}
			input = j
			continue
		}
		if e.Kind == ESubquery && (e.Sub.Kind == SubExists || e.Sub.Kind == SubIn) {
			if e.Sub.Kind == SubIn && e.Sub.Test.HasSubquery() {
				// A subquery in the test value: join it first.
				s := *e.Sub
				var err error
				if input, s.Test, err = d.replaceSubqueries(input, s.Test); err != nil {
					return nil, err
				}
				ec := *e
				ec.Sub = &s
				e = &ec
			}
			sub, preds, err := d.subPlan(e.Sub)
			if err != nil {
				return nil, err
			}
			kind := JoinSemi
			if neg {
				kind = JoinAnti
			}
			j := &Join{Kind: kind, Left: input, Right: sub, Cond: And(preds...)}
			if e.Sub.Kind == SubIn && neg {
				if len(preds) > 1 || len(e.Sub.Test.Columns()) == 0 {
					// Correlated NOT IN: NULLs make the test unknown only
					// among the outer row's own correlated rows, which a
					// null-aware join (deciding over the whole build side)
					// cannot see. A constant test value is no join key for
					// a null-aware join either (its equality would be
					// pushed into the subquery as a filter).
					in, err := d.notInJoins(input, e.Sub, sub, preds)
					if err != nil {
						return nil, err
					}
					input = in
					continue
				}
				j.NullAware = true
			}
			input = j
			continue
		}
		var err error
		if input, e, err = d.replaceSubqueries(input, c); err != nil {
			return nil, err
		}
		rest = append(rest, e)
	}
	if cond := And(rest...); cond != nil {
		return &Filter{Input: input, Cond: cond}, nil
	}
	return input, nil
}

// quantified turns a WHERE conjunct [NOT] x <op> ANY|ALL (subquery) into a
// semi or anti join whose condition tests each pair three-valued:
//
//	x op ANY  : some pair TRUE          -> semi join on  cmp
//	x op ALL  : no pair FALSE or NULL   -> anti join on  cmp IS NOT TRUE
//	NOT ANY   : no pair TRUE or NULL    -> anti join on  cmp IS NOT FALSE
//	NOT ALL   : some pair FALSE         -> semi join on  cmp IS FALSE
func (d *decorrelator) quantified(input Node, s *Subquery, neg bool) (Node, error) {
	plan, err := d.node(s.Plan)
	if err != nil {
		return nil, err
	}
	plan, preds, err := d.pullUp(plan)
	if err != nil {
		return nil, err
	}
	cmp := s.Cmp
	isNull := &Expr{Kind: EIsNull, Type: kernels.TBool, Args: []*Expr{cmp}}
	notTrue := &Expr{Kind: ECase, Type: kernels.TBool, HasElse: true, Args: []*Expr{isNull, BoolConst(true), &Expr{Kind: ENot, Type: kernels.TBool, Args: []*Expr{cmp}}}}
	notFalse := &Expr{Kind: ECase, Type: kernels.TBool, HasElse: true, Args: []*Expr{isNull, BoolConst(true), cmp}}
	isFalse := &Expr{Kind: ECase, Type: kernels.TBool, HasElse: true, Args: []*Expr{isNull, BoolConst(false), &Expr{Kind: ENot, Type: kernels.TBool, Args: []*Expr{cmp}}}}
	var kind JoinKind
	var pair *Expr
	switch {
	case !s.All && !neg:
		kind, pair = JoinSemi, cmp
	case s.All && !neg:
		kind, pair = JoinAnti, notTrue
	case !s.All && neg:
		kind, pair = JoinAnti, notFalse
	default:
		kind, pair = JoinSemi, isFalse
	}
	return &Join{Kind: kind, Left: input, Right: plan, Cond: And(append(preds, pair)...)}, nil
}

// subPlan decorrelates an EXISTS/IN subquery: it returns the subquery plan
// without its correlated predicates, and those predicates (plus the IN
// equality) for the join condition.
func (d *decorrelator) subPlan(s *Subquery) (Node, []*Expr, error) {
	plan, err := d.node(s.Plan)
	if err != nil {
		return nil, nil, err
	}
	if s.Kind == SubExists {
		plan = stripForExists(plan)
	}
	plan, preds, err := d.pullUp(plan)
	if err != nil {
		return nil, nil, err
	}
	if s.Kind == SubIn {
		col := s.Plan.Columns()[0]
		preds = append(preds, Call("eq", kernels.TBool, s.Test, Col(col)))
	}
	if s.Kind == SubExists && len(preds) == 0 {
		// Uncorrelated: one row decides, and the join (which has no key
		// to hash on) pairs every outer row with what it reads.
		plan = &Limit{Input: plan, Count: 1}
	}
	return plan, preds, nil
}

// stripForExists drops what cannot change whether rows exist: the final
// projection, ordering (and a LIMIT that keeps at least one row).
func stripForExists(n Node) Node {
	for {
		switch x := n.(type) {
		case *Project:
			if hasSub(x) {
				return n
			}
			n = x.Input
		case *Sort:
			n = x.Input
		case *Limit:
			if x.Count != 0 && x.Offset == 0 {
				n = x.Input
			} else {
				return n
			}
		default:
			return n
		}
	}
}

func hasSub(p *Project) bool {
	for _, e := range p.Exprs {
		if e.HasSubquery() {
			return true
		}
	}
	return false
}

// replaceSubqueries rewrites scalar and non-conjunct EXISTS/IN subqueries
// in e into joins added on top of input, returning the new input and e
// with column references in place of the subqueries.
func (d *decorrelator) replaceSubqueries(input Node, e *Expr) (Node, *Expr, error) {
	var ferr error
	out := e.Rewrite(func(x *Expr) *Expr {
		if x.Kind != ESubquery || ferr != nil {
			return x
		}
		switch x.Sub.Kind {
		case SubScalar:
			var col *Expr
			input, col, ferr = d.scalar(input, x.Sub)
			if ferr != nil {
				return x
			}
			return col
		default:
			if x.Sub.Cmp != nil {
				ferr = fmt.Errorf("ANY/ALL subqueries are supported only as WHERE conditions")
				return x
			}
			sub, preds, err := d.subPlan(x.Sub)
			if err != nil {
				ferr = err
				return x
			}
			if x.Sub.Kind == SubIn && (len(preds) > 1 || len(x.Sub.Test.Columns()) == 0) {
				var col *Expr
				input, col, ferr = d.inValue(input, x.Sub, sub, preds)
				if ferr != nil {
					return x
				}
				return col
			}
			mark := d.newCol("mark", kernels.TBool)
			input = &Join{Kind: JoinMark, Left: input, Right: sub, Cond: And(preds...), MarkCol: mark, NullAware: x.Sub.Kind == SubIn}
			return Col(mark)
		}
	})
	return input, out, ferr
}

// inValue joins the three-valued result of a correlated IN, or of an IN
// whose test value is a constant, onto input. A null-aware mark join
// decides NULLs over the whole build side and needs the test as a join
// key, so plain mark joins are used instead: one marks rows with a
// (correlated) pair whose equality is TRUE, two more the rows for which
// the answer is NULL otherwise (see nullParts); the value is TRUE, NULL or
// FALSE in that order. sub and preds are the subquery's decorrelated plan
// and join predicates (the IN equality last), from subPlan.
func (d *decorrelator) inValue(input Node, s *Subquery, sub Node, preds []*Expr) (Node, *Expr, error) {
	subC, condC, subX, condX, err := d.nullParts(s)
	if err != nil {
		return nil, nil, err
	}
	m1, mc, mx := d.newCol("mark", kernels.TBool), d.newCol("mark", kernels.TBool), d.newCol("mark", kernels.TBool)
	input = &Join{Kind: JoinMark, Left: input, Right: sub, Cond: And(preds...), MarkCol: m1}
	input = &Join{Kind: JoinMark, Left: input, Right: subC, Cond: condC, MarkCol: mc}
	input = &Join{Kind: JoinMark, Left: input, Right: subX, Cond: condX, MarkCol: mx}
	val := &Expr{Kind: ECase, Type: kernels.TBool, HasElse: true, Args: []*Expr{
		Col(m1), BoolConst(true), Col(mc), NullConst(kernels.TBool), Col(mx), NullConst(kernels.TBool), BoolConst(false)}}
	return input, val, nil
}

// nullParts returns the two conditions under which a correlated x IN
// (SELECT c ...) is NULL rather than FALSE when no pair is equal: a
// correlated row has c NULL, or x is NULL and a correlated row exists.
// Each is the correlation predicates of a fresh copy of the subquery plus
// one NULL test that reads a single side, so both joins hash on the
// correlation keys and the test costs nothing per pair (an "eq IS NULL"
// residual instead makes every row walk all its correlated rows).
func (d *decorrelator) nullParts(s *Subquery) (subC Node, condC *Expr, subX Node, condX *Expr, err error) {
	mk := func(test func(eq *Expr) *Expr) (Node, *Expr, error) {
		sub, preds, err := d.subPlan(s)
		if err != nil {
			return nil, nil, err
		}
		last := len(preds) - 1
		cond := append(append([]*Expr{}, preds[:last]...), test(preds[last]))
		return sub, And(cond...), nil
	}
	isNull := func(e *Expr) *Expr { return &Expr{Kind: EIsNull, Type: kernels.TBool, Args: []*Expr{e}} }
	if subC, condC, err = mk(func(eq *Expr) *Expr { return isNull(eq.Args[1]) }); err != nil {
		return
	}
	subX, condX, err = mk(func(eq *Expr) *Expr { return isNull(eq.Args[0]) })
	return
}

// notInJoins filters input by a correlated (or constant-test) NOT IN with
// three anti joins: no correlated row equal to x, none with c NULL, and x
// not NULL unless there are no correlated rows. sub and preds come from
// subPlan (the IN equality x = c last).
func (d *decorrelator) notInJoins(input Node, s *Subquery, sub Node, preds []*Expr) (Node, error) {
	subC, condC, subX, condX, err := d.nullParts(s)
	if err != nil {
		return nil, err
	}
	input = &Join{Kind: JoinAnti, Left: input, Right: sub, Cond: And(preds...)}
	input = &Join{Kind: JoinAnti, Left: input, Right: subC, Cond: condC}
	return &Join{Kind: JoinAnti, Left: input, Right: subX, Cond: condX}, nil
}

// scalar joins a scalar subquery's value onto input.
func (d *decorrelator) scalar(input Node, s *Subquery) (Node, *Expr, error) {
	col := s.Plan.Columns()[0]
	sp, err := d.node(s.Plan)
	if err != nil {
		return nil, nil, err
	}
	if len(s.Outer) == 0 {
		return &Join{Kind: JoinInner, Left: input, Right: &EnforceSingleRow{Input: sp}}, Col(col), nil
	}
	plan, preds, err := d.pullUp(sp)
	if err != nil {
		if n, out, err2 := d.scalarByRow(input, sp, col); err2 == nil {
			return n, out, nil
		}
		return nil, nil, err
	}
	kind := JoinSingle
	if hasGroupedAgg(plan) {
		// Grouped by the correlation keys: at most one row per key.
		kind = JoinLeft
	}
	out := Col(col)
	if isCountOutput(s.Plan) {
		// COUNT over no rows is 0, not NULL.
		out = &Expr{Kind: ECoalesce, Type: col.Type, Args: []*Expr{Col(col), Const(col.Type, kernels.Value{I: 0})}}
	}
	return &Join{Kind: kind, Left: input, Right: plan, Cond: And(preds...)}, out, nil
}

// scalarByRow decorrelates (SELECT agg(...) FROM ... WHERE <correlation>)
// whatever the correlation's shape: number the outer rows, left-join the
// subquery's input on the correlation, aggregate per outer row. A marker
// column on the inner side makes count(*) count matches only.
func (d *decorrelator) scalarByRow(input Node, sp Node, col Column) (Node, *Expr, error) {
	n := sp
	proj, _ := n.(*Project)
	if proj != nil {
		n = proj.Input
	}
	agg, ok := n.(*Aggregate)
	if !ok || len(agg.Groups) > 0 {
		return nil, nil, fmt.Errorf("unsupported correlated subquery")
	}
	inner, preds, err := d.pullUp(agg.Input)
	if err != nil {
		return nil, nil, err
	}
	mark := d.newCol("matched", kernels.TBool)
	var exprs []*Expr
	icols := inner.Columns()
	for _, c := range icols {
		exprs = append(exprs, Col(c))
	}
	inner = &Project{Input: inner, Exprs: append(exprs, BoolConst(true)), Cols: append(append([]Column{}, icols...), mark)}
	rn := d.newCol("row_id", kernels.TInt64)
	numbered := &Window{Input: input, Funcs: []WindowFunc{{Func: "row_number", Col: rn}}}
	j := &Join{Kind: JoinLeft, Left: numbered, Right: inner, Cond: And(preds...)}
	outer := input.Columns()
	groups := []*Expr{Col(rn)}
	gcols := []Column{rn}
	for _, c := range outer {
		groups = append(groups, Col(c))
		gcols = append(gcols, c)
	}
	aggs := make([]AggCall, len(agg.Aggs))
	for i, a := range agg.Aggs {
		aggs[i] = a
		if a.Func == "count_star" {
			aggs[i].Func, aggs[i].Args = "count", []*Expr{Col(mark)}
			continue
		}
		// An outer row without matches joins one NULL-extended row; its
		// arguments must be NULL too (min('a') would see 'a' otherwise).
		aggs[i].Args = make([]*Expr, len(a.Args))
		for k, arg := range a.Args {
			aggs[i].Args[k] = &Expr{Kind: ECase, Type: arg.Type, Args: []*Expr{Col(mark), arg}}
		}
	}
	var top Node = &Aggregate{Input: j, Groups: groups, GroupCols: gcols, Aggs: aggs, AggCols: agg.AggCols}
	if proj != nil {
		pe := append([]*Expr{}, proj.Exprs...)
		pc := append([]Column{}, proj.Cols...)
		for _, c := range outer {
			pe = append(pe, Col(c))
			pc = append(pc, c)
		}
		top = &Project{Input: top, Exprs: pe, Cols: pc}
	}
	return top, Col(col), nil
}

func hasGroupedAgg(n Node) bool {
	for {
		switch x := n.(type) {
		case *Aggregate:
			return len(x.Groups) > 0
		case *Project:
			n = x.Input
		case *Filter:
			n = x.Input
		default:
			return false
		}
	}
}

// isCountOutput reports whether the subquery's single output is a count.
func isCountOutput(n Node) bool {
	id := n.Columns()[0].ID
	for {
		switch x := n.(type) {
		case *Project:
			e := x.Exprs[IndexOf(x.Cols, id)]
			if e.Kind != EColumn {
				return false
			}
			id = e.Col
			n = x.Input
		case *Filter:
			n = x.Input
		case *Aggregate:
			for i, c := range x.AggCols {
				if c.ID == id {
					f := x.Aggs[i].Func
					return f == "count" || f == "count_star"
				}
			}
			return false
		default:
			return false
		}
	}
}

// pullUp removes predicates that reference columns from outside n (the
// correlation) and returns them. Columns the predicates need from inside n
// are made visible at n's output; under an aggregate, equality predicates
// turn their inner column into an extra group key.
func (d *decorrelator) pullUp(n Node) (Node, []*Expr, error) {
	switch x := n.(type) {
	case *Filter:
		in, preds, err := d.pullUp(x.Input)
		if err != nil {
			return nil, nil, err
		}
		own := produced(in)
		var keep []*Expr
		for _, c := range Conjuncts(x.Cond) {
			if refsOutside(c, own) {
				preds = append(preds, c)
			} else {
				keep = append(keep, c)
			}
		}
		if cond := And(keep...); cond != nil {
			return &Filter{Input: in, Cond: cond}, preds, nil
		}
		return in, preds, nil
	case *Project:
		in, preds, err := d.pullUp(x.Input)
		if err != nil {
			return nil, nil, err
		}
		for _, e := range x.Exprs {
			if refsOutside(e, produced(in)) {
				return nil, nil, fmt.Errorf("correlated references in a subquery's select list are not supported")
			}
		}
		if len(preds) == 0 {
			return x.WithChildren([]Node{in}), nil, nil
		}
		p := &Project{Input: in, Exprs: append([]*Expr{}, x.Exprs...), Cols: append([]Column{}, x.Cols...)}
		have := map[ColumnID]bool{}
		for _, c := range p.Cols {
			have[c.ID] = true
		}
		for _, c := range in.Columns() {
			if !have[c.ID] && referenced(preds, c.ID) {
				p.Exprs = append(p.Exprs, Col(c))
				p.Cols = append(p.Cols, c)
				have[c.ID] = true
			}
		}
		return p, preds, nil
	case *Aggregate:
		in, preds, err := d.pullUp(x.Input)
		if err != nil {
			return nil, nil, err
		}
		if len(preds) == 0 {
			return x.WithChildren([]Node{in}), nil, nil
		}
		a := &Aggregate{Input: in, Groups: append([]*Expr{}, x.Groups...), GroupCols: append([]Column{}, x.GroupCols...), Aggs: x.Aggs, AggCols: x.AggCols}
		inner := produced(in)
		for _, p := range preds {
			l, r, ok := equality(p)
			if !ok {
				return nil, nil, fmt.Errorf("correlated subquery with aggregates supports only equality correlation, not %s", p)
			}
			innerSide := r
			if exprWithin(l, inner) {
				innerSide = l
			}
			if innerSide.Kind != EColumn || !inner[innerSide.Col] {
				return nil, nil, fmt.Errorf("correlated subquery with aggregates: unsupported correlation %s", p)
			}
			if IndexOf(a.GroupCols, innerSide.Col) < 0 {
				var c Column
				for _, ic := range in.Columns() {
					if ic.ID == innerSide.Col {
						c = ic
					}
				}
				a.Groups = append(a.Groups, Col(c))
				a.GroupCols = append(a.GroupCols, c) // same ID: same value
			}
		}
		return a, preds, nil
	case *Join:
		if x.Kind != JoinInner && x.Kind != JoinSemi && x.Kind != JoinAnti && x.Kind != JoinLeft && x.Kind != JoinMark {
			return n, nil, nil
		}
		l, lp, err := d.pullUp(x.Left)
		if err != nil {
			return nil, nil, err
		}
		var r Node = x.Right
		var rp []*Expr
		if x.Kind == JoinInner {
			if r, rp, err = d.pullUp(x.Right); err != nil {
				return nil, nil, err
			}
		}
		j := *x
		j.Left, j.Right = l, r
		preds := append(lp, rp...)
		if x.Cond != nil && refsOutside(x.Cond, produced(&j)) {
			if x.Kind != JoinInner {
				return nil, nil, fmt.Errorf("correlated references in an outer join condition are not supported")
			}
			var keep []*Expr
			for _, c := range Conjuncts(x.Cond) {
				if refsOutside(c, produced(&j)) {
					preds = append(preds, c)
				} else {
					keep = append(keep, c)
				}
			}
			j.Cond = And(keep...)
		}
		return &j, preds, nil
	case *Sort:
		in, preds, err := d.pullUp(x.Input)
		if err != nil {
			return nil, nil, err
		}
		return x.WithChildren([]Node{in}), preds, nil
	}
	// Anything else must not be correlated.
	var bad bool
	own := produced(n)
	WalkExprs(n, func(e *Expr) {
		if refsOutside(e, own) {
			bad = true
		}
	})
	if bad {
		return nil, nil, fmt.Errorf("correlated subquery not supported under %s", Name(n))
	}
	return n, nil, nil
}

// produced lists every column produced anywhere inside n (its output and
// its descendants' outputs).
func produced(n Node) map[ColumnID]bool { return newEstimator().produced(n) }

func refsOutside(e *Expr, own map[ColumnID]bool) bool {
	for c := range e.Columns() {
		if !own[c] {
			return true
		}
	}
	return false
}

func exprWithin(e *Expr, own map[ColumnID]bool) bool { return !refsOutside(e, own) }

func referenced(preds []*Expr, id ColumnID) bool {
	for _, p := range preds {
		if p.Columns()[id] {
			return true
		}
	}
	return false
}

// equality splits a = b.
func equality(e *Expr) (*Expr, *Expr, bool) {
	if e.Kind == ECall && e.Func == "eq" && len(e.Args) == 2 {
		return e.Args[0], e.Args[1], true
	}
	return nil, nil, false
}

// WalkExprsShallow calls fn on the expressions held directly by n.
func WalkExprsShallow(n Node, fn func(*Expr)) {
	switch x := n.(type) {
	case *Scan:
		for _, e := range x.Filter {
			fn(e)
		}
	case *Filter:
		fn(x.Cond)
	case *Project:
		for _, e := range x.Exprs {
			fn(e)
		}
	case *Aggregate:
		for _, e := range x.Groups {
			fn(e)
		}
		for _, a := range x.Aggs {
			for _, e := range a.Args {
				fn(e)
			}
		}
	case *Join:
		if x.Cond != nil {
			fn(x.Cond)
		}
	case *Sort:
		for _, k := range x.Keys {
			fn(k.Expr)
		}
	case *Window:
		for _, f := range x.Funcs {
			for _, e := range f.Args {
				fn(e)
			}
			for _, e := range f.PartitionBy {
				fn(e)
			}
			for _, k := range f.OrderBy {
				fn(k.Expr)
			}
		}
	case *Values:
		for _, r := range x.Rows {
			for _, e := range r {
				fn(e)
			}
		}
	}
}
