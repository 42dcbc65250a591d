-- Every node's audit records, shipped from its own log verbatim (issue 9):
-- other nodes index them for LookupEvents and export them for
-- `arca audit verify`. A record is already redacted (no key material, no
-- secret values) and its hash chain is checked from these exact bytes.
CREATE TABLE arca_audit_records (
    node_id text   NOT NULL,
    seq     bigint NOT NULL,
    line    bytea  NOT NULL,
    PRIMARY KEY (node_id, seq)
);

-- Each node's signed checkpoints, by line number in its checkpoints file.
CREATE TABLE arca_audit_checkpoints (
    node_id text    NOT NULL,
    line_no integer NOT NULL,
    line    bytea   NOT NULL,
    PRIMARY KEY (node_id, line_no)
);

-- One row per node that ever shipped: its prune anchor (anchor.json
-- verbatim, NULL before the first prune) and when it last shipped.
CREATE TABLE arca_audit_nodes (
    node_id    text        PRIMARY KEY,
    anchor     bytea,
    shipped_at timestamptz NOT NULL DEFAULT now()
);
