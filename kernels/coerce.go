package kernels

// intDecimal is the decimal type wide enough for an integer type.
func intDecimal(t TypeID) Type {
	switch t {
	case Int16:
		return Type{ID: Decimal, Precision: 5}
	case Int32:
		return Type{ID: Decimal, Precision: 10}
	}
	return Type{ID: Decimal, Precision: 19}
}

// mergeDecimal returns the decimal type that holds both a and b: the larger
// scale and the larger count of integer digits (precision capped at 38).
func mergeDecimal(a, b Type) Type {
	s := max(a.Scale, b.Scale)
	return DecimalType(max(a.Precision-a.Scale, b.Precision-b.Scale)+s, s)
}

// CommonType returns the type both sides of a comparison, arithmetic,
// UNION or CASE are cast to, and false when the types do not mix. Integers
// widen, integers and decimals merge into a decimal, anything numeric with a
// float gives double precision (real only with real), date with timestamp
// gives timestamp, and NULL adopts the other type.
func CommonType(a, b Type) (Type, bool) {
	if a == b {
		return a, true
	}
	if a.ID == Null {
		return b, true
	}
	if b.ID == Null {
		return a, true
	}
	switch {
	case a.IsNumeric() && b.IsNumeric():
		switch {
		case a.IsFloat() || b.IsFloat():
			if a.ID == Float32 && b.ID == Float32 {
				return TFloat32, true
			}
			return TFloat64, true
		case a.ID == Decimal || b.ID == Decimal:
			if a.IsInteger() {
				a = intDecimal(a.ID)
			}
			if b.IsInteger() {
				b = intDecimal(b.ID)
			}
			return mergeDecimal(a, b), true
		}
		return Type{ID: max(a.ID, b.ID)}, true // Int16 < Int32 < Int64
	case a.ID == b.ID:
		return a, true
	case (a.ID == Date && b.ID == Timestamp) || (a.ID == Timestamp && b.ID == Date):
		return TTimestamp, true
	}
	return Type{}, false
}

// CanImplicitCast reports whether a value of type from may be converted to
// type to without an explicit CAST: numeric widening (integers to wider
// integers, decimals, floats; decimals to wider decimals and floats; real to
// double), date to timestamp, and NULL to anything.
func CanImplicitCast(from, to Type) bool {
	if from == to || from.ID == Null {
		return true
	}
	switch {
	case from.IsInteger():
		switch {
		case to.IsInteger():
			return to.ID >= from.ID
		case to.IsFloat():
			return true
		case to.ID == Decimal:
			d := intDecimal(from.ID)
			return to.Precision-to.Scale >= d.Precision || to.Precision == MaxDecimalPrecision
		}
	case from.ID == Decimal:
		switch {
		case to.IsFloat():
			return true
		case to.ID == Decimal:
			return to.Scale >= from.Scale && to.Precision-to.Scale >= from.Precision-from.Scale
		}
	case from.ID == Float32:
		return to.ID == Float64
	case from.ID == Date:
		return to.ID == Timestamp
	}
	return false
}
