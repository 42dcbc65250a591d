package trail

import (
	"context"
	"encoding/base64"
	"slices"
	"strconv"
	"strings"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/svcerr"
)

// ActExportAuditLog is Arca's action for reading nodes' raw audit chains.
const ActExportAuditLog = "cloudtrail:ArcaExportAuditLog"

// Exporter reads every node's audit chain verbatim: this node's from its
// files, the others' from the store they ship to (server/auditnodes.go).
type Exporter interface {
	// Nodes returns this node's ID and every node's, sorted.
	Nodes(ctx context.Context) (self string, all []string, err error)
	// Records returns up to limit of node's records after sequence after;
	// lines of the node's files that are not records may come among them,
	// with Seq 0, and do not count towards limit.
	Records(ctx context.Context, node string, after uint64, limit int) ([]audit.RemoteRecord, error)
	// Checkpoints returns up to limit of node's checkpoint lines after line
	// number after, and the number of the first returned.
	Checkpoints(ctx context.Context, node string, after, limit int) ([][]byte, int, error)
	// Anchor returns node's prune anchor (nil: none).
	Anchor(ctx context.Context, node string) ([]byte, error)
	// Head returns the sequence of node's last record (0: none), for
	// FromEnd.
	Head(ctx context.Context, node string) (uint64, error)
}

// Export parts.
const (
	PartRecords     = "Records"
	PartCheckpoints = "Checkpoints"
)

// ArcaExportAuditLogInput asks for one page of one node's chain.
type ArcaExportAuditLogInput struct {
	// NodeId is the node whose chain is read (default: the node asked).
	NodeId string `json:"NodeId"`
	// Part is Records (default) or Checkpoints.
	Part string `json:"Part"`
	// MaxResults is 1-10000 (default 1000).
	MaxResults *int   `json:"MaxResults"`
	NextToken  string `json:"NextToken"`
	// StartAfterSequence starts the page after this record (Records
	// only), as a NextToken would: a follower (`arca audit tail -f
	// --address`) goes on from LastSequence even when the previous page
	// was not full and so had no NextToken.
	StartAfterSequence *uint64 `json:"StartAfterSequence"`
	// FromEnd makes the page the chain's last MaxResults records instead
	// of its first (Records only), so that a tail need not page through
	// the whole chain to find its end.
	FromEnd bool `json:"FromEnd"`
}

// ArcaExportAuditLogOutput is one page: the node's lines verbatim, in
// order (records by sequence, checkpoints by line number).
type ArcaExportAuditLogOutput struct {
	NodeId        string   `json:"NodeId"`
	ServingNodeId string   `json:"ServingNodeId"`
	Nodes         []string `json:"Nodes"`
	Part          string   `json:"Part"`
	Lines         []string `json:"Lines"`
	// FirstLine is the checkpoint line number of Lines[0] (Checkpoints).
	FirstLine int `json:"FirstLine,omitempty"`
	// Anchor is the node's prune anchor (anchor.json), if it has one.
	Anchor    string `json:"Anchor,omitempty"`
	NextToken string `json:"NextToken,omitempty"`
	// LastSequence is the sequence of the last record in Lines (Records;
	// omitted when Lines holds none): where StartAfterSequence goes on.
	LastSequence uint64 `json:"LastSequence,omitempty"`
}

