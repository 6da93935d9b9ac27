package exec

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/zeebo/xxh3"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// aggBuckets is the number of independently locked partitions of the global
// aggregation table; a group lives in bucket hash>>56.
const aggBuckets = 256

// aggMemWhere names the aggregation in memory-limit errors.
const aggMemWhere = "hash aggregate"

func aggBucketOf(h uint64) int { return int(h >> 56) }

// aggEmptyKeyHash is the hash of the (empty) key of the single group of an
// aggregation without GROUP BY.
var aggEmptyKeyHash = xxh3.Hash(nil)

// HashAggregate is the GROUP BY sink: every driver pre-aggregates into a
// local table, Combine merges it into a global table of 256 locked buckets,
// Finalize builds the result, which Source hands out. The result does not
// depend on how many drivers ran, except for the rounding of float sums and
// averages (addition order), and the order of the groups.
type HashAggregate struct {
	q          *QueryContext
	groupEvs   []*Evaluator
	groupTypes []kernels.Type
	argEvs     []*Evaluator // distinct argument expressions of all aggregates
	argTypes   []kernels.Type
	aggs       []*aggSpec
	schema     *arrow.Schema
	// flushGroups is the local table size that triggers an early merge.
	flushGroups int

	buckets [aggBuckets]aggBucket

	mu        sync.Mutex // guards what follows
	locals    []*aggLocal
	spill     aggSpill
	finalized bool
	closed    bool
	result    []arrow.RecordBatch // handed out (and nil'ed) by the source
	next      int
}

type aggBucket struct {
	mu sync.Mutex
	t  *aggTable
	_  [48]byte // keep bucket locks on separate cache lines
}

// NewHashAggregate plans GROUP BY groups with aggregates aggs over batches
// whose columns are input. Output batches have the group columns then the
// aggregate columns, typed out[i].Type.Arrow(); out[i].Type must equal the
// group expression's type and, for aggregates, AggCall.Type.
func NewHashAggregate(q *QueryContext, input []planner.Column, groups []*planner.Expr, aggs []planner.AggCall, out []planner.Column) (*HashAggregate, error) {
	if len(out) != len(groups)+len(aggs) {
		return nil, fmt.Errorf("hash aggregate: %d output columns for %d groups and %d aggregates", len(out), len(groups), len(aggs))
	}
	h := &HashAggregate{q: q, flushGroups: aggLocalFlushGroups}
	for i, g := range groups {
		if out[i].Type != g.Type {
			return nil, fmt.Errorf("hash aggregate: group column %q has type %s, its expression %s", out[i].Name, out[i].Type, g.Type)
		}
		ev, err := Compile(g, input, q.Kernels)
		if err != nil {
			return nil, err
		}
		h.groupEvs = append(h.groupEvs, ev)
		h.groupTypes = append(h.groupTypes, g.Type)
	}
	byCol := map[planner.ColumnID]int{}
	byExpr := map[*planner.Expr]int{}
	for j, c := range aggs {
		if oc := out[len(groups)+j]; oc.Type != c.Type {
			return nil, fmt.Errorf("hash aggregate: aggregate column %q has type %s, its aggregate %s", oc.Name, oc.Type, c.Type)
		}
		sp, err := planAggCall(c)
		if err != nil {
			return nil, err
		}
		for _, a := range c.Args {
			idx, ok := byExpr[a]
			if !ok && a.Kind == planner.EColumn {
				idx, ok = byCol[a.Col]
			}
			if !ok {
				ev, err := Compile(a, input, q.Kernels)
				if err != nil {
					return nil, err
				}
				idx = len(h.argEvs)
				h.argEvs = append(h.argEvs, ev)
				h.argTypes = append(h.argTypes, a.Type)
				byExpr[a] = idx
				if a.Kind == planner.EColumn {
					byCol[a.Col] = idx
				}
			}
			sp.args = append(sp.args, idx)
		}
		h.aggs = append(h.aggs, sp)
	}
	fields := make([]arrow.Field, len(out))
	for i, c := range out {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type.Arrow(), Nullable: true}
	}
	h.schema = arrow.NewSchema(fields, nil)
	return h, nil
}

// ---- group hash table ----

