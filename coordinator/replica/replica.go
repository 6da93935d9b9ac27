// Package replica is one coordinator's membership in the coordinators'
// Raft group: the on-disk log (BoltDB) and snapshots under the node's data
// directory, the TCP transport, bootstrap and voter changes, writes
// through the log (Apply, leader only), reads after a barrier, and
// leader-only services started when leadership is gained and stopped
// when it is lost. The state it replicates is coordinator/state, through
// the coordinator/fsm state machine.
package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/bellows-db/bellows/coordinator/fsm"
	"github.com/bellows-db/bellows/coordinator/state"
)

// Config configures one member.
type Config struct {
	ID   string // the node's ID, stable across restarts
	Dir  string // data directory: raft.db (log and stable store) and snapshots/
	Addr string // the Raft transport's address, host:port (":0" is not allowed: peers dial it)
	// Bootstrap starts a new group with this node as its only voter (a
	// no-op for a node that already has state in Dir).
	Bootstrap bool
	// HeartbeatTimeout and ElectionTimeout (zero: Raft's defaults, 1 s).
	HeartbeatTimeout, ElectionTimeout time.Duration
	// SnapshotThreshold is how many log entries trigger a snapshot (and
	// truncation); zero: Raft's default (8192).
	SnapshotThreshold uint64
	// OnLeader, if set, runs the leader-only services: called in its own
	// goroutine each time this node becomes leader, with a context that
	// ends when it stops being leader (or the node closes).
	OnLeader func(ctx context.Context)
	// Log receives Raft's own log (nil: discarded).
	Log io.Writer
}

// Node is a running member. Safe for concurrent use.
type Node struct {
	cfg    Config
	raft   *raft.Raft
	fsm    *fsm.FSM
	store  *raftboltdb.BoltStore
	trans  *raft.NetworkTransport
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
}

// ErrNotLeader is wrapped by errors of writes sent to a follower; the
// message names the leader, if known, for the caller to forward to.
var ErrNotLeader = errors.New("not the leader")

// Open starts a member on cfg.Dir (created if missing), recovering the
// state from its snapshot and log, and joins the group it had, or starts
// one with Bootstrap.
func Open(cfg Config) (*Node, error) {
	if cfg.ID == "" || cfg.Dir == "" || cfg.Addr == "" {
		return nil, errors.New("replica: a node needs an ID, a data directory and an address")
	}
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("replica %s: %w", cfg.ID, err)
	}
	store, err := raftboltdb.NewBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		return nil, fmt.Errorf("replica %s: log store %s: %w", cfg.ID, filepath.Join(cfg.Dir, "raft.db"), err)
	}
	snaps, err := raft.NewFileSnapshotStore(filepath.Join(cfg.Dir, "snapshots"), 2, logw)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("replica %s: snapshots: %w", cfg.ID, err)
	}
	trans, err := raft.NewTCPTransport(cfg.Addr, nil, 3, 10*time.Second, logw)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("replica %s: transport on %s: %w", cfg.ID, cfg.Addr, err)
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.LogOutput = logw
	if cfg.HeartbeatTimeout > 0 {
		rc.HeartbeatTimeout = cfg.HeartbeatTimeout
		rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, cfg.HeartbeatTimeout)
	}
	if cfg.ElectionTimeout > 0 {
		rc.ElectionTimeout = cfg.ElectionTimeout
	}
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
		rc.TrailingLogs = min(rc.TrailingLogs, cfg.SnapshotThreshold)
		rc.SnapshotInterval = time.Second
	}
	// Leadership is polled (watchLeadership), not read from LeaderCh,
	// which drops changes when nobody reads it in time.
	n := &Node{cfg: cfg, fsm: fsm.New(state.New()), store: store, trans: trans}
	n.raft, err = raft.NewRaft(rc, n.fsm, store, store, snaps, trans)
	if err != nil {
		trans.Close()
		store.Close()
		return nil, fmt.Errorf("replica %s: %w", cfg.ID, err)
	}
	if cfg.Bootstrap {
		err := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: trans.LocalAddr()}}}).Error()
		if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
			n.Close()
			return nil, fmt.Errorf("replica %s: bootstrap: %w", cfg.ID, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(1)
	go n.watchLeadership(ctx)
	return n, nil
}

