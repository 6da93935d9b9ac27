// Package bellows is the embedded Bellows engine: open a DB, register
// Parquet/CSV/Arrow files as tables, and run PostgreSQL-dialect SQL whose
// results stream back as Arrow record batches.
//
//	db, _ := bellows.Open(bellows.Options{})
//	defer db.Close()
//	db.RegisterTable("lineitem", "data/lineitem.parquet")
//	rows, _ := db.Query(ctx, "SELECT count(*) FROM lineitem")
//	defer rows.Release()
//	for rows.Next() { batch := rows.RecordBatch(); ... }
package bellows

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/coordinator"
	"github.com/bellows-db/bellows/exec"
	"github.com/bellows-db/bellows/planner"
)

// Options configure an embedded engine.
type Options struct {
	// DataDir holds managed tables and the catalog; "" uses a temporary
	// directory removed by Close.
	DataDir string
	// Parallelism is the default number of drivers per pipeline
	// (0: GOMAXPROCS).
	Parallelism int
	// MemoryLimit is the default per-query memory limit in bytes (0: none).
	MemoryLimit int64
	// Allocator, if set, backs every query's Arrow buffers (tests pass a
	// checked allocator; PooledAllocator recycles buffers). Nil: the Go
	// allocator.
	Allocator memory.Allocator
	// Workers > 0 runs queries on an in-process cluster: a scheduler and
	// Workers worker services, each a gRPC server on a loopback port,
	// moving Arrow batches over Flight between the stages of each plan
	// (planner.Fragment). Statements that write files run their query on
	// the cluster and write on the caller's side.
	Workers int
	// Remote, if set, runs queries on worker processes instead (a
	// coordinator's DB); Workers is then ignored.
	Remote *RemoteCluster
	// Fragment steers how plans are cut for the cluster (zero: the
	// defaults, with at most 2 tasks per worker and stage).
	Fragment planner.FragmentOptions
	// SpillDir is where queries near their memory limit write spill files
	// (one directory per query, removed when it ends); "" uses DataDir/tmp
	// when DataDir is set, else the system temporary directory. Spill
	// directories left by crashed processes there are removed by Open.
	SpillDir string
}

// DB is an embedded engine. It is safe for concurrent use; each query runs
// with the settings current when it starts.
type DB struct {
	opts    Options
	cat     *catalog
	tempDir string

	cluster *embeddedCluster // nil: queries run in this process's engine
	retries atomic.Int64     // distributed queries restarted after losing a worker

	mu      sync.Mutex
	def     *Session // the session of DB.Query and DB.Exec
	running map[string]*runningQuery
	nextID  atomic.Int64
	closed  bool
}

// Open starts an embedded engine.
func Open(opts Options) (*DB, error) {
	db := &DB{opts: opts, running: map[string]*runningQuery{}}
	dir := opts.DataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "bellows-")
		if err != nil {
			return nil, err
		}
		db.tempDir, dir = tmp, tmp
	}
	cat, err := openCatalog(dir)
	if err != nil {
		return nil, err
	}
	db.cat = cat
	if opts.SpillDir == "" && opts.DataDir != "" {
		opts.SpillDir = filepath.Join(opts.DataDir, "tmp")
		db.opts.SpillDir = opts.SpillDir
	}
	exec.RemoveStaleSpillDirs(opts.SpillDir)
	db.def = db.NewSession()
	if opts.Remote != nil {
		db.cluster = remoteCluster(opts.Remote, opts.Fragment)
	} else if opts.Workers > 0 {
		c, err := startEmbeddedCluster(opts)
		if err != nil {
			return nil, err
		}
		db.cluster = c
	}
	return db, nil
}

// Close cancels nothing (callers own their queries) and removes a
// temporary data directory.
func (db *DB) Close() error {
	db.mu.Lock()
	db.closed = true
	db.mu.Unlock()
	if db.cluster != nil {
		db.cluster.stop()
	}
	if db.tempDir != "" {
		return os.RemoveAll(db.tempDir)
	}
	return nil
}

// RegisterTable makes the files at pathOrGlob (a file, a glob, or a folder
// of Parquet files) queryable as table name. The format follows the file
// extension (.parquet, .csv, .arrow).
func (db *DB) RegisterTable(name, pathOrGlob string) error {
	name = strings.ToLower(name)
	format := formatOf(pathOrGlob)
	if st, err := os.Stat(pathOrGlob); err == nil && st.IsDir() {
		format = "parquet"
	}
	t, err := describeFiles(name, format, pathOrGlob)
	if err != nil {
		return fmt.Errorf("register table %s: %w", name, err)
	}
	db.cat.mu.Lock()
	defer db.cat.mu.Unlock()
	if old, ok := db.cat.tables[name]; ok && old.Managed {
		return fmt.Errorf("register table %s: a managed table of that name exists", name)
	}
	db.cat.tables[name] = t
	return nil
}

// RegisterDir registers every NAME.parquet file and NAME/ folder of Parquet
// files in dir as table NAME.
func (db *DB) RegisterDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.IsDir():
			if m, _ := filepath.Glob(filepath.Join(p, "*.parquet")); len(m) > 0 {
				if err := db.RegisterTable(e.Name(), p); err != nil {
					return err
				}
			}
		case strings.HasSuffix(e.Name(), ".parquet"):
			if err := db.RegisterTable(strings.TrimSuffix(e.Name(), ".parquet"), p); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetParallelism changes the parallelism of a running query at once,
