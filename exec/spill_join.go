package exec

import (
	"context"
	"errors"
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/bellows-db/bellows/planner"
)

// Grace hash join. When the build side would push the query past its
// spill threshold, every build row goes to one of 16 partition files by
// key hash (bits below the table's own bucket bits), and the join turns
// hybrid: at Finalize the partitions that fit in memory are built into a
// resident join, the others stay on disk. Probe rows of a resident
// partition are joined at once; the others are written to the probe side's
// partition file. After the probe input ends (FlushTo), the resident join
// emits its unmatched build rows, then each spilled partition pair is
// joined by a fresh HashJoin of the same shape. Rows with equal keys share
// a partition, so every join kind (outer, semi, anti, mark, single) is
// correct per partition, with each partition tracking its own matches. A
// partition join that does not fit spills again on the next 4 hash bits.
// NOT IN joins (null-aware: a NULL anywhere in the build side changes
// every row's result) and joins without equality keys never spill.

const (
	hjSpillFanout = 16
	hjSpillBits   = 4
	// hjSpillMaxLevel is the deepest split (level L uses hash bits
	// 48-4L..51-4L, below the 8 bits of the table's buckets).
	hjSpillMaxLevel = 12
)

func hjSpillPartOf(h uint64, level int) int {
	return int(h>>(48-hjSpillBits*level)) & (hjSpillFanout - 1)
}

// hjSpill is the spill state of a HashJoin.
type hjSpill struct {
	stats  *OpStats
	level  int
	active atomic.Bool  // the build side went to disk
	data   atomic.Int64 // Arrow bytes of the build batches held
	rows   atomic.Int64 // build rows held

	mu         sync.Mutex // guards what follows
	build      [hjSpillFanout]*hjPartWriter
	probe      [hjSpillFanout]*hjPartWriter
	buildFiles [hjSpillFanout]*spillFile
	probeFiles [hjSpillFanout]*spillFile
	resident   [hjSpillFanout]bool
	res        *HashJoin // the join of the resident partitions
	resDepth   int       // how many resident joins this one is nested in
	flushed    bool
}

// hjPartWriter appends to one partition file of one side.
type hjPartWriter struct {
	mu sync.Mutex
	w  *spillWriter
}

// SetStats gives the join the stats its spilling is counted in.
func (j *HashJoin) SetStats(st *OpStats) { j.spill.stats = st }

// spillable reports whether the join may spill its build side.
func (j *HashJoin) spillable() bool {
	return len(j.rightKeys) > 0 && !j.nullAware && j.spill.level <= hjSpillMaxLevel && j.q.canSpill()
}

// keepsUnmatchedBuild reports whether build rows that match nothing are
// output (so build rows with NULL keys must be kept).
func (j *HashJoin) keepsUnmatchedBuild() bool {
	return j.kind == planner.JoinRight || j.kind == planner.JoinFull || j.kind == planner.JoinRightAnti
}

// dropsUnmatchedProbe reports whether probe rows that match nothing give
// no output (so probe rows with NULL keys can be dropped).
func (j *HashJoin) dropsUnmatchedProbe() bool {
	switch j.kind {
	case planner.JoinInner, planner.JoinSemi, planner.JoinRight, planner.JoinRightSemi, planner.JoinRightAnti:
		return true
	}
	return false
}

// keepKeyColumns makes the build keep the columns its keys read, so a
// spilled build batch can be re-keyed when it is read back.
func (j *HashJoin) keepKeyColumns(rightKeys []*planner.Expr) {
	for _, k := range rightKeys {
		used := k.Columns()
		for i, c := range j.right {
			if used[c.ID] {
				j.keepRight[i] = true
			}
		}
	}
}

// buildSpillSchema is the schema of build partition files: the right
// columns, with the ones the join does not keep as Null columns.
func (j *HashJoin) buildSpillSchema() *arrow.Schema {
	fields := make([]arrow.Field, len(j.right))
	for i, c := range j.right {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Type.Arrow(), Nullable: true}
		if !j.keepRight[i] {
			fields[i].Type = arrow.Null
		}
	}
	return arrow.NewSchema(fields, nil)
}

