// Package epoch provides the timestamp type of the AWS JSON protocols:
// seconds since the Unix epoch as a JSON number, with a fractional part.
//
// It is pure and imports nothing of Arca's.
package epoch

import (
	"errors"
	"strconv"
	"time"
)

// Time is a time.Time that encodes as epoch seconds (e.g. 1700000000.123),
// the form every AWS JSON 1.1 service uses for timestamps.
type Time struct{ time.Time }

// New returns t as a Time, truncated to milliseconds as AWS reports times.
func New(t time.Time) *Time { return &Time{t.Truncate(time.Millisecond)} }

// MarshalJSON encodes t as epoch seconds with millisecond precision.
func (t Time) MarshalJSON() ([]byte, error) {
	ms := t.UnixMilli()
	return strconv.AppendFloat(nil, float64(ms)/1000, 'f', -1, 64), nil
}

// UnmarshalJSON accepts epoch seconds as a JSON number.
func (t *Time) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return errors.New("timestamp must be a number of seconds since the epoch")
	}
	sec := int64(f)
	t.Time = time.Unix(sec, int64((f-float64(sec))*1e9)).UTC()
	return nil
}
