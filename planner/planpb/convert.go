// Package planpb is the protobuf wire form of distributed plan fragments
// (plan.proto) and its conversion to and from the planner's structs.
// Marshal and Unmarshal are safe for concurrent use; Unmarshal checks what
// it decodes and reports bad input as an error, never a panic.
package planpb

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"google.golang.org/protobuf/proto"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Marshal encodes a fragment graph.
func Marshal(g *planner.FragmentGraph) ([]byte, error) {
	pg := &FragmentGraph{}
	for _, st := range g.Stages {
		root, err := FromNode(st.Root)
		if err != nil {
			return nil, fmt.Errorf("stage %d: %w", st.ID, err)
		}
		pg.Stages = append(pg.Stages, &Stage{Id: int32(st.ID), Root: root, Output: int32(st.Output),
			Keys: ids32(st.Keys), Tasks: int32(st.Tasks), Single: st.Single, Replayable: st.Replayable, Kept: st.Kept, Elastic: st.Elastic})
	}
	return proto.Marshal(pg)
}

// Unmarshal decodes a fragment graph.
func Unmarshal(b []byte) (*planner.FragmentGraph, error) {
	var pg FragmentGraph
	if err := proto.Unmarshal(b, &pg); err != nil {
		return nil, fmt.Errorf("fragment graph: %w", err)
	}
	g := &planner.FragmentGraph{}
	for i, ps := range pg.Stages {
		if int(ps.Id) != i {
			return nil, fmt.Errorf("fragment graph: stage %d has id %d", i, ps.Id)
		}
		root, err := ToNode(ps.Root)
		if err != nil {
			return nil, fmt.Errorf("stage %d: %w", i, err)
		}
		out, err := exchangeKind(ps.Output)
		if err != nil {
			return nil, fmt.Errorf("stage %d: %w", i, err)
		}
		g.Stages = append(g.Stages, &planner.Stage{ID: i, Root: root, Output: out, Keys: idsOf(ps.Keys), Tasks: int(ps.Tasks), Single: ps.Single, Replayable: ps.Replayable, Kept: ps.Kept, Elastic: ps.Elastic})
	}
	return g, nil
}

func ids32(ids []planner.ColumnID) []int32 {
	out := make([]int32, len(ids))
	for i, id := range ids {
		out[i] = int32(id)
	}
	return out
}

func idsOf(ids []int32) []planner.ColumnID {
	if ids == nil {
		return nil
	}
	out := make([]planner.ColumnID, len(ids))
	for i, id := range ids {
		out[i] = planner.ColumnID(id)
	}
	return out
}

func exchangeKind(k int32) (planner.ExchangeKind, error) {
	if k < 0 || k > int32(planner.ExchangeRoundRobin) {
		return 0, fmt.Errorf("unknown exchange kind %d", k)
	}
	return planner.ExchangeKind(k), nil
}

// --- to the wire ---

func fromType(t kernels.Type) *Type {
	return &Type{Id: int32(t.ID), Precision: t.Precision, Scale: t.Scale}
}

func fromValue(v kernels.Value) *Value {
	return &Value{Null: v.Null, I: v.I, F: v.F, S: v.S, DecHi: v.Dec.HighBits(), DecLo: v.Dec.LowBits(),
		Months: v.Months, Days: v.Days, Nanos: v.Nanos}
}

func fromColumn(c planner.Column) *Column {
	return &Column{Id: int32(c.ID), Name: c.Name, Type: fromType(c.Type), Nullable: c.Nullable}
}

func fromColumns(cs []planner.Column) []*Column {
	out := make([]*Column, len(cs))
	for i, c := range cs {
		out[i] = fromColumn(c)
	}
	return out
}

func fromExpr(e *planner.Expr) (*Expr, error) {
	if e == nil {
		return nil, nil
	}
	if e.Sub != nil {
		return nil, fmt.Errorf("a subquery left in a fragment")
	}
	args, err := fromExprs(e.Args)
	if err != nil {
		return nil, err
	}
	return &Expr{Kind: int32(e.Kind), Type: fromType(e.Type), Col: int32(e.Col), Value: fromValue(e.Value),
		Func: e.Func, Args: args, HasElse: e.HasElse}, nil
}

func fromExprs(es []*planner.Expr) ([]*Expr, error) {
	out := make([]*Expr, len(es))
	for i, e := range es {
		pe, err := fromExpr(e)
		if err != nil {
			return nil, err
		}
		out[i] = pe
	}
	return out, nil
}

