package tpch

// Random streams of the TPC-H generator (dbgen). Every random column has its
// own Park–Miller stream s = s*16807 mod (2^31-1) with a fixed seed, and each
// row consumes a fixed number of draws per stream ("seeds per row"): a row
// that uses fewer draws skips the rest when it finishes. A stream can
// therefore jump to any row in O(log n), which is what lets a table be
// generated in independent chunks.

const (
	rngMultiplier = 16807
	rngModulus    = 2147483647
)

// rowRand is one dbgen random stream. Rather than counting draws, it keeps
// the seed at the start of the current row: finishing a row moves that seed
// perRow draws ahead with a single multiplication by 16807^perRow.
type rowRand struct {
	seed     int64 // current seed
	rowStart int64 // seed at the start of the current row
	rowMul   int64 // 16807^perRow mod (2^31-1)
}

func newRowRand(seed int64, perRow int32) rowRand {
	return rowRand{seed: seed, rowStart: seed, rowMul: skipPM(1, int64(perRow))}
}

func (r *rowRand) nextRand() int64 {
	r.seed = mulModPM(r.seed, rngMultiplier)
	return r.seed
}

// mulModPM returns a*b mod (2^31-1) for 0 <= a, b < 2^31, folding the
// product on the Mersenne modulus instead of dividing.
func mulModPM(a, b int64) int64 {
	p := a * b
	v := (p & rngModulus) + (p >> 31)
	if v >= rngModulus {
		v -= rngModulus
	}
	return v
}

// intn returns a value in [lo, hi] the way dbgen's UnifInt does, including
// its 32-bit overflow of the range when hi-lo+1 exceeds MaxInt32.
func (r *rowRand) intn(lo, hi int32) int32 {
	r.nextRand()
	span := hi - lo + 1 // wraps to MinInt32 for (0, MaxInt32), as in dbgen
	return lo + int32(float64(r.seed)/rngModulus*float64(span))
}

// rowFinished skips the draws the finished row did not use.
func (r *rowRand) rowFinished() {
	r.rowStart = mulModPM(r.rowStart, r.rowMul)
	r.seed = r.rowStart
}

// advanceRows moves n rows forward from the start of the current row; it is
// meant for a stream that has not drawn yet in that row.
func (r *rowRand) advanceRows(n int64) {
	r.rowStart = mulModPM(r.rowStart, powPM(r.rowMul, n))
	r.seed = r.rowStart
}

// powPM returns m^n mod (2^31-1).
func powPM(m, n int64) int64 {
	out := int64(1)
	for n > 0 {
		if n&1 != 0 {
			out = mulModPM(out, m)
		}
		m = mulModPM(m, m)
		n >>= 1
	}
	return out
}

// skipPM advances a Park–Miller seed by count >= 0 draws. It uses plain
// 64-bit arithmetic so that the 64-bit key variant overflows as dbgen does.
func skipPM(seed, count int64) int64 {
	mult := int64(rngMultiplier)
	for count > 0 {
		if count%2 != 0 {
			seed = mult * seed % rngModulus
		}
		count /= 2
		mult = mult * mult % rngModulus
	}
	return seed
}

// boundedLong draws keys in [lo, hi]. Like dbgen it switches to a 64-bit
// LCG for scale factors >= 30000, where 32-bit keys would overflow; that
// variant skips rows from the current seed with 32-bit Park–Miller steps,
// reproducing the reference generator's arithmetic.
type boundedLong struct {
	use64  bool
	lo, hi int64
	r      rowRand
	seed   int64 // 64-bit variant only
	usage  int64
	perRow int64
}

func newBoundedLong(seed int64, use64 bool, lo, hi int64, perRow int32) boundedLong {
	return boundedLong{use64: use64, lo: lo, hi: hi, r: newRowRand(seed, perRow), seed: seed, perRow: int64(perRow)}
}

func (b *boundedLong) next() int64 {
	if !b.use64 {
		return int64(b.r.intn(int32(b.lo), int32(b.hi)))
	}
	b.seed = b.seed*6364136223846793005 + 1
	b.usage++
	v := b.seed
	if v < 0 {
		v = -v
	}
	return b.lo + v%(b.hi-b.lo+1)
}

func (b *boundedLong) rowFinished() {
	if !b.use64 {
		b.r.rowFinished()
		return
	}
	b.seed = skipPM(b.seed, b.perRow-b.usage)
	b.usage = 0
}

func (b *boundedLong) advanceRows(n int64) {
	if !b.use64 {
		b.r.advanceRows(n)
		return
	}
	if b.usage != 0 {
		b.rowFinished()
	}
	b.seed = skipPM(b.seed, b.perRow*n)
}

// distEntry is one token of a dists.dss distribution with its weight.
type distEntry struct {
	value  string
	weight int
}

// dist is a weighted distribution ready for sampling: draw an index into
// table, which repeats each value weight times (dbgen's pick_str).
type dist struct {
	values [][]byte
	table  []int32
}

func newDist(entries []distEntry) *dist {
	d := &dist{}
	for i, e := range entries {
		d.values = append(d.values, []byte(e.value))
		for j := 0; j < e.weight; j++ {
			d.table = append(d.table, int32(i))
		}
	}
	return d
}

// pick draws one value index.
func (d *dist) pick(r *rowRand) int32 {
	return d.table[r.intn(0, int32(len(d.table)-1))]
}

var (
	dContainers   = newDist(distContainers)
	dInstruct     = newDist(distInstruct)
	dSegments     = newDist(distSegments)
	dPriorities   = newDist(distPriorities)
	dReturnFlags  = newDist(distReturnFlags)
	dShipModes    = newDist(distShipModes)
	dTypes        = newDist(distTypes)
	dNouns        = newDist(distNouns)
	dVerbs        = newDist(distVerbs)
	dAdverbs      = newDist(distAdverbs)
	dArticles     = newDist(distArticles)
	dPrepositions = newDist(distPrepositions)
	dAuxiliaries  = newDist(distAuxiliaries)
	dTerminators  = newDist(distTerminators)
	dAdjectives   = newDist(distAdjectives)
	dGrammar      = newDist(distGrammar)
	dNounPhrases  = newDist(distNounPhrases)
	dVerbPhrases  = newDist(distVerbPhrases)
)

// nationRegion returns the region key of each nation: the running sum of the
// "nations" weights in dists.dss.
func nationRegion() []int32 {
	out := make([]int32, len(distNations))
	w := 0
	for i, e := range distNations {
		w += e.weight
		out[i] = int32(w)
	}
	return out
}