// watchLeadership runs OnLeader while this node leads.
func (n *Node) watchLeadership(ctx context.Context) {
	defer n.wg.Done()
	var lead struct{ stop context.CancelFunc } // the leader-only services' context, while leading
	defer func() {
		if lead.stop != nil {
			lead.stop()
		}
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := n.raft.State() == raft.Leader
		switch {
		case now && lead.stop == nil:
			var lctx context.Context
			lctx, lead.stop = context.WithCancel(ctx)
			if n.cfg.OnLeader != nil {
				n.wg.Add(1)
				go func() {
					defer n.wg.Done()
					n.cfg.OnLeader(lctx)
				}()
			}
		case !now && lead.stop != nil:
			lead.stop()
			lead.stop = nil
		}
	}
}

// Store returns the replicated state (read it after Barrier for reads
// that must see every write acknowledged before).
func (n *Node) Store() *state.Store { return n.fsm.Store() }

// Apply writes a command through the log and returns what applying it
// gave (see fsm.Result): on the leader only (else an error wrapping
// ErrNotLeader, naming the leader); the command is durable on a majority
// when Apply returns without error.
func (n *Node) Apply(typ fsm.Type, v any, timeout time.Duration) (any, error) {
	data, err := fsm.Encode(typ, v)
	if err != nil {
		return nil, err
	}
	f := n.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			addr, id := n.raft.LeaderWithID()
			return nil, fmt.Errorf("%w (leader: %s at %s): %v", ErrNotLeader, id, addr, err)
		}
		return nil, err
	}
	res := f.Response().(*fsm.Result)
	return res.Value, res.Err
}

// Barrier waits until every entry committed before it has been applied
// here (on the leader: a read after it sees every acknowledged write).
func (n *Node) Barrier(timeout time.Duration) error { return n.raft.Barrier(timeout).Error() }

// AddVoter adds (or re-adds, with a new address) a voting member; on the
// leader only.
func (n *Node) AddVoter(id, addr string, timeout time.Duration) error {
	return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, timeout).Error()
}

// RemoveServer removes a member; on the leader only.
func (n *Node) RemoveServer(id string, timeout time.Duration) error {
	return n.raft.RemoveServer(raft.ServerID(id), 0, timeout).Error()
}

// Status is what `bellows cluster status` shows of a member.
type Status struct {
	ID, Addr     string
	State        string // Leader, Follower, Candidate, Shutdown
	LeaderID     string
	LeaderAddr   string
	Term         uint64
	CommitIndex  uint64
	AppliedIndex uint64
	Members      []Member
}

// Member is one server of the group's configuration.
type Member struct {
	ID, Addr string
	Voter    bool
}

// Status returns the member's view of the group now.
func (n *Node) Status() (Status, error) {
	addr, id := n.raft.LeaderWithID()
	st := Status{ID: n.cfg.ID, Addr: string(n.trans.LocalAddr()), State: n.raft.State().String(),
		LeaderID: string(id), LeaderAddr: string(addr), CommitIndex: n.raft.CommitIndex(), AppliedIndex: n.raft.AppliedIndex()}
	if _, err := fmt.Sscan(n.raft.Stats()["term"], &st.Term); err != nil {
		return st, fmt.Errorf("replica %s: term: %w", n.cfg.ID, err)
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return st, err
	}
	for _, s := range f.Configuration().Servers {
		st.Members = append(st.Members, Member{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	return st, nil
}

// Close stops the member (its leader-only services first) and closes its
// files; its state stays in Dir for a restart.
func (n *Node) Close() error {
	var err error
	n.closeOnce.Do(func() {
		if n.cancel != nil {
			n.cancel()
		}
		n.wg.Wait()
		err = n.raft.Shutdown().Error()
		n.trans.Close()
		if cerr := n.store.Close(); err == nil {
			err = cerr
		}
	})
	return err
}
