package bellows

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc"

	"github.com/bellows-db/bellows/coordinator"
	"github.com/bellows-db/bellows/planner"
	"github.com/bellows-db/bellows/worker"
)

// RemoteCluster runs a DB's queries on worker processes: a coordinator
// sets it in Options.Remote. The DB does not own it.
type RemoteCluster struct {
	// Scheduler places the tasks; its Flight service must be reachable
	// by the workers.
	Scheduler *coordinator.Scheduler
	// Workers returns the live workers' addresses (from membership).
	Workers func() []string
	// Nodes, if set, lists the live nodes for SHOW nodes.
	Nodes func() []NodeInfo
}

// NodeInfo is a live node of the cluster, as SHOW nodes lists it.
type NodeInfo struct {
	Name, Role, Addr string
	Cores            int
	Memory           int64 // bytes
	GPUs             int
}

// embeddedCluster is where a DB's queries run when it has workers:
// Options.Workers (a scheduler and workers in this process, each behind
// its own gRPC server on a loopback port) or Options.Remote.
type embeddedCluster struct {
	sched   *coordinator.Scheduler
	svcs    []*worker.Service
	servers []*grpc.Server
	workers func() []string
	nodes   func() []NodeInfo // nil: the workers, described from this process
	frag    planner.FragmentOptions

	addrs []string // of the in-process workers
	mu    sync.Mutex
	down  map[string]bool // in-process workers stopped by a test
}

func remoteCluster(r *RemoteCluster, frag planner.FragmentOptions) *embeddedCluster {
	return &embeddedCluster{sched: r.Scheduler, workers: r.Workers, nodes: r.Nodes, frag: frag}
}

func startEmbeddedCluster(opts Options) (*embeddedCluster, error) {
	alloc := opts.Allocator
	if alloc == nil {
		alloc = memory.NewGoAllocator()
	}
	c := &embeddedCluster{frag: opts.Fragment}
	listen := func(register func(*grpc.Server)) (string, error) {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		g := grpc.NewServer()
		register(g)
		go g.Serve(lis)
		c.servers = append(c.servers, g)
		return lis.Addr().String(), nil
	}
	var addrs []string
	for range opts.Workers {
		svc := worker.NewService(alloc)
		addr, err := listen(svc.Register)
		if err != nil {
			c.stop()
			return nil, fmt.Errorf("start worker: %w", err)
		}
		c.svcs = append(c.svcs, svc)
		addrs = append(addrs, addr)
	}
	c.addrs = addrs
	c.workers = func() []string {
		c.mu.Lock()
		defer c.mu.Unlock()
		var live []string
		for _, a := range addrs {
			if !c.down[a] {
				live = append(live, a)
			}
		}
		return live
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("start scheduler: %w", err)
	}
	c.sched = coordinator.NewScheduler(lis.Addr().String(), alloc)
	g := grpc.NewServer()
	c.sched.Register(g)
	go g.Serve(lis)
	c.servers = append(c.servers, g)
	return c, nil
}

// nodeList returns the live nodes (SHOW nodes).
func (c *embeddedCluster) nodeList() []NodeInfo {
	if c.nodes != nil {
		return c.nodes()
	}
	var out []NodeInfo
	for _, w := range c.workers() {
		out = append(out, NodeInfo{Name: "worker-" + w, Role: "worker", Addr: w, Cores: runtime.GOMAXPROCS(0)})
	}
	return out
}

// stopWorker stops in-process worker i as a crash would (its gRPC
// server closes every connection, its tasks end) and drops it from the
// live workers; for tests of lost workers.
func (c *embeddedCluster) stopWorker(i int) string {
	c.servers[i].Stop()
	c.svcs[i].Close()
	c.setDown(i, true)
	return c.addrs[i]
}

// setDown marks in-process worker i as gone from (or back in) the live
// workers without stopping it: for tests of workers joining.
func (c *embeddedCluster) setDown(i int, down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down == nil {
		c.down = map[string]bool{}
	}
	c.down[c.addrs[i]] = down
}

