package schedule

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func ts(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseValid(t *testing.T) {
	for _, tc := range []struct {
		rules  Rules
		kind   Kind
		window time.Duration
		days   int64
	}{
		{Rules{AutomaticallyAfterDays: 1}, AfterDays, 24 * time.Hour, 1},
		{Rules{AutomaticallyAfterDays: 1000}, AfterDays, 24 * time.Hour, 1000},
		{Rules{AutomaticallyAfterDays: 30, Duration: "3h"}, AfterDays, 3 * time.Hour, 30},
		{Rules{ScheduleExpression: "rate(4 hours)"}, RateHours, time.Hour, 1},
		{Rules{ScheduleExpression: "rate(4 hours)", Duration: "4h"}, RateHours, 4 * time.Hour, 1},
		{Rules{ScheduleExpression: "rate(30 hours)", Duration: "24h"}, RateHours, 24 * time.Hour, 2},
		{Rules{ScheduleExpression: "rate(1 day)"}, RateDays, 24 * time.Hour, 1},
		{Rules{ScheduleExpression: "rate(10 days)", Duration: "2h"}, RateDays, 2 * time.Hour, 10},
		{Rules{ScheduleExpression: "rate(999 days)"}, RateDays, 24 * time.Hour, 999},
		{Rules{ScheduleExpression: "cron(0 16 L * ? *)"}, Cron, 8 * time.Hour, 31},
		{Rules{ScheduleExpression: "cron(0 8 1 * ? *)", Duration: "16h"}, Cron, 16 * time.Hour, 31},
		{Rules{ScheduleExpression: "cron(0 4/12 * * ? *)"}, Cron, time.Hour, 1},
		{Rules{ScheduleExpression: "cron(0 4/12 * * ? *)", Duration: "8h"}, Cron, 8 * time.Hour, 1},
		{Rules{ScheduleExpression: "cron(0 0/4 * * ? *)", Duration: "4h"}, Cron, 4 * time.Hour, 1},
		{Rules{ScheduleExpression: "cron(0 8/8 * * ? *)"}, Cron, time.Hour, 1},
		{Rules{ScheduleExpression: "cron(0 8 1/7 * ? *)"}, Cron, 16 * time.Hour, 7},
		{Rules{ScheduleExpression: "cron(0 0 ? * SUN#1 *)"}, Cron, 24 * time.Hour, 35},
		{Rules{ScheduleExpression: "cron(0 10 ? * MON-FRI *)"}, Cron, 14 * time.Hour, 3},
		{Rules{ScheduleExpression: "cron(0 10 ? * 2-6 *)"}, Cron, 14 * time.Hour, 3},
		{Rules{ScheduleExpression: "cron(0 0 ? * 6L *)"}, Cron, 24 * time.Hour, 35},
		{Rules{ScheduleExpression: "cron(0 0 ? * L *)"}, Cron, 24 * time.Hour, 7},
		{Rules{ScheduleExpression: "cron(0 0 1 JAN,APR,JUL,OCT ? *)"}, Cron, 24 * time.Hour, 92},
		{Rules{ScheduleExpression: "cron(0 0 1 jan ? *)"}, Cron, 24 * time.Hour, 366},
		{Rules{ScheduleExpression: "cron(0 1,5,9 * * ? *)", Duration: "4h"}, Cron, 4 * time.Hour, 1},
	} {
		t.Run(tc.rules.ScheduleExpression+tc.rules.Duration, func(t *testing.T) {
			s, err := Parse(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if s.Kind() != tc.kind || s.Window() != tc.window || s.AfterDays() != tc.days {
				t.Fatalf("kind %v window %v days %d, want %v %v %d", s.Kind(), s.Window(), s.AfterDays(), tc.kind, tc.window, tc.days)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	for _, tc := range []struct {
		rules Rules
		code  string
		msg   string
	}{
		{Rules{}, InvalidParameterException, "either AutomaticallyAfterDays or ScheduleExpression"},
		{Rules{AutomaticallyAfterDays: 3, ScheduleExpression: "rate(3 days)"}, InvalidParameterException, "both"},
		{Rules{AutomaticallyAfterDays: -1}, ValidationException, "greater than or equal to 1"},
		{Rules{AutomaticallyAfterDays: 1001}, ValidationException, "at 'rotationRules.automaticallyAfterDays' failed to satisfy constraint: Member must have value less than or equal to 1000"},
		{Rules{ScheduleExpression: "rate(3 hours)"}, InvalidParameterException, "every four hours"},
		{Rules{ScheduleExpression: "rate(0 days)"}, InvalidParameterException, "positive integer"},
		{Rules{ScheduleExpression: "rate(1000 days)"}, InvalidParameterException, "999 days"},
		{Rules{ScheduleExpression: "rate(24000 hours)"}, InvalidParameterException, "999 days"},
		{Rules{ScheduleExpression: "rate(5 minutes)"}, InvalidParameterException, "Unit must be"},
		{Rules{ScheduleExpression: "rate(5  days)"}, InvalidParameterException, "rate(Value Unit)"},
		{Rules{ScheduleExpression: "rate(-5 days)"}, InvalidParameterException, "positive integer"},
		{Rules{ScheduleExpression: "every day"}, InvalidParameterException, "must be rate"},
		{Rules{ScheduleExpression: "rate(5 days);"}, ValidationException, "regular expression pattern"},
		{Rules{ScheduleExpression: "cron(0 0 * * ? *)\n"}, ValidationException, "regular expression pattern"},
		{Rules{ScheduleExpression: "rate(" + strings.Repeat("1", 251) + " days)"}, ValidationException, "length less than or equal to 256"},
		{Rules{ScheduleExpression: "cron(5 0 * * ? *)"}, InvalidParameterException, "Minutes field must be 0"},
		{Rules{ScheduleExpression: "cron(0 0 * * ? 2027)"}, InvalidParameterException, "Year field must be *"},
		{Rules{ScheduleExpression: "cron(0 0 * * ?)"}, InvalidParameterException, "six fields"},
		{Rules{ScheduleExpression: "cron(0 0 * * * *)"}, InvalidParameterException, "use ? in one"},
		{Rules{ScheduleExpression: "cron(0 0 ? * ? *)"}, InvalidParameterException, "only one"},
		{Rules{ScheduleExpression: "cron(0 24 * * ? *)"}, InvalidParameterException, "Hours field"},
		{Rules{ScheduleExpression: "cron(0 * * * ? *)"}, InvalidParameterException, "every four hours"},
		{Rules{ScheduleExpression: "cron(0 0/2 * * ? *)"}, InvalidParameterException, "every four hours"},
		{Rules{ScheduleExpression: "cron(0 22,1 * * ? *)"}, InvalidParameterException, "every four hours"},
		{Rules{ScheduleExpression: "cron(0 0 32 * ? *)"}, InvalidParameterException, "Day-of-month field"},
		{Rules{ScheduleExpression: "cron(0 0 15W * ? *)"}, InvalidParameterException, "Day-of-month field"},
		{Rules{ScheduleExpression: "cron(0 0 0 * ? *)"}, InvalidParameterException, "Day-of-month field"},
		{Rules{ScheduleExpression: "cron(0 0 1 13 ? *)"}, InvalidParameterException, "Month field"},
		{Rules{ScheduleExpression: "cron(0 0 1 DEC-JAN ? *)"}, InvalidParameterException, "Month field"},
		{Rules{ScheduleExpression: "cron(0 0 ? * 8 *)"}, InvalidParameterException, "Day-of-week field"},
		{Rules{ScheduleExpression: "cron(0 0 ? * MON#6 *)"}, InvalidParameterException, "occurrence from 1 to 5"},
		{Rules{ScheduleExpression: "cron(0 0 31 4 ? *)"}, InvalidParameterException, "matches no date"},
		{Rules{ScheduleExpression: "cron(0 0 29 2 ? *)"}, InvalidParameterException, "more than a year apart"},
		{Rules{ScheduleExpression: "cron(0 0 * * ? *)", Duration: "3"}, ValidationException, "length greater than or equal to 2"},
		{Rules{ScheduleExpression: "cron(0 0 * * ? *)", Duration: "100h"}, ValidationException, "length less than or equal to 3"},
		{Rules{ScheduleExpression: "cron(0 0 * * ? *)", Duration: "3d"}, ValidationException, "[0-9h]+"},
		{Rules{ScheduleExpression: "cron(0 0 * * ? *)", Duration: "h3"}, InvalidParameterException, "1h to 24h"},
		{Rules{ScheduleExpression: "cron(0 0 * * ? *)", Duration: "0h"}, InvalidParameterException, "1h to 24h"},
		{Rules{ScheduleExpression: "cron(0 0 * * ? *)", Duration: "25h"}, InvalidParameterException, "1h to 24h"},
		{Rules{ScheduleExpression: "cron(0 20 * * ? *)", Duration: "5h"}, InvalidParameterException, "next UTC day"},
		{Rules{ScheduleExpression: "cron(0 4/12 * * ? *)", Duration: "9h"}, InvalidParameterException, "next rotation window"},
		{Rules{ScheduleExpression: "rate(6 hours)", Duration: "7h"}, InvalidParameterException, "next rotation window"},
	} {
		t.Run(tc.rules.ScheduleExpression+"/"+tc.rules.Duration, func(t *testing.T) {
			_, err := Parse(tc.rules)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Code != tc.code || !strings.Contains(e.Message, tc.msg) {
				t.Fatalf("got %s %q, want %s containing %q", e.Code, e.Message, tc.code, tc.msg)
			}
		})
	}
}

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		rules      Rules
		last, want string
	}{
		{Rules{AutomaticallyAfterDays: 30}, "2026-12-03 18:25", "2027-01-02 00:00"},
		{Rules{ScheduleExpression: "rate(1 day)"}, "2026-12-31 23:59", "2027-01-01 00:00"},
		{Rules{ScheduleExpression: "rate(4 hours)"}, "2026-12-03 18:25", "2026-12-03 22:00"},
		{Rules{ScheduleExpression: "cron(0 4/12 * * ? *)"}, "2026-12-03 04:00", "2026-12-03 16:00"},
		{Rules{ScheduleExpression: "cron(0 4/12 * * ? *)"}, "2026-12-03 16:30", "2026-12-04 04:00"},
		{Rules{ScheduleExpression: "cron(0 16 L * ? *)"}, "2027-02-10 00:00", "2027-02-28 16:00"},
		{Rules{ScheduleExpression: "cron(0 16 L * ? *)"}, "2028-02-10 00:00", "2028-02-29 16:00"},
		{Rules{ScheduleExpression: "cron(0 16 L * ? *)"}, "2028-02-29 16:00", "2028-03-31 16:00"},
		{Rules{ScheduleExpression: "cron(0 0 ? * SUN#1 *)"}, "2026-12-03 00:00", "2026-12-06 00:00"},
		{Rules{ScheduleExpression: "cron(0 0 ? * SUN#1 *)"}, "2026-12-06 00:00", "2027-01-03 00:00"},
		{Rules{ScheduleExpression: "cron(0 9 ? * 2#1 *)"}, "2026-12-01 00:00", "2026-12-07 09:00"},
		{Rules{ScheduleExpression: "cron(0 0 ? * 6L *)"}, "2026-12-01 00:00", "2026-12-25 00:00"},
		{Rules{ScheduleExpression: "cron(0 18 ? * MON-FRI *)"}, "2026-12-04 18:00", "2026-12-07 18:00"},
		{Rules{ScheduleExpression: "cron(0 8 1/7 * ? *)"}, "2026-12-22 09:00", "2026-12-29 08:00"},
		{Rules{ScheduleExpression: "cron(0 8 1/7 * ? *)"}, "2026-12-29 09:00", "2027-01-01 08:00"},
		{Rules{ScheduleExpression: "cron(0 0 1 JAN,APR,JUL,OCT ? *)"}, "2026-12-03 00:00", "2027-01-01 00:00"},
	} {
		t.Run(tc.rules.ScheduleExpression, func(t *testing.T) {
			s, err := Parse(tc.rules)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Next(ts(tc.last)); !got.Equal(ts(tc.want)) {
				t.Fatalf("Next(%s) = %s, want %s", tc.last, got.Format("2006-01-02 15:04 Mon"), tc.want)
			}
		})
	}
}

// TestNextIsAfterAndMatches checks Next against a brute-force walk hour by
// hour for a set of expressions, from many starting points.
func TestNextIsAfterAndMatches(t *testing.T) {
	for _, e := range []string{"cron(0 4/12 * * ? *)", "cron(0 16 L * ? *)", "cron(0 0 ? * SUN#1 *)", "cron(0 3 ? 2-5 6L *)", "cron(0 5,11 10-20/5 * ? *)"} {
		s, err := Parse(Rules{ScheduleExpression: e})
		if err != nil {
			t.Fatal(err)
		}
		for from := ts("2027-01-01 00:00"); from.Before(ts("2027-03-01 00:00")); from = from.Add(7*time.Hour + 13*time.Minute) {
			want := from.Truncate(time.Hour).Add(time.Hour)
			for !(s.cron.matchDay(want) && s.cron.hours.has(want.Hour())) {
				want = want.Add(time.Hour)
			}
			if got := s.Next(from); !got.Equal(want) {
				t.Fatalf("%s: Next(%s) = %s, want %s", e, from, got, want)
			}
		}
	}
}
