package exec

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// ---------------------------------------------------------------------------
// Typed sort keys, shared by Sort, TopN and Window.

// keyKind says how values of a sort key compare.
type keyKind uint8

const (
	kNull  keyKind = iota // every value NULL
	kInt                  // ints, dates, timestamps, booleans
	kFloat                // floats; NaN greatest
	kDec                  // decimals (128-bit), intervals (as a span)
	kStr                  // strings, byte-wise
)

func keyKindOf(t kernels.Type) (keyKind, error) {
	switch t.ID {
	case kernels.Null:
		return kNull, nil
	case kernels.Bool, kernels.Int16, kernels.Int32, kernels.Int64, kernels.Date, kernels.Timestamp:
		return kInt, nil
	case kernels.Float32, kernels.Float64:
		return kFloat, nil
	case kernels.Decimal, kernels.Interval:
		return kDec, nil
	case kernels.String:
		return kStr, nil
	}
	return 0, fmt.Errorf("could not identify an ordering operator for type %s", t)
}

// keySpec is one sort key's comparison.
type keySpec struct {
	kind       keyKind
	desc       bool
	nullsFirst bool
}

// keyCol holds one key's values for a set of rows as a typed slice (only the
// slice of its kind is used). String values alias Arrow buffers: the arrays
// they came from must outlive the keyCol.
type keyCol struct {
	n     int
	nulls []bool // nil while no NULL was seen
	i     []int64
	f     []float64
	d     []decimal128.Num
	s     []string
}

// reset empties k, keeping its capacity.
func (k *keyCol) reset() {
	k.n = 0
	k.nulls, k.i, k.f, k.d, k.s = nil, k.i[:0], k.f[:0], k.d[:0], k.s[:0]
}

func (k *keyCol) bytes() int64 {
	return int64(cap(k.nulls)) + 8*int64(cap(k.i)) + 8*int64(cap(k.f)) + 16*int64(cap(k.d)) + 16*int64(cap(k.s))
}

var usPerDay = decimal128.FromI64(86_400_000_000_000)

// intervalSpan orders intervals the way PostgreSQL does: months count 30 days.
func intervalSpan(v arrow.MonthDayNanoInterval) decimal128.Num {
	days := decimal128.FromI64(int64(v.Months)*30 + int64(v.Days))
	return days.Mul(usPerDay).Add(decimal128.FromI64(v.Nanoseconds))
}

// growCap makes room for n more elements, doubling the capacity (append
// grows large slices by 1.25x, which copies much more).
func growCap[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	ns := make([]T, len(s), max(2*cap(s), len(s)+n, 16))
	copy(ns, s)
	return ns
}

