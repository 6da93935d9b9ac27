package exec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// Exchanges move rows between the stages of a distributed plan
// (planner.Fragment). A stage runs as tasks, each a Plan built with
// Build over the stage's root: its Exchange leaves read a BatchQueue
// (QueryContext.Exchanges says which), its output goes to a PartitionSink
// that spreads the rows over the consumer's tasks' queues, and its scans
// claim splits from queues shared by all tasks of the stage
// (QueryContext.SplitQueues). Here the queues are in memory; across
// processes the same queues sit at both ends of a gRPC stream.

// SplitSource hands out the splits of one scan to every task of a stage
// that reads it: a split goes to whichever task asks first, none is bound
// to a task up front. Implementations are safe for concurrent use.
type SplitSource interface {
	// Claim returns the index of the next split below n, false when none
	// is left; an error (a lost coordinator) fails the scan.
	Claim(n int) (int, bool, error)
}

// SplitQueue is the in-process SplitSource.
type SplitQueue struct {
	next  atomic.Int64
	total atomic.Int64 // the scan's split count, once a claim said it
}

// Claim implements SplitSource.
func (s *SplitQueue) Claim(n int) (int, bool, error) {
	s.total.Store(int64(n))
	i := s.next.Add(1) - 1
	return int(i), i < int64(n), nil
}

// Progress returns how many of the scan's splits have been handed out,
// and how many it has (0, 0 before the first claim).
func (s *SplitQueue) Progress() (claimed, total int64) {
	total = s.total.Load()
	return min(s.next.Load(), total), total
}

// SchemaOf is the Arrow schema of batches of cols, as operators make them.
func SchemaOf(cols []planner.Column) *arrow.Schema { return schemaOf(cols) }

// BatchQueue carries batches from the tasks of a producing stage to one
// consumer task. It holds up to a byte limit (SetLimit): a Push that
// finds it full waits for the consumer (back-pressure), so a slow
// consumer slows its producers instead of making them buffer everything.
// Producers call Done once each, and the consumer sees the end after the
// last Done (or the first error). Safe for concurrent use.
type BatchQueue struct {
	mu        sync.Mutex
	cond      *sync.Cond // a batch came, one left, or the queue ended
	batches   []arrow.RecordBatch
	sizes     []int64
	bytes     int64 // queued
	limit     int64 // Push waits while bytes >= limit (0: never)
	producers int
	err       error
	aborted   bool
	frozen    bool
	rows      atomic.Int64
	waits     atomic.Int64
}

// DefaultQueueBytes is the limit NewBatchQueue gives the queues of
// exchanges: enough for a few batches of wide rows per producer-consumer
// pair. Tests lower it (before any query runs) to stress back-pressure.
var DefaultQueueBytes int64 = 8 << 20

// NewBatchQueue returns a queue fed by producers tasks, holding up to
// DefaultQueueBytes.
func NewBatchQueue(producers int) *BatchQueue {
	q := &BatchQueue{producers: producers, limit: DefaultQueueBytes}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// SetLimit sets how many bytes the queue holds before Push waits (0:
// unbounded). One batch is always let in when the queue is below the
// limit, however large. Call before use.
func (q *BatchQueue) SetLimit(bytes int64) { q.limit = bytes }

// Push adds b (owned by the queue from now on), waiting while the queue
// is full; it fails only when ctx ends first. A queue whose consumer is
// gone (Abort) or that failed drops b.
func (q *BatchQueue) Push(ctx context.Context, b arrow.RecordBatch) error {
	size := BatchBytes(b)
	q.mu.Lock()
	defer q.mu.Unlock()
	// A frozen queue holds the push; a superseded attempt (its ctx
	// ended) pushes nothing.
	if err := waitWhile(ctx, &q.mu, q.cond, func() bool { return q.frozen }); err != nil {
		b.Release()
		return err
	}
	if q.limit > 0 && q.bytes >= q.limit && !q.aborted && q.err == nil {
		q.waits.Add(1)
		stop := context.AfterFunc(ctx, func() {
			q.mu.Lock()
			q.cond.Broadcast()
			q.mu.Unlock()
		})
		for q.bytes >= q.limit && !q.aborted && q.err == nil && ctx.Err() == nil {
			q.cond.Wait()
		}
		stop()
		if err := ctx.Err(); err != nil && !q.aborted && q.err == nil {
			b.Release()
			return context.Cause(ctx)
		}
	}
	if q.aborted || q.err != nil {
		b.Release()
		return nil
	}
	q.rows.Add(b.NumRows())
	q.batches = append(q.batches, b)
	q.sizes = append(q.sizes, size)
	q.bytes += size
	q.cond.Broadcast()
	return nil
}

// waitWhile waits on c, whose lock mu the caller holds, while blocked
// reports true (a frozen output) and ctx lives; ctx's cause if it ended.
func waitWhile(ctx context.Context, mu *sync.Mutex, c *sync.Cond, blocked func() bool) error {
	if !blocked() {
		return context.Cause(ctx)
	}
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		c.Broadcast()
		mu.Unlock()
	})
	defer stop()
	for blocked() && ctx.Err() == nil {
		c.Wait()
	}
	return context.Cause(ctx)
}

