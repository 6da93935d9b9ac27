package sql

import (
	"strings"

	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// bindFrom binds a FROM clause into one plan (comma items cross-joined) and
// fills sc with the visible relations.
func (b *Binder) bindFrom(items []*pg.Node, sc *scope) (planner.Node, error) {
	if len(items) == 0 {
		// SELECT without FROM: one empty row.
		return &planner.Values{Rows: [][]*planner.Expr{{}}}, nil
	}
	var node planner.Node
	for _, it := range items {
		n, rels, err := b.bindFromItem(it, sc)
		if err != nil {
			return nil, err
		}
		for _, r := range rels {
			if r.alias != "" && sc.relation(r.alias) != nil {
				return nil, &Error{Msg: "table name \"" + r.alias + "\" specified more than once"}
			}
			sc.add(r)
		}
		if node == nil {
			node = n
		} else {
			node = &planner.Join{Kind: planner.JoinInner, Left: node, Right: n}
		}
	}
	return node, nil
}

func (b *Binder) bindFromItem(it *pg.Node, sc *scope) (planner.Node, []*binding, error) {
	switch {
	case it.GetRangeVar() != nil:
		return b.bindRangeVar(it.GetRangeVar(), sc)
	case it.GetRangeSubselect() != nil:
		rs := it.GetRangeSubselect()
		if rs.Lateral {
			return nil, nil, &Error{Msg: "LATERAL subqueries are not supported"}
		}
		q, err := b.bindQuery(rs.Subquery, sc.outer)
		if err != nil {
			return nil, nil, err
		}
		alias := ""
		var colAliases []*pg.Node
		if rs.Alias != nil {
			alias = strings.ToLower(rs.Alias.Aliasname)
			colAliases = rs.Alias.Colnames
		}
		return q.node, []*binding{b.bindingFor(alias, q.names, q.cols(), colAliases)}, nil
	case it.GetJoinExpr() != nil:
		return b.bindJoin(it.GetJoinExpr(), sc)
	case it.GetRangeFunction() != nil:
		return b.bindRangeFunction(it.GetRangeFunction(), sc)
	}
	return nil, nil, &Error{Msg: "unsupported FROM item"}
}

func (b *Binder) bindingFor(alias string, names []string, cols []planner.Column, colAliases []*pg.Node) *binding {
	bind := &binding{alias: alias}
	for i, c := range cols {
		name := names[i]
		if i < len(colAliases) {
			name = strings.ToLower(colAliases[i].GetString_().Sval)
		}
		bind.cols = append(bind.cols, scopeCol{name: name, col: c})
	}
	return bind
}

func (b *Binder) bindRangeVar(rv *pg.RangeVar, sc *scope) (planner.Node, []*binding, error) {
	name := strings.ToLower(rv.Relname)
	alias := name
	var colAliases []*pg.Node
	if rv.Alias != nil {
		alias = strings.ToLower(rv.Alias.Aliasname)
		colAliases = rv.Alias.Colnames
	}
	if rv.Schemaname == "" {
		if d := b.findCTE(name); d != nil {
			// Bind the CTE afresh at each reference: fresh column IDs.
			saved := b.ctes
			b.ctes = b.ctesUpTo(d)
			q, err := b.bindQuery(d.query, nil)
			b.ctes = saved
			if err != nil {
				return nil, nil, err
			}
			names := q.names
			if len(d.colName) > 0 {
				names = append(append([]string{}, d.colName...), names[len(d.colName):]...)
			}
			return q.node, []*binding{b.bindingFor(alias, names, q.cols(), colAliases)}, nil
		}
	}
	t, ok := b.cat.Lookup(name)
	if !ok {
		return nil, nil, b.errAt(rv.Location, "relation %q does not exist", rv.Relname)
	}
	if t.ViewSQL != "" {
		if b.viewDepth > 16 {
			return nil, nil, b.errAt(rv.Location, "view %q nests too deeply", name)
		}
		q, err := b.bindView(t)
		if err != nil {
			return nil, nil, b.errAt(rv.Location, "in view %q: %s", name, err.Error())
		}
		names := q.names
		return q.node, []*binding{b.bindingFor(alias, names, q.cols(), colAliases)}, nil
	}
	return b.scanOf(t, alias, colAliases)
}

func (b *Binder) ctesUpTo(d *cteDef) []map[string]*cteDef {
	for i := len(b.ctes) - 1; i >= 0; i-- {
		if b.ctes[i][d.name] == d {
			// A CTE sees the CTEs defined before it in its WITH list and the
			// outer ones; seeing all of its level is a harmless superset,
			// minus itself (no recursion).
			out := append([]map[string]*cteDef{}, b.ctes[:i]...)
			m := map[string]*cteDef{}
			for k, v := range b.ctes[i] {
				if k != d.name {
					m[k] = v
				}
			}
			return append(out, m)
		}
	}
	return b.ctes
}

func (b *Binder) bindView(t *Table) (*boundQuery, error) {
	res, err := pg.Parse(t.ViewSQL)
	if err != nil {
		return nil, err
	}
	if len(res.Stmts) != 1 {
		return nil, &Error{Msg: "view body must be one query"}
	}
	inner := &Binder{cat: b.cat, kernels: b.kernels, text: t.ViewSQL, nextID: b.nextID, now: b.now, viewDepth: b.viewDepth + 1}
	q, err := inner.bindQuery(res.Stmts[0].Stmt, nil)
	b.nextID = inner.nextID
	if err != nil {
		return nil, err
	}
	if len(t.Columns) == len(q.names) {
		for i, c := range t.Columns {
			q.names[i] = c.Name
		}
	}
	return q, nil
}

func (b *Binder) scanOf(t *Table, alias string, colAliases []*pg.Node) (planner.Node, []*binding, error) {
	s := &planner.Scan{Table: t.Name, Format: t.Format, Paths: t.Paths, Options: t.Options, Stats: t.Stats}
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		col := b.newCol(c.Name, c.Type, c.Nullable)
		s.Cols = append(s.Cols, col)
		fn := c.FileName
		if fn == "" {
			fn = c.Name
		}
		s.FileCols = append(s.FileCols, fn)
		names[i] = c.Name
	}
	if len(colAliases) > len(t.Columns) {
		return nil, nil, &Error{Msg: "table \"" + alias + "\" has more column aliases than columns"}
	}
	return s, []*binding{b.bindingFor(alias, names, s.Cols, colAliases)}, nil
}