// appendArray appends the values of a to k.
func (k *keyCol) appendArray(kind keyKind, a arrow.Array) error {
	n := a.Len()
	if a.NullN() > 0 {
		if k.nulls == nil {
			k.nulls = make([]bool, k.n, max(2*k.n, k.n+n))
		}
		k.nulls = growCap(k.nulls, n)
		if a.DataType().ID() == arrow.NULL {
			for i := 0; i < n; i++ {
				k.nulls = append(k.nulls, true)
			}
		} else {
			for i := 0; i < n; i++ {
				k.nulls = append(k.nulls, a.IsNull(i))
			}
		}
	} else if k.nulls != nil {
		k.nulls = append(growCap(k.nulls, n), make([]bool, n)...)
	}
	bad := false
	switch kind {
	case kInt:
		k.i = growCap(k.i, n)
	case kFloat:
		k.f = growCap(k.f, n)
	case kDec:
		k.d = growCap(k.d, n)
	case kStr:
		k.s = growCap(k.s, n)
	}
	switch kind {
	case kNull:
		if a.NullN() != n {
			bad = true
		}
	case kInt:
		switch a := a.(type) {
		case *array.Int64:
			k.i = append(k.i, a.Int64Values()...)
		case *array.Int32:
			for _, v := range a.Int32Values() {
				k.i = append(k.i, int64(v))
			}
		case *array.Int16:
			for _, v := range a.Int16Values() {
				k.i = append(k.i, int64(v))
			}
		case *array.Date32:
			for _, v := range a.Date32Values() {
				k.i = append(k.i, int64(v))
			}
		case *array.Timestamp:
			for _, v := range a.TimestampValues() {
				k.i = append(k.i, int64(v))
			}
		case *array.Boolean:
			for i := 0; i < n; i++ {
				v := int64(0)
				if a.Value(i) {
					v = 1
				}
				k.i = append(k.i, v)
			}
		case *array.Null:
			k.i = append(k.i, make([]int64, n)...)
		default:
			bad = true
		}
	case kFloat:
		switch a := a.(type) {
		case *array.Float64:
			k.f = append(k.f, a.Float64Values()...)
		case *array.Float32:
			for _, v := range a.Float32Values() {
				k.f = append(k.f, float64(v))
			}
		case *array.Null:
			k.f = append(k.f, make([]float64, n)...)
		default:
			bad = true
		}
	case kDec:
		switch a := a.(type) {
		case *array.Decimal128:
			k.d = append(k.d, a.Values()...)
		case *array.MonthDayNanoInterval:
			for i := 0; i < n; i++ {
				k.d = append(k.d, intervalSpan(a.Value(i)))
			}
		case *array.Null:
			k.d = append(k.d, make([]decimal128.Num, n)...)
		default:
			bad = true
		}
	case kStr:
		switch a := a.(type) {
		case *array.String:
			for i := 0; i < n; i++ {
				k.s = append(k.s, a.Value(i))
			}
		case *array.Null:
			k.s = append(k.s, make([]string, n)...)
		default:
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("internal error: sort key of kind %d got an array of type %s", kind, a.DataType())
	}
	k.n += n
	return nil
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	case x == y:
		return 0
	}
	xn, yn := x != x, y != y
	switch {
	case xn && yn:
		return 0
	case xn:
		return 1
	}
	return -1
}

func cmpDec(x, y decimal128.Num) int {
	xh, yh := x.HighBits(), y.HighBits()
	if xh != yh {
		if xh < yh {
			return -1
		}
		return 1
	}
	xl, yl := x.LowBits(), y.LowBits()
	switch {
	case xl < yl:
		return -1
	case xl > yl:
		return 1
	}
	return 0
}

// cmpKey compares row i of a with row j of b under sp.
func cmpKey(sp *keySpec, a *keyCol, i int, b *keyCol, j int) int {
	if a.nulls != nil || b.nulls != nil {
		na := a.nulls != nil && a.nulls[i]
		nb := b.nulls != nil && b.nulls[j]
		if na || nb {
			if na == nb {
				return 0
			}
			if na == sp.nullsFirst {
				return -1
			}
			return 1
		}
	}
	var c int
	switch sp.kind {
	case kInt:
		x, y := a.i[i], b.i[j]
		if x < y {
			c = -1
		} else if x > y {
			c = 1
		}
	case kFloat:
		c = cmpFloat(a.f[i], b.f[j])
	case kDec:
		c = cmpDec(a.d[i], b.d[j])
	case kStr:
		c = strings.Compare(a.s[i], b.s[j])
	}
	if sp.desc {
		return -c
	}
	return c
}

// cmpRows compares row i of ka with row j of kb on keys from.. .
func cmpRows(specs []keySpec, ka []keyCol, i int, kb []keyCol, j int, from int) int {
	for k := from; k < len(specs); k++ {
		if c := cmpKey(&specs[k], &ka[k], i, &kb[k], j); c != 0 {
			return c
		}
	}
	return 0
}

// sortEnt is a row index with order-preserving prefixes of its first two
// keys: rows with a smaller p0 sort first; among equal p0 (and an exact
// first key) a smaller p1 sorts first. 16 bytes, for cheap radix passes.
type sortEnt struct {
	p0 uint64
	p1 uint32
	i  uint32
}

const sortEntBytes = 16

// prefixAt returns the 64-bit order-preserving prefix of row i of k under sp
// (ascending; NULLs not handled) and whether it determines the value.
func prefixAt(sp *keySpec, k *keyCol, i int) (uint64, bool) {
	switch sp.kind {
	case kInt:
		return uint64(k.i[i]) ^ (1 << 63), true
	case kFloat:
		f := k.f[i]
		var u uint64
		switch {
		case f != f:
			u = 0x7ff8000000000000
		case f == 0:
			u = 0
		default:
			u = math.Float64bits(f)
		}
		if u>>63 != 0 {
			return ^u, true
		}
		return u | 1<<63, true
	case kDec:
		d := k.d[i]
		hi, lo := d.HighBits(), d.LowBits()
		switch {
		case hi == 0 && lo < 1<<63, hi == -1 && lo >= 1<<63:
			return lo ^ (1 << 63), true
		case hi < 0:
			return 0, false
		}
		return math.MaxUint64, false
	case kStr:
		return strPrefix(k.s[i], 0), false
	}
	return 0, true
}

