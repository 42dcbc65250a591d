// Package schedule parses and evaluates AWS Secrets Manager rotation rules
// (RotationRulesType): AutomaticallyAfterDays, ScheduleExpression (rate() or
// cron() in Secrets Manager's restricted dialect) and Duration, the length of
// the rotation window. All times are UTC, as in AWS.
//
// The grammar and limits follow the Secrets Manager user guide ("Rotation
// schedules") and the RotationRulesType API reference:
//
//   - AutomaticallyAfterDays: 1–1000, not together with ScheduleExpression.
//   - ScheduleExpression: 1–256 characters of [0-9A-Za-z()#?*-/, ].
//   - rate(Value Unit): Value a positive integer, Unit hour, hours, day or
//     days; at most every four hours, at most 999 days apart.
//   - cron(Minutes Hours Day-of-month Month Day-of-week Year): Minutes must
//     be 0 (windows open on the hour), Year must be *; Hours 0–23 with
//     , - * /; Day-of-month 1–31 with , - * ? / L; Month 1–12 or JAN–DEC with
//     , - * /; Day-of-week 1–7 or SUN–SAT with # , - * ? / L. One of
//     Day-of-month and Day-of-week must be ?.
//   - Duration: "Nh", 1–24 hours. The window must not extend into the next
//     UTC day or into the next rotation window. Without Duration the window
//     closes after one hour for a schedule in hours and at the end of the UTC
//     day for a schedule in days.
package schedule

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Error codes, as AWS returns them.
const (
	ValidationException       = "ValidationException"
	InvalidParameterException = "InvalidParameterException"
)

// Error is invalid rotation rules: Code is the AWS error code, Message the
// text AWS-style clients show.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func invalid(format string, args ...any) error {
	return &Error{Code: InvalidParameterException, Message: fmt.Sprintf(format, args...)}
}

// constraint is the AWS model-validation message for one member.
func constraint(value, member, rule string) error {
	return &Error{Code: ValidationException, Message: fmt.Sprintf(
		"1 validation error detected: Value '%s' at 'rotationRules.%s' failed to satisfy constraint: %s", value, member, rule)}
}

// Rules is RotationRulesType as it arrives: zero values mean "not given".
type Rules struct {
	AutomaticallyAfterDays int64
	Duration               string
	ScheduleExpression     string
}

// Kind is how a schedule repeats.
type Kind int

// Schedule kinds.
const (
	// AfterDays is AutomaticallyAfterDays: N days after the last rotation.
	AfterDays Kind = iota + 1
	// RateHours is rate(N hours).
	RateHours
	// RateDays is rate(N days).
	RateDays
	// Cron is cron(...).
	Cron
)

// Schedule is validated rotation rules.
type Schedule struct {
	kind   Kind
	n      int           // AfterDays, RateHours, RateDays
	cron   *cronExpr     // Cron
	window time.Duration // the rotation window's length
	rules  Rules
}

// Maximum lengths and limits from the API reference and user guide.
const (
	maxExpression = 256
	minAfterDays  = 1
	maxAfterDays  = 1000
	minRateHours  = 4
	maxRateDays   = 999
)

var (
	expressionPattern = regexp.MustCompile(`^[0-9A-Za-z()#?*\-/, ]+$`)
	durationPattern   = regexp.MustCompile(`^[0-9h]+$`)
)

// Parse validates rules and returns the schedule. Errors are *Error.
func Parse(r Rules) (*Schedule, error) {
	if r.AutomaticallyAfterDays != 0 && r.ScheduleExpression != "" {
		return nil, invalid("You can't specify both AutomaticallyAfterDays and ScheduleExpression in RotationRules.")
	}
	if r.AutomaticallyAfterDays < 0 || (r.AutomaticallyAfterDays == 0 && r.ScheduleExpression == "") {
		if r.AutomaticallyAfterDays == 0 {
			return nil, invalid("RotationRules must specify either AutomaticallyAfterDays or ScheduleExpression.")
		}
		return nil, constraint(strconv.FormatInt(r.AutomaticallyAfterDays, 10), "automaticallyAfterDays",
			"Member must have value greater than or equal to 1")
	}
	if r.AutomaticallyAfterDays > maxAfterDays {
		return nil, constraint(strconv.FormatInt(r.AutomaticallyAfterDays, 10), "automaticallyAfterDays",
			"Member must have value less than or equal to 1000")
	}
	s := &Schedule{rules: r}
	if r.AutomaticallyAfterDays != 0 {
		s.kind, s.n = AfterDays, int(r.AutomaticallyAfterDays)
	} else if err := s.parseExpression(r.ScheduleExpression); err != nil {
		return nil, err
	}
	if err := s.parseWindow(r.Duration); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Schedule) parseExpression(e string) error {
	if len(e) > maxExpression {
		return constraint(e, "scheduleExpression", "Member must have length less than or equal to 256")
	}
	if !expressionPattern.MatchString(e) {
		return constraint(e, "scheduleExpression", `Member must satisfy regular expression pattern: [0-9A-Za-z\(\)#\?\*\-\/, ]+`)
	}
	switch {
	case strings.HasPrefix(e, "rate(") && strings.HasSuffix(e, ")"):
		return s.parseRate(e, e[len("rate("):len(e)-1])
	case strings.HasPrefix(e, "cron(") && strings.HasSuffix(e, ")"):
		c, err := parseCron(e, e[len("cron("):len(e)-1])
		if err != nil {
			return err
		}
		s.kind, s.cron = Cron, c
		return nil
	}
	return invalid("Invalid ScheduleExpression %s: a schedule expression must be rate(Value Unit) or cron(Minutes Hours Day-of-month Month Day-of-week Year).", e)
}

