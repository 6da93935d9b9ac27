package fsm

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/bellows-db/bellows/coordinator/state"
	"github.com/bellows-db/bellows/planner"
	"github.com/bellows-db/bellows/sql"
)

// applier feeds commands to an FSM as consecutive log entries.
type applier struct {
	t     *testing.T
	f     *FSM
	index uint64
}

func newApplier(t *testing.T) *applier { return &applier{t: t, f: New(state.New())} }

// do applies one command and returns its result.
func (a *applier) do(typ Type, v any) *Result {
	a.t.Helper()
	data, err := Encode(typ, v)
	if err != nil {
		a.t.Fatal(err)
	}
	a.index++
	return a.f.Apply(&raft.Log{Index: a.index, Type: raft.LogCommand, Data: data}).(*Result)
}

// ok applies a command that must succeed.
func (a *applier) ok(typ Type, v any) any {
	a.t.Helper()
	r := a.do(typ, v)
	if r.Err != nil {
		a.t.Fatalf("command %d %+v: %v", typ, v, r.Err)
	}
	return r.Value
}

// refused applies a command that must fail with an error containing want,
// changing nothing.
func (a *applier) refused(typ Type, v any, want string) {
	a.t.Helper()
	before := snapshotBytes(a.t, a.f)
	r := a.do(typ, v)
	if r.Err == nil || !strings.Contains(r.Err.Error(), want) {
		a.t.Fatalf("command %d %+v: got %v, want an error with %q", typ, v, r.Err, want)
	}
	if after := snapshotBytes(a.t, a.f); !bytes.Equal(before, after) {
		a.t.Fatalf("refused command %d changed the state:\n%s\n->\n%s", typ, before, after)
	}
}

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.Store().WriteSnapshot(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func managed(name string, files ...string) *sql.Table {
	return &sql.Table{Name: name, Format: planner.FormatParquet, Paths: files, Managed: true}
}

func TestCreateTable(t *testing.T) {
	a := newApplier(t)
	a.ok(CreateTable, CreateTableCmd{Table: managed("Orders", "tables/orders/0.parquet")})
	a.ok(CreateTable, CreateTableCmd{Table: &sql.Table{Name: "v", ViewSQL: "SELECT 1"}})
	a.refused(CreateTable, CreateTableCmd{Table: managed("orders")}, `relation "orders" already exists`)
	a.ok(CreateTable, CreateTableCmd{Table: managed("ORDERS"), IfNotExists: true})
	a.refused(CreateTable, CreateTableCmd{}, "no name")
	got, ok := a.f.Store().Table("orders")
	if !ok || got.Name != "Orders" || !reflect.DeepEqual(got.Paths, []string{"tables/orders/0.parquet"}) || got.Version != 0 {
		t.Fatalf("orders: %+v %v", got, ok)
	}
	if v, ok := a.f.Store().Table("V"); !ok || v.ViewSQL != "SELECT 1" {
		t.Fatalf("view: %+v %v", v, ok)
	}
	if names := a.f.Store().Tables(); !reflect.DeepEqual(names, []string{"orders", "v"}) {
		t.Fatalf("tables %v", names)
	}
}

func TestDropTable(t *testing.T) {
	a := newApplier(t)
	a.ok(CreateTable, CreateTableCmd{Table: managed("t", "a.parquet", "b.parquet")})
	if files := a.ok(DropTable, DropTableCmd{Name: "T"}); !reflect.DeepEqual(files, []string{"a.parquet", "b.parquet"}) {
		t.Fatalf("dropped files %v", files)
	}
	if _, ok := a.f.Store().Table("t"); ok {
		t.Fatal("t is still there")
	}
	a.refused(DropTable, DropTableCmd{Name: "t"}, `relation "t" does not exist`)
	a.ok(DropTable, DropTableCmd{Name: "t", IfExists: true})
}

func TestCommitFiles(t *testing.T) {
	a := newApplier(t)
	a.ok(CreateTable, CreateTableCmd{Table: managed("t", "0.parquet")})
	a.ok(CreateTable, CreateTableCmd{Table: &sql.Table{Name: "ext", Paths: []string{"/data/x.parquet"}}})
	if v := a.ok(CommitFiles, CommitFilesCmd{Name: "t", Files: []string{"1.parquet", "2.parquet"}}); v != uint64(1) {
		t.Fatalf("version after the first commit: %v", v)
	}
	if v := a.ok(CommitFiles, CommitFilesCmd{Name: "t", Files: []string{"3.parquet"}, Expect: 1}); v != uint64(2) {
		t.Fatalf("version after the second commit: %v", v)
	}
	got, _ := a.f.Store().Table("t")
	if !reflect.DeepEqual(got.Paths, []string{"0.parquet", "1.parquet", "2.parquet", "3.parquet"}) {
		t.Fatalf("files after appends: %v", got.Paths)
	}
	// A writer that read version 1 lost the race: nothing of it lands.
	a.refused(CommitFiles, CommitFilesCmd{Name: "t", Files: []string{"late.parquet"}, Expect: 1}, "changed (version 2, the write read 1)")
	a.ok(CommitFiles, CommitFilesCmd{Name: "t", Files: []string{"new.parquet"}, Replace: true})
	got, _ = a.f.Store().Table("t")
	if !reflect.DeepEqual(got.Paths, []string{"new.parquet"}) || got.Version != 3 {
		t.Fatalf("after replace: %v version %d", got.Paths, got.Version)
	}
	a.refused(CommitFiles, CommitFilesCmd{Name: "ext", Files: []string{"y.parquet"}}, "not a managed table")
	a.refused(CommitFiles, CommitFilesCmd{Name: "nosuch", Files: []string{"y.parquet"}}, `relation "nosuch" does not exist`)
}

func TestUsers(t *testing.T) {
	a := newApplier(t)
	a.ok(PutUser, state.User{Name: "ann", Kind: "password", Hash: "h1"})
	a.ok(PutUser, state.User{Name: "ann", Kind: "password", Hash: "h2"})
	a.ok(PutUser, state.User{Name: "ci", Kind: "token", Hash: "t1"})
	if u, ok := a.f.Store().User("ann"); !ok || u.Hash != "h2" {
		t.Fatalf("ann: %+v %v", u, ok)
	}
	a.refused(PutUser, state.User{Name: "bob", Kind: "certificate", Hash: "x"}, "kind password or token")
	a.refused(PutUser, state.User{Name: "bob", Kind: "token"}, "a hash")
	a.ok(DeleteUser, NameCmd{Name: "ann"})
	if _, ok := a.f.Store().User("ann"); ok {
		t.Fatal("ann is still there")
	}
	a.refused(DeleteUser, NameCmd{Name: "ann"}, `user "ann" does not exist`)
}

func TestSettings(t *testing.T) {
	a := newApplier(t)
	a.ok(SetSetting, SetSettingCmd{Name: "Memory_Limit", Value: "4GB"})
	if v, ok := a.f.Store().Setting("memory_limit"); !ok || v != "4GB" {
		t.Fatalf("memory_limit: %q %v", v, ok)
	}
	a.ok(SetSetting, SetSettingCmd{Name: "memory_limit"})
	if _, ok := a.f.Store().Setting("memory_limit"); ok {
		t.Fatal("a reset setting is still there")
	}
	a.refused(SetSetting, SetSettingCmd{Value: "1"}, "no name")
}

func TestQueryRegistry(t *testing.T) {
	a := newApplier(t)
	a.ok(RegisterQuery, state.Query{ID: "q2", SQL: "SELECT 2", Coordinator: "c1", StartedUnix: 20, State: "running", Parallelism: 4})
	a.ok(RegisterQuery, state.Query{ID: "q1", SQL: "SELECT 1", Coordinator: "c2", StartedUnix: 10, State: "running", Parallelism: 2})
	a.refused(RegisterQuery, state.Query{ID: "q1"}, "already registered")
	a.refused(RegisterQuery, state.Query{}, "no id")
	a.ok(UpdateQuery, UpdateQueryCmd{ID: "q2", Parallelism: 8})
	a.ok(UpdateQuery, UpdateQueryCmd{ID: "q2", State: "finishing"})
	a.refused(UpdateQuery, UpdateQueryCmd{ID: "q9", State: "x"}, "no running query q9")
	qs := a.f.Store().Queries()
	if len(qs) != 2 || qs[0].ID != "q1" || qs[1].ID != "q2" || qs[1].Parallelism != 8 || qs[1].State != "finishing" || qs[1].SQL != "SELECT 2" {
		t.Fatalf("queries %+v", qs)
	}
	a.ok(EndQuery, NameCmd{Name: "q1"})
	a.ok(EndQuery, NameCmd{Name: "q1"}) // twice: after a failover, say
	if qs := a.f.Store().Queries(); len(qs) != 1 || qs[0].ID != "q2" {
		t.Fatalf("after the end of q1: %+v", qs)
	}
}

// TestBadEntries: log entries that are empty, of an unknown type or
// malformed are refused with an error naming the entry, never a panic;
// raft's own entries (not commands) change nothing.
func TestBadEntries(t *testing.T) {
	a := newApplier(t)
	for _, c := range []struct {
		data []byte
		want string
	}{
		{nil, "log entry 1: an empty command"},
		{[]byte{200, '{', '}'}, "log entry 1: unknown command type 200"},
		{[]byte{byte(CreateTable), '{', 'x'}, "log entry 1, command 1: malformed body"},
		{append([]byte{byte(CommitFiles)}, `{"name": 5}`...), "malformed body"},
	} {
		r := a.f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: c.data}).(*Result)
		if r.Err == nil || !strings.Contains(r.Err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.data, r.Err, c.want)
		}
	}
	data, _ := Encode(CreateTable, CreateTableCmd{Table: managed("t")})
	if r := a.f.Apply(&raft.Log{Index: 2, Type: raft.LogConfiguration, Data: data}).(*Result); r.Err != nil {
		t.Fatal(r.Err)
	}
	if len(a.f.Store().Tables()) != 0 {
		t.Fatal("a configuration entry was applied as a command")
	}
}

