package planner

// pushSemiRule moves semi and anti joins below the inner joins (and the
// preserved side of left joins) whose other inputs they do not reference:
// (A join B) semi R = (A semi R) join B when the semi condition reads
// only A and R, and A is estimated to have no more rows than A join B.
// TPC-H Q18 filters orders down to 57 rows with an IN subquery; applied
// above the lineitem-orders-customer join it would first join six million
// rows. Q21's EXISTS on lineitem stays above the joins with orders and
// the suppliers of one nation, which keep 3% of lineitem.
func pushSemiRule(n Node) (Node, bool, error) {
	changed := false
	es := newEstimator()
	out, err := transformUp(n, func(x Node) (Node, error) {
		j, ok := x.(*Join)
		if !ok || (j.Kind != JoinSemi && j.Kind != JoinAnti) {
			return x, nil
		}
		right := colSet(j.Right.Columns())
		need := map[ColumnID]bool{}
		if j.Cond != nil {
			for c := range j.Cond.Columns() {
				if !right[c] {
					need[c] = true
				}
			}
		}
		if len(need) == 0 {
			return x, nil // uncorrelated: nothing says where it belongs
		}
		if pushed, ok := pushSemiInto(j.Left, j, need, es); ok {
			changed = true
			return pushed, nil
		}
		return x, nil
	})
	return out, changed, err
}

// pushSemiInto returns n with the semi/anti join j applied inside it, at
// the deepest input that produces all of need, or false when j must stay
// above n.
func pushSemiInto(n Node, j *Join, need map[ColumnID]bool, es *estimator) (Node, bool) {
	switch x := n.(type) {
	case *Filter:
		in, ok := pushSemiInto(x.Input, j, need, es)
		if !ok {
			return nil, false
		}
		return &Filter{Input: in, Cond: x.Cond}, true
	case *Join:
		sides := []Node{x.Left, x.Right}
		for i, side := range sides {
			switch x.Kind {
			case JoinInner:
			case JoinLeft, JoinSemi, JoinAnti, JoinMark, JoinSingle:
				if i == 1 {
					continue // only the preserved left side
				}
			case JoinRight:
				if i == 0 {
					continue
				}
			default:
				continue
			}
			if !coversAll(colSet(side.Columns()), need) || es.est(side) > es.est(x) {
				continue
			}
			in, ok := pushSemiInto(side, j, need, es)
			if !ok {
				c := *j
				c.Left = side
				in = &c
			}
			c := *x
			if i == 0 {
				c.Left = in
			} else {
				c.Right = in
			}
			return &c, true
		}
	}
	return nil, false
}

func coversAll(have, need map[ColumnID]bool) bool {
	for c := range need {
		if !have[c] {
			return false
		}
	}
	return true
}
