package exec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/zeebo/xxh3"
)

// Partitioned spilling of the hash aggregate. When the query passes its
// spill threshold, a driver writes its local table, and the global bucket
// tables, to aggSpillFanout partition files as rows of partial states
// (group hash, encoded group key, one column per aggregate with the
// state's bytes, or a DISTINCT aggregate's argument set), and frees them.
// Partition p at level 0 holds the groups whose top 4 hash bits are p.
// After the input ends, everything still in memory is spilled too, and the
// source aggregates one partition at a time: it merges the partition's
// states into a fresh table and emits it. A partition that does not fit
// is split again into 16 by the next 4 hash bits, so memory stays bounded
// by the largest partition's groups, without recursion.

const (
	aggSpillFanout = 16
	aggSpillBits   = 4
	// aggSpillMaxLevel is the deepest split: past it the hash has no bits
	// left to tell groups apart.
	aggSpillMaxLevel = 64/aggSpillBits - 1
)

// aggSpill is the spill state of a HashAggregate.
type aggSpill struct {
	stats  *OpStats
	global atomic.Int64 // bytes of the global bucket tables

	mu      sync.Mutex // guards writers and active
	writers [aggSpillFanout]*aggPartWriter
	active  bool // something was spilled: Finalize and the source go the spilled way

	// Output side, single-threaded under HashAggregate.mu.
	todo []aggSpillPart // partitions still to aggregate (a stack)
	cur  *aggTable      // the partition being emitted
	from int            // its next group
}

// aggSpillPart is one partition on disk: its files and split level.
type aggSpillPart struct {
	files []*spillFile
	level int
}

// aggPartWriter appends to one partition's file.
type aggPartWriter struct {
	mu sync.Mutex
	w  *spillWriter
}

// SetStats gives the aggregate the stats its spilling is counted in.
func (h *HashAggregate) SetStats(st *OpStats) { h.spill.stats = st }

// aggSpillPartOf returns the partition of hash hv at level.
func aggSpillPartOf(hv uint64, level int) int {
	return int(hv>>(64-aggSpillBits*(level+1))) & (aggSpillFanout - 1)
}

// spillSchema is the schema of the partition files.
func (h *HashAggregate) spillSchema() *arrow.Schema {
	fields := []arrow.Field{{Name: "hash", Type: arrow.PrimitiveTypes.Uint64}, {Name: "key", Type: arrow.BinaryTypes.Binary}}
	for a := range h.aggs {
		fields = append(fields, arrow.Field{Name: fmt.Sprintf("s%d", a), Type: arrow.BinaryTypes.Binary})
	}
	return arrow.NewSchema(fields, nil)
}

// wantSpill reports whether a table of the aggregate should be spilled
// after its growth was accounted with result err.
func (h *HashAggregate) wantSpill(t *aggTable, err error) bool {
	if len(h.groupEvs) == 0 || !h.q.canSpill() {
		return false
	}
	if err != nil {
		return isMemLimit(err)
	}
	return h.q.shouldSpill(t.accounted + h.spill.global.Load())
}

// wantSplit reports whether a partition being aggregated (table t, its
// growth accounted with result err) must be split: it hit the memory
// limit, or it alone holds half the spill threshold. What the rest of the
// query holds does not count: it does not shrink by splitting.
func (h *HashAggregate) wantSplit(t *aggTable, err error) bool {
	if err != nil {
		return isMemLimit(err)
	}
	th := h.q.spillThreshold()
	return th > 0 && t.accounted > th/2
}

// spillAfterCombine spills the global tables when a merge into them failed
// for memory (err) or left the query over its spill threshold.
func (h *HashAggregate) spillAfterCombine(ctx context.Context, err error) error {
	if len(h.groupEvs) == 0 || !h.q.canSpill() {
		return err
	}
	if err != nil && !isMemLimit(err) || err == nil && !h.q.shouldSpill(h.spill.global.Load()) {
		return err
	}
	h.spill.mu.Lock()
	h.spill.active = true
	h.spill.mu.Unlock()
	return h.spillBuckets(ctx)
}

// spillLocal writes a driver's table and the global tables to the level-0
// partitions and frees them.
func (h *HashAggregate) spillLocal(ctx context.Context, t *aggTable) error {
	h.spill.mu.Lock()
	h.spill.active = true
	h.spill.mu.Unlock()
	err := h.writeTable(ctx, t, 0, h.level0Writer)
	t.release(h.q.Pool)
	if err != nil {
		return err
	}
	return h.spillBuckets(ctx)
}

