package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/flight"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/bellows-db/bellows/exec"
	"github.com/bellows-db/bellows/planner"
	"github.com/bellows-db/bellows/planner/planpb"
	"github.com/bellows-db/bellows/worker/workerpb"
)

// Action types of the task service (Flight DoAction).
const (
	ActionRunTask         = "run_task"
	ActionAbort           = "abort"
	ActionAddProducer     = "add_producer"
	ActionReplaceProducer = "replace_producer"
	ActionClaimSplit      = "claim_split"
	ActionTaskStats       = "task_stats"
	ActionRebucket        = "rebucket"
)

// replaceWait is how long a consumer waits for the re-run of a lost
// producer of a replayable stage before it gives up (the coordinator
// notices a lost worker in about 2 s).
const replaceWait = 15 * time.Second

// Service is a worker's task service, served as Arrow Flight: it runs the
// tasks a coordinator sends (DoAction run_task), serves their output
// partitions to consumer tasks (DoGet) and stops a query's tasks (DoAction
// abort). A task's inputs are fetched from its producers' workers, its
// splits claimed from the coordinator. Safe for concurrent use.
type Service struct {
	flight.BaseFlightServer
	alloc memory.Allocator
	peers *Peers
	// StartDelay, for fault-injection tests, holds every task this long
	// before it runs (so a query lasts long enough to lose a worker).
	StartDelay time.Duration
	// ClaimDelay, for tests, slows every split claim by this much (so a
	// scan lasts long enough to add tasks to it).
	ClaimDelay time.Duration

	mu      sync.Mutex
	tasks   map[string]*task   // running, or finished and not yet fetched
	byQuery map[string][]*task // every task of a query, until its abort (task_stats)
}

// task is one running (or finished, not yet fetched) task. A task of an
// elastic stage may run more than once (rebucket): each attempt reads its
// inputs afresh, and outputs pass to the next attempt only while nothing
// has been sent.
type task struct {
	id         string
	stage      int32
	query      string
	partition  int32 // its index in its stage: the partition it reads
	last       bool  // of the last stage: its output goes to the client
	req        *workerpb.TaskRequest
	st         *planner.Stage
	replayable map[int]bool // by stage
	rerunnable map[int]bool // by stage: its lost tasks can be re-run alone (FragmentGraph.Rerunnable)
	keptIn     map[int]bool // by stage: kept hash outputs, read by bucket range
	schema     *arrow.Schema
	out        []*exec.BatchQueue // one per output partition
	kept       *exec.KeptBuffer   // instead, an output kept for any consumer (broadcast or kept hash)
	fetched    int                // partitions streamed to the end

	inmu sync.Mutex // guards cur, held and the input records below
	cur  *attempt
	// held: the outputs are frozen for a restart the coordinator is
	// preparing; an attempt that ends meanwhile waits (heldCond) to learn
	// whether it was superseded before it ends its outputs.
	held     bool
	heldCond *sync.Cond
	stopped  bool                          // stop has run: no new attempt
	extra    map[int][]*workerpb.Producer  // producers added to the stages it reads
	slots    map[string]*ProducerSlot      // by producer task: the current attempt's replaceable inputs
	swaps    map[string]*workerpb.Producer // re-runs of lost producers, by the lost one's ID

	smu     sync.Mutex // guards the stats below
	state   string
	started time.Time
	ended   time.Time
	splits  int64
	errText string
	runs    int32
}

// attempt is one run of a task.
type attempt struct {
	lo, hi   int32 // the buckets it reads of kept hash inputs
	ctx      context.Context
	fetchCtx context.Context // the inputs' fetches (end with the attempt's plan)
	cancel   context.CancelFunc
	done     chan struct{}
	alloc    memory.Allocator
	inputs   map[int]*exec.BatchQueue // by producing stage, once opened
	complete map[string]bool          // producer tasks read to the end (guarded by the task's inmu)
}

// stat reports what the task has done so far.
func (t *task) stat() *workerpb.TaskStat {
	t.smu.Lock()
	defer t.smu.Unlock()
	st := &workerpb.TaskStat{TaskId: t.id, Stage: t.stage, Task: t.partition, State: t.state, Splits: t.splits, Error: t.errText, Runs: t.runs}
	for _, q := range t.out {
		st.RowsOut += q.Rows()
	}
	if t.kept != nil {
		st.RowsOut = t.kept.Rows()
	}
	switch {
	case !t.ended.IsZero():
		st.ElapsedUs = t.ended.Sub(t.started).Microseconds()
	case !t.started.IsZero():
		st.ElapsedUs = time.Since(t.started).Microseconds()
	}
	return st
}

// NewService returns a task service whose tasks allocate from alloc;
// dial options (the cluster token) go to its calls to other nodes.
func NewService(alloc memory.Allocator, dial ...grpc.DialOption) *Service {
	return &Service{alloc: alloc, peers: NewPeers(dial...), tasks: map[string]*task{}, byQuery: map[string][]*task{}}
}

