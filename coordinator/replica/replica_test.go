package replica

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bellows-db/bellows/coordinator/fsm"
	"github.com/bellows-db/bellows/planner"
	"github.com/bellows-db/bellows/sql"
)

// group is a test's coordinators: real Raft members over TCP on loopback,
// each with its log on disk in a temp dir.
type group struct {
	t       *testing.T
	dirs    []string
	addrs   []string
	nodes   []*Node // nil: down
	cfg     func(i int) Config
	leading atomic.Int32 // leader-only services running now
	maxLead atomic.Int32
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newGroup(t *testing.T, n int, tune func(*Config)) *group {
	g := &group{t: t, nodes: make([]*Node, n)}
	for i := range n {
		g.dirs = append(g.dirs, filepath.Join(t.TempDir(), fmt.Sprintf("c%d", i)))
		g.addrs = append(g.addrs, freeAddr(t))
	}
	g.cfg = func(i int) Config {
		c := Config{ID: fmt.Sprintf("c%d", i), Dir: g.dirs[i], Addr: g.addrs[i], Bootstrap: i == 0,
			OnLeader: func(ctx context.Context) {
				now := g.leading.Add(1)
				for {
					m := g.maxLead.Load()
					if now <= m || g.maxLead.CompareAndSwap(m, now) {
						break
					}
				}
				<-ctx.Done()
				g.leading.Add(-1)
			}}
		if tune != nil {
			tune(&c)
		}
		return c
	}
	for i := range n {
		g.start(i)
	}
	t.Cleanup(func() {
		for i := range g.nodes {
			g.stop(i)
		}
	})
	l := g.leader(10 * time.Second)
	for i := 1; i < n; i++ {
		if err := g.nodes[l].AddVoter(fmt.Sprintf("c%d", i), g.addrs[i], 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func (g *group) start(i int) {
	g.t.Helper()
	n, err := Open(g.cfg(i))
	if err != nil {
		g.t.Fatal(err)
	}
	g.nodes[i] = n
}

func (g *group) stop(i int) {
	if g.nodes[i] != nil {
		g.nodes[i].Close()
		g.nodes[i] = nil
	}
}

// leader waits for a live node to lead and returns its index.
func (g *group) leader(within time.Duration) int {
	g.t.Helper()
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for i, n := range g.nodes {
			if n != nil {
				if st, err := n.Status(); err == nil && st.State == "Leader" {
					return i
				}
			}
		}
	}
	g.t.Fatalf("no leader within %s", within)
	return -1
}

// same waits until every live node has applied the leader's state.
func (g *group) same(within time.Duration) {
	g.t.Helper()
	l := g.leader(within)
	if err := g.nodes[l].Barrier(within); err != nil {
		g.t.Fatal(err)
	}
	want := image(g.t, g.nodes[l])
	for deadline := time.Now().Add(within); ; time.Sleep(20 * time.Millisecond) {
		differ := -1
		for i, n := range g.nodes {
			if n != nil && !bytes.Equal(image(g.t, n), want) {
				differ = i
			}
		}
		if differ < 0 {
			return
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("c%d never caught up with the leader c%d", differ, l)
		}
	}
}

func image(t *testing.T, n *Node) []byte {
	var b bytes.Buffer
	if err := n.Store().WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func table(name string) fsm.CreateTableCmd {
	return fsm.CreateTableCmd{Table: &sql.Table{Name: name, Format: planner.FormatParquet, Managed: true, Paths: []string{name + "/0.parquet"}}}
}

// TestLeaderLossKeepsAcknowledgedWrites runs 3 coordinators with Raft's
// default timeouts. Three times: writes go to the leader, the leader
// stops (its process gone, as far as the others can tell), a new leader
// is elected among the other two, every acknowledged write is there and
// writes go on; the stopped one restarts from its directory and catches
// up. A follower refuses writes naming the leader, and the leader-only
// services run on one node at a time. Failover times are logged.
func TestLeaderLossKeepsAcknowledgedWrites(t *testing.T) {
	g := newGroup(t, 3, nil)
	var acked []string
	write := func(l int, name string) {
		if _, err := g.nodes[l].Apply(fsm.CreateTable, table(name), 5*time.Second); err != nil {
			t.Fatalf("write %s on c%d: %v", name, l, err)
		}
		acked = append(acked, name)
	}
	var failovers []time.Duration
	for round := range 3 {
		l := g.leader(10 * time.Second)
		for k := range 10 {
			write(l, fmt.Sprintf("r%d_t%d", round, k))
		}
		f := (l + 1) % 3
		if _, err := g.nodes[f].Apply(fsm.CreateTable, table("nope"), time.Second); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("a write to follower c%d: %v", f, err)
		}
		g.stop(l)
		lost := time.Now()
		nl := g.leader(30 * time.Second)
		failovers = append(failovers, time.Since(lost))
		if nl == l {
			t.Fatal("the stopped node leads")
		}
		if err := g.nodes[nl].Barrier(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		if got := g.nodes[nl].Store().Tables(); !slices.Equal(got, sortedCopy(acked)) {
			t.Fatalf("round %d: the new leader c%d has %v, acknowledged %v", round, nl, got, acked)
		}
		write(nl, fmt.Sprintf("r%d_after", round))
		g.start(l)
		g.same(30 * time.Second)
	}
	if m := g.maxLead.Load(); m != 1 {
		t.Errorf("leader-only services ran on %d nodes at once", m)
	}
	if n := g.leading.Load(); n != 1 {
		t.Errorf("leader-only services run on %d nodes after the rounds", n)
	}
	st, err := g.nodes[g.leader(time.Second)].Status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Members) != 3 || st.CommitIndex == 0 || st.Term < 2 {
		t.Errorf("status %+v", st)
	}
	t.Logf("failover times (default timeouts): %v", failovers)
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	sort.Strings(c)
	return c
}

// TestRejoinAfterDiskLoss: a member whose data directory is lost is
// removed from the group, starts empty under the same ID and is added
// again: it catches up from the leader's snapshot (the log before it has
// been truncated, as a small snapshot threshold forces).
func TestRejoinAfterDiskLoss(t *testing.T) {
	g := newGroup(t, 3, func(c *Config) { c.SnapshotThreshold = 16 })
	l := g.leader(10 * time.Second)
	for k := range 100 {
		if _, err := g.nodes[l].Apply(fsm.CreateTable, table(fmt.Sprintf("t%03d", k)), 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	g.same(30 * time.Second)
	victim := (l + 1) % 3
	g.stop(victim)
	if err := os.RemoveAll(g.dirs[victim]); err != nil {
		t.Fatal(err)
	}
	if err := g.nodes[l].RemoveServer(fmt.Sprintf("c%d", victim), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// Leader snapshots after the removal: the new member must start from one.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		snaps, _ := os.ReadDir(filepath.Join(g.dirs[l], "snapshots"))
		if len(snaps) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the leader took no snapshot")
		}
	}
	cfg := g.cfg
	g.cfg = func(i int) Config { c := cfg(i); c.Bootstrap = false; return c }
	g.start(victim)
	if err := g.nodes[l].AddVoter(fmt.Sprintf("c%d", victim), g.addrs[victim], 5*time.Second); err != nil {
		t.Fatal(err)
	}
	g.same(30 * time.Second)
	if n := len(g.nodes[victim].Store().Tables()); n != 100 {
		t.Fatalf("the rejoined member has %d tables, want 100", n)
	}
	snaps, _ := os.ReadDir(filepath.Join(g.dirs[victim], "snapshots"))
	if len(snaps) == 0 {
		t.Error("the rejoined member caught up without a snapshot")
	}
}
