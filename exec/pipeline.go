package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// DefaultBatchSize is the number of rows operators aim for per batch.
const DefaultBatchSize = 8192

// QueryContext holds one query's runtime resources, shared by its operators.
type QueryContext struct {
	Alloc     memory.Allocator // all Arrow buffers of the query come from here
	Pool      *MemoryPool
	BatchSize int
	Kernels   *kernels.Registry
	Backend   string // preferred kernel backend; "" = cpu
	// SpillDir is where the query's spill directory goes ("" = the system
	// temporary directory). Set it before the query runs.
	SpillDir string
	// SpillThreshold, when > 0, is the bytes held past which operators
	// spill (default: a share of the memory limit); < 0 or NoSpill turns
	// spilling off, so the limit fails the query instead.
	SpillThreshold int64
	NoSpill        bool

	// Exchanges, in a task of a distributed stage, gives each Exchange
	// leaf of the plan the source it reads (see exchange.go); nil outside.
	Exchanges func(ex *planner.Exchange) (Source, error)
	// SplitQueues, if set, gives each scan the queue it claims splits
	// from, shared by all tasks of the stage; nil: a scan claims its own.
	SplitQueues func(s *planner.Scan) SplitSource

	spillOnce sync.Once
	spill     *SpillManager

	parallelism atomic.Int32
	mu          sync.Mutex
	running     map[*runningPipeline]bool
}

// NewQueryContext returns a context with an accounting allocator over
// parent (nil: the Go allocator), a memory limit (0: none) and a parallelism
// (<= 0: GOMAXPROCS).
func NewQueryContext(parent memory.Allocator, limit int64, parallelism int) *QueryContext {
	if parent == nil {
		parent = memory.NewGoAllocator()
	}
	pool := NewMemoryPool(limit)
	q := &QueryContext{Alloc: NewAllocator(parent, pool), Pool: pool, BatchSize: DefaultBatchSize, Kernels: kernels.Default, running: map[*runningPipeline]bool{}}
	q.SetParallelism(parallelism)
	return q
}

// KernelContext returns the context kernels run with.
func (q *QueryContext) KernelContext() *kernels.Context { return &kernels.Context{Alloc: q.Alloc} }

// Parallelism returns the current number of drivers per pipeline.
func (q *QueryContext) Parallelism() int { return int(q.parallelism.Load()) }

// SetParallelism changes the number of drivers of the running pipelines and
// of those that start later. Drivers are added at once; surplus drivers
// leave at their next split boundary. Safe to call at any time.
func (q *QueryContext) SetParallelism(n int) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	q.parallelism.Store(int32(n))
	q.mu.Lock()
	rps := make([]*runningPipeline, 0, len(q.running))
	for rp := range q.running {
		rps = append(rps, rp)
	}
	q.mu.Unlock()
	for _, rp := range rps {
		rp.resize()
	}
}

// OpStats are the measurements of one operator, for EXPLAIN ANALYZE.
type OpStats struct {
	RowsIn, RowsOut atomic.Int64
	Nanos           atomic.Int64
	Batches         atomic.Int64
	PeakMem         atomic.Int64
	// SpillBytes and SpillFiles count what the operator wrote to disk.
	SpillBytes, SpillFiles atomic.Int64
}

// Pipeline is a source, a chain of streaming operators and a sink, run by
// any number of drivers. MaxDrivers > 0 caps the drivers (1 for pipelines
// whose output order matters).
type Pipeline struct {
	Name       string
	Source     Source
	Ops        []Operator
	Sink       Sink
	MaxDrivers int
	// Stats, parallel to Ops plus one for the source (index 0) and the
	// sink (last); nil entries are not measured.
	SourceStats *OpStats
	OpStats     []*OpStats
	SinkStats   *OpStats

	// DriversStarted counts the drivers that ran, for tests and EXPLAIN.
	DriversStarted atomic.Int64
	// MaxConcurrent is the most drivers that ran at once.
	MaxConcurrent atomic.Int64
}

// Doner is implemented by operators that can tell the pipeline no more
// input is needed (a satisfied LIMIT). Done must be safe for concurrent use.
type Doner interface{ Done() bool }

// done reports whether an operator needs no more input.
func (p *Pipeline) done() bool {
	for _, op := range p.Ops {
		if d, ok := op.(Doner); ok && d.Done() {
			return true
		}
	}
	return false
}

type runningPipeline struct {
	q      *QueryContext
	p      *Pipeline
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu      sync.Mutex
	active  int
	srcDone bool
	wg      sync.WaitGroup
}