func (b *Binder) bindRangeFunction(rf *pg.RangeFunction, sc *scope) (planner.Node, []*binding, error) {
	if len(rf.Functions) != 1 {
		return nil, nil, &Error{Msg: "ROWS FROM is not supported"}
	}
	items := rf.Functions[0].GetList().Items
	fc := items[0].GetFuncCall()
	if fc == nil {
		return nil, nil, &Error{Msg: "unsupported table function"}
	}
	name := funcName(fc.Funcname)
	var args []kernels.Value
	var argTypes []kernels.Type
	for _, a := range fc.Args {
		e, err := b.bindExpr(&exprCtx{sc: newScope(nil), clause: "table function arguments"}, a)
		if err != nil {
			return nil, nil, err
		}
		if e.Kind != planner.EConst {
			return nil, nil, b.errAt(fc.Location, "arguments of %s must be constants", name)
		}
		args = append(args, e.Value)
		argTypes = append(argTypes, e.Type)
	}
	alias := name
	var colAliases []*pg.Node
	if rf.Alias != nil {
		alias = strings.ToLower(rf.Alias.Aliasname)
		colAliases = rf.Alias.Colnames
	}
	if name == "generate_series" || name == "range" {
		return b.bindSeries(name, args, argTypes, fc.Location, alias, colAliases)
	}
	t, err := b.cat.TableFunction(name, args)
	if err != nil {
		return nil, nil, b.errAt(fc.Location, "%s", err.Error())
	}
	return b.scanOf(t, alias, colAliases)
}

