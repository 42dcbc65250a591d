// Package secrets implements the AWS Secrets Manager operations: versioned
// secrets with staging labels, each version envelope-encrypted under a KMS
// key, resource policies, replication across the deployment's regions, and
// the rotation engine that runs AWS's four rotation steps against the
// rotators configured in Arca.
//
// Operations take (ctx, caller, input) and return (output, error), where
// every error a client may see is a *svcerr.Error. KMS is reached through
// the Keys interface (implemented by *kms.Service), acting with the caller's
// identity and kms:ViaService, so the same policies decide. The package
// knows nothing of HTTP; it imports auth, epoch, policy, storage (the
// contract the barrier implements), svcerr and the rotator and schedule
// packages.
package secrets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/secrets/rotator"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Keys is KMS as the service uses it, on the caller's behalf. Errors are
// KMS's *svcerr.Error values, which the service translates into Secrets
// Manager's (EncryptionFailure, DecryptionFailure, AccessDeniedException).
type Keys interface {
	// GenerateDataKeyFor returns a 256-bit data key in plaintext and under
	// keyID with the encryption context ec, and the key's ARN.
	GenerateDataKeyFor(ctx context.Context, c *auth.Caller, keyID string, ec map[string]string) (keyARN string, plaintext, blob []byte, err error)
	// DecryptFor decrypts a data key made by GenerateDataKeyFor.
	DecryptFor(ctx context.Context, c *auth.Caller, keyID string, blob []byte, ec map[string]string) ([]byte, error)
	// ManagedKey returns the ARN of the account's AWS managed key
	// alias/aws/SERVICE in region, creating it on first use.
	ManagedKey(ctx context.Context, account, region, service string) (string, error)
}

// Identities supplies callers' identity-based and session policies (the
// IAM store implements it).
type Identities interface {
	Policies(ctx context.Context, p *auth.Principal) (identity []*policy.Policy, session *policy.Policy, err error)
}

// Config holds the service's settings.
type Config struct {
	// Partition is the ARN partition, "aws" by default.
	Partition string
	// Regions are the regions the deployment serves: the only ones a
	// secret may be replicated to.
	Regions []string
	// Now is the clock; the dev clock moves it.
	Now func() time.Time
	// Logger receives operational logs. Never secret values.
	Logger *slog.Logger
	// Identities supplies identity policies; nil means only account roots
	// are allowed anything.
	Identities Identities
	// Rotators are the configured rotators by name (the function NAME of a
	// RotationLambdaARN).
	Rotators map[string]rotator.Rotator
	// RetryBase and RetryMax bound the backoff between failed rotation
	// attempts (defaults 1 minute and 1 hour).
	RetryBase, RetryMax time.Duration
}

// Service is the Secrets Manager service. It is safe for concurrent use.
type Service struct {
	st         store
	keys       Keys
	partition  string
	regions    []string
	now        func() time.Time
	log        *slog.Logger
	ids        Identities
	rotators   map[string]rotator.Rotator
	retryBase  time.Duration
	retryMax   time.Duration
	policies   sync.Map      // document text → *policy.Policy
	clock      *policy.Clock // the time condition keys, formatted once per second
	rotating   sync.Map      // secret path → struct{}: a rotation running here
	background sync.WaitGroup
	// bgCtx is the context of rotations started by RotateSecret; Close
	// cancels it.
	bgCtx context.Context
	stop  context.CancelFunc
}

// New returns a Service storing secrets in b and using keys for encryption.
func New(b Backend, keys Keys, cfg Config) *Service {
	s := &Service{
		keys: keys, partition: cfg.Partition, regions: slices.Clone(cfg.Regions),
		now: cfg.Now, log: cfg.Logger, ids: cfg.Identities, rotators: cfg.Rotators,
		retryBase: cfg.RetryBase, retryMax: cfg.RetryMax,
	}
	s.bgCtx, s.stop = context.WithCancel(context.Background())
	if s.partition == "" {
		s.partition = "aws"
	}
	s.st = store{b: b, partition: s.partition}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	// Through s.now, not cfg.Now: tests move the service's clock.
	s.clock = policy.NewClock(func() time.Time { return s.now() })
	if s.retryBase <= 0 {
		s.retryBase = time.Minute
	}
	if s.retryMax <= 0 {
		s.retryMax = time.Hour
	}
	return s
}

// Close cancels rotations started by RotateSecret and waits for them; a
// cancelled rotation is retried by the next sweep.
func (s *Service) Close() {
	s.stop()
	s.background.Wait()
}

