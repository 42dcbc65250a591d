package cli

import (
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
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auditkey"
)

// Online verification (`arca audit verify --address`): every node's chain
// is exported by the server asked (ArcaExportAuditLog: its own from its
// files, the others' from PostgreSQL), written into a temporary directory
// in the segment layout, and verified there exactly as offline.

// remoteVerify is the state of one online verification.
type remoteVerify struct {
	address, region string
	creds           aws.Credentials
	hc              *http.Client
	// requestID, if set, is told the request ID of every answered call
	// (the tail leaves its own calls' events out).
	requestID func(string)
}

// call sends one CloudTrail-API operation (Arca's extensions among them).
func (r *remoteVerify) call(ctx context.Context, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.address, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101."+op)
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, r.creds, req, hex.EncodeToString(sum[:]), "cloudtrail", r.region, time.Now()); err != nil {
		return err
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// The URL holds no credentials (they go in the signature), so
		// the transport's error can be shown as it is.
		return &remoteError{op: op, err: fmt.Errorf("cannot reach %s: %w", r.address, err)}
	}
	defer resp.Body.Close()
	if r.requestID != nil {
		r.requestID(resp.Header.Get("x-amzn-RequestId"))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Type == "" {
			return &remoteError{op: op, status: resp.StatusCode, err: fmt.Errorf("HTTP %d", resp.StatusCode)}
		}
		return &remoteError{op: op, status: resp.StatusCode, typ: e.Type, err: fmt.Errorf("%s: %s", e.Type, e.Message)}
	}
	return json.Unmarshal(raw, out)
}

// remoteError is a failed call: unreachable (status 0) or refused.
type remoteError struct {
	op     string
	status int
	typ    string // the AWS error code (__type), if any
	err    error
}

func (e *remoteError) Error() string { return e.op + ": " + e.err.Error() }
func (e *remoteError) Unwrap() error { return e.err }

// retryable reports whether the call may succeed if repeated unchanged:
// the server could not be reached or failed (5xx, including sealed and
// throttled), as opposed to refusing the request (bad credentials,
// denied, unknown node), which repeating cannot mend.
func (e *remoteError) retryable() bool {
	return e.status == 0 || e.status >= 500 || e.status == http.StatusTooManyRequests || e.typ == "ThrottlingException"
}

type exportPage struct {
	NodeId        string
	ServingNodeId string
	Nodes         []string
	Lines         []string
	FirstLine     int
	Anchor        string
	NextToken     string
	LastSequence  uint64
}

// fetch writes node's chain into dir as segment-00000001.jsonl,
// checkpoints.jsonl and anchor.json, and returns the first page (for
// Nodes).
func (r *remoteVerify) fetch(ctx context.Context, node, dir string) (*exportPage, error) {
	var first *exportPage
	for _, part := range []struct{ name, file string }{{"Records", "segment-00000001.jsonl"}, {"Checkpoints", "checkpoints.jsonl"}} {
		f, err := os.OpenFile(filepath.Join(dir, part.file), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
		if err != nil {
			return nil, err
		}
		tok := ""
		for {
			var p exportPage
			in := map[string]any{"NodeId": node, "Part": part.name, "MaxResults": 10000}
			if tok != "" {
				in["NextToken"] = tok
			}
			if err := r.call(ctx, "ArcaExportAuditLog", in, &p); err != nil {
				f.Close()
				return nil, err
			}
			if first == nil {
				first = &p
			}
			for _, l := range p.Lines {
				f.WriteString(l)
				f.WriteString("\n")
			}
			if tok = p.NextToken; tok == "" {
				break
			}
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	}
	if first.Anchor != "" {
		if err := os.WriteFile(filepath.Join(dir, "anchor.json"), []byte(first.Anchor), 0o600); err != nil {
			return nil, err
		}
	}
	return first, nil
}

// nodeReport is one node's outcome.
type nodeReport struct {
	Node   string        `json:"node"`
	Report *audit.Report `json:"report"`
}

// verifyOnline verifies every node's chain (or only node's) through the
// server at r.address, with keys (nil: the server's public keys).
func (r *remoteVerify) verifyOnline(ctx context.Context, keys []ed25519.PublicKey, node string, from, to time.Time) ([]nodeReport, error) {
	if keys == nil {
		var out struct{ PublicKeysPem string }
		if err := r.call(ctx, "ArcaGetAuditPublicKeys", map[string]any{}, &out); err != nil {
			return nil, err
		}
		var err error
		if keys, err = auditkey.ParsePEM([]byte(out.PublicKeysPem)); err != nil {
			return nil, fmt.Errorf("the server's public keys: %w", err)
		}
	}
	var nodes []string
	if node != "" {
		nodes = []string{node}
	} else {
		var p exportPage
		if err := r.call(ctx, "ArcaExportAuditLog", map[string]any{"MaxResults": 1}, &p); err != nil {
			return nil, err
		}
		nodes = p.Nodes
	}
	if len(nodes) == 0 {
		return nil, errors.New("the server knows no audit chain")
	}
	var reps []nodeReport
	for _, n := range nodes {
		dir, err := os.MkdirTemp("", "arca-verify-")
		if err != nil {
			return nil, err
		}
		_, err = r.fetch(ctx, n, dir)
		var rep *audit.Report
		if err == nil {
			rep, err = audit.VerifyRange(dir, keys, from, to)
		}
		os.RemoveAll(dir)
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n, err)
		}
		reps = append(reps, nodeReport{Node: n, Report: rep})
	}
	return reps, nil
}

