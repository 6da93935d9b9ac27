package planner

import (
	"math"
	"sort"

	"github.com/bellows-db/bellows/kernels"
)

// Rule is one optimizer rewrite. It returns the new plan and whether it
// changed anything, so the driver knows when a fixed point is reached.
type Rule struct {
	Name  string
	Apply func(n Node) (Node, bool, error)
}

// Rules is the optimizer's rule list, applied in order.
var Rules = []Rule{
	{"fold_constants", foldRule},
	{"push_down_predicates", pushDownRule},
	{"push_down_semi_joins", pushSemiRule},
	{"reduce_grouped_joins", reduceGroupedRule},
	{"reorder_joins", reorderRule},
	{"choose_build_side", buildSideRule},
	{"prune_columns", pruneRule},
}

// Optimize applies Rules (each to its fixed point, at most a few passes).
func Optimize(n Node) (Node, error) {
	for _, r := range Rules {
		for pass := 0; pass < 4; pass++ {
			out, changed, err := r.Apply(n)
			if err != nil {
				return nil, err
			}
			n = out
			if !changed {
				break
			}
		}
	}
	return n, nil
}

// mapExprs rebuilds n with fn applied to each of its own expressions.
func mapExprs(n Node, fn func(*Expr) *Expr) Node {
	switch x := n.(type) {
	case *Filter:
		c := *x
		c.Cond = fn(x.Cond)
		return &c
	case *Project:
		c := *x
		c.Exprs = make([]*Expr, len(x.Exprs))
		for i, e := range x.Exprs {
			c.Exprs[i] = fn(e)
		}
		return &c
	case *Join:
		if x.Cond == nil {
			return x
		}
		c := *x
		c.Cond = fn(x.Cond)
		return &c
	case *Scan:
		c := *x
		c.Filter = make([]*Expr, len(x.Filter))
		for i, e := range x.Filter {
			c.Filter[i] = fn(e)
		}
		return &c
	case *Aggregate:
		c := *x
		c.Groups = make([]*Expr, len(x.Groups))
		for i, e := range x.Groups {
			c.Groups[i] = fn(e)
		}
		c.Aggs = make([]AggCall, len(x.Aggs))
		for i, a := range x.Aggs {
			c.Aggs[i] = a
			c.Aggs[i].Args = make([]*Expr, len(a.Args))
			for j, e := range a.Args {
				c.Aggs[i].Args[j] = fn(e)
			}
		}
		return &c
	}
	return n
}

func transformUp(n Node, fn func(Node) (Node, error)) (Node, error) {
	ch := n.Children()
	if len(ch) > 0 {
		nc := make([]Node, len(ch))
		for i, c := range ch {
			var err error
			if nc[i], err = transformUp(c, fn); err != nil {
				return nil, err
			}
		}
		n = n.WithChildren(nc)
	}
	return fn(n)
}

func foldRule(n Node) (Node, bool, error) {
	changed := false
	var ferr error
	out, err := transformUp(n, func(x Node) (Node, error) {
		return mapExprs(x, func(e *Expr) *Expr {
			f, ch, err := FoldConstants(e, nil)
			if err != nil {
				ferr = err
				return e
			}
			changed = changed || ch
			return f
		}), nil
	})
	if err == nil {
		err = ferr
	}
	return out, changed, err
}

// pushDownRule moves filter conjuncts as close to the scans as possible:
// through projections and aggregates (on group columns), into join
// conditions and inputs, and into the scans themselves.
func pushDownRule(n Node) (Node, bool, error) {
	before := fingerprint(n)
	out := pushDown(n, nil)
	return out, fingerprint(out) != before, nil
}

func withFilter(n Node, preds []*Expr) Node {
	if c := And(preds...); c != nil {
		return &Filter{Input: n, Cond: c}
	}
	return n
}

func colSet(cols []Column) map[ColumnID]bool {
	m := make(map[ColumnID]bool, len(cols))
	for _, c := range cols {
		m[c.ID] = true
	}
	return m
}

