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
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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

	mu        sync.Mutex
	splits    map[splitKey]*exec.SplitQueue
	claims    map[string]int            // splits claimed per task id
	claimed   map[string][]claim        // the splits, per task id
	exhausted map[string]map[int32]bool // per task id: scans it found empty
	retired   map[string]bool           // tasks that get no more splits

	taskRetries atomic.Int64
	takenBack   atomic.Int64
}

// claim is one split a task claimed.
type claim struct{ scan, split int32 }

type splitKey struct {
	query       string
	stage, scan int32
}

// NewScheduler returns a scheduler reachable by workers at addr; result
// batches are allocated from alloc; dial options (the cluster token) go
// to its calls to workers.
func NewScheduler(addr string, alloc memory.Allocator, dial ...grpc.DialOption) *Scheduler {
	return &Scheduler{addr: addr, alloc: alloc, peers: worker.NewPeers(dial...), splits: map[splitKey]*exec.SplitQueue{}, claims: map[string]int{}, claimed: map[string][]claim{}, exhausted: map[string]map[int32]bool{}, retired: map[string]bool{}}
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
	s.mu.Lock()
	if more {
		s.claims[req.TaskId]++
		s.claimed[req.TaskId] = append(s.claimed[req.TaskId], claim{req.Scan, int32(i)})
	} else {
		if s.exhausted[req.TaskId] == nil {
			s.exhausted[req.TaskId] = map[int32]bool{}
		}
		s.exhausted[req.TaskId][req.Scan] = true
	}
	s.mu.Unlock()
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
	// Live, if set, returns the live workers (membership): the run
	// watches it and re-runs the lost tasks of replayable stages on
	// other workers. Without it, a lost worker fails the query.
	Live func() []string
	// GrowOnJoin (with Live) adds a task to each running scan stage on
	// every worker that joins while the query runs.
	GrowOnJoin bool
}

// TaskRetries returns how many lost tasks were re-run elsewhere.
func (s *Scheduler) TaskRetries() int64 { return s.taskRetries.Load() }

// TakenBack returns how many tasks restarted on a lost producer's re-run
// after they had sent rows (into kept outputs, whose consumers restarted
// too).
func (s *Scheduler) TakenBack() int64 { return s.takenBack.Load() }

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
	ranges    [][][2]int32           // per elastic stage, per task: the buckets [lo, hi) it reads
	consumer  []int                  // per stage: the stage reading it (-1: the client)
	inputs    [][]int                // per stage: the stages it reads
	placed    int
	// closedClaims keeps SplitCounts after Close.
	closedClaims [][]int
	grown        atomic.Int64                    // tasks added on workers that joined
	handled      map[string]bool                 // lost tasks already dealt with
	outSlots     map[string]*worker.ProducerSlot // the last stage's tasks, by ID, when they can be re-run
	rerun        []string                        // their IDs, whose records Close drops too
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

// AddTasks adds n tasks to a running stage. A scan stage (one that scans
// a table and reads other stages only through broadcast exchanges, whose
// producers keep their output for any consumer) gets tasks that claim
// splits from the same queue as its other tasks and read the whole
// broadcast inputs. An elastic stage (planner.Stage.Elastic) gets tasks
// that take half the buckets of a task that has sent no row yet, which
// restarts on the other half. The stage's consumers read the new tasks
// too, and answers do not change. Call while the query runs; a stage
// that has finished, or whose tasks all send rows, refuses (an error
// wrapping errStageFinished). A ctx that has ended adds nothing; once
// started, the change runs in the query's context.
func (r *Result) AddTasks(ctx context.Context, stage, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.growableLocked(stage); err != nil {
		return err
	}
	for range n {
		addr := r.workers[r.placed%len(r.workers)]
		r.placed++
		if err := r.addTaskLocked(stage, addr); err != nil {
			if r.ctx.Err() != nil { // the query ended meanwhile
				return fmt.Errorf("stage %d: %w", stage, errStageFinished)
			}
			return err
		}
	}
	return nil
}