// bindSeries binds generate_series(start, stop [, step]) (stop included,
// as in PostgreSQL) and range([start,] stop [, step]) (stop excluded, as
// in DuckDB): one bigint column named after the function or its alias.
func (b *Binder) bindSeries(name string, args []kernels.Value, types []kernels.Type, loc int32, alias string, colAliases []*pg.Node) (planner.Node, []*binding, error) {
	if name == "range" && len(args) == 1 {
		args = append([]kernels.Value{{}}, args...)
		types = append([]kernels.Type{kernels.TInt64}, types...)
	}
	if len(args) < 2 || len(args) > 3 {
		return nil, nil, b.errAt(loc, "%s takes (start, stop) or (start, stop, step)", name)
	}
	ints := make([]int64, 3)
	ints[2] = 1
	for i, a := range args {
		if a.Null {
			return nil, nil, b.errAt(loc, "%s: argument %d is NULL", name, i+1)
		}
		if !types[i].IsInteger() {
			return nil, nil, b.errAt(loc, "%s takes integer arguments, argument %d is %s", name, i+1, types[i])
		}
		ints[i] = a.I
	}
	if ints[2] == 0 {
		return nil, nil, b.errAt(loc, "%s: step size cannot equal zero", name)
	}
	if len(colAliases) > 1 {
		return nil, nil, b.errAt(loc, "%s has 1 column, %d column aliases given", name, len(colAliases))
	}
	colName := name
	if alias != name {
		colName = alias // PostgreSQL names the column after the alias
	}
	col := b.newCol(colName, kernels.TInt64, false)
	n := &planner.Series{Col: col, Start: ints[0], Stop: ints[1], Step: ints[2], Exclusive: name == "range"}
	return n, []*binding{b.bindingFor(alias, []string{colName}, []planner.Column{col}, colAliases)}, nil
}

func (b *Binder) bindJoin(je *pg.JoinExpr, sc *scope) (planner.Node, []*binding, error) {
	ln, lrels, err := b.bindFromItem(je.Larg, sc)
	if err != nil {
		return nil, nil, err
	}
	rn, rrels, err := b.bindFromItem(je.Rarg, sc)
	if err != nil {
		return nil, nil, err
	}
	kind := map[pg.JoinType]planner.JoinKind{
		pg.JoinType_JOIN_INNER: planner.JoinInner, pg.JoinType_JOIN_LEFT: planner.JoinLeft,
		pg.JoinType_JOIN_RIGHT: planner.JoinRight, pg.JoinType_JOIN_FULL: planner.JoinFull,
	}[je.Jointype]
	js := newScope(sc.outer)
	for _, r := range lrels {
		js.add(r)
	}
	for _, r := range rrels {
		js.add(r)
	}
	var cond *planner.Expr
	var using []string
	if je.IsNatural {
		lnames := map[string]bool{}
		for _, r := range lrels {
			for _, c := range r.cols {
				lnames[c.name] = true
			}
		}
		for _, r := range rrels {
			for _, c := range r.cols {
				if lnames[c.name] {
					using = append(using, c.name)
				}
			}
		}
	}
	for _, u := range je.UsingClause {
		using = append(using, strings.ToLower(u.GetString_().Sval))
	}
	if len(using) > 0 {
		for _, name := range using {
			lcol, lok := findIn(lrels, name)
			rcol, rok := findIn(rrels, name)
			if !lok || !rok {
				return nil, nil, &Error{Msg: "column \"" + name + "\" specified in USING clause does not exist in both tables"}
			}
			eq, err := b.binary("eq", "=", planner.Col(lcol.col), planner.Col(rcol.col), -1)
			if err != nil {
				return nil, nil, err
			}
			cond = planner.And(cond, eq)
			rcol.hidden = true
			if kind == planner.JoinRight {
				rcol.hidden = false
				lcol.hidden = true
			}
		}
	} else if je.Quals != nil {
		c, err := b.bindExpr(&exprCtx{sc: js, clause: "JOIN conditions"}, je.Quals)
		if err != nil {
			return nil, nil, err
		}
		if c, err = b.coerceBool(c, "argument of JOIN/ON", -1); err != nil {
			return nil, nil, err
		}
		if c.HasSubquery() {
			return nil, nil, &Error{Msg: "subqueries in JOIN conditions are not supported"}
		}
		cond = c
	}
	var node planner.Node = &planner.Join{Kind: kind, Left: ln, Right: rn, Cond: cond}
	rels := append(append([]*binding{}, lrels...), rrels...)
	if je.Alias != nil {
		// The join gets one name; its columns are all visible through it.
		all := &binding{alias: strings.ToLower(je.Alias.Aliasname)}
		for _, r := range rels {
			all.cols = append(all.cols, r.cols...)
		}
		rels = []*binding{all}
	}
	if kind == planner.JoinFull && len(using) > 0 {
		// FULL JOIN USING: the merged column is COALESCE(left, right).
		var exprs []*planner.Expr
		var names []string
		merged := &binding{}
		for _, r := range rels {
			for i := range r.cols {
				c := &r.cols[i]
				if c.hidden {
					continue
				}
				e := planner.Col(c.col)
				for _, u := range using {
					if c.name == u {
						rc := findAny(rrels, u)
						e = &planner.Expr{Kind: planner.ECoalesce, Type: c.col.Type, Args: []*planner.Expr{e, planner.Col(rc.col)}}
					}
				}
				exprs = append(exprs, e)
				names = append(names, c.name)
			}
		}
		p := b.project(node, exprs, names).(*planner.Project)
		for i, c := range p.Cols {
			merged.cols = append(merged.cols, scopeCol{name: names[i], col: c})
		}
		return p, []*binding{merged}, nil
	}
	return node, rels, nil
}

