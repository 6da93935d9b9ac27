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

	mu     sync.Mutex
	splits map[splitKey]*exec.SplitQueue
}

type splitKey struct {
	query       string
	stage, scan int32
}

// NewScheduler returns a scheduler reachable by workers at addr; result
// batches are allocated from alloc; dial options (the cluster token) go
// to its calls to workers.
func NewScheduler(addr string, alloc memory.Allocator, dial ...grpc.DialOption) *Scheduler {
	return &Scheduler{addr: addr, alloc: alloc, peers: worker.NewPeers(dial...), splits: map[splitKey]*exec.SplitQueue{}}
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
	q, ok := s.splits[k]
	if !ok {
		q = &exec.SplitQueue{}
		s.splits[k] = q
	}
	s.mu.Unlock()
	i, more, _ := q.Claim(int(req.Splits))
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
// Close (always).
type Result struct {
	s       *Scheduler
	query   string
	workers []string
	out     *exec.BatchQueue
	cancel  context.CancelFunc
	// Placement[stage][task] is the worker address the task ran on.
	Placement [][]string
}

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
	r.s.mu.Lock()
	for k := range r.s.splits {
		if k.query == r.query {
			delete(r.s.splits, k)
		}
	}
	r.s.mu.Unlock()
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
	r := &Result{s: s, query: "q" + hex.EncodeToString(id), workers: workers}
	n := len(g.Stages)
	tasks := make([]int, n)
	consumer := make([]int, n)
	for i, st := range g.Stages {
		tasks[i] = max(st.Tasks, 1)
		if opts.Tasks != nil {
			tasks[i] = max(opts.Tasks(st), 1)
		}
		if st.Single {
			tasks[i] = 1
		}
		consumer[i] = -1
	}
	inputsOf := make([][]int, n) // stages each stage reads
	for _, st := range g.Stages {
		walkExchanges(st.Root, func(ex *planner.Exchange) {
			consumer[ex.Stage] = st.ID
			inputsOf[st.ID] = append(inputsOf[st.ID], ex.Stage)
		})
	}
	r.Placement = make([][]string, n)
	producers := make([][]*workerpb.Producer, n)
	next := 0
	for si := range g.Stages {
		for k := 0; k < tasks[si]; k++ {
			addr := workers[next%len(workers)]
			next++
			r.Placement[si] = append(r.Placement[si], addr)
			producers[si] = append(producers[si], &workerpb.Producer{Addr: addr, TaskId: fmt.Sprintf("%s.%d.%d", r.query, si, k)})
		}
	}
	ctx, r.cancel = context.WithCancel(ctx)
	r.out = exec.NewBatchQueue(tasks[n-1])
	for st := range g.Stages {
		parts := 1
		if st < n-1 {
			if consumer[st] < 0 {
				r.Close()
				return nil, fmt.Errorf("internal error: stage %d feeds no stage", st)
			}
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

func walkExchanges(n planner.Node, fn func(*planner.Exchange)) {
	if ex, ok := n.(*planner.Exchange); ok {
		fn(ex)
	}
	for _, c := range n.Children() {
		walkExchanges(c, fn)
	}
}