// aggKeys maps encoded keys (RowKeys bytes) to dense ids 0..len-1 with
// linear probing over precomputed hashes. Keys of up to 16 bytes (every
// single fixed-width key) are also kept in the slot, so a lookup that hits
// touches one cache line; all keys live in one arena, so the table holds no
// Go pointers per entry.
//
// A slot's home is given by the hash's leading bits (after skip bits that
// are the same for every key of a global bucket), so slots are in hash
// order: growing the table moves entries forward almost sequentially, and
// the groups of one global bucket sit in one run of slots, which is what
// combine reads.
type aggKeys struct {
	slots  []aggKeySlot
	mask   uint64
	shift  uint8    // 64 - log2(len(slots))
	skip   uint8    // leading hash bits ignored for the home slot
	hashes []uint64 // per id
	offs   []int    // id's key is arena[offs[id]:offs[id+1]]
	arena  []byte
}

type aggKeySlot struct {
	hash   uint64
	k0, k1 uint64 // the key, zero padded, when klen <= 16
	id     uint32 // id+1; 0: empty
	klen   uint32
}

func (t *aggKeys) len() int { return len(t.hashes) }

// home is the slot where a probe for hash h starts.
func (t *aggKeys) home(h uint64) uint64 { return (h << t.skip) >> t.shift }

// slotKey returns the key of a used slot, from the slot itself when it is
// inline (no arena access), in buf's storage.
func (t *aggKeys) slotKey(s *aggKeySlot, buf *[16]byte) []byte {
	if s.klen > 16 {
		return t.key(int32(s.id - 1))
	}
	binary.LittleEndian.PutUint64(buf[:8], s.k0)
	binary.LittleEndian.PutUint64(buf[8:], s.k1)
	return buf[:s.klen]
}

func (t *aggKeys) key(id int32) []byte { return t.arena[t.offs[id]:t.offs[id+1]] }

func (t *aggKeys) bytes() int64 {
	return aggSliceBytes(t.slots) + aggSliceBytes(t.hashes) + aggSliceBytes(t.offs) + int64(cap(t.arena))
}

// aggInlineKey returns key zero padded to 16 bytes as two words.
func aggInlineKey(key []byte) (k0, k1 uint64) {
	switch {
	case len(key) >= 16:
		return binary.LittleEndian.Uint64(key), binary.LittleEndian.Uint64(key[8:])
	case len(key) >= 8:
		k0 = binary.LittleEndian.Uint64(key)
		for i, c := range key[8:] {
			k1 |= uint64(c) << (8 * i)
		}
		return k0, k1
	}
	for i, c := range key {
		k0 |= uint64(c) << (8 * i)
	}
	return k0, 0
}

// find returns the id of key (hash h), inserting it if new.
func (t *aggKeys) find(key []byte, h uint64) int32 {
	k0, k1 := aggInlineKey(key)
	kl := uint32(len(key))
	if t.slots != nil {
		i := t.home(h)
		for {
			s := &t.slots[i]
			if s.id == 0 {
				break
			}
			if s.hash == h && s.klen == kl && s.k0 == k0 && s.k1 == k1 &&
				(kl <= 16 || string(t.arena[t.offs[s.id-1]:t.offs[s.id]]) == string(key)) {
				return int32(s.id - 1)
			}
			i = (i + 1) & t.mask
		}
	}
	return t.insert(key, h, k0, k1)
}

func (t *aggKeys) insert(key []byte, h, k0, k1 uint64) int32 {
	id := int32(len(t.hashes))
	if 4*(len(t.hashes)+1) > 3*len(t.slots) { // load factor 3/4
		t.grow()
	}
	i := t.home(h)
	for t.slots[i].id != 0 {
		i = (i + 1) & t.mask
	}
	t.slots[i] = aggKeySlot{hash: h, k0: k0, k1: k1, id: uint32(id + 1), klen: uint32(len(key))}
	if t.offs == nil {
		t.offs = make([]int, 1, 16)
	}
	t.hashes = aggAppend(t.hashes, h)
	t.arena = aggAppend(t.arena, key...)
	t.offs = aggAppend(t.offs, len(t.arena))
	return id
}

// reserve sizes the slots for n more keys at once (one rehash instead of
// several).
func (t *aggKeys) reserve(n int) {
	want := len(t.hashes) + n
	if 4*want <= 3*len(t.slots) {
		return
	}
	size := 16
	for 4*want > 3*size {
		size *= 2
	}
	t.growTo(size / 2)
}

func (t *aggKeys) grow() { t.growTo(len(t.slots)) }

