// Package awskms is the seal whose root of trust is a key in another
// AWS-KMS-compatible service: AWS KMS itself, or another Arca. The barrier
// keyring is encrypted locally under a fresh 256-bit data key with
// AES-256-GCM, and the data key is encrypted by the remote service's KMS
// Encrypt under the configured key (envelope encryption, so the keyring may
// exceed Encrypt's 4096-byte limit). Unwrapping calls the remote Decrypt;
// the plaintext data key lives only for the call and is then cleared.
//
// # Wrapped format (version 1)
//
//	"AKMS" | 0x01 | key ARN length (uint16) | key ARN | encrypted data key length (uint16) | encrypted data key
//	| nonce (12 bytes) | AES-256-GCM ciphertext ‖ tag
//
// (integers big-endian). The GCM additional data is "arca awskms seal v1"
// followed by every byte before the nonce, so the key ARN and the encrypted
// data key are bound to the ciphertext. Every Encrypt and Decrypt also
// carries the encryption context {"arca:purpose": "barrier-keyring"}, so a
// data key made for the keyring cannot be decrypted through this seal's key
// for another purpose without that context, and the remote audit log shows
// what each call was for.
//
// Decrypt is called with the key ARN recorded in the blob, so changing
// key_id in the configuration and migrating the seal moves to a new remote
// key while the old key still opens the stored keyring until then.
//
// It imports only internal/barrier (for the Wrapper contract).
package awskms

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"

	"github.com/arca-kms/arca/internal/barrier"
)

// Config names the remote key and how to reach it.
type Config struct {
	// Endpoint is the service URL (e.g. https://kms.eu-west-1.amazonaws.com
	// or another Arca's https://arca2:4599). Empty: AWS's endpoint for
	// Region.
	Endpoint string
	// Region is the signing region (and AWS's endpoint region).
	Region string
	// KeyID is the key's ID, ARN or alias (alias/NAME) on the remote service;
	// a symmetric ENCRYPT_DECRYPT key.
	KeyID string
	// AccessKeyID, SecretAccessKey and SessionToken are static credentials
	// (from ARCA_AWSKMS_*). When AccessKeyID is empty the SDK's standard
	// chain is used (AWS_* environment, shared files, web identity,
	// container and instance roles).
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Timeout bounds each remote call (default 30 s) when the caller's
	// context has no deadline.
	Timeout time.Duration
	// HTTPClient replaces the SDK's HTTP client (tests, custom TLS roots).
	HTTPClient *http.Client
}

// Environment variables FromEnv reads.
const (
	EnvEndpoint        = "ARCA_AWSKMS_ENDPOINT"
	EnvRegion          = "ARCA_AWSKMS_REGION"
	EnvKeyID           = "ARCA_AWSKMS_KEY_ID"
	EnvAccessKeyID     = "ARCA_AWSKMS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "ARCA_AWSKMS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "ARCA_AWSKMS_SESSION_TOKEN"
)

// FromEnv overlays the ARCA_AWSKMS_* variables that are set onto c (the
// environment wins over the YAML file, as everywhere in Arca's config).
// Credentials come only from the environment (or the standard chain),
// never from the YAML file or flags.
func (c Config) FromEnv(getenv func(string) string) Config {
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&c.Endpoint, EnvEndpoint)
	set(&c.Region, EnvRegion)
	set(&c.KeyID, EnvKeyID)
	set(&c.AccessKeyID, EnvAccessKeyID)
	set(&c.SecretAccessKey, EnvSecretAccessKey)
	set(&c.SessionToken, EnvSessionToken)
	return c
}

// Validate checks the configuration without calling the service.
func (c Config) Validate() error {
	var errs []error
	if c.KeyID == "" {
		errs = append(errs, fmt.Errorf("awskms seal: no key: set seal_awskms.key_id (or %s)", EnvKeyID))
	}
	if c.Region == "" {
		errs = append(errs, fmt.Errorf("awskms seal: no region: set seal_awskms.region (or %s)", EnvRegion))
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		errs = append(errs, fmt.Errorf("awskms seal: set both %s and %s, or neither (to use the standard AWS credential chain)", EnvAccessKeyID, EnvSecretAccessKey))
	}
	return errors.Join(errs...)
}

// Seal wraps the barrier keyring through a remote KMS key. It is safe for
// concurrent use.
type Seal struct {
	client  *kms.Client
	keyARN  string // as DescribeKey reported it
	cfg     Config
	timeout time.Duration
}

var _ barrier.Wrapper = (*Seal)(nil)

