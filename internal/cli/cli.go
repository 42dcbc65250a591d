// Package cli is Arca's command line: `arca server` and the tools around it.
// Run is the whole program, so it can be tested without a process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/arca-kms/arca/internal/config"
	"github.com/arca-kms/arca/internal/server"
)

// Run executes the command line args (without the program name) and returns
// the process exit code.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "arca",
		Short:         "Arca: a self-hosted key management service and secrets manager with the AWS KMS API",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serverCmd(stdout, stderr), benchCmd(stdout), versionCmd(stdout), policyCmd(stdout), iamCmd(stdout), postureCmd(stdout))
	root.AddCommand(operatorCmd(stdin, stdout), auditCmd(stdout, stderr))
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, errSealedStatus) {
			return 2 // `arca operator status` already printed the state
		}
		fmt.Fprintln(stderr, "arca:", err)
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, errSealedStatus) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

func serverCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Arca server",
		Long: `Run the Arca server.

Settings come from flags, then ARCA_* environment variables, then the YAML
file named by --config (or ARCA_CONFIG), then defaults. In --dev mode the
root credentials come from ARCA_ROOT_ACCESS_KEY_ID and
ARCA_ROOT_SECRET_ACCESS_KEY when set, and are generated once otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Getenv)
			if err != nil {
				return usageError{err}
			}
			log := newLogger(stderr, cfg)
			return server.Run(cmd.Context(), cfg, server.Options{Stdout: stdout, Logger: log})
		},
	}
	config.RegisterFlags(cmd.Flags())
	return cmd
}

func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print Arca's version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintln(stdout, "arca", server.Version) },
	}
}
