package sts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Backend is what the session store needs from the barrier.
type Backend interface {
	storage.Reader
	storage.Writer
}

// session is the stored form of one set of temporary credentials. The
// session token itself is not stored, only its SHA-256: a token is a bearer
// secret and the record only needs to recognise it.
type session struct {
	AccessKeyID string             `json:"accessKeyId"`
	Secret      []byte             `json:"secret"`
	TokenHash   string             `json:"tokenHash"`
	Type        auth.PrincipalType `json:"type"`
	Account     string             `json:"account"`
	ARN         string             `json:"arn"`
	UserID      string             `json:"userId"`
	UserName    string             `json:"userName,omitempty"`
	SourceARN   string             `json:"sourceArn,omitempty"`
	// RoleID is the unique ID of the role a role session was made from; a
	// role deleted (and perhaps recreated under the same name) since ends
	// the session.
	RoleID         string            `json:"roleId,omitempty"`
	RoleName       string            `json:"roleName,omitempty"`
	SessionName    string            `json:"sessionName,omitempty"`
	SourceIdentity string            `json:"sourceIdentity,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	// TransitiveTagKeys are the session tags passed on to a chained role
	// session.
	TransitiveTagKeys []string `json:"transitiveTagKeys,omitempty"`
	// Policy is the inline session policy, if any.
	Policy string `json:"policy,omitempty"`
	// FromGetSessionToken marks GetSessionToken credentials, which AWS
	// does not let call IAM, nor STS beyond AssumeRole and
	// GetCallerIdentity.
	FromGetSessionToken bool      `json:"fromGetSessionToken,omitempty"`
	Issued              time.Time `json:"issued"`
	Expiration          time.Time `json:"expiration"`

	// parsed is Policy compiled, set on load.
	parsed *policy.Policy
}

func sessionPath(akid string) string { return "sts/session/" + akid }

// sessionPrefix is where every session record lives.
const sessionPrefix = "sts/session/"

// newCredentials returns a temporary access key ID ("ASIA" + 16 base32
// characters), a 40-character secret and a session token, all from
// crypto/rand.
func newCredentials() (akid string, secret []byte, token string, err error) {
	const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	const secretAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	var b [56 + 64]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", nil, "", err
	}
	id := make([]byte, 0, 20)
	id = append(id, "ASIA"...)
	for _, c := range b[:16] {
		id = append(id, idAlphabet[c&31])
	}
	secret = make([]byte, 40)
	for i, c := range b[16:56] {
		secret[i] = secretAlphabet[c&63]
	}
	// The token is opaque to clients; a prefix makes Arca's tokens easy to
	// recognise in a leak scan.
	token = "ArcaSTS" + base64.RawURLEncoding.EncodeToString(b[56:])
	return string(id), secret, token, nil
}

func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// store keeps sessions under the barrier, with a cache: a session never
// changes once written.
type store struct {
	b     Backend
	cache sync.Map // access key ID -> *session
	// gate is asked before every lookup (Service.SetGate).
	gate storage.Gate
}

func (st *store) put(ctx context.Context, s *session) error {
	rec, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return st.b.Put(ctx, sessionPath(s.AccessKeyID), rec)
}

var errNoSession = errors.New("sts: no such session")

func (st *store) get(ctx context.Context, akid string) (*session, error) {
	if err := st.gate.Check(); err != nil {
		return nil, err
	}
	if v, ok := st.cache.Load(akid); ok {
		return v.(*session), nil
	}
	raw, err := st.b.Get(ctx, sessionPath(akid))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, errNoSession
	}
	if err != nil {
		return nil, err
	}
	s := new(session)
	if err := json.Unmarshal(raw, s); err != nil {
		return nil, fmt.Errorf("sts: session record: %w", err)
	}
	if s.Policy != "" {
		if s.parsed, err = policy.ParseWith([]byte(s.Policy), policy.Options{Kind: policy.KindSession, MaxSize: -1}); err != nil {
			return nil, fmt.Errorf("sts: stored session policy: %w", err)
		}
	}
	st.cache.Store(akid, s)
	return s, nil
}

// sweep deletes sessions that expired before cutoff.
func (st *store) sweep(ctx context.Context, cutoff time.Time) (int, error) {
	n, after := 0, ""
	for {
		entries, err := st.b.List(ctx, sessionPrefix, after, 256)
		if err != nil {
			return n, err
		}
		if len(entries) == 0 {
			return n, nil
		}
		for _, e := range entries {
			after = e.Key
			var s session
			if err := json.Unmarshal(e.Value, &s); err != nil {
				continue
			}
			if s.Expiration.Before(cutoff) {
				if err := st.b.Delete(ctx, e.Key); err != nil {
					return n, err
				}
				st.cache.Delete(s.AccessKeyID)
				n++
			}
		}
	}
}

// IsTemporary reports whether an access key ID is one of STS's.
func IsTemporary(akid string) bool { return strings.HasPrefix(akid, "ASIA") }

func invalidToken() error {
	return svcerr.New(svcerr.UnrecognizedClient, "The security token included in the request is invalid.")
}

// LookupSecret returns the secret of temporary credentials for SigV4
// verification. Expiry and the session token are checked by Principal,
// after the signature, so an expired but correctly signed request is told
// that its token expired.
func (s *Service) LookupSecret(ctx context.Context, akid string) ([]byte, error) {
	sess, err := s.sessions.get(ctx, akid)
	if err != nil {
		return nil, err
	}
	return sess.Secret, nil
}

// ErrNoSession is returned by LookupSecret for an unknown access key ID.
var ErrNoSession = errNoSession

// Principal returns the identity behind temporary credentials: the token
// must be the session's, the session must not have expired, and a role
// session's role (a user session's user) must still exist.
func (s *Service) Principal(ctx context.Context, akid, token string) (auth.Principal, error) {
	sess, err := s.sessions.get(ctx, akid)
	if errors.Is(err, errNoSession) {
		return auth.Principal{}, invalidToken()
	}
	if err != nil {
		return auth.Principal{}, svcerr.InternalError(err)
	}
	got := tokenHash(token)
	if token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(sess.TokenHash)) != 1 {
		return auth.Principal{}, invalidToken()
	}
	if !s.now().Before(sess.Expiration) {
		return auth.Principal{}, svcerr.New(svcerr.ExpiredToken, "The security token included in the request is expired")
	}
	if sess.Type == auth.IAMUser {
		// GetSessionToken credentials end with their user.
		id, err := s.dir.UserID(ctx, sess.Account, sess.UserName)
		if errors.Is(err, ErrNoSuchUser) || (err == nil && id != sess.UserID) {
			return auth.Principal{}, invalidToken()
		}
		if err != nil {
			return auth.Principal{}, svcerr.InternalError(err)
		}
	}
	if sess.RoleID != "" {
		r, err := s.dir.Role(ctx, sess.Account, sess.RoleName)
		if errors.Is(err, ErrNoSuchRole) || (err == nil && r.ID != sess.RoleID) {
			return auth.Principal{}, invalidToken()
		}
		if err != nil {
			return auth.Principal{}, svcerr.InternalError(err)
		}
	}
	return auth.Principal{
		Type: sess.Type, Account: sess.Account, ARN: sess.ARN, UserID: sess.UserID, AccessKeyID: sess.AccessKeyID,
		UserName: sess.UserName, SourceARN: sess.SourceARN, SessionName: sess.SessionName,
		SourceIdentity: sess.SourceIdentity, Tags: sess.Tags, Expiration: sess.Expiration, Temporary: true,
	}, nil
}

// Policies returns the caller's identity-based policies (from the
// directory) and, for temporary credentials, the session policy.
func (s *Service) Policies(ctx context.Context, p *auth.Principal) ([]*policy.Policy, *policy.Policy, error) {
	identity, _, err := s.dir.Policies(ctx, p)
	if err != nil || !p.Temporary {
		return identity, nil, err
	}
	sess, err := s.sessions.get(ctx, p.AccessKeyID)
	if err != nil {
		return nil, nil, err
	}
	return identity, sess.parsed, nil
}

// Sweep deletes sessions that expired more than an hour ago; the hour keeps
// ExpiredTokenException (rather than "invalid") for clients a little late.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	return s.sessions.sweep(ctx, s.now().Add(-time.Hour))
}
