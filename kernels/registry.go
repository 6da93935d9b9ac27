package kernels

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Context carries what a kernel call may use. Kernels allocate their output
// with Alloc and never keep references to their arguments.
type Context struct {
	Alloc memory.Allocator
}

// ExecFn evaluates a scalar kernel. Each argument has length n, or length 1
// for a constant that applies to every row. The result has length n and is
// owned by the caller. NULL propagation is the kernel's job (most kernels
// return NULL where any argument is NULL).
type ExecFn func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error)

// Resolver inspects argument types and, if the function applies to them,
// returns the result type and the implementation. Resolvers must be pure.
type Resolver func(args []Type) (ret Type, fn ExecFn, ok bool)

// Kernel is a resolved function: implementation plus signature.
type Kernel struct {
	Name    string
	Args    []Type
	Ret     Type
	Exec    ExecFn
	Backend string
}

// Registry maps function names to overloads per backend. It is safe for
// concurrent use; registration normally happens in init functions.
type Registry struct {
	mu    sync.RWMutex
	funcs map[string][]overload
}

type overload struct {
	backend string
	res     Resolver
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{funcs: map[string][]overload{}} }

// Default is the process-wide registry; the CPU backend registers into it at
// init, accelerator backends when their libraries load.
var Default = NewRegistry()

// Register adds an overload of name for a backend ("cpu", "cuda", ...).
// Later registrations of the same backend are tried after earlier ones.
func (r *Registry) Register(backend, name string, res Resolver) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.funcs[name] = append(r.funcs[name], overload{backend: backend, res: res})
}

// Has reports whether any overload of name exists.
func (r *Registry) Has(name string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.funcs[name]) > 0
}

// Resolve finds an implementation of name for args, preferring the given
// backend ("" = cpu) and falling back to cpu.
func (r *Registry) Resolve(name string, args []Type, backend string) (*Kernel, error) {
	r.mu.RLock()
	ovs := r.funcs[name]
	r.mu.RUnlock()
	if len(ovs) == 0 {
		return nil, fmt.Errorf("function %s does not exist", name)
	}
	if backend == "" {
		backend = "cpu"
	}
	for _, pass := range []string{backend, "cpu"} {
		for _, ov := range ovs {
			if ov.backend != pass {
				continue
			}
			if ret, fn, ok := ov.res(args); ok {
				return &Kernel{Name: name, Args: args, Ret: ret, Exec: fn, Backend: ov.backend}, nil
			}
		}
	}
	ts := make([]string, len(args))
	for i, a := range args {
		ts[i] = a.String()
	}
	return nil, fmt.Errorf("function %s(%s) does not exist", name, strings.Join(ts, ", "))
}

// Names lists the registered function names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.funcs))
	for n := range r.funcs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Exact returns a Resolver for one fixed signature; argument types match on
// their TypeID only (decimal precision/scale are the kernel's concern).
func Exact(ret Type, fn ExecFn, args ...TypeID) Resolver {
	return func(in []Type) (Type, ExecFn, bool) {
		if len(in) != len(args) {
			return Type{}, nil, false
		}
		for i, a := range in {
			if a.ID != args[i] {
				return Type{}, nil, false
			}
		}
		return ret, fn, true
	}
}
