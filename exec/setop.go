package exec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/bellows-db/bellows/planner"
)

// rowTable is a hash table of encoded rows (RowKeys) with a count and the
// reference of the first row seen per distinct key.
type rowTable struct {
	slots  []int32 // entry+1, 0 = empty
	hashes []uint64
	offs   []int64 // key k is arena[offs[k]:offs[k+1]]
	arena  []byte
	refs   []rowRef
	cnt    []int64
}

func newRowTable() *rowTable { return &rowTable{slots: make([]int32, 64), offs: []int64{0}} }

func (t *rowTable) len() int { return len(t.hashes) }

func (t *rowTable) key(k int) []byte { return t.arena[t.offs[k]:t.offs[k+1]] }

func (t *rowTable) bytes() int64 {
	return 4*int64(cap(t.slots)) + 8*int64(cap(t.hashes)+cap(t.offs)+cap(t.refs)+cap(t.cnt)) + int64(cap(t.arena))
}

// find returns the entry of key, or -1.
func (t *rowTable) find(h uint64, key []byte) int {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return -1
		}
		k := int(s - 1)
		if t.hashes[k] == h && bytes.Equal(t.key(k), key) {
			return k
		}
	}
}

// insert adds a new key (absent) and returns its entry.
func (t *rowTable) insert(h uint64, key []byte, ref rowRef, cnt int64) int {
	if 2*(len(t.hashes)+1) > len(t.slots) {
		t.grow()
	}
	k := len(t.hashes)
	t.hashes = append(t.hashes, h)
	t.arena = append(t.arena, key...)
	t.offs = append(t.offs, int64(len(t.arena)))
	t.refs = append(t.refs, ref)
	t.cnt = append(t.cnt, cnt)
	t.place(h, k)
	return k
}

func (t *rowTable) place(h uint64, k int) {
	mask := uint64(len(t.slots) - 1)
	i := h & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = int32(k + 1)
}

func (t *rowTable) grow() {
	t.slots = make([]int32, 2*len(t.slots))
	for k, h := range t.hashes {
		t.place(h, k)
	}
}

// SetOp is UNION/INTERSECT/EXCEPT [ALL] of two inputs (NULLs equal): run the
// left pipeline into LeftSink, then the right one into RightSink; read Source.
type SetOp struct {
	q      *QueryContext
	kind   planner.SetOpKind
	all    bool
	schema *arrow.Schema

	mu       sync.Mutex
	locals   map[*setOpLocal]bool
	batches  []arrow.RecordBatch // rows referenced by tab (or, UNION ALL, the result)
	tab      *rowTable
	rcnt     []int64 // right-side count per entry (INTERSECT, EXCEPT)
	held     int64
	leftDone bool
	out      *refOutput
	next     int // UNION ALL: next batch
	finished bool
	closed   bool
}

// NewSetOp returns the set operation kind (ALL if all) over inputs with
// columns cols.
func NewSetOp(q *QueryContext, kind planner.SetOpKind, all bool, cols []planner.Column) (*SetOp, error) {
	switch kind {
	case planner.SetUnion, planner.SetIntersect, planner.SetExcept:
	default:
		return nil, fmt.Errorf("internal error: unknown set operation %d", kind)
	}
	return &SetOp{q: q, kind: kind, all: all, schema: schemaOf(cols), tab: newRowTable(), locals: map[*setOpLocal]bool{}}, nil
}

func (s *SetOp) unionAll() bool { return s.kind == planner.SetUnion && s.all }

// LeftSink consumes the left input.
func (s *SetOp) LeftSink() Sink { return &setOpSide{s: s, right: false} }

// RightSink consumes the right input, after the left one was finalized.
func (s *SetOp) RightSink() Sink { return &setOpSide{s: s, right: true} }

type setOpSide struct {
	s     *SetOp
	right bool
}

type setOpLocal struct {
	s       *SetOp
	right   bool
	rk      RowKeys
	tab     *rowTable // rows new to this local (left side, or UNION)
	batches []arrow.RecordBatch
	rcnt    []int64 // probe side: per global entry
	sel     []int32
	held    int64
}

// probing reports whether this local counts matches against the left table
// instead of inserting rows.
func (l *setOpLocal) probing() bool { return l.right && l.s.kind != planner.SetUnion }

// Local implements Sink.
func (sd *setOpSide) Local(ctx context.Context) (SinkLocal, error) {
	s := sd.s
	l := &setOpLocal{s: s, right: sd.right}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("internal error: set operation used after Close")
	}
	if sd.right && !s.leftDone {
		return nil, fmt.Errorf("internal error: set operation right input started before the left one finished")
	}
	if !s.unionAll() && !l.probing() {
		l.tab = newRowTable()
	}
	s.locals[l] = true
	return l, nil
}

