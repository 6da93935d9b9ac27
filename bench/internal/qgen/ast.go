// Package qgen generates random SQL queries over the TPC-H schema (plus a
// small table of edge values) as an AST, renders them in the PostgreSQL
// dialect that both Bellows and DuckDB accept, and shrinks a query while a
// caller-supplied predicate (for example "the engines still disagree")
// holds.
//
// Generation is deterministic for a seed. The AST is plain data: a shrinker
// may copy and edit it freely; Render never fails, but an edited query may
// no longer be valid SQL (the engines then both reject it, which a
// differential predicate treats as agreement).
package qgen

import (
	"fmt"
	"strconv"
	"strings"
)

// Type is the SQL type class of an expression. Integer covers INTEGER and
// BIGINT; Decimal is NUMERIC(p,s).
type Type int

// The type classes.
const (
	Int Type = iota
	Decimal
	Double
	Text
	Date
	Bool
	numTypes
)

func (t Type) String() string {
	return [...]string{"INTEGER", "DECIMAL", "DOUBLE PRECISION", "VARCHAR", "DATE", "BOOLEAN"}[t]
}

// sqlName is the type name used in CASTs.
func (t Type) sqlName() string {
	return [...]string{"BIGINT", "DECIMAL(18,2)", "DOUBLE PRECISION", "VARCHAR", "DATE", "BOOLEAN"}[t]
}

// Numeric reports whether t is Int, Decimal or Double.
func (t Type) Numeric() bool { return t == Int || t == Decimal || t == Double }

// Kind is the kind of an expression node.
type Kind int

// The expression kinds.
const (
	KCol       Kind = iota // Text is "alias.column"
	KLit                   // Text is the literal's SQL ("NULL" for a typed NULL)
	KBin                   // Args[0] Op Args[1]
	KUn                    // Op Args[0] (NOT, -)
	KFunc                  // Op(Args...)
	KAgg                   // Op([DISTINCT] Args[0]) or count(*) with no Args
	KCase                  // CASE WHEN Args[0] THEN Args[1] ... [ELSE last] END
	KCast                  // CAST(Args[0] AS T)
	KIsNull                // Args[0] IS [NOT] NULL
	KIn                    // Args[0] [NOT] IN (Args[1:]...)
	KBetween               // Args[0] [NOT] BETWEEN Args[1] AND Args[2]
	KLike                  // Args[0] [NOT] LIKE Args[1]
	KInSub                 // Args[0] [NOT] IN (Sub)
	KExists                // [NOT] EXISTS (Sub)
	KScalarSub             // (Sub)
	KExtract               // EXTRACT(Op FROM Args[0])
)

// Expr is an expression node. T is its type class.
type Expr struct {
	Kind     Kind
	T        Type
	Op       string
	Text     string
	Args     []*Expr
	Sub      *Query
	Not      bool
	Distinct bool
}

// Item is one select-list entry.
type Item struct {
	E     *Expr
	Alias string
}

// Join kinds of a FROM entry after the first.
const (
	JInner = "JOIN"
	JLeft  = "LEFT JOIN"
	JRight = "RIGHT JOIN"
	JFull  = "FULL JOIN"
	JCross = "CROSS JOIN"
)

// FromItem is one FROM entry: a table or a derived table, joined to the
// previous entries with Join (empty for the first entry) ON On.
type FromItem struct {
	Join  string
	Table string // base table name; "" for a derived table
	Sub   *Query // derived table
	Alias string
	On    *Expr
}

// Select is one SELECT block.
type Select struct {
	Distinct bool
	Items    []Item
	From     []FromItem
	Where    *Expr
	GroupBy  []*Expr
	Having   *Expr
}

// OrderItem orders by the output column at 1-based position Pos.
type OrderItem struct {
	Pos        int
	Desc       bool
	NullsFirst bool
}

// Query is a SELECT block or a set operation over two queries, with an
// optional ORDER BY (by output positions) and LIMIT/OFFSET.
type Query struct {
	Sel         *Select
	SetOp       string // "UNION", "UNION ALL", "INTERSECT", "EXCEPT", ... when Sel is nil
	Left, Right *Query
	OrderBy     []OrderItem
	Limit       int // < 0: none
	Offset      int
	// Types are the output column types (kept up to date by the generator;
	// the shrinker keeps them consistent when it drops columns).
	Types []Type
}