// growTo rehashes into 2*cur slots (at least 16).
func (t *aggKeys) growTo(cur int) {
	n := 2 * cur
	if n < 16 {
		n = 16
	}
	old := t.slots
	t.slots = make([]aggKeySlot, n)
	t.mask = uint64(n - 1)
	t.shift = uint8(64 - bits.TrailingZeros(uint(n)))
	for _, s := range old {
		if s.id == 0 {
			continue
		}
		i := t.home(s.hash)
		for t.slots[i].id != 0 {
			i = (i + 1) & t.mask
		}
		t.slots[i] = s
	}
}

// aggAppend is append with a growth factor of 2 (fewer copies of large
// tables than append's 1.25).
func aggAppend[T any](s []T, v ...T) []T {
	if n := len(s) + len(v); n > cap(s) {
		ns := make([]T, len(s), max(n, 2*cap(s), 16))
		copy(ns, s)
		s = ns
	}
	return append(s, v...)
}

// ---- aggregation table: groups plus aggregate states ----

// aggTable is one local (per driver) or bucket (global) table.
type aggTable struct {
	keys   aggKeys
	states []aggState // per aggregate; nil for DISTINCT ones in local tables
	// dsets holds, per DISTINCT aggregate, the set of (group id as 4 bytes
	// little endian + encoded argument) seen; nil for others.
	dsets     []*aggKeys
	accounted int64 // bytes reported to the memory pool
}

func (h *HashAggregate) newTable(global bool) *aggTable {
	t := &aggTable{states: make([]aggState, len(h.aggs)), dsets: make([]*aggKeys, len(h.aggs))}
	if global {
		t.keys.skip = 8 // every key of a bucket has the same leading 8 hash bits
	}
	for a, sp := range h.aggs {
		if sp.distinct {
			t.dsets[a] = &aggKeys{}
			if !global {
				continue
			}
		}
		t.states[a] = sp.newState()
	}
	return t
}

func (t *aggTable) resize() {
	n := t.keys.len()
	for _, s := range t.states {
		if s != nil {
			s.resize(n)
		}
	}
}

func (t *aggTable) bytes() int64 {
	b := t.keys.bytes()
	for _, s := range t.states {
		if s != nil {
			b += s.bytes()
		}
	}
	for _, d := range t.dsets {
		if d != nil {
			b += d.bytes()
		}
	}
	return b
}

// account reports the table's growth (or shrinkage) to the pool.
func (t *aggTable) account(p *MemoryPool) error {
	b := t.bytes()
	switch d := b - t.accounted; {
	case d > 0:
		if err := p.Grow(d, aggMemWhere); err != nil {
			return err
		}
	case d < 0:
		p.Shrink(-d)
	}
	t.accounted = b
	return nil
}

func (t *aggTable) release(p *MemoryPool) {
	p.Shrink(t.accounted)
	t.accounted = 0
}

// ---- per-driver sink ----

type aggLocal struct {
	h    *HashAggregate
	id   int
	t    *aggTable // nil until the first batch and after Combine
	rk   RowKeys
	drk  RowKeys
	gids []int32
	kbuf []byte
	cols []arrow.Array
	args []arrow.Array   // per argument expression
	aarg [][]arrow.Array // per aggregate: its arguments
}

// Local implements Sink: a driver's pre-aggregation table.
func (h *HashAggregate) Local(ctx context.Context) (SinkLocal, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.finalized {
		return nil, errors.New("internal error: hash aggregate used after Finalize or Close")
	}
	l := &aggLocal{h: h, id: len(h.locals), aarg: make([][]arrow.Array, len(h.aggs))}
	for a, sp := range h.aggs {
		l.aarg[a] = make([]arrow.Array, len(sp.args))
	}
	h.locals = append(h.locals, l)
	return l, nil
}

func (l *aggLocal) release() {
	for i, c := range l.cols {
		c.Release()
		l.cols[i] = nil
	}
	l.cols = l.cols[:0]
	for i, a := range l.args {
		if a != nil {
			a.Release()
			l.args[i] = nil
		}
	}
	l.args = l.args[:0]
	for _, args := range l.aarg {
		clear(args)
	}
}

