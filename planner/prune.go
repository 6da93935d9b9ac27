package planner

// pruneRule drops columns nobody above reads: unused projections,
// aggregates and window functions, and scan columns (so Parquet readers
// decode only what the query needs).
func pruneRule(n Node) (Node, bool, error) {
	req := colSet(n.Columns())
	before := fingerprint(n)
	out := prune(n, req)
	return out, fingerprint(out) != before, nil
}

func addCols(req map[ColumnID]bool, e *Expr) {
	if e == nil {
		return
	}
	for c := range e.Columns() {
		req[c] = true
	}
}

func copySet(m map[ColumnID]bool) map[ColumnID]bool {
	c := make(map[ColumnID]bool, len(m))
	for k := range m {
		c[k] = true
	}
	return c
}

func prune(n Node, req map[ColumnID]bool) Node {
	switch x := n.(type) {
	case *Scan:
		need := copySet(req)
		for _, f := range x.Filter {
			addCols(need, f)
		}
		c := *x
		c.Cols, c.FileCols = nil, nil
		for i, col := range x.Cols {
			if need[col.ID] {
				c.Cols = append(c.Cols, col)
				c.FileCols = append(c.FileCols, x.FileCols[i])
			}
		}
		if len(c.Cols) == 0 && len(x.Cols) > 0 {
			c.Cols, c.FileCols = x.Cols[:1], x.FileCols[:1]
		}
		c.Out = nil
		var out []int
		for i, col := range c.Cols {
			if req[col.ID] {
				out = append(out, i)
			}
		}
		if len(out) > 0 && len(out) < len(c.Cols) {
			c.Out = out // the rest is read for the filter only
		}
		return &c
	case *Project:
		c := *x
		c.Exprs, c.Cols = nil, nil
		need := map[ColumnID]bool{}
		for i, col := range x.Cols {
			if req[col.ID] {
				c.Exprs = append(c.Exprs, x.Exprs[i])
				c.Cols = append(c.Cols, col)
				addCols(need, x.Exprs[i])
			}
		}
		c.Input = prune(x.Input, need)
		return &c
	case *Filter:
		need := copySet(req)
		addCols(need, x.Cond)
		return x.WithChildren([]Node{prune(x.Input, need)})
	case *Aggregate:
		c := *x
		c.Aggs, c.AggCols = nil, nil
		need := map[ColumnID]bool{}
		for _, g := range x.Groups {
			addCols(need, g)
		}
		for i, a := range x.Aggs {
			if req[x.AggCols[i].ID] {
				c.Aggs = append(c.Aggs, a)
				c.AggCols = append(c.AggCols, x.AggCols[i])
				for _, e := range a.Args {
					addCols(need, e)
				}
			}
		}
		c.Input = prune(x.Input, need)
		return &c
	case *Join:
		need := copySet(req)
		addCols(need, x.Cond)
		return x.WithChildren([]Node{prune(x.Left, need), prune(x.Right, need)})
	case *Sort:
		need := copySet(req)
		for _, k := range x.Keys {
			addCols(need, k.Expr)
		}
		return x.WithChildren([]Node{prune(x.Input, need)})
	case *Limit:
		return x.WithChildren([]Node{prune(x.Input, req)})
	case *Window:
		c := *x
		c.Funcs = nil
		need := copySet(req)
		for _, f := range x.Funcs {
			if !req[f.Col.ID] {
				continue
			}
			c.Funcs = append(c.Funcs, f)
			for _, e := range f.Args {
				addCols(need, e)
			}
			for _, e := range f.PartitionBy {
				addCols(need, e)
			}
			for _, k := range f.OrderBy {
				addCols(need, k.Expr)
			}
		}
		in := prune(x.Input, need)
		if len(c.Funcs) == 0 {
			return in
		}
		c.Input = in
		return &c
	}
	// SetOp, Values, EnforceSingleRow: positional; keep everything below.
	ch := n.Children()
	if len(ch) == 0 {
		return n
	}
	nc := make([]Node, len(ch))
	for i, c := range ch {
		nc[i] = prune(c, colSet(c.Columns()))
	}
	return n.WithChildren(nc)
}
