package exec

import (
	"math/bits"
	"os"
	"sync"
	"unsafe"

	"github.com/apache/arrow-go/v18/arrow/memory"
)

// bufPoolMin is the smallest buffer the pool recycles; smaller ones go to
// the Go allocator (they are cheap and short lived).
const bufPoolMin = 4 << 10

// bufPoolMax is the largest buffer the pool recycles.
const bufPoolMax = 1 << 30

// bufAlign is the alignment of every buffer, as arrow's Go allocator gives.
const bufAlign = 64

// BufferPool is a memory.Allocator that recycles freed buffers of 4 KiB to
// 1 GiB by size class (four classes per power of two, so a buffer wastes at
// most a quarter of its size). Reusing warm memory saves the page faults,
// zeroing and garbage collection of fresh allocations, which a scan pays
// for every batch. Buffers are zeroed when handed out, like Go's. Pooled
// buffers are dropped at garbage collections (sync.Pool), so an idle
// process gives the memory back. Safe for concurrent use.
type BufferPool struct {
	small   memory.Allocator
	classes [bufClasses]sync.Pool
	poison  bool
}

// bufClasses covers 4 KiB .. 1 GiB with four classes per doubling.
const bufClasses = 4 * (30 - 12 + 1)

// NewBufferPool returns an empty pool. With poison, freed buffers are
// overwritten with 0xA5 bytes, so a read after Free (a missing Retain)
// shows up as wrong data in tests instead of passing by luck.
func NewBufferPool(poison bool) *BufferPool {
	return &BufferPool{small: memory.NewGoAllocator(), poison: poison}
}

// DefaultBufferPool is the process-wide pool a program opts into
// (bellows.PooledAllocator). BELLOWS_BUFFER_POISON=1 turns on poisoning.
var DefaultBufferPool = NewBufferPool(os.Getenv("BELLOWS_BUFFER_POISON") == "1")

// bufClass returns the class index and size for a request of n bytes
// (bufPoolMin <= n <= bufPoolMax).
func bufClass(n int) (int, int) {
	k := bits.Len(uint(n-1)) - 1 // 2^k < n <= 2^(k+1)
	quarter := 1 << (k - 2)
	sub := (n - 1<<k + quarter - 1) / quarter // 1..4
	return 4*(k-11) + sub - 1, 1<<k + sub*quarter
}

type pooledBuf struct{ b []byte }

// Allocate implements memory.Allocator.
func (p *BufferPool) Allocate(size int) []byte {
	if size < bufPoolMin || size > bufPoolMax {
		return p.small.Allocate(size)
	}
	c, cs := bufClass(size)
	if v := p.classes[c].Get(); v != nil {
		b := v.(*pooledBuf).b
		clear(b)
		return b[:size]
	}
	raw := make([]byte, cs+bufAlign)
	off := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) & (bufAlign - 1)); r != 0 {
		off = bufAlign - r
	}
	return raw[off : off+size : off+cs]
}

// Reallocate implements memory.Allocator: in place when the capacity
// allows, else a new buffer with the old contents.
func (p *BufferPool) Reallocate(size int, b []byte) []byte {
	if size <= cap(b) {
		return b[:size]
	}
	nb := p.Allocate(size)
	copy(nb, b)
	p.Free(b)
	return nb
}

// Free implements memory.Allocator. b must not be used afterwards.
func (p *BufferPool) Free(b []byte) {
	n := cap(b)
	if n < bufPoolMin || n > bufPoolMax {
		return
	}
	c, cs := bufClass(n)
	if cs != n {
		return // not one of ours (or a slice of one): let the GC have it
	}
	b = b[:n]
	if p.poison {
		for i := range b {
			b[i] = 0xA5
		}
	}
	p.classes[c].Put(&pooledBuf{b})
}
