package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/arca-kms/arca/internal/loadgen"
)

func benchCmd(stdout io.Writer) *cobra.Command {
	var (
		cfg      loadgen.Config
		ops      string
		workers  string
		header   bool
		duration time.Duration
		label    string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Drive an Arca server with signed keep-alive requests and report ops/s, latency and server CPU per op",
		Long: `Drive an Arca server with SigV4-signed keep-alive requests from concurrent
workers and print ops/s, p50/p99 latency and the server's CPU time per
operation (read from /proc/PID/stat, given --pid). The secret access key is
read from ARCA_BENCH_SECRET_ACCESS_KEY. "make bench" runs the standard set.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Secret = []byte(os.Getenv("ARCA_BENCH_SECRET_ACCESS_KEY"))
			if cfg.AccessKeyID == "" || len(cfg.Secret) == 0 {
				return usageError{errors.New("bench: --access-key-id and ARCA_BENCH_SECRET_ACCESS_KEY are required")}
			}
			cfg.Duration = duration
			if header {
				fmt.Fprintln(stdout, loadgen.Header)
			}
			for _, op := range strings.Split(ops, ",") {
				for _, ws := range strings.Split(workers, ",") {
					w, err := strconv.Atoi(ws)
					if err != nil {
						return usageError{fmt.Errorf("bench: --workers %q: %w", ws, err)}
					}
					c := cfg
					c.Op, c.Workers = op, w
					r, err := loadgen.Run(cmd.Context(), c)
					if err != nil {
						return err
					}
					if label != "" {
						r.Op += " " + label
					}
					fmt.Fprintln(stdout, r)
					if r.FirstError != "" {
						fmt.Fprintln(stdout, "  first error:", r.FirstError)
					}
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Endpoint, "endpoint", "http://127.0.0.1:4599", "server URL, or several comma-separated (requests take them in turn)")
	f.StringVar(&cfg.AccessKeyID, "access-key-id", "", "access key ID to sign with")
	f.StringVar(&cfg.Region, "region", "us-east-1", "signing region")
	f.StringVar(&ops, "op", "encrypt", "operations, comma-separated: "+strings.Join(loadgen.Ops, ", "))
	f.StringVar(&workers, "workers", "8,64", "concurrent workers, comma-separated")
	f.DurationVar(&duration, "duration", 10*time.Second, "duration of each run")
	f.IntSliceVar(&cfg.ServerPIDs, "pid", nil, "server process IDs (comma-separated, one per endpoint), to measure their CPU time")
	f.BoolVar(&header, "header", false, "print the table header first")
	f.StringVar(&label, "label", "", "appended to each row's operation name, e.g. (audit off)")
	cmd.AddCommand(baselineCmd(stdout))
	return cmd
}

// baselineCmd serves the bare net/http handler that bench compares against.
func baselineCmd(stdout io.Writer) *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use:   "baseline-server",
		Short: "Serve a bare net/http handler (the ceiling bench compares Arca with)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, "baseline serving on", ln.Addr())
			srv := &http.Server{Handler: loadgen.BaselineHandler(), ReadHeaderTimeout: 10 * time.Second}
			go func() { <-cmd.Context().Done(); srv.Close() }()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:4598", "address to listen on")
	return cmd
}