// growableLocked says why a stage cannot get more tasks (nil if it can).
// The caller holds r.mu.
func (r *Result) growableLocked(stage int) error {
	if stage < 0 || stage >= len(r.graph.Stages) {
		return fmt.Errorf("no stage %d", stage)
	}
	if r.graph.Stages[stage].Single {
		return fmt.Errorf("stage %d runs as one task (its input is gathered)", stage)
	}
	if r.graph.Stages[stage].Elastic {
		return nil
	}
	if !planner.HasScan(r.graph.Stages[stage].Root) {
		return fmt.Errorf("stage %d reads no table: its tasks would repeat each other's rows", stage)
	}
	for _, in := range r.inputs[stage] {
		if r.graph.Stages[in].Output != planner.ExchangeBroadcast {
			return fmt.Errorf("stage %d reads stage %d through a %s exchange: only stages that read splits and broadcast inputs, and elastic stages, can change their task count", stage, in, r.graph.Stages[in].Output)
		}
	}
	return nil
}

// addTaskLocked starts one more task of a scan or elastic stage on addr.
// The caller holds r.mu.
func (r *Result) addTaskLocked(stage int, addr string) error {
	if r.graph.Stages[stage].Elastic {
		return r.addElasticLocked(stage, addr)
	}
	return r.startTaskLocked(stage, addr, 0, 0)
}

// rebucket sends a rebucket action to task k of stage, in the query's
// context (a caller giving up must not leave a task half moved); ok false
// if the task has sent rows, is gone, or did not answer. A hold that may
// have reached the worker unanswered is released again. The caller holds
// r.mu.
func (r *Result) rebucket(stage, k int, req *workerpb.RebucketRequest) bool {
	rep, err := r.rebucketReply(stage, k, req)
	if err != nil && req.Hold {
		r.rebucketReply(stage, k, &workerpb.RebucketRequest{Release: true})
	}
	return err == nil && rep.Ok
}

// rebucketReply is rebucket with the worker's reply, or its error.
func (r *Result) rebucketReply(stage, k int, req *workerpb.RebucketRequest) (*workerpb.RebucketReply, error) {
	p := r.producers[stage][k]
	req.TaskId = p.TaskId
	body, err := proto.Marshal(req)
	if err != nil {
		return nil, err
	}
	var rep workerpb.RebucketReply
	if err := r.s.peers.Action(r.ctx, p.Addr, worker.ActionRebucket, body, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// addElasticLocked starts one more task of an elastic stage on addr: a
// task with at least two buckets that has sent no row yet (the widest
// first) is held, the new task starts on the upper half of its buckets,
// and the held one restarts on the lower half. The caller holds r.mu.
func (r *Result) addElasticLocked(stage int, addr string) error {
	rs := r.ranges[stage]
	order := make([]int, len(rs))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return int((rs[b][1] - rs[b][0]) - (rs[a][1] - rs[a][0])) })
	for _, k := range order {
		lo, hi := rs[k][0], rs[k][1]
		if hi-lo < 2 || !r.rebucket(stage, k, &workerpb.RebucketRequest{Hold: true}) {
			continue
		}
		mid := lo + (hi-lo)/2
		if err := r.startTaskLocked(stage, addr, mid, hi); err != nil {
			// The task may have started (its reply lost): its buckets
			// could be read twice, so the query fails.
			r.rebucket(stage, k, &workerpb.RebucketRequest{Release: true})
			r.fail(err)
			return err
		}
		if !r.rebucket(stage, k, &workerpb.RebucketRequest{Lo: lo, Hi: mid}) {
			// Held, so only a lost worker refuses: the buckets would be
			// read twice.
			err := fmt.Errorf("stage %d: task %s did not restart on buckets [%d, %d) after handing [%d, %d) to a new task", stage, r.producers[stage][k].TaskId, lo, mid, mid, hi)
			r.fail(err)
			return err
		}
		r.ranges[stage][k] = [2]int32{lo, mid} // startTaskLocked appended to r.ranges[stage]
		return nil
	}
	return fmt.Errorf("stage %d: every task has sent rows or holds a single bucket: %w", stage, errStageFinished)
}

// fail ends the query's result with err (the rows so far stand).
func (r *Result) fail(err error) {
	r.out.Done(err)
	r.cancel()
}

