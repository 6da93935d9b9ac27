// Package planner holds Bellows' logical plan: plain, serializable data that
// the sql binder produces, the optimizer rewrites and exec lowers into
// pipelines. Columns are named by query-unique ColumnIDs, never by position,
// so rules can move operators without renumbering.
package planner

import (
	"fmt"
	"strings"

	"github.com/bellows-db/bellows/kernels"
)

// ColumnID names a column uniquely within one query's plan.
type ColumnID int32

// Column describes one output column of a plan node.
type Column struct {
	ID       ColumnID     `json:"id"`
	Name     string       `json:"name"`
	Type     kernels.Type `json:"type"`
	Nullable bool         `json:"nullable,omitempty"`
}

// ExprKind says what an Expr node is.
type ExprKind uint8

// Expression node kinds.
const (
	EColumn   ExprKind = iota // a column: Col
	EConst                    // a constant: Value
	ECall                     // a scalar function or operator: Func(Args...)
	EAnd                      // Args[0] AND Args[1] AND ... (three-valued)
	EOr                       // Args[0] OR Args[1] OR ...
	ENot                      // NOT Args[0]
	EIsNull                   // Args[0] IS NULL
	ECase                     // CASE WHEN Args[0] THEN Args[1] ... [ELSE Args[last]] END; HasElse
	ECast                     // CAST(Args[0] AS Type)
	EIn                       // Args[0] IN (Args[1:]...), three-valued
	ECoalesce                 // COALESCE(Args...)
	ESubquery                 // a subquery, present only between binding and decorrelation
	EParam                    // a statement parameter $N (Col holds N)
)

// Expr is a scalar expression tree. It is plain data: safe to share between
// goroutines once built, and never mutated by the optimizer in place (rules
// build new nodes).
type Expr struct {
	Kind    ExprKind      `json:"k"`
	Type    kernels.Type  `json:"t"`
	Col     ColumnID      `json:"c,omitempty"`
	Value   kernels.Value `json:"v,omitempty"`
	Func    string        `json:"f,omitempty"`
	Args    []*Expr       `json:"a,omitempty"`
	HasElse bool          `json:"e,omitempty"`
	Sub     *Subquery     `json:"-"`
}

// SubqueryKind says how a subquery is used.
type SubqueryKind uint8

// Subquery uses.
const (
	SubScalar SubqueryKind = iota // (SELECT x ...): at most one row, one column
	SubExists                     // EXISTS (SELECT ...)
	SubIn                         // Test IN (SELECT x ...)
)

// Subquery is a bound subquery inside an expression. Outer lists the columns
// of enclosing queries it references (correlation).
type Subquery struct {
	Kind  SubqueryKind
	Plan  Node
	Test  *Expr // SubIn: the left-hand side
	Outer []ColumnID
	// Cmp, when set, makes SubIn a quantified comparison: Test <op> ANY
	// (or ALL when All is set) of the subquery's column; Cmp is the
	// comparison over Test and that column.
	Cmp *Expr
	All bool
}

// Col returns a column reference expression.
func Col(c Column) *Expr { return &Expr{Kind: EColumn, Type: c.Type, Col: c.ID} }

// Const returns a constant expression.
func Const(t kernels.Type, v kernels.Value) *Expr { return &Expr{Kind: EConst, Type: t, Value: v} }

// NullConst returns a NULL constant of type t.
func NullConst(t kernels.Type) *Expr { return Const(t, kernels.NullValue) }

// BoolConst returns TRUE or FALSE.
func BoolConst(b bool) *Expr {
	v := kernels.Value{}
	if b {
		v.I = 1
	}
	return Const(kernels.TBool, v)
}

// Call returns a function call expression with a known result type.
func Call(fn string, t kernels.Type, args ...*Expr) *Expr {
	return &Expr{Kind: ECall, Type: t, Func: fn, Args: args}
}

