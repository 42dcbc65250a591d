package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arca-kms/arca/internal/config"
)

func devConfig(dir string) config.Config {
	c := config.Defaults()
	c.Dev, c.DataDir, c.Listen = true, dir, "127.0.0.1:0"
	return c
}

func quiet() Options {
	return Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Getenv: func(string) string { return "" }}
}

// runBriefly starts the server and stops it once it has initialized.
func runBriefly(t *testing.T, cfg config.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	return Run(ctx, cfg, quiet())
}

// TestMissingDevSealKey: a data dir initialized under a dev seal key whose
// key file is gone must fail clearly, not silently get a new key.
func TestMissingDevSealKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := runBriefly(t, devConfig(dir)); err != nil {
		t.Fatalf("first start: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, "dev-seal.key")); err != nil {
		t.Fatal(err)
	}
	err := runBriefly(t, devConfig(dir))
	if err == nil || !strings.Contains(err.Error(), "dev-seal.key is missing") {
		t.Errorf("start without the seal key = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "dev-seal.key")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a replacement seal key was created")
	}
}
