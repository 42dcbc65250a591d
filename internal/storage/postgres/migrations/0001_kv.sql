-- Arca's key-value store. Keys are bytea so that ordering is byte order
-- whatever the database's collation (the storage contract lists in byte
-- order); values are barrier-sealed bytes.
CREATE TABLE arca_kv (
    key   bytea PRIMARY KEY,
    value bytea NOT NULL
);

-- One row per committed write transaction: the keys it changed, so that
-- other nodes drop their cached copies. Rows are deleted after a while.
CREATE TABLE arca_changes (
    seq  bigserial   PRIMARY KEY,
    node text        NOT NULL,
    at   timestamptz NOT NULL DEFAULT now(),
    keys bytea[]     NOT NULL
);
CREATE INDEX arca_changes_at ON arca_changes (at);
