package sql

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Binder resolves one statement's names and types. It is not safe for
// concurrent use; make one per statement.
type Binder struct {
	cat        Catalog
	kernels    *kernels.Registry
	text       string
	nextID     planner.ColumnID
	ctes       []map[string]*cteDef
	paramTypes []kernels.Type
	params     []Param
	now        time.Time
	viewDepth  int
}

// Param is a bound statement parameter value.
type Param struct {
	Type  kernels.Type
	Value kernels.Value
}

type cteDef struct {
	name    string
	query   *pg.Node
	colName []string
}

// NewBinder returns a binder for statement text over cat.
func NewBinder(cat Catalog, text string) *Binder {
	return &Binder{cat: cat, kernels: kernels.Default, text: text, nextID: 1, now: time.Now()}
}

// SetParams gives values for $1..$n.
func (b *Binder) SetParams(p []Param) { b.params = p }

func (b *Binder) newCol(name string, t kernels.Type, nullable bool) planner.Column {
	id := b.nextID
	b.nextID++
	return planner.Column{ID: id, Name: name, Type: t, Nullable: nullable}
}

// boundQuery is a bound SELECT: its plan and output names.
type boundQuery struct {
	node  planner.Node
	names []string
}

func (q *boundQuery) cols() []planner.Column { return q.node.Columns() }

// bindQuery binds any query node (SELECT, VALUES, set operation).
func (b *Binder) bindQuery(n *pg.Node, outer *scope) (*boundQuery, error) {
	sel := n.GetSelectStmt()
	if sel == nil {
		return nil, &Error{Msg: "expected a query"}
	}
	return b.bindSelect(sel, outer)
}

func (b *Binder) pushCTEs(w *pg.WithClause) error {
	m := map[string]*cteDef{}
	b.ctes = append(b.ctes, m)
	if w == nil {
		return nil
	}
	if w.Recursive {
		return &Error{Msg: "WITH RECURSIVE is not supported"}
	}
	for _, c := range w.Ctes {
		ce := c.GetCommonTableExpr()
		d := &cteDef{name: strings.ToLower(ce.Ctename), query: ce.Ctequery}
		for _, a := range ce.Aliascolnames {
			d.colName = append(d.colName, strings.ToLower(a.GetString_().Sval))
		}
		if _, dup := m[d.name]; dup {
			return b.errAt(ce.Location, "WITH query name %q specified more than once", ce.Ctename)
		}
		m[d.name] = d
	}
	return nil
}

func (b *Binder) popCTEs() { b.ctes = b.ctes[:len(b.ctes)-1] }

func (b *Binder) findCTE(name string) *cteDef {
	for i := len(b.ctes) - 1; i >= 0; i-- {
		if d, ok := b.ctes[i][name]; ok {
			return d
		}
	}
	return nil
}

func (b *Binder) bindSelect(sel *pg.SelectStmt, outer *scope) (*boundQuery, error) {
	if err := b.pushCTEs(sel.WithClause); err != nil {
		return nil, err
	}
	defer b.popCTEs()
	if sel.IntoClause != nil {
		return nil, &Error{Msg: "SELECT INTO is not supported; use CREATE TABLE AS"}
	}
	var q *boundQuery
	var err error
	switch {
	case sel.Op != pg.SetOperation_SETOP_NONE && sel.Op != pg.SetOperation_SET_OPERATION_UNDEFINED:
		q, err = b.bindSetOp(sel, outer)
	case len(sel.ValuesLists) > 0:
		q, err = b.bindValues(sel, outer)
	default:
		return b.bindSimpleSelect(sel, outer)
	}
	if err != nil {
		return nil, err
	}
	// ORDER BY / LIMIT over a set operation or VALUES: by output name or position.
	return b.orderLimitOutput(q, sel, outer)
}

