package exec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// JoinPartitions is the number of virtual buckets a hash join table is split
// into; each bucket's rows are stored contiguously.
const JoinPartitions = 256

// JoinPartition returns the virtual bucket (0..JoinPartitions-1) of a row
// whose key hash, as computed by RowKeys.Encode, is h.
func JoinPartition(h uint64) int { return int(h >> 56) }

// errHJSingle is the error of a single join whose probe row matched twice.
var errHJSingle = errors.New("more than one row returned by a subquery used as an expression")

// hjMaxBuildRows bounds the build side so row numbers and slot counts fit in
// 32 bits.
const hjMaxBuildRows = math.MaxInt32 / 2

// HashJoin is an equi-join (or nested-loop join without keys) whose build
// side is the right input. Feed the right input to BuildSink, then stream
// the left input through Probe; Close frees the table.
type HashJoin struct {
	q         *QueryContext
	kind      planner.JoinKind
	left      []planner.Column
	right     []planner.Column
	nullAware bool

	leftKeys, rightKeys []*Evaluator
	intKey              bool // single integer-like key: fast path on int64 values

	residual *Evaluator    // over resSrc, nil if none
	resSrc   []hjColRef    // the residual's input columns
	resSch   *arrow.Schema // schema of the residual's candidate batches
	never    bool          // the residual is constant FALSE or NULL
	// An existence join without keys whose residual reads only the build
	// side (x IN (SELECT ...) with a constant x) gives every probe row the
	// same answer: whether some build row satisfies it. It is computed
	// once, by the first probe batch.
	rightOnly bool
	// leftOnly: an existence join whose residual reads only the probe
	// side (x IS NULL in a correlated NOT IN) is decided per probe row:
	// it has a key match and its residual is TRUE. No pairs are formed.
	leftOnly   bool
	rightOnce  sync.Once
	rightMatch bool
	rightErr   error

	keepRight []bool // right columns kept after the build (output or residual)
	outSch    *arrow.Schema

	mu      sync.Mutex
	locals  []*hjBuildLocal
	pending []*hjChunk // combined, not yet finalized
	t       *hjTable   // set by Finalize (partly built on error)
	ready   bool       // Finalize succeeded
	closed  bool

	matched []uint32 // right/full: build rows matched by some probe row (atomic bitmap)
	flushed atomic.Bool
	goBytes atomic.Int64 // bytes reserved in q.Pool for Go-side structures
	spill   hjSpill
}

// hjColRef names a column of the left (probe) or right (build) input.
type hjColRef struct {
	right bool
	idx   int
}

// hjChunk is one consumed build batch: its kept columns and its keys.
type hjChunk struct {
	n      int
	cols   []arrow.Array // by right column; nil where not kept
	hashes []uint64
	ikeys  []int64 // intKey
	kbuf   []byte  // generic keys: row r is kbuf[koffs[r]:koffs[r+1]]
	koffs  []int32
	nulls  []bool // some key column NULL; empty: none
	bytes  int64  // reserved in the pool
}

// hjIntSlot and hjGenSlot are open-addressing slots of one distinct key:
// row is its first build row + 1 (0: empty slot), dup the chain (through
// hjTable.next) of its other rows + 1 (0: none).
type hjIntSlot struct {
	key int64
	row uint32
	dup uint32
}

type hjGenSlot struct {
	hash uint64
	row  uint32
	dup  uint32
}

// hjTable is the finalized build side: the concatenated right columns and
// an open-addressing (linear probing) index over the rows with non-NULL
// keys. The index is split into JoinPartitions buckets by the top hash
// bits; bucket p owns the power-of-two slot range partBase[p] +
// [0, partMask[p]] and probes wrap inside it, so a bucket can be built,
// probed or moved on its own.
type hjTable struct {
	n          int
	cols       []arrow.Array
	hasNullKey bool
	partBase   [JoinPartitions]uint32
	partMask   [JoinPartitions]uint64
	islots     []hjIntSlot // single integer-like key
	gslots     []hjGenSlot // other keys, compared as RowKeys bytes
	next       []uint32    // build row -> next row + 1 with the same key (nil: no duplicates)
	kbuf       []byte      // generic keys by build row
	koff       []int64     // row r: kbuf[koff[r]:koff[r+1]]
}

func (t *hjTable) key(r uint32) []byte { return t.kbuf[t.koff[r]:t.koff[r+1]] }

