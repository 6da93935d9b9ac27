package qgen

import (
	"fmt"
	"math/rand"
	"strconv"
)

// Gen generates random queries. It is not safe for concurrent use.
type Gen struct {
	r       *rand.Rand
	aliases int
}

// New returns a generator whose output depends only on seed.
func New(seed int64) *Gen {
	return &Gen{r: rand.New(rand.NewSource(seed))}
}

// colRef is a column visible in a scope.
type colRef struct {
	ref string // alias.column
	t   Type
}

// ctx is where an expression is generated.
type ctx struct {
	cols  []colRef
	outer []colRef // columns of the enclosing query (correlation)
	// keys is non-nil in a grouped select list/HAVING: leaves must be group
	// keys, aggregates or literals.
	keys  []*Expr
	depth int // remaining nesting budget
	level int // subquery nesting level
	// noSub forbids subqueries: Bellows does not support them in JOIN
	// conditions or inside aggregate arguments (see testdata/slt/todo/fuzz.slt).
	noSub bool
}

func (g *Gen) intn(n int) int        { return g.r.Intn(n) }
func (g *Gen) chance(p float64) bool { return g.r.Float64() < p }

func (g *Gen) alias(prefix string) string {
	g.aliases++
	return prefix + strconv.Itoa(g.aliases)
}

// Query generates one top-level query. Its result is deterministic: when
// it has a LIMIT it is ordered by every output column and has no
// floating-point output column.
func (g *Gen) Query() *Query {
	g.aliases = 0
	var q *Query
	if g.chance(0.12) {
		q = g.setOp(nil)
	} else {
		q = g.selectQuery(nil, nil, 0)
	}
	g.addOrder(q)
	return q
}

func (g *Gen) setOp(want []Type) *Query {
	left := g.selectQuery(want, nil, 1)
	right := g.selectQuery(left.Types, nil, 1)
	ops := []string{"UNION", "UNION ALL", "INTERSECT", "EXCEPT", "INTERSECT ALL", "EXCEPT ALL"}
	return &Query{SetOp: ops[g.intn(len(ops))], Left: left, Right: right, Limit: -1, Types: append([]Type(nil), left.Types...)}
}

func hasDouble(ts []Type) bool {
	for _, t := range ts {
		if t == Double {
			return true
		}
	}
	return false
}

// addOrder adds ORDER BY and LIMIT to a top-level query.
func (g *Gen) addOrder(q *Query) {
	q.Limit = -1
	limit := g.chance(0.45) && !hasDouble(q.Types)
	if !limit && !g.chance(0.3) {
		return
	}
	perm := g.r.Perm(len(q.Types))
	for _, p := range perm {
		q.OrderBy = append(q.OrderBy, OrderItem{Pos: p + 1, Desc: g.chance(0.4), NullsFirst: g.chance(0.5)})
	}
	if limit {
		q.Limit = []int{0, 1, 3, 10, 50}[g.intn(5)]
		if g.chance(0.3) {
			q.Offset = 1 + g.intn(20)
		}
	}
}

// selectQuery generates a SELECT block. want, if non-nil, fixes the output
// column types; outer are the columns of an enclosing query it may
// correlate with.
func (g *Gen) selectQuery(want []Type, outer []colRef, level int) *Query {
	s := &Select{}
	c := &ctx{outer: outer, depth: 3, level: level}
	s.From, c.cols = g.from(level)
	if g.chance(0.7) {
		s.Where = g.pred(c)
	}
	if level < 2 && g.chance(0.1) {
		// A correlated [NOT] IN as a WHERE conjunct (an anti/semi join;
		// elsewhere an IN is a value: a mark join).
		in := g.subIn(c, true)
		if s.Where == nil {
			s.Where = in
		} else {
			s.Where = bin(Bool, "AND", s.Where, in)
		}
	}
	n := len(want)
	if want == nil {
		n = 1 + g.intn(4)
	}
	types := make([]Type, n)
	for i := range types {
		if want != nil {
			types[i] = want[i]
		} else {
			types[i] = g.anyType()
		}
	}
	if g.chance(0.45) {
		// Grouped.
		nk := g.intn(3)
		for i := 0; i < nk; i++ {
			var k *Expr
			if g.chance(0.75) {
				k = g.column(c, g.anyType())
			} else {
				k = g.expr(&ctx{cols: c.cols, depth: 1, level: level, noSub: true}, g.anyType())
			}
			s.GroupBy = append(s.GroupBy, k)
		}
		ac := &ctx{cols: c.cols, outer: outer, keys: append([]*Expr{}, s.GroupBy...), depth: 2, level: level}
		for i, t := range types {
			s.Items = append(s.Items, Item{E: g.expr(ac, t), Alias: "c" + strconv.Itoa(i)})
		}
		if g.chance(0.3) {
			s.Having = g.pred(ac)
		}
	} else {
		for i, t := range types {
			s.Items = append(s.Items, Item{E: g.expr(c, t), Alias: "c" + strconv.Itoa(i)})
		}
	}
	s.Distinct = g.chance(0.15)
	return &Query{Sel: s, Limit: -1, Types: types}
}