// orderLimitOutput applies ORDER BY/LIMIT that may only name output columns.
func (b *Binder) orderLimitOutput(q *boundQuery, sel *pg.SelectStmt, outer *scope) (*boundQuery, error) {
	if len(sel.SortClause) > 0 {
		sc := newScope(outer)
		bind := &binding{}
		for i, c := range q.cols() {
			bind.cols = append(bind.cols, scopeCol{name: q.names[i], col: c})
		}
		sc.add(bind)
		keys, err := b.bindSortKeys(sel.SortClause, func(sb *pg.SortBy) (*planner.Expr, error) {
			if c, ok := b.outputRef(sb.Node, q.names, q.cols()); ok {
				return planner.Col(c), nil
			}
			return b.bindExpr(&exprCtx{sc: sc, clause: "ORDER BY"}, sb.Node)
		})
		if err != nil {
			return nil, err
		}
		q.node = &planner.Sort{Input: q.node, Keys: keys}
	}
	return b.applyLimit(q, sel)
}

func (b *Binder) applyLimit(q *boundQuery, sel *pg.SelectStmt) (*boundQuery, error) {
	if sel.LimitCount == nil && sel.LimitOffset == nil {
		return q, nil
	}
	if sel.LimitOption == pg.LimitOption_LIMIT_OPTION_WITH_TIES {
		return nil, &Error{Msg: "FETCH ... WITH TIES is not supported"}
	}
	count, offset := int64(-1), int64(0)
	var err error
	if sel.LimitCount != nil {
		if count, err = b.constInt(sel.LimitCount, "LIMIT", true); err != nil {
			return nil, err
		}
	}
	if sel.LimitOffset != nil {
		if offset, err = b.constInt(sel.LimitOffset, "OFFSET", false); err != nil {
			return nil, err
		}
	}
	q.node = &planner.Limit{Input: q.node, Count: count, Offset: offset}
	return q, nil
}

// constInt evaluates a constant integer clause (LIMIT/OFFSET); NULL LIMIT
// means no limit.
func (b *Binder) constInt(n *pg.Node, what string, nullIsAll bool) (int64, error) {
	e, err := b.bindExpr(&exprCtx{sc: newScope(nil), clause: what}, n)
	if err != nil {
		return 0, err
	}
	if e, err = b.castTo(e, kernels.TInt64, -1); err != nil {
		return 0, err
	}
	if e.Kind != planner.EConst {
		return 0, &Error{Msg: what + " must be a constant"}
	}
	if e.Value.Null {
		if nullIsAll {
			return -1, nil
		}
		return 0, nil
	}
	if e.Value.I < 0 {
		if what == "LIMIT" {
			return 0, &Error{Msg: "LIMIT must not be negative"}
		}
		return 0, &Error{Msg: "OFFSET must not be negative"}
	}
	return e.Value.I, nil
}

// outputRef resolves ORDER BY/GROUP BY items that name an output column by
// position (an integer constant) or by alias (a bare name).
func (b *Binder) outputRef(n *pg.Node, names []string, cols []planner.Column) (planner.Column, bool) {
	if c := n.GetAConst(); c != nil {
		if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
			i := int(iv.Ival.Ival)
			if i >= 1 && i <= len(cols) {
				return cols[i-1], true
			}
		}
		return planner.Column{}, false
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
		if s := cr.Fields[0].GetString_(); s != nil {
			name := strings.ToLower(s.Sval)
			hit := -1
			for i, nm := range names {
				if nm == name {
					if hit >= 0 {
						return planner.Column{}, false
					}
					hit = i
				}
			}
			if hit >= 0 {
				return cols[hit], true
			}
		}
	}
	return planner.Column{}, false
}

func (b *Binder) bindSortKeys(items []*pg.Node, bind func(*pg.SortBy) (*planner.Expr, error)) ([]planner.SortKey, error) {
	var keys []planner.SortKey
	for _, it := range items {
		sb := it.GetSortBy()
		e, err := bind(sb)
		if err != nil {
			return nil, err
		}
		desc, nullsFirst, err := b.sortDirection(sb)
		if err != nil {
			return nil, err
		}
		keys = append(keys, planner.SortKey{Expr: e, Desc: desc, NullsFirst: nullsFirst})
	}
	return keys, nil
}

