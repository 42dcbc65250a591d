package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/arca-kms/arca/internal/backup"
	"github.com/arca-kms/arca/internal/barrier/seal"
	"github.com/arca-kms/arca/internal/barrier/seal/shamir"
	"github.com/arca-kms/arca/internal/config"
)

// rekeyState is a rekey in progress: the new split wanted, and the current
// shares collected so far (the current quorum authorizes the change).
type rekeyState struct {
	nonce             string
	shares, threshold int
	recipients        []string
	progress          *shamir.Progress
}

// rekeyResponse answers rekey/init and rekey/update. UnsealShares is set
// once, on the update that completes the rekey.
type rekeyResponse struct {
	Nonce        string   `json:"nonce"`
	Progress     int      `json:"progress"`
	Threshold    int      `json:"threshold"`
	NewShares    int      `json:"new_shares"`
	NewThreshold int      `json:"new_threshold"`
	Complete     bool     `json:"complete"`
	UnsealShares []string `json:"unseal_shares,omitempty"`
}

// cancelRekey forgets a rekey in progress. c.mu must be held.
func (c *core) cancelRekey() {
	if c.rekey != nil {
		c.rekey.progress.Reset()
		c.rekey = nil
	}
}

// opRekeyInit starts a rekey (root credentials were checked): a new split
// N/K, authorized by K' current shares given to rekey/update.
func (c *core) opRekeyInit(ctx context.Context, body []byte) (*rekeyResponse, error) {
	var in initRequest
	if err := decodeBody(body, &in); err != nil {
		return nil, err
	}
	if err := checkSplitRequest(in.KeyShares, in.KeyThreshold, in.AgeRecipients); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cfg, err := c.sealConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("read seal config: %w", err)
	}
	if cfg.Type != seal.TypeShamir {
		return nil, opErr(http.StatusConflict, opState, "rekey applies to the Shamir seal; this server's seal is "+cfg.Type)
	}
	if c.rekey != nil {
		return nil, opErr(http.StatusConflict, opState, "a rekey is already in progress (nonce "+c.rekey.nonce+"); cancel it first")
	}
	c.rekey = &rekeyState{nonce: randomNonce(), shares: in.KeyShares, threshold: in.KeyThreshold,
		recipients: in.AgeRecipients, progress: shamir.NewProgress(cfg.Threshold)}
	return c.rekeyStatus(), nil
}

func (c *core) rekeyStatus() *rekeyResponse {
	rk := c.rekey
	return &rekeyResponse{Nonce: rk.nonce, Progress: rk.progress.Count(), Threshold: rk.progress.Threshold(),
		NewShares: rk.shares, NewThreshold: rk.threshold}
}

// rekeyUpdate is the body of rekey/update.
type rekeyUpdate struct {
	Nonce string `json:"nonce"`
	Key   string `json:"key"`
}

