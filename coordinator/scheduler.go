// Package coordinator schedules distributed plans on workers. For now it
// holds the Scheduler: it places the tasks of a fragment graph on workers
// over Arrow Flight, serves their split claims, and fetches the result.
// Membership (memberlist), Raft and the Flight SQL front end come next.
package coordinator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bellows-db/bellows/exec"
	"github.com/bellows-db/bellows/planner"
	"github.com/bellows-db/bellows/planner/planpb"
	"github.com/bellows-db/bellows/worker"
	"github.com/bellows-db/bellows/worker/workerpb"
)

// Scheduler runs fragment graphs on workers. It serves Flight (DoAction
// claim_split) at Addr for the workers' scans. Safe for concurrent use.
type Scheduler struct {
	flight.BaseFlightServer
	addr  string
	alloc memory.Allocator
	peers *worker.Peers

	mu      sync.Mutex
	splits  map[splitKey]*exec.SplitQueue
	claims  map[string]int  // splits claimed per task id
	retired map[string]bool // tasks that get no more splits
}

type splitKey struct {
	query       string
	stage, scan int32
}

// NewScheduler returns a scheduler reachable by workers at addr; result
// batches are allocated from alloc; dial options (the cluster token) go
// to its calls to workers.
func NewScheduler(addr string, alloc memory.Allocator, dial ...grpc.DialOption) *Scheduler {
	return &Scheduler{addr: addr, alloc: alloc, peers: worker.NewPeers(dial...), splits: map[splitKey]*exec.SplitQueue{}, claims: map[string]int{}, retired: map[string]bool{}}
}

// Register adds the scheduler's Flight service to a gRPC server.
func (s *Scheduler) Register(g *grpc.Server) { flight.RegisterFlightServiceServer(g, s) }

// Close closes the connections to workers.
func (s *Scheduler) Close() { s.peers.Close() }

// DoAction serves split claims.
func (s *Scheduler) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	if a.Type != worker.ActionClaimSplit {
		return status.Errorf(codes.InvalidArgument, "unknown action %q", a.Type)
	}
	var req workerpb.ClaimRequest
	if err := proto.Unmarshal(a.Body, &req); err != nil {
		return status.Errorf(codes.InvalidArgument, "claim_split: %v", err)
	}
	k := splitKey{req.QueryId, req.Stage, req.Scan}
	s.mu.Lock()
	if s.retired[req.TaskId] {
		// A task taken out of its stage: it ends after the splits it has.
		s.mu.Unlock()
		body, err := proto.Marshal(&workerpb.ClaimReply{})
		if err != nil {
			return err
		}
		return stream.Send(&flight.Result{Body: body})
	}
	q, ok := s.splits[k]
	if !ok {
		q = &exec.SplitQueue{}
		s.splits[k] = q
	}
	s.mu.Unlock()
	i, more, _ := q.Claim(int(req.Splits))
	if more {
		s.mu.Lock()
		s.claims[req.TaskId]++
		s.mu.Unlock()
	}
	body, err := proto.Marshal(&workerpb.ClaimReply{Split: int32(i), Ok: more})
	if err != nil {
		return err
	}
	return stream.Send(&flight.Result{Body: body})
}

// RunOptions configure one run.
type RunOptions struct {
	// Tasks, if set, overrides a (not single-task) stage's task count.
	Tasks       func(st *planner.Stage) int
	Parallelism int   // drivers per pipeline in each task (0: the worker's cores)
	MemoryLimit int64 // per task (0: none)
}

// Result streams a distributed query's rows. Next until io.EOF, then
// Close (always). AddTasks may be called while it runs.
type Result struct {
	s       *Scheduler
	query   string
	workers []string
	out     *exec.BatchQueue
	cancel  context.CancelFunc
	ctx     context.Context
	graph   *planner.FragmentGraph
	wire    []byte
	opts    RunOptions

	mu sync.Mutex
	// Placement[stage][task] is the worker address the task ran on.
	Placement [][]string
	producers [][]*workerpb.Producer // per stage: its tasks
	consumer  []int                  // per stage: the stage reading it (-1: the client)
	inputs    [][]int                // per stage: the stages it reads
	placed    int
	// closedClaims keeps SplitCounts after Close.
	closedClaims [][]int
}

// SplitCounts returns, per task of a stage, how many splits it claimed
// (so far, or in all once closed).
func (r *Result) SplitCounts(stage int) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closedClaims != nil {
		return append([]int(nil), r.closedClaims[stage]...)
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	return r.claimsLocked(stage)
}

// claimsLocked returns a stage's claims per task; the caller holds r.mu
// and r.s.mu.
func (r *Result) claimsLocked(stage int) []int {
	out := make([]int, len(r.producers[stage]))
	for i, p := range r.producers[stage] {
		out[i] = r.s.claims[p.TaskId]
	}
	return out
}