// fullPrefix is prefixAt with direction and NULL placement applied; a
// non-NULL value whose prefix equals the NULL sentinel is not exact.
func fullPrefix(sp *keySpec, k *keyCol, i int) (uint64, bool) {
	sentinel := uint64(math.MaxUint64)
	if sp.nullsFirst {
		sentinel = 0
	}
	if k.nulls != nil && k.nulls[i] {
		return sentinel, true
	}
	p, ex := prefixAt(sp, k, i)
	if sp.desc {
		p = ^p
	}
	return p, ex && p != sentinel
}

// fillPrefixes stores the prefix of every row of k under sp into ents[i].p0
// (or, when second, bits [shift, shift+32) of it into .p1). It reports
// whether equal prefixes imply equal keys, shift, and the first row's full
// prefix (the bits of p1's that are not kept are those of every row, when
// exact; the bits above them always are).
func fillPrefixes(sp *keySpec, k *keyCol, ents []sortEnt, second bool) (bool, int, uint64) {
	exact := true
	if !second {
		for i := range ents {
			p, ex := fullPrefix(sp, k, i)
			ents[i].p0 = p
			exact = exact && ex
		}
		return exact, 0, 0
	}
	if sp.kind == kStr {
		// The first 4 bytes; sortStrRun goes on from byte 4.
		for i := range ents {
			p, _ := fullPrefix(sp, k, i)
			ents[i].p1 = uint32(p >> 32)
		}
		return false, 32, 0
	}
	// Keep the 32 most significant bits that vary: exact if no more vary.
	var first, diff uint64
	for i := range ents {
		p, ex := fullPrefix(sp, k, i)
		if i == 0 {
			first = p
		}
		diff |= p ^ first
		exact = exact && ex
	}
	shift := 0
	if top := 64 - bits.LeadingZeros64(diff); top > 32 {
		shift = top - 32
		if bits.TrailingZeros64(diff) < shift {
			exact = false
		}
	}
	for i := range ents {
		p, _ := fullPrefix(sp, k, i)
		ents[i].p1 = uint32(p >> shift)
	}
	return exact, shift, first
}

// radixSort sorts a by p0 (or p1 when second) with a stable LSD radix
// sort over the bits that vary, using tmp (same length) as scratch, and
// returns the slice holding the result (a or tmp).
func radixSort(a, tmp []sortEnt, second bool) []sortEnt {
	key := func(e *sortEnt) uint64 {
		if second {
			return uint64(e.p1)
		}
		return e.p0
	}
	first := key(&a[0])
	var diff uint64
	for i := range a {
		diff |= key(&a[i]) ^ first
	}
	if diff == 0 {
		return a
	}
	lo := bits.TrailingZeros64(diff)
	nbits := 64 - bits.LeadingZeros64(diff) - lo
	maxWidth := 8
	if len(a) >= 1<<16 {
		maxWidth = 11 // larger digits pay off on large inputs
	}
	passes := (nbits + maxWidth - 1) / maxWidth
	width := (nbits + passes - 1) / passes
	buckets := 1 << width
	mask := uint64(buckets - 1)
	var small [8 * 256]int
	var cnt []int
	if passes*buckets <= len(small) {
		cnt = small[:passes*buckets]
	} else {
		cnt = make([]int, passes*buckets)
	}
	for i := range a {
		p := key(&a[i]) >> lo
		for k := 0; k < passes; k++ {
			cnt[k*buckets+int(p&mask)]++
			p >>= width
		}
	}
	src, dst := a, tmp
	for k := 0; k < passes; k++ {
		c := cnt[k*buckets : (k+1)*buckets]
		shift := uint(lo + k*width)
		sum := 0
		for j := range c {
			c[j], sum = sum, sum+c[j]
		}
		for i := range src {
			e := &src[i]
			d := (key(e) >> shift) & mask
			dst[c[d]] = *e
			c[d]++
		}
		src, dst = dst, src
	}
	return src
}

