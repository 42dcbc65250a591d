// Package iam keeps identities and their credentials: accounts, each
// account's root access key, IAM users with their access keys, roles, and
// the inline policies and tags of users and roles. It answers the two
// questions every request asks: whose secret signs with this access key
// (LookupSecret, Principal), and which identity policies apply to that
// principal (Policies).
//
// It is storage, not API: it keeps records consistent (one transaction per
// change, names unique per account regardless of case, at most two access
// keys per user, the aggregate inline-policy quota) and reports what went
// wrong with sentinel errors. Validation, authorization and AWS's wording
// belong to the service (internal/iamsvc).
//
// It stores through the barrier (consumed as a small interface) and imports
// auth, policy, storage and svcerr; never a transport or service package.
package iam

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Errors callers branch on. Every "no such" error wraps ErrNotFound.
var (
	// ErrNotFound is returned for an unknown or inactive access key, and
	// wrapped by the more precise errors below.
	ErrNotFound        = errors.New("iam: not found")
	ErrNoSuchAccount   = fmt.Errorf("%w: account", ErrNotFound)
	ErrNoSuchUser      = fmt.Errorf("%w: user", ErrNotFound)
	ErrNoSuchRole      = fmt.Errorf("%w: role", ErrNotFound)
	ErrNoSuchAccessKey = fmt.Errorf("%w: access key", ErrNotFound)
	ErrNoSuchPolicy    = fmt.Errorf("%w: inline policy", ErrNotFound)
	ErrExists          = errors.New("iam: already exists")
	ErrHasAccessKeys   = errors.New("iam: the user still has access keys")
	ErrHasPolicies     = errors.New("iam: the user or role still has inline policies")
	ErrAccountNotEmpty = errors.New("iam: the account still has users or roles")
	ErrAccessKeyLimit  = errors.New("iam: the user already has the most access keys allowed")
	ErrPolicySizeLimit = errors.New("iam: the inline policies would exceed their aggregate size quota")
	ErrUserLimit       = errors.New("iam: the account already has the most users allowed")
	ErrRoleLimit       = errors.New("iam: the account already has the most roles allowed")
)

// MaxAccessKeysPerUser is AWS's quota of access keys per IAM user.
const MaxAccessKeysPerUser = 2

// AWS's default quotas of users and roles per account ("IAM and AWS STS
// quotas": UsersPerAccount 5000, RolesPerAccount 1000).
const (
	MaxUsersPerAccount = 5000
	MaxRolesPerAccount = 1000
)

// Backend is what the store needs from the barrier.
type Backend interface {
	storage.Reader
	storage.Writer
	Update(ctx context.Context, fn func(tx storage.Tx) error) error
}

// Store is the identity store. It is safe for concurrent use.
type Store struct {
	b         Backend
	partition string
	creds     cache[*credential]      // access key ID → secret and principal
	pols      cache[[]*policy.Policy] // user or role unique ID → its parsed inline policies
	roles     cache[*ParsedRole]      // ACCOUNT/lower-case role name → the role as STS uses it
	usage     usage                   // access keys' last use, flushed periodically (lastused.go)
	userIDs   cache[string]           // ACCOUNT/lower-case user name → the user's unique ID
	// maxUsers and maxRoles are the per-account quotas; tests lower them.
	maxUsers, maxRoles int
	// gate is asked before every cached lookup (SetGate).
	gate storage.Gate
}

// SetGate installs fn, asked before every lookup the caches answer
// (credentials, principals, identity policies, roles, user IDs); when it
// returns an error the lookup fails with it, so a node that has lost sight
// of other nodes' changes (storage.Fresh) stops honouring an access key or
// policy that may have been deleted elsewhere.
func (s *Store) SetGate(fn func() error) { s.gate.Set(fn) }

// credential is what one access key proves, as cached.
type credential struct {
	secret []byte
	active bool
	p      auth.Principal
}

// New returns a Store over b for the given ARN partition.
func New(b Backend, partition string) *Store {
	return &Store{b: b, partition: partition, maxUsers: MaxUsersPerAccount, maxRoles: MaxRolesPerAccount}
}

