package server

import (
	"context"
	"fmt"
	"github.com/arca-kms/arca/internal/audit"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal"
	"github.com/arca-kms/arca/internal/barrier/seal/shamir"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/transport/httpreq"
)

// The seal lifecycle.
//
// A core owns the barrier and the seal state machine:
//
//	uninitialized ──init──► unsealed ◄──unseal (K shares) / auto-unseal── sealed
//	                           │                                            ▲
//	                           └──────────────── seal ──────────────────────┘
//
// While sealed, the barrier holds no key and no service exists: every API
// request is answered 503 "Arca is sealed" by the core itself. unsealWith is
// the one place a barrier.Wrapper opens the keyring; on success it builds
// the services afresh (identity store, keystore, KMS, IAM, the scheduler:
// build) and publishes their handler with one atomic store, so a request
// sees either the sealed answer or a complete set of services. Seal
// unpublishes the handler first, then wipes the keyring (barrier.Seal) and
// the services' caches (stop). Operator endpoints (operator.go) drive the
// transitions; an auto-unseal seal (HSM, another KMS) drives unsealWith at
// start with no operator.

// services is everything built over an unsealed barrier.
type services struct {
	// api serves the AWS APIs (and, in dev mode, the dev clock).
	api http.Handler
	// authn authenticates operator requests that need root credentials.
	authn rootAuthenticator
	// ensureRoot makes sure the default account has root credentials,
	// creating them (or taking id/secret when given) and returning them.
	ensureRoot func(ctx context.Context, id string, secret []byte) (string, []byte, error)
	// stop stops background work and wipes the services' caches of
	// unwrapped material. It returns once the background work has ended.
	stop func()
	// release, run while the barrier is still open, gives up the
	// scheduler lease so another node (or this one, restarted) takes over
	// at once instead of after its expiry. May be nil.
	release func()
	// record appends an operator event to the audit log (operator_audit.go);
	// nil when audit is switched off.
	record func(ctx context.Context, ev *audit.Event) error
}

// rootAuthenticator checks that a request is SigV4-signed by an account
// root (the deployment operator's default account).
type rootAuthenticator func(r *http.Request, body []byte) (principalARN string, err error)

// buildFunc constructs the services over an unsealed barrier.
type buildFunc func(ctx context.Context) (*services, error)

// OperatorEvent is one operator action on the seal (init, unseal share,
// seal, rekey, rotate-root, backup), for the audit log. It never carries
// shares or keys.
type OperatorEvent struct {
	// Op is init, unseal, seal, rekey-init, rekey-update, rekey-cancel,
	// rotate-root, backup, migrate-seal/init, migrate-seal/update, or
	// migrate-seal (a migration committed or failed at start or unseal).
	Op string
	// Outcome is "ok", "progress" (a share was accepted, threshold not
	// yet met), "denied" or "failed".
	Outcome string
	// Progress and Threshold are the share counts after the call.
	Progress, Threshold int
	// SourceIP is the caller's address; Principal the SigV4 caller, if any.
	SourceIP, Principal string
	// Detail is a client-safe reason for a refusal or failure.
	Detail string
}

// core is the seal state machine; see the comment above.
type core struct {
	b     *barrier.Barrier
	raw   storage.Backend // the storage under the barrier, for backups
	log   *slog.Logger
	build buildFunc
	// auto is the auto-unseal seal (dev, pkcs11, awskms), nil for Shamir.
	auto barrier.Wrapper
	// autoType is the seal type of auto, as recorded in the seal config.
	autoType string
	// migrate is a seal migration waiting for the unseal shares (migrate.go);
	// guarded by mu.
	migrate *migration
	// toShamir is a migration to the Shamir seal waiting for the operator
	// (migrate_shamir.go); guarded by mu.
	toShamir *toShamirState
	// audit receives operator events (Options.AuditOperator).
	audit func(context.Context, OperatorEvent)
	// ops holds operator events waiting for the audit log; guarded by
	// opsMu, not mu, since events are emitted with and without mu held.
	opsMu sync.Mutex
	ops   operatorAudit
	// backend and maxStale feed /healthz's staleness check (storage.go).
	backend  storage.Backend
	maxStale time.Duration

	live atomic.Pointer[services] // nil while sealed

	// mu serializes transitions (init, unseal, seal, rekey, rotate) and
	// guards the fields below.
	mu       sync.Mutex
	wrapper  barrier.Wrapper  // the seal that opened the keyring; nil while sealed
	progress *shamir.Progress // unseal shares collected so far
	rekey    *rekeyState      // a rekey in progress
	// rewrap is the background re-encryption after rotate-root.
	rewrapRunning bool
	rewrapDone    chan struct{}
	rewrapCancel  context.CancelFunc
}

