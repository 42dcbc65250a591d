package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/cobra"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auditkey"
	"github.com/arca-kms/arca/internal/server"
)

// auditCmd is `arca audit`: verify, read and search an audit log directory
// without a server, and fetch or rotate the signing keys of a running one.
func auditCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify, tail and search the audit log; show or rotate its signing keys",
		Long: `Work with Arca's audit log.

verify, tail and search read a log directory (DIR, default
./arca-data/audit) and need no server; with --address they ask a running
one instead. public-key reads DIR's
public-keys.pem, or with --endpoint asks a running server. rotate-key asks a
running server (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY:
the operator account's root).`,
	}
	cmd.AddCommand(auditVerifyCmd(stdout, stderr), auditPublicKeyCmd(stdout), auditTailCmd(stdout, stderr), auditSearchCmd(stdout), auditRotateCmd(stdout))
	return cmd
}

const defaultAuditDir = "./arca-data/audit"

func auditDir(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return defaultAuditDir
}

// parseTime accepts RFC 3339 or a date.
func parseTime(flag, v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usageError{fmt.Errorf("--%s %q: want RFC 3339 (2026-12-03T18:00:00Z) or a date (2026-12-03)", flag, v)}
}

func auditVerifyCmd(stdout, stderr io.Writer) *cobra.Command {
	var from, to, keyFile, node, region, dirFlag string
	var asJSON bool
	o := &operatorOpts{}
	cmd := &cobra.Command{
		Use:   "verify [DIR | --audit-dir DIR | --address URL]",
		Short: "Verify the audit log's hash chain and signed checkpoints, offline or through a server",
		Long: `Verify every record's hash, the chain's links and order, and every
checkpoint's Ed25519 signature. Each problem is reported with its kind
(modified, deleted, reordered, torn, truncated, bad-checkpoint), file, line
and sequence number; notices (torn-recovered: a torn write found and cut
off at a restart; unanchored: records after the last checkpoint) do not
fail verification. The exit status is 1 if anything fails.

Offline (the default) it reads the log directory DIR. With --address it
asks a running server instead: the server exports every node's chain
(ArcaExportAuditLog: its own from its files, the other nodes' from
PostgreSQL) and each is verified here and reported per node (--node: only
that one). Credentials come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
and AWS_SESSION_TOKEN (the operator account's root, or an identity of it
allowed cloudtrail:ArcaExportAuditLog); TLS as for arca operator
(--ca-cert, --tls-fingerprint).

--public-key names a PEM file of trusted keys (arca audit public-key
output). Without it DIR/public-keys.pem is used offline, and the server's
keys online, which proves integrity only as far as they can be trusted:
keep a copy elsewhere.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := auditDir(args)
			if dirFlag != "" {
				if len(args) > 0 {
					return usageError{errors.New("verify: give DIR or --audit-dir, not both")}
				}
				dir = dirFlag
			}
			f, err := parseTime("from", from)
			if err != nil {
				return err
			}
			t, err := parseTime("to", to)
			if err != nil {
				return err
			}
			online := cmd.Flags().Changed("address") || cmd.Flags().Changed("endpoint")
			if online && (len(args) > 0 || dirFlag != "") {
				return usageError{errors.New("verify: give DIR (offline) or --address (online), not both")}
			}
			if node != "" && !online {
				return usageError{errors.New("verify: --node needs --address")}
			}
			if keyFile == "" && !online {
				keyFile = filepath.Join(dir, server.PublicKeysFile)
				fmt.Fprintf(stderr, "arca: no --public-key given; trusting %s\n", keyFile)
			}
			var keys []ed25519.PublicKey
			if keyFile != "" {
				pemData, err := os.ReadFile(keyFile)
				if err != nil {
					return fmt.Errorf("public keys: %w", err)
				}
				if keys, err = auditkey.ParsePEM(pemData); err != nil {
					return fmt.Errorf("%s: %w", keyFile, err)
				}
			}
			if online {
				return verifyOnlineCmd(cmd.Context(), o, region, keys, node, f, t, asJSON, stdout, stderr)
			}
			if _, err := os.Stat(dir); err != nil {
				return err
			}
			rep, err := audit.VerifyRange(dir, keys, f, t)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				enc.Encode(rep)
			} else {
				printProblems(stdout, "", rep, false)
			}
			if !rep.OK() {
				return fmt.Errorf("audit log %s FAILED verification: %d problem(s) in %d records, %d checkpoints", dir, fatalCount(rep), rep.Events, rep.Checkpoints)
			}
			if !asJSON {
				fmt.Fprintf(stdout, "OK: %d records (last sequence %d), %d checkpoints verified\n", rep.Events, rep.LastSeq, rep.Checkpoints)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "verify records from this time (RFC 3339)")
	fl.StringVar(&to, "to", "", "verify records up to this time (RFC 3339)")
	fl.StringVar(&keyFile, "public-key", "", "PEM file of trusted checkpoint public keys")
	fl.BoolVar(&asJSON, "json", false, "print the report as JSON")
	addr := envOr("ARCA_ADDR", "https://127.0.0.1:4599")
	fl.StringVar(&o.address, "address", addr, "verify through this running server (env ARCA_ADDR) instead of DIR")
	fl.StringVar(&o.address, "endpoint", addr, "the same as --address")
	fl.StringVar(&node, "node", "", "with --address: verify only this node's chain")
	fl.StringVar(&dirFlag, "audit-dir", "", "the log directory to verify offline (the same as DIR)")
	fl.StringVar(&region, "region", envOr("AWS_REGION", "us-east-1"), "signing region (online)")
	fl.StringVar(&o.caCert, "ca-cert", os.Getenv("ARCA_CACERT"), "PEM file of the CA (or self-signed certificate) to trust (env ARCA_CACERT)")
	fl.StringVar(&o.fingerprint, "tls-fingerprint", os.Getenv("ARCA_TLS_FINGERPRINT"), "pin the server certificate by its SHA-256 (hex) (env ARCA_TLS_FINGERPRINT)")
	return cmd
}

// verifyOnlineCmd is `arca audit verify --address`: one report per node.
func verifyOnlineCmd(ctx context.Context, o *operatorOpts, region string, keys []ed25519.PublicKey, node string, from, to time.Time, asJSON bool, stdout, stderr io.Writer) error {
	creds, err := envCredentials()
	if err != nil {
		return err
	}
	hc, err := o.httpClient()
	if err != nil {
		return err
	}
	hc.Timeout = 5 * time.Minute
	if keys == nil {
		fmt.Fprintf(stderr, "arca: no --public-key given; trusting the server's public keys\n")
	}
	rv := &remoteVerify{address: o.address, region: region, creds: creds, hc: hc}
	reps, err := rv.verifyOnline(ctx, keys, node, from, to)
	if err != nil {
		return err
	}
	failed := 0
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"nodes": reps})
	}
	for _, nr := range reps {
		rep := nr.Report
		if !asJSON {
			printProblems(stdout, "node "+nr.Node+": ", rep, true)
		}
		if !rep.OK() {
			failed++
			if !asJSON {
				fmt.Fprintf(stdout, "node %s: FAILED: %d problem(s) in %d records, %d checkpoints\n", nr.Node, fatalCount(rep), rep.Events, rep.Checkpoints)
			}
		} else if !asJSON {
			fmt.Fprintf(stdout, "node %s: OK: %d records (last sequence %d), %d checkpoints verified\n", nr.Node, rep.Events, rep.LastSeq, rep.Checkpoints)
		}
	}
	if failed > 0 {
		return fmt.Errorf("audit chains FAILED verification on %d of %d node(s)", failed, len(reps))
	}
	return nil
}

func auditPublicKeyCmd(stdout io.Writer) *cobra.Command {
	var endpoint, region string
	cmd := &cobra.Command{
		Use:   "public-key [DIR]",
		Short: "Print the audit log's checkpoint public keys (current and old), as PEM",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if endpoint != "" {
				out, err := cloudTrailCall(cmd.Context(), endpoint, region, "ArcaGetAuditPublicKeys")
				if err != nil {
					return err
				}
				fmt.Fprint(stdout, out["PublicKeysPem"])
				return nil
			}
			b, err := os.ReadFile(filepath.Join(auditDir(args), server.PublicKeysFile))
			if err != nil {
				return err
			}
			_, err = stdout.Write(b)
			return err
		},
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", "", "ask this running server instead of reading DIR")
	cmd.Flags().StringVar(&region, "region", "us-east-1", "signing region")
	return cmd
}

func auditRotateCmd(stdout io.Writer) *cobra.Command {
	var endpoint, region string
	cmd := &cobra.Command{
		Use:   "rotate-key",
		Short: "Make a new audit signing key current on a running server; prints every public key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := cloudTrailCall(cmd.Context(), endpoint, region, "ArcaRotateAuditSigningKey")
			if err != nil {
				return err
			}
			fmt.Fprint(stdout, out["PublicKeysPem"])
			return nil
		},
	}
	def := os.Getenv("ARCA_ADDR")
	if def == "" {
		def = "http://127.0.0.1:4599"
	}
	cmd.Flags().StringVar(&endpoint, "endpoint", def, "server URL (default $ARCA_ADDR)")
	cmd.Flags().StringVar(&region, "region", "us-east-1", "signing region")
	return cmd
}

// cloudTrailCall sends one of Arca's CloudTrail extension operations.
func cloudTrailCall(ctx context.Context, endpoint, region, op string) (map[string]any, error) {
	creds, err := envCredentials()
	if err != nil {
		return nil, err
	}
	body := []byte("{}")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."+op)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "cloudtrail", region, time.Now()); err != nil {
		return nil, err
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("%s: HTTP %d: %w", op, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %v: %v", op, out["__type"], out["message"])
	}
	return out, nil
}

func auditTailCmd(stdout, stderr io.Writer) *cobra.Command {
	var n int
	var follow, all bool
	var node, region string
	o := &operatorOpts{}
	cmd := &cobra.Command{
		Use:   "tail [DIR | --address URL]",
		Short: "Print the last events of the audit log, and with -f follow new ones",
		Long: `Print the last N events (JSON lines, oldest first) of the audit log. Intent
records and the log's own notices are left out unless --all. With -f, keep
printing events as they are written (across new segments) until
interrupted.

Offline (the default) it reads the log directory DIR. With --address it
asks a running server instead (ArcaExportAuditLog, the same lines as
offline), every 500 ms with -f, backing off while the server cannot be
reached or fails (an unreachable server at the start, and a refusal at
any time, such as bad credentials or an unknown node, end it with exit
status 1). On a cluster (nodes sharing PostgreSQL) each node has its own
chain: by default every node's is followed, each from its own position,
and the lines are merged by event time (the last N of all nodes first; then
each poll's new lines; a node that joins meanwhile is followed from the
start of its chain); --node follows only that node's. Each poll is itself an
audited ArcaExportAuditLog call: the tail leaves its own calls' events out
(by request ID), and shows every other client's. Credentials come from
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN (the
operator account's root, or an identity of it allowed
cloudtrail:ArcaExportAuditLog); TLS as for arca operator (--ca-cert,
--tls-fingerprint). Online, the first N are looked for among each node's
last 10000 records.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 0 {
				return usageError{fmt.Errorf("tail: -n %d: want 0 or more", n)}
			}
			if cmd.Flags().Changed("address") {
				if len(args) > 0 {
					return usageError{errors.New("tail: give DIR (offline) or --address (online), not both")}
				}
				return tailOnline(cmd.Context(), o, region, node, n, follow, all, stdout, stderr)
			}
			if node != "" {
				return usageError{errors.New("tail: --node needs --address")}
			}
			return tailLog(cmd.Context(), auditDir(args), n, follow, all, stdout)
		},
	}
	fl := cmd.Flags()
	fl.IntVarP(&n, "lines", "n", 10, "how many events to print first")
	fl.BoolVarP(&follow, "follow", "f", false, "keep printing new events")
	fl.BoolVar(&all, "all", false, "include intent records and the log's notices")
	fl.StringVar(&o.address, "address", envOr("ARCA_ADDR", "https://127.0.0.1:4599"), "tail through this running server (env ARCA_ADDR) instead of DIR")
	fl.StringVar(&node, "node", "", "with --address: only this node's chain (default: every node's)")
	fl.StringVar(&region, "region", envOr("AWS_REGION", "us-east-1"), "signing region (with --address)")
	fl.StringVar(&o.caCert, "ca-cert", os.Getenv("ARCA_CACERT"), "PEM file of the CA (or self-signed certificate) to trust (env ARCA_CACERT)")
	fl.StringVar(&o.fingerprint, "tls-fingerprint", os.Getenv("ARCA_TLS_FINGERPRINT"), "pin the server certificate by its SHA-256 (hex) (env ARCA_TLS_FINGERPRINT)")
	return cmd
}