// Freeze holds every later Push (until Thaw, or its context ends), if
// nothing has been pushed and the producer has not finished, and reports
// whether it did: the output queue of a task that has sent nothing can
// pass to the task's next attempt without its consumer seeing anything
// of the old one.
func (q *BatchQueue) Freeze() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.aborted {
		return true // the consumer is gone: nothing more reaches it anyway
	}
	if q.rows.Load() > 0 || q.producers <= 0 || q.err != nil {
		return false
	}
	q.frozen = true
	return true
}

// Thaw undoes Freeze: held Pushes go on.
func (q *BatchQueue) Thaw() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.frozen = false
	q.cond.Broadcast()
}

// Waits returns how many Pushes found the queue full and waited.
func (q *BatchQueue) Waits() int64 { return q.waits.Load() }

// AddProducer adds a producer to a queue that is still open (a running
// stage grew a task); false if every producer had already finished, so
// the consumer has seen the end.
func (q *BatchQueue) AddProducer() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.producers <= 0 || q.aborted || q.err != nil {
		return false
	}
	q.producers++
	return true
}

// Done records that one producer has finished, with its error if any.
func (q *BatchQueue) Done(err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.producers--
	if err != nil && q.err == nil {
		q.err = err
	}
	q.cond.Broadcast()
}

// Abort drops what is queued and what comes later (the consumer is gone).
func (q *BatchQueue) Abort() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.aborted = true
	for _, b := range q.batches {
		b.Release()
	}
	q.batches, q.sizes, q.bytes = nil, nil, 0
	q.cond.Broadcast()
}

// Rows returns the number of rows pushed so far.
func (q *BatchQueue) Rows() int64 { return q.rows.Load() }

// Pop waits for a batch (owned by the caller); io.EOF once every producer
// is done and the queue is empty.
func (q *BatchQueue) Pop(ctx context.Context) (arrow.RecordBatch, error) {
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		switch {
		case q.err != nil:
			return nil, q.err
		case len(q.batches) > 0:
			b := q.batches[0]
			q.batches[0] = nil
			q.batches = q.batches[1:]
			q.bytes -= q.sizes[0]
			q.sizes = q.sizes[1:]
			q.cond.Broadcast() // room for a waiting Push
			return b, nil
		case q.producers <= 0 || q.aborted:
			return nil, io.EOF
		case ctx.Err() != nil:
			return nil, context.Cause(ctx)
		}
		q.cond.Wait()
	}
}

// Source returns a Source whose drivers take the queue's batches.
func (q *BatchQueue) Source() Source { return queueSource{q} }

type queueSource struct{ q *BatchQueue }

func (s queueSource) Local(context.Context) (SourceLocal, error) { return queueLocal(s), nil }
func (s queueSource) Close()                                     {}

type queueLocal struct{ q *BatchQueue }

func (l queueLocal) Next(ctx context.Context) (arrow.RecordBatch, error) { return l.q.Pop(ctx) }
func (l queueLocal) Idle() bool                                          { return true }
func (l queueLocal) Close()                                              {}

// PartitionSink sends a task's output to the queues of its consumer's
// tasks: by the hash of key columns (rows of one key always reach the
// same task, whatever the producer), to every task (broadcast), to the
// only one (gather) or in turn (round robin). Finalize does not close the
// queues: the stage runner calls Done once the task has finished.
type PartitionSink struct {
	q       *QueryContext
	kind    planner.ExchangeKind
	keys    []int          // column indexes of the hash keys
	types   []kernels.Type // their types
	targets []*BatchQueue
	kept    *KeptBuffer // instead of targets, an output kept for every consumer (NewKeptSink)
	rr      atomic.Uint64
}

