// Package worker runs the stages of distributed plans as tasks. RunLocal
// runs a whole fragment graph in this process, its exchanges as in-memory
// queues: the execution model of a cluster without the network, used by
// tests to check that a cut plan gives the single-node answer, and the
// part a worker process will run for each task it is given.
package worker

import (
	"context"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/bellows-db/bellows/exec"
	"github.com/bellows-db/bellows/planner"
)

// LocalOptions configure RunLocal.
type LocalOptions struct {
	// NewQuery makes the query context of one task (each task has its
	// own: its memory pool, parallelism and spill directory).
	NewQuery func() *exec.QueryContext
	// Tasks, if set, overrides a stage's task count (a single-task
	// stage keeps one).
	Tasks func(st *planner.Stage) int
}

// TaskStats is what one task did.
type TaskStats struct {
	Stage, Task int
	RowsOut     int64 // rows the task sent on
	Splits      int64 // scan splits the task read
}

// Run is a running graph: read the result with Next, then Wait.
type Run struct {
	out    *exec.BatchQueue
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	err   error
	stats []TaskStats
}

// RunLocal starts every task of every stage of g. The last stage's rows
// come out of Run.Next; cancelling ctx or Close stops all tasks.
func RunLocal(ctx context.Context, g *planner.FragmentGraph, opts LocalOptions) (*Run, error) {
	tasks := g.TaskCounts(opts.Tasks)
	consumer, inputsOf, err := g.Links()
	if err != nil {
		return nil, err
	}
	// inputs[s][k] is what task k of stage consumer[s] reads of stage s.
	inputs := make([][]*exec.BatchQueue, len(g.Stages))
	for s := range g.Stages[:len(g.Stages)-1] {
		inputs[s] = make([]*exec.BatchQueue, tasks[consumer[s]])
		for k := range inputs[s] {
			inputs[s][k] = exec.NewBatchQueue(tasks[s])
		}
	}
	last := len(g.Stages) - 1
	r := &Run{out: exec.NewBatchQueue(tasks[last])}
	inputs[last] = []*exec.BatchQueue{r.out}
	ctx, r.cancel = context.WithCancel(ctx)
	for _, st := range g.Stages {
		splits := map[*planner.Scan]*exec.SplitQueue{}
		var smu sync.Mutex
		for k := 0; k < tasks[st.ID]; k++ {
			q := opts.NewQuery()
			q.SplitQueues = func(sc *planner.Scan) exec.SplitSource {
				smu.Lock()
				defer smu.Unlock()
				if splits[sc] == nil {
					splits[sc] = &exec.SplitQueue{}
				}
				return splits[sc]
			}
			q.Exchanges = func(ex *planner.Exchange) (exec.Source, error) {
				return inputs[ex.Stage][k].Source(), nil
			}
			kind, keys := st.Output, st.Keys
			if st.ID == last {
				kind, keys = planner.ExchangeGather, nil
			}
			sink, err := exec.NewPartitionSink(q, kind, keys, st.Root.Columns(), inputs[st.ID])
			if err != nil {
				r.cancel()
				return nil, err
			}
			var in []*exec.BatchQueue
			for _, from := range inputsOf[st.ID] {
				in = append(in, inputs[from][k])
			}
			r.wg.Add(1)
			go r.task(ctx, st, k, q, sink, in, inputs[st.ID])
		}
	}
	return r, nil
}

// task runs task k of stage st and tells its consumers it is done. Its
// inputs are dropped once it has finished: a task that stops early (a
// limit) must not hold up producers that also feed other tasks.
func (r *Run) task(ctx context.Context, st *planner.Stage, k int, q *exec.QueryContext, sink *exec.PartitionSink, inputs, targets []*exec.BatchQueue) {
	defer r.wg.Done()
	defer func() {
		for _, in := range inputs {
			in.Abort()
		}
	}()
	ts := TaskStats{Stage: st.ID, Task: k}
	err := func() error {
		plan, err := exec.Build(q, st.Root, sink)
		if err != nil {
			return err
		}
		defer plan.Close()
		err = plan.Run(ctx, q)
		for _, src := range plan.Scans {
			ts.Splits += src.SplitsClaimed.Load()
		}
		return err
	}()
	if err != nil {
		err = fmt.Errorf("stage %d task %d: %w", st.ID, k, err)
		r.mu.Lock()
		if r.err == nil {
			r.err = err
		}
		r.mu.Unlock()
		r.cancel()
	}
	for _, t := range targets {
		t.Done(err)
	}
	r.mu.Lock()
	r.stats = append(r.stats, ts)
	r.mu.Unlock()
}

// Next returns the next result batch (owned by the caller), or io.EOF at
// the end.
func (r *Run) Next(ctx context.Context) (arrow.RecordBatch, error) {
	return r.out.Pop(ctx)
}

// Wait waits for every task and returns the first error.
func (r *Run) Wait() error {
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Close stops the tasks, drops undelivered rows and waits.
func (r *Run) Close() {
	r.cancel()
	r.out.Abort()
	r.wg.Wait()
}

// Stats returns what each task did (after Wait).
func (r *Run) Stats() []TaskStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]TaskStats(nil), r.stats...)
}