// spillBuckets writes the global bucket tables to the level-0 partitions.
func (h *HashAggregate) spillBuckets(ctx context.Context) error {
	for i := range h.buckets {
		bk := &h.buckets[i]
		bk.mu.Lock()
		t := bk.t
		bk.t = nil
		bk.mu.Unlock()
		if t == nil {
			continue
		}
		h.spill.global.Add(-t.accounted)
		err := h.writeTable(ctx, t, 0, h.level0Writer)
		t.release(h.q.Pool)
		if err != nil {
			return err
		}
	}
	return nil
}

// level0Writer returns the shared writer of level-0 partition p, locked;
// the caller unlocks it.
func (h *HashAggregate) level0Writer(p int) (*aggPartWriter, error) {
	h.spill.mu.Lock()
	pw := h.spill.writers[p]
	if pw == nil {
		pw = &aggPartWriter{}
		h.spill.writers[p] = pw
	}
	h.spill.mu.Unlock()
	pw.mu.Lock()
	if pw.w == nil {
		w, err := h.q.newSpillWriter("aggregate", h.spillSchema(), h.spill.stats)
		if err != nil {
			pw.mu.Unlock()
			return nil, err
		}
		pw.w = w
	}
	return pw, nil
}

// writeTable writes t's groups with their states to the partitions of
// level that writer(p) returns (locked).
func (h *HashAggregate) writeTable(ctx context.Context, t *aggTable, level int, writer func(p int) (*aggPartWriter, error)) error {
	n := t.keys.len()
	if n == 0 {
		return nil
	}
	// Groups by partition (a counting sort).
	var starts [aggSpillFanout + 1]int
	for _, hv := range t.keys.hashes {
		starts[aggSpillPartOf(hv, level)+1]++
	}
	for p := 0; p < aggSpillFanout; p++ {
		starts[p+1] += starts[p]
	}
	order := make([]int32, n)
	pos := starts
	for g, hv := range t.keys.hashes {
		p := aggSpillPartOf(hv, level)
		order[pos[p]] = int32(g)
		pos[p]++
	}
	dents := h.distinctByGroup(t)
	const chunk = 1 << 14
	for p := 0; p < aggSpillFanout; p++ {
		groups := order[starts[p]:starts[p+1]]
		if len(groups) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		pw, err := writer(p)
		if err != nil {
			return err
		}
		for lo := 0; lo < len(groups) && err == nil; lo += chunk {
			var b arrow.RecordBatch
			b, err = h.stateBatch(t, groups[lo:min(lo+chunk, len(groups))], dents)
			if err == nil {
				err = pw.w.write(b)
				b.Release()
			}
		}
		pw.mu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// aggDistinctEnts lists, per group, the DISTINCT set entries of one
// aggregate: entries of group g are ents[offs[g]:offs[g+1]].
type aggDistinctEnts struct {
	offs []int32
	ents []int32
}

// distinctByGroup sorts every DISTINCT set's entries by group.
func (h *HashAggregate) distinctByGroup(t *aggTable) []*aggDistinctEnts {
	out := make([]*aggDistinctEnts, len(t.dsets))
	n := t.keys.len()
	for a, ds := range t.dsets {
		if ds == nil {
			continue
		}
		d := &aggDistinctEnts{offs: make([]int32, n+1), ents: make([]int32, ds.len())}
		for e := range ds.len() {
			d.offs[binary.LittleEndian.Uint32(ds.key(int32(e)))+1]++
		}
		for g := range n {
			d.offs[g+1] += d.offs[g]
		}
		pos := append([]int32(nil), d.offs...)
		for e := range ds.len() {
			g := binary.LittleEndian.Uint32(ds.key(int32(e)))
			d.ents[pos[g]] = int32(e)
			pos[g]++
		}
		out[a] = d
	}
	return out
}

// stateBatch builds the spill rows of groups of t.
func (h *HashAggregate) stateBatch(t *aggTable, groups []int32, dents []*aggDistinctEnts) (arrow.RecordBatch, error) {
	schema := h.spillSchema()
	hb := array.NewUint64Builder(spillAlloc)
	defer hb.Release()
	kb := array.NewBinaryBuilder(spillAlloc, arrow.BinaryTypes.Binary)
	defer kb.Release()
	sbs := make([]*array.BinaryBuilder, len(h.aggs))
	for a := range sbs {
		sbs[a] = array.NewBinaryBuilder(spillAlloc, arrow.BinaryTypes.Binary)
		defer sbs[a].Release()
	}
	var buf []byte
	for _, g := range groups {
		hb.Append(t.keys.hashes[g])
		kb.Append(t.keys.key(g))
		for a := range h.aggs {
			buf = buf[:0]
			if d := dents[a]; d != nil {
				ds := t.dsets[a]
				for _, e := range d.ents[d.offs[g]:d.offs[g+1]] {
					k := ds.key(e)[4:]
					buf = binary.AppendUvarint(buf, uint64(len(k)))
					buf = append(buf, k...)
				}
			} else {
				var err error
				if buf, err = aggSaveState(t.states[a], g, buf); err != nil {
					return nil, err
				}
			}
			sbs[a].Append(buf)
		}
	}
	cols := []arrow.Array{hb.NewArray(), kb.NewArray()}
	for _, sb := range sbs {
		cols = append(cols, sb.NewArray())
	}
	defer releaseAll(cols)
	return array.NewRecordBatch(schema, cols, int64(len(groups))), nil
}

// mergeStates folds spill rows into t (a global table).
func (h *HashAggregate) mergeStates(t *aggTable, b arrow.RecordBatch, gids []int32) ([]int32, error) {
	n := int(b.NumRows())
	hashes := b.Column(0).(*array.Uint64).Uint64Values()
	keys := b.Column(1).(*array.Binary)
	gids = gids[:0]
	for i := range n {
		gids = append(gids, t.keys.find(keys.Value(i), hashes[i]))
	}
	t.resize()
	src := make([]int32, n)
	for i := range src {
		src[i] = int32(i)
	}
	var kbuf []byte
	for a, sp := range h.aggs {
		col := b.Column(2 + a).(*array.Binary)
		if ds := t.dsets[a]; ds != nil {
			for i := range n {
				v := col.Value(i)
				for len(v) > 0 {
					l, w := binary.Uvarint(v)
					if w <= 0 || uint64(len(v)-w) < l {
						return gids, errors.New("internal error: malformed spilled DISTINCT set")
					}
					kbuf = binary.LittleEndian.AppendUint32(kbuf[:0], uint32(gids[i]))
					kbuf = append(kbuf, v[w:w+int(l)]...)
					ds.find(kbuf, xxh3.Hash(kbuf))
					v = v[w+int(l):]
				}
			}
			continue
		}
		tmp := sp.newState()
		tmp.resize(n)
		for i := range n {
			if err := aggLoadState(tmp, i, col.Value(i)); err != nil {
				return gids, err
			}
		}
		t.states[a].merge(tmp, src, gids)
	}
	return gids, nil
}

// finalizeSpilled spills what is left in memory and queues the level-0
// partitions for the source. The caller holds h.mu.
func (h *HashAggregate) finalizeSpilled(ctx context.Context) error {
	for _, l := range h.locals {
		if l.t != nil { // drivers combine before Finalize; be safe
			err := h.writeTable(ctx, l.t, 0, h.level0Writer)
			l.t.release(h.q.Pool)
			l.t = nil
			if err != nil {
				return err
			}
		}
	}
	if err := h.spillBuckets(ctx); err != nil {
		return err
	}
	for p := aggSpillFanout - 1; p >= 0; p-- {
		pw := h.spill.writers[p]
		if pw == nil || pw.w == nil {
			continue
		}
		f, err := pw.w.finish()
		pw.w = nil
		if err != nil {
			return err
		}
		h.spill.todo = append(h.spill.todo, aggSpillPart{files: []*spillFile{f}, level: 0})
	}
	return nil
}

// nextSpilled returns the next result batch of a spilled aggregation, or
// io.EOF. The caller holds h.mu.
func (h *HashAggregate) nextSpilled(ctx context.Context) (b arrow.RecordBatch, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(r)
		}
	}()
	sp := &h.spill
	for {
		if err := ctx.Err(); err != nil {
			return nil, context.Cause(ctx)
		}
		if t := sp.cur; t != nil {
			if sp.from < t.keys.len() {
				m := min(max(h.q.BatchSize, 1), t.keys.len()-sp.from)
				b, err := h.emitTable(t, sp.from, sp.from+m)
				sp.from += m
				return b, err
			}
			t.release(h.q.Pool)
			sp.cur = nil
		}
		if len(sp.todo) == 0 {
			return nil, io.EOF
		}
		part := sp.todo[len(sp.todo)-1]
		sp.todo = sp.todo[:len(sp.todo)-1]
		t, err := h.loadPart(ctx, part)
		removeFiles(part.files)
		if err != nil {
			return nil, err
		}
		if t != nil {
			if err := h.foldDistinct(ctx, t); err != nil {
				t.release(h.q.Pool)
				return nil, err
			}
			sp.cur, sp.from = t, 0
		}
	}
}