// opRekeyUpdate takes one current share. At the threshold it combines them,
// checks them against the stored keyring (the GCM tag), makes a new root
// key, rewraps the keyring under it and stores the new seal config in the
// same transaction. The old shares stop working at that commit.
func (c *core) opRekeyUpdate(ctx context.Context, body []byte, ev *OperatorEvent) (*rekeyResponse, error) {
	var in rekeyUpdate
	if err := decodeBody(body, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealed() {
		return nil, opErr(http.StatusConflict, opState, msgSealed)
	}
	if c.rekey == nil || c.rekey.nonce != in.Nonce {
		return nil, opErr(http.StatusConflict, opState, "no rekey with that nonce is in progress")
	}
	share, err := shamir.DecodeShare(in.Key)
	if err != nil {
		return nil, opErr(http.StatusBadRequest, opValidation, "that is not an unseal share (base64 of 33 bytes)")
	}
	rk := c.rekey
	if err := rk.progress.Add(share); err != nil {
		return nil, opErr(http.StatusBadRequest, opValidation, "that share conflicts with one already given")
	}
	ev.Progress, ev.Threshold, ev.Outcome = rk.progress.Count(), rk.progress.Threshold(), "progress"
	if !rk.progress.Ready() {
		return c.rekeyStatus(), nil
	}
	old, err := rk.progress.Combine()
	if err != nil {
		return nil, opErr(http.StatusBadRequest, opBadShares, "the shares given do not open the keyring; the rekey's share count was reset")
	}
	oldSeal, err := shamir.New(old)
	clear(old)
	if err == nil {
		err = c.b.CheckWrapper(ctx, oldSeal)
	}
	if err != nil {
		return nil, opErr(http.StatusBadRequest, opBadShares, "the shares given do not open the keyring; the rekey's share count was reset")
	}
	rootKey, err := shamir.NewRootKey()
	if err != nil {
		return nil, err
	}
	defer clear(rootKey)
	newSeal, err := shamir.New(rootKey)
	if err != nil {
		return nil, err
	}
	shares, err := splitKey(rootKey, rk.shares, rk.threshold, rk.recipients)
	if err != nil {
		return nil, err
	}
	enc, err := seal.Config{Version: 1, Type: seal.TypeShamir, Shares: rk.shares, Threshold: rk.threshold}.Encode()
	if err != nil {
		return nil, err
	}
	if err := c.b.RewrapWithSealConfig(ctx, newSeal, enc); err != nil {
		return nil, fmt.Errorf("rewrap keyring: %w", err)
	}
	c.wrapper = newSeal
	out := c.rekeyStatus()
	out.Complete, out.UnsealShares, out.Progress = true, shares, 0
	c.rekey = nil
	ev.Outcome, ev.Progress = "ok", 0
	c.log.Info("rekeyed", "shares", rk.shares, "threshold", rk.threshold)
	return out, nil
}

// rotateResponse answers rotate-root.
type rotateResponse struct {
	Term uint32 `json:"term"`
}

// opRotate adds a keyring term (new writes use it at once) and starts the
// background re-encryption that moves every value to it and then drops the
// old terms.
func (c *core) opRotate(ctx context.Context) (*rotateResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sealed() || c.wrapper == nil {
		return nil, opErr(http.StatusConflict, opState, msgSealed)
	}
	term, err := c.b.Rotate(ctx, c.wrapper)
	if err != nil {
		return nil, fmt.Errorf("rotate: %w", err)
	}
	c.startReencrypt()
	c.log.Info("root keyring rotated", "term", term)
	return &rotateResponse{Term: term}, nil
}

// startReencrypt runs barrier.Reencrypt in the background, once more if a
// rotation happens while it runs. c.mu must be held.
func (c *core) startReencrypt() {
	if c.rewrapRunning {
		return // the running pass re-reads the active term and prune re-checks everything
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.rewrapRunning, c.rewrapCancel = true, cancel
	done := make(chan struct{})
	c.rewrapDone = done
	go func() {
		defer close(done)
		defer cancel()
		for attempt := 0; ; attempt++ {
			start := time.Now()
			n, err := c.b.Reencrypt(ctx)
			if err == nil {
				c.log.Info("re-encryption after rotation complete", "values", n, "took", time.Since(start).Round(time.Millisecond))
				break
			}
			if ctx.Err() != nil || attempt == 4 {
				c.log.Warn("re-encryption after rotation stopped; it resumes at the next rotate-root", "err", err)
				break
			}
			c.log.Warn("re-encryption after rotation failed; retrying", "err", err)
			time.Sleep(time.Second)
		}
		c.mu.Lock()
		c.rewrapRunning, c.rewrapCancel = false, nil
		c.mu.Unlock()
	}()
}

// opBackup streams a snapshot of storage as stored (see internal/backup).
func (c *core) opBackup(ctx context.Context, w http.ResponseWriter) error {
	if c.raw == nil {
		return errors.New("no raw storage")
	}
	ents, err := backup.Read(ctx, c.raw)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if err := backup.Write(w, ents); err != nil {
		// The status is sent; the client sees a truncated snapshot, which
		// fails its digest check.
		c.log.Warn("backup: sending the snapshot failed", "err", err)
	}
	return nil
}

// Restore writes a snapshot (see internal/backup) into the storage cfg
// names, offline, and returns how many records it wrote: a new, empty bolt
// data dir, or an empty PostgreSQL database (its schema is created first).
// The snapshot's format does not depend on the backend, so a snapshot of
// either restores into either. A server then starts sealed on it and is
// unsealed as usual.
func Restore(ctx context.Context, cfg config.Config, r io.Reader) (int, error) {
	ents, err := backup.Parse(r)
	if err != nil {
		return 0, err
	}
	if cfg.Storage != "postgres" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return 0, fmt.Errorf("data dir: %w", err)
		}
	}
	bk, err := openStorage(ctx, cfg, "restore", slog.New(slog.DiscardHandler))
	if err != nil {
		return 0, err
	}
	defer bk.Close()
	if err := backup.Restore(ctx, bk, ents); err != nil {
		return 0, err
	}
	return len(ents), bk.Close()
}