// Consume implements SinkLocal.
func (l *setOpLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	s := l.s
	if s.unionAll() {
		in.Retain()
		l.batches = append(l.batches, in)
		return nil
	}
	n := int(in.NumRows())
	l.rk.Encode(in.Columns(), n)
	if l.probing() {
		if l.rcnt == nil {
			l.rcnt = make([]int64, s.tab.len())
		}
		for i := 0; i < n; i++ {
			if k := s.tab.find(l.rk.Hash[i], l.rk.Key(i)); k >= 0 {
				l.rcnt[k]++
			}
		}
	} else {
		sel := l.sel[:0]
		bi := uint32(len(l.batches))
		for i := 0; i < n; i++ {
			h, key := l.rk.Hash[i], l.rk.Key(i)
			if k := l.tab.find(h, key); k >= 0 {
				l.tab.cnt[k]++
				continue
			}
			l.tab.insert(h, key, rowRef{bi, uint32(len(sel))}, 1)
			sel = append(sel, int32(i))
		}
		l.sel = sel
		switch len(sel) {
		case 0:
		case n:
			in.Retain()
			l.batches = append(l.batches, in)
		default:
			b, err := takeBatch(s.q.Alloc, in, sel)
			if err != nil {
				return err
			}
			l.batches = append(l.batches, b)
		}
	}
	return l.account()
}

func (l *setOpLocal) account() error {
	b := 8*int64(cap(l.rcnt)) + int64(cap(l.rk.Buf)) + 13*int64(cap(l.rk.Hash))
	if l.tab != nil {
		b += l.tab.bytes()
	}
	return accountTo(l.s.q, &l.held, b, "set operation")
}

func (l *setOpLocal) release() {
	for _, b := range l.batches {
		b.Release()
	}
	l.batches, l.tab, l.rcnt = nil, nil, nil
	l.rk = RowKeys{}
	l.s.q.Pool.Shrink(l.held)
	l.held = 0
}

// Combine implements SinkLocal.
func (l *setOpLocal) Combine(ctx context.Context) error {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	defer l.release()
	delete(s.locals, l)
	if s.closed {
		return nil
	}
	switch {
	case s.unionAll():
		s.batches = append(s.batches, l.batches...)
		l.batches = nil
	case l.probing():
		if l.rcnt != nil {
			if s.rcnt == nil {
				s.rcnt = make([]int64, s.tab.len())
			}
			for k, c := range l.rcnt {
				s.rcnt[k] += c
			}
		}
	default:
		base := uint32(len(s.batches))
		s.batches = append(s.batches, l.batches...)
		l.batches = nil
		t := l.tab
		for k := 0; k < t.len(); k++ {
			h, key := t.hashes[k], t.key(k)
			if g := s.tab.find(h, key); g >= 0 {
				s.tab.cnt[g] += t.cnt[k]
				continue
			}
			ref := t.refs[k]
			ref.b += base
			s.tab.insert(h, key, ref, t.cnt[k])
		}
	}
	return s.account()
}

func (s *SetOp) account() error {
	return accountTo(s.q, &s.held, s.tab.bytes()+8*int64(cap(s.rcnt))+24*int64(cap(s.batches)), "set operation")
}

// Finalize implements Sink: after the right input, computes the result.
func (sd *setOpSide) Finalize(ctx context.Context) error {
	s := sd.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if !sd.right {
		s.leftDone = true
		return nil
	}
	s.finished = true
	if s.unionAll() {
		return nil
	}
	var refs []rowRef
	t := s.tab
	for k := 0; k < t.len(); k++ {
		if k&0xffff == 0 && ctx.Err() != nil {
			return context.Cause(ctx)
		}
		l, r := t.cnt[k], int64(0)
		if s.rcnt != nil {
			r = s.rcnt[k]
		}
		times := int64(0)
		switch s.kind {
		case planner.SetUnion:
			times = 1
		case planner.SetIntersect:
			times = min(l, r)
			if !s.all {
				times = min(times, 1)
			}
		case planner.SetExcept:
			if !s.all {
				if r == 0 {
					times = 1
				}
			} else {
				times = max(l-r, 0)
			}
		}
		for ; times > 0; times-- {
			refs = append(refs, t.refs[k])
		}
	}
	for _, b := range s.batches {
		b.Retain()
	}
	out, err := newRefOutput(s.q, s.schema, s.batches, refs, "set operation")
	if err != nil {
		return err
	}
	s.out = out
	s.releaseState()
	return nil
}

// releaseState frees the batches and the table (the output keeps its own
// references).
func (s *SetOp) releaseState() {
	for _, b := range s.batches {
		if b != nil {
			b.Release()
		}
	}
	s.batches, s.tab, s.rcnt = nil, newRowTable(), nil
	s.q.Pool.Shrink(s.held)
	s.held = 0
}

// Close implements Sink.
func (sd *setOpSide) Close() { sd.s.Close() }

// Close releases everything, also when the inputs were not finalized;
// closing either sink or the Source does the same.
func (s *SetOp) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for l := range s.locals {
		l.release()
	}
	s.locals = map[*setOpLocal]bool{}
	s.releaseState()
	if s.out != nil {
		s.out.release()
		s.out = nil
	}
}

// Source returns the result rows (after the right sink's Finalize).
func (s *SetOp) Source() Source {
	return &funcSource{next: s.nextOut, close: s.Close}
}

func (s *SetOp) nextOut(ctx context.Context) (arrow.RecordBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("internal error: set operation read after Close")
	}
	if !s.finished {
		return nil, io.EOF
	}
	if s.unionAll() {
		if s.next >= len(s.batches) {
			return nil, io.EOF
		}
		b := s.batches[s.next]
		s.batches[s.next] = nil
		s.next++
		defer b.Release()
		cols := b.Columns()
		return array.NewRecordBatch(fitSchema(s.schema, cols), cols, b.NumRows()), nil
	}
	if s.out == nil {
		return nil, io.EOF
	}
	return s.out.nextBatch()
}