// NewPartitionSink returns the sink of a stage task whose output (cols)
// goes to targets, one queue per consumer task, as kind says.
func NewPartitionSink(q *QueryContext, kind planner.ExchangeKind, keys []planner.ColumnID, cols []planner.Column, targets []*BatchQueue) (*PartitionSink, error) {
	if len(targets) == 0 {
		return nil, errors.New("internal error: an exchange without consumer tasks")
	}
	if kind == planner.ExchangeGather && len(targets) != 1 {
		return nil, fmt.Errorf("internal error: a gather to %d tasks", len(targets))
	}
	s, err := newPartitionSink(q, kind, keys, cols)
	if err != nil {
		return nil, err
	}
	s.targets = targets
	return s, nil
}

func newPartitionSink(q *QueryContext, kind planner.ExchangeKind, keys []planner.ColumnID, cols []planner.Column) (*PartitionSink, error) {
	s := &PartitionSink{q: q, kind: kind}
	for _, k := range keys {
		i := planner.IndexOf(cols, k)
		if i < 0 {
			return nil, fmt.Errorf("internal error: hash key #%d is not an output column", k)
		}
		s.keys = append(s.keys, i)
		s.types = append(s.types, cols[i].Type)
	}
	if kind == planner.ExchangeHash && len(s.keys) == 0 {
		return nil, errors.New("internal error: a hash exchange without keys")
	}
	return s, nil
}

// Local implements Sink.
func (s *PartitionSink) Local(context.Context) (SinkLocal, error) { return &partitionLocal{s: s}, nil }

// Finalize implements Sink.
func (s *PartitionSink) Finalize(context.Context) error { return nil }

// Close implements Sink.
func (s *PartitionSink) Close() {}

type partitionLocal struct {
	s   *PartitionSink
	rk  RowKeys
	sel [][]int32
}

// Combine implements SinkLocal.
func (l *partitionLocal) Combine(context.Context) error { return nil }