// Errors callers can tell apart (wrapped, with a message saying what to fix).
var (
	// ErrKey: the remote key is missing, disabled, or not a symmetric
	// encryption key.
	ErrKey = errors.New("awskms seal: key unusable")
	// ErrAccess: the remote service refused the credentials or the call.
	ErrAccess = errors.New("awskms seal: access refused")
	// ErrUnreachable: the remote service could not be reached.
	ErrUnreachable = errors.New("awskms seal: service unreachable")
)

const (
	magic   = "AKMS"
	version = 0x01
	dekLen  = 32
	nonceN  = 12
)

var (
	gcmAAD     = []byte("arca awskms seal v1")
	encContext = map[string]string{"arca:purpose": "barrier-keyring"}
)

// Open builds the client and checks, with DescribeKey, that the key exists,
// is enabled and is a symmetric encryption key.
func Open(ctx context.Context, cfg Config) (*Seal, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(cfg.Region)}
	if cfg.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, awsconfig.WithHTTPClient(cfg.HTTPClient))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("awskms seal: loading AWS configuration: %w", err)
	}
	client := kms.NewFromConfig(awsCfg, func(o *kms.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	s := &Seal{client: client, cfg: cfg, timeout: cfg.Timeout}
	if s.timeout <= 0 {
		s.timeout = 30 * time.Second
	}
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	out, err := client.DescribeKey(cctx, &kms.DescribeKeyInput{KeyId: aws.String(cfg.KeyID)})
	if err != nil {
		return nil, s.explain("DescribeKey", cfg.KeyID, err)
	}
	md := out.KeyMetadata
	switch {
	case md == nil || md.Arn == nil:
		return nil, fmt.Errorf("%w: DescribeKey of %s returned no key ARN", ErrKey, cfg.KeyID)
	case md.KeyState != types.KeyStateEnabled:
		return nil, fmt.Errorf("%w: key %s is %s, not Enabled; enable it (or cancel its deletion) on %s", ErrKey, aws.ToString(md.Arn), md.KeyState, s.where())
	case md.KeyUsage != types.KeyUsageTypeEncryptDecrypt || md.KeySpec != types.KeySpecSymmetricDefault:
		return nil, fmt.Errorf("%w: key %s is %s/%s; the seal needs a SYMMETRIC_DEFAULT key with usage ENCRYPT_DECRYPT", ErrKey, aws.ToString(md.Arn), md.KeySpec, md.KeyUsage)
	}
	s.keyARN = aws.ToString(md.Arn)
	return s, nil
}

// KeyARN is the remote key's ARN, for status output.
func (s *Seal) KeyARN() string { return s.keyARN }

// Type names the seal kind, for status output and config checks.
func (s *Seal) Type() string { return "awskms" }

// Params are the non-secret settings that identify the wrapping key, for
// the seal-config record: key_arn and endpoint.
func (s *Seal) Params() map[string]string {
	return map[string]string{"key_arn": s.keyARN, "endpoint": s.cfg.Endpoint}
}

func (s *Seal) where() string {
	if s.cfg.Endpoint != "" {
		return s.cfg.Endpoint
	}
	return "AWS KMS in " + s.cfg.Region
}

func (s *Seal) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

// explain turns a remote failure into a message that says what to fix. The
// service's own message is kept: it names the key, never key material.
func (s *Seal) explain(op, key string, err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NotFoundException":
			return fmt.Errorf("%w: %s: key %s does not exist on %s; check seal_awskms.key_id and region (%s)", ErrKey, op, key, s.where(), api.ErrorMessage())
		case "DisabledException", "KMSInvalidStateException":
			return fmt.Errorf("%w: %s: key %s on %s cannot be used now (%s: %s); enable it, or cancel its deletion", ErrKey, op, key, s.where(), api.ErrorCode(), api.ErrorMessage())
		case "InvalidKeyUsageException", "IncorrectKeyException":
			return fmt.Errorf("%w: %s: key %s on %s: %s: %s", ErrKey, op, key, s.where(), api.ErrorCode(), api.ErrorMessage())
		case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
			"IncompleteSignature", "ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch":
			return fmt.Errorf("%w: %s on %s: %s: %s; check the credentials (%s/%s or the standard AWS chain) and that the key policy allows kms:%s",
				ErrAccess, op, s.where(), api.ErrorCode(), api.ErrorMessage(), EnvAccessKeyID, EnvSecretAccessKey, op)
		case "InvalidCiphertextException":
			return fmt.Errorf("awskms seal: %s: the service could not decrypt the keyring's data key (altered, or encrypted under another key or context): %s", op, api.ErrorMessage())
		}
		return fmt.Errorf("awskms seal: %s on %s: %s: %s", op, s.where(), api.ErrorCode(), api.ErrorMessage())
	}
	// Not an answer from the service: connection, TLS, DNS or timeout.
	return fmt.Errorf("%w: %s on %s: %v; check seal_awskms.endpoint and the network", ErrUnreachable, op, s.where(), err)
}