// ArcaExportAuditLog returns one node's audit chain (records, checkpoints
// and prune anchor, byte for byte), a page at a time, for `arca audit
// verify --address`. The chain holds every account's events, so only
// the operator account may export: its root, or its identities whose
// policies allow cloudtrail:ArcaExportAuditLog.
func (s *Service) ArcaExportAuditLog(ctx context.Context, c *auth.Caller, in *ArcaExportAuditLogInput) (*ArcaExportAuditLogOutput, error) {
	if c.Account != s.cfg.Operator {
		return nil, svcerr.New(svcerr.AccessDenied, "User: %s is not authorized to perform: %s: the audit log holds every account's events; only the operator account may export it", c.ARN, ActExportAuditLog)
	}
	if err := s.authorize(ctx, c, ActExportAuditLog); err != nil {
		return nil, err
	}
	if s.cfg.Export == nil {
		return nil, svcerr.New(svcerr.UnsupportedOperation, "The audit log is switched off.")
	}
	part := in.Part
	if part == "" {
		part = PartRecords
	}
	if part != PartRecords && part != PartCheckpoints {
		return nil, svcerr.New(svcerr.Validation, "Part must be Records or Checkpoints.")
	}
	limit := 1000
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 10000 {
			return nil, svcerr.New(svcerr.InvalidMaxResults, "MaxResults must be between 1 and 10000.")
		}
		limit = *in.MaxResults
	}
	self, nodes, err := s.cfg.Export.Nodes(ctx)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	node := in.NodeId
	if node == "" {
		node = self
	}
	if !slices.Contains(nodes, node) {
		return nil, svcerr.New(svcerr.ResourceNotFound, "No audit chain of node %.64q is known here.", node)
	}
	if (in.StartAfterSequence != nil || in.FromEnd) && part != PartRecords {
		return nil, svcerr.New(svcerr.Validation, "StartAfterSequence and FromEnd apply to Part Records only.")
	}
	given := 0
	for _, g := range []bool{in.NextToken != "", in.StartAfterSequence != nil, in.FromEnd} {
		if g {
			given++
		}
	}
	if given > 1 {
		return nil, svcerr.New(svcerr.Validation, "Give at most one of NextToken, StartAfterSequence and FromEnd.")
	}
	var after uint64
	if in.StartAfterSequence != nil {
		after = *in.StartAfterSequence
	}
	if in.FromEnd {
		head, err := s.cfg.Export.Head(ctx, node)
		if err != nil {
			return nil, svcerr.InternalError(err)
		}
		// Sequences run without gaps (retention removes only a prefix),
		// so the last limit records follow head-limit.
		after = head - min(head, uint64(limit))
	}
	if in.NextToken != "" {
		pos, ok := parseExportToken(in.NextToken, node, part)
		if !ok {
			return nil, errBadToken()
		}
		after = pos
	}
	out := &ArcaExportAuditLogOutput{NodeId: node, ServingNodeId: self, Nodes: nodes, Part: part, Lines: []string{}}
	anchor, err := s.cfg.Export.Anchor(ctx, node)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	out.Anchor = string(anchor)
	switch part {
	case PartRecords:
		recs, err := s.cfg.Export.Records(ctx, node, after, limit)
		if err != nil {
			return nil, svcerr.InternalError(err)
		}
		// Lines that are not records (Seq 0) come with the page they
		// stand in; only records count towards the limit.
		n, last := 0, uint64(0)
		for _, r := range recs {
			out.Lines = append(out.Lines, string(r.Line))
			if r.Seq > 0 {
				n, last = n+1, r.Seq
			}
		}
		out.LastSequence = last
		if n == limit {
			out.NextToken = exportToken(node, part, last)
		}
	case PartCheckpoints:
		if after > 1<<31 {
			return nil, errBadToken()
		}
		lines, first, err := s.cfg.Export.Checkpoints(ctx, node, int(after), limit)
		if err != nil {
			return nil, svcerr.InternalError(err)
		}
		for _, l := range lines {
			out.Lines = append(out.Lines, string(l))
		}
		out.FirstLine = first
		if len(lines) == limit {
			out.NextToken = exportToken(node, part, uint64(first+len(lines)-1))
		}
	}
	return out, nil
}

// An export token is NODE, PART and the last position returned.
func exportToken(node, part string, pos uint64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(node + "\x00" + part + "\x00" + strconv.FormatUint(pos, 10)))
}

func parseExportToken(tok, node, part string) (uint64, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	p := strings.Split(string(b), "\x00")
	if len(p) != 3 || p[0] != node || p[1] != part {
		return 0, false
	}
	pos, err := strconv.ParseUint(p[2], 10, 64)
	return pos, err == nil
}
