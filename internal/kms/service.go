// Package kms implements the AWS KMS operations: key lifecycle, aliases,
// tags and symmetric cryptography, with AWS's validation rules, limits and
// error codes.
//
// Operations take (ctx, caller, input) and return (output, error), where every
// error a client may see is a *svcerr.Error. The package knows nothing of
// HTTP or JSON encoding; it imports keystore, kmscrypto, arn, auth, epoch and
// svcerr, never a transport or server package.
package kms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arca-kms/arca/internal/arn"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Config holds the service's settings.
type Config struct {
	// Partition is the ARN partition, "aws" by default.
	Partition string
	// Now is the clock; tests move it instead of sleeping.
	Now func() time.Time
	// Logger receives operational logs. Never key material.
	Logger *slog.Logger
	// Regions are the regions the deployment serves: the only ones
	// ReplicateKey and UpdatePrimaryRegion may name.
	Regions []string
	// Identities supplies callers' identity-based policies; nil means
	// there are none (then only account roots are allowed anything).
	Identities Identities
}

// Service is the KMS service. It is safe for concurrent use.
type Service struct {
	ks        *keystore.Store
	partition string
	now       func() time.Time
	log       *slog.Logger
	regions   []string
	ids       Identities
	// policies caches parsed key policies by document text (see keyPolicy).
	policies    sync.Map
	policyCount atomic.Int64
	// clock formats the time condition keys once per second.
	clock *policy.Clock
	// grantQuota overrides the grants-per-key quota when positive (tests).
	grantQuota int
}

// New returns a Service over ks.
func New(ks *keystore.Store, cfg Config) *Service {
	s := &Service{ks: ks, partition: cfg.Partition, now: cfg.Now, log: cfg.Logger, regions: slices.Clone(cfg.Regions), ids: cfg.Identities}
	if s.partition == "" {
		s.partition = "aws"
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	// Through s.now, not cfg.Now: tests move the service's clock.
	s.clock = policy.NewClock(func() time.Time { return s.now() })
	return s
}

func (s *Service) keyARN(k *keystore.Key) string {
	return arn.KeyARN(s.partition, k.Region, k.Account, k.ID)
}

// newKeyID returns a random (version 4) UUID from crypto/rand.
func newKeyID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// Actions, as IAM spells them; authorization and audit key on these.
const (
	ActCreateKey                       = "kms:CreateKey"
	ActDescribeKey                     = "kms:DescribeKey"
	ActListKeys                        = "kms:ListKeys"
	ActEnableKey                       = "kms:EnableKey"
	ActDisableKey                      = "kms:DisableKey"
	ActScheduleKeyDeletion             = "kms:ScheduleKeyDeletion"
	ActCancelKeyDeletion               = "kms:CancelKeyDeletion"
	ActUpdateKeyDescription            = "kms:UpdateKeyDescription"
	ActGetKeyPolicy                    = "kms:GetKeyPolicy"
	ActPutKeyPolicy                    = "kms:PutKeyPolicy"
	ActListKeyPolicies                 = "kms:ListKeyPolicies"
	ActCreateAlias                     = "kms:CreateAlias"
	ActUpdateAlias                     = "kms:UpdateAlias"
	ActDeleteAlias                     = "kms:DeleteAlias"
	ActListAliases                     = "kms:ListAliases"
	ActTagResource                     = "kms:TagResource"
	ActUntagResource                   = "kms:UntagResource"
	ActListResourceTags                = "kms:ListResourceTags"
	ActEncrypt                         = "kms:Encrypt"
	ActDecrypt                         = "kms:Decrypt"
	ActReEncryptFrom                   = "kms:ReEncryptFrom"
	ActReEncryptTo                     = "kms:ReEncryptTo"
	ActGenerateDataKey                 = "kms:GenerateDataKey"
	ActGenerateDataKeyWithoutPlaintext = "kms:GenerateDataKeyWithoutPlaintext"
	ActGenerateRandom                  = "kms:GenerateRandom"
)

// resolve finds the key that id names for the caller. allowAlias says whether
// the operation accepts alias names and alias ARNs (AWS documents this per
// operation). A key in another region is never visible.
func (s *Service) resolve(ctx context.Context, c *auth.Caller, id string, allowAlias bool) (*keystore.Key, error) {
	ref, err := arn.ParseKeyRef(id)
	if err != nil || (ref.IsAlias() && !allowAlias) {
		return nil, svcerr.New(svcerr.NotFound, "Invalid keyId '%s'", id)
	}
	account, region := c.Account, c.Region
	if ref.Account != "" {
		if ref.Partition != s.partition || ref.Region != c.Region {
			return nil, svcerr.New(svcerr.NotFound, "Key '%s' does not exist", id)
		}
		account = ref.Account
	}
	keyID := ref.KeyID
	if ref.IsAlias() {
		a, err := s.ks.GetAlias(ctx, account, region, ref.AliasName)
		if errors.Is(err, keystore.ErrNotFound) {
			return nil, svcerr.New(svcerr.NotFound, "Alias %s is not found.", arn.AliasARN(s.partition, region, account, ref.AliasName))
		}
		if err != nil {
			return nil, svcerr.InternalError(err)
		}
		keyID = a.TargetKeyID
	}
	k, err := s.ks.Get(ctx, account, region, keyID)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, svcerr.New(svcerr.NotFound, "Key '%s' does not exist", arn.KeyARN(s.partition, region, account, keyID))
	}
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	return k, nil
}