// Wrap implements barrier.Wrapper: AES-256-GCM under a fresh data key,
// which the remote key encrypts.
func (s *Seal) Wrap(ctx context.Context, plaintext []byte) ([]byte, error) {
	dek := make([]byte, dekLen)
	defer clear(dek)
	if _, err := rand.Read(dek); err != nil {
		return nil, err
	}
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	out, err := s.client.Encrypt(cctx, &kms.EncryptInput{
		KeyId: aws.String(s.keyARN), Plaintext: dek, EncryptionContext: encContext,
	})
	if err != nil {
		return nil, s.explain("Encrypt", s.keyARN, err)
	}
	arn := aws.ToString(out.KeyId)
	if arn == "" {
		arn = s.keyARN
	}
	if len(arn) > 0xffff || len(out.CiphertextBlob) > 0xffff || len(out.CiphertextBlob) == 0 {
		return nil, errors.New("awskms seal: Encrypt returned an unusable key ID or ciphertext")
	}
	hdr := make([]byte, 0, len(magic)+1+2+len(arn)+2+len(out.CiphertextBlob))
	hdr = append(hdr, magic...)
	hdr = append(hdr, version)
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(arn)))
	hdr = append(hdr, arn...)
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(len(out.CiphertextBlob)))
	hdr = append(hdr, out.CiphertextBlob...)
	aead, err := newGCM(dek)
	if err != nil {
		return nil, err
	}
	blob := make([]byte, len(hdr)+nonceN, len(hdr)+nonceN+len(plaintext)+aead.Overhead())
	copy(blob, hdr)
	if _, err := rand.Read(blob[len(hdr):]); err != nil {
		return nil, err
	}
	return aead.Seal(blob, blob[len(hdr):], plaintext, append(bytes.Clone(gcmAAD), hdr...)), nil
}

// parsed is a split wrapped keyring.
type parsed struct {
	arn        string
	edek       []byte
	hdr, nonce []byte
	ciphertext []byte
}

var errNotOurs = errors.New("awskms seal: the stored keyring was not wrapped by an awskms seal (it is another seal's; migrate the seal instead)")

func parse(b []byte) (parsed, error) {
	short := errors.New("awskms seal: wrapped keyring is truncated")
	if len(b) < len(magic)+1 || string(b[:len(magic)]) != magic {
		return parsed{}, errNotOurs
	}
	if b[len(magic)] != version {
		return parsed{}, fmt.Errorf("awskms seal: wrapped keyring has unknown format version %d", b[len(magic)])
	}
	rest := b[len(magic)+1:]
	field := func() ([]byte, bool) {
		if len(rest) < 2 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+n {
			return nil, false
		}
		f := rest[2 : 2+n]
		rest = rest[2+n:]
		return f, true
	}
	arn, ok1 := field()
	edek, ok2 := field()
	if !ok1 || !ok2 || len(arn) == 0 || len(edek) == 0 || len(rest) < nonceN+16 {
		return parsed{}, short
	}
	hdrLen := len(b) - len(rest)
	return parsed{arn: string(arn), edek: edek, hdr: b[:hdrLen], nonce: rest[:nonceN], ciphertext: rest[nonceN:]}, nil
}

// IsWrapped reports whether b looks like this seal's output (by its magic).
func IsWrapped(b []byte) bool { return len(b) >= len(magic) && string(b[:len(magic)]) == magic }

// Unwrap implements barrier.Wrapper: the remote service decrypts the data
// key (with the key recorded in the blob), which then opens the keyring.
// Any alteration fails; no partial plaintext is returned.
func (s *Seal) Unwrap(ctx context.Context, ciphertext []byte) ([]byte, error) {
	p, err := parse(ciphertext)
	if err != nil {
		return nil, err
	}
	cctx, cancel := s.callCtx(ctx)
	defer cancel()
	out, err := s.client.Decrypt(cctx, &kms.DecryptInput{
		KeyId: aws.String(p.arn), CiphertextBlob: p.edek, EncryptionContext: encContext,
	})
	if err != nil {
		return nil, s.explain("Decrypt", p.arn, err)
	}
	defer clear(out.Plaintext)
	if len(out.Plaintext) != dekLen {
		return nil, errors.New("awskms seal: Decrypt returned a data key of the wrong size")
	}
	aead, err := newGCM(out.Plaintext)
	if err != nil {
		return nil, err
	}
	pt, err := aead.Open(nil, p.nonce, p.ciphertext, append(bytes.Clone(gcmAAD), p.hdr...))
	if err != nil {
		return nil, errors.New("awskms seal: the wrapped keyring failed authentication (altered)")
	}
	return pt, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}