// cut fragments plan for the live workers, which it returns too.
func (c *embeddedCluster) cut(plan planner.Node) (*planner.FragmentGraph, []string, error) {
	workers := c.workers()
	if len(workers) == 0 {
		return nil, nil, errors.New("no live worker to run the query on")
	}
	g, err := planner.Fragment(plan, c.fragmentOptions(len(workers)))
	return g, workers, err
}

// fragmentOptions are the options plans are cut with on this cluster
// with n live workers: Options.Fragment, or the defaults with up to 2
// tasks per worker.
func (c *embeddedCluster) fragmentOptions(n int) planner.FragmentOptions {
	if c.frag.MaxTasks != 0 {
		return c.frag
	}
	frag := planner.DefaultFragmentOptions
	frag.MaxTasks = 2 * max(n, 1)
	return frag
}

func (c *embeddedCluster) stop() {
	for _, g := range c.servers {
		g.Stop()
	}
	for _, s := range c.svcs {
		s.Close()
	}
	if c.sched != nil {
		c.sched.Close()
	}
}

// maxRetries bounds how often a query is restarted after losing workers.
const maxRetries = 3

// lostWait is how long a failed query waits for membership to tell
// whether one of its workers was lost (the failure detector needs about
// 2 s).
const lostWait = 3 * time.Second

// startDistributed runs plan on the cluster and streams its rows into a
// Rows with the given schema. When a worker of the query is lost before
// any row reached the caller, the query is restarted on the live workers
// (all of its tasks: a query-level retry); after rows have gone out, or
// when no worker was lost, the error stands, naming the worker's address.
func (s *Session) startDistributed(ctx context.Context, plan planner.Node, schema *arrow.Schema, set settings) (*Rows, error) {
	c := s.db.cluster
	cctx, cancel := withStatementTimeout(ctx, set.statementTimeout)
	start := func() (*coordinator.Result, error) {
		g, workers, err := c.cut(plan)
		if err != nil {
			return nil, err
		}
		return c.sched.Run(cctx, g, workers, coordinator.RunOptions{Parallelism: set.parallelism, MemoryLimit: set.memoryLimit, Live: c.workers, GrowOnJoin: true})
	}
	res, err := start()
	if err != nil {
		cancel()
		return nil, err
	}
	id, rq := s.db.register(ctx, nil)
	rq.setResult(res)
	rows := &Rows{id: id, schema: schema, ch: make(chan arrow.RecordBatch, 4), cancel: cancel, done: make(chan struct{})}
	rows.refs.Store(1)
	go func() {
		defer close(rows.done)
		defer s.db.endQuery(id)
		sent := false
		var err error
		for attempt := 0; ; attempt++ {
			sent, err = s.drain(cctx, res, schema, rows.ch, sent)
			rq.setResult(nil)
			res.Close()
			lostTask := err != nil && (transportError(err) || errors.Is(err, coordinator.ErrTaskLost))
			if err == nil || sent || attempt == maxRetries || cctx.Err() != nil || !lostTask || !c.lost(res.Workers(), lostWait) {
				break
			}
			s.db.retries.Add(1)
			if res, err = start(); err != nil {
				break
			}
			rq.setResult(res)
		}
		if err != nil {
			err = statementError(ctx, cctx, taskError(err))
		}
		rows.err = err
		close(rows.ch)
	}()
	return rows, nil
}

// drain sends res's rows to ch; sent reports whether any row went out.
func (s *Session) drain(ctx context.Context, res *coordinator.Result, schema *arrow.Schema, ch chan<- arrow.RecordBatch, sent bool) (bool, error) {
	for {
		b, err := res.Next(ctx)
		if errors.Is(err, io.EOF) {
			return sent, nil
		}
		if err != nil {
			return sent, err
		}
		out := array.NewRecordBatch(schema, b.Columns(), b.NumRows())
		b.Release()
		select {
		case ch <- out:
			sent = true
		case <-ctx.Done():
			out.Release()
			return sent, ctx.Err()
		}
	}
}