// findAny finds a column by name, hidden (USING duplicates) included.
func findAny(rels []*binding, name string) *scopeCol {
	for _, r := range rels {
		for i := range r.cols {
			if r.cols[i].name == name {
				return &r.cols[i]
			}
		}
	}
	return nil
}

func findIn(rels []*binding, name string) (*scopeCol, bool) {
	for _, r := range rels {
		for i := range r.cols {
			if r.cols[i].name == name && !r.cols[i].hidden {
				return &r.cols[i], true
			}
		}
	}
	return nil, false
}

// bindSimpleSelect binds SELECT ... FROM ... WHERE ... GROUP BY ... HAVING
// ... ORDER BY ... LIMIT.
func (b *Binder) bindSimpleSelect(sel *pg.SelectStmt, outer *scope) (*boundQuery, error) {
	sc := newScope(outer)
	node, err := b.bindFrom(sel.FromClause, sc)
	if err != nil {
		return nil, err
	}
	if sel.WhereClause != nil {
		cond, err := b.bindExpr(&exprCtx{sc: sc, clause: "WHERE"}, sel.WhereClause)
		if err != nil {
			return nil, err
		}
		if cond, err = b.coerceBool(cond, "argument of WHERE", -1); err != nil {
			return nil, err
		}
		node = &planner.Filter{Input: node, Cond: cond}
	}

	// Expand the select list (stars) into items.
	type item struct {
		node  *pg.Node
		name  string
		expr  *planner.Expr
		loc   int32
		isCol bool
	}
	var items []item
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		if cr := rt.Val.GetColumnRef(); cr != nil && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			var rels []*binding
			if len(cr.Fields) > 1 {
				q := strings.ToLower(cr.Fields[len(cr.Fields)-2].GetString_().Sval)
				r := sc.relation(q)
				if r == nil {
					return nil, b.errAt(cr.Location, "missing FROM-clause entry for table %q", q)
				}
				rels = []*binding{r}
			} else {
				rels = sc.rels
				if len(rels) == 0 {
					return nil, b.errAt(cr.Location, "SELECT * with no tables specified is not valid")
				}
			}
			for _, r := range rels {
				for _, c := range r.cols {
					if c.hidden {
						continue
					}
					items = append(items, item{name: c.name, expr: planner.Col(c.col), loc: cr.Location, isCol: true})
				}
			}
			continue
		}
		items = append(items, item{node: rt.Val, name: strings.ToLower(rt.Name), loc: rt.Location})
		if rt.Name == "" {
			items[len(items)-1].name = columnName(rt.Val)
		}
	}

	hasAgg := len(sel.GroupClause) > 0 || sel.HavingClause != nil
	for _, it := range items {
		if it.node != nil && containsAgg(it.node) {
			hasAgg = true
		}
	}
	for _, s := range sel.SortClause {
		if containsAgg(s.GetSortBy().Node) {
			hasAgg = true
		}
	}
	win := &winCtx{keys: map[string]int{}}
	ctx := &exprCtx{sc: sc, win: win, clause: "SELECT"}
	var agg *aggCtx
	if hasAgg {
		agg = &aggCtx{input: sc, groupKeys: map[string]int{}, aggKeys: map[string]int{}}
		ctx.agg = agg
		names := make([]string, len(items))
		for i, it := range items {
			names[i] = it.name
		}
		var constKey *planner.Expr
		for _, g := range sel.GroupClause {
			if g.GetGroupingSet() != nil {
				return nil, &Error{Msg: "GROUPING SETS, ROLLUP and CUBE are not supported"}
			}
			var ge *planner.Expr
			// GROUP BY position or output alias (input names win, like PostgreSQL)
			if c := g.GetAConst(); c != nil {
				if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
					i := int(iv.Ival.Ival)
					if i < 1 || i > len(items) {
						return nil, b.errAt(c.Location, "GROUP BY position %d is not in select list", i)
					}
					if items[i-1].expr != nil {
						ge = items[i-1].expr
					} else if ge, err = b.bindExpr(&exprCtx{sc: sc, clause: "GROUP BY"}, items[i-1].node); err != nil {
						return nil, err
					}
				}
			}
			if ge == nil {
				ge, err = b.bindExpr(&exprCtx{sc: sc, clause: "GROUP BY"}, g)
				if err != nil {
					if cr := g.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
						name := strings.ToLower(cr.Fields[0].GetString_().GetSval())
						for _, it := range items {
							if it.name == name && it.node != nil {
								ge, err = b.bindExpr(&exprCtx{sc: sc, clause: "GROUP BY"}, it.node)
								break
							}
						}
					}
					if err != nil {
						return nil, err
					}
				}
			}
			if ge.IsConst() {
				// A constant key does not split groups, but GROUP BY
				// still means no rows in, no groups out: keep the first
				// one in case no other key is left.
				if constKey == nil {
					constKey = ge
				}
				continue
			}
			key := b.groupKey(ge)
			if _, dup := agg.groupKeys[key]; dup {
				continue
			}
			agg.groupKeys[key] = len(agg.groups)
			agg.groups = append(agg.groups, ge)
			name := "group"
			if ge.Kind == planner.EColumn {
				for _, c := range sc.columns() {
					if c.ID == ge.Col {
						name = c.Name
					}
				}
			}
			agg.groupCols = append(agg.groupCols, b.newCol(name, ge.Type, true))
		}
		if len(agg.groups) == 0 && constKey != nil {
			agg.groupKeys[b.groupKey(constKey)] = 0
			agg.groups = append(agg.groups, constKey)
			agg.groupCols = append(agg.groupCols, b.newCol("group", constKey.Type, true))
		}
	}

	// Bind the select list.
	for i := range items {
		if items[i].expr == nil {
			e, err := b.bindExpr(ctx, items[i].node)
			if err != nil {
				return nil, err
			}
			if isUntypedLiteral(e) {
				e, _ = b.castTo(e, kernels.TString, -1)
			}
			items[i].expr = e
		}
		if agg != nil {
			e, err := b.finishAgg(agg, items[i].expr, items[i].loc)
			if err != nil {
				return nil, err
			}
			items[i].expr = e
		}
	}
	var having *planner.Expr
	if sel.HavingClause != nil {
		hctx := &exprCtx{sc: sc, agg: agg, clause: "HAVING"}
		h, err := b.bindExpr(hctx, sel.HavingClause)
		if err != nil {
			return nil, err
		}
		if h, err = b.coerceBool(h, "argument of HAVING", -1); err != nil {
			return nil, err
		}
		if h, err = b.finishAgg(agg, h, -1); err != nil {
			return nil, err
		}
		having = h
	}

	// ORDER BY: output column by position/alias, else an expression that
	// may need a hidden column.
	outNames := make([]string, len(items))
	outExprs := make([]*planner.Expr, len(items))
	for i, it := range items {
		outNames[i], outExprs[i] = it.name, it.expr
	}
	type sortRef struct {
		out  int // index into projected exprs
		desc bool
		nf   bool
	}
	var sorts []sortRef
	hidden := 0
	distinctOn := len(sel.DistinctClause) > 0 && sel.DistinctClause[0] != nil && sel.DistinctClause[0].Node != nil
	// resolve finds the projected column an ORDER BY / DISTINCT ON item
	// names (position, output alias or expression), adding a hidden one.
	resolve := func(n *pg.Node, what string, loc int32) (int, error) {
		idx := -1
		if c := n.GetAConst(); c != nil {
			if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
				i := int(iv.Ival.Ival)
				if i < 1 || i > len(items) {
					return 0, b.errAt(c.Location, "%s position %d is not in select list", what, i)
				}
				return i - 1, nil
			}
		}
		if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 && cr.Fields[0].GetString_() != nil {
			name := strings.ToLower(cr.Fields[0].GetString_().Sval)
			for i, nm := range outNames[:len(items)] {
				if nm != name {
					continue
				}
				if idx >= 0 && outExprs[i].String() != outExprs[idx].String() {
					return 0, b.errAt(cr.Location, "%s %q is ambiguous", what, name)
				}
				if idx < 0 {
					idx = i
				}
			}
			if idx >= 0 {
				return idx, nil
			}
		}
		octx := &exprCtx{sc: sc, agg: agg, win: win, clause: what}
		e, err := b.bindExpr(octx, n)
		if err != nil {
			return 0, err
		}
		if agg != nil {
			if e, err = b.finishAgg(agg, e, loc); err != nil {
				return 0, err
			}
		}
		key := e.String()
		for i, x := range outExprs {
			if x.String() == key {
				return i, nil
			}
		}
		if len(sel.DistinctClause) > 0 && !distinctOn {
			return 0, b.errAt(loc, "for SELECT DISTINCT, ORDER BY expressions must appear in select list")
		}
		outExprs = append(outExprs, e)
		outNames = append(outNames, "?order?")
		hidden++
		return len(outExprs) - 1, nil
	}
	var onIdx []int
	if distinctOn {
		for _, d := range sel.DistinctClause {
			i, err := resolve(d, "DISTINCT ON", -1)
			if err != nil {
				return nil, err
			}
			onIdx = append(onIdx, i)
		}
	}
	for _, s := range sel.SortClause {
		sb := s.GetSortBy()
		idx, err := resolve(sb.Node, "ORDER BY", sb.Location)
		if err != nil {
			return nil, err
		}
		desc, nf, err := b.sortDirection(sb)
		if err != nil {
			return nil, err
		}
		sorts = append(sorts, sortRef{out: idx, desc: desc, nf: nf})
	}

	if agg != nil {
		node = &planner.Aggregate{Input: node, Groups: agg.groups, GroupCols: agg.groupCols, Aggs: agg.aggs, AggCols: agg.aggCols}
		if having != nil {
			node = &planner.Filter{Input: node, Cond: having}
		}
	}
	if len(win.funcs) > 0 {
		node = &planner.Window{Input: node, Funcs: win.funcs}
	}
	proj := b.project(node, outExprs, outNames).(*planner.Project)
	for i, e := range outExprs {
		proj.Cols[i].Nullable = nullable(e, node)
	}
	node = proj
	if distinctOn {
		// DISTINCT ON (keys): the first row of each key group in ORDER BY
		// order = row_number() OVER (PARTITION BY keys ORDER BY ...) = 1.
		if len(sorts) < len(onIdx) {
			return nil, &Error{Msg: "SELECT DISTINCT ON expressions must match initial ORDER BY expressions"}
		}
		for i, oi := range onIdx {
			found := false
			for _, s := range sorts[:len(onIdx)] {
				if s.out == oi {
					found = true
				}
			}
			if !found {
				_ = i
				return nil, &Error{Msg: "SELECT DISTINCT ON expressions must match initial ORDER BY expressions"}
			}
		}
		wf := planner.WindowFunc{Func: "row_number", Col: b.newCol("row_number", kernels.TInt64, false)}
		for _, oi := range onIdx {
			wf.PartitionBy = append(wf.PartitionBy, planner.Col(proj.Cols[oi]))
		}
		for _, s := range sorts {
			wf.OrderBy = append(wf.OrderBy, planner.SortKey{Expr: planner.Col(proj.Cols[s.out]), Desc: s.desc, NullsFirst: s.nf})
		}
		node = &planner.Window{Input: node, Funcs: []planner.WindowFunc{wf}}
		eq := planner.Call("eq", kernels.TBool, planner.Col(wf.Col), planner.Const(kernels.TInt64, kernels.Value{I: 1}))
		node = &planner.Filter{Input: node, Cond: eq}
		hidden++
	} else if len(sel.DistinctClause) > 0 {
		var groups []*planner.Expr
		var gcols []planner.Column
		for _, c := range proj.Cols {
			groups = append(groups, planner.Col(c))
			gcols = append(gcols, b.newCol(c.Name, c.Type, c.Nullable))
		}
		node = &planner.Aggregate{Input: node, Groups: groups, GroupCols: gcols}
	}
	cols := node.Columns()
	if len(sorts) > 0 {
		keys := make([]planner.SortKey, len(sorts))
		for i, s := range sorts {
			keys[i] = planner.SortKey{Expr: planner.Col(cols[s.out]), Desc: s.desc, NullsFirst: s.nf}
		}
		node = &planner.Sort{Input: node, Keys: keys}
	}
	q := &boundQuery{node: node, names: outNames[:len(items)]}
	if q, err = b.applyLimit(q, sel); err != nil {
		return nil, err
	}
	if hidden > 0 {
		visible := cols[:len(items)]
		exprs := make([]*planner.Expr, len(visible))
		for i, c := range visible {
			exprs[i] = planner.Col(c)
		}
		q.node = &planner.Project{Input: q.node, Exprs: exprs, Cols: append([]planner.Column{}, visible...)}
	}
	return q, nil
}

