// Package fsm is the coordinators' Raft state machine (hashicorp/raft's
// FSM): every durable change to the coordinator state (package
// coordinator/state) is a command in the Raft log, applied here in log
// order on every coordinator. A command is one type byte and a JSON body
// (Encode); each type has its own handler, registered in one table, and
// the state store is a dependency, so each command is tested alone.
package fsm

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/hashicorp/raft"

	"github.com/bellows-db/bellows/coordinator/state"
	"github.com/bellows-db/bellows/sql"
)

// Type says what a command does. Values are part of the log format:
// never renumber them.
type Type uint8

// The command types.
const (
	CreateTable   Type = 1 // CreateTableCmd
	DropTable     Type = 2 // DropTableCmd
	CommitFiles   Type = 3 // CommitFilesCmd
	PutUser       Type = 4 // state.User
	DeleteUser    Type = 5 // NameCmd
	SetSetting    Type = 6 // SetSettingCmd
	RegisterQuery Type = 7 // state.Query
	UpdateQuery   Type = 8 // UpdateQueryCmd
	EndQuery      Type = 9 // NameCmd (the query ID)
)

// CreateTableCmd creates a table or view.
type CreateTableCmd struct {
	Table       *sql.Table `json:"table"`
	IfNotExists bool       `json:"if_not_exists,omitempty"`
}

// DropTableCmd drops a table or view.
type DropTableCmd struct {
	Name     string `json:"name"`
	IfExists bool   `json:"if_exists,omitempty"`
}

// CommitFilesCmd makes written files part of a managed table at once:
// until it commits, no reader sees any of them.
type CommitFilesCmd struct {
	Name    string   `json:"name"`
	Files   []string `json:"files"`
	Replace bool     `json:"replace,omitempty"` // instead of the table's files
	Expect  uint64   `json:"expect,omitempty"`  // the version the writer read (0: any)
}

// NameCmd names what a command applies to.
type NameCmd struct {
	Name string `json:"name"`
}

// SetSettingCmd sets (or, with an empty value, resets) a cluster setting.
type SetSettingCmd struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// UpdateQueryCmd changes a running query's state or parallelism.
type UpdateQueryCmd struct {
	ID          string `json:"id"`
	State       string `json:"state,omitempty"`
	Parallelism int    `json:"parallelism,omitempty"`
}

// Encode returns the log entry of a command of type t with body v.
func Encode(t Type, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode command %d: %w", t, err)
	}
	return append([]byte{byte(t)}, body...), nil
}

// Result is what Apply returns for a command (raft's ApplyFuture
// Response): the error that refused it, if any, and a value some
// commands give (DropTable: the dropped files; CommitFiles: the new
// version).
type Result struct {
	Err   error
	Value any
}

// handler applies one command's body to the store.
type handler func(st *state.Store, body []byte) (any, error)

// handlers are the command handlers, by type.
var handlers = map[Type]handler{}

// register adds the handler of a command type (at init; a type is
// registered once).
func register(t Type, h handler) {
	if _, dup := handlers[t]; dup {
		panic(fmt.Sprintf("fsm: command type %d registered twice", t))
	}
	handlers[t] = h
}

// decoded wraps a handler taking a decoded body of type C.
func decoded[C any](apply func(st *state.Store, c *C) (any, error)) handler {
	return func(st *state.Store, body []byte) (any, error) {
		var c C
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, fmt.Errorf("malformed body: %w", err)
		}
		return apply(st, &c)
	}
}

func init() {
	register(CreateTable, decoded(func(st *state.Store, c *CreateTableCmd) (any, error) {
		return nil, st.CreateTable(c.Table, c.IfNotExists)
	}))
	register(DropTable, decoded(func(st *state.Store, c *DropTableCmd) (any, error) {
		return st.DropTable(c.Name, c.IfExists)
	}))
	register(CommitFiles, decoded(func(st *state.Store, c *CommitFilesCmd) (any, error) {
		return st.CommitFiles(c.Name, c.Files, c.Replace, c.Expect)
	}))
	register(PutUser, decoded(func(st *state.Store, c *state.User) (any, error) {
		return nil, st.PutUser(*c)
	}))
	register(DeleteUser, decoded(func(st *state.Store, c *NameCmd) (any, error) {
		return nil, st.DeleteUser(c.Name)
	}))
	register(SetSetting, decoded(func(st *state.Store, c *SetSettingCmd) (any, error) {
		return nil, st.SetSetting(c.Name, c.Value)
	}))
	register(RegisterQuery, decoded(func(st *state.Store, c *state.Query) (any, error) {
		return nil, st.RegisterQuery(*c)
	}))
	register(UpdateQuery, decoded(func(st *state.Store, c *UpdateQueryCmd) (any, error) {
		return nil, st.UpdateQuery(c.ID, c.State, c.Parallelism)
	}))
	register(EndQuery, decoded(func(st *state.Store, c *NameCmd) (any, error) {
		st.EndQuery(c.Name)
		return nil, nil
	}))
}

// FSM applies committed log entries to a state store. Raft calls Apply,
// Snapshot and Restore from one goroutine at a time (Snapshot's Persist
// may run concurrently with later Applies); readers use the store
// directly.
type FSM struct {
	st *state.Store
}

// New returns the state machine of st.
func New(st *state.Store) *FSM { return &FSM{st: st} }

// Store returns the state the FSM applies to.
func (f *FSM) Store() *state.Store { return f.st }

// Apply implements raft.FSM. It returns a *Result: a command that is
// malformed, of an unknown type, or refused by the state (a table that
// exists, say) changes nothing and carries its error.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return &Result{}
	}
	if len(l.Data) == 0 {
		return &Result{Err: fmt.Errorf("log entry %d: an empty command", l.Index)}
	}
	t := Type(l.Data[0])
	h, ok := handlers[t]
	if !ok {
		return &Result{Err: fmt.Errorf("log entry %d: unknown command type %d (a newer coordinator's log?)", l.Index, t)}
	}
	v, err := h(f.st, l.Data[1:])
	if err != nil {
		return &Result{Err: fmt.Errorf("log entry %d, command %d: %w", l.Index, t, err)}
	}
	return &Result{Value: v}
}

// Snapshot implements raft.FSM: the state as of now, written out later by
// Persist.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	var b snapshotBuf
	if err := f.st.WriteSnapshot(&b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Restore implements raft.FSM: it replaces the state with a snapshot's.
func (f *FSM) Restore(r io.ReadCloser) error {
	defer r.Close()
	return f.st.ReadSnapshot(r)
}

// snapshotBuf is a snapshot taken: the state's bytes.
type snapshotBuf struct{ data []byte }

func (b *snapshotBuf) Write(p []byte) (int, error) {
	b.data = append(b.data, p...)
	return len(p), nil
}

// Persist implements raft.FSMSnapshot.
func (b *snapshotBuf) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(b.data); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (b *snapshotBuf) Release() {}