func covers(cols map[ColumnID]bool, e *Expr) bool {
	for c := range e.Columns() {
		if !cols[c] {
			return false
		}
	}
	return true
}

func pushDown(n Node, preds []*Expr) Node {
	switch x := n.(type) {
	case *Filter:
		for _, c := range Conjuncts(x.Cond) {
			preds = append(preds, factorOr(c)...)
		}
		return pushDown(x.Input, preds)
	case *Scan:
		if len(preds) == 0 {
			return x
		}
		c := *x
		c.Filter = append(append([]*Expr{}, x.Filter...), preds...)
		return &c
	case *Project:
		defs := map[ColumnID]*Expr{}
		for i, c := range x.Cols {
			defs[c.ID] = x.Exprs[i]
		}
		var down []*Expr
		for _, p := range preds {
			down = append(down, p.Remap(defs))
		}
		return x.WithChildren([]Node{pushDown(x.Input, down)})
	case *Aggregate:
		defs := map[ColumnID]*Expr{}
		groups := map[ColumnID]bool{}
		for i, c := range x.GroupCols {
			defs[c.ID] = x.Groups[i]
			groups[c.ID] = true
		}
		var down, keep []*Expr
		for _, p := range preds {
			if len(x.Groups) > 0 && covers(groups, p) {
				down = append(down, p.Remap(defs))
			} else {
				keep = append(keep, p)
			}
		}
		return withFilter(x.WithChildren([]Node{pushDown(x.Input, down)}), keep)
	case *Sort:
		return x.WithChildren([]Node{pushDown(x.Input, preds)})
	case *Join:
		return pushDownJoin(x, preds)
	}
	// Stop here: push nothing into children but still optimize them.
	ch := n.Children()
	if len(ch) > 0 {
		nc := make([]Node, len(ch))
		for i, c := range ch {
			nc[i] = pushDown(c, nil)
		}
		n = n.WithChildren(nc)
	}
	return withFilter(n, preds)
}

func pushDownJoin(j *Join, preds []*Expr) Node {
	lcols, rcols := colSet(j.Left.Columns()), colSet(j.Right.Columns())
	var toL, toR, cond, above []*Expr
	switch j.Kind {
	case JoinInner:
		for _, p := range append(preds, Conjuncts(j.Cond)...) {
			switch {
			case covers(lcols, p):
				toL = append(toL, p)
			case covers(rcols, p):
				toR = append(toR, p)
			default:
				cond = append(cond, p)
				if d := impliedBy(p, lcols); d != nil {
					toL = append(toL, d)
				}
				if d := impliedBy(p, rcols); d != nil {
					toR = append(toR, d)
				}
			}
		}
	case JoinLeft, JoinSemi, JoinAnti, JoinMark, JoinSingle:
		for _, p := range preds {
			if covers(lcols, p) {
				toL = append(toL, p)
			} else {
				above = append(above, p)
			}
		}
		for _, p := range Conjuncts(j.Cond) {
			// A condition on build rows alone only decides which of them
			// take part: a filter below. Not for a null-aware mark join,
			// whose equality must still see the build side's NULLs.
			if covers(rcols, p) && !(j.Kind == JoinMark && j.NullAware) {
				toR = append(toR, p)
			} else {
				cond = append(cond, p)
			}
		}
	default:
		above = preds
		cond = Conjuncts(j.Cond)
	}
	c := *j
	c.Left = pushDown(j.Left, toL)
	c.Right = pushDown(j.Right, toR)
	c.Cond = And(cond...)
	return withFilter(&c, above)
}

// Estimate returns the estimated row count of n's output.
func Estimate(n Node) float64 { return newEstimator().est(n) }

// estimator memoizes estimates and column sets per node, so planning stays
// fast on plans with dozens of joins.
type estimator struct {
	memo map[Node]float64
	prod map[Node]map[ColumnID]bool
}

func newEstimator() *estimator {
	return &estimator{memo: map[Node]float64{}, prod: map[Node]map[ColumnID]bool{}}
}