// NewHashJoin joins probe-side batches with columns left and build-side
// batches with columns right on leftKeys[i] = rightKeys[i] (SQL equality;
// none: every pair is a candidate) and the optional residual over
// left ++ right. Output: left ++ right for inner/left/right/full/single,
// left for semi/anti, left ++ [mark boolean] for mark, right for right
// semi/anti (emitted by Flush). nullAware gives anti and mark joins NOT IN
// semantics.
func NewHashJoin(q *QueryContext, kind planner.JoinKind, left, right []planner.Column, leftKeys, rightKeys []*planner.Expr, residual *planner.Expr, nullAware bool) (*HashJoin, error) {
	if kind > planner.JoinRightAnti {
		return nil, fmt.Errorf("internal error: unknown join kind %d", kind)
	}
	if len(leftKeys) != len(rightKeys) {
		return nil, fmt.Errorf("internal error: hash join with %d left and %d right keys", len(leftKeys), len(rightKeys))
	}
	j := &HashJoin{q: q, kind: kind, left: left, right: right, nullAware: nullAware}
	for i := range leftKeys {
		lt, rt := leftKeys[i].Type, rightKeys[i].Type
		if lt.ID != rt.ID && !(hjIntLike(lt) && hjIntLike(rt)) || lt.ID == kernels.Decimal && lt.Scale != rt.Scale {
			return nil, fmt.Errorf("internal error: hash join key %d compares %s with %s", i, lt, rt)
		}
		le, err := Compile(leftKeys[i], left, q.Kernels)
		if err != nil {
			return nil, err
		}
		re, err := Compile(rightKeys[i], right, q.Kernels)
		if err != nil {
			return nil, err
		}
		j.leftKeys = append(j.leftKeys, le)
		j.rightKeys = append(j.rightKeys, re)
	}
	j.intKey = len(leftKeys) == 1 && hjIntLike(leftKeys[0].Type) && hjIntLike(rightKeys[0].Type)

	outRight := kind != planner.JoinSemi && kind != planner.JoinAnti && kind != planner.JoinMark
	j.keepRight = make([]bool, len(right))
	for i := range right {
		j.keepRight[i] = outRight
	}
	if residual.IsConst() && !residual.IsTrue() && !nullAware {
		j.never = true // ON ... AND FALSE: no pair ever matches
	} else if residual != nil && !residual.IsTrue() {
		used := residual.Columns()
		var cols []planner.Column
		for i, c := range left {
			if used[c.ID] {
				j.resSrc = append(j.resSrc, hjColRef{idx: i})
				cols = append(cols, c)
			}
		}
		for i, c := range right {
			if used[c.ID] {
				j.resSrc = append(j.resSrc, hjColRef{right: true, idx: i})
				cols = append(cols, c)
				j.keepRight[i] = true
			}
		}
		ev, err := Compile(residual, cols, q.Kernels)
		if err != nil {
			return nil, err
		}
		j.residual = ev
		j.rightOnly = len(leftKeys) == 0 && !outRight
		j.leftOnly = !outRight
		for _, r := range j.resSrc {
			j.rightOnly = j.rightOnly && r.right
			j.leftOnly = j.leftOnly && !r.right
		}
		j.resSch = hjSchema(cols)
	}
	if len(rightKeys) > 0 && !nullAware && q.canSpill() {
		j.keepKeyColumns(rightKeys)
	}
	out := append([]planner.Column{}, left...)
	switch {
	case kind == planner.JoinRightSemi || kind == planner.JoinRightAnti:
		out = append([]planner.Column{}, right...)
	case outRight:
		out = append(out, right...)
	case kind == planner.JoinMark:
		out = append(out, planner.Column{Name: "mark", Type: kernels.TBool, Nullable: true})
	}
	j.outSch = hjSchema(out)
	return j, nil
}

func hjIntLike(t kernels.Type) bool {
	switch t.ID {
	case kernels.Int16, kernels.Int32, kernels.Int64, kernels.Date, kernels.Timestamp:
		return true
	}
	return false
}

func hjSchema(cols []planner.Column) *arrow.Schema {
	fields := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type.Arrow(), Nullable: true}
	}
	return arrow.NewSchema(fields, nil)
}

// Schema returns the schema of the join's output batches.
func (j *HashJoin) Schema() *arrow.Schema { return j.outSch }

func (j *HashJoin) grow(n int64) error {
	if n <= 0 {
		return nil
	}
	if err := j.q.Pool.Grow(n, "hash join"); err != nil {
		return err
	}
	j.goBytes.Add(n)
	return nil
}

func (j *HashJoin) shrink(n int64) {
	if n > 0 {
		j.q.Pool.Shrink(n)
		j.goBytes.Add(-n)
	}
}

