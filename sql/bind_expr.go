package sql

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/decimal128"
	pg "github.com/pganalyze/pg_query_go/v6"

	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// exprCtx is where an expression is bound: its scope, whether aggregates
// and window functions may appear, and the clause for error messages.
type exprCtx struct {
	sc     *scope
	agg    *aggCtx // non-nil: aggregate calls allowed (select list, HAVING, ORDER BY)
	win    *winCtx // non-nil: window functions allowed
	clause string
	inAgg  bool // inside an aggregate's arguments
}

var aggregateFuncs = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true,
	"bool_and": true, "bool_or": true, "every": true,
}

var windowOnlyFuncs = map[string]bool{"row_number": true, "rank": true, "dense_rank": true,
	"lag": true, "lead": true, "first_value": true, "last_value": true,
	"ntile": true, "percent_rank": true, "cume_dist": true}

func (b *Binder) errAt(loc int32, format string, args ...any) error {
	return errorAt(b.text, loc, format, args...)
}

func funcName(names []*pg.Node) string {
	var parts []string
	for _, n := range names {
		if s := n.GetString_(); s != nil {
			parts = append(parts, strings.ToLower(s.Sval))
		}
	}
	if len(parts) > 1 && parts[0] == "pg_catalog" {
		parts = parts[1:]
	}
	return strings.Join(parts, ".")
}

func (b *Binder) bindExpr(ctx *exprCtx, n *pg.Node) (*planner.Expr, error) {
	if n == nil {
		return nil, &Error{Msg: "internal error: missing expression"}
	}
	switch {
	case n.GetColumnRef() != nil:
		return b.bindColumnRef(ctx, n.GetColumnRef())
	case n.GetAConst() != nil:
		return b.bindConst(n.GetAConst())
	case n.GetTypeCast() != nil:
		return b.bindTypeCast(ctx, n.GetTypeCast())
	case n.GetAExpr() != nil:
		return b.bindAExpr(ctx, n.GetAExpr())
	case n.GetBoolExpr() != nil:
		be := n.GetBoolExpr()
		args := make([]*planner.Expr, len(be.Args))
		for i, a := range be.Args {
			e, err := b.bindExpr(ctx, a)
			if err != nil {
				return nil, err
			}
			if e, err = b.coerceBool(e, "argument of "+boolOpName(be.Boolop), be.Location); err != nil {
				return nil, err
			}
			args[i] = e
		}
		switch be.Boolop {
		case pg.BoolExprType_AND_EXPR:
			return &planner.Expr{Kind: planner.EAnd, Type: kernels.TBool, Args: args}, nil
		case pg.BoolExprType_OR_EXPR:
			return &planner.Expr{Kind: planner.EOr, Type: kernels.TBool, Args: args}, nil
		default:
			return not(args[0]), nil
		}
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		arg, err := b.bindExpr(ctx, nt.Arg)
		if err != nil {
			return nil, err
		}
		e := &planner.Expr{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{arg}}
		if nt.Nulltesttype == pg.NullTestType_IS_NOT_NULL {
			return not(e), nil
		}
		return e, nil
	case n.GetBooleanTest() != nil:
		return b.bindBooleanTest(ctx, n.GetBooleanTest())
	case n.GetFuncCall() != nil:
		return b.bindFuncCall(ctx, n.GetFuncCall())
	case n.GetCaseExpr() != nil:
		return b.bindCase(ctx, n.GetCaseExpr())
	case n.GetCoalesceExpr() != nil:
		ce := n.GetCoalesceExpr()
		args, err := b.bindList(ctx, ce.Args)
		if err != nil {
			return nil, err
		}
		args, t, err := b.unify(args, "COALESCE", ce.Location)
		if err != nil {
			return nil, err
		}
		return &planner.Expr{Kind: planner.ECoalesce, Type: t, Args: args}, nil
	case n.GetMinMaxExpr() != nil:
		return b.bindMinMax(ctx, n.GetMinMaxExpr())
	case n.GetSubLink() != nil:
		return b.bindSubLink(ctx, n.GetSubLink())
	case n.GetParamRef() != nil:
		p := n.GetParamRef()
		// Without a declared type or a value, a parameter is typed like an
		// untyped NULL: it takes the type its context asks for (as in
		// PostgreSQL), which gives a prepared statement its result schema.
		t := kernels.TNull
		if int(p.Number) <= len(b.paramTypes) && b.paramTypes[p.Number-1].ID != kernels.Null {
			t = b.paramTypes[p.Number-1]
		}
		if int(p.Number) <= len(b.params) {
			v := b.params[p.Number-1]
			return planner.Const(v.Type, v.Value), nil
		}
		return &planner.Expr{Kind: planner.EParam, Type: t, Col: planner.ColumnID(p.Number)}, nil
	case n.GetSqlvalueFunction() != nil:
		return b.bindSQLValueFunction(n.GetSqlvalueFunction())
	case n.GetAIndirection() != nil:
		return nil, &Error{Msg: "array subscripts are not supported"}
	case n.GetRowExpr() != nil:
		return nil, b.errAt(n.GetRowExpr().Location, "row expressions are not supported")
	case n.GetCollateClause() != nil:
		return b.bindExpr(ctx, n.GetCollateClause().Arg)
	}
	return nil, &Error{Msg: fmt.Sprintf("unsupported expression %T", n.Node)}
}