// subJoin returns an empty join of the same shape one split level down.
func (j *HashJoin) subJoin() *HashJoin {
	s := &HashJoin{q: j.q, kind: j.kind, left: j.left, right: j.right, nullAware: j.nullAware,
		leftKeys: j.leftKeys, rightKeys: j.rightKeys, intKey: j.intKey,
		residual: j.residual, resSrc: j.resSrc, resSch: j.resSch, never: j.never,
		keepRight: j.keepRight, outSch: j.outSch}
	s.spill.stats = j.spill.stats
	s.spill.level = j.spill.level + 1
	return s
}

// afterConsume spills the local's chunks once the join is spilling, or
// starts spilling when the build side is over budget (over: its key
// memory could not be reserved).
func (l *hjBuildLocal) afterConsume(ctx context.Context, c *hjChunk, over bool) error {
	j := l.j
	if !j.spillable() {
		return nil
	}
	j.spill.data.Add(hjChunkData(c))
	j.spill.rows.Add(int64(c.n))
	if !j.spill.active.Load() {
		if !over && !j.tooBig() {
			return nil
		}
		j.spill.active.Store(true)
	}
	chunks := l.chunks
	l.chunks = nil
	j.mu.Lock()
	chunks = append(chunks, j.pending...)
	j.pending = nil
	j.mu.Unlock()
	return j.spillChunks(ctx, chunks)
}

// tooBig reports whether building the table from what the build side
// holds would take the query past its spill threshold: the build copies
// the columns into one array each and adds an index of about
// hjIndexBytesPerRow. A partition's join splits again only when the
// partition itself is large: one made of few keys cannot shrink by
// splitting.
func (j *HashJoin) tooBig() bool {
	own := j.goBytes.Load() + j.spill.data.Load()
	extra := j.spill.data.Load() + hjIndexBytesPerRow*j.spill.rows.Load()
	t := j.q.spillThreshold()
	if t <= 0 || own < min(int64(spillMinBytes), t/8) {
		return false
	}
	if j.spill.level > 0 {
		return own+extra > t/2
	}
	return j.q.Pool.Used()+extra > t
}

// hjIndexBytesPerRow estimates the index memory of one build row (order,
// hashes, slots at up to twice the rows, duplicate chains, key offsets).
const hjIndexBytesPerRow = 64

// hjKeyBytesPerRow estimates the keys a build row holds before the index
// is built (hashes, integer keys or key offsets).
const hjKeyBytesPerRow = 24

func hjChunkData(c *hjChunk) int64 {
	n := int64(0)
	for _, a := range c.cols {
		if a != nil {
			n += dataBytes(a.Data())
		}
	}
	return n
}

// spillChunks writes build chunks to their partitions and frees them.
func (j *HashJoin) spillChunks(ctx context.Context, chunks []*hjChunk) error {
	var err error
	for _, c := range chunks {
		if err == nil {
			err = ctx.Err()
		}
		if err == nil {
			err = j.spillChunk(c)
		}
		j.spill.data.Add(-hjChunkData(c))
		j.spill.rows.Add(-int64(c.n))
		j.freeChunk(c)
	}
	return err
}

func (j *HashJoin) spillChunk(c *hjChunk) error {
	schema := j.buildSpillSchema()
	cols := make([]arrow.Array, len(j.right))
	for i := range cols {
		if c.cols[i] != nil {
			cols[i] = c.cols[i]
			cols[i].Retain()
		} else {
			cols[i] = array.NewNull(c.n)
		}
	}
	b := array.NewRecordBatch(schema, cols, int64(c.n))
	releaseAll(cols)
	defer b.Release()
	var sel [hjSpillFanout][]int32
	keepNull := j.keepsUnmatchedBuild()
	for r, h := range c.hashes {
		p := hjSpillPartOf(h, j.spill.level)
		if len(c.nulls) > 0 && c.nulls[r] {
			if !keepNull {
				continue // a NULL key matches nothing
			}
			p = r % hjSpillFanout // nor does it need a partition: spread them
		}
		sel[p] = append(sel[p], int32(r))
	}
	return j.writeParts(b, &sel, j.spill.build[:], schema)
}

