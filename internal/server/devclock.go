package server

import (
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/kms"
	"github.com/arca-kms/arca/internal/sigv4"
)

// clock is the server's time source. Outside dev mode it is time.Now; in dev
// mode tests may move it forward, so schedules are tested without sleeping.
type clock struct {
	offset atomic.Int64 // nanoseconds added to time.Now
}

func (c *clock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// DevClockPath is the dev-mode-only control that moves the server's clock.
const DevClockPath = "/_arca/dev/clock"

// devClock serves POST DevClockPath {"AdvanceSeconds": N}: it moves the
// clock forward by N seconds, runs one scheduler sweep before answering (so
// the caller sees its effect at once), and returns {"Now": epoch}. It exists
// only with --dev and only for a SigV4-signed root principal, because it can
// make keys due for deletion.
type devClock struct {
	clock *clock
	ver   *sigv4.Verifier
	princ principals
	sched *kms.Scheduler
}

func (d *devClock) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 4096))
	if err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	res, err := d.ver.Verify(r, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	p, err := d.princ.Principal(r.Context(), res.AccessKeyID, res.SessionToken)
	if err != nil || p.Type != auth.Root || p.Temporary {
		http.Error(w, "only a root principal may move the dev clock", http.StatusForbidden)
		return
	}
	var in struct{ AdvanceSeconds int64 }
	if err := json.Unmarshal(body, &in); err != nil || in.AdvanceSeconds < 0 {
		http.Error(w, `want {"AdvanceSeconds": N} with N >= 0`, http.StatusBadRequest)
		return
	}
	d.clock.offset.Add(int64(time.Duration(in.AdvanceSeconds) * time.Second))
	d.sched.SweepNow(r.Context())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct{ Now float64 }{float64(d.clock.Now().UnixMilli()) / 1000})
}
