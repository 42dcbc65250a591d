package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/arca-kms/arca/internal/barrier"
	"github.com/arca-kms/arca/internal/barrier/seal"
	"github.com/arca-kms/arca/internal/barrier/seal/shamir"
	"github.com/arca-kms/arca/internal/transport/httpreq"
)

// OperatorPathPrefix is where the operator endpoints live. They speak plain
// JSON (not an AWS protocol) and are served sealed or not:
//
//	GET  status         no credentials      seal state and unseal progress
//	POST init           no credentials      only while uninitialized
//	POST unseal         one unseal share    the share is the credential
//	POST seal           SigV4, account root
//	POST rotate-root    SigV4, account root
//	POST rekey/init     SigV4, account root starts a rekey, returns a nonce
//	POST rekey/update   one current share   the share (and nonce) is the credential
//	POST rekey/cancel   SigV4, account root
//	GET  backup         SigV4, account root an encrypted snapshot of storage
//
// init and unseal cannot require credentials (none exist before init, and
// none can be checked while sealed), as in Vault; a share is itself the
// proof. Errors are JSON {"__type", "message"} with a 4xx status.
const OperatorPathPrefix = "/_arca/operator/"

// Operator error types.
const (
	opValidation  = "ValidationException"          // 400: malformed request
	opBadShares   = "IncorrectUnsealKeysException" // 400: shares do not open the keyring
	opDenied      = "AccessDeniedException"        // 403: SigV4 root credentials required
	opState       = "InvalidStateException"        // 409: wrong state (sealed, not initialized, ...)
	opUnavailable = "ServiceUnavailableException"  // 503: storage or seal failure
)

type opError struct {
	status int
	typ    string
	msg    string
}

func (e *opError) Error() string { return e.msg }

func opErr(status int, typ, msg string) error { return &opError{status, typ, msg} }

// statusBody is the answer of status, unseal and seal.
type statusBody struct {
	Initialized bool   `json:"initialized"`
	Sealed      bool   `json:"sealed"`
	Type        string `json:"type,omitempty"`
	Progress    int    `json:"progress"`
	Threshold   int    `json:"threshold"`
	Shares      int    `json:"shares"`
	Version     string `json:"version"`
	// ActiveTerm and Terms describe the barrier keyring while unsealed;
	// Terms > 1 means re-encryption after rotate-root is not done.
	ActiveTerm   uint32 `json:"active_term,omitempty"`
	Terms        int    `json:"terms,omitempty"`
	Reencrypting bool   `json:"reencrypting,omitempty"`
	RekeyNonce   string `json:"rekey_nonce,omitempty"`
}

// initRequest is the body of POST init.
type initRequest struct {
	KeyShares     int      `json:"key_shares"`
	KeyThreshold  int      `json:"key_threshold"`
	AgeRecipients []string `json:"age_recipients,omitempty"`
	// Seal, when set, is the seal the operator expects the server to use
	// (`arca operator init --seal pkcs11`); a mismatch is refused.
	Seal string `json:"seal,omitempty"`
}

// initResponse is the answer of POST init; it is the only time the shares
// and the root secret are shown.
type initResponse struct {
	UnsealShares        []string `json:"unseal_shares"`
	Threshold           int      `json:"threshold"`
	RootAccessKeyID     string   `json:"root_access_key_id"`
	RootSecretAccessKey string   `json:"root_secret_access_key"`
}