// fill gives an FSM one of everything.
func fill(a *applier) {
	a.ok(CreateTable, CreateTableCmd{Table: managed("t", "0.parquet")})
	a.ok(CommitFiles, CommitFilesCmd{Name: "t", Files: []string{"1.parquet"}})
	a.ok(CreateTable, CreateTableCmd{Table: &sql.Table{Name: "v", ViewSQL: "SELECT * FROM t"}})
	a.ok(PutUser, state.User{Name: "ann", Kind: "password", Hash: "h"})
	a.ok(SetSetting, SetSettingCmd{Name: "parallelism", Value: "8"})
	a.ok(RegisterQuery, state.Query{ID: "q1", SQL: "SELECT 1", StartedUnix: 1, State: "running", Parallelism: 2})
}

// TestSnapshotRoundTrip takes a snapshot through raft's file snapshot
// store (on disk in a temp dir), restores it into an empty FSM, and
// compares the states; a damaged snapshot fails to restore and leaves
// the state as it was.
func TestSnapshotRoundTrip(t *testing.T) {
	a := newApplier(t)
	fill(a)
	snaps, err := raft.NewFileSnapshotStore(t.TempDir(), 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := a.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink, err := snaps.Create(raft.SnapshotVersionMax, a.index, 1, raft.Configuration{}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()
	// Later commands do not leak into the snapshot taken before them.
	a.ok(DropTable, DropTableCmd{Name: "v"})
	_, rc, err := snaps.Open(sink.ID())
	if err != nil {
		t.Fatal(err)
	}
	b := newApplier(t)
	if err := b.f.Restore(rc); err != nil {
		t.Fatal(err)
	}
	want := newApplier(t)
	fill(want)
	if got, w := snapshotBytes(t, b.f), snapshotBytes(t, want.f); !bytes.Equal(got, w) {
		t.Fatalf("restored state:\n%s\nwant:\n%s", got, w)
	}
	before := snapshotBytes(t, b.f)
	if err := b.f.Restore(io.NopCloser(strings.NewReader(`{"tables": [{"version": 1}]`))); err == nil {
		t.Fatal("a truncated snapshot restored")
	}
	if err := b.f.Restore(io.NopCloser(strings.NewReader(`{"tables": [{"version": 1}]}`))); err == nil || !strings.Contains(err.Error(), "without a name") {
		t.Fatalf("a table without a name: %v", err)
	}
	if !bytes.Equal(before, snapshotBytes(t, b.f)) {
		t.Fatal("a failed restore changed the state")
	}
}

// startRaft starts a one-node Raft group on dir (BoltDB log and stable
// store, file snapshots, TCP on loopback) applying to f; bootstrap only
// the first time.
func startRaft(t *testing.T, dir string, f *FSM, bootstrap bool) (*raft.Raft, func()) {
	t.Helper()
	store, err := raftboltdb.NewBoltStore(filepath.Join(dir, "raft.db"))
	if err != nil {
		t.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(dir, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	trans, err := raft.NewTCPTransport(addr, nil, 3, 5*time.Second, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = "c1"
	cfg.LogOutput = io.Discard
	cfg.HeartbeatTimeout = 200 * time.Millisecond
	cfg.ElectionTimeout = 200 * time.Millisecond
	cfg.LeaderLeaseTimeout = 100 * time.Millisecond
	r, err := raft.NewRaft(cfg, f, store, store, snaps, trans)
	if err != nil {
		t.Fatal(err)
	}
	if bootstrap {
		if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: "c1", Address: trans.LocalAddr()}}}).Error(); err != nil {
			t.Fatal(err)
		}
	} else {
		// A restarted single node must still lead under its new address.
		if err := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: "c1", Address: trans.LocalAddr()}}}).Error(); err != nil && err != raft.ErrCantBootstrap {
			t.Fatal(err)
		}
	}
	return r, func() {
		r.Shutdown().Error()
		trans.Close()
		store.Close()
	}
}