// Consume implements SinkLocal: folds in (borrowed) into the local table.
func (l *aggLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	h := l.h
	n := int(in.NumRows())
	if n == 0 {
		return nil
	}
	defer l.release()
	if l.t == nil {
		l.t = h.newTable(false)
	}
	t := l.t
	var gids []int32
	if len(h.groupEvs) == 0 {
		if t.keys.len() == 0 {
			t.keys.find(nil, aggEmptyKeyHash)
			t.resize()
		}
	} else {
		for i, ev := range h.groupEvs {
			arr, err := ev.Eval(h.q, in)
			if err != nil {
				return err
			}
			l.cols = append(l.cols, arr)
			if err := aggCheckType(arr, h.groupTypes[i]); err != nil {
				return err
			}
		}
		l.rk.Encode(l.cols, n)
		if cap(l.gids) < n {
			l.gids = make([]int32, n)
		}
		gids = l.gids[:n]
		rk := &l.rk
		offs, hashes := rk.Offs[:n+1], rk.Hash[:n]
		for i := range gids {
			gids[i] = t.keys.find(rk.Buf[offs[i]:offs[i+1]], hashes[i])
		}
		t.resize()
	}
	for i, ev := range h.argEvs {
		arr, err := ev.Eval(h.q, in)
		if err != nil {
			return err
		}
		l.args = append(l.args, arr)
		if err := aggCheckType(arr, h.argTypes[i]); err != nil {
			return err
		}
	}
	for a, sp := range h.aggs {
		args := l.aarg[a]
		for k, idx := range sp.args {
			args[k] = l.args[idx]
		}
		if sp.distinct {
			l.addDistinct(t.dsets[a], gids, args, n)
		} else {
			t.states[a].update(gids, args, n)
		}
	}
	err := t.account(h.q.Pool)
	if h.wantSpill(t, err) {
		l.t = nil
		return h.spillLocal(ctx, t)
	}
	if err != nil {
		return err
	}
	if t.keys.len() >= h.flushGroups {
		return l.Combine(ctx) // bound the local table; the driver goes on with a new one
	}
	return nil
}

// aggLocalFlushGroups is the size at which a local table is merged into the
// global one before its driver leaves, bounding each driver's memory.
const aggLocalFlushGroups = 1 << 20

func aggCheckType(arr arrow.Array, t kernels.Type) error {
	if arr.DataType().ID() != t.Arrow().ID() {
		return fmt.Errorf("internal error: hash aggregate expected %s input, got Arrow %s", t, arr.DataType())
	}
	return nil
}

// addDistinct records the (group, argument) pairs of a batch, skipping rows
// with a NULL argument.
func (l *aggLocal) addDistinct(set *aggKeys, gids []int32, args []arrow.Array, n int) {
	l.drk.Encode(args, n)
	rk := &l.drk
	for i := 0; i < n; i++ {
		if rk.AnyNull[i] {
			continue
		}
		g := uint32(0)
		if gids != nil {
			g = uint32(gids[i])
		}
		b := binary.LittleEndian.AppendUint32(l.kbuf[:0], g)
		b = append(b, rk.Buf[rk.Offs[i]:rk.Offs[i+1]]...)
		set.find(b, xxh3.Hash(b))
		l.kbuf = b
	}
}

// Combine implements SinkLocal: merges the local table into the global
// buckets (concurrently with other drivers) and frees it. The local may go
// on consuming afterwards.
func (l *aggLocal) Combine(ctx context.Context) error {
	t := l.t
	if t == nil {
		return nil
	}
	l.t = nil
	defer t.release(l.h.q.Pool)
	return l.h.combine(ctx, t, l.id*97)
}

