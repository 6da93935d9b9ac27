// Package state is the coordinator's durable state: tables and views
// with the file lists of managed tables, users and tokens, cluster
// settings, and the registry of running queries. It is what the Raft FSM
// (package coordinator/fsm) applies committed commands to, one method per
// change, and what snapshots hold. Every method is deterministic (times
// come from the caller), so replicas that apply the same log agree.
package state

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/bellows-db/bellows/sql"
)

// Table is a table or view with its version: the count of committed
// changes to its file list (a writer can ask a commit to apply only on
// the version it read, so concurrent writers lose no file).
type Table struct {
	*sql.Table
	Version uint64 `json:"version"`
}

// User is a principal that may connect: a password user or a token,
// stored as a hash (never the secret itself).
type User struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // "password" or "token"
	Hash string `json:"hash"`
}

// Query is a running query as the registry knows it.
type Query struct {
	ID          string `json:"id"`
	SQL         string `json:"sql"`
	Coordinator string `json:"coordinator"` // the node that runs it
	StartedUnix int64  `json:"started_unix_nano"`
	State       string `json:"state"` // e.g. running, finishing
	Parallelism int    `json:"parallelism"`
}

// Store holds the state. Reads may run concurrently with each other and
// with one writer (the FSM applies commands one at a time); values
// returned are copies the caller owns.
type Store struct {
	mu       sync.RWMutex
	tables   map[string]*Table
	users    map[string]User
	settings map[string]string
	queries  map[string]Query
}

// New returns an empty store.
func New() *Store {
	return &Store{tables: map[string]*Table{}, users: map[string]User{}, settings: map[string]string{}, queries: map[string]Query{}}
}

func key(name string) string { return strings.ToLower(name) }

// CreateTable adds a table or view (a sql.Table with ViewSQL). It fails
// if one of that name exists, unless ifNotExists (then it is a no-op).
func (s *Store) CreateTable(t *sql.Table, ifNotExists bool) error {
	if t == nil || t.Name == "" {
		return fmt.Errorf("create table: no name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tables[key(t.Name)]; ok {
		if ifNotExists {
			return nil
		}
		return fmt.Errorf("relation %q already exists", t.Name)
	}
	cp := *t
	cp.Paths = slices.Clone(t.Paths)
	s.tables[key(t.Name)] = &Table{Table: &cp}
	return nil
}

// DropTable removes a table or view; it fails if there is none of that
// name, unless ifExists. It returns the dropped table's files (for the
// caller to delete once the drop has committed).
func (s *Store) DropTable(name string, ifExists bool) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[key(name)]
	if !ok {
		if ifExists {
			return nil, nil
		}
		return nil, fmt.Errorf("relation %q does not exist", name)
	}
	delete(s.tables, key(name))
	return slices.Clone(t.Paths), nil
}

// CommitFiles makes files part of managed table name, all at once:
// appended (INSERT) or, with replace, instead of its files (CREATE TABLE
// AS, overwrite). With expect > 0 the commit applies only if the table
// is at that version. It returns the new version.
func (s *Store) CommitFiles(name string, files []string, replace bool, expect uint64) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[key(name)]
	switch {
	case !ok:
		return 0, fmt.Errorf("relation %q does not exist", name)
	case !t.Managed:
		return 0, fmt.Errorf("relation %q is not a managed table: its files are not ours to change", name)
	case expect > 0 && t.Version != expect:
		return 0, fmt.Errorf("relation %q changed (version %d, the write read %d): retry the write", name, t.Version, expect)
	}
	cp := *t.Table
	if replace {
		cp.Paths = slices.Clone(files)
	} else {
		cp.Paths = append(slices.Clone(t.Paths), files...)
	}
	s.tables[key(name)] = &Table{Table: &cp, Version: t.Version + 1}
	return t.Version + 1, nil
}

// Table returns a copy of the table or view of that name.
func (s *Store) Table(name string) (Table, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, ok := s.tables[key(name)]
	if !ok {
		return Table{}, false
	}
	cp := *t.Table
	cp.Paths = slices.Clone(t.Paths)
	return Table{Table: &cp, Version: t.Version}, true
}