// partTable is a table for the groups of a partition at level: its keys
// share their leading aggSpillBits*(level+1) hash bits, which must not pick
// the home slot (they would crowd the keys into a fraction of the slots).
func (h *HashAggregate) partTable(level int) *aggTable {
	t := h.newTable(true)
	t.keys.skip = uint8(min(max(8, aggSpillBits*(level+1)), 40))
	return t
}

// loadPart aggregates one partition into a table. When the table outgrows
// the spill threshold, it and the rest of the partition are split into the
// next level's partitions (queued) and loadPart returns nil.
func (h *HashAggregate) loadPart(ctx context.Context, part aggSpillPart) (*aggTable, error) {
	t := h.partTable(part.level)
	var sub [aggSpillFanout]*spillWriter
	abort := func() {
		for _, w := range sub {
			if w != nil {
				w.abort()
			}
		}
	}
	subWriter := func(p int) (*aggPartWriter, error) {
		if sub[p] == nil {
			w, err := h.q.newSpillWriter("aggregate", h.spillSchema(), h.spill.stats)
			if err != nil {
				return nil, err
			}
			sub[p] = w
		}
		pw := &aggPartWriter{w: sub[p]}
		pw.mu.Lock()
		return pw, nil
	}
	split := false
	var gids []int32
	var sel [aggSpillFanout][]int32
	for _, f := range part.files {
		r, err := f.open(h.q.Alloc)
		if err != nil {
			t.release(h.q.Pool)
			abort()
			return nil, err
		}
		for {
			b, err := r.next()
			if err == io.EOF {
				break
			}
			if err == nil {
				if !split {
					gids, err = h.mergeStates(t, b, gids)
					if err == nil {
						err = t.account(h.q.Pool)
					}
					// Split while the hash has bits left and the table more
					// than one group; past that, the memory limit decides.
					if part.level < aggSpillMaxLevel && t.keys.len() > 1 && h.wantSplit(t, err) {
						{
							split = true
							err = h.writeTable(ctx, t, part.level+1, subWriter)
							t.release(h.q.Pool)
							t = h.partTable(part.level)
						}
					}
				} else {
					err = h.splitRows(b, part.level+1, &sel, subWriter)
				}
				b.Release()
			}
			if err != nil {
				r.close()
				t.release(h.q.Pool)
				abort()
				return nil, err
			}
		}
		r.close()
	}
	if !split {
		return t, nil
	}
	t.release(h.q.Pool)
	for p := aggSpillFanout - 1; p >= 0; p-- {
		if sub[p] == nil {
			continue
		}
		f, err := sub[p].finish()
		sub[p] = nil
		if err != nil {
			abort()
			return nil, err
		}
		h.spill.todo = append(h.spill.todo, aggSpillPart{files: []*spillFile{f}, level: part.level + 1})
	}
	return nil, nil
}