// Ordered reports whether the query's row order is defined: it has an
// ORDER BY over every output column.
func (q *Query) Ordered() bool {
	if len(q.OrderBy) < len(q.Types) {
		return false
	}
	seen := map[int]bool{}
	for _, o := range q.OrderBy {
		seen[o.Pos] = true
	}
	for i := range q.Types {
		if !seen[i+1] {
			return false
		}
	}
	return true
}

// SQL renders the query.
func (q *Query) SQL() string {
	var b strings.Builder
	q.render(&b)
	return b.String()
}

func (q *Query) render(b *strings.Builder) {
	if q.Sel != nil {
		q.Sel.render(b)
	} else {
		b.WriteByte('(')
		q.Left.render(b)
		b.WriteString(") ")
		b.WriteString(q.SetOp)
		b.WriteString(" (")
		q.Right.render(b)
		b.WriteByte(')')
	}
	if len(q.OrderBy) > 0 {
		b.WriteString(" ORDER BY ")
		for i, o := range q.OrderBy {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strconv.Itoa(o.Pos))
			if o.Desc {
				b.WriteString(" DESC")
			}
			if o.NullsFirst {
				b.WriteString(" NULLS FIRST")
			} else {
				b.WriteString(" NULLS LAST")
			}
		}
	}
	if q.Limit >= 0 {
		fmt.Fprintf(b, " LIMIT %d", q.Limit)
		if q.Offset > 0 {
			fmt.Fprintf(b, " OFFSET %d", q.Offset)
		}
	}
}

func (s *Select) render(b *strings.Builder) {
	b.WriteString("SELECT ")
	if s.Distinct {
		b.WriteString("DISTINCT ")
	}
	for i, it := range s.Items {
		if i > 0 {
			b.WriteString(", ")
		}
		it.E.render(b)
		if it.Alias != "" {
			b.WriteString(" AS ")
			b.WriteString(it.Alias)
		}
	}
	if len(s.From) > 0 {
		b.WriteString(" FROM ")
		for i, f := range s.From {
			if i > 0 {
				b.WriteByte(' ')
				b.WriteString(f.Join)
				b.WriteByte(' ')
			}
			if f.Sub != nil {
				b.WriteByte('(')
				f.Sub.render(b)
				b.WriteByte(')')
			} else {
				b.WriteString(f.Table)
			}
			b.WriteString(" AS ")
			b.WriteString(f.Alias)
			if i > 0 && f.Join != JCross {
				b.WriteString(" ON ")
				if f.On == nil {
					b.WriteString("TRUE")
				} else {
					f.On.render(b)
				}
			}
		}
	}
	if s.Where != nil {
		b.WriteString(" WHERE ")
		s.Where.render(b)
	}
	if len(s.GroupBy) > 0 {
		b.WriteString(" GROUP BY ")
		for i, g := range s.GroupBy {
			if i > 0 {
				b.WriteString(", ")
			}
			g.render(b)
		}
	}
	if s.Having != nil {
		b.WriteString(" HAVING ")
		s.Having.render(b)
	}
}

// SQL renders the expression.
func (e *Expr) SQL() string {
	var b strings.Builder
	e.render(&b)
	return b.String()
}