func fromSortKeys(ks []planner.SortKey) ([]*SortKey, error) {
	out := make([]*SortKey, len(ks))
	for i, k := range ks {
		e, err := fromExpr(k.Expr)
		if err != nil {
			return nil, err
		}
		out[i] = &SortKey{Expr: e, Desc: k.Desc, NullsFirst: k.NullsFirst}
	}
	return out, nil
}

// FromNode converts a plan (tree) to its wire form.
func FromNode(n planner.Node) (*Node, error) {
	switch x := n.(type) {
	case *planner.Scan:
		filter, err := fromExprs(x.Filter)
		if err != nil {
			return nil, err
		}
		s := &Scan{Table: x.Table, Format: string(x.Format), Paths: x.Paths, Cols: fromColumns(x.Cols),
			FileCols: x.FileCols, Filter: filter, Options: x.Options, HasOut: x.Out != nil}
		for _, o := range x.Out {
			s.Out = append(s.Out, int32(o))
		}
		return &Node{Node: &Node_Scan{Scan: s}}, nil
	case *planner.Values:
		v := &Values{Cols: fromColumns(x.Cols)}
		for _, row := range x.Rows {
			es, err := fromExprs(row)
			if err != nil {
				return nil, err
			}
			v.Rows = append(v.Rows, &ValuesRow{Exprs: es})
		}
		return &Node{Node: &Node_Values{Values: v}}, nil
	case *planner.Series:
		return &Node{Node: &Node_Series{Series: &Series{Col: fromColumn(x.Col), Start: x.Start, Stop: x.Stop, Step: x.Step, Exclusive: x.Exclusive}}}, nil
	case *planner.Exchange:
		merge, err := fromSortKeys(x.Merge)
		if err != nil {
			return nil, err
		}
		return &Node{Node: &Node_Exchange{Exchange: &Exchange{Stage: int32(x.Stage), Kind: int32(x.Kind), Keys: ids32(x.Keys),
			Cols: fromColumns(x.Cols), Est: x.Est, Merge: merge}}}, nil
	}
	ch := n.Children()
	in := make([]*Node, len(ch))
	for i, c := range ch {
		pn, err := FromNode(c)
		if err != nil {
			return nil, err
		}
		in[i] = pn
	}
	switch x := n.(type) {
	case *planner.Filter:
		cond, err := fromExpr(x.Cond)
		if err != nil {
			return nil, err
		}
		return &Node{Node: &Node_Filter{Filter: &Filter{Input: in[0], Cond: cond}}}, nil
	case *planner.Project:
		es, err := fromExprs(x.Exprs)
		if err != nil {
			return nil, err
		}
		return &Node{Node: &Node_Project{Project: &Project{Input: in[0], Exprs: es, Cols: fromColumns(x.Cols)}}}, nil
	case *planner.Aggregate:
		groups, err := fromExprs(x.Groups)
		if err != nil {
			return nil, err
		}
		a := &Aggregate{Input: in[0], Groups: groups, GroupCols: fromColumns(x.GroupCols), AggCols: fromColumns(x.AggCols)}
		for _, c := range x.Aggs {
			args, err := fromExprs(c.Args)
			if err != nil {
				return nil, err
			}
			a.Aggs = append(a.Aggs, &AggCall{Func: c.Func, Args: args, Distinct: c.Distinct, Type: fromType(c.Type)})
		}
		return &Node{Node: &Node_Aggregate{Aggregate: a}}, nil
	case *planner.Join:
		cond, err := fromExpr(x.Cond)
		if err != nil {
			return nil, err
		}
		return &Node{Node: &Node_Join{Join: &Join{Kind: int32(x.Kind), Left: in[0], Right: in[1], Cond: cond,
			NullAware: x.NullAware, MarkCol: fromColumn(x.MarkCol)}}}, nil
	case *planner.Sort:
		keys, err := fromSortKeys(x.Keys)
		if err != nil {
			return nil, err
		}
		return &Node{Node: &Node_Sort{Sort: &Sort{Input: in[0], Keys: keys}}}, nil
	case *planner.Limit:
		return &Node{Node: &Node_Limit{Limit: &Limit{Input: in[0], Count: x.Count, Offset: x.Offset}}}, nil
	case *planner.SetOp:
		return &Node{Node: &Node_SetOp{SetOp: &SetOp{Kind: int32(x.Kind), All: x.All, Left: in[0], Right: in[1], Cols: fromColumns(x.Cols)}}}, nil
	case *planner.Window:
		w := &Window{Input: in[0]}
		for _, f := range x.Funcs {
			args, err := fromExprs(f.Args)
			if err != nil {
				return nil, err
			}
			part, err := fromExprs(f.PartitionBy)
			if err != nil {
				return nil, err
			}
			order, err := fromSortKeys(f.OrderBy)
			if err != nil {
				return nil, err
			}
			w.Funcs = append(w.Funcs, &WindowFunc{Func: f.Func, Args: args, PartitionBy: part, OrderBy: order, Col: fromColumn(f.Col)})
		}
		return &Node{Node: &Node_Window{Window: w}}, nil
	case *planner.EnforceSingleRow:
		return &Node{Node: &Node_EnforceSingleRow{EnforceSingleRow: &EnforceSingleRow{Input: in[0]}}}, nil
	}
	return nil, fmt.Errorf("cannot send a %T node", n)
}

