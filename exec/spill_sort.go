package exec

import (
	"context"
	"io"

	"github.com/apache/arrow-go/v18/arrow"
)

// External merge sort. A driver whose rows would push the query past its
// spill threshold sorts them into a run and writes the run, in order, to a
// spill file. Finalize then merges the files and the runs still in memory
// with a k-way merge that streams its output; when there are more runs
// than can be read at once, groups of them are merged into longer runs
// first.

// sortMaxFanIn bounds the runs merged at once (open files, one batch each
// in memory).
const sortMaxFanIn = 64

// sortSpill is the spill state of a Sort, guarded by Sort.mu.
type sortSpill struct {
	stats  *OpStats
	files  []*spillFile // sorted runs on disk
	merger *sortMerger  // the streaming output, when something spilled
	closed []*spillFile // files handed to the merger, removed at Close
}

// SetStats gives the sort the stats its spilling is counted in.
func (s *Sort) SetStats(st *OpStats) { s.spill.stats = st }

// BatchBytes estimates the memory of b's buffers: whole buffers, so a
// slice counts what it points into (an estimate on the high side).
func BatchBytes(b arrow.RecordBatch) int64 {
	n := int64(0)
	for _, c := range b.Columns() {
		n += dataBytes(c.Data())
	}
	return n
}

func dataBytes(d arrow.ArrayData) int64 {
	n := int64(0)
	for _, b := range d.Buffers() {
		if b != nil {
			n += int64(b.Len())
		}
	}
	for _, c := range d.Children() {
		n += dataBytes(c)
	}
	return n
}

// maybeSpill writes the local's rows to a sorted spill file when the query
// is over its spill threshold.
func (l *sortLocal) maybeSpill(ctx context.Context, in arrow.RecordBatch) error {
	s := l.s
	l.data += BatchBytes(in)
	if !s.q.shouldSpill(l.data + l.st.held) {
		return nil
	}
	f, err := s.spillStore(ctx, l.st)
	if err != nil {
		return err
	}
	l.st = newRowStore("sort", s.specs)
	l.data = 0
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		f.remove()
		return nil
	}
	s.spill.files = append(s.spill.files, f)
	return nil
}

// spillStore sorts st (consumed) and writes it to a spill file.
func (s *Sort) spillStore(ctx context.Context, st *rowStore) (*spillFile, error) {
	run, err := sortStore(s.q, st)
	if err != nil {
		st.release(s.q)
		return nil, err
	}
	out, err := finishRuns(ctx, s.q, s.specs, []*sortedRun{run}, schemaOf(s.input), -1, 0, "sort")
	if err != nil {
		return nil, err
	}
	defer out.release()
	// The batches gathered only to be written do not count: spilling must
	// work at the limit.
	out.q = &QueryContext{Alloc: spillAlloc, Pool: s.q.Pool, BatchSize: s.q.BatchSize}
	return s.writeRun(ctx, out.nextBatch)
}

// writeRun writes the batches next yields (until io.EOF) to a spill file.
func (s *Sort) writeRun(ctx context.Context, next func() (arrow.RecordBatch, error)) (*spillFile, error) {
	w, err := s.q.newSpillWriter("sort", schemaOf(s.input), s.spill.stats)
	if err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			w.abort()
			return nil, context.Cause(ctx)
		}
		b, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			w.abort()
			return nil, err
		}
		err = w.write(b)
		b.Release()
		if err != nil {
			w.abort()
			return nil, err
		}
	}
	return w.finish()
}

// finalizeSpilled sets up the merge of the spilled runs and the runs in
// memory (consumed). The caller holds s.mu.
func (s *Sort) finalizeSpilled(ctx context.Context) error {
	var ins []*mergeInput
	cleanup := func() {
		for _, in := range ins {
			in.close()
		}
	}
	for _, r := range s.runs {
		out, err := finishRuns(ctx, s.q, s.specs, []*sortedRun{r}, schemaOf(s.input), -1, 0, "sort")
		if err != nil {
			cleanup()
			return err
		}
		ins = append(ins, &mergeInput{next: out.nextBatch, done: out.release})
	}
	s.runs = nil
	files := s.spill.files
	s.spill.files = nil
	s.spill.closed = append(s.spill.closed, files...)
	// Too many runs to read at once: merge groups of them into longer runs.
	fanIn := s.fanIn(files)
	for len(files) > 1 && len(files)+len(ins) > fanIn {
		group := files[:max(2, min(fanIn, len(files)))]
		files = files[len(group):]
		m, err := s.newMerger(group, nil)
		if err != nil {
			cleanup()
			return err
		}
		f, err := s.writeRun(ctx, func() (arrow.RecordBatch, error) { return m.next(ctx) })
		m.close()
		removeFiles(group)
		if err != nil {
			cleanup()
			return err
		}
		s.spill.closed = append(s.spill.closed, f)
		files = append(files, f)
	}
	m, err := s.newMerger(files, ins)
	if err != nil {
		return err
	}
	s.spill.merger = m
	return nil
}