// splitRows writes the spill rows of b to their partitions at level.
func (h *HashAggregate) splitRows(b arrow.RecordBatch, level int, sel *[aggSpillFanout][]int32, writer func(p int) (*aggPartWriter, error)) error {
	for p := range sel {
		sel[p] = sel[p][:0]
	}
	for i, hv := range b.Column(0).(*array.Uint64).Uint64Values() {
		p := aggSpillPartOf(hv, level)
		sel[p] = append(sel[p], int32(i))
	}
	for p, rows := range sel {
		if len(rows) == 0 {
			continue
		}
		pb, err := takeBatch(spillAlloc, b, rows)
		if err != nil {
			return err
		}
		pw, err := writer(p)
		if err == nil {
			err = pw.w.write(pb)
			pw.mu.Unlock()
		}
		pb.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// emitTable builds the result rows of groups [from, to) of t.
func (h *HashAggregate) emitTable(t *aggTable, from, to int) (arrow.RecordBatch, error) {
	ng := len(h.groupEvs)
	blds := make([]array.Builder, len(h.schema.Fields()))
	for i, f := range h.schema.Fields() {
		blds[i] = array.NewBuilder(h.q.Alloc, f.Type)
		defer blds[i].Release()
		blds[i].Reserve(to - from)
	}
	for g := from; g < to; g++ {
		if _, err := aggDecodeKey(t.keys.key(int32(g)), h.groupTypes, blds[:ng]); err != nil {
			return nil, err
		}
	}
	for a, st := range t.states {
		if err := st.emit(blds[ng+a], from, to); err != nil {
			return nil, err
		}
	}
	cols := make([]arrow.Array, len(blds))
	for i, b := range blds {
		cols[i] = b.NewArray()
	}
	defer releaseAll(cols)
	return array.NewRecordBatch(h.schema, cols, int64(to-from)), nil
}

// closeSpill frees the spill state: writers, queued partitions and the
// table being emitted. The caller holds h.mu.
func (h *HashAggregate) closeSpill() {
	sp := &h.spill
	sp.mu.Lock()
	for _, pw := range sp.writers {
		if pw != nil && pw.w != nil {
			pw.w.abort()
			pw.w = nil
		}
	}
	sp.mu.Unlock()
	for _, part := range sp.todo {
		removeFiles(part.files)
	}
	sp.todo = nil
	if sp.cur != nil {
		sp.cur.release(h.q.Pool)
		sp.cur = nil
	}
}

// ---- partial state bytes ----

// aggRaw appends the memory of *v, a value without pointers.
func aggRaw[T any](dst []byte, v *T) []byte {
	return append(dst, unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))...)
}