// --- from the wire ---

// maxDepth bounds the nesting of decoded plans and expressions, so that a
// hostile message cannot exhaust the stack.
const maxDepth = 1000

type decoder struct{ depth int }

func (d *decoder) enter(what string) error {
	d.depth++
	if d.depth > maxDepth {
		return fmt.Errorf("%s nested deeper than %d", what, maxDepth)
	}
	return nil
}

func toType(t *Type) (kernels.Type, error) {
	if t == nil {
		return kernels.Type{}, fmt.Errorf("missing type")
	}
	if t.Id < 0 || t.Id > int32(kernels.Interval) {
		return kernels.Type{}, fmt.Errorf("unknown type id %d", t.Id)
	}
	if kernels.TypeID(t.Id) == kernels.Decimal && (t.Precision < 1 || t.Precision > kernels.MaxDecimalPrecision || t.Scale < 0 || t.Scale > t.Precision) {
		return kernels.Type{}, fmt.Errorf("bad decimal(%d,%d)", t.Precision, t.Scale)
	}
	return kernels.Type{ID: kernels.TypeID(t.Id), Precision: t.Precision, Scale: t.Scale}, nil
}

func toValue(v *Value) kernels.Value {
	if v == nil {
		return kernels.Value{}
	}
	return kernels.Value{Null: v.Null, I: v.I, F: v.F, S: v.S, Dec: decimal128.New(v.DecHi, v.DecLo),
		DecHi: v.DecHi, DecLo: v.DecLo, Months: v.Months, Days: v.Days, Nanos: v.Nanos}
}

func toColumn(c *Column) (planner.Column, error) {
	if c == nil {
		return planner.Column{}, fmt.Errorf("missing column")
	}
	t, err := toType(c.Type)
	if err != nil {
		return planner.Column{}, fmt.Errorf("column %q: %w", c.Name, err)
	}
	return planner.Column{ID: planner.ColumnID(c.Id), Name: c.Name, Type: t, Nullable: c.Nullable}, nil
}

func toColumns(cs []*Column) ([]planner.Column, error) {
	out := make([]planner.Column, len(cs))
	for i, c := range cs {
		col, err := toColumn(c)
		if err != nil {
			return nil, err
		}
		out[i] = col
	}
	return out, nil
}

func (d *decoder) expr(e *Expr) (*planner.Expr, error) {
	if e == nil {
		return nil, nil
	}
	if err := d.enter("expression"); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	t, err := toType(e.Type)
	if err != nil {
		return nil, err
	}
	if e.Kind < 0 || e.Kind > 255 {
		return nil, fmt.Errorf("unknown expression kind %d", e.Kind)
	}
	args, err := d.exprs(e.Args)
	if err != nil {
		return nil, err
	}
	return &planner.Expr{Kind: planner.ExprKind(e.Kind), Type: t, Col: planner.ColumnID(e.Col), Value: toValue(e.Value),
		Func: e.Func, Args: args, HasElse: e.HasElse}, nil
}

func (d *decoder) exprs(es []*Expr) ([]*planner.Expr, error) {
	if es == nil {
		return nil, nil
	}
	out := make([]*planner.Expr, len(es))
	for i, e := range es {
		pe, err := d.expr(e)
		if err != nil {
			return nil, err
		}
		if pe == nil {
			return nil, fmt.Errorf("missing expression")
		}
		out[i] = pe
	}
	return out, nil
}