// And joins conjuncts; nil and TRUE are dropped; empty gives nil.
func And(conj ...*Expr) *Expr {
	var out []*Expr
	for _, c := range conj {
		if c == nil || c.IsTrue() {
			continue
		}
		if c.Kind == EAnd {
			out = append(out, c.Args...)
		} else {
			out = append(out, c)
		}
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return &Expr{Kind: EAnd, Type: kernels.TBool, Args: out}
}

// Conjuncts splits an AND tree into its parts; nil gives none.
func Conjuncts(e *Expr) []*Expr {
	if e == nil {
		return nil
	}
	if e.Kind == EAnd {
		var out []*Expr
		for _, a := range e.Args {
			out = append(out, Conjuncts(a)...)
		}
		return out
	}
	return []*Expr{e}
}

// IsTrue reports whether e is the constant TRUE.
func (e *Expr) IsTrue() bool {
	return e != nil && e.Kind == EConst && e.Type.ID == kernels.Bool && !e.Value.Null && e.Value.I != 0
}

// IsConst reports whether e is a constant.
func (e *Expr) IsConst() bool { return e != nil && e.Kind == EConst }

// Walk calls fn on e and its descendants, pre-order, stopping a branch when
// fn returns false. Subquery plans are not entered.
func (e *Expr) Walk(fn func(*Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	for _, a := range e.Args {
		a.Walk(fn)
	}
	if e.Sub != nil && e.Sub.Test != nil {
		e.Sub.Test.Walk(fn)
	}
}

// Columns returns the set of columns e references.
func (e *Expr) Columns() map[ColumnID]bool {
	m := map[ColumnID]bool{}
	e.Walk(func(x *Expr) bool {
		if x.Kind == EColumn {
			m[x.Col] = true
		}
		if x.Kind == ESubquery {
			for _, c := range x.Sub.Outer {
				m[c] = true
			}
		}
		return true
	})
	return m
}

// HasSubquery reports whether e contains a subquery.
func (e *Expr) HasSubquery() bool {
	found := false
	e.Walk(func(x *Expr) bool {
		if x.Kind == ESubquery {
			found = true
		}
		return !found
	})
	return found
}

// Rewrite returns a copy of e in which fn has replaced nodes, bottom-up: fn is
// called on each node after its children were rewritten and returns the
// replacement (or the node itself).
func (e *Expr) Rewrite(fn func(*Expr) *Expr) *Expr {
	if e == nil {
		return nil
	}
	c := *e
	if len(e.Args) > 0 {
		c.Args = make([]*Expr, len(e.Args))
		for i, a := range e.Args {
			c.Args[i] = a.Rewrite(fn)
		}
	}
	if e.Sub != nil && e.Sub.Test != nil {
		s := *e.Sub
		s.Test = e.Sub.Test.Rewrite(fn)
		c.Sub = &s
	}
	return fn(&c)
}

// Remap replaces column references by the expressions in m (others stay).
func (e *Expr) Remap(m map[ColumnID]*Expr) *Expr {
	return e.Rewrite(func(x *Expr) *Expr {
		if x.Kind == EColumn {
			if r, ok := m[x.Col]; ok {
				return r
			}
		}
		return x
	})
}

// String renders e for EXPLAIN, naming columns through names (nil: #id).
func (e *Expr) String() string { return e.Format(nil) }

// Format renders e, naming columns with names[id] where present.
func (e *Expr) Format(names map[ColumnID]string) string {
	if e == nil {
		return "<nil>"
	}
	args := func(sep string) string {
		s := make([]string, len(e.Args))
		for i, a := range e.Args {
			s[i] = a.Format(names)
		}
		return strings.Join(s, sep)
	}
	switch e.Kind {
	case EColumn:
		if n, ok := names[e.Col]; ok {
			return n
		}
		return fmt.Sprintf("#%d", e.Col)
	case EConst:
		if e.Type.ID == kernels.String || e.Type.ID == kernels.Date || e.Type.ID == kernels.Timestamp {
			if e.Value.Null {
				return "NULL"
			}
			return "'" + e.Value.Format(e.Type) + "'"
		}
		return e.Value.Format(e.Type)
	case ECall:
		if op, ok := infixOps[e.Func]; ok && len(e.Args) == 2 {
			return "(" + e.Args[0].Format(names) + " " + op + " " + e.Args[1].Format(names) + ")"
		}
		return e.Func + "(" + args(", ") + ")"
	case EAnd:
		return "(" + args(" AND ") + ")"
	case EOr:
		return "(" + args(" OR ") + ")"
	case ENot:
		return "NOT " + e.Args[0].Format(names)
	case EIsNull:
		return e.Args[0].Format(names) + " IS NULL"
	case ECase:
		var b strings.Builder
		b.WriteString("CASE")
		n := len(e.Args)
		if e.HasElse {
			n--
		}
		for i := 0; i+1 < n; i += 2 {
			fmt.Fprintf(&b, " WHEN %s THEN %s", e.Args[i].Format(names), e.Args[i+1].Format(names))
		}
		if e.HasElse {
			fmt.Fprintf(&b, " ELSE %s", e.Args[n].Format(names))
		}
		b.WriteString(" END")
		return b.String()
	case ECast:
		return "CAST(" + e.Args[0].Format(names) + " AS " + e.Type.String() + ")"
	case EIn:
		s := make([]string, len(e.Args)-1)
		for i, a := range e.Args[1:] {
			s[i] = a.Format(names)
		}
		return e.Args[0].Format(names) + " IN (" + strings.Join(s, ", ") + ")"
	case ECoalesce:
		return "COALESCE(" + args(", ") + ")"
	case ESubquery:
		return "(subquery)"
	case EParam:
		return fmt.Sprintf("$%d", e.Col)
	}
	return "?"
}

var infixOps = map[string]string{
	"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">=",
	"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "concat": "||",
	"like": "LIKE", "ilike": "ILIKE", "not_like": "NOT LIKE", "not_ilike": "NOT ILIKE",
}