// taskRequest returns the request that runs task k of stage st under
// id: its consumer's task count as output partitions, the current tasks
// of the stages it reads as producers. The caller holds r.mu (or has not
// published r yet) and adds what is particular to the task (buckets,
// fixed splits).
func (r *Result) taskRequest(st, k int, id string) *workerpb.TaskRequest {
	parts := 1
	if c := r.consumer[st]; c >= 0 {
		parts = len(r.producers[c])
	}
	req := &workerpb.TaskRequest{QueryId: r.query, TaskId: id, Stage: int32(st), Task: int32(k),
		Graph: r.wire, Partitions: int32(parts), Coordinator: r.s.addr,
		Parallelism: int32(r.opts.Parallelism), MemoryLimit: r.opts.MemoryLimit}
	for _, in := range r.inputs[st] {
		req.Inputs = append(req.Inputs, &workerpb.Input{Stage: int32(in), Producers: r.producers[in]})
	}
	return req
}

// fetchResult starts reading producer p of the last stage into the
// result: replaceable by a re-run until its first rows come, when the
// stage's lost tasks are re-run.
func (r *Result) fetchResult(p *workerpb.Producer) {
	if !r.graph.Rerunnable(r.graph.Stages[len(r.graph.Stages)-1]) {
		go worker.Fetch(r.ctx, r.s.peers, p, &workerpb.FetchTicket{}, r.out, r.s.alloc)
		return
	}
	sl := worker.NewProducerSlot()
	r.outSlots[p.TaskId] = sl
	go func() {
		r.out.Done(worker.FetchReplaceable(r.ctx, r.s.peers, p, &workerpb.FetchTicket{}, r.out, r.s.alloc, sl, nil))
	}()
}

// startTaskLocked starts one more task of a scan or elastic stage on
// addr, reading buckets [lo, hi) of kept hash inputs. The caller holds
// r.mu.
func (r *Result) startTaskLocked(stage int, addr string, lo, hi int32) error {
	ctx := r.ctx // a caller giving up must not leave consumers waiting for a task
	c := r.consumer[stage]
	k := len(r.producers[stage])
	p := &workerpb.Producer{Addr: addr, TaskId: fmt.Sprintf("%s.%d.%d", r.query, stage, k)}
	// Consumers first: they must count the new producer before the
	// stage's old tasks can all finish.
	if c < 0 {
		if !r.out.AddProducer() {
			return fmt.Errorf("stage %d: %w", stage, errStageFinished)
		}
		r.fetchResult(p)
	} else {
		accepted := 0
		for _, cp := range r.producers[c] {
			body, err := proto.Marshal(&workerpb.AddProducerRequest{TaskId: cp.TaskId, Stage: int32(stage), Producer: p})
			if err != nil {
				return err
			}
			// A consumer that is gone (it had read everything and
			// ended) does not take the task. One that does not answer
			// might have taken it: the query fails (those that took it
			// would wait for it, the others lack its rows).
			var rep workerpb.AddProducerReply
			err = r.s.peers.Action(ctx, cp.Addr, worker.ActionAddProducer, body, &rep)
			switch {
			case status.Code(err) == codes.NotFound:
			case err != nil:
				err = fmt.Errorf("add a producer to %s: %w", cp.TaskId, err)
				r.fail(err)
				return err
			case rep.Ok:
				accepted++
			}
		}
		if accepted == 0 {
			return fmt.Errorf("stage %d: %w", stage, errStageFinished)
		}
	}
	// Its inputs' producers keep their whole output for any consumer,
	// also this one.
	req := r.taskRequest(stage, k, p.TaskId)
	req.BucketsLo, req.BucketsHi = lo, hi
	body, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	if err := r.s.peers.Action(ctx, addr, worker.ActionRunTask, body, nil); err != nil {
		return fmt.Errorf("start %s on %s: %w", p.TaskId, addr, err)
	}
	r.producers[stage] = append(r.producers[stage], p)
	r.Placement[stage] = append(r.Placement[stage], addr)
	if r.ranges[stage] != nil {
		r.ranges[stage] = append(r.ranges[stage], [2]int32{lo, hi})
	}
	return nil
}

