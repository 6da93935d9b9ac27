package planner

import (
	"fmt"
	"strings"
)

// Explain renders the plan as an indented tree. annotate, if given, adds
// text after each node's line (EXPLAIN ANALYZE uses it for run-time stats).
func Explain(n Node, annotate func(Node) string) string {
	return render(n, annotate, newEstimator())
}

// fingerprint renders the plan without estimates, to tell whether a rule
// changed it.
func fingerprint(n Node) string { return render(n, nil, nil) }

func render(n Node, annotate func(Node) string, es *estimator) string {
	names := map[ColumnID]string{}
	var collect func(Node)
	collect = func(n Node) {
		cols := n.Columns()
		if s, ok := n.(*Scan); ok {
			cols = s.Cols // filter-only columns too
		}
		for _, c := range cols {
			names[c.ID] = c.Name
		}
		for _, c := range n.Children() {
			collect(c)
		}
	}
	collect(n)
	var b strings.Builder
	var walk func(n Node, depth int)
	walk = func(n Node, depth int) {
		b.WriteString(strings.Repeat("  ", depth))
		b.WriteString(describe(n, names, es))
		if annotate != nil {
			if s := annotate(n); s != "" {
				b.WriteString("  ")
				b.WriteString(s)
			}
		}
		b.WriteString("\n")
		for _, c := range n.Children() {
			walk(c, depth+1)
		}
	}
	walk(n, 0)
	return b.String()
}

func exprList(es []*Expr, names map[ColumnID]string) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Format(names)
	}
	return strings.Join(s, ", ")
}

func colNames(cols []Column) string {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = c.Name
	}
	return strings.Join(s, ", ")
}

func describe(n Node, names map[ColumnID]string, es *estimator) string {
	estimate := func(n Node) string {
		if es == nil {
			return ""
		}
		return fmt.Sprintf(" (est. %.0f rows)", es.est(n))
	}
	switch x := n.(type) {
	case *Scan:
		s := fmt.Sprintf("Scan %s [%s]", x.Table, colNames(x.Cols))
		if len(x.Filter) > 0 {
			s += " filter: " + exprList(x.Filter, names)
		}
		return s + estimate(x)
	case *Values:
		return fmt.Sprintf("Values (%d rows)", len(x.Rows))
	case *Series:
		return fmt.Sprintf("Series %d to %d step %d (%d rows)", x.Start, x.Stop, x.Step, x.Count())
	case *Exchange:
		s := fmt.Sprintf("Exchange %s from stage %d", x.Kind, x.Stage)
		if x.Kind == ExchangeHash {
			s += " " + keyNames(x, x.Keys)
		}
		if len(x.Merge) > 0 {
			s += " (merging sorted streams)"
		}
		return s + estimate(x)
	case *Filter:
		return "Filter " + x.Cond.Format(names)
	case *Project:
		parts := make([]string, len(x.Exprs))
		for i, e := range x.Exprs {
			f := e.Format(names)
			if f != x.Cols[i].Name {
				f += " AS " + x.Cols[i].Name
			}
			parts[i] = f
		}
		return "Project " + strings.Join(parts, ", ")
	case *Aggregate:
		aggs := make([]string, len(x.Aggs))
		for i, a := range x.Aggs {
			d := ""
			if a.Distinct {
				d = "DISTINCT "
			}
			aggs[i] = fmt.Sprintf("%s(%s%s)", a.Func, d, exprList(a.Args, names))
		}
		return fmt.Sprintf("Aggregate group by [%s] aggs [%s]", exprList(x.Groups, names), strings.Join(aggs, ", "))
	case *Join:
		s := fmt.Sprintf("HashJoin %s", x.Kind)
		if x.NullAware {
			s += " null-aware"
		}
		if x.Cond != nil {
			s += " on " + x.Cond.Format(names)
		}
		return s + estimate(x)
	case *Sort:
		keys := make([]string, len(x.Keys))
		for i, k := range x.Keys {
			keys[i] = k.Expr.Format(names)
			if k.Desc {
				keys[i] += " DESC"
			}
		}
		return "Sort " + strings.Join(keys, ", ")
	case *Limit:
		return fmt.Sprintf("Limit %d offset %d", x.Count, x.Offset)
	case *SetOp:
		all := ""
		if x.All {
			all = " all"
		}
		return "SetOp " + x.Kind.String() + all
	case *Window:
		fs := make([]string, len(x.Funcs))
		for i, f := range x.Funcs {
			fs[i] = fmt.Sprintf("%s(%s) over (partition by %s)", f.Func, exprList(f.Args, names), exprList(f.PartitionBy, names))
		}
		return "Window " + strings.Join(fs, ", ")
	case *EnforceSingleRow:
		return "EnforceSingleRow"
	}
	return Name(n)
}
