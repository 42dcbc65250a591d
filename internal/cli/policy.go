package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/arca-kms/arca/internal/policy"
)

// errFindings makes `arca policy lint` exit non-zero when a file has a
// finding at or above the --fail-on severity, so CI pipelines can gate on it.
var errFindings = errors.New("policy lint: findings at or above the failure threshold")

func policyCmd(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Work with IAM policy documents offline"}
	cmd.AddCommand(policyLintCmd(stdout))
	return cmd
}

// lintReport is one file's result in -o json output.
type lintReport struct {
	File     string        `json:"file"`
	Error    string        `json:"error,omitempty"`
	Findings []lintFinding `json:"findings"`
}

type lintFinding struct {
	ID        string `json:"id"`
	Severity  string `json:"severity"`
	Statement int    `json:"statement"`
	Sid       string `json:"sid,omitempty"`
	Message   string `json:"message"`
	Fix       string `json:"fix"`
}

func policyLintCmd(stdout io.Writer) *cobra.Command {
	var kind, account, output, failOn string
	cmd := &cobra.Command{
		Use:   "lint FILE...",
		Short: "Check policy documents for grammar errors and overly broad grants",
		Long: `Check policy documents with the same parser the server uses (AWS's grammar,
limits and error texts) and report risky grants: public principals without a
restricting condition, wildcard actions, Resource "*" granted to another account,
privilege-escalation actions and negated grants. Each finding has a stable ID
(ARCA-POL-nnn), a severity, the statement and a suggested fix.

Exit status: 0 when every file parses and has no finding at or above
--fail-on; 1 otherwise; 2 for usage errors. Use - to read standard input.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			k, err := policyKind(kind)
			if err != nil {
				return usageError{err}
			}
			threshold, err := severityOf(failOn)
			if err != nil {
				return usageError{err}
			}
			if output != "text" && output != "json" {
				return usageError{fmt.Errorf("-o must be text or json, not %q", output)}
			}
			var opts []policy.LintOption
			if account != "" {
				opts = append(opts, policy.WithAccount(account))
			}
			failed := false
			var reports []lintReport
			for _, f := range files {
				r := lintFile(cmd.InOrStdin(), f, k, opts)
				if r.Error != "" {
					failed = true
				}
				for _, x := range r.Findings {
					if s, _ := severityOf(x.Severity); s >= threshold {
						failed = true
					}
				}
				reports = append(reports, r)
			}
			if output == "json" {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(reports); err != nil {
					return err
				}
			} else {
				printLint(stdout, reports)
			}
			if failed {
				return errFindings
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "key", "document kind: key (a KMS key policy), identity, trust or session")
	cmd.Flags().StringVar(&account, "account", "", "the account that owns the policy, to flag grants to other accounts")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.Flags().StringVar(&failOn, "fail-on", "medium", "lowest severity that makes the exit status non-zero: info, low, medium or high")
	return cmd
}

func lintFile(stdin io.Reader, name string, kind policy.Kind, opts []policy.LintOption) lintReport {
	r := lintReport{File: name, Findings: []lintFinding{}}
	var doc []byte
	var err error
	if name == "-" {
		doc, err = io.ReadAll(io.LimitReader(stdin, 1<<20))
	} else {
		doc, err = os.ReadFile(name)
	}
	if err != nil {
		r.Error = err.Error()
		return r
	}
	p, err := policy.ParseWith(doc, policy.Options{Kind: kind})
	if err != nil {
		var me *policy.MalformedError
		if errors.As(err, &me) {
			r.Error = me.Error()
		} else {
			r.Error = err.Error()
		}
		return r
	}
	for _, f := range policy.Lint(p, kind, opts...) {
		r.Findings = append(r.Findings, lintFinding{ID: f.ID, Severity: f.Severity.String(), Statement: f.Statement,
			Sid: f.Sid, Message: f.Message, Fix: f.Fix})
	}
	return r
}

func printLint(w io.Writer, reports []lintReport) {
	for _, r := range reports {
		switch {
		case r.Error != "":
			fmt.Fprintf(w, "%s: error: %s\n", r.File, r.Error)
		case len(r.Findings) == 0:
			fmt.Fprintf(w, "%s: ok\n", r.File)
		}
		for _, f := range r.Findings {
			where := fmt.Sprintf("statement %d", f.Statement)
			if f.Sid != "" {
				where += fmt.Sprintf(" (%s)", f.Sid)
			}
			fmt.Fprintf(w, "%s: %s %s %s: %s\n  fix: %s\n", r.File, f.ID, f.Severity, where, f.Message, f.Fix)
		}
	}
}

func policyKind(s string) (policy.Kind, error) {
	switch s {
	case "key", "resource":
		return policy.KindResource, nil
	case "identity":
		return policy.KindIdentity, nil
	case "trust":
		return policy.KindTrust, nil
	case "session":
		return policy.KindSession, nil
	}
	return 0, fmt.Errorf("--kind must be key, identity, trust or session, not %q", s)
}

func severityOf(s string) (policy.Severity, error) {
	for _, v := range []policy.Severity{policy.Info, policy.Low, policy.Medium, policy.High} {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("--fail-on must be info, low, medium or high, not %q", s)
}
