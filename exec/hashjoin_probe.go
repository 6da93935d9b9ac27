package exec

import (
	"bytes"
	"context"
	"errors"
	"math"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/bitutil"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Probe returns the operator that joins each probe (left) batch with the
// finalized table. For right and full joins it is also a Flusher whose
// Flush emits the build rows no probe row matched, with NULL left columns.
func (j *HashJoin) Probe() Operator {
	if j.tracksMatches() {
		return &hjProbeFlush{hjProbe{j}}
	}
	return &hjProbe{j}
}

type hjProbe struct{ j *HashJoin }

type hjProbeFlush struct{ hjProbe }

// Local implements Operator.
func (p *hjProbe) Local(ctx context.Context) (OperatorLocal, error) {
	if p.j.spill.active.Load() {
		return p.j.spillProbeLocal(ctx)
	}
	t, err := p.j.table()
	if err != nil {
		return nil, err
	}
	return &hjProbeLocal{j: p.j, t: t}, nil
}

// Close implements Operator; HashJoin.Close frees the table.
func (p *hjProbe) Close() {}

// Flush implements Flusher.
func (p *hjProbeFlush) Flush(ctx context.Context) ([]arrow.RecordBatch, error) {
	return p.j.flush(ctx)
}

// hjMatchState is the resumable position of a candidate scan over one batch.
type hjMatchState struct {
	i   int    // probe row
	pos uint32 // next candidate: build row (cross join) or build row + 1
	in  bool   // resuming inside row i's candidates
}

// hjProbeLocal is one driver's probe state; the slices are reused scratch.
type hjProbeLocal struct {
	j      *HashJoin
	t      *hjTable
	rk     RowKeys
	hashes []uint64
	ikeys  []int64
	nulls  []bool  // probe key has a NULL; empty: none
	pi, bi []int32 // candidate pairs of one chunk (probe row, build row)
	opi    []int32 // output pairs; build row -1 is a NULL right side
	obi    []int32
	pm     []bool // probe row matched
	pend   hjPending
	first  []uint32 // probe row i's first matching build row + 1 (0: none)
	dup    []uint32 // and the chain of its other matches (hjTable.next)
	cur    []uint32 // fillRound: each row's next candidate + 1 (0: none left)
	grown  int64
}

func (j *HashJoin) pairKind() bool {
	switch j.kind {
	case planner.JoinSemi, planner.JoinAnti, planner.JoinMark:
		return false
	}
	return true
}

// Process implements OperatorLocal.
func (l *hjProbeLocal) Process(ctx context.Context, in arrow.RecordBatch) (out arrow.RecordBatch, err error) {
	j, t := l.j, l.t
	n := int(in.NumRows())
	if n == 0 {
		return nil, nil
	}
	kind := j.kind
	if t.n == 0 && (kind == planner.JoinInner || kind == planner.JoinSemi || kind == planner.JoinRight || kind == planner.JoinRightSemi || kind == planner.JoinRightAnti) {
		return nil, nil
	}
	defer recoverMemLimit(&out, &err)
	if j.never {
		l.pm = hjResize(l.pm, n)
		clear(l.pm)
		l.opi, l.obi = l.opi[:0], l.obi[:0]
		return l.output(in, n) // not null-aware, so the probe keys are not read
	}
	if j.rightOnly {
		j.rightOnce.Do(func() { j.rightMatch, j.rightErr = l.anyBuildRow(ctx, in) })
		if j.rightErr != nil {
			return nil, j.rightErr
		}
		l.pm = hjResize(l.pm, n)
		for i := range l.pm[:n] {
			l.pm[i] = j.rightMatch
		}
		l.opi, l.obi = l.opi[:0], l.obi[:0]
		return l.output(in, n)
	}
	if len(j.leftKeys) > 0 {
		if err := l.probeKeys(in, n); err != nil {
			return nil, err
		}
		l.lookup(n)
	}
	l.pm = hjResize(l.pm, n)
	clear(l.pm)
	l.opi, l.obi = l.opi[:0], l.obi[:0]
	pairs := j.pairKind()
	cs := max(j.q.BatchSize, 1)
	if !pairs && j.residual == nil {
		l.exists(n)
	} else if j.leftOnly {
		l.exists(n)
		if err := l.andLeftResidual(in, n); err != nil {
			return nil, err
		}
	} else if pairs {
		l.dropPending()
		l.pend = hjPending{in: in, n: n}
		return l.nextPairs(ctx)
	} else {
		var st hjMatchState
		for st.i < n {
			if len(j.leftKeys) > 0 {
				l.pi, l.bi = l.fillRound(&st, n, l.pi[:0], l.bi[:0], cs)
			} else {
				l.pi, l.bi = l.fill(&st, n, l.pi[:0], l.bi[:0], cs, l.pm)
			}
			if len(l.pi) > 0 {
				if err := l.filterResidual(in); err != nil {
					return nil, err
				}
			}
			for _, i := range l.pi {
				l.pm[i] = true
			}
			if err := l.account(); err != nil {
				return nil, err
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
	}
	return l.output(in, n)
}

// recoverMemLimit turns an allocation over the memory limit, which arrow
// code can only report by panicking, into the call's error. Defer it.
func recoverMemLimit(out *arrow.RecordBatch, err *error) {
	if r := recover(); r != nil {
		m, ok := r.(memLimitPanic)
		if !ok {
			panic(r)
		}
		*out, *err = nil, m.err
	}
}

// hjPending is a probe batch whose pairs are not all emitted yet: a join
// that multiplies rows emits them in batches of about BatchSize rows
// (More), so one probe batch's output never has to exist at once.
type hjPending struct {
	in       arrow.RecordBatch // nil: nothing pending
	n        int
	st       hjMatchState
	retained bool // in was retained past the Process call
}

// nextPairs emits the next batch of the pending probe batch's pairs: up to
// about BatchSize of them, and with the last one the batch's unmatched
// rows (left, full, single joins).
func (l *hjProbeLocal) nextPairs(ctx context.Context) (arrow.RecordBatch, error) {
	j, p := l.j, &l.pend
	in, n, st := p.in, p.n, &p.st
	cs := max(j.q.BatchSize, 1)
	// Right semi and anti joins only mark build rows (Flush emits them).
	emits := j.kind != planner.JoinRightSemi && j.kind != planner.JoinRightAnti
	l.opi, l.obi = l.opi[:0], l.obi[:0]
	for st.i < n && (!emits || len(l.opi) < cs) {
		if !emits {
			l.opi, l.obi = l.opi[:0], l.obi[:0]
		}
		if j.residual == nil {
			start := len(l.opi)
			l.opi, l.obi = l.fill(st, n, l.opi, l.obi, cs, nil)
			if err := l.accept(l.opi[start:], l.obi[start:]); err != nil {
				return nil, err
			}
		} else {
			l.pi, l.bi = l.fill(st, n, l.pi[:0], l.bi[:0], cs, nil)
			if len(l.pi) > 0 {
				if err := l.filterResidual(in); err != nil {
					return nil, err
				}
			}
			l.opi = append(l.opi, l.pi...)
			l.obi = append(l.obi, l.bi...)
			if err := l.accept(l.pi, l.bi); err != nil {
				return nil, err
			}
		}
		if err := l.account(); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if st.i < n {
		if !p.retained {
			in.Retain() // Process's caller releases its reference
			p.retained = true
		}
		return l.pairBatch(in, n)
	}
	out, err := l.output(in, n)
	l.dropPending()
	return out, err
}

// More implements Expander: the rest of the current probe batch's pairs.
func (l *hjProbeLocal) More(ctx context.Context) (out arrow.RecordBatch, err error) {
	if l.pend.in == nil {
		return nil, nil
	}
	defer recoverMemLimit(&out, &err)
	return l.nextPairs(ctx)
}

func (l *hjProbeLocal) dropPending() {
	if l.pend.retained {
		l.pend.in.Release()
	}
	l.pend = hjPending{}
}

// Close implements OperatorLocal.
func (l *hjProbeLocal) Close() {
	l.dropPending()
	l.j.q.Pool.Shrink(l.grown)
	l.grown = 0
	*l = hjProbeLocal{j: l.j, t: l.t}
}

// account reserves the scratch memory this driver holds.
func (l *hjProbeLocal) account() error {
	b := 4*int64(cap(l.pi)+cap(l.bi)+cap(l.opi)+cap(l.obi)+cap(l.rk.Offs)+cap(l.first)+cap(l.dup)+cap(l.cur)) +
		8*int64(cap(l.rk.Hash)) + int64(cap(l.pm)+cap(l.rk.Buf)+cap(l.rk.AnyNull))
	if l.j.intKey { // otherwise hashes and nulls alias l.rk
		b += 16*int64(cap(l.ikeys)) + int64(cap(l.nulls))
	}
	if b <= l.grown {
		return nil
	}
	if err := l.j.q.Pool.Grow(b-l.grown, "hash join"); err != nil {
		return err
	}
	l.grown = b
	return nil
}

func (l *hjProbeLocal) probeKeys(in arrow.RecordBatch, n int) error {
	j := l.j
	keys := make([]arrow.Array, len(j.leftKeys))
	defer func() { releaseAll(keys) }()
	for k, ev := range j.leftKeys {
		a, err := ev.Eval(j.q, in)
		if err != nil {
			return err
		}
		keys[k] = a
	}
	if j.intKey {
		l.ikeys, l.hashes, l.nulls = hjIntKeys(keys[0], n, l.ikeys, l.hashes, l.nulls)
	} else {
		l.rk.Encode(keys, n)
		l.hashes, l.nulls = l.rk.Hash, l.rk.AnyNull
	}
	return nil
}

// fill appends candidate pairs from st on until pi holds limit pairs or
// the batch's n rows are done. Rows with a NULL key or skip[i] set have no
// candidates.
func (l *hjProbeLocal) fill(st *hjMatchState, n int, pi, bi []int32, limit int, skip []bool) ([]int32, []int32) {
	t := l.t
	if len(l.j.leftKeys) == 0 {
		nb := uint32(t.n)
		for st.i < n {
			if skip != nil && skip[st.i] {
				st.i++
				st.pos = 0
				continue
			}
			i := int32(st.i)
			for st.pos < nb {
				if len(pi) >= limit {
					return pi, bi
				}
				pi = append(pi, i)
				bi = append(bi, int32(st.pos))
				st.pos++
			}
			st.i++
			st.pos = 0
		}
		return pi, bi
	}
	first, dup, next := l.first[:n], l.dup[:n], t.next
	i, r := st.i, st.pos
	resume := st.in
	for ; i < n; i++ {
		if !resume {
			if skip != nil && skip[i] {
				continue
			}
			r = first[i]
		}
		resume = false
		for r != 0 {
			if len(pi) >= limit {
				*st = hjMatchState{i: i, pos: r, in: true}
				return pi, bi
			}
			pi = append(pi, int32(i))
			bi = append(bi, int32(r-1))
			if r == first[i] {
				r = dup[i]
			} else {
				r = next[r-1]
			}
		}
	}
	*st = hjMatchState{i: n}
	return pi, bi
}

// fillRound is fill for the existence joins (semi, anti, mark) with a
// residual: it walks the rows' candidate chains breadth first, one
// candidate per unmatched row per round, so a row that matches early
// stops costing residual evaluations however long its chain is (a
// low-cardinality key otherwise costs rows × chain length). st.i is the
// row the current round resumes at; st.in records whether the round has
// produced a candidate yet; l.cur holds each row's next candidate + 1.
func (l *hjProbeLocal) fillRound(st *hjMatchState, n int, pi, bi []int32, limit int) ([]int32, []int32) {
	if st.i == 0 && !st.in && st.pos == 0 {
		l.cur = hjResize(l.cur, n)
		copy(l.cur[:n], l.first[:n])
		st.pos = 1 // initialised
	}
	first, dup, next, cur, pm := l.first[:n], l.dup[:n], l.t.next, l.cur[:n], l.pm[:n]
	for {
		i := st.i
		for ; i < n; i++ {
			r := cur[i]
			if r == 0 || pm[i] {
				continue
			}
			if len(pi) >= limit {
				st.i = i
				return pi, bi
			}
			pi = append(pi, int32(i))
			bi = append(bi, int32(r-1))
			if r == first[i] {
				cur[i] = dup[i]
			} else {
				cur[i] = next[r-1]
			}
			st.in = true
		}
		if !st.in { // a whole round without a candidate: done
			*st = hjMatchState{i: n}
			return pi, bi
		}
		st.i, st.in = 0, false
		if len(pi) >= limit {
			return pi, bi
		}
	}
}

// lookup finds every probe row's key in the table: first[i] is its first
// build row + 1 (0: no match or a NULL key), dup[i] the chain of the other
// rows. A separate pass over the batch keeps the table's cache misses
// independent of each other.
func (l *hjProbeLocal) lookup(n int) {
	t := l.t
	l.first, l.dup = hjResize(l.first, n), hjResize(l.dup, n)
	first, dup, hashes := l.first[:n], l.dup[:n], l.hashes[:n]
	if l.j.intKey {
		keys, sl := l.ikeys[:n], t.islots
		for i, h := range hashes {
			p := h >> 56
			base, mask := uint64(t.partBase[p]), t.partMask[p]
			k := keys[i]
			f, d := uint32(0), uint32(0)
			for s := h & mask; ; s = (s + 1) & mask {
				e := &sl[base+s]
				if e.row == 0 {
					break
				}
				if e.key == k {
					f, d = e.row, e.dup
					break
				}
			}
			first[i], dup[i] = f, d
		}
	} else {
		sl := t.gslots
		for i, h := range hashes {
			p := h >> 56
			base, mask := uint64(t.partBase[p]), t.partMask[p]
			f, d := uint32(0), uint32(0)
			for s := h & mask; ; s = (s + 1) & mask {
				e := &sl[base+s]
				if e.row == 0 {
					break
				}
				if e.hash == h && bytes.Equal(t.key(e.row-1), l.rk.Key(i)) {
					f, d = e.row, e.dup
					break
				}
			}
			first[i], dup[i] = f, d
		}
	}
	for i, null := range l.nulls {
		if null {
			first[i] = 0
		}
	}
}

// exists sets pm[i] for every probe row with a key match (no residual).
func (l *hjProbeLocal) exists(n int) {
	t, pm := l.t, l.pm
	if len(l.j.leftKeys) == 0 {
		for i := range pm {
			pm[i] = t.n > 0
		}
		return
	}
	for i, f := range l.first[:n] {
		pm[i] = f != 0
	}
}

// accept records matched pairs of a pair-producing join.
func (l *hjProbeLocal) accept(pi, bi []int32) error {
	j := l.j
	switch j.kind {
	case planner.JoinLeft, planner.JoinFull:
		for _, i := range pi {
			l.pm[i] = true
		}
	case planner.JoinSingle:
		for _, i := range pi {
			if l.pm[i] {
				return errHJSingle
			}
			l.pm[i] = true
		}
	}
	if j.tracksMatches() {
		m := j.matched
		for _, r := range bi {
			w, bit := &m[r>>5], uint32(1)<<(r&31)
			if atomic.LoadUint32(w)&bit == 0 {
				atomic.OrUint32(w, bit)
			}
		}
	}
	return nil
}

// anyBuildRow reports whether the residual, which reads only build
// columns, is TRUE for some build row; in is any probe batch (its columns
// are not read).
func (l *hjProbeLocal) anyBuildRow(ctx context.Context, in arrow.RecordBatch) (bool, error) {
	cs := max(l.j.q.BatchSize, 1)
	for start := 0; start < l.t.n; start += cs {
		m := min(cs, l.t.n-start)
		l.pi, l.bi = hjResize(l.pi, m)[:m], hjResize(l.bi, m)[:m]
		for k := range m {
			l.pi[k], l.bi[k] = 0, int32(start+k)
		}
		if err := l.filterResidual(in); err != nil {
			return false, err
		}
		if len(l.bi) > 0 {
			return true, nil
		}
		if err := ctx.Err(); err != nil {
			return false, err
		}
	}
	return false, nil
}

// andLeftResidual clears pm[i] where the residual, which reads only probe
// columns, is not TRUE for probe row i.
func (l *hjProbeLocal) andLeftResidual(in arrow.RecordBatch, n int) error {
	j := l.j
	cols := make([]arrow.Array, len(j.resSrc))
	for k, ref := range j.resSrc {
		cols[k] = in.Column(ref.idx)
	}
	cond, err := j.evalResidual(cols, n)
	if err != nil {
		return err
	}
	defer cond.Release()
	for i := range l.pm[:n] {
		l.pm[i] = l.pm[i] && cond.IsValid(i) && cond.Value(i)
	}
	return nil
}

// evalResidual evaluates the residual over its input columns (borrowed)
// of m rows.
func (j *HashJoin) evalResidual(cols []arrow.Array, m int) (*array.Boolean, error) {
	b := array.NewRecordBatch(j.resSch, cols, int64(m))
	defer b.Release()
	res, err := j.residual.Eval(j.q, b)
	if err != nil {
		return nil, err
	}
	cond, ok := res.(*array.Boolean)
	if !ok || cond.Len() != m {
		res.Release()
		return nil, errors.New("internal error: join condition is not a boolean column")
	}
	return cond, nil
}

// filterResidual keeps the candidate pairs (pi, bi) whose residual is TRUE.
func (l *hjProbeLocal) filterResidual(in arrow.RecordBatch) error {
	j, t := l.j, l.t
	m := len(l.pi)
	cols := make([]arrow.Array, len(j.resSrc))
	defer func() { releaseAll(cols) }()
	for k, ref := range j.resSrc {
		if ref.right {
			cols[k] = hjTake(j.q.Alloc, t.cols[ref.idx], l.bi)
		} else {
			cols[k] = hjTake(j.q.Alloc, in.Column(ref.idx), l.pi)
		}
	}
	cond, err := j.evalResidual(cols, m)
	if err != nil {
		return err
	}
	defer cond.Release()
	w := 0
	noNulls := cond.NullN() == 0
	for k := 0; k < m; k++ {
		if (noNulls || cond.IsValid(k)) && cond.Value(k) {
			l.pi[w], l.bi[w] = l.pi[k], l.bi[k]
			w++
		}
	}
	l.pi, l.bi = l.pi[:w], l.bi[:w]
	return nil
}

// output builds the result batch of one probe batch.
func (l *hjProbeLocal) output(in arrow.RecordBatch, n int) (arrow.RecordBatch, error) {
	j, t := l.j, l.t
	probeNull := func(i int) bool { return len(l.nulls) > 0 && l.nulls[i] }
	switch j.kind {
	case planner.JoinRightSemi, planner.JoinRightAnti:
		return nil, nil // the matched build rows are emitted by Flush
	case planner.JoinInner, planner.JoinRight:
		return l.pairBatch(in, n)
	case planner.JoinLeft, planner.JoinFull, planner.JoinSingle:
		for i, m := range l.pm {
			if !m {
				l.opi = append(l.opi, int32(i))
				l.obi = append(l.obi, -1)
			}
		}
		if err := l.account(); err != nil {
			return nil, err
		}
		return l.pairBatch(in, n)
	case planner.JoinSemi:
		for i, m := range l.pm {
			if m {
				l.opi = append(l.opi, int32(i))
			}
		}
		return l.selBatch(in, n)
	case planner.JoinAnti:
		if j.nullAware && t.n > 0 {
			if !t.hasNullKey {
				for i, m := range l.pm {
					if !m && !probeNull(i) {
						l.opi = append(l.opi, int32(i))
					}
				}
			}
		} else {
			for i, m := range l.pm {
				if !m {
					l.opi = append(l.opi, int32(i))
				}
			}
		}
		return l.selBatch(in, n)
	}
	// Mark.
	unknown := j.nullAware && t.n > 0
	var bufs []*memory.Buffer
	defer hjReleaseOnPanic(&bufs)
	vals := hjZeroBits(j.q.Alloc, n, &bufs)
	valid := hjZeroBits(j.q.Alloc, n, &bufs)
	vb, nb := vals.Bytes(), valid.Bytes()
	nulls := 0
	for i, m := range l.pm {
		switch {
		case m:
			bitutil.SetBit(vb, i)
			bitutil.SetBit(nb, i)
		case unknown && (t.hasNullKey || probeNull(i)):
			nulls++
		default:
			bitutil.SetBit(nb, i)
		}
	}
	if nulls == 0 {
		valid.Release()
		valid = nil
	}
	bufs = nil
	mark := kernels.NewBoolFromBits(n, vals, valid, nulls)
	defer mark.Release()
	cols := make([]arrow.Array, 0, len(j.left)+1)
	for c := range j.left {
		cols = append(cols, in.Column(c))
	}
	cols = append(cols, mark)
	return array.NewRecordBatch(j.outSch, cols, int64(n)), nil
}

// pairBatch gathers left ++ right for the pairs (opi, obi).
func (l *hjProbeLocal) pairBatch(in arrow.RecordBatch, n int) (arrow.RecordBatch, error) {
	j, t := l.j, l.t
	m := len(l.opi)
	if m == 0 {
		return nil, nil
	}
	identity := hjIsIdentity(l.opi, n)
	cols := make([]arrow.Array, 0, len(j.left)+len(j.right))
	defer func() { releaseAll(cols) }()
	for c := range j.left {
		if identity {
			a := in.Column(c)
			a.Retain()
			cols = append(cols, a)
		} else {
			cols = append(cols, hjTake(j.q.Alloc, in.Column(c), l.opi))
		}
	}
	for c := range j.right {
		cols = append(cols, hjTake(j.q.Alloc, t.cols[c], l.obi))
	}
	return array.NewRecordBatch(j.outSch, cols, int64(m)), nil
}

// selBatch gathers the left rows listed in opi.
func (l *hjProbeLocal) selBatch(in arrow.RecordBatch, n int) (arrow.RecordBatch, error) {
	j := l.j
	m := len(l.opi)
	switch m {
	case 0:
		return nil, nil
	case n:
		cols := make([]arrow.Array, len(j.left))
		for c := range cols {
			cols[c] = in.Column(c)
		}
		return array.NewRecordBatch(j.outSch, cols, int64(n)), nil
	}
	cols := make([]arrow.Array, 0, len(j.left))
	defer func() { releaseAll(cols) }()
	for c := range j.left {
		cols = append(cols, hjTake(j.q.Alloc, in.Column(c), l.opi))
	}
	return array.NewRecordBatch(j.outSch, cols, int64(m)), nil
}

// flush emits the build rows of a right/full join (and right anti) that no
// probe row matched, or, for a right semi join, those that some row matched.
func (j *HashJoin) flush(ctx context.Context) (out []arrow.RecordBatch, err error) {
	if !j.flushed.CompareAndSwap(false, true) {
		return nil, nil
	}
	t, err := j.table()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			for _, b := range out {
				b.Release()
			}
			out = nil
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			m, ok := r.(memLimitPanic)
			if !ok {
				panic(r)
			}
			err = m.err
		}
	}()
	cs := max(j.q.BatchSize, 1)
	idx := make([]int32, 0, min(cs, t.n))
	if err := j.grow(int64(cap(idx)) * 4); err != nil {
		return nil, err
	}
	defer j.shrink(int64(cap(idx)) * 4)
	rightOnly := j.kind == planner.JoinRightSemi || j.kind == planner.JoinRightAnti
	want := uint32(0) // emit build rows whose matched bit equals want
	if j.kind == planner.JoinRightSemi {
		want = 1
	}
	emit := func() {
		m := len(idx)
		cols := make([]arrow.Array, 0, len(j.left)+len(j.right))
		defer func() { releaseAll(cols) }()
		if !rightOnly {
			for _, c := range j.left {
				cols = append(cols, array.MakeArrayOfNull(j.q.Alloc, c.Type.Arrow(), m))
			}
		}
		for c := range j.right {
			cols = append(cols, hjTake(j.q.Alloc, t.cols[c], idx))
		}
		out = append(out, array.NewRecordBatch(j.outSch, cols, int64(m)))
		idx = idx[:0]
	}
	for w := range j.matched {
		word := atomic.LoadUint32(&j.matched[w])
		if (want == 0 && word == math.MaxUint32) || (want == 1 && word == 0) {
			continue
		}
		for b := 0; b < 32; b++ {
			r := w*32 + b
			if r >= t.n {
				break
			}
			if (word>>b)&1 == want {
				idx = append(idx, int32(r))
				if len(idx) == cs {
					emit()
					if err := ctx.Err(); err != nil {
						return out, err
					}
				}
			}
		}
	}
	if len(idx) > 0 {
		emit()
	}
	return out, nil
}