// Register adds the service to a gRPC server.
func (s *Service) Register(g *grpc.Server) { flight.RegisterFlightServiceServer(g, s) }

// Close stops every task and closes the connections to peers.
func (s *Service) Close() {
	s.mu.Lock()
	var ts []*task
	for id, t := range s.tasks {
		ts = append(ts, t)
		delete(s.tasks, id)
	}
	s.mu.Unlock()
	for _, t := range ts {
		t.stop()
	}
	s.peers.Close()
}

// Tasks returns the number of tasks the service holds.
func (s *Service) Tasks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tasks)
}

func (t *task) stop() {
	t.inmu.Lock()
	a := t.cur
	t.stopped = true
	t.held = false
	t.heldCond.Broadcast()
	t.inmu.Unlock()
	a.cancel()
	for _, q := range t.out {
		q.Abort()
	}
	<-a.done
	if t.kept != nil {
		t.kept.Abort()
	}
}

// DoAction implements the control calls.
func (s *Service) DoAction(a *flight.Action, stream flight.FlightService_DoActionServer) error {
	switch a.Type {
	case ActionRunTask:
		var req workerpb.TaskRequest
		if err := proto.Unmarshal(a.Body, &req); err != nil {
			return status.Errorf(codes.InvalidArgument, "run_task: %v", err)
		}
		if err := s.start(&req); err != nil {
			return status.Errorf(codes.InvalidArgument, "run_task %s: %v", req.TaskId, err)
		}
		return stream.Send(&flight.Result{})
	case ActionAddProducer:
		var req workerpb.AddProducerRequest
		if err := proto.Unmarshal(a.Body, &req); err != nil {
			return status.Errorf(codes.InvalidArgument, "add_producer: %v", err)
		}
		ok, err := s.addProducer(&req)
		if err != nil {
			return err
		}
		body, err := proto.Marshal(&workerpb.AddProducerReply{Ok: ok})
		if err != nil {
			return err
		}
		return stream.Send(&flight.Result{Body: body})
	case ActionReplaceProducer:
		var req workerpb.ReplaceProducerRequest
		if err := proto.Unmarshal(a.Body, &req); err != nil {
			return status.Errorf(codes.InvalidArgument, "replace_producer: %v", err)
		}
		if err := s.replaceProducer(&req); err != nil {
			return err
		}
		return stream.Send(&flight.Result{})
	case ActionRebucket:
		var req workerpb.RebucketRequest
		if err := proto.Unmarshal(a.Body, &req); err != nil {
			return status.Errorf(codes.InvalidArgument, "rebucket: %v", err)
		}
		rep, err := s.rebucket(&req)
		if err != nil {
			return err
		}
		body, err := proto.Marshal(rep)
		if err != nil {
			return err
		}
		return stream.Send(&flight.Result{Body: body})
	case ActionTaskStats:
		var req workerpb.TaskStatsRequest
		if err := proto.Unmarshal(a.Body, &req); err != nil {
			return status.Errorf(codes.InvalidArgument, "task_stats: %v", err)
		}
		s.mu.Lock()
		ts := append([]*task(nil), s.byQuery[req.QueryId]...)
		s.mu.Unlock()
		rep := &workerpb.TaskStatsReply{}
		for _, t := range ts {
			rep.Stats = append(rep.Stats, t.stat())
		}
		body, err := proto.Marshal(rep)
		if err != nil {
			return err
		}
		return stream.Send(&flight.Result{Body: body})
	case ActionAbort:
		var req workerpb.AbortRequest
		if err := proto.Unmarshal(a.Body, &req); err != nil {
			return status.Errorf(codes.InvalidArgument, "abort: %v", err)
		}
		s.abort(req.QueryId)
		return stream.Send(&flight.Result{})
	}
	return status.Errorf(codes.InvalidArgument, "unknown action %q", a.Type)
}

// addProducer makes a consumer task read one more producer of a stage.
func (s *Service) addProducer(req *workerpb.AddProducerRequest) (bool, error) {
	s.mu.Lock()
	t, ok := s.tasks[req.TaskId]
	s.mu.Unlock()
	if !ok {
		return false, status.Errorf(codes.NotFound, "no task %s on this worker", req.TaskId)
	}
	if req.Producer == nil {
		return false, status.Error(codes.InvalidArgument, "add_producer without a producer")
	}
	t.inmu.Lock()
	defer t.inmu.Unlock()
	q, ok := t.cur.inputs[int(req.Stage)]
	if ok && !q.AddProducer() {
		return false, nil // the task has read all of that stage
	}
	// Recorded for later attempts too; an input not opened yet reads
	// the producer with the others when it opens.
	if t.extra == nil {
		t.extra = map[int][]*workerpb.Producer{}
	}
	t.extra[int(req.Stage)] = append(t.extra[int(req.Stage)], req.Producer)
	if ok {
		t.fetchLocked(s.peers, t.cur, int(req.Stage), req.Producer, q)
	}
	return true, nil
}

