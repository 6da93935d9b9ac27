// Package kernels holds Bellows' value types and compute kernels. A kernel is a
// vectorized function over Arrow arrays; the registry resolves a name and
// argument types to an implementation. The CPU backend is always present.
package kernels

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow"
)

// TypeID names a SQL type family.
type TypeID uint8

// The SQL types Bellows computes with.
const (
	Null TypeID = iota // the type of an untyped NULL literal
	Bool
	Int16
	Int32
	Int64
	Float32
	Float64
	Decimal // exact numeric(p,s), stored as Arrow decimal128
	Date
	Timestamp // microseconds, no time zone
	String
	Interval // month/day/nanosecond interval
)

// Type is a SQL type: a family plus precision and scale for Decimal. It is a
// plain value (comparable, serializable) so plans can travel to workers.
type Type struct {
	ID        TypeID `json:"id"`
	Precision int32  `json:"p,omitempty"`
	Scale     int32  `json:"s,omitempty"`
}

// Common types, ready to use.
var (
	TNull      = Type{ID: Null}
	TBool      = Type{ID: Bool}
	TInt16     = Type{ID: Int16}
	TInt32     = Type{ID: Int32}
	TInt64     = Type{ID: Int64}
	TFloat32   = Type{ID: Float32}
	TFloat64   = Type{ID: Float64}
	TDate      = Type{ID: Date}
	TTimestamp = Type{ID: Timestamp}
	TString    = Type{ID: String}
	TInterval  = Type{ID: Interval}
)

// MaxDecimalPrecision is the largest precision a Decimal can carry.
const MaxDecimalPrecision = 38

// DecimalType returns numeric(p,s), clamping p to MaxDecimalPrecision.
func DecimalType(p, s int32) Type {
	if p > MaxDecimalPrecision {
		p = MaxDecimalPrecision
	}
	if s > p {
		p = s
	}
	return Type{ID: Decimal, Precision: p, Scale: s}
}

// String returns the PostgreSQL spelling of the type.
func (t Type) String() string {
	switch t.ID {
	case Null:
		return "unknown"
	case Bool:
		return "boolean"
	case Int16:
		return "smallint"
	case Int32:
		return "integer"
	case Int64:
		return "bigint"
	case Float32:
		return "real"
	case Float64:
		return "double precision"
	case Decimal:
		return fmt.Sprintf("numeric(%d,%d)", t.Precision, t.Scale)
	case Date:
		return "date"
	case Timestamp:
		return "timestamp"
	case String:
		return "text"
	case Interval:
		return "interval"
	}
	return fmt.Sprintf("type(%d)", t.ID)
}

// IsInteger reports whether t is smallint, integer or bigint.
func (t Type) IsInteger() bool { return t.ID == Int16 || t.ID == Int32 || t.ID == Int64 }

// IsFloat reports whether t is real or double precision.
func (t Type) IsFloat() bool { return t.ID == Float32 || t.ID == Float64 }

// IsNumeric reports whether t is an integer, float or decimal type.
func (t Type) IsNumeric() bool { return t.IsInteger() || t.IsFloat() || t.ID == Decimal }

// Arrow returns the Arrow type used to hold values of t.
func (t Type) Arrow() arrow.DataType {
	switch t.ID {
	case Null:
		return arrow.Null
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Int16:
		return arrow.PrimitiveTypes.Int16
	case Int32:
		return arrow.PrimitiveTypes.Int32
	case Int64:
		return arrow.PrimitiveTypes.Int64
	case Float32:
		return arrow.PrimitiveTypes.Float32
	case Float64:
		return arrow.PrimitiveTypes.Float64
	case Decimal:
		return &arrow.Decimal128Type{Precision: t.Precision, Scale: t.Scale}
	case Date:
		return arrow.FixedWidthTypes.Date32
	case Timestamp:
		return arrow.FixedWidthTypes.Timestamp_us
	case String:
		return arrow.BinaryTypes.String
	case Interval:
		return arrow.FixedWidthTypes.MonthDayNanoInterval
	}
	panic(fmt.Sprintf("kernels: no Arrow type for %v", t))
}

// FromArrow maps an Arrow type to the SQL type Bellows computes with. Types
// that need a conversion on read (e.g. int8, uint32, large strings) report
// the SQL type they convert to; see NeedsConversion.
func FromArrow(dt arrow.DataType) (Type, error) {
	switch dt.ID() {
	case arrow.NULL:
		return TNull, nil
	case arrow.BOOL:
		return TBool, nil
	case arrow.INT8, arrow.UINT8, arrow.INT16:
		return TInt16, nil
	case arrow.UINT16, arrow.INT32:
		return TInt32, nil
	case arrow.UINT32, arrow.INT64:
		return TInt64, nil
	case arrow.UINT64:
		return DecimalType(20, 0), nil
	case arrow.FLOAT16, arrow.FLOAT32:
		return TFloat32, nil
	case arrow.FLOAT64:
		return TFloat64, nil
	case arrow.DECIMAL32, arrow.DECIMAL64, arrow.DECIMAL128:
		d := dt.(arrow.DecimalType)
		return DecimalType(d.GetPrecision(), d.GetScale()), nil
	case arrow.DATE32, arrow.DATE64:
		return TDate, nil
	case arrow.TIMESTAMP:
		return TTimestamp, nil
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW, arrow.BINARY, arrow.LARGE_BINARY:
		return TString, nil
	case arrow.DICTIONARY:
		return FromArrow(dt.(*arrow.DictionaryType).ValueType)
	case arrow.INTERVAL_MONTH_DAY_NANO:
		return TInterval, nil
	}
	return Type{}, fmt.Errorf("unsupported Arrow type %s", dt)
}

// NeedsConversion reports whether arrays of dt must be cast to
// FromArrow(dt).Arrow() before the engine computes on them.
func NeedsConversion(dt arrow.DataType) bool {
	t, err := FromArrow(dt)
	if err != nil {
		return false
	}
	return !arrow.TypeEqual(t.Arrow(), dt)
}