// Client-facing messages of the operator endpoints.
const (
	msgSealed        = "Arca is sealed"
	msgNotInit       = "Arca is not initialized: run `arca operator init`"
	msgAlreadyInit   = "Arca is already initialized"
	msgBadShares     = "the unseal shares given do not open the keyring; the unseal attempt was reset, start again with `arca operator unseal`"
	msgAutoSealNoOps = "this server uses an auto-unseal seal: it unseals itself and takes no unseal shares (run `arca operator unseal` with no share to unseal it again after a seal)"
)

// sealed reports whether no services are live.
func (c *core) sealed() bool { return c.live.Load() == nil }

// unsealWith is the single point where a wrapper opens the keyring: an
// auto-unseal seal calls it at start, the Shamir seal once the unseal
// shares are combined, the dev seal at every start. On success the services
// are built and published and the wrapper is kept for rotate-root and
// rekey until the next seal. c.mu must be held.
func (c *core) unsealWith(ctx context.Context, w barrier.Wrapper) error {
	if c.live.Load() != nil {
		return nil
	}
	if err := c.b.Unseal(ctx, w); err != nil {
		return err
	}
	w, err := c.afterUnseal(ctx, w)
	if err != nil {
		return err
	}
	return c.publish(ctx, w)
}

// publish builds the services over the (now unsealed) barrier and makes
// them live. c.mu must be held.
func (c *core) publish(ctx context.Context, w barrier.Wrapper) error {
	svc, err := c.build(ctx)
	if err != nil {
		c.b.Seal()
		return fmt.Errorf("start services: %w", err)
	}
	c.wrapper = w
	c.live.Store(svc)
	c.log.Info("unsealed")
	c.flushOperator(ctx)
	return nil
}

// seal makes every API call answer "sealed", stops background work, wipes
// the services' caches and the keyring, and forgets the wrapper. c.mu must
// be held.
func (c *core) seal() {
	svc := c.live.Swap(nil)
	if c.rewrapCancel != nil {
		c.rewrapCancel()
	}
	if svc != nil && svc.release != nil {
		svc.release()
	}
	c.b.Seal()
	if svc != nil {
		svc.stop()
	}
	c.wrapper = nil
	if c.progress != nil {
		c.progress.Reset()
	}
	c.cancelRekey()
	c.cancelToShamir()
	c.log.Info("sealed")
}

// sealConfig returns the stored seal config (seal.ErrNoConfig when none).
func (c *core) sealConfig(ctx context.Context) (seal.Config, error) {
	return seal.Load(ctx, c.b)
}

// ServeHTTP routes operator endpoints and /healthz to the core, and every
// other request to the live services, or answers "sealed".
func (c *core) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, OperatorPathPrefix):
		c.serveOperator(w, r)
		return
	case r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		c.serveHealth(w, r)
		return
	}
	if svc := c.live.Load(); svc != nil {
		svc.api.ServeHTTP(w, r)
		return
	}
	writeSealed(w, r)
}

// writeSealed answers an API request while sealed: 503 with the AWS error
// shape of the request's protocol (AWS JSON: __type KMSInternalException;
// AWS Query: an ErrorResponse with code ServiceUnavailable).
func writeSealed(w http.ResponseWriter, r *http.Request) {
	reqID := httpreq.NewRequestID()
	h := w.Header()
	h.Set("x-amzn-RequestId", reqID)
	h.Set("Retry-After", "5")
	if isQuery(r) {
		h.Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>Arca is sealed</Message></Error><RequestId>%s</RequestId></ErrorResponse>`, reqID)
		return
	}
	h.Set("Content-Type", "application/x-amz-json-1.1")
	h.Set("x-amzn-ErrorType", "KMSInternalException")
	w.WriteHeader(http.StatusServiceUnavailable)
	w.Write([]byte(`{"__type":"KMSInternalException","message":"Arca is sealed"}`))
}

// healthBody is GET /healthz.
type healthBody struct {
	Status      string `json:"status"` // ok, sealed, uninitialized, stale
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	Version     string `json:"version,omitempty"`
}

// serveHealth answers 200 when unsealed, 503 when sealed and 501 when not
// initialized, so a load balancer sends traffic only to unsealed nodes; and
// 503 "stale" when storage is shared and this node has lost sight of the
// other nodes' changes for longer than max_staleness (storage.go).
func (c *core) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := healthBody{Status: "ok", Initialized: true, Version: Version}
	code := http.StatusOK
	if c.sealed() {
		h.Sealed, h.Status, code = true, "sealed", http.StatusServiceUnavailable
		if init, err := c.b.Initialized(r.Context()); err == nil && !init {
			h.Initialized, h.Status, code = false, "uninitialized", http.StatusNotImplemented
		}
	} else if storageStale(c.backend, c.maxStale) {
		h.Status, code = "stale", http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}
