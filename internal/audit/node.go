package audit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// nodeIDFile holds the log's node ID in its directory.
const nodeIDFile = "node-id"

var nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidNodeID reports whether id may name a node: 1-64 of A-Z a-z 0-9 _ . -
func ValidNodeID(id string) bool { return nodeIDRE.MatchString(id) }

// NodeID returns the node ID of the log in dir: the one stored in
// dir/node-id, or, on first use, configured (when not empty) or 16 random
// hex digits, which it stores. One chain has one node ID for life, so a
// configured ID that differs from the stored one is an error: the shipped
// copy of the chain (keyed by node ID and sequence) would otherwise split.
func NodeID(dir, configured string) (string, error) {
	if configured != "" && !ValidNodeID(configured) {
		return "", fmt.Errorf("audit: node_id %q: want 1-64 of A-Z a-z 0-9 _ . -", configured)
	}
	path := filepath.Join(dir, nodeIDFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id := strings.TrimSpace(string(b))
		if !ValidNodeID(id) {
			return "", fmt.Errorf("audit: %s holds no valid node ID", path)
		}
		if configured != "" && configured != id {
			return "", fmt.Errorf("audit: node_id %q differs from %q, the node ID of the audit log in %s (a log keeps one node ID; use another audit_dir for another node)", configured, id, dir)
		}
		return id, nil
	case !errors.Is(err, os.ErrNotExist):
		return "", fmt.Errorf("audit: %w", err)
	}
	id := configured
	if id == "" {
		var r [8]byte
		if _, err := rand.Read(r[:]); err != nil {
			return "", err
		}
		id = hex.EncodeToString(r[:])
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("audit: %w", err)
	}
	return id, syncDir(dir)
}