func (d *decoder) sortKeys(ks []*SortKey) ([]planner.SortKey, error) {
	if ks == nil {
		return nil, nil
	}
	out := make([]planner.SortKey, len(ks))
	for i, k := range ks {
		e, err := d.expr(k.GetExpr())
		if err != nil {
			return nil, err
		}
		if e == nil {
			return nil, fmt.Errorf("sort key without expression")
		}
		out[i] = planner.SortKey{Expr: e, Desc: k.Desc, NullsFirst: k.NullsFirst}
	}
	return out, nil
}

// ToNode converts a wire plan back, checking what it decodes.
func ToNode(n *Node) (planner.Node, error) { return (&decoder{}).node(n) }

func (d *decoder) input(n *Node) (planner.Node, error) {
	if n == nil {
		return nil, fmt.Errorf("missing input")
	}
	return d.node(n)
}

func (d *decoder) node(n *Node) (planner.Node, error) {
	if n == nil {
		return nil, fmt.Errorf("missing plan node")
	}
	if err := d.enter("plan"); err != nil {
		return nil, err
	}
	defer func() { d.depth-- }()
	switch x := n.Node.(type) {
	case *Node_Scan:
		s := x.Scan
		cols, err := toColumns(s.Cols)
		if err != nil {
			return nil, err
		}
		if len(s.FileCols) != len(cols) {
			return nil, fmt.Errorf("scan of %s: %d columns, %d file columns", s.Table, len(cols), len(s.FileCols))
		}
		filter, err := d.exprs(s.Filter)
		if err != nil {
			return nil, err
		}
		out := &planner.Scan{Table: s.Table, Format: planner.FileFormat(s.Format), Paths: s.Paths, Cols: cols,
			FileCols: s.FileCols, Filter: filter, Options: s.Options}
		if s.HasOut {
			out.Out = []int{}
			for _, o := range s.Out {
				if o < 0 || int(o) >= len(cols) {
					return nil, fmt.Errorf("scan of %s outputs column %d of %d", s.Table, o, len(cols))
				}
				out.Out = append(out.Out, int(o))
			}
		}
		return out, nil
	case *Node_Values:
		cols, err := toColumns(x.Values.Cols)
		if err != nil {
			return nil, err
		}
		v := &planner.Values{Cols: cols}
		for _, r := range x.Values.Rows {
			es, err := d.exprs(r.GetExprs())
			if err != nil {
				return nil, err
			}
			if len(es) != len(cols) {
				return nil, fmt.Errorf("a VALUES row of %d columns for %d", len(es), len(cols))
			}
			v.Rows = append(v.Rows, es)
		}
		return v, nil
	case *Node_Series:
		c, err := toColumn(x.Series.Col)
		if err != nil {
			return nil, err
		}
		if x.Series.Step == 0 {
			return nil, fmt.Errorf("series with step 0")
		}
		return &planner.Series{Col: c, Start: x.Series.Start, Stop: x.Series.Stop, Step: x.Series.Step, Exclusive: x.Series.Exclusive}, nil
	case *Node_Exchange:
		e := x.Exchange
		cols, err := toColumns(e.Cols)
		if err != nil {
			return nil, err
		}
		kind, err := exchangeKind(e.Kind)
		if err != nil {
			return nil, err
		}
		merge, err := d.sortKeys(e.Merge)
		if err != nil {
			return nil, err
		}
		return &planner.Exchange{Stage: int(e.Stage), Kind: kind, Keys: idsOf(e.Keys), Cols: cols, Est: e.Est, Merge: merge}, nil
	case *Node_Filter:
		in, err := d.input(x.Filter.Input)
		if err != nil {
			return nil, err
		}
		cond, err := d.expr(x.Filter.Cond)
		if err != nil {
			return nil, err
		}
		if cond == nil {
			return nil, fmt.Errorf("filter without condition")
		}
		return &planner.Filter{Input: in, Cond: cond}, nil
	case *Node_Project:
		in, err := d.input(x.Project.Input)
		if err != nil {
			return nil, err
		}
		es, err := d.exprs(x.Project.Exprs)
		if err != nil {
			return nil, err
		}
		cols, err := toColumns(x.Project.Cols)
		if err != nil {
			return nil, err
		}
		if len(es) != len(cols) {
			return nil, fmt.Errorf("project of %d expressions into %d columns", len(es), len(cols))
		}
		return &planner.Project{Input: in, Exprs: es, Cols: cols}, nil
	case *Node_Aggregate:
		a := x.Aggregate
		in, err := d.input(a.Input)
		if err != nil {
			return nil, err
		}
		groups, err := d.exprs(a.Groups)
		if err != nil {
			return nil, err
		}
		gcols, err := toColumns(a.GroupCols)
		if err != nil {
			return nil, err
		}
		acols, err := toColumns(a.AggCols)
		if err != nil {
			return nil, err
		}
		if len(groups) != len(gcols) || len(a.Aggs) != len(acols) {
			return nil, fmt.Errorf("aggregate with %d groups for %d columns, %d calls for %d", len(groups), len(gcols), len(a.Aggs), len(acols))
		}
		out := &planner.Aggregate{Input: in, Groups: groups, GroupCols: gcols, AggCols: acols}
		for _, c := range a.Aggs {
			args, err := d.exprs(c.Args)
			if err != nil {
				return nil, err
			}
			t, err := toType(c.Type)
			if err != nil {
				return nil, err
			}
			out.Aggs = append(out.Aggs, planner.AggCall{Func: c.Func, Args: args, Distinct: c.Distinct, Type: t})
		}
		return out, nil
	case *Node_Join:
		j := x.Join
		if j.Kind < 0 || j.Kind > int32(planner.JoinRightAnti) {
			return nil, fmt.Errorf("unknown join kind %d", j.Kind)
		}
		left, err := d.input(j.Left)
		if err != nil {
			return nil, err
		}
		right, err := d.input(j.Right)
		if err != nil {
			return nil, err
		}
		cond, err := d.expr(j.Cond)
		if err != nil {
			return nil, err
		}
		out := &planner.Join{Kind: planner.JoinKind(j.Kind), Left: left, Right: right, Cond: cond, NullAware: j.NullAware}
		if j.MarkCol != nil {
			if out.MarkCol, err = toColumn(j.MarkCol); err != nil {
				return nil, err
			}
		}
		return out, nil
	case *Node_Sort:
		in, err := d.input(x.Sort.Input)
		if err != nil {
			return nil, err
		}
		keys, err := d.sortKeys(x.Sort.Keys)
		if err != nil {
			return nil, err
		}
		return &planner.Sort{Input: in, Keys: keys}, nil
	case *Node_Limit:
		in, err := d.input(x.Limit.Input)
		if err != nil {
			return nil, err
		}
		return &planner.Limit{Input: in, Count: x.Limit.Count, Offset: x.Limit.Offset}, nil
	case *Node_SetOp:
		s := x.SetOp
		if s.Kind < 0 || s.Kind > int32(planner.SetExcept) {
			return nil, fmt.Errorf("unknown set operation %d", s.Kind)
		}
		left, err := d.input(s.Left)
		if err != nil {
			return nil, err
		}
		right, err := d.input(s.Right)
		if err != nil {
			return nil, err
		}
		cols, err := toColumns(s.Cols)
		if err != nil {
			return nil, err
		}
		return &planner.SetOp{Kind: planner.SetOpKind(s.Kind), All: s.All, Left: left, Right: right, Cols: cols}, nil
	case *Node_Window:
		in, err := d.input(x.Window.Input)
		if err != nil {
			return nil, err
		}
		w := &planner.Window{Input: in}
		for _, f := range x.Window.Funcs {
			args, err := d.exprs(f.Args)
			if err != nil {
				return nil, err
			}
			part, err := d.exprs(f.PartitionBy)
			if err != nil {
				return nil, err
			}
			order, err := d.sortKeys(f.OrderBy)
			if err != nil {
				return nil, err
			}
			col, err := toColumn(f.Col)
			if err != nil {
				return nil, err
			}
			w.Funcs = append(w.Funcs, planner.WindowFunc{Func: f.Func, Args: args, PartitionBy: part, OrderBy: order, Col: col})
		}
		return w, nil
	case *Node_EnforceSingleRow:
		in, err := d.input(x.EnforceSingleRow.Input)
		if err != nil {
			return nil, err
		}
		return &planner.EnforceSingleRow{Input: in}, nil
	}
	return nil, fmt.Errorf("unknown plan node %T", n.Node)
}