// writeParts writes the rows sel[p] of b to partition p of one side.
func (j *HashJoin) writeParts(b arrow.RecordBatch, sel *[hjSpillFanout][]int32, ws []*hjPartWriter, schema *arrow.Schema) error {
	for p, rows := range sel {
		if len(rows) == 0 {
			continue
		}
		pw, err := j.partWriter(ws, p, schema)
		if err != nil {
			return err
		}
		var pb arrow.RecordBatch
		if len(rows) == int(b.NumRows()) {
			pb = b
			pb.Retain()
		} else if pb, err = takeBatch(spillAlloc, b, rows); err != nil {
			pw.mu.Unlock()
			return err
		}
		err = pw.w.write(pb)
		pw.mu.Unlock()
		pb.Release()
		if err != nil {
			return err
		}
	}
	return nil
}

// partWriter returns partition p's writer of ws, locked.
func (j *HashJoin) partWriter(ws []*hjPartWriter, p int, schema *arrow.Schema) (*hjPartWriter, error) {
	j.spill.mu.Lock()
	pw := ws[p]
	if pw == nil {
		pw = &hjPartWriter{}
		ws[p] = pw
	}
	j.spill.mu.Unlock()
	pw.mu.Lock()
	if pw.w == nil {
		w, err := j.q.newSpillWriter("join", schema, j.spill.stats)
		if err != nil {
			pw.mu.Unlock()
			return nil, err
		}
		pw.w = w
	}
	return pw, nil
}

// finishWriters closes the writers of one side into files.
func finishWriters(ws []*hjPartWriter, files []*spillFile) error {
	for p, pw := range ws {
		if pw == nil || pw.w == nil {
			continue
		}
		f, err := pw.w.finish()
		pw.w = nil
		if err != nil {
			return err
		}
		files[p] = f
	}
	return nil
}

// finalizeSpilled ends a spilled build: the rest of the chunks go to disk,
// and the partitions that fit in memory are built into the resident join.
// The caller holds j.mu.
func (j *HashJoin) finalizeSpilled(ctx context.Context) error {
	chunks := j.pending
	j.pending = nil
	if err := j.spillChunks(ctx, chunks); err != nil {
		return err
	}
	sp := &j.spill
	sp.mu.Lock()
	err := finishWriters(sp.build[:], sp.buildFiles[:])
	sp.mu.Unlock()
	if err != nil {
		return err
	}
	// Smallest partitions first, while their tables (the columns, their
	// copy while building, and an index) fit in the room left below the
	// spill threshold, and in half of it: the resident join is one level
	// down, where a join splits past that (tooBig).
	// A resident join that spilled anyway (the estimate was short) keeps
	// half as much resident as its parent, so the chain ends.
	t := j.q.spillThreshold()
	room := min(t-j.q.Pool.Used(), t/2) >> sp.resDepth
	order := make([]int, hjSpillFanout)
	for p := range order {
		order[p] = p
	}
	size := func(p int) int64 {
		if f := sp.buildFiles[p]; f != nil {
			return 2*f.bytes + (hjIndexBytesPerRow+hjKeyBytesPerRow)*f.rows
		}
		return 0
	}
	sort.SliceStable(order, func(a, b int) bool { return size(order[a]) < size(order[b]) })
	var files []*spillFile
	for _, p := range order {
		if size(p) > room {
			break
		}
		room -= size(p)
		sp.resident[p] = true
		if f := sp.buildFiles[p]; f != nil {
			files = append(files, f)
		}
	}
	res := j.subJoin()
	res.spill.resDepth = sp.resDepth + 1
	sp.res = res
	if err := res.buildFrom(ctx, files); err != nil {
		return err
	}
	for p := range sp.resident {
		if sp.resident[p] {
			sp.buildFiles[p].remove()
			sp.buildFiles[p] = nil
		}
	}
	j.ready = true
	return nil
}

// buildFrom builds the join's table from build partition files.
func (j *HashJoin) buildFrom(ctx context.Context, files []*spillFile) error {
	sink := j.BuildSink()
	l, err := sink.Local(ctx)
	if err != nil {
		return err
	}
	for _, f := range files {
		if err := readAll(ctx, j.q, f, func(b arrow.RecordBatch) error { return l.Consume(ctx, b) }); err != nil {
			return err
		}
	}
	if err := l.Combine(ctx); err != nil {
		return err
	}
	return finalize(ctx, sink)
}