// RetireTasks takes n tasks out of a running scan or elastic stage, the
// newest first, keeping at least one. Retired scan tasks claim no more
// splits, finish the ones they hold and end, and the stage's other tasks
// take the rest. A retired elastic task hands its buckets to a task next
// to them; both must not have sent rows yet (both restart, the retired
// one on no buckets). Answers do not change. It returns how many it
// retired. A ctx that has ended retires nothing.
func (r *Result) RetireTasks(ctx context.Context, stage, n int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if stage < 0 || stage >= len(r.graph.Stages) {
		return 0, fmt.Errorf("no stage %d", stage)
	}
	if err := r.growableLocked(stage); err != nil {
		return 0, err
	}
	if r.graph.Stages[stage].Elastic {
		return r.retireElasticLocked(stage, n), nil
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

// retireElasticLocked retires up to n tasks of an elastic stage (see
// RetireTasks) and returns how many it did: the task keeping the buckets
// of one retired is held first, then the retired one, and only then
// both restart. The caller holds r.mu.
func (r *Result) retireElasticLocked(stage, n int) int {
	rs := r.ranges[stage]
	done := 0
	for x := len(rs) - 1; x >= 0 && done < n; x-- {
		if rs[x][0] == rs[x][1] || r.activeRangesLocked(stage) <= 1 {
			continue
		}
		for y := range rs {
			if y == x || rs[y][0] == rs[y][1] || (rs[y][1] != rs[x][0] && rs[y][0] != rs[x][1]) {
				continue
			}
			if !r.rebucket(stage, y, &workerpb.RebucketRequest{Hold: true}) {
				continue
			}
			if !r.rebucket(stage, x, &workerpb.RebucketRequest{Hold: true}) {
				r.rebucket(stage, y, &workerpb.RebucketRequest{Release: true})
				break // x sends rows: it stays
			}
			lo, hi := min(rs[x][0], rs[y][0]), max(rs[x][1], rs[y][1])
			if !r.rebucket(stage, y, &workerpb.RebucketRequest{Lo: lo, Hi: hi}) ||
				!r.rebucket(stage, x, &workerpb.RebucketRequest{Lo: rs[x][0], Hi: rs[x][0]}) {
				r.fail(fmt.Errorf("stage %d: tasks %s and %s did not restart after holding: buckets [%d, %d) would be read twice or not at all", stage, r.producers[stage][y].TaskId, r.producers[stage][x].TaskId, lo, hi))
				return done
			}
			rs[y], rs[x] = [2]int32{lo, hi}, [2]int32{rs[x][0], rs[x][0]}
			done++
			break
		}
	}
	return done
}

// activeRangesLocked counts the tasks of an elastic stage that read some
// buckets. The caller holds r.mu.
func (r *Result) activeRangesLocked(stage int) int {
	n := 0
	for _, rg := range r.ranges[stage] {
		if rg[0] < rg[1] {
			n++
		}
	}
	return n
}

// activeLocked counts a stage's tasks that still claim splits (of an
// elastic stage: that read some buckets); the caller holds r.mu and
// r.s.mu.
func (r *Result) activeLocked(stage int) int {
	if r.ranges[stage] != nil {
		return r.activeRangesLocked(stage)
	}
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

// SetScanTasks makes every scan and elastic stage of the running query
// run n tasks (n >= 1): it adds tasks to stages with fewer, retires the
// newest of stages with more. A stage that has finished (or, elastic,
// whose tasks send rows) is left as it is.
func (r *Result) SetScanTasks(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("a stage needs at least one task, not %d", n)
	}
	for st := range r.graph.Stages {
		r.mu.Lock()
		growable := r.growableLocked(st) == nil
		r.mu.Unlock()
		if !growable {
			continue
		}
		active := r.ActiveTasks()[st]
		switch {
		case active < n:
			if err := r.AddTasks(ctx, st, n-active); err != nil && !errors.Is(err, errStageFinished) {
				return err
			}
		case active > n:
			if _, err := r.RetireTasks(ctx, st, active-n); err != nil {
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
func (r *Result) Workers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.workers)
}

// Next returns the next batch (owned by the caller), io.EOF at the end.
func (r *Result) Next(ctx context.Context) (arrow.RecordBatch, error) { return r.out.Pop(ctx) }

// Close stops the query's tasks on every worker and forgets its splits.
func (r *Result) Close() {
	r.cancel()
	r.out.Abort()
	body, _ := proto.Marshal(&workerpb.AbortRequest{QueryId: r.query})
	actx, cancel := context.WithTimeout(context.Background(), 5*time.Second) // a lost worker does not answer
	defer cancel()
	for _, w := range r.Workers() {
		r.s.peers.Action(actx, w, worker.ActionAbort, body, nil)
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
	ids := slices.Clone(r.rerun)
	for _, ps := range r.producers {
		for _, p := range ps {
			ids = append(ids, p.TaskId)
		}
	}
	for _, id := range ids {
		delete(r.s.claims, id)
		delete(r.s.claimed, id)
		delete(r.s.exhausted, id)
		delete(r.s.retired, id)
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
	r.ranges = make([][][2]int32, n)
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
		for k, p := range producers[st] {
			req := r.taskRequest(st, k, p.TaskId)
			if g.Stages[st].Elastic {
				lo, hi := exec.BucketRange(k, tasks[st])
				req.BucketsLo, req.BucketsHi = int32(lo), int32(hi)
				r.ranges[st] = append(r.ranges[st], [2]int32{int32(lo), int32(hi)})
			}
			body, err := proto.Marshal(req)
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
	r.outSlots = map[string]*worker.ProducerSlot{}
	for _, p := range producers[n-1] {
		r.fetchResult(p)
	}
	if opts.Live != nil {
		go r.watch(opts.Live)
	}
	return r, nil
}

// watch re-runs the tasks of workers that leave while the query runs.
func (r *Result) watch(live func() []string) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-tick.C:
		}
		alive := map[string]bool{}
		var up []string
		for _, w := range live() {
			alive[w] = true
			up = append(up, w)
		}
		r.mu.Lock()
		for st := range r.Placement { // producers first
			for k, addr := range r.Placement[st] {
				if !alive[addr] && len(up) > 0 && r.ctx.Err() == nil {
					r.rerunLocked(st, k, up, alive)
				}
			}
		}
		if r.opts.GrowOnJoin {
			r.growLocked(up)
		}
		r.mu.Unlock()
	}
}

// growLocked gives every running scan stage one task on each worker that
// joined since the query started: the new worker takes splits that are
// left. The caller holds r.mu.
func (r *Result) growLocked(up []string) {
	for _, w := range up {
		if slices.Contains(r.workers, w) || r.ctx.Err() != nil {
			continue
		}
		r.workers = append(r.workers, w) // also aborted on Close
		for st := range r.graph.Stages {
			if r.growableLocked(st) == nil { // a finished stage refuses the task
				if err := r.addTaskLocked(st, w); err == nil {
					r.grown.Add(1)
				}
			}
		}
	}
}

// Grown returns how many tasks the run added on workers that joined
// while it ran.
func (r *Result) Grown() int64 { return r.grown.Load() }

// ErrTaskLost is wrapped by the error of a query that lost a task which
// could not be re-run alone (a restart of the whole query may cure it).
var ErrTaskLost = errors.New("lost task")

// rerunLocked deals with task k of stage st, whose worker was lost. A
// task whose inputs are all kept by their producers (broadcasts, kept
// hash outputs: planner.FragmentGraph.Rerunnable), if any, runs again on
// a live worker: on the splits the lost one had claimed (and more, if it
// had not seen its scans end; the coordinator records claims per task),
// and, in an elastic stage, on the same buckets. Its consumers then read the re-run instead:
//   - a replayable stage's consumers hold each task's output until it is
//     complete, so they just switch;
//   - an elastic consumer stage's tasks restart on the re-run, except
//     those that had read all of the lost task; one that has already
//     sent rows cannot, and the query fails (ErrTaskLost);
//   - other consumers switch if nothing of the lost task had reached
//     them, and fail otherwise.
//
// Any other lost task fails the query by itself (its consumers' fetches
// break), which the caller may restart. alive says which workers are
// up; the caller holds r.mu.
func (r *Result) rerunLocked(st, k int, up []string, alive map[string]bool) {
	old := r.producers[st][k]
	if r.handled == nil {
		r.handled = map[string]bool{}
	}
	if r.handled[old.TaskId] {
		return
	}
	r.handled[old.TaskId] = true
	r.rerun = append(r.rerun, old.TaskId)
	stage := r.graph.Stages[st]
	if !r.graph.Rerunnable(stage) {
		return
	}
	c := r.consumer[st]
	lostErr := func(format string, a ...any) {
		r.fail(fmt.Errorf("%w %s of stage %d on %s: %s", ErrTaskLost, old.TaskId, st, old.Addr, fmt.Sprintf(format, a...)))
	}
	// Consumer tasks of an elastic stage restart on the re-run: hold
	// them first, so none sends a row meanwhile.
	var held []heldTask
	release := func() {
		for _, h := range held {
			r.rebucket(h.stage, h.task, &workerpb.RebucketRequest{Release: true})
		}
	}
	if c >= 0 && r.graph.Stages[c].Elastic && !stage.Replayable {
		if err := r.holdForRestart(c, old.TaskId, alive, &held); err != nil {
			release()
			lostErr("%v", err)
			return
		}
	}
	addr := up[r.placed%len(up)]
	r.placed++
	if !slices.Contains(r.workers, addr) {
		r.workers = append(r.workers, addr) // also aborted on Close
	}
	np := &workerpb.Producer{Addr: addr, TaskId: fmt.Sprintf("%s.r%d", old.TaskId, r.s.taskRetries.Load()+1)}
	req := r.taskRequest(st, k, np.TaskId)
	if stage.Elastic {
		req.BucketsLo, req.BucketsHi = r.ranges[st][k][0], r.ranges[st][k][1]
	}
	if planner.HasScan(stage.Root) {
		req.Fixed = r.fixedSplits(old.TaskId, np.TaskId)
	}
	body, err := proto.Marshal(req)
	if err == nil {
		err = r.s.peers.Action(r.ctx, addr, worker.ActionRunTask, body, nil)
	}
	if err != nil {
		release()
		lostErr("its re-run did not start on %s: %v", addr, err)
		return
	}
	r.producers[st][k] = np
	r.Placement[st][k] = addr
	r.s.taskRetries.Add(1)
	if c < 0 {
		if sl := r.outSlots[old.TaskId]; sl != nil {
			r.outSlots[np.TaskId] = sl
			sl.Replace(np)
		}
		return
	}
	for _, cp := range r.producers[c] {
		body, err := proto.Marshal(&workerpb.ReplaceProducerRequest{TaskId: cp.TaskId, Stage: int32(st), OldTaskId: old.TaskId, Producer: np})
		if err != nil {
			return
		}
		r.s.peers.Action(r.ctx, cp.Addr, worker.ActionReplaceProducer, body, nil) // a lost consumer is re-run or fails the query by itself
	}
	// Producers first: a task that takes back its rows has dropped them
	// before its consumers read its output again.
	slices.SortStableFunc(held, func(a, b heldTask) int { return a.stage - b.stage })
	for _, h := range held {
		rg := r.ranges[h.stage][h.task]
		if !r.rebucket(h.stage, h.task, &workerpb.RebucketRequest{Lo: rg[0], Hi: rg[1], TakeBack: h.takeBack}) {
			lostErr("consumer task %s did not restart", r.producers[h.stage][h.task].TaskId)
			return
		}
		if h.takeBack {
			r.s.takenBack.Add(1)
		}
	}
}

// heldTask is a task held for a restart.
type heldTask struct {
	stage, task int
	takeBack    bool // it had sent rows, which its restart takes back
}

// holdForRestart holds the live tasks of elastic stage c that must
// restart because producer task lost of theirs runs again: all but those
// that read all of it (or read no bucket). A task that has sent rows can
// restart only if its output is kept for an elastic stage, whose tasks
// still reading it restart too (and so on down). held collects the
// tasks held, for the caller to restart, or release on error. The
// caller holds r.mu.
func (r *Result) holdForRestart(c int, lost string, alive map[string]bool, held *[]heldTask) error {
	d := r.consumer[c]
	takeBack := r.graph.Stages[c].Kept && d >= 0 && r.graph.Stages[d].Elastic
	for j, cp := range r.producers[c] {
		if !alive[cp.Addr] || slices.ContainsFunc(*held, func(h heldTask) bool { return h.stage == c && h.task == j }) {
			continue // re-run itself, or held already
		}
		// Tasks on no buckets too: they read their inputs to the end.
		rep, err := r.rebucketReply(c, j, &workerpb.RebucketRequest{Hold: true, Lost: lost, TakeBack: takeBack})
		switch {
		case status.Code(err) == codes.NotFound:
			continue // ended, its output all read: it needs nothing more
		case err != nil:
			r.rebucket(c, j, &workerpb.RebucketRequest{Release: true})
			return fmt.Errorf("consumer task %s: %w", cp.TaskId, err)
		case rep.Complete:
			continue
		case !rep.Ok:
			return fmt.Errorf("consumer task %s has already sent rows", cp.TaskId)
		}
		*held = append(*held, heldTask{c, j, rep.TakenBack})
		if rep.TakenBack {
			if err := r.holdForRestart(d, cp.TaskId, alive, held); err != nil {
				return err
			}
		}
	}
	return nil
}

// fixedSplits hands the splits task old had claimed to its re-run np,
// per scan, with whether np claims more after them (old had not seen
// the scan end). The caller holds r.mu.
func (r *Result) fixedSplits(old, np string) []*workerpb.FixedSplits {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.retired[old] = true // no more splits for it, should it still be there
	byScan := map[int32]*workerpb.FixedSplits{}
	fixed := func(scan int32) *workerpb.FixedSplits {
		if byScan[scan] == nil {
			byScan[scan] = &workerpb.FixedSplits{Scan: scan, More: !r.s.exhausted[old][scan]}
		}
		return byScan[scan]
	}
	for _, cl := range r.s.claimed[old] {
		f := fixed(cl.scan)
		f.Splits = append(f.Splits, cl.split)
	}
	for scan := range r.s.exhausted[old] {
		fixed(scan)
	}
	// The re-run owns the lost task's splits (should it be lost too).
	r.s.claimed[np] = append([]claim(nil), r.s.claimed[old]...)
	r.s.claims[np] = r.s.claims[old]
	if ex := r.s.exhausted[old]; ex != nil {
		r.s.exhausted[np] = maps.Clone(ex)
	}
	var out []*workerpb.FixedSplits
	for _, f := range byScan {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *workerpb.FixedSplits) int { return int(a.Scan - b.Scan) })
	return out
}

// Progress returns, per stage, the scan splits handed out so far and the
// splits its scans have (0, 0 for a stage that scans nothing, or before
// its first claim).
func (r *Result) Progress() (claimed, total []int64) {
	claimed, total = make([]int64, len(r.graph.Stages)), make([]int64, len(r.graph.Stages))
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	for k, q := range r.s.splits {
		if k.query != r.query || int(k.stage) >= len(claimed) || k.stage < 0 {
			continue
		}
		c, t := q.Progress()
		claimed[k.stage] += c
		total[k.stage] += t
	}
	return claimed, total
}

// Stats asks every worker of the query what its tasks did (so far: call
// before Close, which makes the workers forget them), sorted by stage and
// task; a worker that does not answer is skipped.
func (r *Result) Stats(ctx context.Context) []*workerpb.TaskStat {
	body, _ := proto.Marshal(&workerpb.TaskStatsRequest{QueryId: r.query})
	var out []*workerpb.TaskStat
	for _, w := range r.Workers() {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var rep workerpb.TaskStatsReply
		if err := r.s.peers.Action(cctx, w, worker.ActionTaskStats, body, &rep); err == nil {
			out = append(out, rep.Stats...)
		}
		cancel()
	}
	slices.SortFunc(out, func(a, b *workerpb.TaskStat) int {
		if a.Stage != b.Stage {
			return int(a.Stage - b.Stage)
		}
		if a.Task != b.Task {
			return int(a.Task - b.Task)
		}
		return strings.Compare(a.TaskId, b.TaskId)
	})
	return out
}

// Tasks returns, per stage, the worker address of each task now (a
// re-run task on its new worker).
func (r *Result) Tasks() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([][]string, len(r.Placement))
	for i, p := range r.Placement {
		out[i] = slices.Clone(p)
	}
	return out
}
