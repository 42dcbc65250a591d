package secrets

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/storage"
)

// Backend is what the service needs from the barrier: sealed reads, writes
// and transactions. The barrier's *Barrier implements it.
type Backend interface {
	storage.Reader
	storage.Writer
	Update(ctx context.Context, fn func(tx storage.Tx) error) error
}

// Storage paths (docs/FORMATS.md). A secret's metadata is one record under
// its name; each version's encrypted value is its own record under the
// secret's UID (never its name, which may contain "/", so that listing one
// secret's versions can never reach another's).
func secretPath(account, region, name string) string {
	return "secrets/" + account + "/" + region + "/secret/" + name
}

func secretPrefix(account, region string) string {
	return "secrets/" + account + "/" + region + "/secret/"
}

func valuePath(account, region, uid, versionID string) string {
	return "secrets/" + account + "/" + region + "/value/" + uid + "/" + versionID
}

func valuePrefix(account, region, uid string) string {
	return "secrets/" + account + "/" + region + "/value/" + uid + "/"
}

// record is a secret's metadata as stored. A *record read from the store is
// a shared immutable snapshot; writers change a clone.
type record struct {
	UID         string    `json:"uid"`
	Account     string    `json:"account"`
	Region      string    `json:"region"`
	Name        string    `json:"name"`
	Suffix      string    `json:"suffix"`
	Description string    `json:"description,omitempty"`
	KmsKeyID    string    `json:"kmsKeyId,omitempty"`
	Tags        []tag     `json:"tags,omitempty"`
	Created     time.Time `json:"created"`
	Changed     time.Time `json:"changed"`
	Accessed    time.Time `json:"accessed,omitzero"`
	Deleted     time.Time `json:"deleted,omitzero"`
	DeleteAt    time.Time `json:"deleteAt,omitzero"`
	Policy      string    `json:"policy,omitempty"`
	// Versions in creation order.
	Versions []*version `json:"versions"`
	Rotation rotation   `json:"rotation"`
	// PrimaryRegion is set on a replica: the region of its primary.
	PrimaryRegion string `json:"primaryRegion,omitempty"`
	// Replicas are a primary's replicas.
	Replicas []replica `json:"replicas,omitempty"`

	// arn caches the secret's ARN on records in the store's cache (set
	// before they are shared; a clone starts without it).
	arn string
}

type tag struct {
	Key   string `json:"k"`
	Value string `json:"v"`
}

type version struct {
	ID       string    `json:"id"`
	Stages   []string  `json:"stages,omitempty"`
	Created  time.Time `json:"created"`
	Accessed time.Time `json:"accessed,omitzero"`
	KeyARN   string    `json:"key"`
}

type replica struct {
	Region   string    `json:"region"`
	KmsKeyID string    `json:"kmsKeyId,omitempty"`
	Status   string    `json:"status"`
	Message  string    `json:"message,omitempty"`
	Accessed time.Time `json:"accessed,omitzero"`
}

// rotation is a secret's rotation configuration and state.
type rotation struct {
	Enabled   bool   `json:"enabled,omitempty"`
	LambdaARN string `json:"lambda,omitempty"`
	AfterDays int64  `json:"afterDays,omitempty"`
	Duration  string `json:"duration,omitempty"`
	Schedule  string `json:"schedule,omitempty"`
	// LastRotated is when the last rotation finished.
	LastRotated time.Time `json:"lastRotated,omitzero"`
	// Next is when the next scheduled rotation is due.
	Next time.Time `json:"next,omitzero"`
	// Pending is the version ID of a rotation that has started and not
	// finished (its AWSPENDING version): the retry uses it again.
	Pending string `json:"pending,omitempty"`
	// The last failure of the pending rotation.
	Attempts    int       `json:"attempts,omitempty"`
	FailStep    string    `json:"failStep,omitempty"`
	FailMessage string    `json:"failMessage,omitempty"`
	FailDate    time.Time `json:"failDate,omitzero"`
	RetryAt     time.Time `json:"retryAt,omitzero"`
}