// printProblems writes a report's problems, one a line, each prefixed.
func printProblems(w io.Writer, prefix string, rep *audit.Report, online bool) {
	for _, p := range rep.Problems {
		where := p.Segment
		if online {
			// The temporary files' names mean nothing to the reader.
			switch {
			case p.Segment == "checkpoints.jsonl" && p.Line > 0:
				where = fmt.Sprintf("checkpoint %d", p.Line)
			case p.Segment == "anchor.json":
				where = "prune anchor"
			case p.Sequence == 0 && p.Line > 0:
				where = fmt.Sprintf("exported line %d", p.Line)
			default:
				where = ""
			}
		} else if p.Line > 0 {
			where += fmt.Sprintf(" line %d", p.Line)
		}
		if p.Sequence > 0 {
			where += fmt.Sprintf(" (record %d)", p.Sequence)
		}
		sev := "ERROR"
		if !p.Fatal() {
			sev = "notice"
		}
		fmt.Fprintf(w, "%s%s %s: %s: %s\n", prefix, sev, p.Kind, strings.TrimSpace(where), p.Detail)
	}
}

func fatalCount(rep *audit.Report) int {
	n := 0
	for _, p := range rep.Problems {
		if p.Fatal() {
			n++
		}
	}
	return n
}

// searchOnline is `arca audit search --address`: LookupEvents, paged up to
// max events, each printed as its CloudTrail record (a JSON line).
func searchOnline(ctx context.Context, o *operatorOpts, region, attr, value string, from, to time.Time, max int, stdout io.Writer) error {
	creds, err := envCredentials()
	if err != nil {
		return err
	}
	hc, err := o.httpClient()
	if err != nil {
		return err
	}
	r := &remoteVerify{address: o.address, region: region, creds: creds, hc: hc}
	in := map[string]any{}
	if attr != "" {
		in["LookupAttributes"] = []map[string]string{{"AttributeKey": attr, "AttributeValue": value}}
	}
	if !from.IsZero() {
		in["StartTime"] = from.Unix()
	}
	if !to.IsZero() {
		in["EndTime"] = to.Unix()
	}
	for n := 0; n < max; {
		in["MaxResults"] = min(50, max-n)
		var out struct {
			Events []struct {
				CloudTrailEvent string
			}
			NextToken string
		}
		if err := r.call(ctx, "LookupEvents", in, &out); err != nil {
			return err
		}
		for _, e := range out.Events {
			fmt.Fprintf(stdout, "%s\n", e.CloudTrailEvent)
		}
		n += len(out.Events)
		if out.NextToken == "" || len(out.Events) == 0 {
			break
		}
		in["NextToken"] = out.NextToken
	}
	return nil
}
