package kms

import (
	"context"
	"log/slog"
	"sync"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Identities supplies what the identity store knows about a caller beyond
// its Principal: the identity-based policies of the user or role, and the
// session policy of a role session. The root user has neither. The returned
// policies are shared and immutable.
type Identities interface {
	Policies(ctx context.Context, p *auth.Principal) (identity []*policy.Policy, session *policy.Policy, err error)
}

// facts are a request's condition keys beyond the caller and the key: what
// AWS KMS puts in the request context for the operation at hand.
type facts struct {
	// ec is the request's encryption context (kms:EncryptionContext:*,
	// kms:EncryptionContextKeys); nil when the operation takes none.
	ec map[string]string
	// encAlg, signAlg and macAlg are kms:EncryptionAlgorithm,
	// kms:SigningAlgorithm and kms:MacAlgorithm.
	encAlg, signAlg, macAlg string
	// alias is kms:RequestAlias: the alias the request named the key by.
	alias string
	// grantTokens are the request's GrantTokens.
	grantTokens []string
	// more sets operation-specific keys (kms:GrantOperations,
	// aws:RequestTag/*, kms:RotationPeriodInDays, ...).
	more func(*policy.Context)
	// byGrant, when set, decides whether the caller's grants allow the
	// action when its policies do not (and deny nothing explicitly): for
	// CreateGrant, whose grant-given permission depends on the new grant.
	byGrant func() (bool, error)
}

// contexts recycles condition-key contexts: building one per request must
// not allocate on the Encrypt path.
var contexts = sync.Pool{New: func() any { return new(policy.Context) }}

// authorize is the one place every operation asks whether the caller may
// perform action on k (nil for account-level actions such as CreateKey and
// ListKeys, whose resource is "*"). It evaluates, as AWS KMS does, the key
// policy, the caller's identity-based policies and session policy, and the
// key's grants (see policy.Decide).
func (s *Service) authorize(ctx context.Context, c *auth.Caller, action string, k *keystore.Key) error {
	return s.authorizeWith(ctx, c, action, k, nil)
}

// authorizeWith is authorize with the request's condition keys.
func (s *Service) authorizeWith(ctx context.Context, c *auth.Caller, action string, k *keystore.Key, f *facts) error {
	return s.decide(ctx, c, action, k, nil, f)
}

// authorizeUnder decides action on k as if kp were k's key policy: the
// lockout safety check asks what a new policy would allow.
func (s *Service) authorizeUnder(ctx context.Context, c *auth.Caller, action string, k *keystore.Key, kp *policy.Policy) error {
	return s.decide(ctx, c, action, k, kp, nil)
}

// decide evaluates the policies for one request; kp overrides k's own key
// policy when non-nil.
func (s *Service) decide(ctx context.Context, c *auth.Caller, action string, k *keystore.Key, kp *policy.Policy, f *facts) error {
	var identity []*policy.Policy
	var session *policy.Policy
	if s.ids != nil && c.Type != auth.Root {
		var err error
		if identity, session, err = s.ids.Policies(ctx, &c.Principal); err != nil {
			return s.storeErr(err, "principal")
		}
	}
	pc := contexts.Get().(*policy.Context)
	defer func() { pc.Reset(); contexts.Put(pc) }()
	s.fillContext(pc, c, k, f)
	if k != nil {
		// kms:ResourceAliases: the aliases of the key, however the request
		// named it (cached per key; a key without aliases sets nothing).
		aliases, err := s.ks.KeyAliases(ctx, k.Account, k.Region, k.ID)
		if err != nil {
			return s.storeErr(err, "Key '"+s.keyARN(k)+"'")
		}
		if len(aliases) > 0 {
			pc.SetMulti("kms:ResourceAliases", aliases)
		}
	}
	resource := "*"
	if k != nil {
		resource = s.keyARN(k)
	}
	req := policy.Request{Action: action, Resource: resource, Principal: policy.PrincipalOf(c), Context: pc}
	var d policy.Decision
	if k == nil {
		d = policy.DecideIdentity(policy.Inputs{Request: req, IdentityPolicies: identity, SessionPolicy: session})
	} else {
		if kp == nil {
			kp = s.keyPolicy(k)
		}
		d = policy.Decide(policy.Inputs{Request: req, KeyPolicy: kp, IdentityPolicies: identity,
			SessionPolicy: session, KeyAccount: k.Account})
	}
	if d.Allowed {
		return nil
	}
	if k != nil && !d.ExplicitDeny && f != nil && f.byGrant != nil {
		ok, err := f.byGrant()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	} else if k != nil && !d.ExplicitDeny && action != ActCreateGrant && action != ActRetireGrant {
		// Grants add permissions; they never override an explicit deny.
		// CreateGrant and RetireGrant by grant are decided by those
		// operations themselves: a grant's CreateGrant only covers grants
		// no wider than itself, and its RetireGrant only itself.
		var ec map[string]string
		var tokens []string
		if f != nil {
			ec, tokens = f.ec, f.grantTokens
		}
		viaAccount := func() bool {
			// A grant to the account: the caller's identity policies must
			// allow the action on the key, as for a key policy naming the
			// account.
			return policy.DecideIdentity(policy.Inputs{Request: req, IdentityPolicies: identity, SessionPolicy: session}).Allowed
		}
		ok, err := s.grantAllowsVia(ctx, c, k, action, ec, tokens, viaAccount)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	return svcerr.New(svcerr.AccessDenied, "%s", d.Message(c.ARN, action, resource))
}

// fillContext sets the condition keys AWS KMS documents for the request.
func (s *Service) fillContext(pc *policy.Context, c *auth.Caller, k *keystore.Key, f *facts) {
	pc.SetCaller(c, s.clock.Keys())
	pc.Add("kms:CallerAccount", c.Account)
	if c.ViaService != "" {
		pc.Add("kms:ViaService", c.ViaService)
	}
	if k != nil {
		pc.Add("kms:KeySpec", string(k.Spec))
		pc.Add("kms:KeyUsage", k.Usage)
		pc.Add("kms:KeyOrigin", k.Origin)
		pc.SetBool("kms:MultiRegion", k.MultiRegion)
		if k.MultiRegionType != "" {
			pc.Add("kms:MultiRegionKeyType", k.MultiRegionType)
		}
		for _, t := range k.Tags {
			pc.Set("aws:ResourceTag/"+t.Key, t.Value)
		}
	}
	if f == nil {
		return
	}
	if f.ec != nil {
		keys := make([]string, 0, len(f.ec))
		for ek, ev := range f.ec {
			// AWS matches the key part of kms:EncryptionContext:KEY without
			// regard to case, which Set's case-insensitive keys give.
			pc.Set("kms:EncryptionContext:"+ek, ev)
			keys = append(keys, ek)
		}
		pc.SetMulti("kms:EncryptionContextKeys", keys)
	}
	if f.encAlg != "" {
		pc.Add("kms:EncryptionAlgorithm", f.encAlg)
	}
	if f.signAlg != "" {
		pc.Add("kms:SigningAlgorithm", f.signAlg)
	}
	if f.macAlg != "" {
		pc.Add("kms:MacAlgorithm", f.macAlg)
	}
	if f.alias != "" {
		pc.Add("kms:RequestAlias", f.alias)
	}
	if f.more != nil {
		f.more(pc)
	}
}

// maxPolicyCache bounds the parsed key-policy cache. Most keys share a few
// documents (every default policy of an account is the same text), so the
// bound is only reached under churn, and then the cache simply starts over.
const maxPolicyCache = 4096

// keyPolicy returns k's parsed policy, from a cache keyed by the document's
// text so that keys with the same policy share one parse. A stored document
// that no longer parses (it was accepted by an older, laxer Arca) denies
// everything, and says so in the log: failing closed is the only safe
// reading of a policy nobody can evaluate.
func (s *Service) keyPolicy(k *keystore.Key) *policy.Policy {
	doc := k.Policy
	if doc == "" {
		doc = defaultKeyPolicy(s.partition, k.Account)
	}
	if p, ok := s.policies.Load(doc); ok {
		return p.(*policy.Policy)
	}
	p, err := policy.ParseWith([]byte(doc), policy.Options{Kind: policy.KindResource})
	if err != nil {
		s.log.Warn("key policy does not parse; the key is unusable until PutKeyPolicy replaces it",
			slog.String("key", s.keyARN(k)), slog.Any("error", err))
		return nil
	}
	if s.policyCount.Add(1) > maxPolicyCache {
		s.policies.Clear()
		s.policyCount.Store(1)
	}
	s.policies.Store(doc, p)
	return p
}

// setRequestTags sets aws:RequestTag/KEY for each tag of the request and
// aws:TagKeys to their keys.
func setRequestTags(pc *policy.Context, tags []keystore.Tag) {
	if len(tags) == 0 {
		return
	}
	keys := make([]string, len(tags))
	for i, t := range tags {
		pc.Set("aws:RequestTag/"+t.Key, t.Value)
		keys[i] = t.Key
	}
	pc.SetMulti("aws:TagKeys", keys)
}