// value is one version's secret, envelope-encrypted: Sealed is AES-256-GCM
// under a data key that KMS encrypted into DataKey under KeyARN with the
// encryption context {SecretARN, SecretVersionId}.
type value struct {
	KeyARN  string `json:"key"`
	DataKey []byte `json:"dk"`
	Nonce   []byte `json:"nonce"`
	Sealed  []byte `json:"ct"`
	Binary  bool   `json:"bin,omitempty"`

	// ec caches the version's encryption context once built.
	ec atomic.Pointer[map[string]string]
}

// context returns the version's encryption context, built once per cached
// value (KMS only reads it).
func (v *value) context(secretARN, versionID string) map[string]string {
	if m := v.ec.Load(); m != nil {
		return *m
	}
	m := encryptionContext(secretARN, versionID)
	v.ec.Store(&m)
	return m
}

func (r *record) clone() *record {
	c := *r
	c.Tags = slices.Clone(r.Tags)
	c.Versions = make([]*version, len(r.Versions))
	for i, v := range r.Versions {
		vc := *v
		vc.Stages = slices.Clone(v.Stages)
		c.Versions[i] = &vc
	}
	c.Replicas = slices.Clone(r.Replicas)
	c.arn = ""
	return &c
}

func (r *record) version(id string) *version {
	for _, v := range r.Versions {
		if v.ID == id {
			return v
		}
	}
	return nil
}

func (r *record) staged(stage string) *version {
	for _, v := range r.Versions {
		if slices.Contains(v.Stages, stage) {
			return v
		}
	}
	return nil
}

func (r *record) deleted() bool { return !r.Deleted.IsZero() }

// store keeps secrets over the barrier with a cache of metadata and sealed
// values. Writers hold mu for their transaction and the cache update, and a
// read miss holds it shared while it reads storage and fills the cache, so a
// miss can never install a snapshot older than a committed write.
type store struct {
	b         Backend
	partition string
	mu        sync.RWMutex
	secrets   sync.Map // path → *record
	values    sync.Map // path → *value
	// gate is asked before every cached read (Service.SetGate).
	gate storage.Gate
}

var errNotFound = errors.New("secrets: not found")

func (st *store) get(ctx context.Context, account, region, name string) (*record, error) {
	return cached(ctx, st, &st.secrets, secretPath(account, region, name), func(r *record) {
		r.arn = arnOf(st.partition, r, r.Region)
	})
}

func (st *store) value(ctx context.Context, r *record, versionID string) (*value, error) {
	return cached[value](ctx, st, &st.values, valuePath(r.Account, r.Region, r.UID, versionID), nil)
}

// cached returns the *T cached at path p, or reads and decodes it (then
// fill, if any) under the read lock, so that it cannot install a copy older
// than a concurrent write, and caches it.
func cached[T any](ctx context.Context, st *store, cache *sync.Map, p string, fill func(*T)) (*T, error) {
	if err := st.gate.Check(); err != nil {
		return nil, err
	}
	if v, ok := cache.Load(p); ok {
		return v.(*T), nil
	}
	st.mu.RLock()
	defer st.mu.RUnlock()
	if v, ok := cache.Load(p); ok {
		return v.(*T), nil
	}
	b, err := st.b.Get(ctx, p)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	if fill != nil {
		fill(v)
	}
	cache.Store(p, v)
	return v, nil
}