// storeErr converts a keystore error into a service error.
func (s *Service) storeErr(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case svcerr.As(err) != nil:
		return err
	case errors.Is(err, keystore.ErrNotFound):
		return svcerr.New(svcerr.NotFound, "%s does not exist", what)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return svcerr.Wrap(svcerr.DependencyTimeout, err, "The request timed out. Retry the request.")
	}
	return svcerr.InternalError(err)
}

// dryRun is the error AWS returns when DryRun is set and the request would
// have succeeded.
func dryRun() error {
	return svcerr.New(svcerr.DryRunOperation, "The request would have succeeded, but the DryRun option is set.")
}

// checkEnum is AWS's validation error (svcerr's fixed form) for a value
// outside an enumeration, or nil.
func checkEnum(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return svcerr.Validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: %v", v, field, allowed)
}

// checkKeyID validates a required KeyId-like member's presence and length.
func checkKeyID(field, v string) error {
	if v == "" {
		return svcerr.Missing(field)
	}
	return svcerr.CheckLen(field, len(v), 1, 2048)
}

// AWS limits, each defined once.
const (
	maxPlaintext       = 4096
	maxCiphertext      = 6144
	maxDataKeyBytes    = 1024
	maxRandomBytes     = 1024
	maxDescription     = 8192
	maxPolicy          = 32768
	maxGrantTokens     = 10
	maxTagsPerKey      = 50
	maxTagKey          = 128
	maxTagValue        = 256
	defaultListKeys    = 100
	maxListKeys        = 1000
	defaultListAliases = 50
	maxListAliases     = 100
	defaultListTags    = 50
	maxListTags        = 50
	minPendingWindow   = 7
	maxPendingWindow   = 30
	defaultPendingDays = 30
)

func checkGrantTokens(t []string) error {
	if len(t) > maxGrantTokens {
		return svcerr.Validationf("1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to %d", maxGrantTokens)
	}
	for _, g := range t {
		if err := svcerr.CheckLen("grantTokens", len(g), 1, 8192); err != nil {
			return err
		}
	}
	return nil
}

// checkLimit validates an optional Limit member and returns its value.
func checkLimit(l *int32, def, hi int32) (int, error) {
	if l == nil {
		return int(def), nil
	}
	if err := svcerr.CheckRange("limit", *l, 1, hi); err != nil {
		return 0, err
	}
	return int(*l), nil
}

// authorizedKey resolves id (alias names and alias ARNs too when allowAlias)
// and authorizes action on the key: the start every operation on one
// existing key shares.
func (s *Service) authorizedKey(ctx context.Context, c *auth.Caller, id, action string, allowAlias bool) (*keystore.Key, error) {
	return s.authorizedKeyWith(ctx, c, id, action, allowAlias, nil)
}

// authorizedKeyWith is authorizedKey with the request's condition keys.
func (s *Service) authorizedKeyWith(ctx context.Context, c *auth.Caller, id, action string, allowAlias bool, f *facts) (*keystore.Key, error) {
	k, err := s.resolve(ctx, c, id, allowAlias)
	if err != nil {
		return nil, err
	}
	if err := s.authorizeWith(ctx, c, action, k, f); err != nil {
		return nil, err
	}
	return k, nil
}

// keyFor is authorizedKey followed by the key-state table, for operations
// that read a key or use it outside a storage transaction.
func (s *Service) keyFor(ctx context.Context, c *auth.Caller, id, action string, allowAlias bool) (*keystore.Key, error) {
	k, err := s.authorizedKey(ctx, c, id, action, allowAlias)
	if err != nil {
		return nil, err
	}
	if err := s.checkKeyState(k, action); err != nil {
		return nil, err
	}
	return k, nil
}