func (h *HashAggregate) combine(ctx context.Context, src *aggTable, seed int) error {
	n := src.keys.len()
	if n == 0 {
		return nil
	}
	// Counting sort of the local groups' slots (and DISTINCT entries) by
	// bucket. The slots are in hash order, so this reads them sequentially
	// and the slots of a bucket are (but for wrapped probes) one run.
	var starts [aggBuckets + 1]int32
	slots := src.keys.slots
	for i := range slots {
		if slots[i].id != 0 {
			starts[aggBucketOf(slots[i].hash)+1]++
		}
	}
	for b := 0; b < aggBuckets; b++ {
		starts[b+1] += starts[b]
	}
	order := make([]int32, n)
	pos := starts
	for i := range slots {
		if slots[i].id != 0 {
			b := aggBucketOf(slots[i].hash)
			order[pos[b]] = int32(i)
			pos[b]++
		}
	}
	type aggDSorted struct {
		starts [aggBuckets + 1]int32
		order  []int32
	}
	dsort := make([]*aggDSorted, len(src.dsets))
	for a, ds := range src.dsets {
		if ds == nil || ds.len() == 0 {
			continue
		}
		d := &aggDSorted{order: make([]int32, ds.len())}
		bkt := make([]uint8, ds.len())
		for e := range bkt {
			g := binary.LittleEndian.Uint32(ds.key(int32(e)))
			bkt[e] = uint8(aggBucketOf(src.keys.hashes[g]))
			d.starts[int(bkt[e])+1]++
		}
		for b := 0; b < aggBuckets; b++ {
			d.starts[b+1] += d.starts[b]
		}
		p := d.starts
		for e, b := range bkt {
			d.order[p[b]] = int32(e)
			p[b]++
		}
		dsort[a] = d
	}
	mapping := make([]int32, n)
	var dstIdx, groups []int32
	var kbuf []byte
	dents := make([][]int32, len(src.dsets))
	for i := 0; i < aggBuckets; i++ {
		b := (i + seed) % aggBuckets
		bslots := order[starts[b]:starts[b+1]]
		if len(bslots) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		for a, d := range dsort {
			dents[a] = nil
			if d != nil {
				dents[a] = d.order[d.starts[b]:d.starts[b+1]]
			}
		}
		bk := &h.buckets[b]
		bk.mu.Lock()
		var err error
		before := int64(0)
		if bk.t != nil {
			before = bk.t.accounted
		}
		groups, dstIdx, kbuf, err = h.mergeBucket(bk, src, bslots, mapping, dents, groups, dstIdx, kbuf)
		h.spill.global.Add(bk.t.accounted - before)
		bk.mu.Unlock()
		if err != nil {
			return h.spillAfterCombine(ctx, err)
		}
	}
	return h.spillAfterCombine(ctx, nil)
}

// mergeBucket folds the src groups of one bucket (given as slots of
// src.keys, and their DISTINCT entries) into that bucket's table. groups
// and dstIdx are scratch space, returned for reuse. The caller holds bk.mu.
func (h *HashAggregate) mergeBucket(bk *aggBucket, src *aggTable, bslots, mapping []int32, dents [][]int32, groups, dstIdx []int32, kbuf []byte) ([]int32, []int32, []byte, error) {
	if bk.t == nil {
		bk.t = h.newTable(true)
	}
	dst := bk.t
	groups, dstIdx = groups[:0], dstIdx[:0]
	dst.keys.reserve(len(bslots))
	var inline [16]byte
	for _, si := range bslots {
		sl := &src.keys.slots[si]
		g := int32(sl.id - 1)
		gg := dst.keys.find(src.keys.slotKey(sl, &inline), sl.hash)
		mapping[g] = gg
		groups = append(groups, g)
		dstIdx = append(dstIdx, gg)
	}
	dst.resize()
	for a, st := range src.states {
		if src.dsets[a] == nil {
			dst.states[a].merge(st, groups, dstIdx)
		}
	}
	for a, ents := range dents {
		ds, dd := src.dsets[a], dst.dsets[a]
		for _, e := range ents {
			k := ds.key(e)
			kbuf = binary.LittleEndian.AppendUint32(kbuf[:0], uint32(mapping[binary.LittleEndian.Uint32(k)]))
			kbuf = append(kbuf, k[4:]...)
			dd.find(kbuf, xxh3.Hash(kbuf))
		}
	}
	return groups, dstIdx, kbuf, dst.account(h.q.Pool)
}

// ---- Finalize and result ----

// Finalize implements Sink: it builds the result batches (BatchSize rows
// each) and frees the tables. Without GROUP BY the result is one row.
func (h *HashAggregate) Finalize(ctx context.Context) (err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.finalized {
		return errors.New("internal error: hash aggregate finalized twice or after Close")
	}
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(r)
		}
	}()
	if h.spill.active {
		if err := h.finalizeSpilled(ctx); err != nil {
			return err
		}
		h.finalized = true
		return nil
	}
	if len(h.groupEvs) == 0 {
		bk := &h.buckets[aggBucketOf(aggEmptyKeyHash)]
		if bk.t == nil {
			bk.t = h.newTable(true)
		}
		if bk.t.keys.len() == 0 {
			bk.t.keys.find(nil, aggEmptyKeyHash)
			bk.t.resize()
		}
		if err := bk.t.account(h.q.Pool); err != nil {
			return err
		}
	}
	total := 0
	for i := range h.buckets {
		t := h.buckets[i].t
		if t == nil {
			continue
		}
		if err := h.foldDistinct(ctx, t); err != nil {
			return err
		}
		total += t.keys.len()
	}
	bs := h.q.BatchSize
	if bs <= 0 {
		bs = DefaultBatchSize
	}
	cur := &aggCursor{}
	for total > 0 {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		m := min(bs, total)
		rec, err := h.emitBatch(cur, m)
		if err != nil {
			return err
		}
		h.result = append(h.result, rec)
		total -= m
	}
	h.finalized = true
	return nil
}

