package kernels

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
)

// Value is one SQL value of a known Type (literals, parameters, statistics).
// The field used depends on the type: I for booleans (0/1), integers, dates
// (days since 1970-01-01) and timestamps (microseconds); F for floats; S for
// strings; Dec for decimals (unscaled); Months/Days/Nanos for intervals.
// The zero Value with Null set is NULL of any type.
type Value struct {
	Null   bool           `json:"null,omitempty"`
	I      int64          `json:"i,omitempty"`
	F      float64        `json:"f,omitempty"`
	S      string         `json:"s,omitempty"`
	Dec    decimal128.Num `json:"-"`
	DecHi  int64          `json:"dh,omitempty"` // Dec's parts, kept for serialization
	DecLo  uint64         `json:"dl,omitempty"`
	Months int32          `json:"mo,omitempty"`
	Days   int32          `json:"d,omitempty"`
	Nanos  int64          `json:"ns,omitempty"`
}

// NullValue is the SQL NULL.
var NullValue = Value{Null: true}

// DecValue returns a decimal Value holding the unscaled number n.
func DecValue(n decimal128.Num) Value {
	return Value{Dec: n, DecHi: n.HighBits(), DecLo: n.LowBits()}
}

// Format renders v of type t as text: dates as YYYY-MM-DD, decimals at their
// scale, floats in the shortest round-trip form.
func (v Value) Format(t Type) string {
	if v.Null {
		return "NULL"
	}
	switch t.ID {
	case Bool:
		if v.I != 0 {
			return "true"
		}
		return "false"
	case Int16, Int32, Int64:
		return strconv.FormatInt(v.I, 10)
	case Float32:
		return FormatFloat(v.F, 32)
	case Float64:
		return FormatFloat(v.F, 64)
	case Decimal:
		return v.Dec.ToString(t.Scale)
	case Date:
		return FormatDate(int32(v.I))
	case Timestamp:
		return FormatTimestamp(v.I)
	case String:
		return v.S
	case Interval:
		return FormatInterval(v.Months, v.Days, v.Nanos)
	}
	return fmt.Sprintf("%v", v)
}

// FormatFloat prints a float the way PostgreSQL does (shortest round-trip,
// Infinity/NaN spelled out).
func FormatFloat(f float64, bits int) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	// Shortest round-trip digits; exponent form only outside [1e-4, 1e15),
	// like PostgreSQL's float output.
	if f != 0 {
		if a := math.Abs(f); a < 1e-4 || a >= 1e15 {
			s := strconv.FormatFloat(f, 'e', -1, bits)
			// Go writes e+06; PostgreSQL e+06 too, but never a 3-digit pad
			return s
		}
	}
	return strconv.FormatFloat(f, 'f', -1, bits)
}

var epoch = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// FormatDate prints days since the epoch as YYYY-MM-DD.
func FormatDate(days int32) string {
	return epoch.AddDate(0, 0, int(days)).Format("2006-01-02")
}

// FormatTimestamp prints microseconds since the epoch as YYYY-MM-DD HH:MM:SS[.ffffff].
func FormatTimestamp(us int64) string {
	t := time.UnixMicro(us).UTC()
	if us%1_000_000 == 0 {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("2006-01-02 15:04:05.999999")
}

// FormatInterval prints an interval in PostgreSQL's style.
func FormatInterval(months, days int32, nanos int64) string {
	return string(appendInterval(nil, arrow.MonthDayNanoInterval{Months: months, Days: days, Nanoseconds: nanos}))
}

// ParseDate parses YYYY-MM-DD into days since the epoch.
func ParseDate(s string) (int32, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return 0, fmt.Errorf("invalid input syntax for type date: %q", s)
	}
	return int32(t.Sub(epoch) / (24 * time.Hour)), nil
}

// DateToTime converts days since the epoch to a UTC time.
func DateToTime(days int32) time.Time { return epoch.AddDate(0, 0, int(days)) }

// TimeToDate converts a time to days since the epoch (flooring).
func TimeToDate(t time.Time) int32 {
	y, m, d := t.Date()
	u := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return int32(u.Sub(epoch) / (24 * time.Hour))
}

// ParseTimestamp parses 'YYYY-MM-DD[ HH:MM:SS[.ffffff]]' into microseconds.
func ParseTimestamp(s string) (int64, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UnixMicro(), nil
		}
	}
	return 0, fmt.Errorf("invalid input syntax for type timestamp: %q", s)
}

// ArrowUnit reports the Arrow timestamp unit Bellows uses.
const ArrowUnit = arrow.Microsecond

// KeyOf encodes v of type t as a string usable as a map key: equal SQL
// values (per type t) give equal keys. NULL has its own key.
func KeyOf(v Value, t Type) string {
	if v.Null {
		return "\x00N"
	}
	switch t.ID {
	case String:
		return "s" + v.S
	case Float32, Float64:
		f := v.F
		if f == 0 {
			f = 0 // -0 == +0
		}
		return "f" + strconv.FormatFloat(f, 'g', -1, 64)
	case Decimal:
		return "d" + v.Dec.ToString(0) // same type: same scale
	case Interval:
		return fmt.Sprintf("v%d/%d/%d", v.Months, v.Days, v.Nanos)
	}
	return "i" + strconv.FormatInt(v.I, 10)
}