// strPrefix returns bytes [off, off+8) of s, big-endian, zero-padded.
func strPrefix(s string, off int) uint64 {
	if off >= len(s) {
		return 0
	}
	s = s[off:]
	if len(s) >= 8 {
		_ = s[7]
		return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
			uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
	}
	var p uint64
	for j := 0; j < len(s); j++ {
		p |= uint64(s[j]) << (56 - 8*j)
	}
	return p
}

// sortStrRun orders run, whose rows tie on the keys before a string key k
// and share its first off bytes (and p1, when set from them), by the next
// bytes, 4 at a time in p1 (MSD radix), then breaks what still ties with full.
func sortStrRun(run, scratch []sortEnt, k *keyCol, desc bool, off int, full func(a, b sortEnt) int) {
	if len(run) < 32 || k.nulls != nil && slices.ContainsFunc(run, func(e sortEnt) bool { return k.nulls[e.i] }) {
		slices.SortFunc(run, full)
		return
	}
	longest := 0
	var flip uint32
	if desc {
		flip = ^uint32(0)
	}
	for i := range run {
		s := k.s[run[i].i]
		run[i].p1 = uint32(strPrefix(s, off)>>32) ^ flip
		longest = max(longest, len(s))
	}
	if longest <= off { // only trailing zero bytes can differ
		slices.SortFunc(run, full)
		return
	}
	if len(run) >= radixMin {
		if r := radixSort(run, scratch, true); &r[0] != &run[0] {
			copy(run, r)
		}
	} else {
		slices.SortFunc(run, func(a, b sortEnt) int { return cmpU32(a.p1, b.p1) })
	}
	for a := 0; a < len(run); {
		b := a + 1
		for b < len(run) && run[b].p1 == run[a].p1 {
			b++
		}
		if b-a > 1 {
			sortStrRun(run[a:b], scratch[a:b], k, desc, off+4, full)
		}
		a = b
	}
}

func cmpU32(a, b uint32) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

func cmpU64(a, b uint64) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

const radixMin = 256 // below this many rows, comparison sorting wins

// prefixInfo describes the prefixes of sorted entries, for merging runs.
type prefixInfo struct {
	ex0, ex1 bool
	shift1   int    // p1 holds bits [shift1, shift1+32) of the full prefix
	first1   uint64 // the full prefix of some row
}

// p1Order tells how the p1 of two runs compare: ok when they keep the same
// bits and agree above them; same when, moreover, equal p1 means equal keys.
func p1Order(a, b *prefixInfo) (ok, same bool) {
	if a.shift1 != b.shift1 {
		return false, false
	}
	var upper uint64
	if a.shift1 < 32 {
		upper = ^uint64(0) << (a.shift1 + 32)
	}
	window := uint64(math.MaxUint32) << a.shift1
	d := a.first1 ^ b.first1
	if d&upper != 0 {
		return false, false
	}
	return true, a.ex1 && b.ex1 && d&^window == 0
}

