package schedule

import (
	"math/bits"
	"strings"
	"time"
)

// bitset holds the allowed values of one cron field (bit i = value i).
type bitset uint64

func (b bitset) has(v int) bool { return b&(1<<uint(v)) != 0 }

// list returns the values in [lo, hi] that are set, in order.
func (b bitset) list(lo, hi int) []int {
	var out []int
	for v := lo; v <= hi; v++ {
		if b.has(v) {
			out = append(out, v)
		}
	}
	return out
}

// cronExpr is a parsed Secrets Manager cron expression.
type cronExpr struct {
	hours  bitset
	months bitset

	domAny  bool // Day-of-month is ?
	dom     bitset
	domLast bool // L: the last day of the month

	dowAny  bool   // Day-of-week is ?
	dow     bitset // 1 = SUN … 7 = SAT
	dowLast int    // NL: the last weekday N of the month (0 = unused)
	dowNth  int    // N#k: weekday N …
	dowK    int    // … the k-th of the month

	longestGap time.Duration // between two windows, over the years checked
}

var (
	monthNames = []string{"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
	dayNames   = []string{"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}
)

// fieldSpec describes one field's range, names and allowed wildcards.
type fieldSpec struct {
	name   string
	lo, hi int
	names  []string // names for lo, lo+1, …
}

var (
	hoursField = fieldSpec{name: "Hours", lo: 0, hi: 23}
	domField   = fieldSpec{name: "Day-of-month", lo: 1, hi: 31}
	monthField = fieldSpec{name: "Month", lo: 1, hi: 12, names: monthNames}
	dowField   = fieldSpec{name: "Day-of-week", lo: 1, hi: 7, names: dayNames}
)

func cronError(e, why string) error {
	return invalid("Invalid cron expression %s: %s", e, why)
}

func parseCron(e, body string) (*cronExpr, error) {
	f := strings.Split(body, " ")
	if len(f) != 6 {
		return nil, cronError(e, "a cron expression has six fields separated by single spaces: cron(Minutes Hours Day-of-month Month Day-of-week Year).")
	}
	if f[0] != "0" {
		return nil, cronError(e, "the Minutes field must be 0, because rotation windows open on the hour.")
	}
	if f[5] != "*" {
		return nil, cronError(e, "the Year field must be *, because Secrets Manager does not support rotation schedules that are more than a year apart.")
	}
	c := &cronExpr{}
	var err error
	if c.hours, err = parseList(e, f[1], hoursField); err != nil {
		return nil, err
	}
	if c.months, err = parseList(e, f[3], monthField); err != nil {
		return nil, err
	}
	switch {
	case f[2] == "?" && f[4] == "?":
		return nil, cronError(e, "only one of Day-of-month and Day-of-week can be ?.")
	case f[2] != "?" && f[4] != "?":
		return nil, cronError(e, "you can't specify both Day-of-month and Day-of-week: use ? in one of them.")
	}
	if f[2] == "?" {
		c.domAny = true
	} else if f[2] == "L" {
		c.domLast = true
	} else if c.dom, err = parseList(e, f[2], domField); err != nil {
		return nil, err
	}
	if f[4] == "?" {
		c.dowAny = true
	} else if err := c.parseDOW(e, f[4]); err != nil {
		return nil, err
	}
	if err := c.check(e); err != nil {
		return nil, err
	}
	return c, nil
}

// parseDOW handles Day-of-week's own forms: L (Saturday, the last day of the
// week), NL (the last weekday N of the month), N#k (the k-th weekday N).
func (c *cronExpr) parseDOW(e, v string) error {
	if v == "L" {
		c.dow = 1 << 7
		return nil
	}
	if n, k, ok := strings.Cut(v, "#"); ok {
		d, okd := value(n, dowField)
		kk, okk := positive(k)
		if !okd || !okk || kk > 5 {
			return cronError(e, "in Day-of-week, # takes a day (1–7 or SUN–SAT) and an occurrence from 1 to 5, for example 2#1 or MON#1.")
		}
		c.dowNth, c.dowK = d, kk
		return nil
	}
	if n, ok := strings.CutSuffix(v, "L"); ok && n != "" && !strings.ContainsAny(n, ",-/*") {
		d, okd := value(n, dowField)
		if !okd {
			return cronError(e, "in Day-of-week, L after a day (1–7 or SUN–SAT) means its last occurrence in the month, for example 6L or FRIL.")
		}
		c.dowLast = d
		return nil
	}
	var err error
	c.dow, err = parseList(e, v, dowField)
	return err
}

// parseList parses a comma-separated list of *, values, ranges and steps.
func parseList(e, v string, spec fieldSpec) (bitset, error) {
	var set bitset
	for _, item := range strings.Split(v, ",") {
		b, err := parseItem(e, item, spec)
		if err != nil {
			return 0, err
		}
		set |= b
	}
	return set, nil
}

func parseItem(e, item string, spec fieldSpec) (bitset, error) {
	bad := func() error {
		what := "a number"
		if spec.names != nil {
			what = "a number or name"
		}
		return cronError(e, "the "+spec.name+" field must be *, "+what+
			" from "+bound(spec, spec.lo)+" to "+bound(spec, spec.hi)+
			", a range (a-b), an increment (a/n) or a list of them separated by commas.")
	}
	rng, stepText, hasStep := strings.Cut(item, "/")
	step := 1
	if hasStep {
		s, ok := positive(stepText)
		if !ok || s > spec.hi {
			return 0, bad()
		}
		step = s
	}
	lo, hi := spec.lo, spec.hi
	switch {
	case rng == "*":
	case strings.Contains(rng, "-"):
		a, b, _ := strings.Cut(rng, "-")
		va, oka := value(a, spec)
		vb, okb := value(b, spec)
		if !oka || !okb || va > vb {
			return 0, bad()
		}
		lo, hi = va, vb
	default:
		va, ok := value(rng, spec)
		if !ok {
			return 0, bad()
		}
		lo = va
		if !hasStep {
			hi = va
		}
	}
	var set bitset
	for x := lo; x <= hi; x += step {
		set |= 1 << uint(x)
	}
	return set, nil
}

func bound(spec fieldSpec, v int) string {
	s := itoa(v)
	if spec.names != nil {
		s += " (" + spec.names[v-spec.lo] + ")"
	}
	return s
}

func itoa(v int) string {
	if v < 10 {
		return string(rune('0' + v))
	}
	return string(rune('0'+v/10)) + string(rune('0'+v%10))
}

// value parses a number or a (case-insensitive) name within spec's range.
func value(v string, spec fieldSpec) (int, bool) {
	for i, n := range spec.names {
		if strings.EqualFold(v, n) {
			return spec.lo + i, true
		}
	}
	if v == "" || len(v) > 2 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n >= spec.lo && n <= spec.hi
}

// matchDay reports whether the schedule rotates on date d.
func (c *cronExpr) matchDay(d time.Time) bool {
	if !c.months.has(int(d.Month())) {
		return false
	}
	day := d.Day()
	last := daysIn(d.Year(), d.Month())
	if c.dowAny {
		if c.domLast {
			return day == last
		}
		return c.dom.has(day)
	}
	wd := int(d.Weekday()) + 1 // 1 = SUN
	switch {
	case c.dowLast != 0:
		return wd == c.dowLast && day+7 > last
	case c.dowNth != 0:
		return wd == c.dowNth && (day-1)/7+1 == c.dowK
	}
	return c.dow.has(wd)
}

func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// maxSearchDays bounds next's search: any valid expression (Year is *)
// repeats within eight years (a leap day can skip a century year).
const maxSearchDays = 8*366 + 1

// next returns the first window opening (on the hour) strictly after t.
func (c *cronExpr) next(t time.Time) time.Time {
	t = t.Truncate(time.Hour).Add(time.Hour)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	fromHour := t.Hour()
	for i := 0; i < maxSearchDays; i++ {
		if c.matchDay(day) {
			if h := c.hours &^ (1<<uint(fromHour) - 1); h != 0 {
				return day.Add(time.Duration(bits.TrailingZeros64(uint64(h))) * time.Hour)
			}
		}
		day, fromHour = day.AddDate(0, 0, 1), 0
	}
	return time.Time{}
}

// check applies the rotation-specific limits: the expression matches some
// date, windows are at least four hours apart, and at most a year apart.
func (c *cronExpr) check(e string) error {
	if c.hours == 0 || c.months == 0 {
		return cronError(e, "the expression matches no time.")
	}
	// Walk four years (one leap cycle) of windows from a fixed date.
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.AddDate(4, 0, 0)
	var prev time.Time
	hours := c.hours.list(0, 23)
	for day := start; day.Before(end); day = day.AddDate(0, 0, 1) {
		if !c.matchDay(day) {
			continue
		}
		for _, h := range hours {
			at := day.Add(time.Duration(h) * time.Hour)
			if !prev.IsZero() {
				gap := at.Sub(prev)
				if gap < minRateHours*time.Hour {
					return cronError(e, "you can rotate a secret as often as every four hours.")
				}
				c.longestGap = max(c.longestGap, gap)
			}
			prev = at
		}
	}
	if prev.IsZero() {
		return cronError(e, "the expression matches no date.")
	}
	// The gap from the last window walked to the one after it.
	if n := c.next(prev); !n.IsZero() {
		c.longestGap = max(c.longestGap, n.Sub(prev))
	}
	if c.longestGap > 366*24*time.Hour {
		return cronError(e, "Secrets Manager does not support rotation schedules that are more than a year apart.")
	}
	return nil
}