// AddTasks adds n tasks to a running stage that reads no other stage (a
// scan stage): they claim splits from the same queue as its other tasks,
// and its consumers read them too. Answers do not change. Call while the
// query runs; a stage that has finished gets tasks that find no split.
func (r *Result) AddTasks(ctx context.Context, stage, n int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if stage < 0 || stage >= len(r.graph.Stages) {
		return fmt.Errorf("no stage %d", stage)
	}
	st := r.graph.Stages[stage]
	if st.Single {
		return fmt.Errorf("stage %d runs as one task (its input is gathered)", stage)
	}
	if len(r.inputs[stage]) > 0 {
		return fmt.Errorf("stage %d reads other stages: only scan stages can grow", stage)
	}
	parts := 1
	c := r.consumer[stage]
	if c >= 0 {
		parts = len(r.producers[c])
	}
	for range n {
		k := len(r.producers[stage])
		addr := r.workers[r.placed%len(r.workers)]
		r.placed++
		p := &workerpb.Producer{Addr: addr, TaskId: fmt.Sprintf("%s.%d.%d", r.query, stage, k)}
		// Consumers first: they must count the new producer before the
		// stage's old tasks can all finish.
		if c < 0 {
			if !r.out.AddProducer() {
				return fmt.Errorf("stage %d: %w", stage, errStageFinished)
			}
			go worker.Fetch(r.ctx, r.s.peers, p, 0, r.out, r.s.alloc)
		} else {
			accepted := 0
			for _, cp := range r.producers[c] {
				body, err := proto.Marshal(&workerpb.AddProducerRequest{TaskId: cp.TaskId, Stage: int32(stage), Producer: p})
				if err != nil {
					return err
				}
				var rep workerpb.AddProducerReply
				if err := r.s.peers.Action(ctx, cp.Addr, worker.ActionAddProducer, body, &rep); err != nil {
					return fmt.Errorf("add a producer to %s: %w", cp.TaskId, err)
				}
				if rep.Ok {
					accepted++
				}
			}
			if accepted == 0 {
				return fmt.Errorf("stage %d: %w", stage, errStageFinished)
			}
		}
		body, err := proto.Marshal(&workerpb.TaskRequest{QueryId: r.query, TaskId: p.TaskId, Stage: int32(stage), Task: int32(k),
			Graph: r.wire, Partitions: int32(parts), Coordinator: r.s.addr,
			Parallelism: int32(r.opts.Parallelism), MemoryLimit: r.opts.MemoryLimit})
		if err != nil {
			return err
		}
		if err := r.s.peers.Action(ctx, addr, worker.ActionRunTask, body, nil); err != nil {
			return fmt.Errorf("start %s on %s: %w", p.TaskId, addr, err)
		}
		r.producers[stage] = append(r.producers[stage], p)
		r.Placement[stage] = append(r.Placement[stage], addr)
	}
	return nil
}

// RetireTasks takes n tasks out of a running scan stage, the newest
// first, keeping at least one: they claim no more splits, finish the
// ones they hold and end, and the stage's other tasks take the rest.
// Answers do not change. It returns how many it retired.
func (r *Result) RetireTasks(stage, n int) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if stage < 0 || stage >= len(r.graph.Stages) {
		return 0, fmt.Errorf("no stage %d", stage)
	}
	if len(r.inputs[stage]) > 0 || r.graph.Stages[stage].Single {
		return 0, fmt.Errorf("stage %d is not a scan stage: only scan stages change their task count", stage)
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	done := 0
	ps := r.producers[stage]
	for k := len(ps) - 1; k >= 0 && done < n; k-- {
		if !r.s.retired[ps[k].TaskId] && r.activeLocked(stage) > 1 {
			r.s.retired[ps[k].TaskId] = true
			done++
		}
	}
	return done, nil
}

// activeLocked counts a stage's tasks that still claim splits; the
// caller holds r.mu and r.s.mu.
func (r *Result) activeLocked(stage int) int {
	n := 0
	for _, p := range r.producers[stage] {
		if !r.s.retired[p.TaskId] {
			n++
		}
	}
	return n
}

// ActiveTasks returns, per stage, how many tasks it has that are not
// retired.
func (r *Result) ActiveTasks() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	out := make([]int, len(r.producers))
	for st := range r.producers {
		out[st] = r.activeLocked(st)
	}
	return out
}