func (s *Schedule) parseRate(e, body string) error {
	f := strings.Split(body, " ")
	if len(f) != 2 {
		return invalid("Invalid rate expression %s: the format is rate(Value Unit), for example rate(10 days).", e)
	}
	n, ok := positive(f[0])
	if !ok {
		return invalid("Invalid rate expression %s: Value must be a positive integer.", e)
	}
	switch f[1] {
	case "hour", "hours":
		if n < minRateHours {
			return invalid("Invalid rate expression %s: you can rotate a secret as often as every four hours.", e)
		}
		if n > maxRateDays*24 {
			return invalid("Invalid rate expression %s: the maximum rotation period is 999 days.", e)
		}
		s.kind, s.n = RateHours, n
	case "day", "days":
		if n > maxRateDays {
			return invalid("Invalid rate expression %s: the maximum rotation period is 999 days.", e)
		}
		s.kind, s.n = RateDays, n
	default:
		return invalid("Invalid rate expression %s: Unit must be hour, hours, day or days.", e)
	}
	return nil
}

// positive parses a decimal integer ≥ 1 that fits comfortably in an int.
func positive(v string) (int, bool) {
	if v == "" || len(v) > 6 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= 1
}

// parseWindow checks Duration against the schedule: the window must not
// cross into the next UTC day or the next window.
func (s *Schedule) parseWindow(d string) error {
	start, limit, hourly := s.windowBounds()
	if d == "" {
		if hourly {
			s.window = time.Hour
		} else {
			s.window = time.Duration(24-start) * time.Hour
		}
		return nil
	}
	if len(d) < 2 {
		return constraint(d, "duration", "Member must have length greater than or equal to 2")
	}
	if len(d) > 3 {
		return constraint(d, "duration", "Member must have length less than or equal to 3")
	}
	if !durationPattern.MatchString(d) {
		return constraint(d, "duration", "Member must satisfy regular expression pattern: [0-9h]+")
	}
	h, ok := positive(strings.TrimSuffix(d, "h"))
	if !strings.HasSuffix(d, "h") || !ok || h > 24 {
		return invalid("Invalid Duration %s: the rotation window is a number of hours from 1h to 24h, for example 3h.", d)
	}
	if h > limit {
		if hourly {
			return invalid("The rotation window (Duration %s) must not extend into the next rotation window or the next UTC day: it can be at most %dh for ScheduleExpression %s.", d, limit, s.rules.ScheduleExpression)
		}
		return invalid("The rotation window (Duration %s) must not extend into the next UTC day: the window opens at %02d:00 UTC, so it can be at most %dh.", d, start, limit)
	}
	s.window = time.Duration(h) * time.Hour
	return nil
}

// windowBounds returns the hour the (first daily) window opens, the largest
// window allowed, and whether the schedule is "in hours".
func (s *Schedule) windowBounds() (start, limit int, hourly bool) {
	switch s.kind {
	case RateHours:
		return 0, min(s.n, 24), true
	case Cron:
		hours := s.cron.hours.list(0, 23)
		start, limit = hours[0], 24-hours[len(hours)-1]
		for i := 1; i < len(hours); i++ {
			limit = min(limit, hours[i]-hours[i-1])
		}
		return start, limit, len(hours) > 1
	default: // AfterDays, RateDays: the window opens at midnight
		return 0, 24, false
	}
}

// Kind reports how the schedule repeats.
func (s *Schedule) Kind() Kind { return s.kind }

// Window is the length of the rotation window.
func (s *Schedule) Window() time.Duration { return s.window }

// Rules returns the rules the schedule was parsed from.
func (s *Schedule) Rules() Rules { return s.rules }

// Next returns the opening of the first rotation window after last, the
// time of the last rotation (or of enabling rotation). AutomaticallyAfterDays
// and rate(N days) open at midnight UTC N days after last's day; rate(N hours)
// opens on the hour N hours after last's hour; cron() opens at its first
// matching hour after last. It returns the zero time if a cron expression
// never matches again (Parse rejects those).
func (s *Schedule) Next(last time.Time) time.Time {
	last = last.UTC()
	switch s.kind {
	case AfterDays, RateDays:
		d := time.Date(last.Year(), last.Month(), last.Day(), 0, 0, 0, 0, time.UTC)
		return d.AddDate(0, 0, s.n)
	case RateHours:
		return last.Truncate(time.Hour).Add(time.Duration(s.n) * time.Hour)
	default:
		return s.cron.next(last)
	}
}

// AfterDays is the number of days between rotations that DescribeSecret
// reports as AutomaticallyAfterDays: the configured value, the rate in days
// (rounded up for a rate in hours), or for cron the longest gap between two
// windows in the coming year, rounded up.
func (s *Schedule) AfterDays() int64 {
	switch s.kind {
	case AfterDays, RateDays:
		return int64(s.n)
	case RateHours:
		return int64((s.n + 23) / 24)
	}
	return int64(s.cron.longestGap/(24*time.Hour)) + boolInt(s.cron.longestGap%(24*time.Hour) != 0)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}
