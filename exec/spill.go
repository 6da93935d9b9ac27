package exec

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/ipc"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Spilling: when a query nears its memory limit, the operators that hold
// state (sort, hash aggregate, hash join) write part of it to local disk
// as Arrow IPC streams and read it back later. The files of one query live
// in one directory, made on first use and removed when the query ends
// (QueryContext.Close or Plan.Close), whether it succeeded, failed or was
// cancelled.

// spillDirPrefix starts the name of every query's spill directory; the
// rest is the process id and a random suffix, so RemoveStaleSpillDirs can
// tell the directories of dead processes.
const spillDirPrefix = "bellows-spill-"

// spillFraction is the share of the memory limit past which operators
// spill their state rather than grow it.
const spillFraction = 0.5

// spillMinBytes is the least state an operator spills at once (below it,
// spilling would only make many tiny files); a smaller threshold
// (QueryContext.SpillThreshold, for tests) lowers it.
const spillMinBytes = 4 << 20

// SpillManager owns one query's spill files. Safe for concurrent use.
type SpillManager struct {
	parent string // where the directory goes; "" = os.TempDir()

	mu     sync.Mutex
	dir    string // "" until the first file
	closed bool
	seq    int

	bytes, files atomic.Int64 // written in total
	live         atomic.Int64 // files not yet removed
}

// NewSpillManager returns a manager that makes its directory under parent
// ("" = the system temporary directory) when the first file is created.
func NewSpillManager(parent string) *SpillManager { return &SpillManager{parent: parent} }

// BytesWritten returns the bytes spilled so far.
func (m *SpillManager) BytesWritten() int64 { return m.bytes.Load() }

// FilesWritten returns the number of spill files created so far.
func (m *SpillManager) FilesWritten() int64 { return m.files.Load() }

// Dir returns the spill directory, "" when none was made.
func (m *SpillManager) Dir() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.dir
}

// Close removes the directory and every file in it. Idempotent; creating
// a file after Close fails.
func (m *SpillManager) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	if m.dir == "" {
		return nil
	}
	err := os.RemoveAll(m.dir)
	m.dir = ""
	return err
}