func (g *Gen) anyType() Type {
	// Weighted: more integers and text, fewer doubles.
	w := []Type{Int, Int, Int, Decimal, Decimal, Text, Text, Date, Bool, Double}
	return w[g.intn(len(w))]
}

// from generates the FROM clause and returns the columns it brings into
// scope.
func (g *Gen) from(level int) ([]FromItem, []colRef) {
	var items []FromItem
	var cols []colRef
	type inst struct{ table, alias string }
	var insts []inst

	n := []int{1, 1, 1, 2, 2, 2, 3, 3, 4}[g.intn(9)]
	if level > 0 && n > 2 {
		n = 2
	}
	if level < 2 && g.chance(0.08) {
		// A derived table first.
		sub := g.selectQuery(nil, nil, level+1)
		a := g.alias("d")
		items = append(items, FromItem{Sub: sub, Alias: a})
		for i, t := range sub.Types {
			cols = append(cols, colRef{fmt.Sprintf("%s.c%d", a, i), t})
		}
		return items, cols
	}
	add := func(table, join string, on *Expr, a string) {
		items = append(items, FromItem{Join: join, Table: table, Alias: a, On: on})
		insts = append(insts, inst{table, a})
		for _, col := range tableByName(table).Cols {
			cols = append(cols, colRef{a + "." + col.Name, col.T})
		}
	}
	first := Tables[g.intn(len(Tables))].Name
	if g.chance(0.25) {
		first = EdgeTable
	}
	add(first, "", nil, g.alias("t"))
	for len(items) < n {
		// Edges touching a table already in the FROM list.
		type cand struct {
			e    joinEdge
			have inst
			rev  bool
		}
		var cands []cand
		// The big tables appear at most once, so that a join cannot
		// explode (lineitem x lineitem on a part key).
		have := func(t string) bool {
			if t != "lineitem" && t != "orders" && t != "partsupp" {
				return false
			}
			for _, in := range insts {
				if in.table == t {
					return true
				}
			}
			return false
		}
		for _, e := range joinEdges {
			for _, in := range insts {
				if e.t1 == in.table && !have(e.t2) {
					cands = append(cands, cand{e, in, false})
				}
				if e.t2 == in.table && !have(e.t1) {
					cands = append(cands, cand{e, in, true})
				}
			}
		}
		if len(cands) == 0 {
			break
		}
		cd := cands[g.intn(len(cands))]
		newT, newC, oldC := cd.e.t2, cd.e.c2, cd.e.c1
		if cd.rev {
			newT, newC, oldC = cd.e.t1, cd.e.c1, cd.e.c2
		}
		a := g.alias("t")
		join := []string{JInner, JInner, JInner, JLeft, JLeft, JRight, JFull}[g.intn(7)]
		if tableByName(newT).Small && g.chance(0.1) {
			add(newT, JCross, nil, a)
			continue
		}
		on := &Expr{Kind: KBin, T: Bool, Op: "=", Args: []*Expr{
			{Kind: KCol, T: colType(cd.have.table, oldC), Text: cd.have.alias + "." + oldC},
			{Kind: KCol, T: colType(newT, newC), Text: a + "." + newC},
		}}
		add(newT, join, nil, a)
		if g.chance(0.25) {
			// An extra ON condition over both sides (interesting for outer joins).
			extra := g.pred(&ctx{cols: cols, depth: 1, level: level, noSub: true})
			on = &Expr{Kind: KBin, T: Bool, Op: "AND", Args: []*Expr{on, extra}}
		}
		items[len(items)-1].On = on
	}
	return items, cols
}