// hjHashInt returns the hash RowKeys.Encode gives a non-NULL integer-like
// key v: xxh3 of the 9 bytes 0x01, v little-endian (xxh3's 9-16 byte case,
// inlined; TestHashJoinHashMatchesRowKeys checks it).
func hjHashInt(v int64) uint64 {
	const c1 = 0x1f67b3b7a4a44072 ^ 0x78e5c0cc4ee679cb
	const c2 = 0x2172ffcc7dd05a82 ^ 0x8e2443f7744608b8
	lo := (1 | uint64(v)<<8) ^ c1
	hi := uint64(v) ^ c2
	mh, ml := bits.Mul64(lo, hi)
	x := 9 + bits.ReverseBytes64(lo) + hi + (mh ^ ml)
	x ^= x >> 37
	x *= 0x165667919e3779f9
	x ^= x >> 32
	return x
}

// hjIntKeys reads an integer-like key column as int64 values and hashes them.
// nulls comes back empty when no row is NULL.
func hjIntKeys(a arrow.Array, n int, keys []int64, hashes []uint64, nulls []bool) ([]int64, []uint64, []bool) {
	keys = hjResize(keys, n)
	hashes = hjResize(hashes, n)
	switch a := a.(type) {
	case *array.Int64:
		copy(keys, a.Int64Values())
	case *array.Int32:
		for i, v := range a.Int32Values() {
			keys[i] = int64(v)
		}
	case *array.Int16:
		for i, v := range a.Int16Values() {
			keys[i] = int64(v)
		}
	case *array.Date32:
		for i, v := range a.Date32Values() {
			keys[i] = int64(v)
		}
	case *array.Timestamp:
		for i, v := range a.TimestampValues() {
			keys[i] = int64(v)
		}
	default:
		panic(fmt.Errorf("hash join: unexpected key array %s", a.DataType()))
	}
	for i, v := range keys {
		hashes[i] = hjHashInt(v)
	}
	if a.NullN() == 0 {
		return keys, hashes, nulls[:0]
	}
	nulls = hjResize(nulls, n)
	for i := range nulls {
		nulls[i] = a.IsNull(i)
	}
	return keys, hashes, nulls
}

func hjResize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}

// --- build side ---

// BuildSink returns the sink that consumes the build (right) input; its
// Finalize builds the table. Its Close does nothing: HashJoin.Close frees
// the build side.
func (j *HashJoin) BuildSink() Sink { return &hjBuildSink{j} }

type hjBuildSink struct{ j *HashJoin }

type hjBuildLocal struct {
	j      *HashJoin
	rk     RowKeys
	chunks []*hjChunk
}

// Local implements Sink.
func (s *hjBuildSink) Local(ctx context.Context) (SinkLocal, error) {
	j := s.j
	l := &hjBuildLocal{j: j}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || j.ready {
		return nil, errors.New("internal error: hash join build after finalize or close")
	}
	j.locals = append(j.locals, l)
	return l, nil
}

// Finalize implements Sink: it builds the hash table.
func (s *hjBuildSink) Finalize(ctx context.Context) error { return s.j.finalize(ctx) }

// Close implements Sink; the state is freed by HashJoin.Close.
func (s *hjBuildSink) Close() {}

// Consume implements SinkLocal.
func (l *hjBuildLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	j := l.j
	n := int(in.NumRows())
	if n == 0 {
		return nil
	}
	c := &hjChunk{n: n}
	if len(j.rightKeys) > 0 {
		keys := make([]arrow.Array, len(j.rightKeys))
		defer func() { releaseAll(keys) }()
		for i, ev := range j.rightKeys {
			a, err := ev.Eval(j.q, in)
			if err != nil {
				return err
			}
			keys[i] = a
		}
		if j.intKey {
			c.ikeys, c.hashes, c.nulls = hjIntKeys(keys[0], n, nil, nil, nil)
			c.bytes = int64(n)*16 + int64(len(c.nulls))
		} else {
			l.rk.Encode(keys, n)
			c.kbuf = append([]byte(nil), l.rk.Buf...)
			c.koffs = append([]int32(nil), l.rk.Offs...)
			c.hashes = append([]uint64(nil), l.rk.Hash...)
			for _, null := range l.rk.AnyNull {
				if null {
					c.nulls = append([]bool(nil), l.rk.AnyNull...)
					break
				}
			}
			c.bytes = int64(len(c.kbuf)) + int64(n+1)*4 + int64(n)*8 + int64(len(c.nulls))
		}
	}
	over := false
	if err := j.grow(c.bytes); err != nil {
		if !j.spillable() || !isMemLimit(err) {
			return err
		}
		over, c.bytes = true, 0 // spilled at once below
	}
	c.cols = make([]arrow.Array, len(j.right))
	for i, keep := range j.keepRight {
		if keep {
			c.cols[i] = in.Column(i)
			c.cols[i].Retain()
		}
	}
	l.chunks = append(l.chunks, c)
	return l.afterConsume(ctx, c, over)
}