func (rp *runningPipeline) target() int {
	t := rp.q.Parallelism()
	if rp.p.MaxDrivers > 0 && t > rp.p.MaxDrivers {
		t = rp.p.MaxDrivers
	}
	if t < 1 {
		t = 1
	}
	return t
}

// resize starts drivers up to the target; surplus drivers notice on their own.
func (rp *runningPipeline) resize() {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	for !rp.srcDone && rp.active < rp.target() && rp.ctx.Err() == nil {
		rp.active++
		if int64(rp.active) > rp.p.MaxConcurrent.Load() {
			rp.p.MaxConcurrent.Store(int64(rp.active))
		}
		rp.wg.Add(1)
		go rp.drive()
	}
}

// shouldLeave reports (and records) whether this driver is surplus.
func (rp *runningPipeline) shouldLeave() bool {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.active > rp.target() {
		rp.active--
		return true
	}
	return false
}

func (rp *runningPipeline) drive() {
	defer rp.wg.Done()
	rp.p.DriversStarted.Add(1)
	left, err := rp.run()
	if err != nil {
		rp.cancel(err)
	}
	if !left {
		rp.mu.Lock()
		rp.active--
		rp.srcDone = true
		rp.mu.Unlock()
	}
}

// run is one driver's loop. It reports whether the driver left early
// (surplus) rather than finishing its input.
func (rp *runningPipeline) run() (left bool, err error) {
	ctx := rp.ctx
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(r)
		}
	}()
	src, err := rp.p.Source.Local(ctx)
	if err != nil {
		return false, err
	}
	defer src.Close()
	ops := make([]OperatorLocal, len(rp.p.Ops))
	for i, op := range rp.p.Ops {
		if ops[i], err = op.Local(ctx); err != nil {
			return false, err
		}
		defer ops[i].Close()
	}
	sink, err := rp.p.Sink.Local(ctx)
	if err != nil {
		return false, err
	}
	for {
		if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
			return false, err
		}
		if src.Idle() && rp.shouldLeave() {
			return true, sink.Combine(ctx)
		}
		t0 := time.Now()
		b, err := src.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, err
		}
		record(rp.p.SourceStats, 0, b, t0)
		if err := rp.push(ctx, ops, 0, sink, b); err != nil {
			return false, err
		}
		if rp.p.done() {
			break // a LIMIT has all its rows: stop reading
		}
	}
	return false, sink.Combine(ctx)
}

// push sends b (owned) through ops[from:] into sink.
func (rp *runningPipeline) push(ctx context.Context, ops []OperatorLocal, from int, sink SinkLocal, b arrow.RecordBatch) error {
	for i := from; i < len(ops) && b != nil; i++ {
		if b.NumRows() == 0 {
			b.Release()
			return nil
		}
		t0 := time.Now()
		in := b.NumRows()
		nb, err := ops[i].Process(ctx, b)
		b.Release()
		if err != nil {
			return err
		}
		var st *OpStats
		if i < len(rp.p.OpStats) {
			st = rp.p.OpStats[i]
		}
		record(st, in, nb, t0)
		if ex, ok := ops[i].(Expander); ok {
			return rp.pushExpanded(ctx, ops, i, sink, nb, ex, st)
		}
		b = nb
	}
	if b == nil {
		return nil
	}
	defer b.Release()
	if b.NumRows() == 0 {
		return nil
	}
	t0 := time.Now()
	err := sink.Consume(ctx, b)
	record(rp.p.SinkStats, b.NumRows(), nil, t0)
	return err
}

// pushExpanded sends first (owned, may be nil) and then every batch ex
// (ops[i]) still has for its last input through ops[i+1:] into sink.
func (rp *runningPipeline) pushExpanded(ctx context.Context, ops []OperatorLocal, i int, sink SinkLocal, first arrow.RecordBatch, ex Expander, st *OpStats) error {
	if err := rp.push(ctx, ops, i+1, sink, first); err != nil {
		return err
	}
	for !rp.p.done() {
		t0 := time.Now()
		b, err := ex.More(ctx)
		if err != nil || b == nil {
			return err
		}
		record(st, 0, b, t0)
		if err := rp.push(ctx, ops, i+1, sink, b); err != nil {
			return err
		}
	}
	return nil
}

func record(st *OpStats, in int64, out arrow.RecordBatch, t0 time.Time) {
	if st == nil {
		return
	}
	st.Nanos.Add(int64(time.Since(t0)))
	st.RowsIn.Add(in)
	st.Batches.Add(1)
	if out != nil {
		st.RowsOut.Add(out.NumRows())
	}
}