// Tables returns the names of every table and view, sorted.
func (s *Store) Tables() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.tables))
}

// PutUser adds or replaces a user or token.
func (s *Store) PutUser(u User) error {
	if u.Name == "" || (u.Kind != "password" && u.Kind != "token") || u.Hash == "" {
		return fmt.Errorf("user %q: want a name, kind password or token, and a hash", u.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Name] = u
	return nil
}

// DeleteUser removes a user; it fails if there is none of that name.
func (s *Store) DeleteUser(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[name]; !ok {
		return fmt.Errorf("user %q does not exist", name)
	}
	delete(s.users, name)
	return nil
}

// User returns the user of that name.
func (s *Store) User(name string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[name]
	return u, ok
}

// SetSetting sets a cluster setting; an empty value removes it (back to
// its default).
func (s *Store) SetSetting(name, value string) error {
	if name == "" {
		return fmt.Errorf("set setting: no name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == "" {
		delete(s.settings, key(name))
	} else {
		s.settings[key(name)] = value
	}
	return nil
}

// Setting returns a cluster setting.
func (s *Store) Setting(name string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.settings[key(name)]
	return v, ok
}

// RegisterQuery records a query that started; IDs are unique.
func (s *Store) RegisterQuery(q Query) error {
	if q.ID == "" {
		return fmt.Errorf("register query: no id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.queries[q.ID]; ok {
		return fmt.Errorf("query %s is already registered", q.ID)
	}
	s.queries[q.ID] = q
	return nil
}

// UpdateQuery changes a registered query's state and, if parallelism >
// 0, its parallelism.
func (s *Store) UpdateQuery(id, state string, parallelism int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.queries[id]
	if !ok {
		return fmt.Errorf("no running query %s", id)
	}
	if state != "" {
		q.State = state
	}
	if parallelism > 0 {
		q.Parallelism = parallelism
	}
	s.queries[id] = q
	return nil
}

// EndQuery removes a query from the registry (a no-op for one not there:
// a coordinator may end a query twice, e.g. after a failover).
func (s *Store) EndQuery(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.queries, id)
}

// Queries returns the running queries, ordered by start time then ID.
func (s *Store) Queries() []Query {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := slices.Collect(maps.Values(s.queries))
	slices.SortFunc(out, func(a, b Query) int {
		if a.StartedUnix != b.StartedUnix {
			if a.StartedUnix < b.StartedUnix {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// image is the whole state as snapshots hold it.
type image struct {
	Tables   []*Table          `json:"tables"`
	Users    []User            `json:"users"`
	Settings map[string]string `json:"settings"`
	Queries  []Query           `json:"queries"`
}

// WriteSnapshot writes the whole state to w (JSON), consistently: no
// change lands midway.
func (s *Store) WriteSnapshot(w io.Writer) error {
	s.mu.RLock()
	im := image{Settings: maps.Clone(s.settings)}
	for _, n := range slices.Sorted(maps.Keys(s.tables)) {
		im.Tables = append(im.Tables, s.tables[n])
	}
	for _, n := range slices.Sorted(maps.Keys(s.users)) {
		im.Users = append(im.Users, s.users[n])
	}
	for _, id := range slices.Sorted(maps.Keys(s.queries)) {
		im.Queries = append(im.Queries, s.queries[id])
	}
	raw, err := json.Marshal(&im)
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	_, err = w.Write(raw)
	return err
}

// ReadSnapshot replaces the whole state with what WriteSnapshot wrote;
// on error the state is unchanged.
func (s *Store) ReadSnapshot(r io.Reader) error {
	var im image
	if err := json.NewDecoder(r).Decode(&im); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	n := New()
	for _, t := range im.Tables {
		if t == nil || t.Table == nil || t.Name == "" {
			return fmt.Errorf("snapshot: a table without a name")
		}
		n.tables[key(t.Name)] = t
	}
	for _, u := range im.Users {
		n.users[u.Name] = u
	}
	for k, v := range im.Settings {
		n.settings[k] = v
	}
	for _, q := range im.Queries {
		n.queries[q.ID] = q
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables, s.users, s.settings, s.queries = n.tables, n.users, n.settings, n.queries
	return nil
}
