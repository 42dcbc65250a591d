package server

import (
	"context"
	"log/slog"

	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/secrets"
	"github.com/arca-kms/arca/internal/secrets/rotator"
	"github.com/arca-kms/arca/internal/sts"
)

// newRotators builds the configured rotators, reading each webhook's HMAC
// secret from the environment variable the config names. A rotator type
// that this build does not implement yet is skipped with a warning, so a
// secret naming it fails its rotation (recorded) instead of the server
// refusing to start.
func newRotators(cfgs []config.Rotator, getenv func(string) string, log *slog.Logger) (map[string]rotator.Rotator, error) {
	out := make(map[string]rotator.Rotator, len(cfgs))
	for _, c := range cfgs {
		rc := rotator.Config{Name: c.Name, Type: c.Type, Strategy: c.Strategy, URL: c.URL, Timeout: c.Timeout, Logger: log}
		if c.HMACSecretEnv != "" {
			rc.HMACSecret = getenv(c.HMACSecretEnv)
		}
		r, err := rotator.New(rc)
		if err != nil {
			return nil, err
		}
		out[c.Name] = r
	}
	return out, nil
}

// secretsSweep adapts the secrets sweep to the scheduler's.
func secretsSweep(s *secrets.Service) func(context.Context) ([]slog.Attr, error) {
	return func(ctx context.Context) ([]slog.Attr, error) {
		rep, err := s.Sweep(ctx)
		return nonZero(slog.Int("deleted", rep.Deleted), slog.Int("rotated", rep.Rotated), slog.Int("failed", rep.Failed)), err
	}
}

// stsSweep adapts the STS session sweep to the scheduler's.
func stsSweep(s *sts.Service) func(context.Context) ([]slog.Attr, error) {
	return func(ctx context.Context) ([]slog.Attr, error) {
		n, err := s.Sweep(ctx)
		return nonZero(slog.Int("removed", n)), err
	}
}

// nonZero keeps the integer attributes that are not zero.
func nonZero(attrs ...slog.Attr) []slog.Attr {
	out := attrs[:0]
	for _, a := range attrs {
		if a.Value.Int64() != 0 {
			out = append(out, a)
		}
	}
	return out
}
