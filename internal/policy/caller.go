package policy

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/auth"
)

// PrincipalOf is the authenticated caller as policies match it.
func PrincipalOf(c *auth.Caller) Principal {
	return Principal{Type: PrincipalType(c.PolicyType()), Account: c.Account, ARN: c.ARN, SourceARN: c.SourceARN}
}

// TimeKeys are the values of aws:CurrentTime and aws:EpochTime for one
// second.
type TimeKeys struct {
	sec            int64
	current, epoch string
}

// TimeKeysAt formats the time condition keys for t.
func TimeKeysAt(t time.Time) *TimeKeys {
	t = t.UTC()
	sec := t.Unix()
	return &TimeKeys{sec: sec, current: t.Format(time.RFC3339), epoch: strconv.FormatInt(sec, 10)}
}

// Clock hands out the time condition keys of its clock's current second,
// formatted once per second rather than once per request: on the hot path
// of Encrypt two time formats per call are measurable.
type Clock struct {
	now func() time.Time
	cur atomic.Pointer[TimeKeys]
}

// NewClock returns a Clock reading now (time.Now when nil).
func NewClock(now func() time.Time) *Clock {
	if now == nil {
		now = time.Now
	}
	return &Clock{now: now}
}

// Keys returns the time condition keys of the clock's current second.
func (c *Clock) Keys() *TimeKeys {
	now := c.now()
	if k := c.cur.Load(); k != nil && k.sec == now.Unix() {
		return k
	}
	k := TimeKeysAt(now)
	c.cur.Store(k)
	return k
}

// SetCaller sets the global condition keys AWS puts in every authenticated
// request (the principal keys, aws:userid, aws:username, aws:SourceIp,
// aws:SourceIdentity, aws:CurrentTime, aws:EpochTime, aws:SecureTransport
// and aws:PrincipalTag/*), in one place so that every service evaluates
// the same keys. c must be empty (fresh or Reset): the single-valued keys
// are appended without looking for earlier values.
func (c *Context) SetCaller(caller *auth.Caller, t *TimeKeys) {
	c.SetPrincipal(PrincipalOf(caller))
	c.Add("aws:userid", caller.UserID)
	if caller.UserName != "" {
		c.Add("aws:username", caller.UserName)
	}
	if caller.SourceIP != "" {
		c.Add("aws:SourceIp", caller.SourceIP)
	}
	if caller.SourceIdentity != "" {
		c.Add("aws:SourceIdentity", caller.SourceIdentity)
	}
	c.Add("aws:CurrentTime", t.current)
	c.Add("aws:EpochTime", t.epoch)
	c.SetBool("aws:SecureTransport", caller.SecureTransport)
	for k, v := range caller.Tags {
		c.Set("aws:PrincipalTag/"+k, v)
	}
}

// DecideCaller decides action on no particular resource ("*") for caller
// from its identity (and session) policies alone, with the global
// condition keys at now: the whole question for services that have no
// resource policies (security posture, the audit trail).
func DecideCaller(caller *auth.Caller, action string, identity []*Policy, session *Policy, now time.Time) Decision {
	var pc Context
	pc.SetCaller(caller, TimeKeysAt(now))
	req := Request{Action: action, Resource: "*", Principal: PrincipalOf(caller), Context: &pc}
	return DecideIdentity(Inputs{Request: req, IdentityPolicies: identity, SessionPolicy: session})
}