// fetchLocked starts attempt a reading producer p of stage into q: its
// bucket range of a kept output, else its partition. How a lost producer
// is dealt with depends on the stages: the output of a replayable stage
// is held until complete, and a re-run replaces it; of other stages whose
// lost tasks are re-run (FragmentGraph.Rerunnable), a task of an elastic
// stage waits to be restarted on the re-run, others switch to the re-run
// if nothing of the lost task had come yet. A lost producer of any other
// stage fails the fetch at once. The caller holds t.inmu.
func (t *task) fetchLocked(peers *Peers, a *attempt, stage int, p *workerpb.Producer, q *exec.BatchQueue) {
	tkt := &workerpb.FetchTicket{Partition: t.partition}
	if t.keptIn[stage] {
		tkt = &workerpb.FetchTicket{Ranged: true, Lo: a.lo, Hi: a.hi}
	}
	done := func(id string) {
		t.inmu.Lock()
		a.complete[id] = true
		t.inmu.Unlock()
	}
	switch {
	case t.replayable[stage]:
		sl := NewProducerSlot()
		t.slots[p.TaskId] = sl
		go fetchReplayable(a.fetchCtx, peers, p, tkt, q, a.alloc, sl, done)
	case t.st.Elastic && t.rerunnable[stage]:
		go fetchUntilRestart(a.fetchCtx, peers, p, tkt, q, a.alloc, done)
	case t.rerunnable[stage]:
		sl := NewProducerSlot()
		t.slots[p.TaskId] = sl
		go func() { q.Done(FetchReplaceable(a.fetchCtx, peers, p, tkt, q, a.alloc, sl, done)) }()
	default:
		go Fetch(a.fetchCtx, peers, p, tkt, q, a.alloc)
	}
}

// lostProducer reports whether a fetch failed because its producer went
// away (its worker is unreachable, or its task was stopped), not because
// the producer failed.
func lostProducer(err error) bool {
	code := status.Code(err)
	return code == codes.Unavailable || code == codes.Canceled || errors.Is(err, context.Canceled)
}

// fetchUntilRestart reads producer p of a task of an elastic stage into
// queue. When p is lost the task waits (up to replaceWait) for the
// coordinator to restart it on p's re-run, which ends ctx, instead of
// failing.
func fetchUntilRestart(ctx context.Context, peers *Peers, p *workerpb.Producer, tkt *workerpb.FetchTicket, queue *exec.BatchQueue, alloc memory.Allocator, done func(string)) {
	err := fetchStream(ctx, peers, p, tkt, alloc, func(b arrow.RecordBatch) error {
		return queue.Push(ctx, b)
	})
	if err == nil {
		done(p.TaskId)
	} else if lostProducer(err) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-time.After(replaceWait):
		}
	}
	queue.Done(err)
}

// FetchReplaceable reads producer p (what tkt names) into queue and
// returns how it ended; done gets the ID of the producer read to the
// end. When p is lost before any of its rows came, the fetch waits (up
// to replaceWait) for a re-run handed to sl, and reads that instead.
func FetchReplaceable(ctx context.Context, peers *Peers, p *workerpb.Producer, tkt *workerpb.FetchTicket, queue *exec.BatchQueue, alloc memory.Allocator, sl *ProducerSlot, done func(string)) error {
	for {
		fctx, cancel := sl.begin(ctx)
		got := false
		err := fetchStream(fctx, peers, p, tkt, alloc, func(b arrow.RecordBatch) error {
			if !got { // rows came: no re-run can take its place
				got = true
				sl.mu.Lock()
				sl.committed = true
				sl.mu.Unlock()
			}
			return queue.Push(ctx, b)
		})
		cancel()
		if err == nil {
			if done != nil {
				done(p.TaskId)
			}
			return nil
		}
		if got || ctx.Err() != nil || !lostProducer(err) {
			return err
		}
		if p, err = sl.await(ctx, err); err != nil {
			return err
		}
	}
}

// replaceProducer points a consumer task's input at the re-run of a lost
// producer.
func (s *Service) replaceProducer(req *workerpb.ReplaceProducerRequest) error {
	s.mu.Lock()
	t, ok := s.tasks[req.TaskId]
	s.mu.Unlock()
	if !ok {
		return status.Errorf(codes.NotFound, "no task %s on this worker", req.TaskId)
	}
	if req.Producer == nil {
		return status.Error(codes.InvalidArgument, "replace_producer without a producer")
	}
	t.inmu.Lock()
	defer t.inmu.Unlock()
	// Inputs opened later (or by a later attempt) read the re-run.
	if t.swaps == nil {
		t.swaps = map[string]*workerpb.Producer{}
	}
	t.swaps[req.OldTaskId] = req.Producer
	if sl, ok := t.slots[req.OldTaskId]; ok {
		sl.Replace(req.Producer)
		t.slots[req.Producer.TaskId] = sl
	}
	return nil
}