// sortRows sorts the rows described by keys (len(ents) rows). ents and tmp
// are scratch of that length; the sorted entries are returned (aliasing one
// of them) with a description of their prefixes.
func sortRows(specs []keySpec, keys []keyCol, ents, tmp []sortEnt) ([]sortEnt, prefixInfo) {
	n := len(ents)
	for i := range ents {
		ents[i].i = uint32(i)
	}
	if len(specs) == 0 {
		return ents, prefixInfo{ex0: true, ex1: true}
	}
	ex0, _, _ := fillPrefixes(&specs[0], &keys[0], ents, false)
	info := prefixInfo{ex0: ex0, ex1: true}
	if len(specs) > 1 {
		info.ex1, info.shift1, info.first1 = fillPrefixes(&specs[1], &keys[1], ents, true)
	}
	ex1 := info.ex1
	nk := len(specs)
	full := func(a, b sortEnt) int {
		if a.p0 != b.p0 {
			return cmpU64(a.p0, b.p0)
		}
		if !ex0 {
			return cmpRows(specs, keys, int(a.i), keys, int(b.i), 0)
		}
		if nk == 1 {
			return 0
		}
		if a.p1 != b.p1 {
			return cmpU32(a.p1, b.p1)
		}
		if !ex1 {
			return cmpRows(specs, keys, int(a.i), keys, int(b.i), 1)
		}
		if nk == 2 {
			return 0
		}
		return cmpRows(specs, keys, int(a.i), keys, int(b.i), 2)
	}
	if n < radixMin { // (the prefixes are filled: runs merge on them)
		slices.SortFunc(ents, full)
		return ents, info
	}
	s := radixSort(ents, tmp, false)
	other := tmp
	if &s[0] == &tmp[0] {
		other = ents
	}
	if ex0 && nk == 1 {
		return s, info
	}
	for i := 0; i < n; {
		j := i + 1
		for j < n && s[j].p0 == s[i].p0 {
			j++
		}
		if j-i > 1 {
			run := s[i:j]
			switch {
			case !ex0 && specs[0].kind == kStr:
				// Strings sharing 8 bytes: go on with the next bytes. (full
				// ignores p1 when the first key is not exact.)
				sortStrRun(run, other[i:j], &keys[0], specs[0].desc, 8, full)
			case !ex0:
				slices.SortFunc(run, full)
			default:
				// Equal first keys: order by the second key's prefix, then
				// break the remaining ties.
				switch {
				case len(run) <= 16:
					for a := 1; a < len(run); a++ {
						for b := a; b > 0 && run[b].p1 < run[b-1].p1; b-- {
							run[b], run[b-1] = run[b-1], run[b]
						}
					}
				case len(run) < radixMin:
					slices.SortFunc(run, func(a, b sortEnt) int { return cmpU32(a.p1, b.p1) })
				default:
					if r := radixSort(run, other[i:j], true); &r[0] != &run[0] {
						copy(run, r)
					}
				}
				if !ex1 || nk > 2 {
					for a := 0; a < len(run); {
						b := a + 1
						for b < len(run) && run[b].p1 == run[a].p1 {
							b++
						}
						switch {
						case b-a < 2:
						case !ex1 && specs[1].kind == kStr:
							p1 := run[a].p1
							sortStrRun(run[a:b], other[i+a:i+b], &keys[1], specs[1].desc, 4, full)
							for x := a; x < b; x++ {
								run[x].p1 = p1 // back to the first 4 bytes, for merging
							}
						default:
							slices.SortFunc(run[a:b], full)
						}
						a = b
					}
				}
			}
		}
		i = j
	}
	return s, info
}

// ---------------------------------------------------------------------------
// Row stores and runs.

// accountTo moves the bytes reported for *held to want.
func accountTo(q *QueryContext, held *int64, want int64, what string) error {
	d := want - *held
	if d > 0 {
		if err := q.Pool.Grow(d, what); err != nil {
			return err
		}
	} else if d < 0 {
		q.Pool.Shrink(-d)
	}
	*held = want
	return nil
}

// compileKeys compiles sort keys over input.
func compileKeys(q *QueryContext, input []planner.Column, keys []planner.SortKey) ([]*Evaluator, []keySpec, error) {
	evs := make([]*Evaluator, len(keys))
	specs := make([]keySpec, len(keys))
	for i, k := range keys {
		ev, err := Compile(k.Expr, input, q.Kernels)
		if err != nil {
			return nil, nil, err
		}
		kind, err := keyKindOf(k.Expr.Type)
		if err != nil {
			return nil, nil, err
		}
		evs[i] = ev
		specs[i] = keySpec{kind: kind, desc: k.Desc, nullsFirst: k.NullsFirst}
	}
	return evs, specs, nil
}