func (c *core) serveOperator(w http.ResponseWriter, r *http.Request) {
	op := r.URL.Path[len(OperatorPathPrefix):]
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeOpError(w, opErr(http.StatusBadRequest, opValidation, "could not read the request body"))
		return
	}
	ev := OperatorEvent{Op: op, SourceIP: httpreq.SourceIP(r)}
	var out any
	switch {
	case op == "status" && r.Method == http.MethodGet:
		out, err = c.status(r.Context())
		ev.Op = "" // reads are not audited
	case op == "init" && r.Method == http.MethodPost:
		out, err = c.opInit(r.Context(), body)
	case op == "unseal" && r.Method == http.MethodPost:
		out, err = c.opUnseal(r.Context(), body, &ev)
	case op == "seal" && r.Method == http.MethodPost:
		if err = c.authRoot(r, body, &ev); err == nil {
			out, err = c.opSeal(r.Context())
		}
	case op == "rotate-root" && r.Method == http.MethodPost:
		if err = c.authRoot(r, body, &ev); err == nil {
			out, err = c.opRotate(r.Context())
		}
	case op == "rekey/init" && r.Method == http.MethodPost:
		if err = c.authRoot(r, body, &ev); err == nil {
			out, err = c.opRekeyInit(r.Context(), body)
		}
	case op == "rekey/update" && r.Method == http.MethodPost:
		out, err = c.opRekeyUpdate(r.Context(), body, &ev)
	case op == "rekey/cancel" && r.Method == http.MethodPost:
		if err = c.authRoot(r, body, &ev); err == nil {
			c.mu.Lock()
			c.cancelRekey()
			c.mu.Unlock()
			out, err = c.status(r.Context())
		}
	case op == "migrate-seal/init" && r.Method == http.MethodPost:
		if err = c.authRoot(r, body, &ev); err == nil {
			out, err = c.opToShamirInit(r.Context(), body)
		}
	case op == "migrate-seal/update" && r.Method == http.MethodPost:
		// Like rekey/update: the new shares and the nonce are the authority.
		out, err = c.opToShamirUpdate(r.Context(), body, &ev)
	case op == "backup" && r.Method == http.MethodGet:
		if err = c.authRoot(r, body, &ev); err == nil {
			err = c.opBackup(r.Context(), w)
			if err == nil {
				c.emit(r.Context(), ev, nil)
				return
			}
		}
	default:
		writeOpError(w, opErr(http.StatusNotFound, opValidation, "unknown operator endpoint or method: "+r.Method+" "+r.URL.Path))
		return
	}
	if ev.Op != "" {
		c.emit(r.Context(), ev, err)
	}
	if err != nil {
		writeOpError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// emit sends an operator event to the audit hook (and the log).
func (c *core) emit(ctx context.Context, ev OperatorEvent, err error) {
	if ev.Outcome == "" {
		ev.Outcome = "ok"
	}
	if err != nil {
		ev.Outcome = "failed"
		var oe *opError
		if errors.As(err, &oe) {
			ev.Detail = oe.msg
			if oe.status == http.StatusForbidden {
				ev.Outcome = "denied"
			}
		} else {
			ev.Detail = "internal error"
			c.log.Error("operator action failed", "op", ev.Op, "err", err)
		}
	}
	c.log.Info("operator", "op", ev.Op, "outcome", ev.Outcome, "progress", ev.Progress, "threshold", ev.Threshold,
		"source_ip", ev.SourceIP, "principal", ev.Principal, "detail", ev.Detail)
	c.recordOperator(ctx, ev)
	if c.audit != nil {
		c.audit(ctx, ev)
	}
}

// authRoot checks SigV4 root credentials. The identity store is behind the
// barrier, so this needs the server unsealed.
func (c *core) authRoot(r *http.Request, body []byte, ev *OperatorEvent) error {
	svc := c.live.Load()
	if svc == nil {
		return opErr(http.StatusConflict, opState, msgSealed+": this operation needs root credentials, which can only be checked while unsealed")
	}
	p, err := svc.authn(r, body)
	if err != nil {
		return opErr(http.StatusForbidden, opDenied, "this operation needs a request signed (SigV4) by the root user of the default account: "+err.Error())
	}
	ev.Principal = p
	return nil
}

func (c *core) status(ctx context.Context) (*statusBody, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.statusLocked(ctx)
}

func (c *core) statusLocked(ctx context.Context) (*statusBody, error) {
	st := &statusBody{Sealed: c.sealed(), Version: Version}
	init, err := c.b.Initialized(ctx)
	if err != nil {
		return nil, opErr(http.StatusServiceUnavailable, opUnavailable, "storage is unavailable")
	}
	st.Initialized = init
	if !init {
		return st, nil
	}
	cfg, err := c.sealConfig(ctx)
	if err == nil {
		st.Type, st.Shares, st.Threshold = cfg.Type, cfg.Shares, cfg.Threshold
	}
	if c.progress != nil {
		st.Progress = c.progress.Count()
	}
	if !st.Sealed {
		st.ActiveTerm, st.Terms, _ = c.b.Terms()
		st.Reencrypting = c.rewrapRunning
		if c.rekey != nil {
			st.RekeyNonce = c.rekey.nonce
		}
	}
	return st, nil
}

func decodeBody(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return opErr(http.StatusBadRequest, opValidation, "the request body is not valid JSON for this endpoint: "+err.Error())
	}
	return nil
}

