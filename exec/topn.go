package exec

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/bellows-db/bellows/planner"
)

// TopN is a Sort keeping only the first offset+limit rows: each driver's
// buffer stays bounded (compacted to the best rows, later rows filtered).
type TopN struct {
	q      *QueryContext
	input  []planner.Column
	evs    []*Evaluator
	specs  []keySpec
	k      int // rows kept: offset+limit
	offset int

	mu     sync.Mutex
	locals map[*topNLocal]bool
	runs   []*sortedRun
	out    *refOutput
	closed bool
}

// NewTopN returns a top-N of input by keys yielding rows [offset,
// offset+limit) of the sorted input; limit < 0 keeps every row after offset.
func NewTopN(q *QueryContext, input []planner.Column, keys []planner.SortKey, limit, offset int64) (*TopN, error) {
	evs, specs, err := compileKeys(q, input, keys)
	if err != nil {
		return nil, err
	}
	if offset < 0 {
		offset = 0
	}
	k := int64(math.MaxInt32)
	if limit >= 0 && offset+limit < k && offset+limit >= 0 {
		k = offset + limit
	}
	if offset > k {
		offset = k
	}
	return &TopN{q: q, input: input, evs: evs, specs: specs, k: int(k), offset: int(offset), locals: map[*topNLocal]bool{}}, nil
}

type topNLocal struct {
	t   *TopN
	st  *rowStore
	thr bool // rows [0, k) of st are the best k so far, in order
	tmp []keyCol
	sel []int32
}

// Local implements Sink.
func (t *TopN) Local(ctx context.Context) (SinkLocal, error) {
	l := &topNLocal{t: t, st: newRowStore("top-n", t.specs), tmp: make([]keyCol, len(t.specs))}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, fmt.Errorf("internal error: top-n used after Close")
	}
	t.locals[l] = true
	return l, nil
}

// Consume implements SinkLocal.
func (l *topNLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	t := l.t
	if t.k == 0 {
		return nil
	}
	keys, err := evalAll(t.q, t.evs, in)
	if err != nil {
		return err
	}
	if l.thr {
		// Keep only the rows that sort before the current k-th row.
		n := int(in.NumRows())
		for k := range l.tmp {
			l.tmp[k].reset()
			if err := l.tmp[k].appendArray(t.specs[k].kind, keys[k]); err != nil {
				releaseAll(keys)
				return err
			}
		}
		sel := l.sel[:0]
		last := t.k - 1
		for r := 0; r < n; r++ {
			if cmpRows(t.specs, l.tmp, r, l.st.keys, last, 0) < 0 {
				sel = append(sel, int32(r))
			}
		}
		l.sel = sel
		for k := range l.tmp {
			l.tmp[k].reset() // the arrays behind its strings are released below
		}
		switch len(sel) {
		case 0:
			releaseAll(keys)
			return nil
		case n:
		default:
			b, err := takeBatch(t.q.Alloc, in, sel)
			if err != nil {
				releaseAll(keys)
				return err
			}
			defer b.Release()
			k2, err := takeArrays(t.q.Alloc, keys, sel)
			releaseAll(keys)
			if err != nil {
				return err
			}
			in, keys = b, k2
		}
	}
	if err := l.st.add(t.q, in, keys); err != nil {
		return err
	}
	if l.st.n >= t.k+max(t.k, t.q.BatchSize) {
		return l.compact(ctx)
	}
	return nil
}

// compact keeps the best k rows of the store, in order.
func (l *topNLocal) compact(ctx context.Context) error {
	t := l.t
	run, err := sortStore(t.q, l.st)
	if err != nil {
		return err
	}
	defer run.release(t.q)
	st, err := t.gatherBest(ctx, []*sortedRun{run})
	if err != nil {
		return err
	}
	l.st = st
	l.thr = st.n == t.k
	return nil
}

