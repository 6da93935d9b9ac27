package exec

import (
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/parquet/metadata"
	"github.com/apache/arrow-go/v18/parquet/schema"
	"github.com/bellows-db/bellows/kernels"
	"github.com/bellows-db/bellows/planner"
)

// scColStats are the statistics of one column in one row group.
type scColStats struct {
	min, max  kernels.Value
	hasMinMax bool
	nulls     int64
	hasNulls  bool // nulls is known
	rows      int64
}

// parquetColumnStats decodes the statistics of a leaf column chunk as values
// of SQL type t. ft is the column's Arrow type in the file. ok is false when
// the chunk has no usable statistics.
func parquetColumnStats(meta *metadata.RowGroupMetaData, leaf int, ft arrow.DataType, t kernels.Type) (st scColStats, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			st, ok = scColStats{}, false
		}
	}()
	cc, err := meta.ColumnChunk(leaf)
	if err != nil {
		return scColStats{}, false
	}
	ts, err := cc.Statistics()
	if err != nil || ts == nil {
		return scColStats{}, false
	}
	st.rows = meta.NumRows()
	if ts.HasNullCount() {
		st.nulls, st.hasNulls = ts.NullCount(), true
	}
	if !ts.HasMinMax() {
		return st, true
	}
	if d, ok := ft.(*arrow.DictionaryType); ok {
		ft = d.ValueType
	}
	nat, err := kernels.FromArrow(ft)
	if err != nil {
		return st, true
	}
	lo, hi, ok := scStatValues(ts, ft, nat)
	if ok && nat != t {
		var ok1, ok2 bool
		lo, ok1 = scCastValue(lo, nat, t)
		hi, ok2 = scCastValue(hi, nat, t)
		ok = ok1 && ok2
	}
	if ok {
		st.min, st.max, st.hasMinMax = lo, hi, true
	}
	return st, true
}

// scStatValues converts typed Parquet min/max to Values of nat.
func scStatValues(ts metadata.TypedStatistics, ft arrow.DataType, nat kernels.Type) (lo, hi kernels.Value, ok bool) {
	unsigned := false
	switch ft.ID() {
	case arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64:
		unsigned = true
	}
	switch nat.ID {
	case kernels.Bool:
		if s, ok := ts.(*metadata.BooleanStatistics); ok {
			return scBoolVal(s.Min()), scBoolVal(s.Max()), true
		}
	case kernels.Int16, kernels.Int32, kernels.Int64, kernels.Date:
		switch s := ts.(type) {
		case *metadata.Int32Statistics:
			if unsigned {
				return kernels.Value{I: int64(uint32(s.Min()))}, kernels.Value{I: int64(uint32(s.Max()))}, true
			}
			return kernels.Value{I: int64(s.Min())}, kernels.Value{I: int64(s.Max())}, true
		case *metadata.Int64Statistics:
			if nat.ID == kernels.Date {
				return lo, hi, false
			}
			if unsigned && (s.Min() < 0 || s.Max() < 0) {
				return lo, hi, false
			}
			return kernels.Value{I: s.Min()}, kernels.Value{I: s.Max()}, true
		}
	case kernels.Timestamp:
		s, ok := ts.(*metadata.Int64Statistics)
		if !ok {
			return lo, hi, false
		}
		lt, ok := ts.Descr().LogicalType().(interface{ TimeUnit() schema.TimeUnitType })
		if !ok {
			return lo, hi, false
		}
		conv := func(v int64) (int64, bool) {
			switch lt.TimeUnit() {
			case schema.TimeUnitMillis:
				return scMulCheck(v, 1000)
			case schema.TimeUnitMicros:
				return v, true
			case schema.TimeUnitNanos:
				return scFloorDiv(v, 1000), true
			}
			return 0, false
		}
		a, ok1 := conv(s.Min())
		b, ok2 := conv(s.Max())
		return kernels.Value{I: a}, kernels.Value{I: b}, ok1 && ok2
	case kernels.Float32, kernels.Float64:
		var a, b float64
		switch s := ts.(type) {
		case *metadata.Float32Statistics:
			a, b = float64(s.Min()), float64(s.Max())
		case *metadata.Float64Statistics:
			a, b = s.Min(), s.Max()
		default:
			return lo, hi, false
		}
		if math.IsNaN(a) || math.IsNaN(b) {
			return lo, hi, false
		}
		if a == 0 {
			a = 0 // writers store -0 as a zero minimum
		}
		if b == 0 {
			b = 0
		}
		return kernels.Value{F: a}, kernels.Value{F: b}, true
	case kernels.Decimal:
		switch s := ts.(type) {
		case *metadata.Int32Statistics:
			return kernels.DecValue(decimal128.FromI64(int64(s.Min()))), kernels.DecValue(decimal128.FromI64(int64(s.Max()))), true
		case *metadata.Int64Statistics:
			if unsigned {
				return kernels.DecValue(decimal128.FromU64(uint64(s.Min()))), kernels.DecValue(decimal128.FromU64(uint64(s.Max()))), true
			}
			return kernels.DecValue(decimal128.FromI64(s.Min())), kernels.DecValue(decimal128.FromI64(s.Max())), true
		case *metadata.ByteArrayStatistics:
			a, ok1 := bigEndianDec(s.Min())
			b, ok2 := bigEndianDec(s.Max())
			return kernels.DecValue(a), kernels.DecValue(b), ok1 && ok2
		case *metadata.FixedLenByteArrayStatistics:
			a, ok1 := bigEndianDec(s.Min())
			b, ok2 := bigEndianDec(s.Max())
			return kernels.DecValue(a), kernels.DecValue(b), ok1 && ok2
		}
	case kernels.String:
		if s, ok := ts.(*metadata.ByteArrayStatistics); ok {
			return kernels.Value{S: string(s.Min())}, kernels.Value{S: string(s.Max())}, true
		}
	}
	return lo, hi, false
}