// Combine implements SinkLocal.
func (l *hjBuildLocal) Combine(ctx context.Context) error {
	j := l.j
	j.mu.Lock()
	defer j.mu.Unlock()
	j.pending = append(j.pending, l.chunks...)
	l.chunks = nil
	return nil
}

func (j *HashJoin) freeChunk(c *hjChunk) {
	releaseAll(c.cols)
	c.cols = nil
	c.hashes, c.ikeys, c.kbuf, c.koffs, c.nulls = nil, nil, nil, nil, nil
	j.shrink(c.bytes)
	c.bytes = 0
}

// finalize builds the table from the combined chunks.
func (j *HashJoin) finalize(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			m, ok := r.(memLimitPanic)
			if !ok {
				panic(r)
			}
			err = m.err
		}
	}()
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed || j.t != nil {
		return errors.New("internal error: hash join finalized twice or after close")
	}
	for _, l := range j.locals {
		j.pending = append(j.pending, l.chunks...)
		l.chunks = nil
	}
	if !j.spill.active.Load() && j.spillable() && j.tooBig() {
		j.spill.active.Store(true) // the table would not fit: spill it all
	}
	if j.spill.active.Load() {
		return j.finalizeSpilled(ctx)
	}
	chunks := j.pending
	n := 0
	for _, c := range chunks {
		n += c.n
	}
	if n > hjMaxBuildRows {
		return fmt.Errorf("hash join build side has %d rows, more than the supported %d", n, hjMaxBuildRows)
	}
	t := &hjTable{n: n, cols: make([]arrow.Array, len(j.right))}
	j.t = t

	// Columns: one array each.
	for ci, keep := range j.keepRight {
		if !keep {
			continue
		}
		var arrs []arrow.Array
		for _, c := range chunks {
			arrs = append(arrs, c.cols[ci])
		}
		switch len(arrs) {
		case 0:
			t.cols[ci] = array.MakeArrayOfNull(j.q.Alloc, j.right[ci].Type.Arrow(), 0)
		case 1:
			arrs[0].Retain()
			t.cols[ci] = arrs[0]
		default:
			a, err := hjConcat(j.q.Alloc, arrs)
			if err != nil {
				return err
			}
			t.cols[ci] = a
		}
		// The chunks' copies are no longer needed.
		for _, c := range chunks {
			c.cols[ci].Release()
			c.cols[ci] = nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}

	if len(j.rightKeys) > 0 {
		if err := j.buildIndex(ctx, t, chunks); err != nil {
			return err
		}
	}
	for _, c := range chunks {
		j.freeChunk(c)
	}
	j.pending = nil
	if j.tracksMatches() {
		words := (n + 31) / 32
		if err := j.grow(int64(words) * 4); err != nil {
			return err
		}
		j.matched = make([]uint32, words)
	}
	j.ready = true
	return nil
}

