package svcerr

// AWS's validation messages have one fixed form ("1 validation error
// detected: ..."), which some clients parse; every service builds them here.

// Missing is the validation error for a required member that is absent.
func Missing(field string) error {
	return Validationf("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", field)
}

// CheckLen is the validation error for a member whose length n is outside
// [lo, hi], or nil.
func CheckLen(field string, n, lo, hi int) error {
	if n < lo {
		return Validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", field, lo)
	}
	if n > hi {
		return Validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, hi)
	}
	return nil
}

// CheckRange is the validation error for a number v outside [lo, hi], or
// nil.
func CheckRange[T ~int | ~int32 | ~int64](field string, v, lo, hi T) error {
	if v < lo {
		return Validationf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value greater than or equal to %d", v, field, lo)
	}
	if v > hi {
		return Validationf("1 validation error detected: Value '%d' at '%s' failed to satisfy constraint: Member must have value less than or equal to %d", v, field, hi)
	}
	return nil
}
