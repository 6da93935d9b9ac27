package bellows

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

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
}

// embeddedCluster is where a DB's queries run when it has workers:
// Options.Workers (a scheduler and workers in this process, each behind
// its own gRPC server on a loopback port) or Options.Remote.
type embeddedCluster struct {
	sched   *coordinator.Scheduler
	svcs    []*worker.Service
	servers []*grpc.Server
	workers func() []string
	frag    planner.FragmentOptions
}

func remoteCluster(r *RemoteCluster, frag planner.FragmentOptions) *embeddedCluster {
	return &embeddedCluster{sched: r.Scheduler, workers: r.Workers, frag: frag}
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
	c.workers = func() []string { return addrs }
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

// startDistributed runs plan on the cluster and streams its rows into a
// Rows with the given schema.
func (s *Session) startDistributed(ctx context.Context, plan planner.Node, schema *arrow.Schema, set settings) (*Rows, error) {
	c := s.db.cluster
	workers := c.workers()
	if len(workers) == 0 {
		return nil, errors.New("no live worker to run the query on")
	}
	frag := c.frag
	if frag.MaxTasks == 0 {
		frag = planner.DefaultFragmentOptions
		frag.MaxTasks = 2 * len(workers)
	}
	g, err := planner.Fragment(plan, frag)
	if err != nil {
		return nil, err
	}
	cctx, cancel := withStatementTimeout(ctx, set.statementTimeout)
	res, err := c.sched.Run(cctx, g, workers, coordinator.RunOptions{Parallelism: set.parallelism, MemoryLimit: set.memoryLimit})
	if err != nil {
		cancel()
		return nil, err
	}
	rows := &Rows{schema: schema, ch: make(chan arrow.RecordBatch, 4), cancel: cancel, done: make(chan struct{})}
	rows.refs.Store(1)
	go func() {
		defer close(rows.done)
		defer res.Close()
		var err error
		for {
			var b arrow.RecordBatch
			b, err = res.Next(cctx)
			if err != nil {
				break
			}
			out := array.NewRecordBatch(schema, b.Columns(), b.NumRows())
			b.Release()
			select {
			case rows.ch <- out:
			case <-cctx.Done():
				out.Release()
				err = cctx.Err()
			}
			if err != nil {
				break
			}
		}
		if errors.Is(err, io.EOF) {
			err = nil
		}
		if err != nil {
			err = statementError(ctx, cctx, err)
		}
		rows.err = err
		close(rows.ch)
	}()
	return rows, nil
}
