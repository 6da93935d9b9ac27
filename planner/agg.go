package planner

import (
	"fmt"

	"github.com/bellows-db/bellows/kernels"
)

// AggResultType returns the type of aggregate fn over an argument of type
// arg: count -> bigint; sum of smallint/integer -> bigint, of bigint ->
// numeric(38,0), of numeric(p,s) -> numeric(38,s), of floats -> double;
// avg -> double; min/max -> the argument type; bool_and/bool_or -> boolean.
func AggResultType(fn string, arg kernels.Type) (kernels.Type, error) {
	switch fn {
	case "count", "count_star":
		return kernels.TInt64, nil
	case "sum":
		switch {
		case arg.ID == kernels.Int16 || arg.ID == kernels.Int32:
			return kernels.TInt64, nil
		case arg.ID == kernels.Int64:
			return kernels.DecimalType(38, 0), nil
		case arg.ID == kernels.Decimal:
			return kernels.DecimalType(38, arg.Scale), nil
		case arg.IsFloat():
			return kernels.TFloat64, nil
		case arg.ID == kernels.Interval:
			return kernels.TInterval, nil
		}
	case "avg":
		if arg.IsNumeric() {
			return kernels.TFloat64, nil
		}
	case "min", "max":
		if arg.ID != kernels.Interval && arg.ID != kernels.Null {
			return arg, nil
		}
	case "bool_and", "bool_or":
		if arg.ID == kernels.Bool {
			return kernels.TBool, nil
		}
	}
	return kernels.Type{}, fmt.Errorf("function %s(%s) does not exist", fn, arg)
}

// WalkExprs calls fn on every expression held directly by n and its
// descendants (including subquery plans inside expressions).
func WalkExprs(n Node, fn func(*Expr)) {
	visit := func(e *Expr) {
		if e == nil {
			return
		}
		fn(e)
		e.Walk(func(x *Expr) bool {
			if x.Kind == ESubquery {
				WalkExprs(x.Sub.Plan, fn)
			}
			return true
		})
	}
	WalkExprsShallow(n, visit)
	for _, c := range n.Children() {
		WalkExprs(c, fn)
	}
}