// column returns a random column of type t from c (or an outer column
// sometimes), or a literal when there is none.
func (g *Gen) column(c *ctx, t Type) *Expr {
	var cands []colRef
	for _, col := range c.cols {
		if col.t == t {
			cands = append(cands, col)
		}
	}
	if len(c.outer) > 0 && g.chance(0.3) {
		for _, col := range c.outer {
			if col.t == t {
				cands = append(cands, col)
			}
		}
	}
	if len(cands) == 0 {
		return g.literal(t)
	}
	col := cands[g.intn(len(cands))]
	return &Expr{Kind: KCol, T: t, Text: col.ref}
}

var textLits = []string{"''", "' '", "'a'", "'A'", "'R'", "'N'", "'F'", "'O'", "'BUILDING'", "'AUTOMOBILE'",
	"'MAIL'", "'SHIP'", "'AIR'", "'1-URGENT'", "'5-LOW'", "'Brand#23'", "'GERMANY'", "'ASIA'", "'abc'", "'x_y'",
	"'Customer#000000001'", "'héllo'", "'O''Brien'", "'%'", "'MED BOX'"}

var likePats = []string{"'%'", "'%a%'", "'A%'", "'%S'", "'B%'", "'%#2_'", "'_'", "''", "'%O%'", "'R'", "'1-%'", "'%e%o%'"}