// without pausing it; the answer does not change. A single-node query
// gets n drivers per pipeline; a distributed one n tasks in each scan
// stage (tasks are added, or retired: they finish their splits and take
// no more) and in each elastic stage that has not sent rows yet (tasks
// split or merge their key buckets: planner.Stage.Elastic).
func (db *DB) SetParallelism(queryID string, n int) error {
	db.mu.Lock()
	q, ok := db.running[queryID]
	db.mu.Unlock()
	if !ok {
		return fmt.Errorf("no running query %q", queryID)
	}
	if n < 1 {
		return fmt.Errorf("parallelism must be at least 1, not %d", n)
	}
	if q.local != nil {
		q.local.SetParallelism(n)
		return nil
	}
	res := q.result()
	if res == nil {
		return fmt.Errorf("query %s has no plan running now (it is ending, or restarting after a lost worker); try again", queryID)
	}
	return res.SetScanTasks(context.Background(), n)
}

// Retries returns how many times distributed queries were restarted
// after losing a worker.
func (db *DB) Retries() int64 { return db.retries.Load() }

// Running lists the IDs of the queries running now.
func (db *DB) Running() []string {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make([]string, 0, len(db.running))
	for id := range db.running {
		out = append(out, id)
	}
	return out
}

// QueryInfo describes a running query (SHOW queries).
type QueryInfo struct {
	ID      string
	SQL     string
	Started time.Time
	// Tasks is, for a distributed query, each stage's task count (not
	// counting retired tasks); nil for a single-node one.
	Tasks []int
	// Placement is, for a distributed query, each stage's tasks' worker
	// addresses (where they run now).
	Placement [][]string
	// SplitsClaimed and Splits are, for a distributed query, each
	// stage's scan splits handed out so far and in all.
	SplitsClaimed, Splits []int64
}

// Queries lists the queries running now, oldest first.
func (db *DB) Queries() []QueryInfo {
	db.mu.Lock()
	qs := make([]*runningQuery, 0, len(db.running))
	ids := make([]string, 0, len(db.running))
	for id, q := range db.running {
		qs, ids = append(qs, q), append(ids, id)
	}
	db.mu.Unlock()
	out := make([]QueryInfo, len(qs))
	for i, q := range qs {
		out[i] = QueryInfo{ID: ids[i], SQL: q.text, Started: q.start}
		if res := q.result(); res != nil {
			out[i].Tasks = res.ActiveTasks()
			out[i].Placement = res.Tasks()
			out[i].SplitsClaimed, out[i].Splits = res.Progress()
		} else if q.local == nil {
			out[i].Tasks = []int{}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// runningQuery is a query in the DB's registry.
type runningQuery struct {
	text  string
	start time.Time
	local *exec.QueryContext // a single-node query's context
	mu    sync.Mutex
	dist  *coordinator.Result // a distributed query's current run (nil between runs)
}

func (q *runningQuery) result() *coordinator.Result {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.dist
}

func (q *runningQuery) setResult(r *coordinator.Result) {
	q.mu.Lock()
	q.dist = r
	q.mu.Unlock()
}

// statementText carries the text of the statement being run in a
// context, for the query registry.
type statementText struct{}

func withStatementText(ctx context.Context, text string) context.Context {
	return context.WithValue(ctx, statementText{}, text)
}

// register adds a query to the registry; local is its context when it
// runs in this process.
func (db *DB) register(ctx context.Context, local *exec.QueryContext) (string, *runningQuery) {
	text, _ := ctx.Value(statementText{}).(string)
	q := &runningQuery{text: strings.TrimSpace(text), start: time.Now(), local: local}
	id := "q" + strconv.FormatInt(db.nextID.Add(1), 10)
	db.mu.Lock()
	db.running[id] = q
	db.mu.Unlock()
	return id, q
}

// newQuery registers a query that runs in this process with the
// settings st.
func (db *DB) newQuery(ctx context.Context, st settings) (string, *exec.QueryContext) {
	gcFitQueryLimit(st.memoryLimit)
	q := exec.NewQueryContext(db.opts.Allocator, st.memoryLimit, st.parallelism)
	if st.batchSize > 0 {
		q.BatchSize = st.batchSize
	}
	q.SpillDir = st.spillDir
	id, _ := db.register(ctx, q)
	return id, q
}

func (db *DB) endQuery(id string) {
	db.mu.Lock()
	q := db.running[id]
	delete(db.running, id)
	db.mu.Unlock()
	if q != nil && q.local != nil {
		q.local.Close() // the spill directory; the plan's Close already removed it
	}
}

// ParseBytes reads sizes like 1073741824, 512MB, 4GiB, 4GB (KB, MB and GB
// are powers of 1024, as in DuckDB).
func ParseBytes(s string) (int64, error) { return parseBytes(s) }

func parseBytes(s string) (int64, error) {
	s = strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(s, u.suf) {
			mult = u.m
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suf))
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return int64(f * float64(mult)), nil
}

// Exec runs statements (separated by semicolons) in the DB's default
// session and discards results.
func (db *DB) Exec(ctx context.Context, sqlText string) error {
	_, err := db.def.Exec(ctx, sqlText)
	return err
}

// Query runs the statements of sqlText in the DB's default session; all
// but the last are executed for their effects, the last one's result is
// returned (statements without a result give an empty result).
func (db *DB) Query(ctx context.Context, sqlText string) (*Rows, error) {
	return db.def.Query(ctx, sqlText)
}