// fanIn picks how many runs to merge at once: as many as fit in half the
// spill threshold with a batch of each in memory, within [2, sortMaxFanIn].
func (s *Sort) fanIn(files []*spillFile) int {
	t := s.q.spillThreshold()
	rows, bytes := int64(0), int64(0)
	for _, f := range files {
		rows += f.rows
		bytes += f.bytes
	}
	if t <= 0 || rows == 0 {
		return sortMaxFanIn
	}
	perBatch := 2 * bytes / rows * int64(max(s.q.BatchSize, 1)) // the batch and its keys
	return int(max(2, min(sortMaxFanIn, t/2/max(perBatch, 1))))
}

// mergeInput is one sorted stream being merged: its current batch and
// that batch's sort keys.
type mergeInput struct {
	next    func() (arrow.RecordBatch, error)
	done    func()
	cur     arrow.RecordBatch
	keyArrs []arrow.Array
	keys    []keyCol
	pos     int
	slot    uint32 // index of cur in the merger's batch list
	eof     bool
}

func (in *mergeInput) drop() {
	if in.cur != nil {
		in.cur.Release()
		in.cur = nil
	}
	releaseAll(in.keyArrs)
	in.keyArrs = nil
}

func (in *mergeInput) close() {
	in.drop()
	if in.done != nil {
		in.done()
		in.done = nil
	}
}

// sortMerger merges sorted streams into batches of BatchSize rows.
type sortMerger struct {
	s       *Sort
	ins     []*mergeInput
	heap    []int
	list    []arrow.RecordBatch // batches the pending output refers to
	retired []arrow.RecordBatch
}

// newMerger opens files and starts merging them with the streams ins.
func (s *Sort) newMerger(files []*spillFile, ins []*mergeInput) (*sortMerger, error) {
	m := &sortMerger{s: s}
	for _, f := range files {
		r, err := f.open(s.q.Alloc)
		if err != nil {
			for _, in := range ins {
				in.close()
			}
			m.close()
			return nil, err
		}
		m.ins = append(m.ins, &mergeInput{next: r.next, done: r.close})
	}
	m.ins = append(m.ins, ins...)
	for i := range m.ins {
		if err := m.advance(i); err != nil {
			m.close()
			return nil, err
		}
		if !m.ins[i].eof {
			m.heap = append(m.heap, i)
		}
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return m, nil
}

// advance loads input i's next non-empty batch (the current one moves to
// the retired list, still referenced by the pending output).
func (m *sortMerger) advance(i int) error {
	in := m.ins[i]
	if in.cur != nil {
		m.retired = append(m.retired, in.cur)
		in.cur = nil
		releaseAll(in.keyArrs)
		in.keyArrs = nil
	}
	for {
		b, err := in.next()
		if err == io.EOF {
			in.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if b.NumRows() == 0 {
			b.Release()
			continue
		}
		keys, err := evalAll(m.s.q, m.s.evs, b)
		if err != nil {
			b.Release()
			return err
		}
		if in.keys == nil {
			in.keys = make([]keyCol, len(m.s.specs))
		}
		for k := range in.keys {
			in.keys[k].reset()
			if err := in.keys[k].appendArray(m.s.specs[k].kind, keys[k]); err != nil {
				releaseAll(keys)
				b.Release()
				return err
			}
		}
		in.cur, in.keyArrs, in.pos = b, keys, 0
		in.slot = uint32(len(m.list))
		m.list = append(m.list, b)
		return nil
	}
}

func (m *sortMerger) less(a, b int) bool {
	x, y := m.ins[a], m.ins[b]
	if c := cmpRows(m.s.specs, x.keys, x.pos, y.keys, y.pos, 0); c != 0 {
		return c < 0
	}
	return a < b
}

func (m *sortMerger) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			c = r
		}
		if !m.less(h[c], h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// next returns the next merged batch, or io.EOF.
func (m *sortMerger) next(ctx context.Context) (arrow.RecordBatch, error) {
	if len(m.heap) == 0 {
		return nil, io.EOF
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	bs := max(m.s.q.BatchSize, 1)
	refs := make([]rowRef, 0, bs)
	for len(refs) < bs && len(m.heap) > 0 {
		i := m.heap[0]
		in := m.ins[i]
		refs = append(refs, rowRef{in.slot, uint32(in.pos)})
		in.pos++
		if in.pos == int(in.cur.NumRows()) {
			if err := m.advance(i); err != nil {
				return nil, err
			}
			if in.eof {
				m.heap[0] = m.heap[len(m.heap)-1]
				m.heap = m.heap[:len(m.heap)-1]
			}
		}
		if len(m.heap) > 0 {
			m.down(0)
		}
	}
	schema := m.list[0].Schema()
	out, err := gatherBatch(m.s.q.Alloc, schema, columnGatherers(schema, m.list), refs)
	// The output is built: renumber the live batches and free the others.
	for _, b := range m.retired {
		b.Release()
	}
	m.retired = m.retired[:0]
	m.list = m.list[:0]
	for _, in := range m.ins {
		if in.cur != nil {
			in.slot = uint32(len(m.list))
			m.list = append(m.list, in.cur)
		}
	}
	return out, err
}

func (m *sortMerger) close() {
	for _, in := range m.ins {
		in.close()
	}
	for _, b := range m.retired {
		b.Release()
	}
	m.ins, m.retired, m.list, m.heap = nil, nil, nil, nil
}