func boolOpName(op pg.BoolExprType) string {
	switch op {
	case pg.BoolExprType_AND_EXPR:
		return "AND"
	case pg.BoolExprType_OR_EXPR:
		return "OR"
	}
	return "NOT"
}

func not(e *planner.Expr) *planner.Expr {
	return &planner.Expr{Kind: planner.ENot, Type: kernels.TBool, Args: []*planner.Expr{e}}
}

func (b *Binder) bindList(ctx *exprCtx, nodes []*pg.Node) ([]*planner.Expr, error) {
	out := make([]*planner.Expr, len(nodes))
	for i, a := range nodes {
		e, err := b.bindExpr(ctx, a)
		if err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// coerceBool checks that e is boolean (an untyped literal is cast).
func (b *Binder) coerceBool(e *planner.Expr, what string, loc int32) (*planner.Expr, error) {
	if e.Type.ID == kernels.Bool {
		return e, nil
	}
	if e.Type.ID == kernels.Null || isUntypedLiteral(e) {
		return b.castTo(e, kernels.TBool, loc)
	}
	return nil, b.errAt(loc, "%s must be type boolean, not type %s", what, e.Type)
}

func (b *Binder) bindColumnRef(ctx *exprCtx, cr *pg.ColumnRef) (*planner.Expr, error) {
	var parts []string
	for _, f := range cr.Fields {
		if s := f.GetString_(); s != nil {
			parts = append(parts, s.Sval)
		} else if f.GetAStar() != nil {
			return nil, b.errAt(cr.Location, "* is not allowed here")
		}
	}
	var qual, name string
	switch len(parts) {
	case 1:
		name = parts[0]
	case 2:
		qual, name = parts[0], parts[1]
	default:
		qual, name = parts[len(parts)-2], parts[len(parts)-1]
	}
	r := ctx.sc.lookup(qual, name)
	switch {
	case r.ambiguous:
		return nil, b.errAt(cr.Location, "column reference %q is ambiguous", strings.Join(parts, "."))
	case r.badRel:
		return nil, b.errAt(cr.Location, "missing FROM-clause entry for table %q", qual)
	case !r.found:
		if len(parts) > 1 {
			return nil, b.errAt(cr.Location, "column %s does not exist", strings.Join(parts, "."))
		}
		return nil, b.errAt(cr.Location, "column %q does not exist", name)
	}
	return planner.Col(r.col), nil
}

func (b *Binder) bindConst(c *pg.A_Const) (*planner.Expr, error) {
	if c.Isnull {
		return planner.NullConst(kernels.TNull), nil
	}
	switch v := c.Val.(type) {
	case *pg.A_Const_Ival:
		i := int64(v.Ival.Ival)
		return planner.Const(kernels.TInt32, kernels.Value{I: i}), nil
	case *pg.A_Const_Fval:
		return b.numericLiteral(v.Fval.Fval, c.Location)
	case *pg.A_Const_Sval:
		e := planner.Const(kernels.TString, kernels.Value{S: v.Sval.Sval})
		e.Func = untypedMark
		return e, nil
	case *pg.A_Const_Boolval:
		return planner.BoolConst(v.Boolval.Boolval), nil
	case *pg.A_Const_Bsval:
		return planner.Const(kernels.TString, kernels.Value{S: v.Bsval.Bsval}), nil
	}
	return nil, b.errAt(c.Location, "unsupported constant")
}

// untypedMark tags string literals whose type is still "unknown" in
// PostgreSQL's sense: they take the type their context asks for.
const untypedMark = "unknown-literal"

func isUntypedLiteral(e *planner.Expr) bool {
	return e.Kind == planner.EConst && e.Func == untypedMark
}

// numericLiteral types a literal like 123.45 or 1e10 (bigint if integral
// and large).
func (b *Binder) numericLiteral(s string, loc int32) (*planner.Expr, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return planner.Const(kernels.TInt64, kernels.Value{I: i}), nil
		}
	}
	if strings.ContainsAny(s, "eE") {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, b.errAt(loc, "invalid number %q", s)
		}
		return planner.Const(kernels.TFloat64, kernels.Value{F: f}), nil
	}
	intPart, frac, _ := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	scale := int32(len(frac))
	prec := int32(len(intPart)) + scale
	if prec == 0 {
		prec = 1
	}
	if prec > kernels.MaxDecimalPrecision {
		f, _ := strconv.ParseFloat(s, 64)
		return planner.Const(kernels.TFloat64, kernels.Value{F: f}), nil
	}
	bi, ok := new(big.Int).SetString(intPart+frac, 10)
	if !ok {
		if intPart+frac == "" {
			bi = big.NewInt(0)
		} else {
			return nil, b.errAt(loc, "invalid number %q", s)
		}
	}
	return planner.Const(kernels.DecimalType(prec, scale), kernels.DecValue(decimal128.FromBigInt(bi))), nil
}