// ProducerSlot is a consumer's view of one producer whose lost task can
// be re-run: until its output is committed (held complete, for a
// replayable stage; or some of it came, for others), a
// re-run of the producer can take its place.
type ProducerSlot struct {
	mu        sync.Mutex
	committed bool
	cancel    context.CancelFunc // the current fetch
	next      chan *workerpb.Producer
}

// NewProducerSlot returns the slot of one producer, not yet committed.
func NewProducerSlot() *ProducerSlot {
	return &ProducerSlot{next: make(chan *workerpb.Producer, 1)}
}

// Replace hands the slot a re-run of its producer, unless its output is
// already committed; the current fetch is stopped. Safe for concurrent
// use.
func (sl *ProducerSlot) Replace(p *workerpb.Producer) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if sl.committed {
		return
	}
	select {
	case <-sl.next: // an older re-run that never got read
	default:
	}
	sl.next <- p
	if sl.cancel != nil {
		sl.cancel()
	}
}

// begin returns the context of one fetch through the slot, which a
// Replace cancels.
func (sl *ProducerSlot) begin(ctx context.Context) (context.Context, context.CancelFunc) {
	fctx, cancel := context.WithCancel(ctx)
	sl.mu.Lock()
	sl.cancel = cancel
	sl.mu.Unlock()
	return fctx, cancel
}

