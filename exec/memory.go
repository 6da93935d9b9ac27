package exec

import (
	"fmt"
	"sync/atomic"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ErrMemoryLimit is returned (wrapped) when a query exceeds its memory limit.
type ErrMemoryLimit struct {
	Limit, Want int64
	Where       string
}

func (e *ErrMemoryLimit) Error() string {
	return fmt.Sprintf("memory limit exceeded in %s: query needs %d bytes, limit is %d bytes (raise it with SET memory_limit)", e.Where, e.Want, e.Limit)
}

// MemoryPool accounts the bytes one query holds: Arrow buffers (through
// Allocator) and operator state reported with Grow/Shrink. Safe for
// concurrent use.
type MemoryPool struct {
	limit int64 // 0 = unlimited
	used  atomic.Int64
	peak  atomic.Int64
	// window is the peak since the last ResetWindow (per pipeline).
	window atomic.Int64
}

// ResetWindow starts a new peak window at the current usage.
func (p *MemoryPool) ResetWindow() { p.window.Store(p.used.Load()) }

// WindowPeak returns the most bytes held since the last ResetWindow.
func (p *MemoryPool) WindowPeak() int64 { return p.window.Load() }

// NewMemoryPool returns a pool with the given limit in bytes (0: none).
func NewMemoryPool(limit int64) *MemoryPool { return &MemoryPool{limit: limit} }

// Grow reserves n bytes for where, failing with *ErrMemoryLimit past the limit.
func (p *MemoryPool) Grow(n int64, where string) error {
	u := p.used.Add(n)
	if p.limit > 0 && u > p.limit && n > 0 {
		p.used.Add(-n)
		return &ErrMemoryLimit{Limit: p.limit, Want: u, Where: where}
	}
	raise(&p.peak, u)
	raise(&p.window, u)
	return nil
}

// Shrink returns n bytes.
func (p *MemoryPool) Shrink(n int64) { p.used.Add(-n) }

// Used returns the bytes currently held.
func (p *MemoryPool) Used() int64 { return p.used.Load() }

// Peak returns the most bytes held at once.
func (p *MemoryPool) Peak() int64 { return p.peak.Load() }

// Limit returns the limit (0 = none).
func (p *MemoryPool) Limit() int64 { return p.limit }

// memLimitPanic carries an allocation failure out of arrow code, which has no
// error return; drivers recover it into an error.
type memLimitPanic struct{ err error }

// Allocator wraps parent so every Arrow buffer the query allocates counts
// against the pool. Going over the limit panics with a value drivers turn
// into an *ErrMemoryLimit error.
type Allocator struct {
	parent memory.Allocator
	pool   *MemoryPool
}

// NewAllocator returns an accounting allocator over parent.
func NewAllocator(parent memory.Allocator, pool *MemoryPool) *Allocator {
	return &Allocator{parent: parent, pool: pool}
}

// Allocate implements memory.Allocator.
func (a *Allocator) Allocate(size int) []byte {
	if err := a.pool.Grow(int64(size), "buffer allocation"); err != nil {
		panic(memLimitPanic{err})
	}
	return a.parent.Allocate(size)
}

// Reallocate implements memory.Allocator.
func (a *Allocator) Reallocate(size int, b []byte) []byte {
	if d := size - len(b); d > 0 {
		if err := a.pool.Grow(int64(d), "buffer allocation"); err != nil {
			panic(memLimitPanic{err})
		}
	} else {
		a.pool.Shrink(int64(-d))
	}
	return a.parent.Reallocate(size, b)
}

// Free implements memory.Allocator.
func (a *Allocator) Free(b []byte) {
	a.pool.Shrink(int64(len(b)))
	a.parent.Free(b)
}

func raise(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}