// typeFromName maps a PostgreSQL type name (with modifiers) to a Type.
func (b *Binder) typeFromName(tn *pg.TypeName) (kernels.Type, error) {
	name := funcName(tn.Names)
	if len(tn.ArrayBounds) > 0 {
		return kernels.Type{}, b.errAt(tn.Location, "array types are not supported")
	}
	var mods []int64
	for _, m := range tn.Typmods {
		if c := m.GetAConst(); c != nil {
			if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
				mods = append(mods, int64(iv.Ival.Ival))
			}
		}
	}
	switch name {
	case "bool", "boolean":
		return kernels.TBool, nil
	case "int2", "smallint":
		return kernels.TInt16, nil
	case "int4", "int", "integer":
		return kernels.TInt32, nil
	case "int8", "bigint":
		return kernels.TInt64, nil
	case "float4", "real":
		return kernels.TFloat32, nil
	case "float8", "double precision", "float", "double": // double: DuckDB and Trino spell it so
		if name == "float" && len(mods) > 0 && mods[0] <= 24 {
			return kernels.TFloat32, nil
		}
		return kernels.TFloat64, nil
	case "numeric", "decimal":
		switch len(mods) {
		case 0:
			return kernels.DecimalType(38, 6), nil
		case 1:
			return b.checkDecimal(tn, mods[0], 0)
		default:
			return b.checkDecimal(tn, mods[0], mods[1])
		}
	case "date":
		return kernels.TDate, nil
	case "timestamp", "timestamptz", "timestamp without time zone":
		return kernels.TTimestamp, nil
	case "text", "varchar", "bpchar", "char", "character", "character varying", "string", "name":
		return kernels.TString, nil
	case "interval":
		return kernels.TInterval, nil
	}
	return kernels.Type{}, b.errAt(tn.Location, "type %q does not exist", name)
}

func (b *Binder) checkDecimal(tn *pg.TypeName, p, s int64) (kernels.Type, error) {
	if p < 1 || p > kernels.MaxDecimalPrecision {
		return kernels.Type{}, b.errAt(tn.Location, "NUMERIC precision %d must be between 1 and %d", p, kernels.MaxDecimalPrecision)
	}
	if s < 0 || s > p {
		return kernels.Type{}, b.errAt(tn.Location, "NUMERIC scale %d must be between 0 and precision %d", s, p)
	}
	return kernels.DecimalType(int32(p), int32(s)), nil
}

// intervalFields maps the typmod of INTERVAL 'n' <field> to a unit.
var intervalFields = map[int64]string{
	1 << 1: "month", 1 << 2: "year", 1 << 3: "day", 1 << 10: "hour", 1 << 11: "minute", 1 << 12: "second",
}

func (b *Binder) bindTypeCast(ctx *exprCtx, tc *pg.TypeCast) (*planner.Expr, error) {
	arg, err := b.bindExpr(ctx, tc.Arg)
	if err != nil {
		return nil, err
	}
	t, err := b.typeFromName(tc.TypeName)
	if err != nil {
		return nil, err
	}
	if t.ID == kernels.Interval && isUntypedLiteral(arg) && len(tc.TypeName.Typmods) > 0 {
		if c := tc.TypeName.Typmods[0].GetAConst(); c != nil {
			if iv, ok := c.Val.(*pg.A_Const_Ival); ok {
				if unit, ok := intervalFields[int64(iv.Ival.Ival)]; ok {
					s := strings.TrimSpace(arg.Value.S)
					if _, err := strconv.ParseFloat(s, 64); err == nil {
						arg = planner.Const(kernels.TString, kernels.Value{S: s + " " + unit})
						arg.Func = untypedMark
					}
				}
			}
		}
	}
	return b.castTo(arg, t, tc.Location)
}

// castTo casts e to t, folding constants at once.
func (b *Binder) castTo(e *planner.Expr, t kernels.Type, loc int32) (*planner.Expr, error) {
	if e.Type == t {
		if isUntypedLiteral(e) {
			c := *e
			c.Func = ""
			return &c, nil
		}
		return e, nil
	}
	if e.Kind == planner.EConst {
		v, err := kernels.CastValue(e.Value, e.Type, t)
		if err != nil {
			return nil, b.errAt(loc, "%s", err.Error())
		}
		return planner.Const(t, v), nil
	}
	if e.Type.ID == kernels.Null {
		return planner.NullConst(t), nil
	}
	return &planner.Expr{Kind: planner.ECast, Type: t, Args: []*planner.Expr{e}}, nil
}