// list returns every secret of the account and region, by name.
func (st *store) list(ctx context.Context, account, region string) ([]*record, error) {
	entries, err := st.b.List(ctx, secretPrefix(account, region), "", 0)
	if err != nil {
		return nil, err
	}
	out := make([]*record, 0, len(entries))
	for _, e := range entries {
		r := new(record)
		if err := json.Unmarshal(e.Value, r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// all returns every secret in storage, for the scheduler's sweep.
func (st *store) all(ctx context.Context) ([]*record, error) {
	entries, err := st.b.List(ctx, "secrets/", "", 0)
	if err != nil {
		return nil, err
	}
	var out []*record
	for _, e := range entries {
		if !isSecretKey(e.Key) {
			continue
		}
		r := new(record)
		if err := json.Unmarshal(e.Value, r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// isSecretKey reports whether p is secrets/ACCOUNT/REGION/secret/NAME.
func isSecretKey(p string) bool {
	parts := strings.SplitN(p, "/", 5)
	return len(parts) == 5 && parts[3] == "secret"
}

// change is what one write transaction does: records to put (by their own
// path) or delete, and values to put or delete.
type change struct {
	put       []*record
	del       []*record
	putValues map[string]*value
	delValues []string
}

func (c *change) value(r *record, versionID string, v *value) {
	if c.putValues == nil {
		c.putValues = map[string]*value{}
	}
	c.putValues[valuePath(r.Account, r.Region, r.UID, versionID)] = v
}

// update runs fn in one storage transaction under the write lock. fn reads
// current records through the transaction (never the cache) and returns the
// change to commit; the cache follows after the commit.
func (st *store) update(ctx context.Context, fn func(tx storage.Tx) (*change, error)) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	var ch *change
	err := st.b.Update(ctx, func(tx storage.Tx) error {
		var err error
		ch, err = fn(tx)
		if err != nil || ch == nil {
			return err
		}
		// Deletions first: a put may replace a deleted record at its path
		// (a replica forced over another secret of the same name).
		for _, r := range ch.del {
			if err := tx.Delete(ctx, secretPath(r.Account, r.Region, r.Name)); err != nil {
				return err
			}
			vals, err := tx.List(ctx, valuePrefix(r.Account, r.Region, r.UID), "", 0)
			if err != nil {
				return err
			}
			for _, e := range vals {
				if err := tx.Delete(ctx, e.Key); err != nil {
					return err
				}
			}
		}
		for _, r := range ch.put {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			if err := tx.Put(ctx, secretPath(r.Account, r.Region, r.Name), b); err != nil {
				return err
			}
		}
		for p, v := range ch.putValues {
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			if err := tx.Put(ctx, p, b); err != nil {
				return err
			}
		}
		for _, p := range ch.delValues {
			if err := tx.Delete(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil || ch == nil {
		return err
	}
	for _, r := range ch.del {
		st.secrets.Delete(secretPath(r.Account, r.Region, r.Name))
		prefix := valuePrefix(r.Account, r.Region, r.UID)
		st.values.Range(func(k, _ any) bool {
			if strings.HasPrefix(k.(string), prefix) {
				st.values.Delete(k)
			}
			return true
		})
	}
	for _, r := range ch.put {
		r.arn = arnOf(st.partition, r, r.Region)
		st.secrets.Store(secretPath(r.Account, r.Region, r.Name), r)
	}
	for p, v := range ch.putValues {
		st.values.Store(p, v)
	}
	for _, p := range ch.delValues {
		st.values.Delete(p)
	}
	return nil
}

// getTx reads a record inside a transaction.
func getTx(ctx context.Context, tx storage.Reader, account, region, name string) (*record, error) {
	b, err := tx.Get(ctx, secretPath(account, region, name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	r := new(record)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, err
	}
	return r, nil
}

// liveTx re-reads r inside a transaction and refuses, as the operations
// do, a secret that was deleted and re-created under the same name since r
// was read (errNotFound) or that is marked for deletion.
func liveTx(ctx context.Context, tx storage.Reader, r *record) (*record, error) {
	cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
	if err != nil {
		return nil, err
	}
	if cur.UID != r.UID {
		return nil, errNotFound
	}
	if err := notDeleted(cur); err != nil {
		return nil, err
	}
	return cur, nil
}