// transportError reports whether err comes from a connection between
// nodes (the only kind a retry elsewhere can cure): gRPC's Unavailable,
// which the tasks' errors carry in their text from hop to hop.
func transportError(err error) bool {
	return strings.Contains(err.Error(), "code = Unavailable") || strings.Contains(err.Error(), "connection refused")
}

// lost reports whether one of workers has left the cluster, waiting up to
// wait for membership to notice.
func (c *embeddedCluster) lost(workers []string, wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	for {
		live := map[string]bool{}
		for _, w := range c.workers() {
			live[w] = true
		}
		for _, w := range workers {
			if !live[w] {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// explainAnalyzeDistributed runs plan on the cluster, drops its rows, and
// shows the stages with what their tasks did: per stage, the tasks that
// ran, rows sent on, splits read and the slowest task's time.
func (s *Session) explainAnalyzeDistributed(ctx context.Context, plan planner.Node) (*Rows, error) {
	c := s.db.cluster
	if c == nil {
		return nil, errors.New("EXPLAIN (DISTRIBUTED, ANALYZE) needs a cluster (Options.Workers, or a coordinator)")
	}
	set := s.settings()
	g, workers, err := c.cut(plan)
	if err != nil {
		return nil, err
	}
	cctx, cancel := withStatementTimeout(ctx, set.statementTimeout)
	defer cancel()
	start := time.Now()
	res, err := c.sched.Run(cctx, g, workers, coordinator.RunOptions{Parallelism: set.parallelism, MemoryLimit: set.memoryLimit})
	if err != nil {
		return nil, err
	}
	defer res.Close()
	var rows int64
	for {
		b, err := res.Next(cctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, statementError(ctx, cctx, taskError(err))
		}
		rows += b.NumRows()
		b.Release()
	}
	total := time.Since(start)
	type agg struct {
		tasks, failed int
		rows, splits  int64
		slowest       time.Duration
	}
	per := make([]agg, len(g.Stages))
	for _, ts := range res.Stats(ctx) {
		if ts.Stage < 0 || int(ts.Stage) >= len(per) {
			continue
		}
		a := &per[ts.Stage]
		a.tasks++
		if ts.State == "failed" {
			a.failed++
		}
		a.rows += ts.RowsOut
		a.splits += ts.Splits
		a.slowest = max(a.slowest, time.Duration(ts.ElapsedUs)*time.Microsecond)
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimRight(planner.ExplainDistributed(g), "\n"), "\n") {
		lines = append(lines, line)
		var st int
		if _, err := fmt.Sscanf(line, "Stage %d:", &st); err == nil && st >= 0 && st < len(per) {
			a := per[st]
			out := fmt.Sprintf("  actual: %d tasks ran, %d rows out, slowest task %s", a.tasks, a.rows, a.slowest.Round(time.Microsecond))
			if a.splits > 0 {
				out += fmt.Sprintf(", %d splits read", a.splits)
			}
			if a.failed > 0 {
				out += fmt.Sprintf(", %d failed", a.failed)
			}
			lines = append(lines, out)
		}
	}
	lines = append(lines, fmt.Sprintf("%d rows in %s", rows, total.Round(time.Microsecond)))
	return textRows("QUERY PLAN", lines), nil
}

// taskError turns the error of a task that failed on its own (carried
// from fetch to fetch as "fetch T from ADDR: rpc error: code = Aborted
// desc = task T: ...") into the engine's message, naming where it
// happened: "bigint out of range (task T on ADDR)". Other errors (a lost
// worker, a cancel) are returned as they are.
func taskError(err error) error {
	const mark = "code = Aborted desc = task "
	s := err.Error()
	i := strings.LastIndex(s, mark)
	if i < 0 {
		return err
	}
	id, msg, ok := strings.Cut(s[i+len(mark):], ": ")
	if !ok || msg == "" {
		return err
	}
	where := "task " + id
	if j := strings.LastIndex(s[:i], "fetch "+id+" from "); j >= 0 {
		addr, _, _ := strings.Cut(s[j+len("fetch "+id+" from "):], ": rpc error")
		where += " on " + addr
	}
	return fmt.Errorf("%s (%s)", msg, where)
}
