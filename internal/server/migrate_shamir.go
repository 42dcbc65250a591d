package server

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/arca-kms/arca/internal/barrier/seal"
	"github.com/arca-kms/arca/internal/barrier/seal/shamir"
)

// Migration to the Shamir seal.
//
// Shares must reach their holders before the keyring depends on them, so
// this migration has two steps, both on the running server (root
// credentials), after a start with `seal: shamir` and seal_migrate, which
// unseals with the old auto-unseal seal (toShamir):
//
//  1. migrate-seal/init {key_shares, key_threshold, age_recipients}: a new
//     root key is made and split; the shares and a nonce are returned.
//     Nothing is stored: the old seal still wraps the keyring.
//  2. migrate-seal/update {nonce, key}: the holders give back shares, one
//     per call. When the threshold is met and the shares combine to the new
//     root key, the keyring is rewrapped by it and the Shamir seal config
//     stored, in one transaction. Only then do the shares matter.
//
// A crash before the commit of step 2 leaves the old seal in place (the
// shares of step 1 are then worthless: start again); after it, the shares
// have already been shown to reach their holders.

// toShamirState is a migration to Shamir in progress.
type toShamirState struct {
	from      string // the stored seal type
	nonce     string
	rootKey   []byte // the new root key; cleared when done or cancelled
	shares    int
	threshold int
	progress  *shamir.Progress
}

// toShamirResponse answers migrate-seal/init and migrate-seal/update.
type toShamirResponse struct {
	Nonce        string   `json:"nonce"`
	UnsealShares []string `json:"unseal_shares,omitempty"`
	Threshold    int      `json:"threshold"`
	Progress     int      `json:"progress"`
	Complete     bool     `json:"complete"`
}

// cancelToShamir forgets a pending step 1. c.mu must be held.
func (c *core) cancelToShamir() {
	if c.toShamir != nil {
		clear(c.toShamir.rootKey)
		c.toShamir.rootKey = nil
		if c.toShamir.progress != nil {
			c.toShamir.progress.Reset()
		}
	}
}

// opToShamirInit is step 1 (root credentials were checked).
func (c *core) opToShamirInit(ctx context.Context, body []byte) (*toShamirResponse, error) {
	var in initRequest
	if err := decodeBody(body, &in); err != nil {
		return nil, err
	}
	if err := checkSplitRequest(in.KeyShares, in.KeyThreshold, in.AgeRecipients); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.toShamir
	if st == nil || c.sealed() {
		return nil, opErr(http.StatusConflict, opState, "no migration to the shamir seal is pending: start the server with seal: shamir and --seal-migrate (docs/OPERATIONS.md)")
	}
	c.cancelToShamir() // a second init replaces the first
	rootKey, err := shamir.NewRootKey()
	if err != nil {
		return nil, err
	}
	shares, err := splitKey(rootKey, in.KeyShares, in.KeyThreshold, in.AgeRecipients)
	if err != nil {
		clear(rootKey)
		return nil, err
	}
	st.nonce, st.rootKey, st.shares, st.threshold = randomNonce(), rootKey, in.KeyShares, in.KeyThreshold
	st.progress = shamir.NewProgress(in.KeyThreshold)
	c.log.Warn("seal migration to shamir: new shares issued; nothing changes until the threshold of them is given back with `arca operator migrate-seal --nonce`",
		"shares", in.KeyShares, "threshold", in.KeyThreshold)
	return &toShamirResponse{Nonce: st.nonce, UnsealShares: shares, Threshold: in.KeyThreshold}, nil
}

// toShamirUpdate is the body of migrate-seal/update.
type toShamirUpdate struct {
	Nonce string `json:"nonce"`
	Key   string `json:"key"`
}

// opToShamirUpdate is step 2 (root credentials were checked).
func (c *core) opToShamirUpdate(ctx context.Context, body []byte, ev *OperatorEvent) (*toShamirResponse, error) {
	var in toShamirUpdate
	if err := decodeBody(body, &in); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.toShamir
	if st == nil || st.rootKey == nil || st.nonce != in.Nonce || c.sealed() {
		return nil, opErr(http.StatusConflict, opState, "no migration to the shamir seal with that nonce is in progress")
	}
	share, err := shamir.DecodeShare(in.Key)
	if err != nil {
		return nil, opErr(http.StatusBadRequest, opValidation, "that is not an unseal share (base64 of 33 bytes, decrypted if it was encrypted to an age key)")
	}
	if err := st.progress.Add(share); err != nil {
		return nil, opErr(http.StatusBadRequest, opValidation, "that share conflicts with one already given")
	}
	ev.Progress, ev.Threshold, ev.Outcome = st.progress.Count(), st.threshold, "progress"
	out := &toShamirResponse{Nonce: st.nonce, Threshold: st.threshold, Progress: st.progress.Count()}
	if !st.progress.Ready() {
		return out, nil
	}
	key, err := st.progress.Combine()
	st.progress.Reset()
	if err != nil || subtle.ConstantTimeCompare(key, st.rootKey) != 1 {
		clear(key)
		return nil, opErr(http.StatusBadRequest, opBadShares, "the shares given are not the shares migrate-seal issued; the count was reset, give them again")
	}
	clear(key)
	sw, err := shamir.New(st.rootKey)
	if err != nil {
		return nil, err
	}
	enc, err := seal.Config{Version: 1, Type: seal.TypeShamir, Shares: st.shares, Threshold: st.threshold}.Encode()
	if err != nil {
		return nil, err
	}
	if err := c.b.RewrapWithSealConfig(ctx, sw, enc); err != nil {
		return nil, fmt.Errorf("seal migration from %s to shamir: %w (nothing was changed)", st.from, err)
	}
	from := st.from
	c.cancelToShamir()
	c.toShamir = nil
	closeSeal(c.auto)
	c.auto, c.autoType, c.wrapper = nil, seal.TypeShamir, sw
	c.log.Warn("seal migrated: the root key is now wrapped by the shamir seal; restart without --seal-migrate, and unseal with the new shares",
		"from", from, "shares", st.shares, "threshold", st.threshold)
	ev.Outcome, ev.Progress = "ok", 0
	out.Complete, out.Progress = true, 0
	return out, nil
}