// SetScanTasks makes every scan stage of the running query run n tasks
// (n >= 1): it adds tasks to stages with fewer, retires the newest of
// stages with more. A scan stage that has finished is left as it is.
func (r *Result) SetScanTasks(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("a stage needs at least one task, not %d", n)
	}
	for st := range r.graph.Stages {
		if len(r.inputs[st]) > 0 || r.graph.Stages[st].Single {
			continue
		}
		active := r.ActiveTasks()[st]
		switch {
		case active < n:
			if err := r.AddTasks(ctx, st, n-active); err != nil && !errors.Is(err, errStageFinished) {
				return err
			}
		case active > n:
			if _, err := r.RetireTasks(st, active-n); err != nil {
				return err
			}
		}
	}
	return nil
}

// errStageFinished: tasks cannot join a stage whose consumers have read
// all of it.
var errStageFinished = errors.New("the stage has finished")

// Workers returns the workers the query's tasks were placed on.
func (r *Result) Workers() []string { return r.workers }

// Next returns the next batch (owned by the caller), io.EOF at the end.
func (r *Result) Next(ctx context.Context) (arrow.RecordBatch, error) { return r.out.Pop(ctx) }

// Close stops the query's tasks on every worker and forgets its splits.
func (r *Result) Close() {
	r.cancel()
	r.out.Abort()
	body, _ := proto.Marshal(&workerpb.AbortRequest{QueryId: r.query})
	for _, w := range r.workers {
		r.s.peers.Action(context.Background(), w, worker.ActionAbort, body, nil)
	}
	r.mu.Lock() // r.mu before r.s.mu, as everywhere
	r.s.mu.Lock()
	for k := range r.s.splits {
		if k.query == r.query {
			delete(r.s.splits, k)
		}
	}
	if r.closedClaims == nil {
		r.closedClaims = make([][]int, len(r.producers))
		for st := range r.producers {
			r.closedClaims[st] = r.claimsLocked(st)
		}
	}
	for _, ps := range r.producers {
		for _, p := range ps {
			delete(r.s.claims, p.TaskId)
			delete(r.s.retired, p.TaskId)
		}
	}
	r.s.mu.Unlock()
	r.mu.Unlock()
}

// Run places every task of g on the workers (producers before consumers),
// then fetches the last stage's output.
func (s *Scheduler) Run(ctx context.Context, g *planner.FragmentGraph, workers []string, opts RunOptions) (*Result, error) {
	if len(workers) == 0 {
		return nil, errors.New("no workers")
	}
	wire, err := planpb.Marshal(g)
	if err != nil {
		return nil, err
	}
	id := make([]byte, 8)
	rand.Read(id)
	r := &Result{s: s, query: "q" + hex.EncodeToString(id), workers: workers, graph: g, wire: wire, opts: opts}
	n := len(g.Stages)
	tasks := g.TaskCounts(opts.Tasks)
	consumer, inputsOf, err := g.Links()
	if err != nil {
		return nil, err
	}
	r.Placement = make([][]string, n)
	producers := make([][]*workerpb.Producer, n)
	r.producers, r.consumer, r.inputs = producers, consumer, inputsOf
	next := 0
	for si := range g.Stages {
		for k := 0; k < tasks[si]; k++ {
			addr := workers[next%len(workers)]
			next++
			r.Placement[si] = append(r.Placement[si], addr)
			producers[si] = append(producers[si], &workerpb.Producer{Addr: addr, TaskId: fmt.Sprintf("%s.%d.%d", r.query, si, k)})
		}
	}
	r.placed = next
	ctx, r.cancel = context.WithCancel(ctx)
	r.ctx = ctx
	r.out = exec.NewBatchQueue(tasks[n-1])
	for st := range g.Stages {
		parts := 1
		if st < n-1 {
			parts = tasks[consumer[st]]
		}
		var inputs []*workerpb.Input
		for _, in := range inputsOf[st] {
			inputs = append(inputs, &workerpb.Input{Stage: int32(in), Producers: producers[in]})
		}
		for k, p := range producers[st] {
			body, err := proto.Marshal(&workerpb.TaskRequest{QueryId: r.query, TaskId: p.TaskId, Stage: int32(st), Task: int32(k),
				Graph: wire, Partitions: int32(parts), Inputs: inputs, Coordinator: s.addr,
				Parallelism: int32(opts.Parallelism), MemoryLimit: opts.MemoryLimit})
			if err != nil {
				r.Close()
				return nil, err
			}
			if err := s.peers.Action(ctx, p.Addr, worker.ActionRunTask, body, nil); err != nil {
				r.Close()
				return nil, fmt.Errorf("start %s on %s: %w", p.TaskId, p.Addr, err)
			}
		}
	}
	for _, p := range producers[n-1] {
		go worker.Fetch(ctx, s.peers, p, 0, r.out, s.alloc)
	}
	return r, nil
}