func (e *estimator) produced(n Node) map[ColumnID]bool {
	if m, ok := e.prod[n]; ok {
		return m
	}
	m := map[ColumnID]bool{}
	for _, c := range n.Columns() {
		m[c.ID] = true
	}
	for _, c := range n.Children() {
		for id := range e.produced(c) {
			m[id] = true
		}
	}
	e.prod[n] = m
	return m
}

func (e *estimator) est(n Node) float64 {
	if v, ok := e.memo[n]; ok {
		return v
	}
	v := e.compute(n)
	e.memo[n] = v
	return v
}

func (e *estimator) compute(n Node) float64 {
	switch x := n.(type) {
	case *Scan:
		rows := 1000.0
		if x.Stats != nil && x.Stats.Rows >= 0 {
			rows = x.Stats.Rows
		}
		for _, f := range x.Filter {
			rows *= selectivity(f, x)
		}
		return math.Max(rows, 1)
	case *Values:
		return float64(len(x.Rows))
	case *Series:
		return math.Max(float64(x.Count()), 1)
	case *Exchange:
		return math.Max(x.Est, 1)
	case *Filter:
		return math.Max(e.est(x.Input)*selectivity(x.Cond, nil), 1)
	case *Project:
		return e.est(x.Input)
	case *Aggregate:
		if len(x.Groups) == 0 {
			return 1
		}
		return math.Max(e.est(x.Input)*0.3, 1)
	case *Join:
		l, r := e.est(x.Left), e.est(x.Right)
		switch x.Kind {
		case JoinSemi, JoinAnti:
			return l * 0.5
		case JoinRightSemi, JoinRightAnti:
			return r * 0.5
		case JoinMark, JoinSingle:
			return l
		}
		var est float64
		if keys := equiPairs(x); len(keys) > 0 {
			// |L join R| = |L| |R| / max(distinct(L.key), distinct(R.key)),
			// using the most selective key pair.
			est = math.Inf(1)
			for _, k := range keys {
				dl, dr := math.Min(e.distinct(x.Left, k[0]), l), math.Min(e.distinct(x.Right, k[1]), r)
				est = math.Min(est, l*r/math.Max(math.Max(dl, dr), 1))
			}
		} else {
			est = l * r
		}
		if x.Kind == JoinLeft || x.Kind == JoinFull {
			est = math.Max(est, l)
		}
		if x.Kind == JoinRight || x.Kind == JoinFull {
			est = math.Max(est, r)
		}
		return math.Max(est, 1)
	case *Sort:
		return e.est(x.Input)
	case *Limit:
		e := e.est(x.Input)
		if x.Count >= 0 && float64(x.Count) < e {
			return float64(x.Count)
		}
		return e
	case *SetOp:
		return e.est(x.Left) + e.est(x.Right)
	case *Window:
		return e.est(x.Input)
	case *EnforceSingleRow:
		return 1
	}
	return 1000
}

// equiPairs returns the (left, right) column pairs of a join's equalities.
func equiPairs(j *Join) [][2]ColumnID {
	lcols, rcols := colSet(j.Left.Columns()), colSet(j.Right.Columns())
	var out [][2]ColumnID
	for _, c := range Conjuncts(j.Cond) {
		l, r, ok := equality(c)
		if !ok || l.Kind != EColumn || r.Kind != EColumn {
			continue
		}
		if lcols[l.Col] && rcols[r.Col] {
			out = append(out, [2]ColumnID{l.Col, r.Col})
		} else if lcols[r.Col] && rcols[l.Col] {
			out = append(out, [2]ColumnID{r.Col, l.Col})
		}
	}
	return out
}