// sortDirection reads ASC/DESC and NULLS FIRST/LAST; PostgreSQL puts NULLs
// last ascending and first descending by default.
func (b *Binder) sortDirection(sb *pg.SortBy) (desc, nullsFirst bool, err error) {
	if sb.SortbyDir == pg.SortByDir_SORTBY_USING {
		return false, false, b.errAt(sb.Location, "ORDER BY USING is not supported")
	}
	desc = sb.SortbyDir == pg.SortByDir_SORTBY_DESC
	nullsFirst = desc
	switch sb.SortbyNulls {
	case pg.SortByNulls_SORTBY_NULLS_FIRST:
		nullsFirst = true
	case pg.SortByNulls_SORTBY_NULLS_LAST:
		nullsFirst = false
	}
	return desc, nullsFirst, nil
}

func (b *Binder) bindValues(sel *pg.SelectStmt, outer *scope) (*boundQuery, error) {
	ctx := &exprCtx{sc: newScope(outer), clause: "VALUES"}
	var rows [][]*planner.Expr
	width := -1
	for _, l := range sel.ValuesLists {
		items := l.GetList().Items
		if width >= 0 && len(items) != width {
			return nil, &Error{Msg: "VALUES lists must all be the same length"}
		}
		width = len(items)
		row, err := b.bindList(ctx, items)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	names := make([]string, width)
	cols := make([]planner.Column, width)
	for j := 0; j < width; j++ {
		col := make([]*planner.Expr, len(rows))
		for i := range rows {
			col[i] = rows[i][j]
		}
		col, t, err := b.unify(col, "VALUES", -1)
		if err != nil {
			return nil, err
		}
		nullable := false
		for i := range rows {
			rows[i][j] = col[i]
			if col[i].Kind != planner.EConst || col[i].Value.Null {
				nullable = true
			}
		}
		names[j] = "column" + itoa(j+1)
		cols[j] = b.newCol(names[j], t, nullable)
	}
	return &boundQuery{node: &planner.Values{Cols: cols, Rows: rows}, names: names}, nil
}

func itoa(i int) string { return strconv.Itoa(i) }

func (b *Binder) bindSetOp(sel *pg.SelectStmt, outer *scope) (*boundQuery, error) {
	l, err := b.bindSelect(sel.Larg, outer)
	if err != nil {
		return nil, err
	}
	r, err := b.bindSelect(sel.Rarg, outer)
	if err != nil {
		return nil, err
	}
	lc, rc := l.cols(), r.cols()
	kindName := map[pg.SetOperation]string{pg.SetOperation_SETOP_UNION: "UNION", pg.SetOperation_SETOP_INTERSECT: "INTERSECT", pg.SetOperation_SETOP_EXCEPT: "EXCEPT"}[sel.Op]
	if len(lc) != len(rc) {
		return nil, &Error{Msg: "each " + kindName + " query must have the same number of columns"}
	}
	var lx, rx []*planner.Expr
	cols := make([]planner.Column, len(lc))
	needL, needR := false, false
	for i := range lc {
		ex, t, err := b.unify([]*planner.Expr{planner.Col(lc[i]), planner.Col(rc[i])}, kindName, -1)
		if err != nil {
			return nil, err
		}
		if t.ID == kernels.Null {
			t = kernels.TString
			ex[0], ex[1] = &planner.Expr{Kind: planner.ECast, Type: t, Args: []*planner.Expr{ex[0]}}, &planner.Expr{Kind: planner.ECast, Type: t, Args: []*planner.Expr{ex[1]}}
		}
		needL = needL || ex[0].Kind != planner.EColumn
		needR = needR || ex[1].Kind != planner.EColumn
		lx, rx = append(lx, ex[0]), append(rx, ex[1])
		cols[i] = b.newCol(l.names[i], t, lc[i].Nullable || rc[i].Nullable)
	}
	ln, rn := l.node, r.node
	if needL {
		ln = b.project(ln, lx, l.names)
	}
	if needR {
		rn = b.project(rn, rx, r.names)
	}
	kind := map[pg.SetOperation]planner.SetOpKind{pg.SetOperation_SETOP_UNION: planner.SetUnion, pg.SetOperation_SETOP_INTERSECT: planner.SetIntersect, pg.SetOperation_SETOP_EXCEPT: planner.SetExcept}[sel.Op]
	return &boundQuery{node: &planner.SetOp{Kind: kind, All: sel.All, Left: ln, Right: rn, Cols: cols}, names: l.names}, nil
}

// project wraps in with a projection computing exprs under fresh columns.
func (b *Binder) project(in planner.Node, exprs []*planner.Expr, names []string) planner.Node {
	cols := make([]planner.Column, len(exprs))
	for i, e := range exprs {
		cols[i] = b.newCol(names[i], e.Type, true)
	}
	return &planner.Project{Input: in, Exprs: exprs, Cols: cols}
}

// aggCtx collects the aggregates of one query level.
type aggCtx struct {
	input     *scope
	groups    []*planner.Expr
	groupKeys map[string]int
	groupCols []planner.Column
	aggs      []planner.AggCall
	aggCols   []planner.Column
	aggKeys   map[string]int
}

// winCtx collects the window functions of one query level.
type winCtx struct {
	funcs []planner.WindowFunc
	keys  map[string]int
}

func (b *Binder) bindAggCall(ctx *exprCtx, fc *pg.FuncCall, name string) (*planner.Expr, error) {
	a := ctx.agg
	if len(fc.AggOrder) > 0 {
		return nil, b.errAt(fc.Location, "ORDER BY inside aggregate calls is not supported")
	}
	if ctx.inAgg {
		return nil, b.errAt(fc.Location, "aggregate function calls cannot be nested")
	}
	inner := &exprCtx{sc: a.input, clause: "arguments of aggregate functions", agg: a, inAgg: true}
	var args []*planner.Expr
	fn := name
	if name == "every" {
		fn = "bool_and"
	}
	if fc.AggStar {
		if name != "count" {
			return nil, b.errAt(fc.Location, "%s(*) is not allowed", name)
		}
		fn = "count_star"
	} else {
		var err error
		if args, err = b.bindList(inner, fc.Args); err != nil {
			return nil, err
		}
		if name == "count" && len(args) == 0 {
			fn = "count_star"
		} else if len(args) != 1 {
			return nil, b.errAt(fc.Location, "function %s takes exactly one argument, got %d", name, len(args))
		}
	}
	for i, x := range args {
		if isUntypedLiteral(x) || x.Type.ID == kernels.Null {
			var err error
			if args[i], err = b.castTo(x, kernels.TString, fc.Location); err != nil {
				return nil, err
			}
		}
	}
	var argType kernels.Type
	if len(args) > 0 {
		argType = args[0].Type
	}
	rt, err := planner.AggResultType(fn, argType)
	if err != nil {
		return nil, b.errAt(fc.Location, "%s", err.Error())
	}
	var filter *planner.Expr
	if fc.AggFilter != nil {
		if filter, err = b.bindExpr(inner, fc.AggFilter); err != nil {
			return nil, err
		}
		// FILTER (WHERE c): feed NULL for rows that do not pass.
		if fn == "count_star" {
			fn = "count"
			args = []*planner.Expr{planner.BoolConst(true)}
		}
		args[0] = &planner.Expr{Kind: planner.ECase, Type: args[0].Type, Args: []*planner.Expr{filter, args[0]}}
	}
	call := planner.AggCall{Func: fn, Args: args, Distinct: fc.AggDistinct && fn != "min" && fn != "max", Type: rt}
	key := fn + "|" + boolStr(call.Distinct)
	for _, x := range args {
		// With the type: CAST(NULL AS DATE) prints as NULL too.
		key += "|" + x.String() + "::" + x.Type.String()
	}
	if i, ok := a.aggKeys[key]; ok {
		return planner.Col(a.aggCols[i]), nil
	}
	col := b.newCol(name, rt, fn != "count" && fn != "count_star")
	a.aggKeys[key] = len(a.aggs)
	a.aggs = append(a.aggs, call)
	a.aggCols = append(a.aggCols, col)
	return planner.Col(col), nil
}

func boolStr(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// finishAgg replaces group expressions by group columns and rejects input
// columns used outside aggregates.
// groupKey is the text by which a GROUP BY expression is recognised in
// the select list and HAVING: e's text after constant folding, because an
// expression bound inside a call (a comparison, say) comes out folded
// while the same expression bound alone may not, with its type (a
// boolean that folds to NULL is not a NULL date key).
func (b *Binder) groupKey(e *planner.Expr) string {
	if f, _, err := planner.FoldConstants(e, b.kernels); err == nil {
		e = f
	}
	return fmt.Sprintf("%s::%v", e.String(), e.Type)
}

func (b *Binder) finishAgg(a *aggCtx, e *planner.Expr, loc int32) (*planner.Expr, error) {
	var rewrite func(x *planner.Expr) *planner.Expr
	rewrite = func(x *planner.Expr) *planner.Expr {
		if x.Kind != planner.EConst {
			if i, ok := a.groupKeys[b.groupKey(x)]; ok {
				return planner.Col(a.groupCols[i])
			}
		}
		if len(x.Args) == 0 {
			return x
		}
		c := *x
		c.Args = make([]*planner.Expr, len(x.Args))
		for i, arg := range x.Args {
			c.Args[i] = rewrite(arg)
		}
		if x.Sub != nil && x.Sub.Test != nil {
			s := *x.Sub
			s.Test = rewrite(x.Sub.Test)
			c.Sub = &s
		}
		return &c
	}
	out := rewrite(e)
	if out.Kind == planner.ESubquery && out.Sub.Test != nil {
		s := *out.Sub
		s.Test = rewrite(out.Sub.Test)
		out.Sub = &s
	}
	inputCols := map[planner.ColumnID]string{}
	for _, c := range a.input.columns() {
		inputCols[c.ID] = c.Name
	}
	var bad string
	out.Walk(func(x *planner.Expr) bool {
		if x.Kind == planner.EColumn {
			if n, ok := inputCols[x.Col]; ok && bad == "" {
				bad = n
			}
		}
		return true
	})
	// Correlated subqueries may reference input columns too.
	for _, sq := range subqueries(out) {
		for _, c := range sq.Outer {
			if n, ok := inputCols[c]; ok && bad == "" {
				if !groupHasCol(a, c) {
					bad = n
				}
			}
		}
	}
	if bad != "" {
		return nil, b.errAt(loc, "column %q must appear in the GROUP BY clause or be used in an aggregate function", bad)
	}
	return out, nil
}

func groupHasCol(a *aggCtx, id planner.ColumnID) bool {
	for _, g := range a.groups {
		if g.Kind == planner.EColumn && g.Col == id {
			return true
		}
	}
	return false
}

func subqueries(e *planner.Expr) []*planner.Subquery {
	var out []*planner.Subquery
	e.Walk(func(x *planner.Expr) bool {
		if x.Kind == planner.ESubquery {
			out = append(out, x.Sub)
		}
		return true
	})
	return out
}

func (b *Binder) bindWindowCall(ctx *exprCtx, fc *pg.FuncCall, name string) (*planner.Expr, error) {
	w := ctx.win
	over := fc.Over
	if over.Refname != "" || over.Name != "" {
		return nil, b.errAt(fc.Location, "named windows are not supported")
	}
	// frame options: only the default frame is supported
	const frameDefault = 1058 // FRAMEOPTION_DEFAULTS (RANGE UNBOUNDED PRECEDING .. CURRENT ROW)
	if over.FrameOptions != frameDefault && over.FrameOptions != 0 {
		return nil, b.errAt(fc.Location, "window frame clauses are not supported (only the default frame)")
	}
	inner := &exprCtx{sc: ctx.sc, agg: ctx.agg, clause: "window function arguments"}
	fn := name
	var args []*planner.Expr
	var err error
	if fc.AggStar {
		fn = "count_star"
	} else if args, err = b.bindList(inner, fc.Args); err != nil {
		return nil, err
	}
	if fn == "count" && len(args) == 0 {
		fn = "count_star"
	}
	valueFn := name == "lag" || name == "lead" || name == "first_value" || name == "last_value"
	if !aggregateFuncs[name] && !windowOnlyFuncs[name] {
		return nil, b.errAt(fc.Location, "function %s is not a window function", name)
	}
	if name == "ntile" {
		if len(args) != 1 {
			return nil, b.errAt(fc.Location, "function ntile takes one argument")
		}
		if args[0], err = b.castTo(args[0], kernels.TInt64, fc.Location); err != nil {
			return nil, err
		}
		if args[0].Kind != planner.EConst {
			return nil, b.errAt(fc.Location, "argument of ntile must be a constant")
		}
	} else if windowOnlyFuncs[name] && !valueFn && len(args) != 0 {
		return nil, b.errAt(fc.Location, "function %s takes no arguments", name)
	}
	if valueFn {
		maxArgs := 1
		if name == "lag" || name == "lead" {
			maxArgs = 2
		}
		if len(args) < 1 || len(args) > maxArgs {
			return nil, b.errAt(fc.Location, "function %s takes 1 to %d arguments (a default value is not supported)", name, maxArgs)
		}
		if len(args) == 2 {
			if args[1], err = b.castTo(args[1], kernels.TInt64, fc.Location); err != nil {
				return nil, err
			}
			if args[1].Kind != planner.EConst {
				return nil, b.errAt(fc.Location, "the offset of %s must be a constant", name)
			}
		}
		if isUntypedLiteral(args[0]) {
			if args[0], err = b.castTo(args[0], kernels.TString, fc.Location); err != nil {
				return nil, err
			}
		}
	}
	var argType kernels.Type
	if len(args) > 0 {
		argType = args[0].Type
	}
	rt := kernels.TInt64
	if valueFn {
		rt = args[0].Type
	}
	if name == "percent_rank" || name == "cume_dist" {
		rt = kernels.TFloat64
	}
	if aggregateFuncs[name] {
		if rt, err = planner.AggResultType(fn, argType); err != nil {
			return nil, b.errAt(fc.Location, "%s", err.Error())
		}
	}
	part, err := b.bindList(inner, over.PartitionClause)
	if err != nil {
		return nil, err
	}
	order, err := b.bindSortKeys(over.OrderClause, func(sb *pg.SortBy) (*planner.Expr, error) { return b.bindExpr(inner, sb.Node) })
	if err != nil {
		return nil, err
	}
	if ctx.agg != nil {
		for i := range args {
			if args[i], err = b.finishAgg(ctx.agg, args[i], fc.Location); err != nil {
				return nil, err
			}
		}
		for i := range part {
			if part[i], err = b.finishAgg(ctx.agg, part[i], fc.Location); err != nil {
				return nil, err
			}
		}
		for i := range order {
			if order[i].Expr, err = b.finishAgg(ctx.agg, order[i].Expr, fc.Location); err != nil {
				return nil, err
			}
		}
	}
	col := b.newCol(name, rt, true)
	w.funcs = append(w.funcs, planner.WindowFunc{Func: fn, Args: args, PartitionBy: part, OrderBy: order, Col: col})
	return planner.Col(col), nil
}

// bindSubLink binds a subquery expression; decorrelation happens later in
// the planner.
func (b *Binder) bindSubLink(ctx *exprCtx, sl *pg.SubLink) (*planner.Expr, error) {
	inner := newScope(ctx.sc)
	q, err := b.bindQuery(sl.Subselect, inner)
	if err != nil {
		return nil, err
	}
	// Correlated references recorded while binding the subquery live on the
	// scopes created for it; collect all outer columns it uses.
	outer := b.outerRefs(q.node, ctx.sc)
	sub := &planner.Subquery{Plan: q.node, Outer: outer}
	cols := q.cols()
	switch sl.SubLinkType {
	case pg.SubLinkType_EXISTS_SUBLINK:
		sub.Kind = planner.SubExists
		return &planner.Expr{Kind: planner.ESubquery, Type: kernels.TBool, Sub: sub}, nil
	case pg.SubLinkType_EXPR_SUBLINK:
		if len(cols) != 1 {
			return nil, b.errAt(sl.Location, "subquery must return only one column")
		}
		sub.Kind = planner.SubScalar
		return &planner.Expr{Kind: planner.ESubquery, Type: cols[0].Type, Sub: sub}, nil
	case pg.SubLinkType_ANY_SUBLINK, pg.SubLinkType_ALL_SUBLINK:
		if len(cols) != 1 {
			return nil, b.errAt(sl.Location, "subquery has too many columns")
		}
		op := funcName(sl.OperName)
		if op == "" {
			op = "="
		}
		test, err := b.bindExpr(ctx, sl.Testexpr)
		if err != nil {
			return nil, err
		}
		if op == "=" && sl.SubLinkType == pg.SubLinkType_ANY_SUBLINK {
			// x IN (subquery): coerce both sides to one type
			ct := cols[0].Type
			if !isUntypedLiteral(test) {
				t, ok := kernels.CommonType(test.Type, cols[0].Type)
				if !ok {
					return nil, b.errAt(sl.Location, "operator does not exist: %s = %s", test.Type, cols[0].Type)
				}
				ct = t
			}
			if test, err = b.castTo(test, ct, sl.Location); err != nil {
				return nil, err
			}
			if ct != cols[0].Type {
				pc := b.newCol(cols[0].Name, ct, cols[0].Nullable)
				sub.Plan = &planner.Project{Input: q.node, Exprs: []*planner.Expr{{Kind: planner.ECast, Type: ct, Args: []*planner.Expr{planner.Col(cols[0])}}}, Cols: []planner.Column{pc}}
			}
			sub.Kind = planner.SubIn
			sub.Test = test
			return &planner.Expr{Kind: planner.ESubquery, Type: kernels.TBool, Sub: sub}, nil
		}
		fn, ok := binaryOps[op]
		if !ok || !comparisons[fn] {
			return nil, b.errAt(sl.Location, "operator %s is not supported with ANY/ALL", op)
		}
		cmp, err := b.binary(fn, op, test, planner.Col(cols[0]), sl.Location)
		if err != nil {
			return nil, err
		}
		sub.Kind = planner.SubIn
		sub.Test = test
		sub.Cmp = cmp
		sub.All = sl.SubLinkType == pg.SubLinkType_ALL_SUBLINK
		return &planner.Expr{Kind: planner.ESubquery, Type: kernels.TBool, Sub: sub}, nil
	}
	return nil, b.errAt(sl.Location, "unsupported subquery type")
}

// outerRefs lists the columns a subquery plan references that come from
// the enclosing scopes (sc and its outers).
func (b *Binder) outerRefs(n planner.Node, sc *scope) []planner.ColumnID {
	visible := map[planner.ColumnID]bool{}
	for s := sc; s != nil; s = s.outer {
		for _, c := range s.columns() {
			visible[c.ID] = true
		}
	}
	seen := map[planner.ColumnID]bool{}
	var out []planner.ColumnID
	planner.WalkExprs(n, func(e *planner.Expr) {
		for c := range e.Columns() {
			if visible[c] && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	})
	return out
}
