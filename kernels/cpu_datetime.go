package kernels

import (
	"fmt"
	"math"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

const (
	usPerSec  = 1_000_000
	usPerMin  = 60 * usPerSec
	usPerHour = 60 * usPerMin
	usPerDay  = 24 * usPerHour
	nsPerDay  = usPerDay * 1000
)

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// splitTS splits microseconds since the epoch into days and time of day.
func splitTS(us int64) (days, tod int64) {
	days = floorDiv(us, usPerDay)
	return days, us - days*usPerDay
}

// daysFromCivil returns days since 1970-01-01 of a proleptic Gregorian date
// (astronomical years: 0 is 1 BC). H. Hinnant's algorithm.
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilFromDays is the inverse of daysFromCivil.
func civilFromDays(z int64) (y int64, m, d int) {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

func isLeap(y int64) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

func daysIn(y int64, m int) int {
	switch m {
	case 2:
		if isLeap(y) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// addMonthsDays adds months to a date (days since the epoch), clamping the
// day to the end of the resulting month like PostgreSQL.
func addMonthsDays(days int64, months int64) int64 {
	y, m, d := civilFromDays(days)
	mm := y*12 + int64(m-1) + months
	y = floorDiv(mm, 12)
	m = int(mm-y*12) + 1
	if dim := daysIn(y, m); d > dim {
		d = dim
	}
	return daysFromCivil(y, m, d)
}

// Timestamps must stay within PostgreSQL's range (4714-11-24 BC to 294276 AD).
const (
	minTSus = -210866803200000000
	maxTSus = math.MaxInt64
)

// tsAddIv adds sign*iv to a timestamp: months first (clamping the day),
// then days, then the time part (nanoseconds truncated to microseconds).
func tsAddIv(us int64, iv arrow.MonthDayNanoInterval, sign int64) (int64, error) {
	if iv.Months != 0 {
		days, tod := splitTS(us)
		us = addMonthsDays(days, sign*int64(iv.Months))*usPerDay + tod
	}
	r, o1 := add64(us, sign*int64(iv.Days)*usPerDay)
	r, o2 := add64(r, sign*(iv.Nanoseconds/1000))
	if o1 || o2 || r < minTSus || r > maxTSus {
		return 0, errTSRange
	}
	return r, nil
}

func ivAdd(a, b arrow.MonthDayNanoInterval, sign int64) (arrow.MonthDayNanoInterval, error) {
	m := int64(a.Months) + sign*int64(b.Months)
	d := int64(a.Days) + sign*int64(b.Days)
	var ns int64
	var o bool
	if sign > 0 {
		ns, o = add64(a.Nanoseconds, b.Nanoseconds)
	} else {
		ns, o = sub64(a.Nanoseconds, b.Nanoseconds)
	}
	if o || m != int64(int32(m)) || d != int64(int32(d)) {
		return arrow.MonthDayNanoInterval{}, errIvRange
	}
	return arrow.MonthDayNanoInterval{Months: int32(m), Days: int32(d), Nanoseconds: ns}, nil
}

func ivMulInt(a arrow.MonthDayNanoInterval, k int64) (arrow.MonthDayNanoInterval, error) {
	m, o1 := mul64(int64(a.Months), k)
	d, o2 := mul64(int64(a.Days), k)
	ns, o3 := mul64(a.Nanoseconds, k)
	if o1 || o2 || o3 || m != int64(int32(m)) || d != int64(int32(d)) {
		return arrow.MonthDayNanoInterval{}, errIvRange
	}
	return arrow.MonthDayNanoInterval{Months: int32(m), Days: int32(d), Nanoseconds: ns}, nil
}

func tsRound(x float64) float64 { return math.RoundToEven(x*1e6) / 1e6 }

// ivMulFloat multiplies an interval by a float like PostgreSQL's interval_mul:
// fractional months cascade into days (30 per month) and fractional days into
// time (24 hours per day).
func ivMulFloat(a arrow.MonthDayNanoInterval, f float64) (arrow.MonthDayNanoInterval, error) {
	bad := arrow.MonthDayNanoInterval{}
	mf := float64(a.Months) * f
	df := float64(a.Days) * f
	if math.IsNaN(mf) || math.IsNaN(df) || mf <= math.MinInt32-1 || mf >= math.MaxInt32+1 || df <= math.MinInt32-1 || df >= math.MaxInt32+1 {
		return bad, errIvRange
	}
	months := int32(mf)
	days := int64(int32(df))
	monthRem := tsRound((mf - float64(months)) * 30)
	secRem := tsRound((df - float64(days) + monthRem - math.Trunc(monthRem)) * 86400)
	if math.Abs(secRem) >= 86400 {
		days += int64(secRem / 86400)
		secRem -= math.Trunc(secRem/86400) * 86400
	}
	days += int64(monthRem)
	ns := math.RoundToEven(float64(a.Nanoseconds)*f + secRem*1e9)
	if days != int64(int32(days)) || math.IsNaN(ns) || ns >= 9.2e18 || ns <= -9.2e18 {
		return bad, errIvRange
	}
	return arrow.MonthDayNanoInterval{Months: months, Days: int32(days), Nanoseconds: int64(ns)}, nil
}

func ivDivFloat(a arrow.MonthDayNanoInterval, f float64) (arrow.MonthDayNanoInterval, error) {
	if f == 0 {
		return arrow.MonthDayNanoInterval{}, errDivZero
	}
	return ivMulFloat(a, 1/f)
}

// tsDiff is a - b as an interval of days and time (PostgreSQL's timestamp
// subtraction followed by justify_hours).
func tsDiff(a, b int64) (arrow.MonthDayNanoInterval, error) {
	d, o := sub64(a, b)
	if o {
		return arrow.MonthDayNanoInterval{}, errIvRange
	}
	return arrow.MonthDayNanoInterval{Days: int32(d / usPerDay), Nanoseconds: (d % usPerDay) * 1000}, nil
}

func dateAddDays(d int32, k int64) (int32, error) {
	r := int64(d) + k
	if r != int64(int32(r)) {
		return 0, errDateRange
	}
	return int32(r), nil
}

// dateArith resolves the date/time signatures of add/sub/mul/div.
func dateArith(op arithOp, a, b Type) (Type, ExecFn, bool) {
	type sig struct {
		op   arithOp
		a, b TypeID
	}
	s := sig{op, a.ID, b.ID}
	if b.IsInteger() && a.ID == Date && (op == opAdd || op == opSub) {
		s.b = Int64
	}
	if a.IsInteger() && b.ID == Date && op == opAdd {
		s.a = Int64
	}
	if b.IsInteger() && a.ID == Interval && (op == opMul || op == opDiv) {
		s.b = Int64
	}
	if a.IsInteger() && b.ID == Interval && op == opMul {
		s.a = Int64
	}
	// integer arguments of any width are read through int64Arg
	withInts := func(fn ExecFn) ExecFn {
		return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
			conv := make([]arrow.Array, len(args))
			for i, x := range args {
				conv[i] = x
				if id := x.DataType().ID(); id == arrow.INT16 || id == arrow.INT32 {
					c, err := Cast(ctx, x, typeOfInt(id), TInt64)
					if err != nil {
						return nil, err
					}
					defer c.Release()
					conv[i] = c
				}
			}
			return fn(ctx, conv, n)
		}
	}
	type iv = arrow.MonthDayNanoInterval
	switch s {
	case sig{opAdd, Date, Int64}:
		return TDate, withInts(binFixed(TDate, func(d int32, k int64) (int32, error) { return dateAddDays(d, k) })), true
	case sig{opAdd, Int64, Date}:
		return TDate, withInts(binFixed(TDate, func(k int64, d int32) (int32, error) { return dateAddDays(d, k) })), true
	case sig{opSub, Date, Int64}:
		return TDate, withInts(binFixed(TDate, func(d int32, k int64) (int32, error) {
			if k == math.MinInt64 {
				return 0, errDateRange
			}
			return dateAddDays(d, -k)
		})), true
	case sig{opSub, Date, Date}:
		return TInt32, binFixed(TInt32, func(x, y int32) (int32, error) {
			r := int64(x) - int64(y)
			if r != int64(int32(r)) {
				return 0, rangeErr(Int32)
			}
			return int32(r), nil
		}), true
	case sig{opAdd, Date, Interval}:
		return TTimestamp, binFixed(TTimestamp, func(d int32, v iv) (int64, error) { return tsAddIv(int64(d)*usPerDay, v, 1) }), true
	case sig{opAdd, Interval, Date}:
		return TTimestamp, binFixed(TTimestamp, func(v iv, d int32) (int64, error) { return tsAddIv(int64(d)*usPerDay, v, 1) }), true
	case sig{opSub, Date, Interval}:
		return TTimestamp, binFixed(TTimestamp, func(d int32, v iv) (int64, error) { return tsAddIv(int64(d)*usPerDay, v, -1) }), true
	case sig{opAdd, Timestamp, Interval}:
		return TTimestamp, binFixed(TTimestamp, func(t int64, v iv) (int64, error) { return tsAddIv(t, v, 1) }), true
	case sig{opAdd, Interval, Timestamp}:
		return TTimestamp, binFixed(TTimestamp, func(v iv, t int64) (int64, error) { return tsAddIv(t, v, 1) }), true
	case sig{opSub, Timestamp, Interval}:
		return TTimestamp, binFixed(TTimestamp, func(t int64, v iv) (int64, error) { return tsAddIv(t, v, -1) }), true
	case sig{opSub, Timestamp, Timestamp}:
		return TInterval, binFixed(TInterval, tsDiff), true
	case sig{opAdd, Interval, Interval}:
		return TInterval, binFixed(TInterval, func(x, y iv) (iv, error) { return ivAdd(x, y, 1) }), true
	case sig{opSub, Interval, Interval}:
		return TInterval, binFixed(TInterval, func(x, y iv) (iv, error) { return ivAdd(x, y, -1) }), true
	case sig{opMul, Interval, Int64}:
		return TInterval, withInts(binFixed(TInterval, ivMulInt)), true
	case sig{opMul, Int64, Interval}:
		return TInterval, withInts(binFixed(TInterval, func(k int64, x iv) (iv, error) { return ivMulInt(x, k) })), true
	case sig{opMul, Interval, Float64}:
		return TInterval, binFixed(TInterval, ivMulFloat), true
	case sig{opMul, Float64, Interval}:
		return TInterval, binFixed(TInterval, func(f float64, x iv) (iv, error) { return ivMulFloat(x, f) }), true
	case sig{opDiv, Interval, Float64}:
		return TInterval, binFixed(TInterval, ivDivFloat), true
	case sig{opDiv, Interval, Int64}:
		return TInterval, withInts(binFixed(TInterval, func(x iv, k int64) (iv, error) { return ivDivFloat(x, float64(k)) })), true
	}
	return Type{}, nil, false
}

func typeOfInt(id arrow.Type) Type {
	switch id {
	case arrow.INT16, arrow.INT8:
		return TInt16
	case arrow.INT32:
		return TInt32
	}
	return TInt64
}

// dtField is a date/time field of extract, date_part and date_trunc.
type dtField uint8

const (
	fBad dtField = iota
	fMicroseconds
	fMilliseconds
	fSecond
	fMinute
	fHour
	fDay
	fWeek
	fMonth
	fQuarter
	fYear
	fDecade
	fCentury
	fMillennium
	fDow
	fIsoDow
	fDoy
	fEpoch
	fIsoYear
)

var dtFields = map[string]dtField{
	"microsecond": fMicroseconds, "microseconds": fMicroseconds, "us": fMicroseconds, "usec": fMicroseconds, "usecs": fMicroseconds,
	"millisecond": fMilliseconds, "milliseconds": fMilliseconds, "ms": fMilliseconds, "msec": fMilliseconds, "msecs": fMilliseconds,
	"second": fSecond, "seconds": fSecond, "s": fSecond, "sec": fSecond, "secs": fSecond,
	"minute": fMinute, "minutes": fMinute, "m": fMinute, "min": fMinute, "mins": fMinute,
	"hour": fHour, "hours": fHour, "h": fHour, "hr": fHour, "hrs": fHour,
	"day": fDay, "days": fDay, "d": fDay,
	"week": fWeek, "weeks": fWeek, "w": fWeek,
	"month": fMonth, "months": fMonth, "mon": fMonth, "mons": fMonth,
	"quarter": fQuarter, "qtr": fQuarter,
	"year": fYear, "years": fYear, "y": fYear, "yr": fYear, "yrs": fYear,
	"decade": fDecade, "decades": fDecade, "dec": fDecade, "decs": fDecade,
	"century": fCentury, "centuries": fCentury, "c": fCentury, "cent": fCentury,
	"millennium": fMillennium, "millennia": fMillennium, "mil": fMillennium, "mils": fMillennium,
	"dow": fDow, "isodow": fIsoDow, "doy": fDoy, "epoch": fEpoch, "isoyear": fIsoYear,
}

func pgTypeName(t TypeID) string {
	if t == Date {
		return "date"
	}
	return "timestamp without time zone"
}

// parseField looks up a field name for extract/date_part (trunc=false) or
// date_trunc (trunc=true) over arguments of type arg.
func parseField(name string, arg TypeID, trunc bool) (dtField, error) {
	f := dtFields[strings.ToLower(strings.TrimSpace(name))]
	if f == fBad {
		return fBad, fmt.Errorf("unit %q not recognized for type %s", name, pgTypeName(arg))
	}
	if trunc {
		switch f {
		case fDow, fIsoDow, fDoy, fEpoch, fIsoYear:
			return fBad, fmt.Errorf("unit %q not supported for type timestamp without time zone", name)
		}
		return f, nil
	}
	if arg == Date {
		switch f {
		case fMicroseconds, fMilliseconds, fSecond, fMinute, fHour:
			return fBad, fmt.Errorf("unit %q not supported for type date", name)
		}
	}
	return f, nil
}

// isFloatField reports whether extract returns a fractional value for f.
func isFloatField(f dtField) bool { return f == fSecond || f == fMilliseconds || f == fEpoch }

// ExtractType validates an EXTRACT field for arg (Date or Timestamp) and gives its result type:
// double for second, milliseconds, epoch (bind those to "date_part"), bigint otherwise.
func ExtractType(field string, arg Type) (Type, error) {
	f, err := parseField(field, arg.ID, false)
	if err != nil {
		return Type{}, err
	}
	if isFloatField(f) {
		return TFloat64, nil
	}
	return TInt64, nil
}

func isoDow(days int64) int64 {
	d := (days + 3) % 7 // 1970-01-01 was a Thursday (isodow 4)
	if d < 0 {
		d += 7
	}
	return d + 1
}

func isoWeekYear(days int64) (week, year int64) {
	th := days - (isoDow(days) - 1) + 3 // Thursday of the ISO week
	y, _, _ := civilFromDays(th)
	return (th-daysFromCivil(y, 1, 1))/7 + 1, y
}

// extractF computes field f of a timestamp split into days and time of day.
func extractF(f dtField, days, tod int64) float64 {
	switch f {
	case fSecond:
		return float64(tod%usPerMin) / 1e6
	case fMilliseconds:
		return float64(tod%usPerMin) / 1e3
	case fEpoch:
		return float64(days)*86400 + float64(tod)/1e6
	}
	return float64(extractI(f, days, tod))
}

// extractI computes an integer field (see extractF).
func extractI(f dtField, days, tod int64) int64 {
	switch f {
	case fMicroseconds:
		return tod % usPerMin
	case fMinute:
		return tod / usPerMin % 60
	case fHour:
		return tod / usPerHour
	case fDow:
		return isoDow(days) % 7
	case fIsoDow:
		return isoDow(days)
	case fWeek:
		w, _ := isoWeekYear(days)
		return w
	case fIsoYear:
		_, y := isoWeekYear(days)
		if y <= 0 {
			y--
		}
		return y
	case fEpoch:
		return days*86400 + tod/usPerSec
	case fSecond:
		return tod % usPerMin / usPerSec
	case fMilliseconds:
		return tod % usPerMin / 1000
	}
	y, m, d := civilFromDays(days)
	switch f {
	case fDay:
		return int64(d)
	case fMonth:
		return int64(m)
	case fQuarter:
		return int64(m-1)/3 + 1
	case fYear:
		if y <= 0 {
			return y - 1
		}
		return y
	case fDecade:
		if y >= 0 {
			return y / 10
		}
		return -((8 - (y - 1)) / 10)
	case fCentury:
		if y > 0 {
			return (y + 99) / 100
		}
		return -((99 - (y - 1)) / 100)
	case fMillennium:
		if y > 0 {
			return (y + 999) / 1000
		}
		return -((999 - (y - 1)) / 1000)
	case fDoy:
		return days - daysFromCivil(y, 1, 1) + 1
	}
	return 0
}

// truncTS truncates a timestamp to field f like PostgreSQL's date_trunc.
func truncTS(f dtField, us int64) int64 {
	days, tod := splitTS(us)
	switch f {
	case fMicroseconds:
		return us
	case fMilliseconds:
		return days*usPerDay + tod/1000*1000
	case fSecond:
		return days*usPerDay + tod/usPerSec*usPerSec
	case fMinute:
		return days*usPerDay + tod/usPerMin*usPerMin
	case fHour:
		return days*usPerDay + tod/usPerHour*usPerHour
	case fDay:
		return days * usPerDay
	case fWeek:
		return (days - (isoDow(days) - 1)) * usPerDay
	}
	y, m, _ := civilFromDays(days)
	switch f {
	case fMillennium:
		if y > 0 {
			y = (y+999)/1000*1000 - 999
		} else {
			y = -((999-(y-1))/1000)*1000 + 1
		}
		m = 1
	case fCentury:
		if y > 0 {
			y = (y+99)/100*100 - 99
		} else {
			y = -((99-(y-1))/100)*100 + 1
		}
		m = 1
	case fDecade:
		if y > 0 {
			y = y / 10 * 10
		} else {
			y = -((8 - (y - 1)) / 10) * 10
		}
		m = 1
	case fYear:
		m = 1
	case fQuarter:
		m = 3*((m-1)/3) + 1
	}
	return daysFromCivil(y, m, 1) * usPerDay
}

// fieldArg returns a function giving the field of each row: parsed once for
// a constant, per row (with a one-entry cache) otherwise.
func fieldArg(a arrow.Array, arg TypeID, trunc bool, n int) (func(i int) (dtField, error), error) {
	s := a.(*array.String)
	if s.Len() == 1 {
		if s.IsNull(0) {
			return func(int) (dtField, error) { return fBad, nil }, nil
		}
		f, err := parseField(s.Value(0), arg, trunc)
		if err != nil {
			return nil, err
		}
		return func(int) (dtField, error) { return f, nil }, nil
	}
	last, lastF := "", fBad
	var lastErr error
	return func(i int) (dtField, error) {
		v := s.Value(i)
		if v != last || (lastF == fBad && lastErr == nil) {
			last = v
			lastF, lastErr = parseField(v, arg, trunc)
		}
		return lastF, lastErr
	}, nil
}

// extractKernel implements extract (Int64 result; asFloat=false) and
// date_part (Float64 result).
func extractKernel(arg TypeID, asFloat bool) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		check := arg
		if asFloat {
			check = Timestamp // date_part(text, date) works on the date as a timestamp
		}
		field, err := fieldArg(args[0], check, false, n)
		if err != nil {
			return nil, err
		}
		sa := Stride(args[1], n)
		var dates []int32
		var tss []int64
		if arg == Date {
			dates = Values[int32](args[1])
		} else {
			tss = Values[int64](args[1])
		}
		split := func(i int) (int64, int64) {
			if dates != nil {
				return int64(dates[i*sa]), 0
			}
			return splitTS(tss[i*sa])
		}
		validity, nulls := Validity(ctx.Alloc, args, n)
		fail := func(err error) (arrow.Array, error) {
			releaseBuf(validity)
			return nil, err
		}
		if asFloat {
			buf, out := AllocFixed[float64](ctx.Alloc, n)
			for i := range out {
				if !validAt(validity, i) {
					out[i] = 0
					continue
				}
				f, err := field(i)
				if err != nil {
					buf.Release()
					return fail(err)
				}
				d, t := split(i)
				out[i] = extractF(f, d, t)
			}
			return FinishFixed(arrow.PrimitiveTypes.Float64, n, buf, validity, nulls), nil
		}
		buf, out := AllocFixed[int64](ctx.Alloc, n)
		for i := range out {
			if !validAt(validity, i) {
				out[i] = 0
				continue
			}
			f, err := field(i)
			if err == nil && isFloatField(f) {
				err = fmt.Errorf("extract(%s) has a fractional result: bind it as date_part (see ExtractType)", args[0].(*array.String).Value(i*Stride(args[0], n)))
			}
			if err != nil {
				buf.Release()
				return fail(err)
			}
			d, t := split(i)
			out[i] = extractI(f, d, t)
		}
		return FinishFixed(arrow.PrimitiveTypes.Int64, n, buf, validity, nulls), nil
	}
}

func truncKernel(arg TypeID) ExecFn {
	return func(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
		field, err := fieldArg(args[0], arg, true, n)
		if err != nil {
			return nil, err
		}
		sa := Stride(args[1], n)
		var dates []int32
		var tss []int64
		if arg == Date {
			dates = Values[int32](args[1])
		} else {
			tss = Values[int64](args[1])
		}
		validity, nulls := Validity(ctx.Alloc, args, n)
		buf, out := AllocFixed[int64](ctx.Alloc, n)
		for i := range out {
			if !validAt(validity, i) {
				out[i] = 0
				continue
			}
			f, err := field(i)
			if err != nil {
				buf.Release()
				releaseBuf(validity)
				return nil, err
			}
			if dates != nil {
				out[i] = truncTS(f, int64(dates[i*sa])*usPerDay)
			} else {
				out[i] = truncTS(f, tss[i*sa])
			}
		}
		return FinishFixed(TTimestamp.Arrow(), n, buf, validity, nulls), nil
	}
}

func dtResolver(ret Type, mk func(arg TypeID) ExecFn) Resolver {
	return func(in []Type) (Type, ExecFn, bool) {
		if len(in) != 2 || in[0].ID != String || (in[1].ID != Date && in[1].ID != Timestamp) {
			return Type{}, nil, false
		}
		return ret, mk(in[1].ID), true
	}
}

// makeDate builds a date; negative years are BC (there is no year 0).
func makeDate(y, m, d int64) (int32, error) {
	ay := y
	if y < 0 {
		ay = y + 1
	}
	if y == 0 || m < 1 || m > 12 || d < 1 || d > int64(daysIn(ay, int(m))) || y > 5874897 || y < -4713 {
		return 0, fmt.Errorf("date field value out of range: %d-%02d-%02d", y, m, d)
	}
	return int32(daysFromCivil(ay, int(m), int(d))), nil
}

func makeDateKernel(ctx *Context, args []arrow.Array, n int) (arrow.Array, error) {
	y, m, d := int64Arg(args[0]), int64Arg(args[1]), int64Arg(args[2])
	sy, sm, sd := Stride(args[0], n), Stride(args[1], n), Stride(args[2], n)
	validity, nulls := Validity(ctx.Alloc, args, n)
	buf, out := AllocFixed[int32](ctx.Alloc, n)
	for i := range out {
		out[i] = 0
		if !validAt(validity, i) {
			continue
		}
		v, err := makeDate(y[i*sy], m[i*sm], d[i*sd])
		if err != nil {
			buf.Release()
			releaseBuf(validity)
			return nil, err
		}
		out[i] = v
	}
	return FinishFixed(TDate.Arrow(), n, buf, validity, nulls), nil
}

func makeDateResolver(in []Type) (Type, ExecFn, bool) {
	if len(in) != 3 || !in[0].IsInteger() || !in[1].IsInteger() || !in[2].IsInteger() {
		return Type{}, nil, false
	}
	return TDate, makeDateKernel, true
}