func (m *SpillManager) create(what string) (*os.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("internal error: spill after the query ended")
	}
	if m.dir == "" {
		parent := m.parent
		if parent == "" {
			parent = os.TempDir()
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return nil, fmt.Errorf("spill: %w", err)
		}
		dir, err := os.MkdirTemp(parent, spillDirPrefix+strconv.Itoa(os.Getpid())+"-")
		if err != nil {
			return nil, fmt.Errorf("spill: %w", err)
		}
		m.dir = dir
	}
	m.seq++
	name := fmt.Sprintf("%06d-%s.arrows", m.seq, strings.ReplaceAll(what, " ", "-"))
	f, err := os.OpenFile(filepath.Join(m.dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	m.files.Add(1)
	m.live.Add(1)
	return f, nil
}

// RemoveStaleSpillDirs removes, under parent ("" = the system temporary
// directory), the spill directories left by processes that no longer run
// (a crash skips the query's cleanup). Directories of live processes are
// kept.
func RemoveStaleSpillDirs(parent string) {
	if parent == "" {
		parent = os.TempDir()
	}
	ents, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range ents {
		name, ok := strings.CutPrefix(e.Name(), spillDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		pidStr, _, ok := strings.Cut(name, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		os.RemoveAll(filepath.Join(parent, e.Name()))
	}
}

// processAlive reports whether pid names a running process (true when it
// cannot tell, so nothing of a live process is removed).
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	err = p.Signal(syscall.Signal(0))
	return !errors.Is(err, os.ErrProcessDone) && !errors.Is(err, syscall.ESRCH)
}

// countingWriter counts the bytes that go through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// spillWriter writes batches of one schema to one spill file. Not safe for
// concurrent use.
type spillWriter struct {
	m     *SpillManager
	stats *OpStats
	f     *os.File
	bw    *bufio.Writer
	cw    *countingWriter
	w     *ipc.Writer
	rows  int64
	err   error
	// Small batches are gathered into one of about target rows before
	// they are written: partitioning splits batches into small pieces,
	// and small batches are slow to write and to process when read back.
	target  int
	pending []arrow.RecordBatch
	prows   int
}

// newSpillWriter creates a spill file for batches of schema; stats (may be
// nil) get the bytes and the file counted.
func (q *QueryContext) newSpillWriter(what string, schema *arrow.Schema, stats *OpStats) (*spillWriter, error) {
	f, err := q.Spill().create(what)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	cw := &countingWriter{w: bw}
	w := &spillWriter{m: q.Spill(), stats: stats, f: f, bw: bw, cw: cw, target: max(q.BatchSize, 1),
		w: ipc.NewWriter(cw, ipc.WithSchema(schema), ipc.WithAllocator(memory.DefaultAllocator))}
	if stats != nil {
		stats.SpillFiles.Add(1)
	}
	return w, nil
}

// write appends b (borrowed).
func (w *spillWriter) write(b arrow.RecordBatch) error {
	if w.err != nil {
		return w.err
	}
	n := int(b.NumRows())
	switch {
	case n == 0:
		return nil
	case n < w.target/2 || len(w.pending) > 0:
		b.Retain()
		w.pending = append(w.pending, b)
		w.prows += n
		if w.prows < w.target {
			return nil
		}
		return w.flushPending()
	}
	return w.writeNow(b)
}

// flushPending writes the gathered small batches as one.
func (w *spillWriter) flushPending() error {
	if len(w.pending) == 0 {
		return nil
	}
	defer w.releasePending()
	if len(w.pending) == 1 {
		return w.writeNow(w.pending[0])
	}
	refs := make([]rowRef, 0, w.prows)
	for i, b := range w.pending {
		for r := range b.NumRows() {
			refs = append(refs, rowRef{uint32(i), uint32(r)})
		}
	}
	schema := w.pending[0].Schema()
	b, err := gatherBatch(spillAlloc, schema, columnGatherers(schema, w.pending), refs)
	if err != nil {
		w.err = err
		return err
	}
	defer b.Release()
	return w.writeNow(b)
}

func (w *spillWriter) releasePending() {
	for _, b := range w.pending {
		b.Release()
	}
	w.pending, w.prows = w.pending[:0], 0
}

func (w *spillWriter) writeNow(b arrow.RecordBatch) error {
	before := w.cw.n
	if err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("spill: %w", err)
		return w.err
	}
	w.rows += b.NumRows()
	d := w.cw.n - before
	w.m.bytes.Add(d)
	if w.stats != nil {
		w.stats.SpillBytes.Add(d)
	}
	return nil
}

// finish closes the writer and returns the file to read back.
func (w *spillWriter) finish() (*spillFile, error) {
	w.flushPending()
	err := w.err
	if e := w.w.Close(); err == nil && e != nil {
		err = e
	}
	if e := w.bw.Flush(); err == nil && e != nil {
		err = e
	}
	if e := w.f.Close(); err == nil && e != nil {
		err = e
	}
	// The file is closed until read: a query may hold many.
	sf := &spillFile{m: w.m, path: w.f.Name(), rows: w.rows, bytes: w.cw.n}
	if err != nil {
		sf.remove()
		return nil, fmt.Errorf("spill: %w", err)
	}
	return sf, nil
}

// abort closes and removes the file.
func (w *spillWriter) abort() {
	w.releasePending()
	w.w.Close()
	w.f.Close()
	(&spillFile{m: w.m, path: w.f.Name()}).remove()
}

// spillFile is a finished spill file. remove deletes it; reading it after
// remove is an error.
type spillFile struct {
	m     *SpillManager
	path  string // "" once removed
	rows  int64
	bytes int64
}

// spillReader reads a spill file's batches back in order.
type spillReader struct {
	f     *os.File
	r     *ipc.Reader
	alloc *LimitCatcher
}

// LimitCatcher is an allocator for an Arrow IPC reader over a query's
// accounting allocator: it keeps the memory-limit error of an allocation
// that fails. The IPC reader recovers the panic that carries that error
// and reports "invalid message metadata" instead, which would hide that
// the query ran out of memory; Err tells the real cause. Used by one
// goroutine.
type LimitCatcher struct {
	memory.Allocator
	err error
}

// NewLimitCatcher wraps alloc.
func NewLimitCatcher(alloc memory.Allocator) *LimitCatcher { return &LimitCatcher{Allocator: alloc} }

// Err returns the memory-limit error an allocation failed with, if any.
func (a *LimitCatcher) Err() error { return a.err }

func (a *LimitCatcher) catch() {
	if r := recover(); r != nil {
		if m, ok := r.(memLimitPanic); ok && a.err == nil {
			a.err = m.err
		}
		panic(r)
	}
}

// Allocate implements memory.Allocator.
func (a *LimitCatcher) Allocate(size int) []byte {
	defer a.catch()
	return a.Allocator.Allocate(size)
}

// Reallocate implements memory.Allocator.
func (a *LimitCatcher) Reallocate(size int, b []byte) []byte {
	defer a.catch()
	return a.Allocator.Reallocate(size, b)
}

// open starts reading the file from the beginning; batches come from
// alloc. Close the reader before removing the file.
func (f *spillFile) open(alloc memory.Allocator) (*spillReader, error) {
	if f.path == "" {
		return nil, errors.New("internal error: spill file read after removal")
	}
	fh, err := os.Open(f.path)
	if err != nil {
		return nil, fmt.Errorf("spill: %w", err)
	}
	lc := &LimitCatcher{Allocator: alloc}
	r, err := ipc.NewReader(bufio.NewReaderSize(fh, 64<<10), ipc.WithAllocator(lc))
	if err != nil {
		fh.Close()
		if lc.err != nil {
			err = lc.err
		}
		return nil, fmt.Errorf("spill: reading back: %w", err)
	}
	return &spillReader{f: fh, r: r, alloc: lc}, nil
}

// next returns the next batch (owned by the caller), or io.EOF.
func (r *spillReader) next() (arrow.RecordBatch, error) {
	if r.r.Next() {
		b := r.r.RecordBatch()
		b.Retain()
		return b, nil
	}
	if err := r.r.Err(); err != nil {
		if r.alloc.err != nil {
			err = r.alloc.err
		}
		return nil, fmt.Errorf("spill: reading back: %w", err)
	}
	return nil, io.EOF
}

func (r *spillReader) close() {
	r.r.Release()
	r.f.Close()
}

// remove deletes the file. Idempotent.
func (f *spillFile) remove() {
	if f == nil || f.path == "" {
		return
	}
	os.Remove(f.path)
	f.path = ""
	f.m.live.Add(-1)
}

// removeFiles removes every file of fs.
func removeFiles(fs []*spillFile) {
	for _, f := range fs {
		f.remove()
	}
}

// Spill returns the query's spill manager, made on first use under
// SpillDir.
func (q *QueryContext) Spill() *SpillManager {
	q.spillOnce.Do(func() { q.spill = NewSpillManager(q.SpillDir) })
	return q.spill
}

// Close ends the query's use of its resources: it removes the spill
// directory. Call it after the plan is closed; idempotent.
func (q *QueryContext) Close() error {
	q.spillOnce.Do(func() { q.spill = NewSpillManager(q.SpillDir) })
	return q.spill.Close()
}

// spillThreshold returns the bytes the query may hold before operators
// spill: SpillThreshold if set, else spillFraction of the limit; 0: never.
func (q *QueryContext) spillThreshold() int64 {
	if q.SpillThreshold != 0 {
		return max(q.SpillThreshold, 0)
	}
	if q.NoSpill {
		return 0
	}
	return int64(float64(q.Pool.Limit()) * spillFraction)
}

// shouldSpill reports whether an operator holding own bytes of state
// should spill it now: the query is over its spill threshold and the
// state is big enough to be worth a file.
func (q *QueryContext) shouldSpill(own int64) bool {
	t := q.spillThreshold()
	if t <= 0 || q.Pool.Used() <= t {
		return false
	}
	return own >= min(int64(spillMinBytes), t/8)
}

// canSpill reports whether spilling is enabled for the query.
func (q *QueryContext) canSpill() bool { return q.spillThreshold() > 0 }

// isMemLimit reports whether err is a memory-limit error.
func isMemLimit(err error) bool {
	var m *ErrMemoryLimit
	return errors.As(err, &m)
}

// spillAlloc backs the short-lived batches built only to be written to a
// spill file: they are not counted against the query, so spilling works
// when the query is at its limit.
var spillAlloc = memory.DefaultAllocator