// Actions, as IAM spells them.
const (
	ActCreateSecret                 = "secretsmanager:CreateSecret"
	ActGetSecretValue               = "secretsmanager:GetSecretValue"
	ActBatchGetSecretValue          = "secretsmanager:BatchGetSecretValue"
	ActPutSecretValue               = "secretsmanager:PutSecretValue"
	ActUpdateSecret                 = "secretsmanager:UpdateSecret"
	ActDescribeSecret               = "secretsmanager:DescribeSecret"
	ActListSecrets                  = "secretsmanager:ListSecrets"
	ActListSecretVersionIds         = "secretsmanager:ListSecretVersionIds"
	ActUpdateSecretVersionStage     = "secretsmanager:UpdateSecretVersionStage"
	ActDeleteSecret                 = "secretsmanager:DeleteSecret"
	ActRestoreSecret                = "secretsmanager:RestoreSecret"
	ActTagResource                  = "secretsmanager:TagResource"
	ActUntagResource                = "secretsmanager:UntagResource"
	ActGetRandomPassword            = "secretsmanager:GetRandomPassword"
	ActPutResourcePolicy            = "secretsmanager:PutResourcePolicy"
	ActGetResourcePolicy            = "secretsmanager:GetResourcePolicy"
	ActDeleteResourcePolicy         = "secretsmanager:DeleteResourcePolicy"
	ActValidateResourcePolicy       = "secretsmanager:ValidateResourcePolicy"
	ActRotateSecret                 = "secretsmanager:RotateSecret"
	ActCancelRotateSecret           = "secretsmanager:CancelRotateSecret"
	ActReplicateSecretToRegions     = "secretsmanager:ReplicateSecretToRegions"
	ActRemoveRegionsFromReplication = "secretsmanager:RemoveRegionsFromReplication"
)

// AWS limits, each defined once.
const (
	maxNameLen        = 512
	maxSecretBytes    = 65536
	maxDescription    = 2048
	maxKmsKeyID       = 2048
	minTokenLen       = 32
	maxTokenLen       = 64
	maxSecretIDLen    = 2048
	maxStageLen       = 256
	maxTags           = 50
	maxTagKey         = 128
	maxTagValue       = 256
	maxPolicyLen      = 20480
	minRecoveryDays   = 7
	maxRecoveryDays   = 30
	defaultRecovery   = 30
	maxListResults    = 100
	maxBatchIDs       = 20
	maxBatchResults   = 20
	maxFilters        = 10
	maxFilterValues   = 10
	maxFilterValueLen = 512
	suffixLen         = 6
	managedKeyService = "secretsmanager"
)

// internalErr is Secrets Manager's InternalServiceError; the cause is only
// logged.
func internalErr(err error) error {
	return &svcerr.Error{Code: svcerr.InternalServiceError, Msg: "An error occurred on the server side.", Err: err}
}

func notFound() error {
	return svcerr.New(svcerr.ResourceNotFound, "Secrets Manager can't find the specified secret.")
}

func markedDeleted() error {
	return svcerr.New(svcerr.InvalidRequest, "You can't perform this operation on the secret because it was marked for deletion.")
}

func checkSecretID(id string) error {
	if id == "" {
		return svcerr.Missing("secretId")
	}
	return svcerr.CheckLen("secretId", len(id), 1, maxSecretIDLen)
}

// checkName applies CreateSecret's rules to a secret name: 1–512 of ASCII
// letters, digits and /_+=.@-.
func checkName(name string) error {
	if name == "" {
		return svcerr.Missing("name")
	}
	if err := svcerr.CheckLen("name", len(name), 1, maxNameLen); err != nil {
		return err
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/_+=.@-", c) >= 0) {
			return svcerr.New(svcerr.Validation, "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!")
		}
	}
	return nil
}

// checkToken validates a ClientRequestToken, which becomes a version ID.
func checkToken(field, tok string) error {
	if tok == "" {
		return nil
	}
	if err := svcerr.CheckLen(field, len(tok), minTokenLen, maxTokenLen); err != nil {
		return err
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < 0x20 || tok[i] > 0x7e {
			return svcerr.Validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9-]+$", field)
		}
	}
	return nil
}

func checkStage(field, st string) error {
	if st == "" {
		return svcerr.Missing(field)
	}
	return svcerr.CheckLen(field, len(st), 1, maxStageLen)
}

// checkValue validates SecretString/SecretBinary: at most one, at most
// 65,536 bytes. required says whether one must be given.
func checkValue(str *string, bin []byte, required bool) error {
	if str != nil && bin != nil {
		return svcerr.New(svcerr.InvalidParameter, "You can't specify both a binary secret value and a string secret value in the same secret.")
	}
	if str == nil && bin == nil {
		if required {
			return svcerr.New(svcerr.InvalidRequest, "You must provide either SecretString or SecretBinary.")
		}
		return nil
	}
	n := len(bin)
	field := "secretBinary"
	if str != nil {
		n, field = len(*str), "secretString"
	}
	return svcerr.CheckLen(field, n, 1, maxSecretBytes)
}