// aggUnraw fills *v from b, written by aggRaw.
func aggUnraw[T any](v *T, b []byte) error {
	if uintptr(len(b)) != unsafe.Sizeof(*v) {
		return errors.New("internal error: malformed spilled aggregate state")
	}
	copy(unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v)), b)
	return nil
}

// aggSaveState appends the bytes of group g's state.
func aggSaveState(st aggState, g int32, dst []byte) ([]byte, error) {
	switch s := st.(type) {
	case *aggCount:
		return aggRaw(dst, &s.c[g]), nil
	case *aggWide:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggFloat:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggMinMax[int16]:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggMinMax[int32]:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggMinMax[int64]:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggMinMax[float32]:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggMinMax[float64]:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggMinMax[arrow.Date32]:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggMinMax[arrow.Timestamp]:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggDecMinMax:
		return aggRaw(dst, &s.acc[g]), nil
	case *aggBool:
		return append(dst, s.acc[g]), nil
	case *aggStrMinMax:
		if !s.acc[g].seen {
			return append(dst, 0), nil
		}
		return append(append(dst, 1), s.acc[g].v...), nil
	}
	return nil, fmt.Errorf("internal error: cannot spill aggregate state %T", st)
}

// aggLoadState sets group i of st (fresh, resized) from b.
func aggLoadState(st aggState, i int, b []byte) error {
	switch s := st.(type) {
	case *aggCount:
		return aggUnraw(&s.c[i], b)
	case *aggWide:
		return aggUnraw(&s.acc[i], b)
	case *aggFloat:
		return aggUnraw(&s.acc[i], b)
	case *aggMinMax[int16]:
		return aggUnraw(&s.acc[i], b)
	case *aggMinMax[int32]:
		return aggUnraw(&s.acc[i], b)
	case *aggMinMax[int64]:
		return aggUnraw(&s.acc[i], b)
	case *aggMinMax[float32]:
		return aggUnraw(&s.acc[i], b)
	case *aggMinMax[float64]:
		return aggUnraw(&s.acc[i], b)
	case *aggMinMax[arrow.Date32]:
		return aggUnraw(&s.acc[i], b)
	case *aggMinMax[arrow.Timestamp]:
		return aggUnraw(&s.acc[i], b)
	case *aggDecMinMax:
		return aggUnraw(&s.acc[i], b)
	case *aggBool:
		if len(b) != 1 {
			return errors.New("internal error: malformed spilled aggregate state")
		}
		s.acc[i] = b[0]
		return nil
	case *aggStrMinMax:
		if len(b) == 0 {
			return errors.New("internal error: malformed spilled aggregate state")
		}
		if b[0] == 1 {
			s.set(&s.acc[i], string(b[1:]))
		}
		return nil
	}
	return fmt.Errorf("internal error: cannot read back aggregate state %T", st)
}