// readAll calls fn with every batch of f (borrowed).
func readAll(ctx context.Context, q *QueryContext, f *spillFile, fn func(arrow.RecordBatch) error) error {
	if f == nil {
		return nil
	}
	r, err := f.open(q.Alloc)
	if err != nil {
		return err
	}
	defer r.close()
	for {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		b, err := r.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		err = fn(b)
		b.Release()
		if err != nil {
			return err
		}
	}
}

// hjSpillProbeLocal probes a spilled join: rows of resident partitions
// against the resident join, the others to the probe partition files.
type hjSpillProbeLocal struct {
	j      *HashJoin
	res    OperatorLocal
	rk     RowKeys
	ikeys  []int64
	hashes []uint64
	nulls  []bool
}

func (j *HashJoin) spillProbeLocal(ctx context.Context) (OperatorLocal, error) {
	j.mu.Lock()
	ready, res := j.ready, j.spill.res
	j.mu.Unlock()
	if !ready || res == nil {
		return nil, errors.New("internal error: hash join probed before its build side was finalized")
	}
	rl, err := res.Probe().Local(ctx)
	if err != nil {
		return nil, err
	}
	return &hjSpillProbeLocal{j: j, res: rl}, nil
}

// Process implements OperatorLocal.
func (l *hjSpillProbeLocal) Process(ctx context.Context, in arrow.RecordBatch) (out arrow.RecordBatch, err error) {
	j := l.j
	n := int(in.NumRows())
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, recoveredError(r)
		}
	}()
	keys := make([]arrow.Array, len(j.leftKeys))
	defer func() { releaseAll(keys) }()
	for k, ev := range j.leftKeys {
		a, err := ev.Eval(j.q, in)
		if err != nil {
			return nil, err
		}
		keys[k] = a
	}
	if j.intKey {
		l.ikeys, l.hashes, l.nulls = hjIntKeys(keys[0], n, l.ikeys, l.hashes, l.nulls)
	} else {
		l.rk.Encode(keys, n)
		l.hashes, l.nulls = l.rk.Hash, l.rk.AnyNull
	}
	var sel [hjSpillFanout][]int32
	var res []int32
	drop := j.dropsUnmatchedProbe()
	for i, h := range l.hashes[:n] {
		if len(l.nulls) > 0 && l.nulls[i] {
			if drop {
				continue
			}
			res = append(res, int32(i)) // matches nothing: join it now
			continue
		}
		if p := hjSpillPartOf(h, j.spill.level); j.spill.resident[p] {
			res = append(res, int32(i))
		} else {
			sel[p] = append(sel[p], int32(i))
		}
	}
	if err := j.writeParts(in, &sel, j.spill.probe[:], in.Schema()); err != nil {
		return nil, err
	}
	switch len(res) {
	case 0:
		return nil, nil
	case n:
		return l.res.Process(ctx, in)
	}
	rb, err := takeBatch(j.q.Alloc, in, res)
	if err != nil {
		return nil, err
	}
	defer rb.Release()
	return l.res.Process(ctx, rb)
}

// More implements Expander: the resident join's further pairs.
func (l *hjSpillProbeLocal) More(ctx context.Context) (arrow.RecordBatch, error) {
	if ex, ok := l.res.(Expander); ok {
		return ex.More(ctx)
	}
	return nil, nil
}

// Close implements OperatorLocal.
func (l *hjSpillProbeLocal) Close() { l.res.Close() }

// FlushTo implements StreamFlusher: a spilled join joins its partitions
// on disk; a join that tracks build matches emits its unmatched (right
// semi: matched) build rows.
func (p *hjProbe) FlushTo(ctx context.Context, open func() (*FlushChain, error)) error {
	j := p.j
	if j.spill.active.Load() {
		return j.flushSpilled(ctx, open)
	}
	if !j.tracksMatches() {
		return nil
	}
	out, err := j.flush(ctx)
	var c *FlushChain
	for k, b := range out {
		if err == nil && c == nil {
			c, err = open()
		}
		if err == nil {
			err = c.Emit(ctx, b)
		} else {
			b.Release()
		}
		if err != nil {
			for _, rest := range out[k+1:] {
				rest.Release()
			}
			return err
		}
	}
	return err
}