// nullable estimates whether e can be NULL over input n.
func nullable(e *planner.Expr, n planner.Node) bool {
	if e.Kind == planner.EConst {
		return e.Value.Null
	}
	if e.Kind == planner.EColumn {
		for _, c := range n.Columns() {
			if c.ID == e.Col {
				return c.Nullable
			}
		}
	}
	return true
}

// columnName is PostgreSQL's default output name for an expression.
func columnName(n *pg.Node) string {
	switch {
	case n.GetColumnRef() != nil:
		f := n.GetColumnRef().Fields
		if s := f[len(f)-1].GetString_(); s != nil {
			return strings.ToLower(s.Sval)
		}
	case n.GetFuncCall() != nil:
		return funcName(n.GetFuncCall().Funcname)
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		if tc.Arg.GetColumnRef() != nil || tc.Arg.GetFuncCall() != nil {
			return columnName(tc.Arg)
		}
		name := funcName(tc.TypeName.Names)
		if name == "bpchar" {
			name = "bpchar"
		}
		return name
	case n.GetCaseExpr() != nil:
		return "case"
	case n.GetCoalesceExpr() != nil:
		return "coalesce"
	case n.GetSubLink() != nil:
		if n.GetSubLink().SubLinkType == pg.SubLinkType_EXISTS_SUBLINK {
			return "exists"
		}
		if s := n.GetSubLink().Subselect.GetSelectStmt(); s != nil && len(s.TargetList) == 1 {
			rt := s.TargetList[0].GetResTarget()
			if rt.Name != "" {
				return strings.ToLower(rt.Name)
			}
			return columnName(rt.Val)
		}
	case n.GetMinMaxExpr() != nil:
		if n.GetMinMaxExpr().Op == pg.MinMaxOp_IS_LEAST {
			return "least"
		}
		return "greatest"
	case n.GetAExpr() != nil && n.GetAExpr().Kind == pg.A_Expr_Kind_AEXPR_NULLIF:
		return "nullif"
	}
	return "?column?"
}