// flush drives the rows that Flusher operators emit after the input ended.
func (rp *runningPipeline) flush() (err error) {
	ctx := rp.ctx
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(r)
		}
	}()
	for i, op := range rp.p.Ops {
		if sf, ok := op.(StreamFlusher); ok {
			if err := rp.flushStream(ctx, i, sf); err != nil {
				return err
			}
			continue
		}
		f, ok := op.(Flusher)
		if !ok {
			continue
		}
		t0 := time.Now()
		batches, err := f.Flush(ctx)
		if err != nil {
			return err
		}
		if i < len(rp.p.OpStats) && rp.p.OpStats[i] != nil {
			st := rp.p.OpStats[i]
			st.Nanos.Add(int64(time.Since(t0)))
			for _, b := range batches {
				st.RowsOut.Add(b.NumRows())
				st.Batches.Add(1)
			}
		}
		if len(batches) == 0 {
			continue
		}
		ops := make([]OperatorLocal, len(rp.p.Ops))
		for j := i + 1; j < len(rp.p.Ops); j++ {
			if ops[j], err = rp.p.Ops[j].Local(ctx); err != nil {
				return err
			}
			defer ops[j].Close()
		}
		sink, err := rp.p.Sink.Local(ctx)
		if err != nil {
			return err
		}
		for k, b := range batches {
			if err := rp.push(ctx, ops, i+1, sink, b); err != nil {
				for _, rest := range batches[k+1:] {
					rest.Release()
				}
				return err
			}
		}
		if err := sink.Combine(ctx); err != nil {
			return err
		}
	}
	return nil
}

// FlushChain is one instance of the operators after a StreamFlusher and
// of the sink; batches emitted into it go down the pipeline at once. Not
// safe for concurrent use.
type FlushChain struct {
	rp   *runningPipeline
	from int
	ops  []OperatorLocal
	sink SinkLocal
	st   *OpStats
}

// Emit sends b (owned) down the chain.
func (c *FlushChain) Emit(ctx context.Context, b arrow.RecordBatch) error {
	if c.st != nil {
		c.st.RowsOut.Add(b.NumRows())
		c.st.Batches.Add(1)
	}
	return c.rp.push(ctx, c.ops, c.from, c.sink, b)
}

// flushStream drives the rows a StreamFlusher (operator i) emits through
// the rest of the pipeline as they come.
func (rp *runningPipeline) flushStream(ctx context.Context, i int, f StreamFlusher) error {
	var st *OpStats
	if i < len(rp.p.OpStats) {
		st = rp.p.OpStats[i]
	}
	var mu sync.Mutex
	var chains []*FlushChain
	open := func() (*FlushChain, error) {
		c := &FlushChain{rp: rp, from: i + 1, ops: make([]OperatorLocal, len(rp.p.Ops)), st: st}
		mu.Lock()
		chains = append(chains, c)
		mu.Unlock()
		for j := i + 1; j < len(rp.p.Ops); j++ {
			l, err := rp.p.Ops[j].Local(ctx)
			if err != nil {
				return nil, err
			}
			c.ops[j] = l
		}
		sink, err := rp.p.Sink.Local(ctx)
		if err != nil {
			return nil, err
		}
		c.sink = sink
		return c, nil
	}
	err := f.FlushTo(ctx, open)
	for _, c := range chains {
		if err == nil && c.sink != nil {
			err = c.sink.Combine(ctx)
		}
		for _, l := range c.ops {
			if l != nil {
				l.Close()
			}
		}
	}
	return err
}

// Run executes the pipeline to completion with the query's parallelism,
// which may change while it runs; then it flushes and finalizes the sink.
func (q *QueryContext) Run(ctx context.Context, p *Pipeline) error {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	rp := &runningPipeline{q: q, p: p, ctx: cctx, cancel: cancel}
	q.mu.Lock()
	q.running[rp] = true
	q.mu.Unlock()
	rp.resize()
	rp.wg.Wait()
	q.mu.Lock()
	delete(q.running, rp)
	q.mu.Unlock()
	if err := context.Cause(cctx); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return err
	}
	if err := rp.flush(); err != nil {
		return err
	}
	return finalize(ctx, p.Sink)
}

// finalize runs a sink's Finalize, turning a memory-limit panic from an
// allocation into an error.
func finalize(ctx context.Context, s Sink) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = recoveredError(r)
		}
	}()
	return s.Finalize(ctx)
}

func recoveredError(r any) error {
	if m, ok := r.(memLimitPanic); ok {
		return m.err
	}
	if e, ok := r.(error); ok && errors.Is(e, context.Canceled) {
		return e
	}
	return fmt.Errorf("internal error: %v\n%s", r, debug.Stack())
}