// evalAll evaluates evs over b; the arrays belong to the caller.
func evalAll(q *QueryContext, evs []*Evaluator, b arrow.RecordBatch) ([]arrow.Array, error) {
	out := make([]arrow.Array, len(evs))
	for i, ev := range evs {
		a, err := ev.Eval(q, b)
		if err != nil {
			releaseAll(out)
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// rowStore accumulates batches with their evaluated sort keys.
type rowStore struct {
	what    string
	specs   []keySpec
	batches []arrow.RecordBatch
	keyArrs [][]arrow.Array // per batch, per key (owned)
	keys    []keyCol
	starts  []int // first row of each batch
	uniform bool  // every batch but the last has size bsize
	bsize   int
	n       int
	held    int64 // Go bytes reported to the pool
}

func newRowStore(what string, specs []keySpec) *rowStore {
	return &rowStore{what: what, specs: specs, keys: make([]keyCol, len(specs))}
}

func (st *rowStore) goBytes() int64 {
	b := 8*int64(cap(st.starts)) + 24*int64(cap(st.batches)+cap(st.keyArrs))
	for i := range st.keys {
		b += st.keys[i].bytes()
	}
	return b
}

// add appends b (retained) and its key arrays (ownership taken).
func (st *rowStore) add(q *QueryContext, b arrow.RecordBatch, keys []arrow.Array) error {
	b.Retain()
	st.batches = append(st.batches, b)
	st.keyArrs = append(st.keyArrs, keys)
	n := int(b.NumRows())
	if uint64(st.n)+uint64(n) >= math.MaxUint32 {
		return fmt.Errorf("%s: too many rows for one operator", st.what)
	}
	for k := range st.keys {
		if err := st.keys[k].appendArray(st.specs[k].kind, keys[k]); err != nil {
			return err
		}
	}
	if nb := len(st.starts); nb == 0 {
		st.uniform, st.bsize = true, n
	} else if st.n-st.starts[nb-1] != st.bsize {
		st.uniform = false // the previous last batch has another size
	}
	st.starts = append(st.starts, st.n)
	st.n += n
	return accountTo(q, &st.held, st.goBytes(), st.what)
}

// ref returns the batch and position of row i.
func (st *rowStore) ref(i uint32) rowRef {
	var b int
	if st.uniform && st.bsize > 0 {
		b = min(int(i)/st.bsize, len(st.starts)-1)
	} else {
		lo, hi := 0, len(st.starts)-1 // the last start <= i
		for lo < hi {
			m := int(uint(lo+hi+1) >> 1)
			if st.starts[m] <= int(i) {
				lo = m
			} else {
				hi = m - 1
			}
		}
		b = lo
	}
	return rowRef{uint32(b), i - uint32(st.starts[b])}
}

// release frees everything.
func (st *rowStore) release(q *QueryContext) {
	for _, b := range st.batches {
		b.Release()
	}
	for _, ks := range st.keyArrs {
		releaseAll(ks)
	}
	st.batches, st.keyArrs, st.keys, st.starts, st.n = nil, nil, nil, nil, 0
	q.Pool.Shrink(st.held)
	st.held = 0
}

// sortedRun is a row store with its rows' sorted order.
type sortedRun struct {
	st   *rowStore
	ents []sortEnt
	info prefixInfo
	held int64 // bytes of ents
}

// sortStore sorts st into a run (st moves into the run).
func sortStore(q *QueryContext, st *rowStore) (*sortedRun, error) {
	n := st.n
	run := &sortedRun{st: st}
	scratch := int64(2 * sortEntBytes * n)
	if err := q.Pool.Grow(scratch, st.what); err != nil {
		return nil, err
	}
	ents, tmp := make([]sortEnt, n), make([]sortEnt, n)
	run.ents, run.info = sortRows(st.specs, st.keys, ents, tmp)
	q.Pool.Shrink(scratch - sortEntBytes*int64(n))
	run.held = sortEntBytes * int64(n)
	return run, nil
}

func (r *sortedRun) release(q *QueryContext) {
	r.st.release(q)
	r.ents = nil
	q.Pool.Shrink(r.held)
	r.held = 0
}

// mergeRuns merges sorted runs into at most limit (< 0: all) global row refs;
// run i's batches are numbered from bases[i].
func mergeRuns(ctx context.Context, specs []keySpec, runs []*sortedRun, bases []uint32, limit int) ([]rowRef, error) {
	total := 0
	for _, r := range runs {
		total += len(r.ents)
	}
	if limit >= 0 && limit < total {
		total = limit
	}
	out := make([]rowRef, 0, total)
	if len(runs) == 1 {
		r := runs[0]
		for _, e := range r.ents[:total] {
			ref := r.st.ref(e.i)
			ref.b += bases[0]
			out = append(out, ref)
		}
		return out, nil
	}
	pos := make([]int, len(runs))
	less := func(a, b int) bool {
		ra, rb := runs[a], runs[b]
		ea, eb := ra.ents[pos[a]], rb.ents[pos[b]]
		if ea.p0 != eb.p0 {
			return ea.p0 < eb.p0
		}
		from := 0
		if ra.info.ex0 && rb.info.ex0 && len(specs) > 1 {
			from = 1
			if ok, same := p1Order(&ra.info, &rb.info); ok {
				if ea.p1 != eb.p1 {
					return ea.p1 < eb.p1
				}
				if same {
					from = 2
				}
			}
		}
		if c := cmpRows(specs, ra.st.keys, int(ea.i), rb.st.keys, int(eb.i), from); c != 0 {
			return c < 0
		}
		return a < b
	}
	h := make([]int, 0, len(runs))
	for i, r := range runs {
		if len(r.ents) > 0 {
			h = append(h, i)
		}
	}
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && less(h[r], h[l]) {
				m = r
			}
			if !less(h[m], h[i]) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(out) < total && len(h) > 0 {
		if len(out)&0xffff == 0 && ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		ri := h[0]
		r := runs[ri]
		ref := r.st.ref(r.ents[pos[ri]].i)
		ref.b += bases[ri]
		out = append(out, ref)
		pos[ri]++
		if pos[ri] == len(r.ents) {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
	return out, nil
}

// ---------------------------------------------------------------------------
// Sorted output, shared by the materializing operators.

// refOutput serves gathered batches of row refs over owned batches.
type refOutput struct {
	q       *QueryContext
	schema  *arrow.Schema
	batches []arrow.RecordBatch
	refs    []rowRef
	held    int64
	gs      []*colGather
	next    int
}

func newRefOutput(q *QueryContext, schema *arrow.Schema, batches []arrow.RecordBatch, refs []rowRef, what string) (*refOutput, error) {
	o := &refOutput{q: q, schema: schema, batches: batches, refs: refs}
	if err := accountTo(q, &o.held, 8*int64(cap(refs)), what); err != nil {
		o.release()
		return nil, err
	}
	return o, nil
}

// nextBatch returns the next batch of at most BatchSize rows, or io.EOF.
func (o *refOutput) nextBatch() (arrow.RecordBatch, error) {
	if o.next >= len(o.refs) {
		return nil, io.EOF
	}
	if o.gs == nil {
		o.gs = columnGatherers(o.schema, o.batches)
	}
	bs := o.q.BatchSize
	if bs <= 0 {
		bs = DefaultBatchSize
	}
	end := min(o.next+bs, len(o.refs))
	b, err := gatherBatch(o.q.Alloc, o.schema, o.gs, o.refs[o.next:end])
	if err != nil {
		return nil, err
	}
	o.next = end
	return b, nil
}

func (o *refOutput) release() {
	for _, b := range o.batches {
		b.Release()
	}
	o.batches, o.refs, o.gs = nil, nil, nil
	o.q.Pool.Shrink(o.held)
	o.held = 0
}

// funcSource is a Source whose readers all call next.
type funcSource struct {
	next  func(ctx context.Context) (arrow.RecordBatch, error)
	close func()
}

func (s *funcSource) Local(ctx context.Context) (SourceLocal, error) { return funcSourceLocal{s}, nil }

func (s *funcSource) Close() {
	if s.close != nil {
		s.close()
	}
}

type funcSourceLocal struct{ s *funcSource }

func (l funcSourceLocal) Next(ctx context.Context) (arrow.RecordBatch, error) { return l.s.next(ctx) }
func (l funcSourceLocal) Idle() bool                                          { return true }
func (l funcSourceLocal) Close()                                              {}

// schemaOf returns the Arrow schema of cols.
func schemaOf(cols []planner.Column) *arrow.Schema {
	fs := make([]arrow.Field, len(cols))
	for i, c := range cols {
		fs[i] = arrow.Field{Name: c.Name, Type: c.Type.Arrow(), Nullable: c.Nullable}
	}
	return arrow.NewSchema(fs, nil)
}

// ---------------------------------------------------------------------------
// Sort.

// Sort is a Sink collecting its input (each driver sorts its share as it
// leaves); Finalize merges the shares and Source yields the rows in order.
type Sort struct {
	q     *QueryContext
	input []planner.Column
	evs   []*Evaluator
	specs []keySpec

	mu     sync.Mutex
	locals map[*sortLocal]bool
	runs   []*sortedRun
	out    *refOutput
	closed bool
	spill  sortSpill
}

// NewSort returns a sort of input (columns input) by keys.
func NewSort(q *QueryContext, input []planner.Column, keys []planner.SortKey) (*Sort, error) {
	evs, specs, err := compileKeys(q, input, keys)
	if err != nil {
		return nil, err
	}
	return &Sort{q: q, input: input, evs: evs, specs: specs, locals: map[*sortLocal]bool{}}, nil
}

type sortLocal struct {
	s    *Sort
	st   *rowStore
	data int64 // bytes of the batches in st
}

// Local implements Sink.
func (s *Sort) Local(ctx context.Context) (SinkLocal, error) {
	l := &sortLocal{s: s, st: newRowStore("sort", s.specs)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("internal error: sort used after Close")
	}
	s.locals[l] = true
	return l, nil
}

// Consume implements SinkLocal.
func (l *sortLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	keys, err := evalAll(l.s.q, l.s.evs, in)
	if err != nil {
		return err
	}
	if err := l.st.add(l.s.q, in, keys); err != nil {
		return err
	}
	return l.maybeSpill(ctx, in)
}

// Combine implements SinkLocal: sorts this driver's rows into a run.
func (l *sortLocal) Combine(ctx context.Context) error {
	s := l.s
	var run *sortedRun
	var err error
	if l.st.n > 0 {
		run, err = sortStore(s.q, l.st)
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.locals, l)
	if run == nil {
		l.st.release(s.q)
		return nil
	}
	if s.closed {
		run.release(s.q)
		return nil
	}
	s.runs = append(s.runs, run)
	return nil
}

// Finalize implements Sink: merges the drivers' runs.
func (s *Sort) Finalize(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.spill.files) > 0 {
		return s.finalizeSpilled(ctx)
	}
	out, err := finishRuns(ctx, s.q, s.specs, s.runs, schemaOf(s.input), -1, 0, "sort")
	s.runs = nil
	if err != nil {
		return err
	}
	s.out = out
	return nil
}

// finishRuns merges runs (consumed) into an output of rows [offset, limit).
func finishRuns(ctx context.Context, q *QueryContext, specs []keySpec, runs []*sortedRun, schema *arrow.Schema, limit, offset int, what string) (*refOutput, error) {
	defer func() {
		for _, r := range runs {
			r.release(q)
		}
	}()
	bases := make([]uint32, len(runs))
	var batches []arrow.RecordBatch
	for i, r := range runs {
		bases[i] = uint32(len(batches))
		batches = append(batches, r.st.batches...)
	}
	if len(batches) > 0 {
		schema = batches[0].Schema()
	}
	refs, err := mergeRuns(ctx, specs, runs, bases, limit)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		refs = refs[min(offset, len(refs)):]
	}
	for _, b := range batches {
		b.Retain()
	}
	return newRefOutput(q, schema, batches, refs, what)
}

// Close implements Sink: releases everything, also when Finalize never ran.
func (s *Sort) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for l := range s.locals {
		l.st.release(s.q)
	}
	s.locals = map[*sortLocal]bool{}
	for _, r := range s.runs {
		r.release(s.q)
	}
	s.runs = nil
	if s.out != nil {
		s.out.release()
		s.out = nil
	}
	if s.spill.merger != nil {
		s.spill.merger.close()
		s.spill.merger = nil
	}
	removeFiles(s.spill.files)
	removeFiles(s.spill.closed)
	s.spill.files, s.spill.closed = nil, nil
}

// Source returns the sorted rows in order, in batches of q.BatchSize rows
// (read it with one driver). Closing it releases the sort's state.
func (s *Sort) Source() Source {
	return &funcSource{next: s.nextOut, close: s.Close}
}

func (s *Sort) nextOut(ctx context.Context) (arrow.RecordBatch, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.spill.merger != nil {
		return s.spill.merger.next(ctx)
	}
	if s.out == nil {
		if s.closed {
			return nil, fmt.Errorf("internal error: sort read after Close")
		}
		return nil, io.EOF
	}
	return s.out.nextBatch()
}