// InvalidatePath drops what the store cached from the storage key p, which
// another node changed. Identity changes are rare and a principal's cache
// entry depends on several records (the access key, its user's tags and
// policies), so any change under iam/ drops every cache whole.
func (s *Store) InvalidatePath(p string) {
	if strings.HasPrefix(p, "iam/") {
		s.ForgetAll()
	}
}

// ForgetAll drops every cache; the next lookups read storage.
func (s *Store) ForgetAll() {
	s.creds.invalidateAll()
	s.pols.invalidateAll()
	s.roles.invalidateAll()
	s.userIDs.invalidateAll()
}

// Partition is the ARN partition the store writes ARNs in.
func (s *Store) Partition() string { return s.partition }

// Storage layout; docs/FORMATS.md documents it. Names are stored under their
// lower-case form because IAM names are unique regardless of case.
func akPath(id string) string             { return "iam/accesskey/" + id }
func accountPath(a string) string         { return "iam/accounts/" + a }
func rootPath(account string) string      { return "iam/account/" + account + "/root-access-key" }
func acctPrefix(a, kind string) string    { return "iam/account/" + a + "/" + kind + "/" }
func userPath(a, name string) string      { return acctPrefix(a, "user") + key(name) }
func userKeyPrefix(a, name string) string { return acctPrefix(a, "user-key") + key(name) + "/" }
func rolePath(a, name string) string      { return acctPrefix(a, "role") + key(name) }
func (s *Store) rootARN(a string) string  { return "arn:" + s.partition + ":iam::" + a + ":root" }
func key(name string) string              { return strings.ToLower(name) }
func policyPrefix(o Owner) string {
	return acctPrefix(o.Account, o.Kind.String()+"-policy") + key(o.Name) + "/"
}
func ownerPath(o Owner) string                 { return acctPrefix(o.Account, o.Kind.String()) + key(o.Name) }
func (s *Store) RootARN(account string) string { return s.rootARN(account) }

// AccessKey is the stored form of an access key. Secret is only ever shown
// to a client in the response that creates it.
type AccessKey struct {
	ID      string             `json:"id"`
	Secret  []byte             `json:"secret"`
	Account string             `json:"account"`
	Type    auth.PrincipalType `json:"type"`
	ARN     string             `json:"arn"`
	UserID  string             `json:"userId"`
	// UserName is the owning IAM user; empty for a root key.
	UserName string    `json:"userName,omitempty"`
	Active   bool      `json:"active"`
	Created  time.Time `json:"created"`
}

// getJSON reads and decodes the record at path; a missing record is notFound.
func getJSON[T any](ctx context.Context, r storage.Reader, path string, notFound error) (*T, error) {
	raw, err := r.Get(ctx, path)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	v := new(T)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("iam: record %s: %w", path, err)
	}
	return v, nil
}

func putJSON(ctx context.Context, w storage.Writer, path string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return w.Put(ctx, path, raw)
}