// segmentFiles lists DIR's segment files in order.
func segmentFiles(dir string) ([]string, error) {
	m, err := filepath.Glob(filepath.Join(dir, "segment-*.jsonl"))
	slices.Sort(m)
	return m, err
}

func isAPIEvent(line []byte) bool {
	return bytes.Contains(line, []byte(`"eventType":"AwsApiCall"`))
}

func tailLog(ctx context.Context, dir string, n int, follow, all bool, w io.Writer) error {
	segs, err := segmentFiles(dir)
	if err != nil {
		return err
	}
	if len(segs) == 0 && !follow {
		return fmt.Errorf("%s: no audit segments", dir)
	}
	// The last n events: read segments from the newest back until enough.
	var last [][]byte
	// off is where -f goes on: the end of the records of the newest
	// segment as read here, so that nothing appended meanwhile is missed.
	off := int64(-1)
	for i := len(segs) - 1; i >= 0 && len(last) < n; i-- {
		b, err := os.ReadFile(segs[i])
		if err != nil {
			return err
		}
		var lines [][]byte
		// The segment being written ends in preallocated zeros.
		b = bytes.TrimRight(b, "\x00")
		if i == len(segs)-1 {
			// Whole lines only: a last line still being written is
			// printed by -f once it is.
			b = b[:bytes.LastIndexByte(b, '\n')+1]
			off = int64(len(b))
		}
		for _, l := range bytes.Split(b, []byte{'\n'}) {
			if len(l) > 0 && (all || isAPIEvent(l)) {
				lines = append(lines, l)
			}
		}
		last = append(lines, last...)
	}
	if len(last) > n {
		last = last[len(last)-n:]
	}
	for _, l := range last {
		fmt.Fprintf(w, "%s\n", l)
	}
	if !follow {
		return nil
	}
	cur := ""
	if len(segs) > 0 {
		cur = segs[len(segs)-1]
	}
	if off < 0 && cur != "" {
		b, err := os.ReadFile(cur)
		if err != nil {
			return err
		}
		// Where the records end, not the file: the segment being written
		// ends in preallocated zeros that later records overwrite.
		b = bytes.TrimRight(b, "\x00")
		off = int64(bytes.LastIndexByte(b, '\n') + 1)
	}
	off = max(off, 0)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	// pending: the current segment has bytes after off that are not yet
	// a whole line.
	pending := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if cur != "" {
			f, err := os.Open(cur)
			if err != nil {
				return err
			}
			f.Seek(off, io.SeekStart)
			r := bufio.NewReader(f)
			for {
				line, err := r.ReadBytes('\n')
				if err != nil || bytes.IndexByte(line, 0) >= 0 {
					// The end for now: a line still being written (over
					// the preallocated zeros, or not yet ended), read
					// whole from off at the next tick.
					pending = len(bytes.TrimRight(line, "\x00")) > 0
					break
				}
				off += int64(len(line))
				pending = false
				line = bytes.TrimSuffix(line, []byte{'\n'})
				if all || isAPIEvent(line) {
					fmt.Fprintf(w, "%s\n", line)
				}
			}
			f.Close()
		}
		segs, err := segmentFiles(dir)
		if err != nil {
			return err
		}
		if len(segs) > 0 && segs[len(segs)-1] > cur && !pending {
			// The writer moved on: finish with the next segment.
			next := segs[len(segs)-1]
			if cur != "" {
				if i := slices.Index(segs, cur); i >= 0 && i+1 < len(segs) {
					next = segs[i+1]
				}
			}
			cur, off = next, 0
		}
	}
}