// await waits (up to replaceWait) for the re-run of a producer whose
// fetch failed with err, and returns it; err if none comes in time, ctx's
// error if ctx ends first.
func (sl *ProducerSlot) await(ctx context.Context, err error) (*workerpb.Producer, error) {
	select {
	case np := <-sl.next:
		return np, nil
	case <-time.After(replaceWait):
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fetchReplayable reads what tkt names of producer p completely, then moves
// it into queue. When the stream breaks first, what came is dropped and
// the fetch waits (up to replaceWait) for the coordinator to announce
// the producer's re-run, then reads that instead.
func fetchReplayable(ctx context.Context, peers *Peers, p *workerpb.Producer, tkt *workerpb.FetchTicket, queue *exec.BatchQueue, alloc memory.Allocator, sl *ProducerSlot, done func(string)) {
	queue.Done(func() error {
		for {
			fctx, cancel := sl.begin(ctx)
			var held []arrow.RecordBatch
			err := fetchStream(fctx, peers, p, tkt, alloc, func(b arrow.RecordBatch) error {
				held = append(held, b)
				return nil
			})
			cancel()
			if err == nil {
				sl.mu.Lock()
				sl.committed = true
				sl.mu.Unlock()
				for i, b := range held {
					if err := queue.Push(ctx, b); err != nil {
						for _, r := range held[i+1:] {
							r.Release()
						}
						return err
					}
				}
				done(p.TaskId)
				return nil
			}
			for _, b := range held {
				b.Release()
			}
			// Wait for a re-run only when the producer was lost (its
			// worker is unreachable) or replaced; a producer that
			// failed (its query's error) fails this fetch at once.
			if ctx.Err() != nil || !lostProducer(err) {
				return err
			}
			if p, err = sl.await(ctx, err); err != nil {
				return err
			}
		}
	}())
}

// abort stops and forgets every task of a query.
func (s *Service) abort(query string) {
	s.mu.Lock()
	delete(s.byQuery, query)
	var ts []*task
	for id, t := range s.tasks {
		if t.query == query {
			ts = append(ts, t)
			delete(s.tasks, id)
		}
	}
	s.mu.Unlock()
	for _, t := range ts {
		t.stop()
	}
}

// start decodes a task and runs it in the background.
func (s *Service) start(req *workerpb.TaskRequest) error {
	g, err := planpb.Unmarshal(req.Graph)
	if err != nil {
		return err
	}
	if req.Stage < 0 || int(req.Stage) >= len(g.Stages) || req.Partitions < 1 {
		return fmt.Errorf("stage %d of %d, %d partitions", req.Stage, len(g.Stages), req.Partitions)
	}
	if req.BucketsLo < 0 || req.BucketsHi > exec.ExchangeBuckets || req.BucketsLo > req.BucketsHi {
		return fmt.Errorf("bucket range [%d, %d) outside [0, %d)", req.BucketsLo, req.BucketsHi, exec.ExchangeBuckets)
	}
	st := g.Stages[req.Stage]
	t := &task{id: req.TaskId, stage: req.Stage, state: "waiting", query: req.QueryId, partition: req.Task, req: req, st: st,
		replayable: map[int]bool{}, rerunnable: map[int]bool{}, keptIn: map[int]bool{}, slots: map[string]*ProducerSlot{},
		schema: exec.SchemaOf(st.Root.Columns())}
	for _, gs := range g.Stages {
		t.replayable[gs.ID] = gs.Replayable
		t.rerunnable[gs.ID] = g.Rerunnable(gs)
		t.keptIn[gs.ID] = gs.Kept && gs.Output == planner.ExchangeHash
	}
	last := int(req.Stage) == len(g.Stages)-1
	t.last = last
	switch {
	case !last && (st.Output == planner.ExchangeBroadcast || st.Output == planner.ExchangeHash && st.Kept):
		// Kept whole for every consumer, also ones added later.
		t.kept = exec.NewKeptBuffer()
	default:
		t.out = make([]*exec.BatchQueue, req.Partitions)
		for i := range t.out {
			t.out[i] = exec.NewBatchQueue(1)
		}
	}
	if _, err := t.sink(exec.NewQueryContext(s.alloc, 0, 1)); err != nil {
		return err
	}
	a := t.newAttempt(req.BucketsLo, req.BucketsHi)
	t.cur = a
	t.heldCond = sync.NewCond(&t.inmu)
	s.mu.Lock()
	if _, dup := s.tasks[req.TaskId]; dup {
		s.mu.Unlock()
		a.cancel()
		return fmt.Errorf("task %s exists", req.TaskId)
	}
	s.tasks[req.TaskId] = t
	s.byQuery[req.QueryId] = append(s.byQuery[req.QueryId], t)
	s.mu.Unlock()
	go s.run(t, a, nil)
	return nil
}

// sink returns the sink of one attempt of t, allocating from q.
func (t *task) sink(q *exec.QueryContext) (*exec.PartitionSink, error) {
	kind, keys := t.st.Output, t.st.Keys
	if t.kept != nil {
		return exec.NewKeptSink(q, kind, keys, t.st.Root.Columns(), t.kept)
	}
	if t.last {
		kind, keys = planner.ExchangeGather, nil // to the client
	}
	return exec.NewPartitionSink(q, kind, keys, t.st.Root.Columns(), t.out)
}

// newAttempt returns a task's next attempt, not started, reading the
// buckets [lo, hi) of kept hash inputs.
func (t *task) newAttempt(lo, hi int32) *attempt {
	ctx, cancel := context.WithCancel(context.Background())
	return &attempt{lo: lo, hi: hi, ctx: ctx, cancel: cancel, done: make(chan struct{}), inputs: map[int]*exec.BatchQueue{}, complete: map[string]bool{}}
}

// run runs attempt a of t (after the attempt before it, prev, has ended:
// its outputs pass to a only then). An attempt superseded by another
// leaves the outputs to it.
func (s *Service) run(t *task, a *attempt, prev *attempt) {
	defer close(a.done)
	req := t.req
	q := exec.NewQueryContext(s.alloc, req.MemoryLimit, int(req.Parallelism))
	a.alloc = q.Alloc
	fetchCtx, stopInputs := context.WithCancel(a.ctx)
	a.fetchCtx = fetchCtx
	inputs := map[int]*workerpb.Input{}
	for _, in := range req.Inputs {
		inputs[int(in.Stage)] = in
	}
	q.Exchanges = func(ex *planner.Exchange) (exec.Source, error) {
		in, ok := inputs[ex.Stage]
		if !ok || len(in.Producers) == 0 {
			return nil, fmt.Errorf("no producers for stage %d", ex.Stage)
		}
		t.inmu.Lock()
		defer t.inmu.Unlock()
		producers := append(append([]*workerpb.Producer{}, in.Producers...), t.extra[ex.Stage]...)
		for i, p := range producers {
			for t.swaps[p.TaskId] != nil { // re-runs announced before now
				p = t.swaps[p.TaskId]
			}
			producers[i] = p
		}
		queue := exec.NewBatchQueue(len(producers))
		a.inputs[ex.Stage] = queue
		for _, p := range producers {
			t.fetchLocked(s.peers, a, ex.Stage, p, queue)
		}
		return queue.Source(), nil
	}
	ordinals := scanOrdinals(t.st.Root)
	fixed := map[int32]*workerpb.FixedSplits{}
	for _, f := range req.Fixed {
		fixed[f.Scan] = f
	}
	q.SplitQueues = func(sc *planner.Scan) exec.SplitSource {
		ord := int32(ordinals[sc])
		rs := &remoteSplits{peers: s.peers, addr: req.Coordinator, query: req.QueryId, task: req.TaskId, stage: req.Stage, scan: ord, delay: s.ClaimDelay, more: true}
		if f := fixed[ord]; f != nil {
			rs.fixed, rs.more = f.Splits, f.More
		}
		return rs
	}
	err := func() error {
		if prev != nil {
			<-prev.done
			t.inmu.Lock()
			if t.cur == a && !t.held { // not superseded, nor held again
				t.thaw()
			}
			t.inmu.Unlock()
			if err := a.ctx.Err(); err != nil {
				return err // superseded (or stopped) before it began
			}
		}
		if s.StartDelay > 0 {
			select {
			case <-time.After(s.StartDelay):
			case <-a.ctx.Done():
				return a.ctx.Err()
			}
		}
		t.smu.Lock()
		if t.started.IsZero() {
			t.started = time.Now()
		}
		t.state = "running"
		t.runs++
		t.smu.Unlock()
		sink, err := t.sink(q)
		if err != nil {
			return err
		}
		plan, err := exec.Build(q, t.st.Root, sink)
		if err != nil {
			return err
		}
		defer plan.Close()
		err = plan.Run(a.ctx, q)
		t.smu.Lock()
		for _, sc := range plan.Scans {
			t.splits += sc.SplitsClaimed.Load()
		}
		t.smu.Unlock()
		return err
	}()
	// Done with the inputs: stop fetching them (a task that stopped
	// early, at a limit, must not hold up producers that also feed
	// other tasks).
	stopInputs()
	t.inmu.Lock()
	defer t.inmu.Unlock() // a rebucket sees the outputs open, or ended
	for _, in := range a.inputs {
		in.Abort()
	}
	for t.held && t.cur == a {
		t.heldCond.Wait() // restarted or released
	}
	if t.cur != a {
		return // superseded: the next attempt owns the outputs
	}
	t.smu.Lock()
	t.ended, t.state = time.Now(), "finished"
	if t.started.IsZero() {
		t.started = t.ended
	}
	if err != nil {
		t.state, t.errText = "failed", err.Error()
	}
	t.smu.Unlock()
	if err != nil {
		err = fmt.Errorf("task %s: %w", req.TaskId, err)
	}
	if t.kept != nil {
		t.kept.Done(err)
	}
	for _, o := range t.out {
		o.Done(err)
	}
}

// endedWell reports whether attempt a (t's current) has ended without
// error: its output is complete, and needs no input again.
func (t *task) endedWell(a *attempt) bool {
	select {
	case <-a.done:
	default:
		return false
	}
	t.smu.Lock()
	defer t.smu.Unlock()
	return t.state == "finished"
}

// freeze stops t's outputs taking rows, if none has gone out yet, and
// reports whether it did (then t may restart: see rebucket).
func (t *task) freeze() bool {
	if t.kept != nil {
		return t.kept.Freeze()
	}
	for i, o := range t.out {
		if !o.Freeze() {
			for _, f := range t.out[:i] {
				f.Thaw()
			}
			return false
		}
	}
	return true
}

// thaw lets t's outputs take rows again (its new attempt's).
func (t *task) thaw() {
	if t.kept != nil {
		t.kept.Thaw()
	}
	for _, o := range t.out {
		o.Thaw()
	}
}

// rebucket restarts a task of an elastic stage on the buckets [lo, hi)
// of its kept hash inputs, if it has sent nothing yet; false (and
// nothing changed) otherwise. The old attempt is cancelled and the new
// one starts once it has ended, into the same outputs, so consumers of
// the task see only the new attempt's rows. With req.Hold it only holds
// the output (true if nothing had been sent), so that the coordinator
// can hold several tasks before restarting any; req.Release lets a held
// task go on as it was. A hold naming a lost producer that the task has
// read to the end answers complete and holds nothing.
func (s *Service) rebucket(req *workerpb.RebucketRequest) (*workerpb.RebucketReply, error) {
	s.mu.Lock()
	t, ok := s.tasks[req.TaskId]
	s.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no task %s on this worker", req.TaskId)
	}
	if !t.st.Elastic {
		return nil, status.Errorf(codes.FailedPrecondition, "task %s: stage %d is not elastic", req.TaskId, t.stage)
	}
	if req.Lo < 0 || req.Hi > exec.ExchangeBuckets || req.Lo > req.Hi {
		return nil, status.Errorf(codes.InvalidArgument, "bucket range [%d, %d) outside [0, %d)", req.Lo, req.Hi, exec.ExchangeBuckets)
	}
	t.inmu.Lock()
	prev := t.cur
	if req.Release {
		t.thaw()
		t.held = false
		t.heldCond.Broadcast()
		t.inmu.Unlock()
		return &workerpb.RebucketReply{Ok: true}, nil
	}
	if req.Hold && req.Lost != "" && (prev.complete[req.Lost] || t.endedWell(prev)) {
		t.inmu.Unlock()
		return &workerpb.RebucketReply{Ok: true, Complete: true}, nil
	}
	taken := false
	switch {
	case t.stopped || prev.ctx.Err() != nil:
		t.inmu.Unlock()
		return &workerpb.RebucketReply{}, nil
	case req.TakeBack && t.kept != nil:
		taken = t.kept.FreezeAll() // again, for a held task: the same answer
	case t.held:
		// Frozen by the hold: nothing went out since.
	case !t.freeze():
		t.inmu.Unlock()
		return &workerpb.RebucketReply{}, nil
	}
	if req.Hold {
		t.held = true
		t.inmu.Unlock()
		return &workerpb.RebucketReply{Ok: true, TakenBack: taken}, nil
	}
	if taken {
		t.kept.Reset() // consumers still reading it restart after this
		t.smu.Lock()
		t.ended = time.Time{}
		t.smu.Unlock()
	}
	a := t.newAttempt(req.Lo, req.Hi)
	t.cur = a
	t.held = false
	t.heldCond.Broadcast() // an old attempt that ended while held: superseded
	t.slots = map[string]*ProducerSlot{}
	t.inmu.Unlock()
	prev.cancel()
	go s.run(t, a, prev)
	return &workerpb.RebucketReply{Ok: true, TakenBack: taken}, nil
}

// scanOrdinals numbers a stage's scans in walk order (the same in every
// task, whatever process decoded the stage).
func scanOrdinals(root planner.Node) map[*planner.Scan]int {
	out := map[*planner.Scan]int{}
	planner.Walk(root, func(n planner.Node) {
		if sc, ok := n.(*planner.Scan); ok {
			out[sc] = len(out)
		}
	})
	return out
}

// Fetch streams what tkt names (a partition, or a bucket range of a kept
// output; its task ID is p's) of producer task p into queue (one of its
// producers: Done is called when the stream ends), batches allocated
// from alloc.
func Fetch(ctx context.Context, peers *Peers, p *workerpb.Producer, tkt *workerpb.FetchTicket, queue *exec.BatchQueue, alloc memory.Allocator) {
	queue.Done(fetchStream(ctx, peers, p, tkt, alloc, func(b arrow.RecordBatch) error {
		return queue.Push(ctx, b)
	}))
}

// fetchStream reads what tkt names of producer task p to the end,
// handing each batch (owned by emit) to emit; errors name the producer.
func fetchStream(ctx context.Context, peers *Peers, p *workerpb.Producer, want *workerpb.FetchTicket, alloc memory.Allocator, emit func(arrow.RecordBatch) error) error {
	c, err := peers.Client(p.Addr)
	if err != nil {
		return err
	}
	tkt, err := proto.Marshal(&workerpb.FetchTicket{TaskId: p.TaskId, Partition: want.Partition, Ranged: want.Ranged, Lo: want.Lo, Hi: want.Hi})
	if err != nil {
		return err
	}
	var rdr *flight.Reader
	lc := exec.NewLimitCatcher(alloc) // the query's limit, not "bad metadata"
	for attempt := 0; ; attempt++ {
		stream, err := c.DoGet(ctx, &flight.Ticket{Ticket: tkt})
		if err == nil {
			rdr, err = flight.NewRecordReader(stream, ipc.WithAllocator(lc))
		}
		// A task added to a running stage (or re-run) is registered
		// right after its consumers learn of it: wait for it a little.
		if status.Code(err) == codes.NotFound && attempt < 50 {
			select {
			case <-time.After(20 * time.Millisecond):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err != nil {
			return fmt.Errorf("fetch %s from %s: %w", p.TaskId, p.Addr, err)
		}
		break
	}
	defer rdr.Release()
	for rdr.Next() {
		b := rdr.RecordBatch()
		b.Retain()
		if err := emit(b); err != nil {
			return err
		}
	}
	if err := rdr.Err(); err != nil {
		if lerr := lc.Err(); lerr != nil {
			err = lerr
		}
		return fmt.Errorf("fetch %s from %s: %w", p.TaskId, p.Addr, err)
	}
	return nil
}

// DoGet streams one output partition of a task to its consumer.
func (s *Service) DoGet(tkt *flight.Ticket, stream flight.FlightService_DoGetServer) error {
	var ft workerpb.FetchTicket
	if err := proto.Unmarshal(tkt.Ticket, &ft); err != nil {
		return status.Errorf(codes.InvalidArgument, "malformed fetch ticket: %v", err)
	}
	s.mu.Lock()
	t, ok := s.tasks[ft.TaskId]
	s.mu.Unlock()
	if !ok {
		return status.Errorf(codes.NotFound, "no task %s on this worker", ft.TaskId)
	}
	if t.kept != nil {
		return s.serveKept(t, &ft, stream)
	}
	if ft.Ranged {
		return status.Errorf(codes.InvalidArgument, "task %s's output is not kept: it has no buckets to read", ft.TaskId)
	}
	if ft.Partition < 0 || int(ft.Partition) >= len(t.out) {
		return status.Errorf(codes.InvalidArgument, "task %s has %d partitions, not %d", ft.TaskId, len(t.out), ft.Partition)
	}
	q := t.out[ft.Partition]
	// A consumer that goes away (it finished early, or the query ends)
	// leaves its partition dropped, so the task does not wait for room.
	if err := sendAll(t, stream, q.Pop, q.Abort); err != nil {
		return err
	}
	s.mu.Lock()
	t.fetched++
	if t.fetched == len(t.out) {
		delete(s.tasks, ft.TaskId) // every consumer has it all
	}
	s.mu.Unlock()
	return nil
}

// serveKept streams a task's kept output to one consumer: of a
// broadcast, all of it, whichever partition was asked for; of a kept
// hash output, the bucket range asked for. Consumer tasks added later,
// or restarted on other buckets, read from the start. The task stays
// until the query's abort, for such consumers.
func (s *Service) serveKept(t *task, ft *workerpb.FetchTicket, stream flight.FlightService_DoGetServer) error {
	lo, hi := 0, exec.ExchangeBuckets
	if t.st.Output == planner.ExchangeHash {
		if !ft.Ranged {
			return status.Errorf(codes.InvalidArgument, "task %s keeps its output in buckets: ask for a bucket range", ft.TaskId)
		}
		lo, hi = int(ft.Lo), int(ft.Hi)
		if lo < 0 || hi > exec.ExchangeBuckets || lo > hi {
			return status.Errorf(codes.InvalidArgument, "bucket range [%d, %d) outside [0, %d)", lo, hi, exec.ExchangeBuckets)
		}
	}
	i := 0
	return sendAll(t, stream, func(ctx context.Context) (arrow.RecordBatch, error) {
		b, next, err := t.kept.Read(ctx, i, lo, hi)
		i = next
		return b, err
	}, func() {})
}

// sendAll writes the batches next returns (each released after) to a
// consumer's stream as Arrow IPC until io.EOF; gone runs when the
// consumer went away first.
func sendAll(t *task, stream flight.FlightService_DoGetServer, next func(context.Context) (arrow.RecordBatch, error), gone func()) error {
	w := flight.NewRecordWriter(stream, ipc.WithSchema(t.schema))
	defer w.Close()
	for {
		b, err := next(stream.Context())
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, context.Canceled) {
				gone()
				return status.Error(codes.Canceled, err.Error())
			}
			return status.Error(codes.Aborted, err.Error())
		}
		nb := array.NewRecordBatch(t.schema, b.Columns(), b.NumRows())
		err = w.Write(nb)
		nb.Release()
		b.Release()
		if err != nil {
			return err
		}
	}
}

// remoteSplits claims a scan's splits from the coordinator.
type remoteSplits struct {
	peers *Peers
	addr  string
	query string
	task  string
	stage int32
	scan  int32
	delay time.Duration
	// fixed are splits to read first (a lost task's, for its re-run);
	// more says whether to claim others after them.
	mu    sync.Mutex
	fixed []int32
	more  bool
}

// Claim implements exec.SplitSource.
func (r *remoteSplits) Claim(n int) (int, bool, error) {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	r.mu.Lock()
	if len(r.fixed) > 0 {
		i := r.fixed[0]
		r.fixed = r.fixed[1:]
		r.mu.Unlock()
		if int(i) >= n {
			return 0, false, fmt.Errorf("fixed split %d of a scan with %d", i, n)
		}
		return int(i), true, nil
	}
	more := r.more
	r.mu.Unlock()
	if !more {
		return 0, false, nil
	}
	body, err := proto.Marshal(&workerpb.ClaimRequest{QueryId: r.query, TaskId: r.task, Stage: r.stage, Scan: r.scan, Splits: int32(n)})
	if err != nil {
		return 0, false, err
	}
	var rep workerpb.ClaimReply
	if err := r.peers.Action(context.Background(), r.addr, ActionClaimSplit, body, &rep); err != nil {
		return 0, false, fmt.Errorf("coordinator %s: %w", r.addr, err)
	}
	return int(rep.Split), rep.Ok, nil
}

// Peers keeps one Flight client per peer address. Safe for concurrent use.
type Peers struct {
	dial    []grpc.DialOption
	mu      sync.Mutex
	clients map[string]flight.Client
}

// NewPeers returns an empty client pool whose connections use dial
// (cluster.Security.DialOptions); plaintext unless dial sets a transport.
func NewPeers(dial ...grpc.DialOption) *Peers {
	return &Peers{dial: dial, clients: map[string]flight.Client{}}
}

// Client returns the client of addr, dialing it on first use.
func (p *Peers) Client(addr string) (flight.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[addr]; ok {
		return c, nil
	}
	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, p.dial...)
	c, err := flight.NewClientWithMiddleware(addr, nil, nil, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	p.clients[addr] = c
	return c, nil
}

// Action runs a DoAction on addr and decodes its one result into reply
// (nil: ignore it).
func (p *Peers) Action(ctx context.Context, addr, typ string, body []byte, reply proto.Message) error {
	c, err := p.Client(addr)
	if err != nil {
		return err
	}
	stream, err := c.DoAction(ctx, &flight.Action{Type: typ, Body: body})
	if err != nil {
		return err
	}
	res, err := stream.Recv()
	if err != nil {
		return err
	}
	for {
		if _, err := stream.Recv(); err != nil {
			break // io.EOF: the call is over
		}
	}
	if reply != nil {
		return proto.Unmarshal(res.Body, reply)
	}
	return nil
}

// Close closes every client.
func (p *Peers) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.clients {
		c.Close()
		delete(p.clients, a)
	}
}
