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

// CommonType is the type both sides of a comparison/arithmetic/UNION/CASE are cast to (false if
// they do not mix): integers widen, int+decimal merge, float wins (as double), date+timestamp -> timestamp.
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

// CanImplicitCast reports whether from converts to to without CAST: numeric widening (to a
// numeric(38,s) always), int/decimal -> float, real -> double, date -> timestamp, NULL -> any.
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
			// a 38-digit target is as wide as decimals get: allowed, may overflow
			return to.Scale >= from.Scale &&
				(to.Precision-to.Scale >= from.Precision-from.Scale || to.Precision == MaxDecimalPrecision)
		}
	case from.ID == Float32:
		return to.ID == Float64
	case from.ID == Date:
		return to.ID == Timestamp
	}
	return false
}
