package schedule

import (
	"errors"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that every error is an *Error
// with an AWS code, and that an accepted schedule behaves: its window is 1–24
// hours and Next moves strictly forward, onto the hour.
func FuzzParse(f *testing.F) {
	for _, s := range []struct {
		days     int64
		expr, dr string
	}{
		{0, "rate(4 hours)", ""}, {0, "rate(10 days)", "3h"}, {30, "", ""},
		{0, "cron(0 4/12 * * ? *)", "2h"}, {0, "cron(0 16 L * ? *)", ""},
		{0, "cron(0 0 ? * SUN#1 *)", ""}, {0, "cron(0 0 ? * 6L *)", "24h"},
		{0, "cron(0 18 ? * MON-FRI *)", ""}, {0, "cron(0 0 1 JAN,APR,JUL,OCT ? *)", ""},
		{0, "cron(0 0 29 2 ? *)", ""}, {0, "cron(0 */5 1-31/2 * ? *)", "1h"},
	} {
		f.Add(s.days, s.expr, s.dr)
	}
	f.Fuzz(func(t *testing.T, days int64, expr, dur string) {
		s, err := Parse(Rules{AutomaticallyAfterDays: days, ScheduleExpression: expr, Duration: dur})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || (e.Code != ValidationException && e.Code != InvalidParameterException) || e.Message == "" {
				t.Fatalf("error %v is not an AWS-coded *Error", err)
			}
			return
		}
		if w := s.Window(); w < time.Hour || w > 24*time.Hour {
			t.Fatalf("window %v", w)
		}
		if d := s.AfterDays(); d < 1 || d > 1000 {
			t.Fatalf("AfterDays %d", d)
		}
		at := time.Date(2026, 12, 3, 18, 25, 0, 0, time.UTC)
		for i := 0; i < 3; i++ {
			n := s.Next(at)
			if !n.After(at) || n.Truncate(time.Hour) != n {
				t.Fatalf("Next(%v) = %v", at, n)
			}
			at = n
		}
	})
}