// binaryOps maps SQL operators to kernel names.
var binaryOps = map[string]string{
	"=": "eq", "<>": "ne", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge",
	"+": "add", "-": "sub", "*": "mul", "/": "div", "%": "mod", "||": "concat",
	"~~": "like", "!~~": "not_like", "~~*": "ilike", "!~~*": "not_ilike",
	"~": "regex_match", "~*": "regex_imatch", "!~": "not_regex_match", "!~*": "not_regex_imatch",
}

var comparisons = map[string]bool{"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true}

func (b *Binder) bindAExpr(ctx *exprCtx, ae *pg.A_Expr) (*planner.Expr, error) {
	op := funcName(ae.Name)
	switch ae.Kind {
	case pg.A_Expr_Kind_AEXPR_OP, pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE:
		if ae.Lexpr == nil {
			r, err := b.bindExpr(ctx, ae.Rexpr)
			if err != nil {
				return nil, err
			}
			switch op {
			case "-":
				if r.Kind == planner.EConst && r.Type.IsNumeric() {
					return b.fold(planner.Call("neg", r.Type, r), ae.Location)
				}
				return b.call("neg", []*planner.Expr{r}, ae.Location)
			case "+":
				return r, nil
			}
			return nil, b.errAt(ae.Location, "operator does not exist: %s %s", op, r.Type)
		}
		l, err := b.bindExpr(ctx, ae.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := b.bindExpr(ctx, ae.Rexpr)
		if err != nil {
			return nil, err
		}
		fn, ok := binaryOps[op]
		if !ok {
			return nil, b.errAt(ae.Location, "operator does not exist: %s %s %s", l.Type, op, r.Type)
		}
		return b.binary(fn, op, l, r, ae.Location)
	case pg.A_Expr_Kind_AEXPR_IN:
		l, err := b.bindExpr(ctx, ae.Lexpr)
		if err != nil {
			return nil, err
		}
		list := ae.Rexpr.GetList()
		if list == nil {
			return nil, b.errAt(ae.Location, "IN requires a list")
		}
		items, err := b.bindList(ctx, list.Items)
		if err != nil {
			return nil, err
		}
		all, t, err := b.unify(append([]*planner.Expr{l}, items...), "IN", ae.Location)
		if err != nil {
			return nil, err
		}
		_ = t
		if _, err := b.call("eq", []*planner.Expr{all[0], all[0]}, ae.Location); err != nil {
			return nil, err
		}
		e := &planner.Expr{Kind: planner.EIn, Type: kernels.TBool, Args: all}
		if op == "<>" {
			return not(e), nil
		}
		return e, nil
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN, pg.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		x, err := b.bindExpr(ctx, ae.Lexpr)
		if err != nil {
			return nil, err
		}
		list := ae.Rexpr.GetList()
		if list == nil || len(list.Items) != 2 {
			return nil, b.errAt(ae.Location, "BETWEEN requires two bounds")
		}
		lo, err := b.bindExpr(ctx, list.Items[0])
		if err != nil {
			return nil, err
		}
		hi, err := b.bindExpr(ctx, list.Items[1])
		if err != nil {
			return nil, err
		}
		ge, err := b.binary("ge", ">=", x, lo, ae.Location)
		if err != nil {
			return nil, err
		}
		le, err := b.binary("le", "<=", x, hi, ae.Location)
		if err != nil {
			return nil, err
		}
		var e *planner.Expr = &planner.Expr{Kind: planner.EAnd, Type: kernels.TBool, Args: []*planner.Expr{ge, le}}
		if ae.Kind == pg.A_Expr_Kind_AEXPR_BETWEEN_SYM || ae.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM {
			ge2, _ := b.binary("ge", ">=", x, hi, ae.Location)
			le2, _ := b.binary("le", "<=", x, lo, ae.Location)
			e = &planner.Expr{Kind: planner.EOr, Type: kernels.TBool, Args: []*planner.Expr{e,
				{Kind: planner.EAnd, Type: kernels.TBool, Args: []*planner.Expr{ge2, le2}}}}
		}
		if ae.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN || ae.Kind == pg.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM {
			return not(e), nil
		}
		return e, nil
	case pg.A_Expr_Kind_AEXPR_NULLIF, pg.A_Expr_Kind_AEXPR_DISTINCT, pg.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		l, err := b.bindExpr(ctx, ae.Lexpr)
		if err != nil {
			return nil, err
		}
		r, err := b.bindExpr(ctx, ae.Rexpr)
		if err != nil {
			return nil, err
		}
		var t kernels.Type
		if isUntypedLiteral(l) && !isUntypedLiteral(r) && r.Type.ID != kernels.Null {
			t = r.Type
		} else if isUntypedLiteral(r) && !isUntypedLiteral(l) && l.Type.ID != kernels.Null {
			t = l.Type
		} else {
			both, ct, err := b.unify([]*planner.Expr{l, r}, op, ae.Location)
			if err != nil {
				return nil, b.errAt(ae.Location, "operator does not exist: %s = %s", l.Type, r.Type)
			}
			l, r, t = both[0], both[1], ct
		}
		if t.ID == kernels.Null {
			t = kernels.TString
		}
		if l, err = b.castTo(l, t, ae.Location); err != nil {
			return nil, err
		}
		if r, err = b.castTo(r, t, ae.Location); err != nil {
			return nil, err
		}
		if _, err := b.kernels.Resolve("eq", []kernels.Type{t, t}, ""); err != nil {
			return nil, b.errAt(ae.Location, "operator does not exist: %s = %s", t, t)
		}
		eq := planner.Call("eq", kernels.TBool, l, r)
		if ae.Kind == pg.A_Expr_Kind_AEXPR_NULLIF {
			return b.fold(&planner.Expr{Kind: planner.ECase, Type: t, HasElse: true, Args: []*planner.Expr{eq, planner.NullConst(t), l}}, ae.Location)
		}
		// a IS NOT DISTINCT FROM b: both NULL, or neither NULL and equal
		ln := &planner.Expr{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{l}}
		rn := &planner.Expr{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{r}}
		same := &planner.Expr{Kind: planner.ECase, Type: kernels.TBool, HasElse: true, Args: []*planner.Expr{
			{Kind: planner.EOr, Type: kernels.TBool, Args: []*planner.Expr{ln, rn}},
			{Kind: planner.EAnd, Type: kernels.TBool, Args: []*planner.Expr{ln, rn}},
			eq,
		}}
		var e *planner.Expr = same
		if ae.Kind == pg.A_Expr_Kind_AEXPR_DISTINCT {
			e = not(same)
		}
		return b.fold(e, ae.Location)
	case pg.A_Expr_Kind_AEXPR_OP_ANY, pg.A_Expr_Kind_AEXPR_OP_ALL:
		return nil, b.errAt(ae.Location, "ANY/ALL over arrays is not supported")
	case pg.A_Expr_Kind_AEXPR_SIMILAR:
		return nil, b.errAt(ae.Location, "SIMILAR TO is not supported")
	}
	return nil, b.errAt(ae.Location, "unsupported operator %s", op)
}

// binary binds l <fn> r, coercing operand types like PostgreSQL: an untyped
// literal takes the other side's type, otherwise both go to a common type.
func (b *Binder) binary(fn, op string, l, r *planner.Expr, loc int32) (*planner.Expr, error) {
	var err error
	if fn == "concat" {
		if l, err = b.castTo(l, kernels.TString, loc); err != nil {
			return nil, err
		}
		if r, err = b.castTo(r, kernels.TString, loc); err != nil {
			return nil, err
		}
		return b.call(fn, []*planner.Expr{l, r}, loc)
	}
	if strings.Contains(fn, "like") || strings.Contains(fn, "regex") {
		if l.Type.ID != kernels.String && l.Type.ID != kernels.Null && !isUntypedLiteral(l) {
			return nil, b.errAt(loc, "operator does not exist: %s %s %s", l.Type, op, r.Type)
		}
		if l, err = b.castTo(l, kernels.TString, loc); err != nil {
			return nil, err
		}
		if r, err = b.castTo(r, kernels.TString, loc); err != nil {
			return nil, err
		}
		return b.call(fn, []*planner.Expr{l, r}, loc)
	}
	// Untyped literals adopt the other side's type.
	lu, ru := isUntypedLiteral(l) || l.Type.ID == kernels.Null, isUntypedLiteral(r) || r.Type.ID == kernels.Null
	switch {
	case lu && !ru:
		lt := r.Type
		if !comparisons[fn] && r.Type.ID == kernels.Date || r.Type.ID == kernels.Timestamp && !comparisons[fn] {
			lt = kernels.TInterval
			if fn == "sub" && l.Type.ID == kernels.String {
				// 'date' - date: keep the date type
				if _, err := kernels.CastValue(l.Value, l.Type, r.Type); err == nil {
					lt = r.Type
				}
			}
		}
		if l, err = b.castTo(l, lt, loc); err != nil {
			return nil, err
		}
	case ru && !lu:
		rt := l.Type
		if !comparisons[fn] && (l.Type.ID == kernels.Date || l.Type.ID == kernels.Timestamp) {
			rt = kernels.TInterval
			if fn == "sub" {
				if _, err := kernels.CastValue(r.Value, r.Type, l.Type); err == nil && r.Type.ID == kernels.String && !looksLikeInterval(r.Value.S) {
					rt = l.Type
				}
			}
		}
		if r, err = b.castTo(r, rt, loc); err != nil {
			return nil, err
		}
	case lu && ru:
		if l, err = b.castTo(l, kernels.TString, loc); err != nil {
			return nil, err
		}
		if r, err = b.castTo(r, kernels.TString, loc); err != nil {
			return nil, err
		}
		if l.Type.ID == kernels.Null && r.Type.ID == kernels.Null {
			if comparisons[fn] {
				return planner.NullConst(kernels.TBool), nil
			}
			return planner.NullConst(kernels.TInt32), nil
		}
	}
	// integer with numeric in arithmetic: the integer keeps scale 0
	if !comparisons[fn] {
		if l.Type.ID == kernels.Decimal && r.Type.IsInteger() {
			if r, err = b.castTo(r, intDecimal(r.Type), loc); err != nil {
				return nil, err
			}
		} else if r.Type.ID == kernels.Decimal && l.Type.IsInteger() {
			if l, err = b.castTo(l, intDecimal(l.Type), loc); err != nil {
				return nil, err
			}
		}
	}
	args := []*planner.Expr{l, r}
	if _, err := b.kernels.Resolve(fn, []kernels.Type{l.Type, r.Type}, ""); err != nil || (comparisons[fn] && l.Type != r.Type) {
		ct, ok := kernels.CommonType(l.Type, r.Type)
		if !ok {
			return nil, b.errAt(loc, "operator does not exist: %s %s %s", l.Type, op, r.Type)
		}
		if comparisons[fn] && ct.ID == kernels.Decimal {
			// comparisons align scales inside the kernel: no rescale needed
			if l.Type.ID == kernels.Decimal && r.Type.ID == kernels.Decimal {
				ct = kernels.Type{}
			}
		}
		if ct.ID != kernels.Null || ct.Precision != 0 {
			if l, err = b.castTo(l, ct, loc); err != nil {
				return nil, err
			}
			if r, err = b.castTo(r, ct, loc); err != nil {
				return nil, err
			}
		}
		args = []*planner.Expr{l, r}
	}
	if _, err := b.kernels.Resolve(fn, []kernels.Type{args[0].Type, args[1].Type}, ""); err != nil {
		return nil, b.errAt(loc, "operator does not exist: %s %s %s", args[0].Type, op, args[1].Type)
	}
	return b.call(fn, args, loc)
}

func looksLikeInterval(s string) bool {
	s = strings.ToLower(s)
	for _, u := range []string{"year", "mon", "day", "hour", "min", "sec", ":"} {
		if strings.Contains(s, u) {
			return true
		}
	}
	return false
}

// call resolves fn over args and folds it if every argument is constant.
func (b *Binder) call(fn string, args []*planner.Expr, loc int32) (*planner.Expr, error) {
	types := make([]kernels.Type, len(args))
	for i, a := range args {
		if isUntypedLiteral(a) {
			c := *a
			c.Func = ""
			args[i] = &c
		}
		types[i] = a.Type
	}
	k, err := b.kernels.Resolve(fn, types, "")
	if err != nil {
		return nil, b.errAt(loc, "%s", err.Error())
	}
	return b.fold(planner.Call(fn, k.Ret, args...), loc)
}

// fold evaluates a call whose arguments are all constants.
func (b *Binder) fold(e *planner.Expr, loc int32) (*planner.Expr, error) {
	f, changed, err := planner.FoldConstants(e, b.kernels)
	if err != nil {
		return nil, b.errAt(loc, "%s", err.Error())
	}
	_ = changed
	return f, nil
}

// unify casts exprs to their common type.
func (b *Binder) unify(exprs []*planner.Expr, what string, loc int32) ([]*planner.Expr, kernels.Type, error) {
	t := kernels.TNull
	allUntyped := true
	for _, e := range exprs {
		if isUntypedLiteral(e) || e.Type.ID == kernels.Null {
			continue
		}
		allUntyped = false
		ct, ok := kernels.CommonType(t, e.Type)
		if !ok {
			return nil, t, b.errAt(loc, "%s types %s and %s cannot be matched", what, t, e.Type)
		}
		t = ct
	}
	if allUntyped {
		t = kernels.TString
		for _, e := range exprs {
			if e.Type.ID != kernels.Null && !isUntypedLiteral(e) {
				t = e.Type
			}
		}
	}
	out := make([]*planner.Expr, len(exprs))
	for i, e := range exprs {
		c, err := b.castTo(e, t, loc)
		if err != nil {
			return nil, t, err
		}
		out[i] = c
	}
	return out, t, nil
}

func (b *Binder) bindBooleanTest(ctx *exprCtx, bt *pg.BooleanTest) (*planner.Expr, error) {
	arg, err := b.bindExpr(ctx, bt.Arg)
	if err != nil {
		return nil, err
	}
	if arg, err = b.coerceBool(arg, "argument of IS TRUE", bt.Location); err != nil {
		return nil, err
	}
	isNull := &planner.Expr{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{arg}}
	// x IS TRUE  == CASE WHEN x IS NULL THEN false ELSE x END
	caseOf := func(whenNull bool, val *planner.Expr) *planner.Expr {
		return &planner.Expr{Kind: planner.ECase, Type: kernels.TBool, HasElse: true, Args: []*planner.Expr{isNull, planner.BoolConst(whenNull), val}}
	}
	switch bt.Booltesttype {
	case pg.BoolTestType_IS_TRUE:
		return caseOf(false, arg), nil
	case pg.BoolTestType_IS_NOT_TRUE:
		return caseOf(true, not(arg)), nil
	case pg.BoolTestType_IS_FALSE:
		return caseOf(false, not(arg)), nil
	case pg.BoolTestType_IS_NOT_FALSE:
		return caseOf(true, arg), nil
	case pg.BoolTestType_IS_UNKNOWN:
		return isNull, nil
	}
	return not(isNull), nil
}

func (b *Binder) bindCase(ctx *exprCtx, ce *pg.CaseExpr) (*planner.Expr, error) {
	var arg *planner.Expr
	var err error
	if ce.Arg != nil {
		if arg, err = b.bindExpr(ctx, ce.Arg); err != nil {
			return nil, err
		}
	}
	var conds, results []*planner.Expr
	for _, w := range ce.Args {
		cw := w.GetCaseWhen()
		c, err := b.bindExpr(ctx, cw.Expr)
		if err != nil {
			return nil, err
		}
		if arg != nil {
			if c, err = b.binary("eq", "=", arg, c, cw.Location); err != nil {
				return nil, err
			}
		} else if c, err = b.coerceBool(c, "argument of CASE/WHEN", cw.Location); err != nil {
			return nil, err
		}
		r, err := b.bindExpr(ctx, cw.Result)
		if err != nil {
			return nil, err
		}
		conds = append(conds, c)
		results = append(results, r)
	}
	if ce.Defresult != nil {
		d, err := b.bindExpr(ctx, ce.Defresult)
		if err != nil {
			return nil, err
		}
		results = append(results, d)
	}
	results, t, err := b.unify(results, "CASE", ce.Location)
	if err != nil {
		return nil, err
	}
	e := &planner.Expr{Kind: planner.ECase, Type: t, HasElse: ce.Defresult != nil}
	for i, c := range conds {
		e.Args = append(e.Args, c, results[i])
	}
	if ce.Defresult != nil {
		e.Args = append(e.Args, results[len(results)-1])
	}
	return e, nil
}

func (b *Binder) bindMinMax(ctx *exprCtx, mm *pg.MinMaxExpr) (*planner.Expr, error) {
	args, err := b.bindList(ctx, mm.Args)
	if err != nil {
		return nil, err
	}
	args, t, err := b.unify(args, "GREATEST/LEAST", mm.Location)
	if err != nil {
		return nil, err
	}
	op := "gt"
	if mm.Op == pg.MinMaxOp_IS_LEAST {
		op = "lt"
	}
	// Fold pairwise, ignoring NULLs like PostgreSQL.
	acc := args[0]
	for _, a := range args[1:] {
		cmp, err := b.call(op, []*planner.Expr{a, acc}, mm.Location)
		if err != nil {
			return nil, err
		}
		accNull := &planner.Expr{Kind: planner.EIsNull, Type: kernels.TBool, Args: []*planner.Expr{acc}}
		acc = &planner.Expr{Kind: planner.ECase, Type: t, HasElse: true, Args: []*planner.Expr{accNull, a, cmp, a, acc}}
	}
	return acc, nil
}

func (b *Binder) bindSQLValueFunction(f *pg.SQLValueFunction) (*planner.Expr, error) {
	now := b.now
	switch f.Op {
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE:
		return planner.Const(kernels.TDate, kernels.Value{I: int64(kernels.TimeToDate(now))}), nil
	case pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP, pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP,
		pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N, pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N:
		return planner.Const(kernels.TTimestamp, kernels.Value{I: now.UnixMicro()}), nil
	}
	return nil, b.errAt(f.Location, "unsupported SQL value function")
}

// scalarFuncAliases maps SQL spellings to kernel names.
var scalarFuncAliases = map[string]string{
	"substr": "substring", "char_length": "length", "character_length": "length",
	"ceiling": "ceil", "pow": "power", "date_part": "date_part", "trim": "btrim",
	"position": "strpos",
}

func (b *Binder) bindFuncCall(ctx *exprCtx, fc *pg.FuncCall) (*planner.Expr, error) {
	name := funcName(fc.Funcname)
	if fc.Over != nil {
		if ctx.win == nil {
			return nil, b.errAt(fc.Location, "window functions are not allowed in %s", ctx.clause)
		}
		return b.bindWindowCall(ctx, fc, name)
	}
	if aggregateFuncs[name] {
		if ctx.agg == nil {
			return nil, b.errAt(fc.Location, "aggregate functions are not allowed in %s", ctx.clause)
		}
		return b.bindAggCall(ctx, fc, name)
	}
	if windowOnlyFuncs[name] {
		return nil, b.errAt(fc.Location, "window function %s requires an OVER clause", name)
	}
	if fc.AggStar || fc.AggDistinct {
		return nil, b.errAt(fc.Location, "%s is not an aggregate function", name)
	}
	args, err := b.bindList(ctx, fc.Args)
	if err != nil {
		return nil, err
	}
	if n, ok := scalarFuncAliases[name]; ok {
		name = n
	}
	switch name {
	case "coalesce":
		args, t, err := b.unify(args, "COALESCE", fc.Location)
		if err != nil {
			return nil, err
		}
		return &planner.Expr{Kind: planner.ECoalesce, Type: t, Args: args}, nil
	case "concat":
		// concat(a, b, ...): text of each argument, NULLs ignored
		var acc *planner.Expr
		for _, a := range args {
			t, err := b.castTo(a, kernels.TString, fc.Location)
			if err != nil {
				return nil, err
			}
			t = &planner.Expr{Kind: planner.ECoalesce, Type: kernels.TString, Args: []*planner.Expr{t, planner.Const(kernels.TString, kernels.Value{S: ""})}}
			if acc == nil {
				acc = t
			} else {
				acc = planner.Call("concat", kernels.TString, acc, t)
			}
		}
		if acc == nil {
			return nil, b.errAt(fc.Location, "function concat() does not exist")
		}
		return b.fold(acc, fc.Location)
	case "nullif":
		if len(args) != 2 {
			return nil, b.errAt(fc.Location, "function nullif takes 2 arguments")
		}
	case "extract", "date_part", "date_trunc":
		if len(args) == 2 && args[0].Kind == planner.EConst {
			a := *args[0]
			a.Value.S = strings.ToLower(a.Value.S)
			a.Func = ""
			args[0] = &a
			if isUntypedLiteral(args[1]) {
				if args[1], err = b.castTo(args[1], kernels.TTimestamp, fc.Location); err != nil {
					return nil, err
				}
			}
			if name == "extract" {
				if t, err := kernels.ExtractType(a.Value.S, args[1].Type); err == nil && t.ID == kernels.Float64 {
					name = "date_part"
				}
			}
		}
	}
	if !b.kernels.Has(name) {
		types := make([]string, len(args))
		for i, a := range args {
			if isUntypedLiteral(a) {
				types[i] = "unknown"
			} else {
				types[i] = a.Type.String()
			}
		}
		return nil, b.errAt(fc.Location, "function %s(%s) does not exist", name, strings.Join(types, ", "))
	}
	e, err := b.resolveScalar(name, args, fc.Location)
	if err != nil {
		return nil, err
	}
	// round/trunc(numeric, d) has scale d in PostgreSQL.
	if (name == "round" || name == "trunc") && len(args) == 2 && e.Type.ID == kernels.Decimal && args[1].Kind == planner.EConst && !args[1].Value.Null {
		d := int32(args[1].Value.I)
		if d >= 0 && d <= kernels.MaxDecimalPrecision {
			return b.castTo(e, kernels.DecimalType(e.Type.Precision-e.Type.Scale+d, d), fc.Location)
		}
	}
	return e, nil
}

// resolveScalar finds an overload of name, trying the arguments as they are,
// then with untyped literals as text, integers widened to bigint, and
// numbers as double precision.
func (b *Binder) resolveScalar(name string, args []*planner.Expr, loc int32) (*planner.Expr, error) {
	try := func(conv func(*planner.Expr) kernels.Type) ([]*planner.Expr, bool) {
		out := make([]*planner.Expr, len(args))
		types := make([]kernels.Type, len(args))
		for i, a := range args {
			t := conv(a)
			c, err := b.castTo(a, t, loc)
			if err != nil {
				return nil, false
			}
			out[i], types[i] = c, t
		}
		_, err := b.kernels.Resolve(name, types, "")
		return out, err == nil
	}
	literalText := func(a *planner.Expr) kernels.Type {
		if isUntypedLiteral(a) || a.Type.ID == kernels.Null {
			return kernels.TString
		}
		return a.Type
	}
	convs := []func(*planner.Expr) kernels.Type{
		literalText,
		func(a *planner.Expr) kernels.Type {
			t := literalText(a)
			if t.IsInteger() {
				return kernels.TInt64
			}
			return t
		},
		func(a *planner.Expr) kernels.Type {
			t := literalText(a)
			if t.IsInteger() || t.ID == kernels.Float32 {
				return kernels.TFloat64
			}
			return t
		},
		func(a *planner.Expr) kernels.Type {
			t := literalText(a)
			if t.IsNumeric() {
				return kernels.TFloat64
			}
			return t
		},
	}
	for _, conv := range convs {
		if out, ok := try(conv); ok {
			return b.call(name, out, loc)
		}
	}
	types := make([]string, len(args))
	for i, a := range args {
		types[i] = literalText(a).String()
	}
	return nil, b.errAt(loc, "function %s(%s) does not exist", name, strings.Join(types, ", "))
}

// intDecimal is the numeric type that holds every value of integer type t.
func intDecimal(t kernels.Type) kernels.Type {
	switch t.ID {
	case kernels.Int16:
		return kernels.DecimalType(5, 0)
	case kernels.Int32:
		return kernels.DecimalType(10, 0)
	}
	return kernels.DecimalType(19, 0)
}