func (e *Expr) render(b *strings.Builder) {
	switch e.Kind {
	case KCol:
		b.WriteString(e.Text)
	case KLit:
		if e.Text == "NULL" {
			b.WriteString("CAST(NULL AS ")
			b.WriteString(e.T.sqlName())
			b.WriteByte(')')
		} else {
			b.WriteString(e.Text)
		}
	case KBin:
		b.WriteByte('(')
		e.Args[0].render(b)
		b.WriteByte(' ')
		b.WriteString(e.Op)
		b.WriteByte(' ')
		e.Args[1].render(b)
		b.WriteByte(')')
	case KUn:
		b.WriteByte('(')
		b.WriteString(e.Op)
		b.WriteByte(' ')
		e.Args[0].render(b)
		b.WriteByte(')')
	case KFunc:
		b.WriteString(e.Op)
		b.WriteByte('(')
		for i, a := range e.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			a.render(b)
		}
		b.WriteByte(')')
	case KAgg:
		b.WriteString(e.Op)
		b.WriteByte('(')
		if len(e.Args) == 0 {
			b.WriteByte('*')
		} else {
			if e.Distinct {
				b.WriteString("DISTINCT ")
			}
			e.Args[0].render(b)
		}
		b.WriteByte(')')
	case KCase:
		b.WriteString("CASE")
		n := len(e.Args)
		for i := 0; i+1 < n; i += 2 {
			b.WriteString(" WHEN ")
			e.Args[i].render(b)
			b.WriteString(" THEN ")
			e.Args[i+1].render(b)
		}
		if n%2 == 1 {
			b.WriteString(" ELSE ")
			e.Args[n-1].render(b)
		}
		b.WriteString(" END")
	case KCast:
		b.WriteString("CAST(")
		e.Args[0].render(b)
		b.WriteString(" AS ")
		if e.Op != "" {
			b.WriteString(e.Op)
		} else {
			b.WriteString(e.T.sqlName())
		}
		b.WriteByte(')')
	case KIsNull:
		b.WriteByte('(')
		e.Args[0].render(b)
		if e.Not {
			b.WriteString(" IS NOT NULL)")
		} else {
			b.WriteString(" IS NULL)")
		}
	case KIn:
		b.WriteByte('(')
		e.Args[0].render(b)
		if e.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" IN (")
		for i, a := range e.Args[1:] {
			if i > 0 {
				b.WriteString(", ")
			}
			a.render(b)
		}
		b.WriteString("))")
	case KBetween:
		b.WriteByte('(')
		e.Args[0].render(b)
		if e.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" BETWEEN ")
		e.Args[1].render(b)
		b.WriteString(" AND ")
		e.Args[2].render(b)
		b.WriteByte(')')
	case KLike:
		b.WriteByte('(')
		e.Args[0].render(b)
		if e.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" LIKE ")
		e.Args[1].render(b)
		b.WriteByte(')')
	case KInSub:
		b.WriteByte('(')
		e.Args[0].render(b)
		if e.Not {
			b.WriteString(" NOT")
		}
		b.WriteString(" IN (")
		e.Sub.render(b)
		b.WriteString("))")
	case KExists:
		b.WriteByte('(')
		if e.Not {
			b.WriteString("NOT ")
		}
		b.WriteString("EXISTS (")
		e.Sub.render(b)
		b.WriteString("))")
	case KScalarSub:
		b.WriteByte('(')
		e.Sub.render(b)
		b.WriteByte(')')
	case KExtract:
		b.WriteString("EXTRACT(")
		b.WriteString(e.Op)
		b.WriteString(" FROM ")
		e.Args[0].render(b)
		b.WriteByte(')')
	default:
		fmt.Fprintf(b, "<bad kind %d>", e.Kind)
	}
}

// Clone returns a deep copy of q.
func (q *Query) Clone() *Query {
	if q == nil {
		return nil
	}
	c := *q
	c.Sel = q.Sel.clone()
	c.Left = q.Left.Clone()
	c.Right = q.Right.Clone()
	c.OrderBy = append([]OrderItem(nil), q.OrderBy...)
	c.Types = append([]Type(nil), q.Types...)
	return &c
}

func (s *Select) clone() *Select {
	if s == nil {
		return nil
	}
	c := *s
	c.Items = make([]Item, len(s.Items))
	for i, it := range s.Items {
		c.Items[i] = Item{E: it.E.Clone(), Alias: it.Alias}
	}
	c.From = make([]FromItem, len(s.From))
	for i, f := range s.From {
		f.Sub = f.Sub.Clone()
		f.On = f.On.Clone()
		c.From[i] = f
	}
	c.Where = s.Where.Clone()
	c.GroupBy = make([]*Expr, len(s.GroupBy))
	for i, g := range s.GroupBy {
		c.GroupBy[i] = g.Clone()
	}
	if len(s.GroupBy) == 0 {
		c.GroupBy = nil
	}
	c.Having = s.Having.Clone()
	return &c
}

// Clone returns a deep copy of e.
func (e *Expr) Clone() *Expr {
	if e == nil {
		return nil
	}
	c := *e
	if e.Args != nil {
		c.Args = make([]*Expr, len(e.Args))
		for i, a := range e.Args {
			c.Args[i] = a.Clone()
		}
	}
	c.Sub = e.Sub.Clone()
	return &c
}
