package qgen

import "time"

// Shrink reduces q while still(q) holds: it repeatedly tries one-step
// simplifications (drop ORDER BY/LIMIT, a set operation's side, DISTINCT,
// WHERE, HAVING, a GROUP BY key, a select item, a joined table or an ON
// conjunct; replace an expression by one of its operands or by a literal)
// and keeps the first one for which still returns true. It stops when no
// step helps, after maxTries calls of still, or at deadline (zero: none).
// q is not modified; the result is a new query. still is called
// sequentially.
func Shrink(q *Query, still func(*Query) bool, maxTries int, deadline time.Time) (*Query, int) {
	best := q.Clone()
	tries := 0
	for {
		improved := false
		for k := 0; ; k++ {
			if tries >= maxTries || (!deadline.IsZero() && time.Now().After(deadline)) {
				return best, tries
			}
			cand := best.Clone()
			if !applyMutation(cand, k) {
				break
			}
			if cand.SQL() == best.SQL() {
				continue
			}
			tries++
			if still(cand) {
				best = cand
				improved = true
				break
			}
		}
		if !improved {
			return best, tries
		}
	}
}

// mutator applies the k-th simplification found while walking a query.
type mutator struct {
	k, n int
	done bool
}

// site offers one simplification; it is applied when it is the k-th.
func (m *mutator) site(apply func()) {
	if m.done {
		return
	}
	if m.n == m.k {
		apply()
		m.done = true
	}
	m.n++
}

// applyMutation applies the k-th one-step simplification to q in place and
// reports whether there was one.
func applyMutation(q *Query, k int) bool {
	m := &mutator{k: k}
	m.query(q, true)
	return m.done
}

func (m *mutator) query(q *Query, top bool) {
	if m.done {
		return
	}
	if len(q.OrderBy) > 0 || q.Limit >= 0 {
		m.site(func() { q.OrderBy, q.Limit, q.Offset = nil, -1, 0 })
	}
	if q.Limit >= 0 {
		m.site(func() { q.Limit, q.Offset = -1, 0 })
	}
	if q.Offset > 0 {
		m.site(func() { q.Offset = 0 })
	}
	if q.Sel == nil {
		l, r := q.Left, q.Right
		keep := func(side *Query) func() {
			return func() {
				ob, lim, off, types := q.OrderBy, q.Limit, q.Offset, q.Types
				*q = *side
				q.OrderBy, q.Limit, q.Offset, q.Types = ob, lim, off, types
			}
		}
		m.site(keep(l))
		m.site(keep(r))
	}
	if top && len(q.Types) > 1 {
		for i := range q.Types {
			m.site(func() { dropColumn(q, i) })
		}
	}
	if m.done {
		return
	}
	if q.Sel != nil {
		m.sel(q.Sel)
	} else {
		m.query(q.Left, false)
		m.query(q.Right, false)
	}
}

// dropColumn removes output column i (0-based) of q, in both sides of a set
// operation, and fixes the ORDER BY positions.
func dropColumn(q *Query, i int) {
	if q.Sel != nil {
		q.Sel.Items = append(q.Sel.Items[:i:i], q.Sel.Items[i+1:]...)
	} else {
		dropColumn(q.Left, i)
		dropColumn(q.Right, i)
	}
	q.Types = append(q.Types[:i:i], q.Types[i+1:]...)
	var ob []OrderItem
	for _, o := range q.OrderBy {
		switch {
		case o.Pos == i+1:
			continue
		case o.Pos > i+1:
			o.Pos--
		}
		ob = append(ob, o)
	}
	q.OrderBy = ob
}

func (m *mutator) sel(s *Select) {
	if m.done {
		return
	}
	if s.Distinct {
		m.site(func() { s.Distinct = false })
	}
	if s.Where != nil {
		m.site(func() { s.Where = nil })
	}
	if s.Having != nil {
		m.site(func() { s.Having = nil })
	}
	if len(s.GroupBy) > 0 {
		m.site(func() { s.GroupBy = nil })
		for i := range s.GroupBy {
			m.site(func() { s.GroupBy = append(s.GroupBy[:i:i], s.GroupBy[i+1:]...) })
		}
	}
	for i := len(s.From) - 1; i >= 1; i-- {
		m.site(func() { s.From = append(s.From[:i:i], s.From[i+1:]...) })
		if m.done {
			return
		}
		f := &s.From[i]
		if f.Join != JInner && f.Join != JCross {
			m.site(func() { f.Join = JInner })
		}
	}
	for i := range s.From {
		f := &s.From[i]
		if f.Sub != nil {
			m.query(f.Sub, false)
		}
		if f.On != nil {
			m.expr(&f.On)
		}
	}
	if s.Where != nil {
		m.expr(&s.Where)
	}
	for i := range s.GroupBy {
		m.expr(&s.GroupBy[i])
	}
	if s.Having != nil {
		m.expr(&s.Having)
	}
	for i := range s.Items {
		m.expr(&s.Items[i].E)
	}
}

// simpleLiteral is the smallest literal of type t.
func simpleLiteral(t Type) *Expr {
	s := [...]string{"1", "1.00", "CAST(1 AS DOUBLE PRECISION)", "'a'", "DATE '1995-01-01'", "TRUE"}[t]
	return &Expr{Kind: KLit, T: t, Text: s}
}

func (m *mutator) expr(p **Expr) {
	if m.done {
		return
	}
	e := *p
	// Replace by an operand of the same type.
	for _, a := range e.Args {
		if a.T == e.T && e.Kind != KAgg {
			m.site(func() { *p = a })
		}
	}
	if e.Kind != KLit && e.Kind != KCol {
		m.site(func() { *p = simpleLiteral(e.T) })
	}
	if e.Kind == KCol {
		lit := simpleLiteral(e.T)
		m.site(func() { *p = lit })
	}
	if e.Kind == KLit && e.Text != "NULL" && e.Text != simpleLiteral(e.T).Text {
		m.site(func() { *p = simpleLiteral(e.T) })
	}
	if e.Not {
		m.site(func() { e.Not = false })
	}
	if e.Distinct {
		m.site(func() { e.Distinct = false })
	}
	if e.Kind == KIn && len(e.Args) > 2 {
		for i := 1; i < len(e.Args); i++ {
			m.site(func() { e.Args = append(e.Args[:i:i], e.Args[i+1:]...) })
		}
	}
	if e.Kind == KCase {
		if len(e.Args)%2 == 1 {
			// Drop the ELSE.
			m.site(func() { e.Args = e.Args[:len(e.Args)-1] })
		}
		if len(e.Args) >= 4 {
			// Drop the first WHEN/THEN pair.
			m.site(func() { e.Args = e.Args[2:] })
		}
	}
	if m.done {
		return
	}
	for i := range e.Args {
		m.expr(&e.Args[i])
	}
	if e.Sub != nil {
		m.query(e.Sub, false)
	}
}