// containsAgg reports whether an AST node has an aggregate call outside of
// subqueries and window calls.
func containsAgg(n *pg.Node) bool {
	found := false
	var walk func(n *pg.Node)
	walk = func(n *pg.Node) {
		if n == nil || found {
			return
		}
		if fc := n.GetFuncCall(); fc != nil {
			if fc.Over == nil && aggregateFuncs[funcName(fc.Funcname)] {
				found = true
				return
			}
			for _, a := range fc.Args {
				walk(a)
			}
			return
		}
		if n.GetSubLink() != nil {
			walk(n.GetSubLink().Testexpr)
			return
		}
		for _, c := range children(n) {
			walk(c)
		}
	}
	walk(n)
	return found
}

// children lists the sub-expressions of common expression nodes.
func children(n *pg.Node) []*pg.Node {
	switch {
	case n.GetAExpr() != nil:
		a := n.GetAExpr()
		out := []*pg.Node{a.Lexpr, a.Rexpr}
		return out
	case n.GetBoolExpr() != nil:
		return n.GetBoolExpr().Args
	case n.GetTypeCast() != nil:
		return []*pg.Node{n.GetTypeCast().Arg}
	case n.GetNullTest() != nil:
		return []*pg.Node{n.GetNullTest().Arg}
	case n.GetBooleanTest() != nil:
		return []*pg.Node{n.GetBooleanTest().Arg}
	case n.GetCaseExpr() != nil:
		c := n.GetCaseExpr()
		out := []*pg.Node{c.Arg, c.Defresult}
		for _, w := range c.Args {
			cw := w.GetCaseWhen()
			out = append(out, cw.Expr, cw.Result)
		}
		return out
	case n.GetCoalesceExpr() != nil:
		return n.GetCoalesceExpr().Args
	case n.GetMinMaxExpr() != nil:
		return n.GetMinMaxExpr().Args
	case n.GetList() != nil:
		return n.GetList().Items
	}
	return nil
}
