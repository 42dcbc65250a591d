package cli

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/cobra"
)

// finding is one ArcaListFindings finding as the CLI prints it.
type finding struct {
	ID           string `json:"Id"`
	Severity     string `json:"Severity"`
	Title        string `json:"Title"`
	ResourceArn  string `json:"ResourceArn"`
	ResourceType string `json:"ResourceType"`
	Region       string `json:"Region,omitempty"`
	Detail       string `json:"Detail"`
	Remedy       string `json:"Remedy"`
}

type findingsOutput struct {
	Findings    []finding `json:"Findings"`
	GeneratedAt float64   `json:"GeneratedAt"`
	Account     string    `json:"Account"`
}

// postureCmd is `arca posture`: the caller's account's posture findings from
// a running server (ArcaListFindings, signed with the AWS environment
// credentials).
func postureCmd(stdout io.Writer) *cobra.Command {
	var endpoint, region, output, minSeverity string
	var maxAgeDays int
	cmd := &cobra.Command{
		Use:   "posture",
		Short: "Report security posture findings of your account on a running Arca server",
		Long: `Report the posture findings of the caller's account: customer keys without
automatic rotation, keys pending deletion, disabled keys still named by aliases,
imported key material expiring within 30 days, key policies the policy linter
flags, access keys unused for 90 days or older than the maximum age, and root
credentials used for routine calls.

The server is --endpoint (default $ARCA_ADDR, else http://127.0.0.1:4599).
Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
AWS_SESSION_TOKEN; callers other than the root user need arca:ListFindings.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			creds, err := envCredentials()
			if err != nil {
				return err
			}
			in := map[string]any{}
			if minSeverity != "" {
				in["MinSeverity"] = strings.ToUpper(minSeverity)
			}
			if maxAgeDays != 0 {
				in["AccessKeyMaxAgeDays"] = maxAgeDays
			}
			out, err := listFindings(cmd.Context(), endpoint, region, creds, in)
			if err != nil {
				return err
			}
			switch output {
			case "json":
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			case "table":
				printFindings(stdout, out)
				return nil
			}
			return usageError{fmt.Errorf("--output %q: want table or json", output)}
		},
	}
	def := os.Getenv("ARCA_ADDR")
	if def == "" {
		def = "http://127.0.0.1:4599"
	}
	defRegion := os.Getenv("AWS_REGION")
	if defRegion == "" {
		defRegion = os.Getenv("AWS_DEFAULT_REGION")
	}
	if defRegion == "" {
		defRegion = "us-east-1"
	}
	f := cmd.Flags()
	f.StringVar(&endpoint, "endpoint", def, "server URL (default $ARCA_ADDR)")
	f.StringVar(&region, "region", defRegion, "signing region, one the server serves (default $AWS_REGION)")
	f.StringVarP(&output, "output", "o", "table", "output format: table (for people) or json (for machines)")
	f.StringVar(&minSeverity, "min-severity", "", "only findings at or above: critical, high, medium, low, informational")
	f.IntVar(&maxAgeDays, "max-key-age-days", 0, "flag access keys older than this many days (default: the server's posture_access_key_max_age)")
	return cmd
}

// listFindings sends ArcaListFindings over AWS JSON 1.1, signed for the
// "arca" service.
func listFindings(ctx context.Context, endpoint, region string, creds aws.Credentials, in map[string]any) (*findingsOutput, error) {
	body, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "ArcaService.ArcaListFindings")
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "arca", region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Type == "" {
			return nil, fmt.Errorf("ArcaListFindings: HTTP %d", resp.StatusCode)
		}
		return nil, fmt.Errorf("%s: %s", e.Type, e.Message)
	}
	var out findingsOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("ArcaListFindings: %w", err)
	}
	return &out, nil
}

func printFindings(w io.Writer, out *findingsOutput) {
	if len(out.Findings) == 0 {
		fmt.Fprintf(w, "No findings for account %s.\n", out.Account)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEVERITY\tID\tRESOURCE\tFINDING")
	for _, f := range out.Findings {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Severity, f.ID, f.ResourceArn, f.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nRemedies:")
	seen := map[string]bool{}
	for _, f := range out.Findings {
		if k := f.ID + f.Remedy; !seen[k] {
			seen[k] = true
			fmt.Fprintf(w, "  %s %s: %s\n", f.ID, f.Title, f.Remedy)
		}
	}
	fmt.Fprintf(w, "\n%d finding(s) for account %s.\n", len(out.Findings), out.Account)
}