// distinct estimates the number of distinct values of column id below n:
// the table's row count, capped by max-min+1 for integer and date columns
// with statistics.
func (e *estimator) distinct(n Node, id ColumnID) float64 {
	if s, ok := n.(*Scan); ok {
		i := IndexOf(s.Cols, id)
		if i >= 0 && s.Stats != nil && s.Stats.Rows >= 0 {
			d := s.Stats.Rows
			t := s.Cols[i].Type
			if st, ok := s.Stats.Columns[s.FileCols[i]]; ok && st.HasMinMax && (t.IsInteger() || t.ID == kernels.Date) && !st.Min.Null && !st.Max.Null {
				d = math.Min(d, float64(st.Max.I-st.Min.I+1))
			}
			if st := s.Stats.Columns[s.FileCols[i]]; st.Distinct > 0 {
				d = math.Min(d, st.Distinct)
			}
			return math.Max(d, 1)
		}
	}
	for _, c := range n.Children() {
		if e.produced(c)[id] {
			return e.distinct(c, id)
		}
	}
	return e.est(n)
}

// selectivity guesses the fraction of rows e keeps.
func selectivity(e *Expr, s *Scan) float64 {
	switch e.Kind {
	case EAnd:
		p := 1.0
		for _, a := range e.Args {
			p *= selectivity(a, s)
		}
		return p
	case EOr:
		q := 1.0
		for _, a := range e.Args {
			q *= 1 - selectivity(a, s)
		}
		return 1 - q
	case ENot:
		return 1 - selectivity(e.Args[0], s)
	case EIsNull:
		return 0.05
	case EIn:
		if d := knownDistinct(e.Args[0], s); d > 0 {
			return math.Min(float64(len(e.Args)-1)/d, 1)
		}
		return math.Min(0.05*float64(len(e.Args)-1), 0.5)
	case ECall:
		switch e.Func {
		case "eq":
			if isColConst(e) {
				if d := knownDistinct(e.Args[0], s); d > 0 {
					return 1 / d
				}
				if d := knownDistinct(e.Args[1], s); d > 0 {
					return 1 / d
				}
				return 0.05
			}
			return 0.1
		case "ne":
			if isColConst(e) {
				if d := max(knownDistinct(e.Args[0], s), knownDistinct(e.Args[1], s)); d > 0 {
					return 1 - 1/d
				}
			}
			return 0.9
		case "lt", "le", "gt", "ge":
			if f, ok := rangeFraction(e, s); ok {
				return f
			}
			return 0.33
		case "like", "ilike":
			if e.Args[1].Kind == EConst && len(e.Args[1].Value.S) > 0 && e.Args[1].Value.S[0] != '%' {
				return 0.05
			}
			return 0.1
		case "not_like", "not_ilike":
			return 0.9
		}
	}
	return 0.5
}

// knownDistinct is the distinct count the statistics give for column e
// of scan s, or 0.
func knownDistinct(e *Expr, s *Scan) float64 {
	if s == nil || s.Stats == nil || e.Kind != EColumn {
		return 0
	}
	i := IndexOf(s.Cols, e.Col)
	if i < 0 {
		return 0
	}
	return s.Stats.Columns[s.FileCols[i]].Distinct
}

func isColConst(e *Expr) bool {
	return len(e.Args) == 2 && ((e.Args[0].Kind == EColumn && e.Args[1].Kind == EConst) || (e.Args[1].Kind == EColumn && e.Args[0].Kind == EConst))
}