// exists reports whether path holds a record.
func exists(ctx context.Context, r storage.Reader, path string) (bool, error) {
	_, err := r.Get(ctx, path)
	if errors.Is(err, storage.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// EnsureRootAccessKey makes id/secret the root access key of account,
// creating the account if needed. With an empty id, it returns the existing
// root key or generates one. It returns the key ID and secret in effect.
func (s *Store) EnsureRootAccessKey(ctx context.Context, account, id string, secret []byte) (string, []byte, error) {
	var outID, old string
	var outSecret []byte
	err := s.b.Update(ctx, func(tx storage.Tx) error {
		outID, old, outSecret = "", "", nil
		if err := ensureAccount(ctx, tx, account, time.Now()); err != nil {
			return err
		}
		cur, err := tx.Get(ctx, rootPath(account))
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
		if id == "" && len(cur) > 0 {
			ak, err := getJSON[AccessKey](ctx, tx, akPath(string(cur)), fmt.Errorf("iam: root key record %s is missing", cur))
			if err != nil {
				return err
			}
			outID, outSecret = ak.ID, ak.Secret
			return nil
		}
		kid, ksecret := id, secret
		if kid == "" {
			if kid, ksecret, err = NewAccessKey(); err != nil {
				return err
			}
		}
		outID, outSecret, old, err = s.putRootKey(ctx, tx, account, string(cur), kid, ksecret)
		return err
	})
	if err != nil {
		return "", nil, fmt.Errorf("iam: ensure root access key: %w", err)
	}
	s.creds.invalidate(outID)
	if old != "" {
		s.creds.invalidate(old)
	}
	return outID, outSecret, nil
}

// putRootKey stores id/secret as the root key of account, replacing cur.
// It returns the key in effect and the replaced key's ID ("" if none).
func (s *Store) putRootKey(ctx context.Context, tx storage.Tx, account, cur, id string, secret []byte) (string, []byte, string, error) {
	replaced := ""
	if cur != "" && cur != id {
		if err := tx.Delete(ctx, akPath(cur)); err != nil {
			return "", nil, "", err
		}
		replaced = cur
	}
	ak := AccessKey{ID: id, Secret: secret, Account: account, Type: auth.Root,
		ARN: s.rootARN(account), UserID: account, Active: true, Created: time.Now().UTC().Truncate(time.Second)}
	if err := putJSON(ctx, tx, akPath(id), &ak); err != nil {
		return "", nil, "", err
	}
	return id, secret, replaced, tx.Put(ctx, rootPath(account), []byte(id))
}

// NewAccessKey generates an access key ID ("AKIA" + 16 base32 characters)
// and a 40-character secret, from crypto/rand.
func NewAccessKey() (string, []byte, error) {
	const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	id, err := NewID("AKIA")
	if err != nil {
		return "", nil, err
	}
	var b [40]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, err
	}
	secret := make([]byte, 40)
	for i, c := range b {
		secret[i] = secretAlphabet[c&63]
	}
	return id, secret, nil
}

// NewID returns prefix followed by 16 random upper-case base32 characters,
// the shape of AWS's unique IDs (AIDA… for users, AROA… for roles, AKIA…
// for access keys).
func NewID(prefix string) (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := make([]byte, 0, len(prefix)+16)
	id = append(id, prefix...)
	for _, c := range b {
		id = append(id, alphabet[c&31])
	}
	return string(id), nil
}

// credential returns what access key id proves, from the cache or storage.
func (s *Store) credential(ctx context.Context, id string) (*credential, error) {
	if err := s.gate.Check(); err != nil {
		return nil, err
	}
	c, ok, seen := s.creds.get(id)
	if ok {
		return c, nil
	}
	c, err := s.loadCredential(ctx, id)
	if err != nil {
		return nil, err
	}
	s.creds.fill(id, seen, c)
	return c, nil
}

func (s *Store) loadCredential(ctx context.Context, id string) (*credential, error) {
	ak, err := getJSON[AccessKey](ctx, s.b, akPath(id), ErrNotFound)
	if err != nil {
		return nil, err
	}
	c := &credential{secret: ak.Secret, active: ak.Active,
		p: auth.Principal{Type: ak.Type, Account: ak.Account, ARN: ak.ARN, UserID: ak.UserID, AccessKeyID: ak.ID}}
	if ak.Type == auth.IAMUser {
		u, err := getJSON[User](ctx, s.b, userPath(ak.Account, ak.UserName), ErrNotFound)
		if err != nil {
			return nil, err
		}
		if u.ID != ak.UserID {
			// The key outlived its user (which cannot happen through the
			// API); it must not act for a new user of the same name.
			return nil, ErrNotFound
		}
		c.p.ARN, c.p.UserName = u.ARN, u.Name
		if len(u.Tags) > 0 {
			c.p.Tags = make(map[string]string, len(u.Tags))
			for _, t := range u.Tags {
				c.p.Tags[t.Key] = t.Value
			}
		}
	}
	return c, nil
}

// LookupSecret returns the secret of an active access key, or ErrNotFound.
// The returned slice is shared and must not be modified.
func (s *Store) LookupSecret(ctx context.Context, id string) ([]byte, error) {
	c, err := s.credential(ctx, id)
	if err != nil {
		return nil, err
	}
	if !c.active {
		return nil, ErrNotFound
	}
	return c.secret, nil
}

// Principal returns the identity an active access key belongs to: the
// account's root, or an IAM user with its name and tags. A session token is
// only valid with temporary credentials, and Arca issues none yet, so any
// token is refused as AWS refuses an invalid one. (STS sessions will look
// the token up here, before the long-term key, and return an AssumedRole
// principal.)
func (s *Store) Principal(ctx context.Context, id, sessionToken string) (auth.Principal, error) {
	if sessionToken != "" {
		return auth.Principal{}, svcerr.New(svcerr.UnrecognizedClient, "The security token included in the request is invalid.")
	}
	c, err := s.credential(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !c.active) {
		return auth.Principal{}, svcerr.New(svcerr.UnrecognizedClient, "The security token included in the request is invalid.")
	}
	if err != nil {
		return auth.Principal{}, svcerr.InternalError(err)
	}
	return c.p, nil
}

// Policies returns the identity-based policies of p, parsed, and the session
// policy of a role session. The root user has none: its permissions in its
// own account are implicitly complete. The result is shared and must not be
// modified. A cache hit reads no storage, parses nothing and allocates
// nothing; any change to the principal's policies invalidates it.
func (s *Store) Policies(ctx context.Context, p *auth.Principal) (identity []*policy.Policy, session *policy.Policy, err error) {
	if err := s.gate.Check(); err != nil {
		return nil, nil, err
	}
	switch p.Type {
	case auth.Root:
		return nil, nil, nil
	case auth.IAMUser:
		v, ok, seen := s.pols.get(p.UserID)
		if ok {
			return v, nil, nil
		}
		v, err := s.loadPolicies(ctx, Owner{Account: p.Account, Kind: UserOwner, Name: p.UserName}, p.UserID)
		if err != nil {
			return nil, nil, err
		}
		s.pols.fill(p.UserID, seen, v)
		return v, nil, nil
	case auth.AssumedRole:
		// A role session has its role's inline policies, cached by the
		// role's unique ID (UserID is ROLEID:SESSION, SourceARN the role's
		// ARN). The session policy is STS's: it keeps the session.
		roleID, _, _ := strings.Cut(p.UserID, ":")
		v, ok, seen := s.pols.get(roleID)
		if ok {
			return v, nil, nil
		}
		i := strings.LastIndexByte(p.SourceARN, '/')
		if roleID == "" || i < 0 {
			return nil, nil, errNotRole
		}
		v, err := s.loadPolicies(ctx, Owner{Account: p.Account, Kind: RoleOwner, Name: p.SourceARN[i+1:]}, roleID)
		if err != nil {
			return nil, nil, err
		}
		s.pols.fill(roleID, seen, v)
		return v, nil, nil
	}
	return nil, nil, fmt.Errorf("iam: no policies for principal type %q", p.Type)
}

// loadPolicies reads and parses the inline policies of o, whose unique ID
// must be id: an owner deleted and re-created under the same name is
// another identity and lends its policies to no one.
func (s *Store) loadPolicies(ctx context.Context, o Owner, id string) ([]*policy.Policy, error) {
	rec, err := getJSON[struct {
		ID string `json:"id"`
	}](ctx, s.b, ownerPath(o), ErrNotFound)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rec.ID != id {
		return nil, nil
	}
	entries, err := s.b.List(ctx, policyPrefix(o), "", 0)
	if err != nil {
		return nil, err
	}
	var out []*policy.Policy
	for _, e := range entries {
		var ip InlinePolicy
		if err := json.Unmarshal(e.Value, &ip); err != nil {
			return nil, fmt.Errorf("iam: record %s: %w", e.Key, err)
		}
		p, err := policy.ParseWith([]byte(ip.Document), policy.Options{Kind: policy.KindIdentity, MaxSize: -1})
		if err != nil {
			return nil, fmt.Errorf("iam: stored policy %s no longer parses: %w", e.Key, err)
		}
		out = append(out, p)
	}
	return out, nil
}