// foldDistinct feeds each group's distinct arguments to the aggregate's
// state, then frees the set.
func (h *HashAggregate) foldDistinct(ctx context.Context, t *aggTable) error {
	const chunk = 1 << 16
	for a, ds := range t.dsets {
		if ds == nil {
			continue
		}
		sp := h.aggs[a]
		st := t.states[a]
		m := ds.len()
		gids := make([]int32, 0, min(m, chunk))
		for start := 0; start < m; start += chunk {
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			end := min(m, start+chunk)
			gids = gids[:0]
			arrs, err := func() ([]arrow.Array, error) {
				blds := make([]array.Builder, len(sp.argTypes))
				for k, at := range sp.argTypes {
					blds[k] = array.NewBuilder(h.q.Alloc, at.Arrow())
					defer blds[k].Release()
					blds[k].Reserve(end - start)
				}
				for e := start; e < end; e++ {
					k := ds.key(int32(e))
					gids = append(gids, int32(binary.LittleEndian.Uint32(k)))
					if _, err := aggDecodeKey(k[4:], sp.argTypes, blds); err != nil {
						return nil, err
					}
				}
				arrs := make([]arrow.Array, len(blds))
				for k, b := range blds {
					arrs[k] = b.NewArray()
				}
				return arrs, nil
			}()
			if err != nil {
				return err
			}
			st.update(gids, arrs, len(gids))
			releaseAll(arrs)
		}
		t.dsets[a] = &aggKeys{}
	}
	return t.account(h.q.Pool)
}

// aggCursor walks the groups of the buckets in order.
type aggCursor struct {
	bucket int
	from   int
}

// emitBatch builds the next m result rows, freeing each bucket table once
// all its groups are out.
func (h *HashAggregate) emitBatch(cur *aggCursor, m int) (arrow.RecordBatch, error) {
	ng := len(h.groupEvs)
	blds := make([]array.Builder, len(h.schema.Fields()))
	for i, f := range h.schema.Fields() {
		blds[i] = array.NewBuilder(h.q.Alloc, f.Type)
		defer blds[i].Release()
		blds[i].Reserve(m)
	}
	for filled := 0; filled < m; {
		bk := &h.buckets[cur.bucket]
		t := bk.t
		if t == nil || cur.from >= t.keys.len() {
			if t != nil {
				t.release(h.q.Pool)
				bk.t = nil
			}
			cur.bucket++
			cur.from = 0
			continue
		}
		k := min(m-filled, t.keys.len()-cur.from)
		if ng > 0 {
			for g := cur.from; g < cur.from+k; g++ {
				if _, err := aggDecodeKey(t.keys.key(int32(g)), h.groupTypes, blds[:ng]); err != nil {
					return nil, err
				}
			}
		}
		for a, st := range t.states {
			if err := st.emit(blds[ng+a], cur.from, cur.from+k); err != nil {
				return nil, err
			}
		}
		cur.from += k
		filled += k
	}
	cols := make([]arrow.Array, len(blds))
	for i, b := range blds {
		cols[i] = b.NewArray()
	}
	defer releaseAll(cols)
	return array.NewRecordBatch(h.schema, cols, int64(m)), nil
}