// rangeFraction interpolates col <op> const within the column's min/max.
func rangeFraction(e *Expr, s *Scan) (float64, bool) {
	if s == nil || s.Stats == nil || !isColConst(e) {
		return 0, false
	}
	col, k, op := e.Args[0], e.Args[1], e.Func
	if col.Kind != EColumn {
		col, k = k, col
		op = map[string]string{"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}[op]
	}
	i := IndexOf(s.Cols, col.Col)
	if i < 0 {
		return 0, false
	}
	st, ok := s.Stats.Columns[s.FileCols[i]]
	if !ok || !st.HasMinMax {
		return 0, false
	}
	lo, hi, v, ok := numeric(st.Min, col.Type), numeric(st.Max, col.Type), numeric(k.Value, k.Type), true
	if math.IsNaN(lo) || math.IsNaN(hi) || math.IsNaN(v) || hi <= lo {
		return 0, false
	}
	f := (v - lo) / (hi - lo)
	if op == "gt" || op == "ge" {
		f = 1 - f
	}
	return math.Min(math.Max(f, 0.001), 1), ok
}

func numeric(v kernels.Value, t kernels.Type) float64 {
	if v.Null {
		return math.NaN()
	}
	switch {
	case t.IsInteger(), t.ID == kernels.Date, t.ID == kernels.Timestamp:
		return float64(v.I)
	case t.IsFloat():
		return v.F
	case t.ID == kernels.Decimal:
		return v.Dec.ToFloat64(t.Scale)
	}
	return math.NaN()
}

// reorderRule orders each tree of inner joins greedily: start from the
// connected pair with the smallest estimated result, then keep adding the
// connected relation that keeps the intermediate result smallest.
func reorderRule(n Node) (Node, bool, error) {
	out, err := transformDown(n, func(x Node) (Node, bool) {
		j, ok := x.(*Join)
		if !ok || j.Kind != JoinInner {
			return x, false
		}
		var leaves []Node
		var preds []*Expr
		flattenInner(j, &leaves, &preds)
		if len(leaves) < 3 {
			return x, false
		}
		r := greedyOrder(leaves, preds)
		return r, true
	})
	return out, false, err // one pass reaches the fixed point
}

// transformDown applies fn top-down; when fn reports it handled a node, its
// new subtree's leaves are still visited.
func transformDown(n Node, fn func(Node) (Node, bool)) (Node, error) {
	m, _ := fn(n)
	ch := m.Children()
	if len(ch) == 0 {
		return m, nil
	}
	nc := make([]Node, len(ch))
	for i, c := range ch {
		var err error
		if nc[i], err = transformDown(c, fn); err != nil {
			return nil, err
		}
	}
	return m.WithChildren(nc), nil
}

func flattenInner(n Node, leaves *[]Node, preds *[]*Expr) {
	if j, ok := n.(*Join); ok && j.Kind == JoinInner {
		flattenInner(j.Left, leaves, preds)
		flattenInner(j.Right, leaves, preds)
		*preds = append(*preds, Conjuncts(j.Cond)...)
		return
	}
	if f, ok := n.(*Filter); ok {
		if j, ok := f.Input.(*Join); ok && j.Kind == JoinInner {
			flattenInner(j, leaves, preds)
			*preds = append(*preds, Conjuncts(f.Cond)...)
			return
		}
	}
	*leaves = append(*leaves, n)
}

func greedyOrder(leaves []Node, preds []*Expr) Node {
	type rel struct {
		node Node
		cols map[ColumnID]bool
	}
	rels := make([]rel, len(leaves))
	for i, l := range leaves {
		rels[i] = rel{l, colSet(l.Columns())}
	}
	used := make([]bool, len(rels))
	remaining := append([]*Expr{}, preds...)
	// joinWith builds a join of acc and r taking every applicable
	// predicate of preds; it returns the rest.
	joinWith := func(acc Node, accCols map[ColumnID]bool, r rel, preds []*Expr) (Node, map[ColumnID]bool, []*Expr) {
		all := map[ColumnID]bool{}
		for c := range accCols {
			all[c] = true
		}
		for c := range r.cols {
			all[c] = true
		}
		var cond, rest []*Expr
		for _, p := range preds {
			if covers(all, p) {
				cond = append(cond, p)
			} else {
				rest = append(rest, p)
			}
		}
		return &Join{Kind: JoinInner, Left: acc, Right: r.node, Cond: And(cond...)}, all, rest
	}
	join := func(acc Node, accCols map[ColumnID]bool, r rel) (Node, map[ColumnID]bool, []*Expr) {
		return joinWith(acc, accCols, r, remaining)
	}
	connected := func(accCols map[ColumnID]bool, r rel) bool {
		for _, p := range remaining {
			cs := p.Columns()
			inAcc, inR, other := false, false, false
			for c := range cs {
				switch {
				case accCols[c]:
					inAcc = true
				case r.cols[c]:
					inR = true
				default:
					other = true
				}
			}
			if inAcc && inR && !other {
				return true
			}
		}
		return false
	}
	// Start with the largest relation as the probe side spine.
	order := make([]int, len(rels))
	for i := range order {
		order[i] = i
	}
	es := newEstimator()
	est := make([]float64, len(rels))
	for i, r := range rels {
		est[i] = es.est(r.node)
	}
	sort.SliceStable(order, func(a, b int) bool { return est[order[a]] > est[order[b]] })
	start := order[0]
	var acc Node = rels[start].node
	accCols := rels[start].cols
	used[start] = true
	for !all(used) {
		best, bestEst := -1, math.Inf(1)
		var bestNode Node
		var bestCols map[ColumnID]bool
		var bestRest []*Expr
		var bestSats []int
		for i, r := range rels {
			if used[i] || !connected(accCols, r) {
				continue
			}
			jn, cols, rest := join(acc, accCols, r)
			e := es.est(jn)
			if e < bestEst {
				best, bestEst, bestNode, bestCols, bestRest, bestSats = i, e, jn, cols, rest, nil
			}
			// r with its satellites: relations joined to r only (nation
			// behind supplier), so a selective filter on them can reduce
			// acc through r (a bushy join).
			var sats []int
			for k, s := range rels {
				if used[k] || k == i || !connected(r.cols, s) || connected(accCols, s) {
					continue
				}
				only := true
				for m, o := range rels {
					if !used[m] && m != i && m != k && connected(o.cols, s) {
						only = false
						break
					}
				}
				if only {
					sats = append(sats, k)
				}
			}
			if len(sats) == 0 {
				continue
			}
			sub, subCols, rest := Node(r.node), r.cols, remaining
			for _, k := range sats {
				sub, subCols, rest = joinWith(sub, subCols, rels[k], rest)
			}
			jn, cols, rest = joinWith(acc, accCols, rel{sub, subCols}, rest)
			if e := es.est(jn); e < bestEst {
				best, bestEst, bestNode, bestCols, bestRest, bestSats = i, e, jn, cols, rest, sats
			}
		}
		for _, k := range bestSats {
			used[k] = true
		}
		if best < 0 {
			// nothing connected: cross join the smallest remaining
			for _, i := range order {
				if !used[i] && (best < 0 || est[i] < est[best]) {
					best = i
				}
			}
			bestNode, bestCols, bestRest = join(acc, accCols, rels[best])
		}
		used[best] = true
		acc, accCols, remaining = bestNode, bestCols, bestRest
	}
	return withFilter(acc, remaining)
}

func all(b []bool) bool {
	for _, v := range b {
		if !v {
			return false
		}
	}
	return true
}

// buildSideRule puts the smaller input of each inner join on the right
// (the hash table side).
func buildSideRule(n Node) (Node, bool, error) {
	es := newEstimator()
	out, err := transformUp(n, func(x Node) (Node, error) {
		j, ok := x.(*Join)
		if !ok {
			return x, nil
		}
		if (j.Kind == JoinSemi || j.Kind == JoinAnti) && !j.NullAware && es.est(j.Left) < es.est(j.Right) {
			// Build the small preserved side; the big side probes and
			// marks matches (right semi/anti join).
			c := *j
			c.Left, c.Right = j.Right, j.Left
			c.Kind = JoinRightSemi
			if j.Kind == JoinAnti {
				c.Kind = JoinRightAnti
			}
			return &c, nil
		}
		if j.Kind != JoinInner {
			return x, nil
		}
		if es.est(j.Left) < es.est(j.Right) {
			c := *j
			c.Left, c.Right = j.Right, j.Left
			// keep the output column order of the original join
			cols := j.Columns()
			exprs := make([]*Expr, len(cols))
			for i, col := range cols {
				exprs[i] = Col(col)
			}
			return &Project{Input: &c, Exprs: exprs, Cols: cols}, nil
		}
		return x, nil
	})
	return out, false, err // one pass reaches the fixed point
}

// factorOr pulls conjuncts common to every branch of an OR out of it:
// (a AND b) OR (a AND c) becomes a AND (b OR c). Join keys hidden in ORs
// (TPC-H Q19) become usable that way.
func factorOr(e *Expr) []*Expr {
	if e.Kind != EOr {
		return []*Expr{e}
	}
	branches := make([][]*Expr, len(e.Args))
	count := map[string]int{}
	byKey := map[string]*Expr{}
	for i, a := range e.Args {
		branches[i] = Conjuncts(a)
		seen := map[string]bool{}
		for _, c := range branches[i] {
			k := c.String()
			if !seen[k] {
				seen[k] = true
				count[k]++
				byKey[k] = c
			}
		}
	}
	var common []*Expr
	isCommon := map[string]bool{}
	for k, n := range count {
		if n == len(e.Args) {
			isCommon[k] = true
		}
	}
	if len(isCommon) == 0 {
		return []*Expr{e}
	}
	// keep a deterministic order: the first branch's order
	for _, c := range branches[0] {
		if isCommon[c.String()] {
			common = append(common, c)
			delete(isCommon, c.String())
		}
	}
	var rest []*Expr
	for _, br := range branches {
		var left []*Expr
		for _, c := range br {
			if count[c.String()] != len(e.Args) {
				left = append(left, c)
			}
		}
		if len(left) == 0 {
			// this branch is just the common part: the OR is implied
			return common
		}
		rest = append(rest, And(left...))
	}
	return append(common, &Expr{Kind: EOr, Type: kernels.TBool, Args: rest})
}

// impliedBy derives, from an OR whose every branch restricts cols, the
// OR of those restrictions (implied by the original, safe to push down).
func impliedBy(e *Expr, cols map[ColumnID]bool) *Expr {
	if e.Kind != EOr {
		return nil
	}
	var parts []*Expr
	for _, br := range e.Args {
		var mine []*Expr
		for _, c := range Conjuncts(br) {
			if covers(cols, c) && len(c.Columns()) > 0 {
				mine = append(mine, c)
			}
		}
		if len(mine) == 0 {
			return nil
		}
		parts = append(parts, And(mine...))
	}
	return &Expr{Kind: EOr, Type: kernels.TBool, Args: parts}
}

// reduceGroupedRule is a semi-join reduction for decorrelated grouped
// subqueries: in  L JOIN (Aggregate by k over X) ON o = k, when o comes
// from a filtered scan S inside L that is much smaller than X, only the
// groups whose key appears in S can ever join, so X becomes X SEMI JOIN S
// ON k = o before aggregating (TPC-H Q2 and Q17 aggregate a few hundred
// groups instead of all of partsupp or lineitem). S is a scan, so reading
// it twice is cheap.
func reduceGroupedRule(n Node) (Node, bool, error) {
	es := newEstimator()
	out, err := transformUp(n, func(x Node) (Node, error) {
		j, ok := x.(*Join)
		if !ok || (j.Kind != JoinLeft && j.Kind != JoinInner && j.Kind != JoinSingle) {
			return x, nil
		}
		pairs := equiPairs(j)
		if len(pairs) == 0 {
			return x, nil
		}
		right, ok := reduceRight(j.Right, pairs, j.Left, es)
		if !ok {
			return x, nil
		}
		c := *j
		c.Right = right
		return &c, nil
	})
	return out, false, err // one pass reaches the fixed point
}

// reduceRight rebuilds the Project/Filter chain over an Aggregate with its
// input semi-joined to the small scans of left that produce the keys.
func reduceRight(n Node, pairs [][2]ColumnID, left Node, es *estimator) (Node, bool) {
	switch x := n.(type) {
	case *Project:
		m := map[ColumnID]ColumnID{}
		for i, c := range x.Cols {
			if e := x.Exprs[i]; e.Kind == EColumn {
				m[c.ID] = e.Col
			}
		}
		var down [][2]ColumnID
		for _, p := range pairs {
			if src, ok := m[p[1]]; ok {
				down = append(down, [2]ColumnID{p[0], src})
			}
		}
		in, ok := reduceRight(x.Input, down, left, es)
		if !ok {
			return n, false
		}
		return x.WithChildren([]Node{in}), true
	case *Filter:
		in, ok := reduceRight(x.Input, pairs, left, es)
		if !ok {
			return n, false
		}
		return x.WithChildren([]Node{in}), true
	case *Aggregate:
		if len(x.Groups) == 0 {
			return n, false
		}
		var conds []*Expr
		var semiSide Node
		for _, p := range pairs {
			gi := IndexOf(x.GroupCols, p[1])
			if gi < 0 || x.Groups[gi].Kind != EColumn {
				continue
			}
			s, key := reducerScan(left, p[0])
			if s == nil || (semiSide != nil && semiSide != Node(s)) {
				continue
			}
			if es.est(s)*10 > es.est(x.Input) {
				continue
			}
			semiSide = s
			conds = append(conds, Call("eq", kernels.TBool, x.Groups[gi], Col(columnOf(s, key))))
		}
		if semiSide == nil {
			return n, false
		}
		c := *x
		c.Input = &Join{Kind: JoinSemi, Left: x.Input, Right: semiSide, Cond: And(conds...)}
		return &c, true
	}
	return n, false
}

// reducerScan finds a filtered scan whose column key every row of n
// equals in column id: the scan producing id when it is filtered, else one
// joined to id by an equality of an inner or semi join that all rows of n
// passed (TPC-H Q20: ps_partkey IN (SELECT p_partkey FROM part WHERE
// p_name LIKE ...)). It returns nil when there is none.
func reducerScan(n Node, id ColumnID) (*Scan, ColumnID) {
	if s := scanOf(n, id); s != nil && len(s.Filter) > 0 {
		return s, id
	}
	for n != nil {
		if j, ok := n.(*Join); ok && (j.Kind == JoinInner || j.Kind == JoinSemi) {
			for _, c := range Conjuncts(j.Cond) {
				if c.Kind != ECall || c.Func != "eq" || len(c.Args) != 2 || c.Args[0].Kind != EColumn || c.Args[1].Kind != EColumn {
					continue
				}
				other := ColumnID(-1)
				switch id {
				case c.Args[0].Col:
					other = c.Args[1].Col
				case c.Args[1].Col:
					other = c.Args[0].Col
				}
				if other < 0 {
					continue
				}
				for _, side := range []Node{j.Left, j.Right} {
					if s, key := scanThrough(side, other); s != nil && len(s.Filter) > 0 {
						return s, key
					}
				}
			}
		}
		switch n.(type) {
		case *Scan, *Aggregate, *Window, *SetOp, *Values, *Series, *Exchange, *EnforceSingleRow:
			return nil, 0
		}
		var next Node
		for _, c := range n.Children() {
			if IndexOf(c.Columns(), id) >= 0 {
				next = c
				break
			}
		}
		n = next
	}
	return nil, 0
}

// scanThrough is scanOf that also follows projections renaming a column:
// it returns the scan and the id the column has there.
func scanThrough(n Node, id ColumnID) (*Scan, ColumnID) {
	for {
		p, ok := n.(*Project)
		if !ok {
			break
		}
		i := IndexOf(p.Cols, id)
		if i < 0 || p.Exprs[i].Kind != EColumn {
			return nil, 0
		}
		n, id = p.Input, p.Exprs[i].Col
	}
	return scanOf(n, id), id
}

// scanOf finds the scan under n that outputs column id (through nodes that
// pass it on unchanged).
func scanOf(n Node, id ColumnID) *Scan {
	if s, ok := n.(*Scan); ok {
		if IndexOf(s.Cols, id) >= 0 {
			return s
		}
		return nil
	}
	switch n.(type) {
	case *Aggregate, *Window, *SetOp, *Values, *Series, *Exchange, *EnforceSingleRow:
		return nil
	}
	for _, c := range n.Children() {
		if IndexOf(c.Columns(), id) >= 0 {
			return scanOf(c, id)
		}
	}
	return nil
}

func columnOf(s *Scan, id ColumnID) Column {
	return s.Cols[IndexOf(s.Cols, id)]
}
