package exec

import (
	"context"
	"errors"
	"io"
	"math/rand"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// TestExchangeTaskSpreadsTableBits checks that the rows a consumer task
// gets through a hash exchange still spread over every top-bit region of
// the task's own hash tables (which place keys by the top bits of the same
// hash): otherwise a task's aggregation or join table fills a few regions
// and probing degenerates (Q18 on one worker took over 25 s instead of 3).
func TestExchangeTaskSpreadsTableBits(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, tasks := range []int{2, 3, 8} {
		regions := make([]map[int]bool, tasks)
		for i := range regions {
			regions[i] = map[int]bool{}
		}
		counts := make([]int, tasks)
		for range 200_000 {
			h := rng.Uint64()
			k := ExchangeTask(h, tasks)
			counts[k]++
			regions[k][JoinPartition(h)] = true
		}
		for k := range tasks {
			if len(regions[k]) < JoinPartitions*9/10 {
				t.Errorf("%d tasks: task %d's keys fall in %d of %d table regions", tasks, k, len(regions[k]), JoinPartitions)
			}
			if share := float64(counts[k]) / 200_000; share < 0.8/float64(tasks) || share > 1.2/float64(tasks) {
				t.Errorf("%d tasks: task %d gets %.3f of the rows", tasks, k, share)
			}
		}
	}
}

// int64Batch makes a one-column batch of n rows (8n bytes).
func int64Batch(n int) arrow.RecordBatch {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	for i := range n {
		b.Append(int64(i))
	}
	col := b.NewArray()
	defer col.Release()
	schema := arrow.NewSchema([]arrow.Field{{Name: "x", Type: arrow.PrimitiveTypes.Int64}}, nil)
	return array.NewRecordBatch(schema, []arrow.Array{col}, int64(n))
}

// TestBatchQueueBackPressure checks the bounded queue: a Push into a full
// queue waits until the consumer pops, an oversized batch still gets into
// an empty queue, a waiting Push ends with its context or when the
// consumer aborts, and the consumer sees every batch in order.
func TestBatchQueueBackPressure(t *testing.T) {
	ctx := context.Background()
	q := NewBatchQueue(1)
	q.SetLimit(1000)
	if err := q.Push(ctx, int64Batch(200)); err != nil { // 1600 bytes: over the limit, but the queue is empty
		t.Fatal(err)
	}
	pushed := make(chan error, 1)
	go func() { pushed <- q.Push(ctx, int64Batch(10)) }()
	select {
	case err := <-pushed:
		t.Fatalf("a Push into a full queue returned at once (%v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	if q.Waits() != 1 {
		t.Fatalf("waits %d, want 1", q.Waits())
	}
	b, err := q.Pop(ctx)
	if err != nil || b.NumRows() != 200 {
		t.Fatalf("pop: %v", err)
	}
	b.Release()
	if err := <-pushed; err != nil {
		t.Fatalf("the waiting Push: %v", err)
	}
	// Full again (80 bytes queued, limit 50): a Push waits until its
	// context ends, and says why.
	q.SetLimit(50)
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := q.Push(cctx, int64Batch(10)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a Push whose context ended: %v", err)
	}
	// A consumer that goes away frees a waiting producer.
	go func() { pushed <- q.Push(ctx, int64Batch(10)) }()
	time.Sleep(20 * time.Millisecond)
	q.Abort()
	if err := <-pushed; err != nil {
		t.Fatalf("a Push into an aborted queue: %v", err)
	}
	// A producer and a slow consumer: everything arrives, in order, and
	// the producer waited instead of queueing it all.
	q = NewBatchQueue(1)
	q.SetLimit(100)
	go func() {
		for i := range 50 {
			b := int64Batch(i + 1)
			if err := q.Push(ctx, b); err != nil {
				t.Error(err)
			}
		}
		q.Done(nil)
	}()
	for i := 0; ; i++ {
		b, err := q.Pop(ctx)
		if err == io.EOF {
			if i != 50 {
				t.Fatalf("%d batches arrived, want 50", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.NumRows() != int64(i+1) {
			t.Fatalf("batch %d has %d rows", i, b.NumRows())
		}
		b.Release()
		time.Sleep(time.Millisecond)
	}
	if q.Waits() == 0 {
		t.Fatal("the producer never waited for the slow consumer")
	}
}

// TestKeptBuffer checks a kept broadcast output: a reader that
// starts before the producer ends waits for each batch, a reader that
// comes after the end still gets every batch from the start, a failed
// producer's error reaches readers, and Abort ends them.
func TestKeptBuffer(t *testing.T) {
	ctx := context.Background()
	buf := NewKeptBuffer()
	early := make(chan []int64, 1)
	go func() {
		var got []int64
		for i := 0; ; i++ {
			b, _, err := buf.Read(ctx, i, 0, ExchangeBuckets)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Error(err)
				break
			}
			got = append(got, b.NumRows())
			b.Release()
		}
		early <- got
	}()
	for n := 1; n <= 3; n++ {
		time.Sleep(5 * time.Millisecond)
		if err := buf.Push(ctx, int64Batch(n)); err != nil {
			t.Fatal(err)
		}
	}
	buf.Done(nil)
	if got := <-early; len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Fatalf("the early reader got %v", got)
	}
	for i := range 3 { // a late reader: from the start
		b, _, err := buf.Read(ctx, i, 0, ExchangeBuckets)
		if err != nil || b.NumRows() != int64(i+1) {
			t.Fatalf("late read %d: %v", i, err)
		}
		b.Release()
	}
	if _, _, err := buf.Read(ctx, 3, 0, 1); err != io.EOF {
		t.Fatalf("after the end: %v", err)
	}
	if buf.Rows() != 6 {
		t.Fatalf("rows %d", buf.Rows())
	}
	buf.Abort()
	if _, _, err := buf.Read(ctx, 0, 0, 1); err != io.EOF {
		t.Fatalf("after Abort: %v", err)
	}
	failed := NewKeptBuffer()
	failed.Done(errors.New("scan failed"))
	if _, _, err := failed.Read(ctx, 0, 0, 1); err == nil || err.Error() != "scan failed" {
		t.Fatalf("a failed producer: %v", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, _, err := NewKeptBuffer().Read(cctx, 0, 0, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a reader whose context ends: %v", err)
	}
}

// TestKeptHashOutput checks a kept hash output: every task of any task
// count reads, through its bucket range, exactly the rows ExchangeTask
// sends it (each row once over all tasks), however many readers come and
// in whatever order; and Freeze lets a task restart only while it has
// sent nothing.
func TestKeptHashOutput(t *testing.T) {
	ctx := context.Background()
	q := NewQueryContext(memory.DefaultAllocator, 0, 1)
	cols := []planner.Column{{ID: 1, Name: "x", Type: kernels.TInt64}}
	buf := NewKeptBuffer()
	sink, err := NewKeptSink(q, planner.ExchangeHash, []planner.ColumnID{1}, cols, buf)
	if err != nil {
		t.Fatal(err)
	}
	local, err := sink.Local(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const batches, rows = 5, 1000
	for range batches {
		b := int64Batch(rows)
		if err := local.Consume(ctx, b); err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	buf.Done(nil)
	if buf.Freeze() {
		t.Fatal("froze an output that has rows")
	}
	// The bucket of each value, as the hash sink computes it.
	var rk RowKeys
	probe := int64Batch(rows)
	rk.Encode([]arrow.Array{probe.Column(0)}, rows)
	probe.Release()
	for _, n := range []int{1, 3, 4, 7} {
		seen := map[int64]int{}
		for k := range n {
			lo, hi := BucketRange(k, n)
			for i := 0; ; {
				b, next, err := buf.Read(ctx, i, lo, hi)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				i = next
				col := b.Column(0).(*array.Int64)
				for r := range col.Len() {
					v := col.Value(r)
					seen[v]++
					if got := ExchangeTask(rk.Hash[v], n); got != k {
						t.Fatalf("%d tasks: value %d read by task %d, ExchangeTask says %d", n, v, k, got)
					}
				}
				b.Release()
			}
		}
		if len(seen) != rows {
			t.Fatalf("%d tasks: %d distinct values, want %d", n, len(seen), rows)
		}
		for v, c := range seen {
			if c != batches {
				t.Fatalf("%d tasks: value %d read %d times, want %d", n, v, c, batches)
			}
		}
	}
	if _, _, err := buf.Read(ctx, 0, 5, 3); err == nil {
		t.Fatal("a reversed bucket range was accepted")
	}
	buf.Abort()

	// Freeze: an empty output can pass to a new attempt. A push of the
	// old attempt waits, and fails when its context ends (the attempt
	// was superseded); after Thaw pushes go through, a held one too.
	empty := NewKeptBuffer()
	bq := NewBatchQueue(1)
	for _, o := range []interface {
		Push(context.Context, arrow.RecordBatch) error
		Freeze() bool
		Thaw()
		Rows() int64
		Abort()
	}{empty, bq} {
		if !o.Freeze() {
			t.Fatalf("%T: could not freeze an empty output", o)
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		if err := o.Push(cctx, int64Batch(3)); !errors.Is(err, context.DeadlineExceeded) || o.Rows() != 0 {
			t.Fatalf("%T: a frozen output's push: %v, %d rows", o, err, o.Rows())
		}
		cancel()
		held := make(chan error, 1)
		go func() { held <- o.Push(ctx, int64Batch(3)) }()
		time.Sleep(10 * time.Millisecond)
		if o.Rows() != 0 {
			t.Fatalf("%T: a frozen output took rows", o)
		}
		o.Thaw()
		if err := <-held; err != nil || o.Rows() != 3 {
			t.Fatalf("%T: after Thaw: %v, %d rows", o, err, o.Rows())
		}
		if o.Freeze() {
			t.Fatalf("%T: froze an output that has rows", o)
		}
		o.Abort()
	}
}