// gatherBest copies the best k rows of sorted runs, in order, into a new
// store (the runs are left as they are).
func (t *TopN) gatherBest(ctx context.Context, runs []*sortedRun) (*rowStore, error) {
	bases := make([]uint32, len(runs))
	var batches []arrow.RecordBatch
	var keyArrs [][]arrow.Array
	for i, r := range runs {
		bases[i] = uint32(len(batches))
		batches = append(batches, r.st.batches...)
		keyArrs = append(keyArrs, r.st.keyArrs...)
	}
	st := newRowStore("top-n", t.specs)
	if len(batches) == 0 {
		return st, nil
	}
	refs, err := mergeRuns(ctx, t.specs, runs, bases, t.k)
	if err != nil {
		return nil, err
	}
	schema := batches[0].Schema()
	gs := columnGatherers(schema, batches)
	kgs := make([]*colGather, len(t.specs))
	for k := range kgs {
		srcs := make([]arrow.Array, len(keyArrs))
		for b, ks := range keyArrs {
			srcs[b] = ks[k]
		}
		kgs[k] = newColGather(srcs[0].DataType(), srcs)
	}
	bs := max(t.q.BatchSize, 1)
	for lo := 0; lo < len(refs); lo += bs {
		if err := ctx.Err(); err != nil {
			st.release(t.q)
			return nil, context.Cause(ctx)
		}
		part := refs[lo:min(lo+bs, len(refs))]
		b, err := gatherBatch(t.q.Alloc, schema, gs, part)
		if err != nil {
			st.release(t.q)
			return nil, err
		}
		keys := make([]arrow.Array, len(kgs))
		for k, g := range kgs {
			if keys[k], err = g.gather(t.q.Alloc, part); err != nil {
				releaseAll(keys)
				b.Release()
				st.release(t.q)
				return nil, err
			}
		}
		err = st.add(t.q, b, keys)
		b.Release()
		if err != nil {
			st.release(t.q)
			return nil, err
		}
	}
	return st, nil
}

// maxTopNRuns bounds the runs the global state keeps (each of at most k
// rows) before merging them into one.
const maxTopNRuns = 8

// Combine implements SinkLocal.
func (l *topNLocal) Combine(ctx context.Context) error {
	t := l.t
	var run *sortedRun
	var err error
	if l.st.n > t.k {
		err = l.compact(ctx)
	}
	if err == nil && l.st.n > 0 {
		run, err = sortStore(t.q, l.st)
	}
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.locals, l)
	if run == nil {
		l.st.release(t.q)
		return nil
	}
	if t.closed {
		run.release(t.q)
		return nil
	}
	t.runs = append(t.runs, run)
	if len(t.runs) < maxTopNRuns || t.k == math.MaxInt32 {
		return nil
	}
	st, err := t.gatherBest(ctx, t.runs)
	if err == nil {
		run, err = sortStore(t.q, st)
		if err != nil {
			st.release(t.q)
		}
	}
	if err != nil {
		return err
	}
	for _, r := range t.runs {
		r.release(t.q)
	}
	t.runs = []*sortedRun{run}
	return nil
}

// Finalize implements Sink.
func (t *TopN) Finalize(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	out, err := finishRuns(ctx, t.q, t.specs, t.runs, schemaOf(t.input), t.k, t.offset, "top-n")
	t.runs = nil
	if err != nil {
		return err
	}
	t.out = out
	return nil
}

// Close implements Sink: releases everything, also when Finalize never ran.
func (t *TopN) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	for l := range t.locals {
		l.st.release(t.q)
	}
	t.locals = map[*topNLocal]bool{}
	for _, r := range t.runs {
		r.release(t.q)
	}
	t.runs = nil
	if t.out != nil {
		t.out.release()
		t.out = nil
	}
}

// Source returns rows [offset, offset+limit) of the sorted input in order
// (read it with one driver). Closing it releases the top-n's state.
func (t *TopN) Source() Source {
	return &funcSource{next: t.nextOut, close: t.Close}
}

func (t *TopN) nextOut(ctx context.Context) (arrow.RecordBatch, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.out == nil {
		if t.closed {
			return nil, fmt.Errorf("internal error: top-n read after Close")
		}
		return nil, io.EOF
	}
	return t.out.nextBatch()
}