func scBoolVal(b bool) kernels.Value {
	if b {
		return kernels.Value{I: 1}
	}
	return kernels.Value{}
}

// bigEndianDec decodes a big-endian two's complement integer of at most 16
// bytes.
func bigEndianDec(b []byte) (decimal128.Num, bool) {
	if len(b) == 0 || len(b) > 16 {
		return decimal128.Num{}, false
	}
	var hi, lo uint64
	if b[0]&0x80 != 0 {
		hi, lo = math.MaxUint64, math.MaxUint64
	}
	for _, c := range b {
		hi = hi<<8 | lo>>56
		lo = lo<<8 | uint64(c)
	}
	return decimal128.New(int64(hi), lo), true
}

// scCastValue converts a statistics value between SQL types where that is
// exact; ok is false otherwise.
func scCastValue(v kernels.Value, from, to kernels.Type) (kernels.Value, bool) {
	if v.Null || from == to {
		return v, true
	}
	switch {
	case from.IsInteger() && to.IsInteger():
		lo, hi := scIntRange(to)
		return v, v.I >= lo && v.I <= hi
	case from.IsInteger() && to.IsFloat():
		return kernels.Value{F: float64(v.I)}, true
	case from.IsInteger() && to.ID == kernels.Decimal:
		n, ok := scScaleDec(decimal128.FromI64(v.I), 0, to)
		return kernels.DecValue(n), ok
	case from.ID == kernels.Decimal && to.ID == kernels.Decimal:
		n, ok := scScaleDec(v.Dec, from.Scale, to)
		return kernels.DecValue(n), ok && to.Scale >= from.Scale
	case from.IsFloat() && to.IsFloat():
		return v, true
	case from.ID == kernels.Date && to.ID == kernels.Timestamp:
		return kernels.Value{I: v.I * 86_400_000_000}, true
	}
	return v, false
}

// scCmpValues compares a (type at) with b (type bt); ok is false when they
// are not comparable here.
func scCmpValues(a kernels.Value, at kernels.Type, b kernels.Value, bt kernels.Type) (int, bool) {
	if a.Null || b.Null {
		return 0, false
	}
	switch {
	case at.ID == bt.ID && (at.IsInteger() || at.ID == kernels.Date || at.ID == kernels.Timestamp || at.ID == kernels.Bool):
		return scCmpInt(a.I, b.I), true
	case at.IsInteger() && bt.IsInteger():
		return scCmpInt(a.I, b.I), true
	case at.ID == kernels.String && bt.ID == kernels.String:
		return strings.Compare(a.S, b.S), true
	case at.ID == kernels.Decimal && bt.ID == kernels.Decimal:
		return scCmpDec(a.Dec, at.Scale, b.Dec, bt.Scale)
	case at.IsInteger() && bt.ID == kernels.Decimal:
		return scCmpDec(decimal128.FromI64(a.I), 0, b.Dec, bt.Scale)
	case at.ID == kernels.Decimal && bt.IsInteger():
		return scCmpDec(a.Dec, at.Scale, decimal128.FromI64(b.I), 0)
	case at.ID == kernels.Date && bt.ID == kernels.Timestamp:
		return scCmpInt(a.I*86_400_000_000, b.I), true
	case at.ID == kernels.Timestamp && bt.ID == kernels.Date:
		return scCmpInt(a.I, b.I*86_400_000_000), true
	}
	fa, oka := scFloatOf(a, at)
	fb, okb := scFloatOf(b, bt)
	if !oka || !okb || math.IsNaN(fa) || math.IsNaN(fb) {
		return 0, false
	}
	switch {
	case fa < fb:
		return -1, true
	case fa > fb:
		return 1, true
	}
	return 0, true
}

func scFloatOf(v kernels.Value, t kernels.Type) (float64, bool) {
	switch {
	case t.IsFloat():
		return v.F, true
	case t.IsInteger():
		return float64(v.I), true
	case t.ID == kernels.Decimal:
		return v.Dec.ToFloat64(t.Scale), true
	}
	return 0, false
}

func scCmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func scCmpDec(a decimal128.Num, as int32, b decimal128.Num, bs int32) (int, bool) {
	if as != bs {
		d := as - bs
		if d > 38 || d < -38 {
			return 0, false
		}
		// compare at the larger scale; fall back to floats if that overflows
		if d > 0 {
			if !b.FitsInPrecision(38 - d) {
				return scCmpFloat(a.ToFloat64(as), b.ToFloat64(bs))
			}
			b = b.IncreaseScaleBy(d)
		} else {
			if !a.FitsInPrecision(38 + d) {
				return scCmpFloat(a.ToFloat64(as), b.ToFloat64(bs))
			}
			a = a.IncreaseScaleBy(-d)
		}
	}
	return a.Cmp(b), true
}

func scCmpFloat(a, b float64) (int, bool) {
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	}
	return 0, true
}

// scPruner decides from column statistics that no row of a row group can
// satisfy the pushed conjuncts.
type scPruner struct {
	conj []*planner.Expr
	cols []planner.Column
	idx  map[planner.ColumnID]int
}

func newScPruner(conj []*planner.Expr, cols []planner.Column) *scPruner {
	idx := make(map[planner.ColumnID]int, len(cols))
	for i, c := range cols {
		idx[c.ID] = i
	}
	return &scPruner{conj: conj, cols: cols, idx: idx}
}

type scStatsFn func(col int) (scColStats, bool)

// skip reports whether some conjunct is never TRUE given the statistics.
func (p *scPruner) skip(stats scStatsFn) bool {
	for _, c := range p.conj {
		if p.never(c, stats) {
			return true
		}
	}
	return false
}

var scFlipOp = map[string]string{"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}

// never reports whether e cannot be TRUE for any row.
func (p *scPruner) never(e *planner.Expr, stats scStatsFn) bool {
	switch e.Kind {
	case planner.EConst:
		return e.Value.Null || (e.Type.ID == kernels.Bool && e.Value.I == 0)
	case planner.EAnd:
		for _, a := range e.Args {
			if p.never(a, stats) {
				return true
			}
		}
		return false
	case planner.EOr:
		for _, a := range e.Args {
			if !p.never(a, stats) {
				return false
			}
		}
		return len(e.Args) > 0
	case planner.EIsNull:
		st, ok := p.scColStats(e.Args[0], stats)
		return ok && st.hasNulls && st.nulls == 0
	case planner.ENot:
		if a := e.Args[0]; a.Kind == planner.EIsNull {
			st, ok := p.scColStats(a.Args[0], stats)
			return ok && scAllNull(st)
		}
		return false
	case planner.EIn:
		if len(e.Args) < 2 {
			return false
		}
		st, ok := p.scColStats(e.Args[0], stats)
		if !ok {
			return false
		}
		if scAllNull(st) {
			return true
		}
		if !st.hasMinMax {
			return false
		}
		t := e.Args[0].Type
		for _, c := range e.Args[1:] {
			if c.Kind != planner.EConst {
				return false
			}
			if c.Value.Null {
				continue
			}
			lo, ok1 := scCmpValues(c.Value, c.Type, st.min, t)
			hi, ok2 := scCmpValues(c.Value, c.Type, st.max, t)
			if !ok1 || !ok2 || (lo >= 0 && hi <= 0) {
				return false
			}
		}
		return true
	case planner.ECall:
		op, ok := scFlipOp[e.Func]
		if !ok || len(e.Args) != 2 {
			return false
		}
		col, cst := e.Args[0], e.Args[1]
		if col.Kind == planner.EConst && cst.Kind == planner.EColumn {
			col, cst = cst, col
		} else {
			op = e.Func
		}
		if col.Kind != planner.EColumn || cst.Kind != planner.EConst {
			return false
		}
		st, ok := p.scColStats(col, stats)
		if !ok {
			return cst.Value.Null
		}
		if cst.Value.Null || scAllNull(st) {
			return true
		}
		if !st.hasMinMax {
			return false
		}
		t := col.Type
		cMin, ok1 := scCmpValues(cst.Value, cst.Type, st.min, t) // sign of c - min
		cMax, ok2 := scCmpValues(cst.Value, cst.Type, st.max, t) // sign of c - max
		if !ok1 || !ok2 {
			return false
		}
		switch op {
		case "eq":
			return cMin < 0 || cMax > 0
		case "ne":
			return cMin == 0 && cMax == 0
		case "lt": // col < c
			return cMin <= 0
		case "le":
			return cMin < 0
		case "gt": // col > c
			return cMax >= 0
		case "ge":
			return cMax > 0
		}
	}
	return false
}

func scAllNull(st scColStats) bool { return st.hasNulls && st.rows > 0 && st.nulls >= st.rows }

func (p *scPruner) scColStats(e *planner.Expr, stats scStatsFn) (scColStats, bool) {
	if e.Kind != planner.EColumn {
		return scColStats{}, false
	}
	i, ok := p.idx[e.Col]
	if !ok {
		return scColStats{}, false
	}
	st, ok := stats(i)
	if ok && st.hasMinMax && e.Type.IsFloat() {
		// Writers leave NaN out of float statistics, but NaN sorts above
		// every number (as in PostgreSQL), so the stored maximum bounds
		// nothing: a row group whose max is 1 may still hold rows > 1.
		st.max = kernels.Value{F: math.Inf(1)}
	}
	return st, ok
}
