package planner

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/bellows-db/bellows/kernels"
)

// FoldConstants evaluates every call, cast and logical operator whose
// inputs are all constants, bottom-up. It reports whether anything changed.
// Errors (e.g. division by zero in a constant) surface at plan time.
func FoldConstants(e *Expr, reg *kernels.Registry) (*Expr, bool, error) {
	if reg == nil {
		reg = kernels.Default
	}
	changed := false
	var ferr error
	out := e.Rewrite(func(x *Expr) *Expr {
		if ferr != nil {
			return x
		}
		allConst := len(x.Args) > 0
		for _, a := range x.Args {
			if a.Kind != EConst {
				allConst = false
			}
		}
		switch x.Kind {
		case ECall, ECast:
			if !allConst {
				return x
			}
			v, err := evalConstCall(x, reg)
			if err != nil {
				ferr = err
				return x
			}
			changed = true
			return Const(x.Type, v)
		case ENot:
			if allConst {
				a := x.Args[0]
				changed = true
				if a.Value.Null {
					return NullConst(kernels.TBool)
				}
				return BoolConst(a.Value.I == 0)
			}
		case EIsNull:
			if allConst {
				changed = true
				return BoolConst(x.Args[0].Value.Null)
			}
		case EAnd, EOr:
			return foldLogic(x, &changed)
		}
		return x
	})
	return out, changed, ferr
}

// foldLogic simplifies AND/OR with constant arguments (three-valued).
func foldLogic(x *Expr, changed *bool) *Expr {
	isAnd := x.Kind == EAnd
	var keep []*Expr
	sawNull := false
	for _, a := range x.Args {
		if a.Kind != EConst {
			keep = append(keep, a)
			continue
		}
		*changed = true
		if a.Value.Null {
			sawNull = true
			continue
		}
		v := a.Value.I != 0
		if v != isAnd { // false in AND, true in OR decides
			return BoolConst(v)
		}
	}
	if sawNull {
		keep = append(keep, NullConst(kernels.TBool))
	}
	switch len(keep) {
	case 0:
		return BoolConst(isAnd)
	case 1:
		if !sawNull || keep[0].Kind == EConst {
			return keep[0]
		}
	}
	if len(keep) == len(x.Args) {
		return x
	}
	c := *x
	c.Args = keep
	return &c
}

var foldAlloc = memory.NewGoAllocator()

func evalConstCall(x *Expr, reg *kernels.Registry) (kernels.Value, error) {
	ctx := &kernels.Context{Alloc: foldAlloc}
	if x.Kind == ECast {
		return kernels.CastValue(x.Args[0].Value, x.Args[0].Type, x.Type)
	}
	types := make([]kernels.Type, len(x.Args))
	for i, a := range x.Args {
		types[i] = a.Type
	}
	k, err := reg.Resolve(x.Func, types, "")
	if err != nil {
		return kernels.Value{}, err
	}
	arrs := make([]arrowArray, len(x.Args))
	for i, a := range x.Args {
		arrs[i] = kernels.MakeConst(foldAlloc, a.Type, a.Value)
	}
	defer func() {
		for _, a := range arrs {
			a.Release()
		}
	}()
	res, err := k.Exec(ctx, arrs, 1)
	if err != nil {
		return kernels.Value{}, err
	}
	defer res.Release()
	return kernels.ValueAt(res, x.Type, 0), nil
}

type arrowArray = arrow.Array