func waitLeader(t *testing.T, r *raft.Raft) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); r.State() != raft.Leader; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader after 10 s")
		}
	}
}

// TestFSMInRaft runs the FSM under a real one-node Raft with an on-disk
// log in a temp dir: commands applied through raft.Apply, a snapshot
// taken, more commands after it; a restart with an empty FSM on the same
// directory recovers the state from the snapshot and the log after it.
func TestFSMInRaft(t *testing.T) {
	dir := t.TempDir()
	f := New(state.New())
	r, stop := startRaft(t, dir, f, true)
	waitLeader(t, r)
	apply := func(typ Type, v any) *Result {
		data, err := Encode(typ, v)
		if err != nil {
			t.Fatal(err)
		}
		fut := r.Apply(data, 5*time.Second)
		if err := fut.Error(); err != nil {
			t.Fatal(err)
		}
		return fut.Response().(*Result)
	}
	for i := range 5 {
		if res := apply(CreateTable, CreateTableCmd{Table: managed(fmt.Sprintf("t%d", i), "0.parquet")}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	if res := apply(CreateTable, CreateTableCmd{Table: managed("t0")}); res.Err == nil {
		t.Fatal("a duplicate table was accepted through raft")
	}
	if err := r.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	apply(CommitFiles, CommitFilesCmd{Name: "t1", Files: []string{"1.parquet"}})
	apply(DropTable, DropTableCmd{Name: "t4"})
	apply(PutUser, state.User{Name: "ann", Kind: "token", Hash: "h"})
	want := snapshotBytes(t, f)
	stop()

	g := New(state.New())
	r2, stop2 := startRaft(t, dir, g, false)
	defer stop2()
	waitLeader(t, r2)
	if err := r2.Barrier(5 * time.Second).Error(); err != nil { // every committed entry applied
		t.Fatal(err)
	}
	if got := snapshotBytes(t, g); !bytes.Equal(got, want) {
		t.Fatalf("after a restart:\n%s\nwant:\n%s", got, want)
	}
	if tb, _ := g.Store().Table("t1"); tb.Version != 1 || len(tb.Paths) != 2 {
		t.Fatalf("t1 after a restart: %+v", tb)
	}
}

// FuzzApply feeds arbitrary log entries to the FSM, then a snapshot
// round trip: refusals are fine, panics are not, and a restored snapshot
// holds the same state.
func FuzzApply(f *testing.F) {
	for _, c := range []struct {
		typ Type
		v   any
	}{
		{CreateTable, CreateTableCmd{Table: managed("t", "a.parquet")}},
		{CommitFiles, CommitFilesCmd{Name: "t", Files: []string{"b"}, Expect: 1}},
		{DropTable, DropTableCmd{Name: "t"}},
		{PutUser, state.User{Name: "u", Kind: "token", Hash: "h"}},
		{RegisterQuery, state.Query{ID: "q", SQL: "SELECT 1"}},
		{UpdateQuery, UpdateQueryCmd{ID: "q", Parallelism: 3}},
	} {
		data, err := Encode(c.typ, c.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, data)
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		fsm := New(state.New())
		fsm.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: first})
		fsm.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: second})
		snap := snapshotBytes(t, fsm)
		back := New(state.New())
		if err := back.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
			t.Fatalf("restore of a snapshot taken: %v", err)
		}
		if got := snapshotBytes(t, back); !bytes.Equal(got, snap) {
			t.Fatalf("round trip:\n%s\n%s", snap, got)
		}
		back.Restore(io.NopCloser(bytes.NewReader(first))) // any bytes: an error, not a panic
	})
}
