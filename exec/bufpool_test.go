package exec

import (
	"testing"
	"unsafe"
)

func TestBufClass(t *testing.T) {
	prev := 0
	for n := bufPoolMin; n <= 1<<22; n += 97 {
		c, cs := bufClass(n)
		if cs < n || cs > n+n/4+1 {
			t.Fatalf("size %d: class size %d wastes more than a quarter", n, cs)
		}
		if c < prev || c >= bufClasses {
			t.Fatalf("size %d: class %d out of order or range", n, c)
		}
		if c2, cs2 := bufClass(cs); c2 != c || cs2 != cs {
			t.Fatalf("class size %d maps to class %d (%d), not %d", cs, c2, cs2, c)
		}
		prev = c
	}
	if c, cs := bufClass(bufPoolMax); c != bufClasses-1 || cs != bufPoolMax {
		t.Fatalf("largest size: class %d size %d", c, cs)
	}
}

func TestBufferPoolReusesZeroedAligned(t *testing.T) {
	p := NewBufferPool(true)
	b := p.Allocate(10000)
	if len(b) != 10000 || uintptr(unsafe.Pointer(&b[0]))%bufAlign != 0 {
		t.Fatalf("len %d, address %p not %d-aligned", len(b), &b[0], bufAlign)
	}
	for i := range b {
		b[i] = 7
	}
	p.Free(b)
	for range 100 { // sync.Pool may drop an entry; it will not hand back dirty memory
		c := p.Allocate(9000)
		for i, v := range c[:cap(c)] {
			if v != 0 {
				t.Fatalf("reused buffer not zeroed at %d: %d", i, v)
			}
		}
		p.Free(c)
	}
	// Reallocate within the capacity keeps the contents.
	d := p.Allocate(5000)
	d[4999] = 9
	d = p.Reallocate(5100, d)
	if len(d) != 5100 || d[4999] != 9 {
		t.Fatalf("reallocate lost contents")
	}
	e := p.Reallocate(100000, d)
	if len(e) != 100000 || e[4999] != 9 {
		t.Fatalf("growing reallocate lost contents")
	}
	if d[0] != 0xA5 {
		t.Fatalf("freed buffer not poisoned: %x", d[0])
	}
	// Small buffers bypass the pool.
	s := p.Allocate(100)
	p.Free(s)
}