// buildIndex fills t's index from the chunks' hashes and keys. Buckets are
// independent, so they are built by up to q.Parallelism() goroutines.
func (j *HashJoin) buildIndex(ctx context.Context, t *hjTable, chunks []*hjChunk) error {
	var pc [JoinPartitions + 1]int
	keyBytes := 0
	for _, c := range chunks {
		for r, h := range c.hashes {
			if len(c.nulls) > 0 && c.nulls[r] {
				t.hasNullKey = true
				continue
			}
			pc[h>>56+1]++
		}
		keyBytes += len(c.kbuf)
	}
	slots := 0
	for p := range JoinPartitions {
		cnt := pc[p+1]
		sz := 1 << bits.Len(uint(cnt+cnt/3)) // load factor <= 3/4
		t.partBase[p] = uint32(slots)
		t.partMask[p] = uint64(sz - 1)
		slots += sz
	}
	for p := 1; p <= JoinPartitions; p++ {
		pc[p] += pc[p-1] // bucket p's rows: order[pc[p]:pc[p+1]]
	}
	entries := pc[JoinPartitions]
	tmp := int64(entries) * 12 // order, hashes
	if j.intKey {
		tmp += int64(entries) * 8 // ikeys
	}
	need := tmp + int64(slots)*16 + int64(t.n)*4
	if !j.intKey {
		need += int64(keyBytes) + int64(t.n+1)*8
	}
	if err := j.grow(need); err != nil {
		return err
	}
	// Rows by bucket, in row order (a counting sort).
	order := make([]uint32, entries)
	hashes := make([]uint64, entries)
	var ikeys []int64
	if j.intKey {
		ikeys = make([]int64, entries)
	}
	fill := pc
	row := uint32(0)
	for _, c := range chunks {
		for r, h := range c.hashes {
			if len(c.nulls) == 0 || !c.nulls[r] {
				p := h >> 56
				k := fill[p]
				fill[p]++
				order[k], hashes[k] = row, h
				if ikeys != nil {
					ikeys[k] = c.ikeys[r]
				}
			}
			row++
		}
	}
	if !j.intKey {
		kbuf := make([]byte, 0, keyBytes)
		koff := make([]int64, 0, t.n+1)
		for _, c := range chunks {
			for r := 0; r < c.n; r++ {
				koff = append(koff, int64(len(kbuf)+int(c.koffs[r])))
			}
			kbuf = append(kbuf, c.kbuf...)
		}
		t.kbuf, t.koff = kbuf, append(koff, int64(len(kbuf)))
	}
	// The chunks' keys are copied out: free them before the index grows.
	for _, c := range chunks {
		c.hashes, c.ikeys, c.kbuf, c.koffs, c.nulls = nil, nil, nil, nil, nil
		j.shrink(c.bytes)
		c.bytes = 0
	}
	t.next = make([]uint32, t.n)
	if j.intKey {
		t.islots = make([]hjIntSlot, slots)
	} else {
		t.gslots = make([]hjGenSlot, slots)
	}
	var dups atomic.Bool
	build := func(p int) {
		base, mask := t.partBase[p], t.partMask[p]
		lo, hi := pc[p], pc[p+1]
		d := false
		if j.intKey {
			sl := t.islots[base : uint64(base)+mask+1]
			for k := lo; k < hi; k++ {
				h, key, r := hashes[k], ikeys[k], order[k]
				for s := h & mask; ; s = (s + 1) & mask {
					e := &sl[s]
					if e.row == 0 {
						*e = hjIntSlot{key: key, row: r + 1}
						break
					}
					if e.key == key {
						t.next[r], e.dup, d = e.dup, r+1, true
						break
					}
				}
			}
		} else {
			sl := t.gslots[base : uint64(base)+mask+1]
			for k := lo; k < hi; k++ {
				h, r := hashes[k], order[k]
				key := t.key(r)
				for s := h & mask; ; s = (s + 1) & mask {
					e := &sl[s]
					if e.row == 0 {
						*e = hjGenSlot{hash: h, row: r + 1}
						break
					}
					if e.hash == h && bytes.Equal(t.key(e.row-1), key) {
						t.next[r], e.dup, d = e.dup, r+1, true
						break
					}
				}
			}
		}
		if d {
			dups.Store(true)
		}
	}
	workers := min(j.q.Parallelism(), runtime.GOMAXPROCS(0), 1+entries/65536)
	if workers <= 1 {
		for p := range JoinPartitions {
			build(p)
		}
	} else {
		var nextPart atomic.Int32
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					p := int(nextPart.Add(1)) - 1
					if p >= JoinPartitions {
						return
					}
					build(p)
				}
			}()
		}
		wg.Wait()
	}
	// The sort arrays were temporary; drop next when no key repeats.
	if !dups.Load() {
		t.next = nil
		tmp += int64(t.n) * 4
	}
	j.shrink(tmp)
	return ctx.Err()
}

// Close frees the build side and the table, whether or not the build
// finished. Safe to call more than once; the join must not be used after.
func (j *HashJoin) Close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	j.closed = true
	for _, l := range j.locals {
		j.pending = append(j.pending, l.chunks...)
		l.chunks = nil
	}
	for _, c := range j.pending {
		j.freeChunk(c)
	}
	j.pending, j.locals = nil, nil
	j.closeSpill()
	if j.t != nil {
		releaseAll(j.t.cols)
		j.t = nil
	}
	j.matched = nil
	j.ready = false
	j.q.Pool.Shrink(j.goBytes.Swap(0))
}

// table returns the finalized table, or an error before Finalize.
func (j *HashJoin) table() (*hjTable, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.ready {
		return nil, errors.New("internal error: hash join probed before its build side was finalized")
	}
	return j.t, nil
}

// tracksMatches reports whether the join records which build rows matched
// (emitted or filtered by Flush at the end).
func (j *HashJoin) tracksMatches() bool {
	switch j.kind {
	case planner.JoinRight, planner.JoinFull, planner.JoinRightSemi, planner.JoinRightAnti:
		return true
	}
	return false
}