// flushSpilled finishes a spilled join: the resident join's unmatched
// build rows, then every partition pair on disk. The top-level join runs
// as many partitions at once as the parallelism and the memory allow;
// the joins of split partitions run theirs one at a time.
func (j *HashJoin) flushSpilled(ctx context.Context, open func() (*FlushChain, error)) error {
	sp := &j.spill
	sp.mu.Lock()
	if sp.flushed {
		sp.mu.Unlock()
		return nil
	}
	sp.flushed = true
	err := finishWriters(sp.probe[:], sp.probeFiles[:])
	res := sp.res
	sp.res = nil
	sp.mu.Unlock()
	if res != nil {
		if err == nil {
			err = res.Probe().(StreamFlusher).FlushTo(ctx, open)
		}
		res.Close()
	}
	if err != nil {
		return err
	}
	var parts []int
	need := int64(1)
	for p := range hjSpillFanout {
		if sp.buildFiles[p] != nil || sp.probeFiles[p] != nil {
			parts = append(parts, p)
		}
		if f := sp.buildFiles[p]; f != nil {
			need = max(need, 2*f.bytes+hjIndexBytesPerRow*f.rows)
		}
	}
	workers := 1
	if j.spill.level == 0 {
		room := j.q.spillThreshold() - j.q.Pool.Used()
		workers = int(max(1, min(int64(j.q.Parallelism()), int64(len(parts)), room/need)))
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int32
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *FlushChain
			chain := func() (*FlushChain, error) {
				if c == nil {
					var err error
					if c, err = open(); err != nil {
						c = nil
						return nil, err
					}
				}
				return c, nil
			}
			for cctx.Err() == nil {
				k := int(next.Add(1)) - 1
				if k >= len(parts) {
					return
				}
				p := parts[k]
				sp.mu.Lock()
				bf, pf := sp.buildFiles[p], sp.probeFiles[p]
				sp.buildFiles[p], sp.probeFiles[p] = nil, nil
				sp.mu.Unlock()
				err := j.joinPart(cctx, bf, pf, chain)
				bf.remove()
				pf.remove()
				if err != nil {
					cancel(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := context.Cause(cctx); err != nil && ctx.Err() == nil {
		return err
	}
	return ctx.Err()
}

// joinPart joins one partition pair and sends the result down chain().
func (j *HashJoin) joinPart(ctx context.Context, bf, pf *spillFile, chain func() (*FlushChain, error)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(r)
		}
	}()
	if pf == nil && !j.keepsUnmatchedBuild() || bf == nil && (pf == nil || j.dropsUnmatchedProbe()) {
		return nil // no row of this partition can reach the output
	}
	sub := j.subJoin()
	defer sub.Close()
	var files []*spillFile
	if bf != nil {
		files = append(files, bf)
	}
	if err := sub.buildFrom(ctx, files); err != nil {
		return err
	}
	bf.remove() // read into memory (or re-spilled one level down)
	probe := sub.Probe()
	l, err := probe.Local(ctx)
	if err != nil {
		return err
	}
	emit := func(out arrow.RecordBatch) error {
		if out.NumRows() == 0 {
			out.Release()
			return nil
		}
		c, err := chain()
		if err != nil {
			out.Release()
			return err
		}
		return c.Emit(ctx, out)
	}
	err = readAll(ctx, j.q, pf, func(b arrow.RecordBatch) error {
		out, err := l.Process(ctx, b)
		if err != nil {
			return err
		}
		if out != nil {
			if err := emit(out); err != nil {
				return err
			}
		}
		ex, ok := l.(Expander)
		for ok {
			out, err := ex.More(ctx)
			if err != nil || out == nil {
				return err
			}
			if err := emit(out); err != nil {
				return err
			}
		}
		return nil
	})
	l.Close()
	if err != nil {
		return err
	}
	return probe.(StreamFlusher).FlushTo(ctx, chain)
}

// closeSpill removes the join's spill files and frees the resident join.
// Idempotent.
func (j *HashJoin) closeSpill() {
	sp := &j.spill
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for p := range hjSpillFanout {
		for _, pw := range []*hjPartWriter{sp.build[p], sp.probe[p]} {
			if pw != nil && pw.w != nil {
				pw.w.abort()
				pw.w = nil
			}
		}
		sp.buildFiles[p].remove()
		sp.probeFiles[p].remove()
		sp.buildFiles[p], sp.probeFiles[p] = nil, nil
	}
	if sp.res != nil {
		sp.res.Close()
		sp.res = nil
	}
}