// newUUID returns a random (version 4) UUID from crypto/rand: AWS's form of
// version IDs and generated client request tokens.
func newUUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

const suffixAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newSuffix returns the six random characters AWS appends to a secret's
// ARN, uniformly from letters and digits.
func newSuffix() (string, error) {
	return randomFrom(suffixAlphabet, suffixLen)
}

// randomFrom draws n characters uniformly from alphabet (at most 256) by
// rejection sampling crypto/rand bytes.
func randomFrom(alphabet string, n int) (string, error) {
	out := make([]byte, 0, n)
	limit := 256 - 256%len(alphabet)
	var buf [64]byte
	for len(out) < n {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) < limit && len(out) < n {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// secretARN is the ARN of r in its own region.
func (s *Service) secretARN(r *record) string {
	if r.arn != "" {
		return r.arn
	}
	return s.arnIn(r, r.Region)
}

func (s *Service) arnIn(r *record, region string) string { return arnOf(s.partition, r, region) }

func arnOf(partition string, r *record, region string) string {
	return "arn:" + partition + ":secretsmanager:" + region + ":" + r.Account + ":secret:" + r.Name + "-" + r.Suffix
}

// ref is a SecretId taken apart: a name, or an ARN (full or partial).
type ref struct {
	account, region string
	// candidates are the names to try, most specific first: a trailing
	// "-XXXXXX" may be AWS's suffix or part of the name.
	candidates []struct{ name, suffix string }
}

// parseRef reads a SecretId in the caller's context: a name is the caller's
// account and region; an ARN names its own account and must name the
// caller's region.
func (s *Service) parseRef(c *auth.Caller, id string) (ref, error) {
	r := ref{account: c.Account, region: c.Region}
	if !strings.HasPrefix(id, "arn:") {
		r.candidates = append(r.candidates, struct{ name, suffix string }{id, ""})
		return r, nil
	}
	parts := strings.SplitN(id, ":", 7)
	if len(parts) != 7 || parts[1] != s.partition || parts[2] != "secretsmanager" || parts[5] != "secret" || parts[6] == "" {
		return r, svcerr.New(svcerr.Validation, "Invalid ARN: %s", id)
	}
	if parts[3] != c.Region {
		return r, notFound()
	}
	r.account, r.region = parts[4], parts[3]
	name := parts[6]
	if n := len(name); n > suffixLen+1 && name[n-suffixLen-1] == '-' {
		r.candidates = append(r.candidates, struct{ name, suffix string }{name[:n-suffixLen-1], name[n-suffixLen:]})
	}
	r.candidates = append(r.candidates, struct{ name, suffix string }{name, ""})
	return r, nil
}

// lookup finds the secret a SecretId names, or ResourceNotFoundException.
func (s *Service) lookup(ctx context.Context, c *auth.Caller, id string) (*record, error) {
	if err := checkSecretID(id); err != nil {
		return nil, err
	}
	rf, err := s.parseRef(c, id)
	if err != nil {
		return nil, err
	}
	for _, cand := range rf.candidates {
		if checkName(cand.name) != nil {
			continue
		}
		r, err := s.st.get(ctx, rf.account, rf.region, cand.name)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return nil, internalErr(err)
		}
		if cand.suffix != "" && cand.suffix != r.Suffix {
			continue
		}
		return r, nil
	}
	return nil, notFound()
}

// secretFor resolves id and authorizes action on it, with the request's
// condition keys set by more. A caller that may not see a missing secret
// still learns only that it is missing when the ARN is in its own account.
func (s *Service) secretFor(ctx context.Context, c *auth.Caller, id, action string, more func(*policy.Context)) (*record, error) {
	r, err := s.lookup(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, action, r, s.secretARN(r), func(pc *policy.Context) {
		pc.Add("secretsmanager:SecretId", s.secretARN(r))
		if more != nil {
			more(pc)
		}
	}); err != nil {
		return nil, err
	}
	return r, nil
}

// notDeleted refuses operations on a secret scheduled for deletion.
func notDeleted(r *record) error {
	if r.deleted() {
		return markedDeleted()
	}
	return nil
}

// notReplica refuses changes to a replica: they are made to its primary.
func notReplica(r *record) error {
	if r.PrimaryRegion != "" {
		return svcerr.New(svcerr.InvalidRequest, "Operation not permitted on a replica secret. Call must be made in primary secret's region.")
	}
	return nil
}

// storeErr converts a store error into a service error.
func storeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case svcerr.As(err) != nil:
		return err
	case errors.Is(err, errNotFound):
		return notFound()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return svcerr.Wrap(svcerr.InternalServiceError, err, "The request timed out. Retry the request.")
	}
	return internalErr(err)
}