// Consume implements SinkLocal.
func (l *partitionLocal) Consume(ctx context.Context, in arrow.RecordBatch) error {
	s := l.s
	n := int(in.NumRows())
	if n == 0 {
		return nil
	}
	switch s.kind {
	case planner.ExchangeGather:
		in.Retain()
		return s.targets[0].Push(ctx, in)
	case planner.ExchangeBroadcast:
		if s.kept != nil {
			in.Retain()
			return s.kept.Push(ctx, in)
		}
		for _, t := range s.targets {
			in.Retain()
			if err := t.Push(ctx, in); err != nil {
				return err
			}
		}
		return nil
	case planner.ExchangeRoundRobin:
		in.Retain()
		return s.targets[int(s.rr.Add(1)%uint64(len(s.targets)))].Push(ctx, in)
	}
	keys := make([]arrow.Array, len(s.keys))
	defer releaseAll(keys)
	for i, k := range s.keys {
		a, err := hashKeyArray(s.q, in.Column(k), s.types[i])
		if err != nil {
			return err
		}
		keys[i] = a
	}
	l.rk.Encode(keys, n)
	if s.kept != nil {
		return l.keepBuckets(ctx, in, n)
	}
	t := len(s.targets)
	if cap(l.sel) < t {
		l.sel = make([][]int32, t)
	}
	l.sel = l.sel[:t]
	for i := range l.sel {
		l.sel[i] = l.sel[i][:0]
	}
	for i, h := range l.rk.Hash[:n] {
		task := ExchangeTask(h, t)
		l.sel[task] = append(l.sel[task], int32(i))
	}
	for task, sel := range l.sel {
		switch len(sel) {
		case 0:
			continue
		case n:
			in.Retain()
			if err := s.targets[task].Push(ctx, in); err != nil {
				return err
			}
			continue
		}
		b, err := takeBatch(s.q.Alloc, in, sel)
		if err != nil {
			return err
		}
		if err := s.targets[task].Push(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// keepBuckets puts the n rows of in, whose key hashes are in l.rk, into
// the kept output ordered by bucket.
func (l *partitionLocal) keepBuckets(ctx context.Context, in arrow.RecordBatch, n int) error {
	off := make([]int32, ExchangeBuckets+1)
	bucket := make([]uint8, n)
	for i, h := range l.rk.Hash[:n] {
		b := ExchangeBucket(h)
		bucket[i] = uint8(b)
		off[b+1]++
	}
	for b := range ExchangeBuckets {
		off[b+1] += off[b]
	}
	sel := make([]int32, n)
	next := append([]int32(nil), off[:ExchangeBuckets]...)
	sorted := true
	for i, b := range bucket {
		sel[next[b]] = int32(i)
		sorted = sorted && next[b] == int32(i)
		next[b]++
	}
	if sorted {
		in.Retain()
		return l.s.kept.PushBuckets(ctx, in, off)
	}
	b, err := takeBatch(l.s.q.Alloc, in, sel)
	if err != nil {
		return err
	}
	return l.s.kept.PushBuckets(ctx, b, off)
}

// ExchangeTask maps a row's key hash to one of tasks consumer tasks: a
// virtual bucket (0..JoinPartitions-1) of the remixed hash, buckets spread
// in contiguous ranges, so adding tasks moves whole buckets. The hash is
// remixed first: the consumers' hash tables (joins, aggregation) place
// keys by the top bits of the same hash, and a task that only gets keys
// of a few top-bit values would fill a few regions of its tables (one
// worker's Q18 aggregation: 25 s of probing instead of 1).
func ExchangeTask(h uint64, tasks int) int {
	return JoinPartition(exchangeMix(h)) * tasks / JoinPartitions
}

// exchangeMix is murmur3's 64-bit finalizer: a bijection whose top bits
// depend on every bit of h.
func exchangeMix(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// hashKeyArray returns a key column in the form both sides of an
// exchange hash alike: integers of every width as bigint (an int32 key
// on one side meets an int64 on the other), others as they are.
func hashKeyArray(q *QueryContext, a arrow.Array, t kernels.Type) (arrow.Array, error) {
	if t.ID == kernels.Int16 || t.ID == kernels.Int32 {
		return scCastArray(q.Alloc, a, t, kernels.TInt64)
	}
	a.Retain()
	return a, nil
}

// ExchangeBuckets is the number of key buckets a kept hash output is cut
// into (ExchangeBucket); a consumer task of a kept output reads a
// contiguous range of them, and a stage that grows or shrinks hands
// whole buckets from one task to another.
const ExchangeBuckets = JoinPartitions

// keepBuckets notes each row's bucket in a byte.
const _ = uint8(ExchangeBuckets - 1)

// ExchangeBucket maps a row's key hash to its bucket of a kept hash
// output. ExchangeTask(h, n) is the task of n whose share of the buckets,
// split evenly in order (BucketRange), holds it.
func ExchangeBucket(h uint64) int { return JoinPartition(exchangeMix(h)) }

// BucketRange returns the buckets [lo, hi) that task k of n reads by
// default: the ones ExchangeTask sends it.
func BucketRange(k, n int) (lo, hi int) {
	first := func(k int) int { return (k*ExchangeBuckets + n - 1) / n }
	return first(k), first(k + 1)
}

// KeptBuffer keeps a task's whole output for consumers that read it from
// the start, each with its own cursor, whenever they come: the consumers
// of a broadcast (all rows each), and the consumers of a kept hash output
// (Stage.Kept), each reading the rows of a range of buckets. A consumer
// task added while the producer runs, or after it finished, or one that
// restarts with other buckets, gets everything it asks for. The buffer
// holds its batches until Abort. Safe for concurrent use.
type KeptBuffer struct {
	mu      sync.Mutex
	cond    *sync.Cond
	entries []keptEntry
	done    bool
	err     error
	aborted bool
	frozen  bool
	rows    atomic.Int64
}

// keptEntry is one kept batch: its rows ordered by bucket, bucket b's at
// [off[b], off[b+1]) (off nil: every row is for every reader).
type keptEntry struct {
	b   arrow.RecordBatch
	off []int32
}

// NewKeptBuffer returns an empty buffer fed by one producer.
func NewKeptBuffer() *KeptBuffer {
	b := &KeptBuffer{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// Push appends batch (owned by the buffer from now on), for every reader.
// It never waits.
func (b *KeptBuffer) Push(ctx context.Context, batch arrow.RecordBatch) error {
	return b.push(ctx, batch, nil)
}

// PushBuckets appends batch (owned by the buffer) whose rows are ordered
// by bucket, bucket i's rows at [off[i], off[i+1]); len(off) is
// ExchangeBuckets+1. It waits only while the buffer is frozen.
func (b *KeptBuffer) PushBuckets(ctx context.Context, batch arrow.RecordBatch, off []int32) error {
	return b.push(ctx, batch, off)
}

func (b *KeptBuffer) push(ctx context.Context, batch arrow.RecordBatch, off []int32) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	// A frozen buffer holds the push; a superseded attempt (its ctx
	// ended) pushes nothing.
	if err := waitWhile(ctx, &b.mu, b.cond, func() bool { return b.frozen }); err != nil {
		batch.Release()
		return err
	}
	if b.aborted {
		batch.Release()
		return nil
	}
	b.rows.Add(batch.NumRows())
	b.entries = append(b.entries, keptEntry{batch, off})
	b.cond.Broadcast()
	return nil
}

// Freeze holds every later Push (until Thaw, or its context ends), if no
// row has been pushed yet, and reports whether it did: a task whose
// output is still empty can restart (a new attempt) without its
// consumers seeing anything of the old one.
func (b *KeptBuffer) Freeze() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rows.Load() > 0 || b.done {
		return false
	}
	b.frozen = true
	return true
}

// FreezeAll holds every later Push like Freeze, whatever has been pushed,
// and reports whether the buffer holds rows or has ended (then the task's
// restart must Reset it, and every consumer still reading it restart
// too).
func (b *KeptBuffer) FreezeAll() (taken bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.aborted {
		return false
	}
	b.frozen = true
	return b.rows.Load() > 0 || b.done
}

// Reset drops what the buffer holds and reopens it, for the next attempt
// of its task (call while frozen). Readers must start again from the
// first entry: the coordinator restarts every consumer that had not read
// all of it.
func (b *KeptBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, x := range b.entries {
		x.b.Release()
	}
	b.entries = nil
	b.rows.Store(0)
	b.done, b.err = false, nil
	b.cond.Broadcast()
}

// Thaw undoes Freeze: held Pushes go on.
func (b *KeptBuffer) Thaw() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.frozen = false
	b.cond.Broadcast()
}

// Done records that the producer has finished, with its error if any.
func (b *KeptBuffer) Done(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done, b.err = true, err
	b.cond.Broadcast()
}

// Abort releases the batches; readers get io.EOF.
func (b *KeptBuffer) Abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.aborted = true
	for _, x := range b.entries {
		x.b.Release()
	}
	b.entries = nil
	b.cond.Broadcast()
}

// Rows returns the number of rows pushed so far.
func (b *KeptBuffer) Rows() int64 { return b.rows.Load() }

// Read returns the first batch at or after entry i (a reference the
// caller releases) with rows of buckets [lo, hi) (of an entry pushed
// whole: all its rows), and the entry to read next; it waits until the
// producer has made one, and returns io.EOF after the last, the
// producer's error if it failed.
func (b *KeptBuffer) Read(ctx context.Context, i, lo, hi int) (arrow.RecordBatch, int, error) {
	if lo < 0 || hi > ExchangeBuckets || lo > hi {
		return nil, i, fmt.Errorf("bucket range [%d, %d) outside [0, %d)", lo, hi, ExchangeBuckets)
	}
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		for ; !b.aborted && i < len(b.entries); i++ {
			e := b.entries[i]
			if e.off == nil {
				e.b.Retain()
				return e.b, i + 1, nil
			}
			from, to := e.off[lo], e.off[hi]
			switch {
			case from == to:
				continue
			case from == 0 && int64(to) == e.b.NumRows():
				e.b.Retain()
				return e.b, i + 1, nil
			}
			return e.b.NewSlice(int64(from), int64(to)), i + 1, nil
		}
		switch {
		case b.aborted:
			return nil, i, io.EOF
		case b.done && b.err != nil:
			return nil, i, b.err
		case b.done:
			return nil, i, io.EOF
		case ctx.Err() != nil:
			return nil, i, context.Cause(ctx)
		}
		b.cond.Wait()
	}
}

// NewKeptSink returns the sink of a task whose output is kept in buf for
// its consumers: a broadcast (every batch goes once into buf, which all
// consumers read whole) or a kept hash output (each batch's rows go in
// ordered by bucket of keys, and each consumer reads its buckets).
func NewKeptSink(q *QueryContext, kind planner.ExchangeKind, keys []planner.ColumnID, cols []planner.Column, buf *KeptBuffer) (*PartitionSink, error) {
	if kind != planner.ExchangeBroadcast && kind != planner.ExchangeHash {
		return nil, fmt.Errorf("internal error: a kept %s output", kind)
	}
	s, err := newPartitionSink(q, kind, keys, cols)
	if err != nil {
		return nil, err
	}
	s.kept = buf
	return s, nil
}