// literal returns a literal of type t (sometimes a typed NULL or an edge
// value).
func (g *Gen) literal(t Type) *Expr {
	if g.chance(0.05) {
		return &Expr{Kind: KLit, T: t, Text: "NULL"}
	}
	var s string
	switch t {
	case Int:
		switch {
		case g.chance(0.1):
			s = []string{"0", "-1", "2147483647", "(-2147483648)", "1000000", "9223372036854775807"}[g.intn(6)]
		case g.chance(0.5):
			s = strconv.Itoa(g.intn(30))
		default:
			s = strconv.Itoa(g.intn(200000) - 1000)
		}
		if s[0] == '-' {
			s = "(" + s + ")"
		}
	case Decimal:
		v := g.intn(200000) - 20000
		if g.chance(0.5) {
			v = g.intn(100)
		}
		s = fmt.Sprintf("%d.%02d", v/100, abs(v%100))
		if v < 0 {
			s = fmt.Sprintf("(-%d.%02d)", abs(v/100), abs(v%100))
		}
	case Double:
		s = "CAST(" + []string{"0.5", "1.25", "(-3.75)", "1000.0", "0.0", "2.0", "1e10"}[g.intn(7)] + " AS DOUBLE PRECISION)"
	case Text:
		s = textLits[g.intn(len(textLits))]
	case Date:
		day := g.intn(2600)
		s = fmt.Sprintf("(DATE '1992-01-01' + %d)", day)
		if g.chance(0.1) {
			s = []string{"DATE '1970-01-01'", "DATE '2000-02-29'", "DATE '1998-12-01'"}[g.intn(3)]
		}
	case Bool:
		s = []string{"TRUE", "FALSE"}[g.intn(2)]
	}
	return &Expr{Kind: KLit, T: t, Text: s}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// leaf returns a column, group key, aggregate or literal of type t.
func (g *Gen) leaf(c *ctx, t Type) *Expr {
	if c.keys != nil {
		var ks []*Expr
		for _, k := range c.keys {
			if k.T == t {
				ks = append(ks, k)
			}
		}
		switch {
		case len(ks) > 0 && g.chance(0.5):
			return ks[g.intn(len(ks))].Clone()
		case g.chance(0.85):
			return g.agg(c, t)
		}
		return g.literal(t)
	}
	if g.chance(0.8) {
		return g.column(c, t)
	}
	return g.literal(t)
}

// agg returns an aggregate of type t over expressions of c's columns.
func (g *Gen) agg(c *ctx, t Type) *Expr {
	inner := &ctx{cols: c.cols, outer: c.outer, depth: 1, level: c.level, noSub: true}
	arg := func(at Type) *Expr {
		if g.chance(0.7) {
			return g.column(inner, at)
		}
		return g.expr(inner, at)
	}
	distinct := g.chance(0.15)
	switch t {
	case Int:
		switch g.intn(4) {
		case 0:
			return &Expr{Kind: KAgg, T: Int, Op: "count"}
		case 1:
			return &Expr{Kind: KAgg, T: Int, Op: "count", Args: []*Expr{arg(g.anyType())}, Distinct: distinct}
		case 2:
			// sum(bigint) is NUMERIC in PostgreSQL (and Bellows) but
			// HUGEINT in DuckDB, which / would divide differently: cast.
			sum := &Expr{Kind: KAgg, T: Int, Op: "sum", Args: []*Expr{arg(Int)}, Distinct: distinct}
			return &Expr{Kind: KCast, T: Int, Args: []*Expr{sum}}
		}
		return &Expr{Kind: KAgg, T: Int, Op: []string{"min", "max"}[g.intn(2)], Args: []*Expr{arg(Int)}}
	case Decimal:
		if g.chance(0.5) {
			return &Expr{Kind: KAgg, T: Decimal, Op: "sum", Args: []*Expr{arg(Decimal)}, Distinct: distinct}
		}
		return &Expr{Kind: KAgg, T: Decimal, Op: []string{"min", "max"}[g.intn(2)], Args: []*Expr{arg(Decimal)}}
	case Double:
		if g.chance(0.7) {
			at := []Type{Int, Decimal, Double}[g.intn(3)]
			return &Expr{Kind: KAgg, T: Double, Op: "avg", Args: []*Expr{arg(at)}, Distinct: distinct}
		}
		return &Expr{Kind: KAgg, T: Double, Op: []string{"sum", "min", "max"}[g.intn(3)], Args: []*Expr{arg(Double)}}
	case Bool:
		return &Expr{Kind: KAgg, T: Bool, Op: []string{"bool_and", "bool_or"}[g.intn(2)], Args: []*Expr{g.pred(inner)}}
	}
	return &Expr{Kind: KAgg, T: t, Op: []string{"min", "max"}[g.intn(2)], Args: []*Expr{arg(t)}, Distinct: distinct}
}

func bin(t Type, op string, a, b *Expr) *Expr {
	return &Expr{Kind: KBin, T: t, Op: op, Args: []*Expr{a, b}}
}

func fn(t Type, name string, args ...*Expr) *Expr {
	return &Expr{Kind: KFunc, T: t, Op: name, Args: args}
}

func (g *Gen) smallInt() *Expr {
	return &Expr{Kind: KLit, T: Int, Text: strconv.Itoa(1 + g.intn(5))}
}

// expr returns an expression of type t.
func (g *Gen) expr(c *ctx, t Type) *Expr {
	if t == Bool && g.chance(0.8) {
		return g.pred(c)
	}
	if c.depth <= 0 || g.chance(0.4) {
		return g.leaf(c, t)
	}
	sub := *c
	sub.depth--
	e := func(t Type) *Expr { return g.expr(&sub, t) }
	switch g.intn(10) {
	case 0:
		// CASE
		n := 1 + g.intn(2)
		x := &Expr{Kind: KCase, T: t}
		for i := 0; i < n; i++ {
			x.Args = append(x.Args, g.pred(&sub), e(t))
		}
		if g.chance(0.6) {
			x.Args = append(x.Args, e(t))
		}
		return x
	case 1:
		return fn(t, "coalesce", e(t), e(t))
	case 2:
		if c.keys == nil && c.level < 2 && !c.noSub && g.chance(0.5) {
			return g.scalarSub(c, t)
		}
	case 3:
		if t != Bool && t != Double {
			return fn(t, []string{"greatest", "least"}[g.intn(2)], e(t), e(t))
		}
	}
	switch t {
	case Int:
		switch g.intn(11) {
		case 0:
			return bin(Int, "+", e(Int), e(Int))
		case 1:
			return bin(Int, "-", e(Int), e(Int))
		case 2:
			return bin(Int, "*", e(Int), g.smallInt())
		case 3:
			return bin(Int, "/", e(Int), fn(Int, "nullif", e(Int), &Expr{Kind: KLit, T: Int, Text: "0"}))
		case 4:
			return bin(Int, "%", e(Int), fn(Int, "nullif", e(Int), &Expr{Kind: KLit, T: Int, Text: "0"}))
		case 5:
			return fn(Int, "abs", e(Int))
		case 6:
			return fn(Int, "length", e(Text))
		case 7:
			return &Expr{Kind: KExtract, T: Int, Op: []string{"YEAR", "MONTH", "DAY"}[g.intn(3)], Args: []*Expr{e(Date)}}
		case 8:
			return &Expr{Kind: KCast, T: Int, Args: []*Expr{e(Decimal)}}
		case 9:
			return bin(Int, "-", e(Date), e(Date))
		default:
			return &Expr{Kind: KUn, T: Int, Op: "-", Args: []*Expr{e(Int)}}
		}
	case Decimal:
		switch g.intn(7) {
		case 0:
			return bin(Decimal, "+", e(Decimal), e(Decimal))
		case 1:
			return bin(Decimal, "-", e(Decimal), e(Int))
		case 2:
			return bin(Decimal, "*", e(Decimal), g.smallInt())
		case 3:
			// Cast back to scale 2: DuckDB unifies DECIMAL(38,1) with
			// DECIMAL(15,2) as DECIMAL(38,1) (it has no wider decimal),
			// PostgreSQL keeps every digit.
			r := fn(Decimal, "round", e(Decimal), &Expr{Kind: KLit, T: Int, Text: strconv.Itoa(g.intn(3))})
			return &Expr{Kind: KCast, T: Decimal, Args: []*Expr{r}}
		case 4:
			return fn(Decimal, "abs", e(Decimal))
		case 5:
			return &Expr{Kind: KCast, T: Decimal, Args: []*Expr{e(Int)}}
		default:
			return &Expr{Kind: KUn, T: Decimal, Op: "-", Args: []*Expr{e(Decimal)}}
		}
	case Double:
		switch g.intn(4) {
		case 0:
			return &Expr{Kind: KCast, T: Double, Args: []*Expr{e([]Type{Int, Decimal}[g.intn(2)])}}
		case 1:
			return bin(Double, "*", e(Double), e(Double))
		case 2:
			return bin(Double, "+", e(Double), e(Double))
		default:
			return bin(Double, "/", e(Double), fn(Double, "nullif", e(Double), &Expr{Kind: KLit, T: Double, Text: "CAST(0 AS DOUBLE PRECISION)"}))
		}
	case Text:
		switch g.intn(9) {
		case 0:
			return fn(Text, []string{"upper", "lower"}[g.intn(2)], e(Text))
		case 1:
			return fn(Text, "substr", e(Text), g.smallInt(), g.smallInt())
		case 2:
			return bin(Text, "||", e(Text), e(Text))
		case 3:
			return fn(Text, "trim", e(Text))
		case 4:
			return fn(Text, "replace", e(Text), g.literal(Text), g.literal(Text))
		case 5:
			return &Expr{Kind: KCast, T: Text, Args: []*Expr{e(Int)}}
		case 6:
			return &Expr{Kind: KCast, T: Text, Args: []*Expr{e(Date)}}
		case 7:
			return fn(Text, "concat", e(Text), e(Text))
		default:
			return fn(Text, []string{"left", "right"}[g.intn(2)], e(Text), g.smallInt())
		}
	case Date:
		return bin(Date, "+", e(Date), g.smallInt())
	case Bool:
		return g.pred(&sub)
	}
	return g.leaf(c, t)
}

// scalarSub returns a scalar subquery of type t: one aggregate over a
// table, possibly correlated with c's columns.
func (g *Gen) scalarSub(c *ctx, t Type) *Expr {
	q := g.corrSelect(c, 1)
	sc := &ctx{cols: q.cols, keys: []*Expr{}, depth: 1, level: c.level + 1}
	q.q.Sel.Items = []Item{{E: g.agg(sc, t), Alias: "c0"}}
	q.q.Types = []Type{t}
	return &Expr{Kind: KScalarSub, T: t, Sub: q.q}
}

type corr struct {
	q    *Query
	cols []colRef
}

// corrSelect returns a SELECT over one table whose WHERE may correlate with
// c's columns; the caller fills in the select list.
func (g *Gen) corrSelect(c *ctx, maxTables int) corr {
	s := &Select{}
	var cols []colRef
	a := g.alias("s")
	tb := Tables[g.intn(len(Tables))]
	if g.chance(0.3) {
		tb = *tableByName(EdgeTable)
	}
	s.From = []FromItem{{Table: tb.Name, Alias: a}}
	for _, col := range tb.Cols {
		cols = append(cols, colRef{a + "." + col.Name, col.T})
	}
	var conds []*Expr
	if g.chance(0.7) && len(c.cols) > 0 {
		// Correlate: inner column = outer column of the same type.
		ic := cols[g.intn(len(cols))]
		oc := g.column(&ctx{cols: c.cols}, ic.t)
		conds = append(conds, bin(Bool, "=", &Expr{Kind: KCol, T: ic.t, Text: ic.ref}, oc))
	}
	if g.chance(0.5) {
		conds = append(conds, g.pred(&ctx{cols: cols, depth: 1, level: c.level + 1}))
	}
	for _, cd := range conds {
		if s.Where == nil {
			s.Where = cd
		} else {
			s.Where = bin(Bool, "AND", s.Where, cd)
		}
	}
	return corr{q: &Query{Sel: s, Limit: -1}, cols: cols}
}

// pred returns a boolean expression.
func (g *Gen) pred(c *ctx) *Expr {
	sub := *c
	sub.depth--
	if c.depth <= 0 {
		return g.simplePred(c)
	}
	switch g.intn(10) {
	case 0, 1:
		return bin(Bool, []string{"AND", "OR"}[g.intn(2)], g.pred(&sub), g.pred(&sub))
	case 2:
		return &Expr{Kind: KUn, T: Bool, Op: "NOT", Args: []*Expr{g.pred(&sub)}}
	case 3:
		if c.keys == nil && c.level < 2 && !c.noSub {
			return g.subPred(c)
		}
	}
	return g.simplePred(c)
}

func (g *Gen) subPred(c *ctx) *Expr {
	if g.chance(0.5) {
		q := g.corrSelect(c, 1)
		q.q.Sel.Items = []Item{{E: &Expr{Kind: KLit, T: Int, Text: "1"}, Alias: "c0"}}
		q.q.Types = []Type{Int}
		return &Expr{Kind: KExists, T: Bool, Sub: q.q, Not: g.chance(0.4)}
	}
	return g.subIn(c, g.chance(0.5))
}

// subIn returns lhs [NOT] IN (subquery), correlated with c's columns when
// correlated is set.
func (g *Gen) subIn(c *ctx, correlated bool) *Expr {
	t := g.anyType()
	if t == Double || t == Bool {
		t = Int
	}
	var q corr
	if correlated {
		q = g.corrSelect(c, 1)
	} else {
		q = g.corrSelect(&ctx{level: c.level}, 1)
	}
	sc := &ctx{cols: q.cols, depth: 1, level: c.level + 1, noSub: true}
	q.q.Sel.Items = []Item{{E: g.expr(sc, t), Alias: "c0"}}
	q.q.Types = []Type{t}
	lhs := g.expr(&ctx{cols: c.cols, outer: c.outer, keys: c.keys, depth: 1, level: c.level}, t)
	return &Expr{Kind: KInSub, T: Bool, Args: []*Expr{lhs}, Sub: q.q, Not: g.chance(0.4)}
}

var cmpOps = []string{"=", "<>", "<", "<=", ">", ">=", "IS DISTINCT FROM", "IS NOT DISTINCT FROM"}

func (g *Gen) simplePred(c *ctx) *Expr {
	sub := *c
	if sub.depth > 1 {
		sub.depth = 1
	}
	t := g.anyType()
	e := func(t Type) *Expr { return g.expr(&sub, t) }
	switch g.intn(9) {
	case 0:
		return &Expr{Kind: KIsNull, T: Bool, Args: []*Expr{e(t)}, Not: g.chance(0.5)}
	case 1:
		if t == Bool {
			t = Int
		}
		lo, hi := g.literal(t), g.literal(t)
		if g.chance(0.3) {
			lo = e(t)
		}
		return &Expr{Kind: KBetween, T: Bool, Args: []*Expr{e(t), lo, hi}, Not: g.chance(0.3)}
	case 2:
		x := &Expr{Kind: KIn, T: Bool, Args: []*Expr{e(t)}, Not: g.chance(0.3)}
		for i := 0; i < 1+g.intn(4); i++ {
			x.Args = append(x.Args, g.literal(t))
		}
		return x
	case 3:
		return &Expr{Kind: KLike, T: Bool, Args: []*Expr{e(Text), {Kind: KLit, T: Text, Text: likePats[g.intn(len(likePats))]}}, Not: g.chance(0.3)}
	case 4:
		if c.keys == nil {
			return g.leafBool(c)
		}
	}
	op := cmpOps[g.intn(6)]
	if g.chance(0.1) {
		op = cmpOps[6+g.intn(2)]
	}
	if t == Bool && g.chance(0.7) {
		t = Int
	}
	var rhs *Expr
	if g.chance(0.5) {
		rhs = g.literal(t)
	} else {
		rhs = e(t)
	}
	return bin(Bool, op, e(t), rhs)
}

func (g *Gen) leafBool(c *ctx) *Expr {
	var cands []colRef
	for _, col := range c.cols {
		if col.t == Bool {
			cands = append(cands, col)
		}
	}
	if len(cands) > 0 && g.chance(0.8) {
		return &Expr{Kind: KCol, T: Bool, Text: cands[g.intn(len(cands))].ref}
	}
	return g.literal(Bool)
}
