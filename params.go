package bellows

import (
	"fmt"
	"math"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"

	"github.com/bellows-db/bellows/kernels"
)

// NullParam is an untyped NULL parameter.
var NullParam = Param{Type: kernels.TNull, Value: kernels.NullValue}

// ParamOf converts a Go value to a parameter: nil, bool, the integer
// types, float32/64, string, []byte (as text), time.Time (a timestamp in
// UTC) and time.Duration (an interval).
func ParamOf(v any) (Param, error) {
	switch x := v.(type) {
	case nil:
		return NullParam, nil
	case bool:
		if x {
			return Param{Type: kernels.TBool, Value: kernels.Value{I: 1}}, nil
		}
		return Param{Type: kernels.TBool}, nil
	case int:
		return Param{Type: kernels.TInt64, Value: kernels.Value{I: int64(x)}}, nil
	case int8:
		return Param{Type: kernels.TInt16, Value: kernels.Value{I: int64(x)}}, nil
	case int16:
		return Param{Type: kernels.TInt16, Value: kernels.Value{I: int64(x)}}, nil
	case int32:
		return Param{Type: kernels.TInt32, Value: kernels.Value{I: int64(x)}}, nil
	case int64:
		return Param{Type: kernels.TInt64, Value: kernels.Value{I: x}}, nil
	case uint8:
		return Param{Type: kernels.TInt16, Value: kernels.Value{I: int64(x)}}, nil
	case uint16:
		return Param{Type: kernels.TInt32, Value: kernels.Value{I: int64(x)}}, nil
	case uint32:
		return Param{Type: kernels.TInt64, Value: kernels.Value{I: int64(x)}}, nil
	case uint:
		return paramUint64(uint64(x))
	case uint64:
		return paramUint64(x)
	case float32:
		return Param{Type: kernels.TFloat32, Value: kernels.Value{F: float64(x)}}, nil
	case float64:
		return Param{Type: kernels.TFloat64, Value: kernels.Value{F: x}}, nil
	case string:
		return Param{Type: kernels.TString, Value: kernels.Value{S: x}}, nil
	case []byte:
		return Param{Type: kernels.TString, Value: kernels.Value{S: string(x)}}, nil
	case time.Time:
		return Param{Type: kernels.TTimestamp, Value: kernels.Value{I: x.UTC().UnixMicro()}}, nil
	case time.Duration:
		return Param{Type: kernels.TInterval, Value: kernels.Value{Nanos: int64(x)}}, nil
	}
	return Param{}, fmt.Errorf("unsupported parameter type %T", v)
}

func paramUint64(x uint64) (Param, error) {
	if x > math.MaxInt64 {
		return Param{Type: kernels.DecimalType(20, 0), Value: kernels.DecValue(decimal128.FromU64(x))}, nil
	}
	return Param{Type: kernels.TInt64, Value: kernels.Value{I: int64(x)}}, nil
}

// ParamFromArrow converts row i of arr to a parameter, keeping its SQL
// type (a NULL keeps the column's type). Timestamps of any unit become
// microseconds, date64 becomes days.
func ParamFromArrow(arr arrow.Array, i int) (Param, error) {
	if i < 0 || i >= arr.Len() {
		return Param{}, fmt.Errorf("parameter row %d out of range (the batch has %d rows)", i, arr.Len())
	}
	if d, ok := arr.(*array.Dictionary); ok {
		if d.IsNull(i) {
			t, err := kernels.FromArrow(arr.DataType())
			if err != nil {
				return Param{}, fmt.Errorf("parameter of type %s: %w", arr.DataType(), err)
			}
			return Param{Type: t, Value: kernels.NullValue}, nil
		}
		return ParamFromArrow(d.Dictionary(), d.GetValueIndex(i))
	}
	if a, ok := arr.(*array.Time64); ok && !a.IsNull(i) {
		return time64Param(a, i)
	}
	t, err := kernels.FromArrow(arr.DataType())
	if err != nil {
		if arr.IsNull(i) {
			return NullParam, nil // a NULL of a type we do not have is still NULL
		}
		return Param{}, fmt.Errorf("parameter of type %s: %w", arr.DataType(), err)
	}
	if arr.IsNull(i) {
		return Param{Type: t, Value: kernels.NullValue}, nil
	}
	switch a := arr.(type) {
	case *array.Uint64:
		return paramUint64(a.Value(i))
	case *array.Float16:
		return Param{Type: t, Value: kernels.Value{F: float64(a.Value(i).Float32())}}, nil
	case *array.Date64:
		return Param{Type: t, Value: kernels.Value{I: int64(a.Value(i)) / 86_400_000}}, nil
	case *array.Timestamp:
		v := int64(a.Value(i))
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Second:
			v *= 1_000_000
		case arrow.Millisecond:
			v *= 1_000
		case arrow.Nanosecond:
			v /= 1_000
		}
		return Param{Type: t, Value: kernels.Value{I: v}}, nil
	case *array.Decimal32:
		return Param{Type: t, Value: kernels.DecValue(decimal128.FromI64(int64(a.Value(i))))}, nil
	case *array.Decimal64:
		return Param{Type: t, Value: kernels.DecValue(decimal128.FromI64(int64(a.Value(i))))}, nil
	case *array.LargeBinary:
		return Param{Type: t, Value: kernels.Value{S: string(a.Value(i))}}, nil
	case *array.StringView:
		return Param{Type: t, Value: kernels.Value{S: a.Value(i)}}, nil
	case *array.BinaryView:
		return Param{Type: t, Value: kernels.Value{S: string(a.Value(i))}}, nil
	}
	return Param{Type: t, Value: kernels.ValueAt(arr, t, i)}, nil
}

// time64Param reads a time64 parameter. arrow-go's database/sql driver
// sends a time.Time as time64[ns] holding nanoseconds since the epoch, so
// that is what one is taken for; Bellows has no time-of-day type.
func time64Param(a *array.Time64, i int) (Param, error) {
	if a.DataType().(*arrow.Time64Type).Unit != arrow.Nanosecond {
		return Param{}, fmt.Errorf("parameter of type %s: times of day are not supported", a.DataType())
	}
	return Param{Type: kernels.TTimestamp, Value: kernels.Value{I: int64(a.Value(i)) / 1_000}}, nil
}