func checkSplitRequest(shares, threshold int, recipients []string) error {
	if err := seal.CheckSplit(shares, threshold); err != nil {
		return opErr(http.StatusBadRequest, opValidation, err.Error())
	}
	if len(recipients) > 0 && len(recipients) != shares {
		return opErr(http.StatusBadRequest, opValidation, fmt.Sprintf("give one age recipient per share: %d recipients for %d shares", len(recipients), shares))
	}
	for i, rc := range recipients {
		if err := shamir.CheckRecipient(rc); err != nil {
			return opErr(http.StatusBadRequest, opValidation, fmt.Sprintf("age recipient %d is not an age public key (age1...)", i+1))
		}
	}
	return nil
}

// splitKey splits rootKey and encodes each share, encrypted to its age
// recipient when recipients are given.
func splitKey(rootKey []byte, shares, threshold int, recipients []string) ([]string, error) {
	parts, err := shamir.Split(rootKey, shares, threshold)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = shamir.EncodeShare(p)
		clear(p)
		if len(recipients) > 0 {
			if out[i], err = shamir.EncryptShare(out[i], recipients[i]); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// opInit initializes an uninitialized server: a fresh root key is split
// into shares (Shamir) or the auto-unseal seal wraps the keyring; the
// barrier is initialized (keyring and seal config in one transaction), the
// services start, and the root credentials of the default account are
// created. Shares and the root secret are returned once and never stored.
func (c *core) opInit(ctx context.Context, body []byte) (*initResponse, error) {
	var in initRequest
	if err := decodeBody(body, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	init, err := c.b.Initialized(ctx)
	if err != nil {
		return nil, opErr(http.StatusServiceUnavailable, opUnavailable, "storage is unavailable")
	}
	if init {
		return nil, opErr(http.StatusConflict, opState, msgAlreadyInit)
	}
	out := &initResponse{UnsealShares: []string{}}
	var w barrier.Wrapper
	var cfg seal.Config
	if in.Seal != "" && in.Seal != c.autoType {
		return nil, opErr(http.StatusBadRequest, opValidation, "this server is configured with the "+c.autoType+" seal, not "+in.Seal+": start it with --seal "+in.Seal+" (and that seal's settings) to initialize it so")
	}
	if c.auto != nil {
		if in.KeyShares != 0 || in.KeyThreshold != 0 {
			return nil, opErr(http.StatusBadRequest, opValidation, "this server's seal ("+c.autoType+") unseals automatically: run `arca operator init --seal "+c.autoType+"`, without key shares")
		}
		w, cfg = c.auto, sealConfigFor(c.autoType, c.auto)
	} else {
		if err := checkSplitRequest(in.KeyShares, in.KeyThreshold, in.AgeRecipients); err != nil {
			return nil, err
		}
		rootKey, err := shamir.NewRootKey()
		if err != nil {
			return nil, err
		}
		defer clear(rootKey)
		sw, err := shamir.New(rootKey)
		if err != nil {
			return nil, err
		}
		if out.UnsealShares, err = splitKey(rootKey, in.KeyShares, in.KeyThreshold, in.AgeRecipients); err != nil {
			return nil, err
		}
		out.Threshold = in.KeyThreshold
		w, cfg = sw, seal.Config{Version: 1, Type: seal.TypeShamir, Shares: in.KeyShares, Threshold: in.KeyThreshold}
	}
	enc, err := cfg.Encode()
	if err != nil {
		return nil, err
	}
	if err := c.b.InitializeWithSealConfig(ctx, w, enc); err != nil {
		if errors.Is(err, barrier.ErrAlreadyInitialized) {
			return nil, opErr(http.StatusConflict, opState, msgAlreadyInit)
		}
		return nil, fmt.Errorf("initialize: %w", err)
	}
	if err := c.publish(ctx, w); err != nil {
		return nil, err
	}
	akid, secret, err := c.live.Load().ensureRoot(ctx, "", nil)
	if err != nil {
		return nil, fmt.Errorf("create root credentials: %w", err)
	}
	out.RootAccessKeyID, out.RootSecretAccessKey = akid, string(secret)
	c.log.Info("initialized", "seal", cfg.Type, "shares", cfg.Shares, "threshold", cfg.Threshold)
	return out, nil
}

// unsealRequest is the body of POST unseal: one share, or reset.
type unsealRequest struct {
	Key   string `json:"key"`
	Reset bool   `json:"reset,omitempty"`
}

// opUnseal takes one share. When the threshold is met it combines the
// shares and unseals; if the combined key does not open the keyring (the
// GCM tag fails) the attempt is reset and an error says so.
func (c *core) opUnseal(ctx context.Context, body []byte, ev *OperatorEvent) (*statusBody, error) {
	var in unsealRequest
	if err := decodeBody(body, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if in.Reset {
		if c.progress != nil {
			c.progress.Reset()
		}
		return c.statusLocked(ctx)
	}
	if !c.sealed() {
		return c.statusLocked(ctx)
	}
	cfg, err := c.sealConfig(ctx)
	if errors.Is(err, seal.ErrNoConfig) {
		return nil, opErr(http.StatusConflict, opState, msgNotInit)
	}
	if err != nil {
		return nil, fmt.Errorf("read seal config: %w", err)
	}
	if cfg.Type != seal.TypeShamir {
		// An auto-unseal server sealed by `arca operator seal` unseals
		// again through its seal, without shares.
		if c.auto == nil || c.autoType != cfg.Type || in.Key != "" {
			return nil, opErr(http.StatusConflict, opState, msgAutoSealNoOps)
		}
		if err := c.unsealWith(ctx, c.auto); err != nil {
			return nil, fmt.Errorf("auto-unseal with the %s seal: %w", cfg.Type, err)
		}
		return c.statusLocked(ctx)
	}
	share, err := shamir.DecodeShare(in.Key)
	if err != nil {
		return nil, opErr(http.StatusBadRequest, opValidation, "that is not an unseal share (base64 of 33 bytes, as `arca operator init` printed it)")
	}
	if c.progress == nil || c.progress.Threshold() != cfg.Threshold {
		c.progress = shamir.NewProgress(cfg.Threshold)
	}
	if err := c.progress.Add(share); err != nil {
		return nil, opErr(http.StatusBadRequest, opValidation, "that share conflicts with one already given (same share number, other bytes)")
	}
	ev.Progress, ev.Threshold, ev.Outcome = c.progress.Count(), cfg.Threshold, "progress"
	if !c.progress.Ready() {
		return c.statusLocked(ctx)
	}
	key, err := c.progress.Combine()
	if err != nil {
		return nil, opErr(http.StatusBadRequest, opBadShares, msgBadShares)
	}
	defer clear(key)
	sw, err := shamir.New(key)
	if err != nil {
		return nil, opErr(http.StatusBadRequest, opBadShares, msgBadShares)
	}
	ev.Progress = 0
	if err := c.unsealWith(ctx, sw); err != nil {
		if errors.Is(err, shamir.ErrWrongKey) {
			return nil, opErr(http.StatusBadRequest, opBadShares, msgBadShares)
		}
		return nil, fmt.Errorf("unseal: %w", err)
	}
	ev.Outcome = "ok"
	return c.statusLocked(ctx)
}

func (c *core) opSeal(ctx context.Context) (*statusBody, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seal()
	return c.statusLocked(ctx)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"__type":"InternalFailure","message":"encoding failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

func writeOpError(w http.ResponseWriter, err error) {
	var oe *opError
	if !errors.As(err, &oe) {
		// Internal details stay in the log (emit); the client learns only
		// that the server failed.
		oe = &opError{http.StatusServiceUnavailable, opUnavailable, "the operation failed inside the server; see its log"}
	}
	writeJSON(w, oe.status, struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{oe.typ, oe.msg})
}

func randomNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