func auditSearchCmd(stdout io.Writer) *cobra.Command {
	var attr, value, account, from, to, region string
	o := &operatorOpts{}
	var max int
	var eventName, user, resource, source, akid, eventID, rtype string
	cmd := &cobra.Command{
		Use:   "search [DIR]",
		Short: "Find events in an audit log directory by user, resource, event name...",
		Long: `Find events offline, as CloudTrail's LookupEvents would: by at most one of
--event-name, --user, --resource (ARN), --resource-type, --event-source,
--access-key-id or --event-id, within --from/--to, newest first, as JSON
lines. --account limits the results to one account.

With --address it asks a running server instead (CloudTrail LookupEvents,
signed with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): the caller's
account's events of every node, merged newest first.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			set := 0
			for _, p := range []struct{ a, v string }{{audit.AttrEventName, eventName}, {audit.AttrUsername, user},
				{audit.AttrResourceName, resource}, {audit.AttrResourceType, rtype}, {audit.AttrEventSource, source},
				{audit.AttrAccessKeyID, akid}, {audit.AttrEventID, eventID}} {
				if p.v != "" {
					attr, value = p.a, p.v
					set++
				}
			}
			if set > 1 {
				return usageError{errors.New("search: give at most one of the lookup attributes")}
			}
			f, err := parseTime("from", from)
			if err != nil {
				return err
			}
			t, err := parseTime("to", to)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("address") {
				if len(args) > 0 || account != "" {
					return usageError{errors.New("search: --address asks a server (the caller's account's events of every node); give no DIR or --account")}
				}
				return searchOnline(cmd.Context(), o, region, attr, value, f, t, max, stdout)
			}
			ix, err := audit.OpenIndex(auditDir(args))
			if err != nil {
				return err
			}
			defer ix.Close()
			page, err := ix.Lookup(audit.Query{Account: account, Attr: attr, Value: value, Start: f, End: t, Max: max})
			if err != nil {
				return err
			}
			for _, e := range page.Events {
				fmt.Fprintf(stdout, "%s\n", e)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&eventName, "event-name", "", "event name, e.g. Encrypt")
	fl.StringVar(&user, "user", "", "user name (root, an IAM user's name, a role session's name)")
	fl.StringVar(&resource, "resource", "", "resource ARN")
	fl.StringVar(&rtype, "resource-type", "", "resource type, e.g. AWS::KMS::Key")
	fl.StringVar(&source, "event-source", "", "event source, e.g. kms.amazonaws.com")
	fl.StringVar(&akid, "access-key-id", "", "access key ID")
	fl.StringVar(&eventID, "event-id", "", "event ID")
	fl.StringVar(&account, "account", "", "only this account's events")
	fl.StringVar(&from, "from", "", "events from this time (RFC 3339)")
	fl.StringVar(&to, "to", "", "events up to this time (RFC 3339)")
	fl.IntVar(&max, "max", 50, "how many events")
	fl.StringVar(&o.address, "address", envOr("ARCA_ADDR", "https://127.0.0.1:4599"), "search through this running server (env ARCA_ADDR) instead of DIR")
	fl.StringVar(&region, "region", envOr("AWS_REGION", "us-east-1"), "signing region (with --address)")
	fl.StringVar(&o.caCert, "ca-cert", os.Getenv("ARCA_CACERT"), "PEM file of the CA (or self-signed certificate) to trust (env ARCA_CACERT)")
	fl.StringVar(&o.fingerprint, "tls-fingerprint", os.Getenv("ARCA_TLS_FINGERPRINT"), "pin the server certificate by its SHA-256 (hex) (env ARCA_TLS_FINGERPRINT)")
	return cmd
}