// aggDecodeKey appends the values of one RowKeys-encoded key of the given
// column types to blds and returns the bytes that follow.
func aggDecodeKey(key []byte, types []kernels.Type, blds []array.Builder) ([]byte, error) {
	bad := errors.New("internal error: malformed hash aggregate key")
	u64 := func() uint64 {
		v := binary.LittleEndian.Uint64(key)
		key = key[8:]
		return v
	}
	for i, t := range types {
		if len(key) == 0 {
			return nil, bad
		}
		marker := key[0]
		key = key[1:]
		if marker == 0 {
			blds[i].AppendNull()
			continue
		}
		need := 8
		switch t.ID {
		case kernels.Bool:
			need = 1
		case kernels.Decimal, kernels.Interval:
			need = 16
		case kernels.String:
			need = 0
		}
		if len(key) < need {
			return nil, bad
		}
		switch t.ID {
		case kernels.Bool:
			blds[i].(*array.BooleanBuilder).Append(key[0] != 0)
			key = key[1:]
		case kernels.Int16:
			blds[i].(*array.Int16Builder).Append(int16(u64()))
		case kernels.Int32:
			blds[i].(*array.Int32Builder).Append(int32(u64()))
		case kernels.Int64:
			blds[i].(*array.Int64Builder).Append(int64(u64()))
		case kernels.Date:
			blds[i].(*array.Date32Builder).Append(arrow.Date32(int32(u64())))
		case kernels.Timestamp:
			blds[i].(*array.TimestampBuilder).Append(arrow.Timestamp(int64(u64())))
		case kernels.Float32:
			blds[i].(*array.Float32Builder).Append(float32(math.Float64frombits(u64())))
		case kernels.Float64:
			blds[i].(*array.Float64Builder).Append(math.Float64frombits(u64()))
		case kernels.Decimal:
			lo := u64()
			hi := int64(u64())
			blds[i].(*array.Decimal128Builder).Append(decimal128.New(hi, lo))
		case kernels.String:
			l, w := binary.Uvarint(key)
			if w <= 0 || uint64(len(key)-w) < l {
				return nil, bad
			}
			blds[i].(*array.StringBuilder).BinaryBuilder.Append(key[w : w+int(l)])
			key = key[w+int(l):]
		case kernels.Interval:
			months := int32(binary.LittleEndian.Uint32(key))
			days := int32(binary.LittleEndian.Uint32(key[4:]))
			key = key[8:]
			nanos := int64(u64())
			blds[i].(*array.MonthDayNanoIntervalBuilder).Append(arrow.MonthDayNanoInterval{Months: months, Days: days, Nanoseconds: nanos})
		default:
			return nil, fmt.Errorf("hash aggregate: cannot group by %s", t)
		}
	}
	return key, nil
}

// Source returns the result reader: each result batch is handed out once, to
// any of any number of drivers, and then belongs to its reader; the source's
// Close releases the batches not read. Reading before Finalize is an error.
func (h *HashAggregate) Source() Source { return aggSource{h} }

type aggSource struct{ h *HashAggregate }

type aggSourceLocal struct{ h *HashAggregate }

// Local implements Source.
func (s aggSource) Local(ctx context.Context) (SourceLocal, error) { return aggSourceLocal(s), nil }

// Close implements Source: releases the batches not read.
func (s aggSource) Close() { s.h.releaseResult() }

// Next implements SourceLocal.
func (s aggSourceLocal) Next(ctx context.Context) (arrow.RecordBatch, error) {
	h := s.h
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.finalized {
		return nil, errors.New("internal error: hash aggregate read before Finalize")
	}
	if h.spill.active {
		return h.nextSpilled(ctx)
	}
	if h.next >= len(h.result) {
		return nil, io.EOF
	}
	b := h.result[h.next]
	h.result[h.next] = nil
	h.next++
	return b, nil
}

// Idle implements SourceLocal.
func (s aggSourceLocal) Idle() bool { return true }

// Close implements SourceLocal.
func (s aggSourceLocal) Close() {}

func (h *HashAggregate) releaseResult() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.result {
		if b != nil {
			b.Release()
			h.result[i] = nil
		}
	}
	h.next = len(h.result)
}

// Close implements Sink: frees every table (also of drivers that never
// combined, after an error or cancellation) and the unread result batches.
// Idempotent.
func (h *HashAggregate) Close() {
	h.releaseResult()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	h.closeSpill()
	for _, l := range h.locals {
		if l.t != nil {
			l.t.release(h.q.Pool)
			l.t = nil
		}
		l.release()
	}
	for i := range h.buckets {
		bk := &h.buckets[i]
		bk.mu.Lock()
		if bk.t != nil {
			bk.t.release(h.q.Pool)
			bk.t = nil
		}
		bk.mu.Unlock()
	}
}
