package kms

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/arca-kms/arca/internal/arn"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Grants (developer guide, "Grants in AWS KMS"). A grant lets a grantee
// principal use one key in the listed operations, optionally only with a
// given encryption context. Arca stores a grant before CreateGrant answers,
// so a grant is effective at once; grant tokens are still validated, and
// never allow more than their grant.
const (
	ActCreateGrant          = "kms:CreateGrant"
	ActListGrants           = "kms:ListGrants"
	ActListRetirableGrants  = "kms:ListRetirableGrants"
	ActRetireGrant          = "kms:RetireGrant"
	ActRevokeGrant          = "kms:RevokeGrant"
	defaultMaxGrantsPerKey  = 50000
	defaultListGrants       = 50
	maxListGrants           = 100
	maxPrincipalLen         = 256
	maxGrantNameLen         = 256
	maxGrantIDLen           = 128
	maxGrantTokenLen        = 8192
	maxConstraintPairs      = 8
	maxConstraintValueLen   = 384
	grantTokenVersion       = 0x01
	grantTokenNonceLen      = 16
	grantIDBytes            = 32
	grantPrincipalPattern   = `^[\w+=,.@:/-]+$`
	grantNamePattern        = `^[a-zA-Z0-9:/_-]+$`
	grantOpCreateGrant      = "CreateGrant"
	grantOpRetireGrant      = "RetireGrant"
	grantOpDescribeKey      = "DescribeKey"
	constraintTypeEquals    = "EncryptionContextEquals"
	constraintTypeSubset    = "EncryptionContextSubset"
	grantTokenMACDomain     = "arca grant token v1"
	grantOnlyCreateGrantMsg = "Grants must not contain only the CreateGrant operation."
)

// grantOperations is AWS's GrantOperation enum, in the model's order.
var grantOperations = []string{
	"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo",
	"Sign", "Verify", "GetPublicKey", grantOpCreateGrant, grantOpRetireGrant, grantOpDescribeKey,
	"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
}

// contextOps are the grant operations that take an encryption context, the
// only ones grant constraints apply to ("GrantConstraints", API reference).
var contextOps = map[string]bool{
	"Encrypt": true, "Decrypt": true, "ReEncryptFrom": true, "ReEncryptTo": true,
	"GenerateDataKey": true, "GenerateDataKeyWithoutPlaintext": true,
	"GenerateDataKeyPair": true, "GenerateDataKeyPairWithoutPlaintext": true,
}

// keyGrantOperations returns the grant operations valid for a key of k's
// type, per the developer guide ("Grant operations"): the cryptographic
// operations the key supports, plus CreateGrant, DescribeKey and RetireGrant
// for every key.
func keyGrantOperations(k *keystore.Key) []string {
	var ops []string
	switch {
	case isSymmetric(k.Spec):
		ops = []string{"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
			"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo"}
	case k.Usage == UsageMac:
		ops = []string{"GenerateMac", "VerifyMac"}
	case k.Usage == UsageEncryptDecrypt:
		ops = []string{"Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"}
	case k.Usage == UsageSignVerify:
		ops = []string{"Sign", "Verify", "GetPublicKey"}
	case k.Usage == UsageKeyAgreement:
		ops = []string{"DeriveSharedSecret", "GetPublicKey"}
	}
	return append(ops, grantOpCreateGrant, grantOpDescribeKey, grantOpRetireGrant)
}

// GrantConstraints is AWS's GrantConstraints shape.
type GrantConstraints struct {
	EncryptionContextSubset map[string]string `json:"EncryptionContextSubset,omitempty"`
	EncryptionContextEquals map[string]string `json:"EncryptionContextEquals,omitempty"`
}

// CreateGrantInput is the CreateGrant request.
type CreateGrantInput struct {
	KeyID             string            `json:"KeyId"`
	GranteePrincipal  string            `json:"GranteePrincipal"`
	RetiringPrincipal *string           `json:"RetiringPrincipal"`
	Operations        []string          `json:"Operations"`
	Constraints       *GrantConstraints `json:"Constraints"`
	GrantTokens       []string          `json:"GrantTokens"`
	Name              *string           `json:"Name"`
	DryRun            bool              `json:"DryRun"`
}

// CreateGrantOutput is the CreateGrant response.
type CreateGrantOutput struct {
	GrantToken string `json:"GrantToken"`
	GrantID    string `json:"GrantId"`
}

// GrantListEntry is one grant in a ListGrants or ListRetirableGrants response.
type GrantListEntry struct {
	KeyID             string            `json:"KeyId"`
	GrantID           string            `json:"GrantId"`
	Name              string            `json:"Name,omitempty"`
	CreationDate      *epoch.Time       `json:"CreationDate"`
	GranteePrincipal  string            `json:"GranteePrincipal"`
	RetiringPrincipal string            `json:"RetiringPrincipal,omitempty"`
	IssuingAccount    string            `json:"IssuingAccount"`
	Operations        []string          `json:"Operations"`
	Constraints       *GrantConstraints `json:"Constraints,omitempty"`
}

// ListGrantsInput is the ListGrants request.
type ListGrantsInput struct {
	KeyID            string `json:"KeyId"`
	GrantID          string `json:"GrantId"`
	GranteePrincipal string `json:"GranteePrincipal"`
	Limit            *int32 `json:"Limit"`
	Marker           string `json:"Marker"`
}

// ListGrantsOutput is the ListGrants and ListRetirableGrants response.
type ListGrantsOutput struct {
	Grants     []GrantListEntry `json:"Grants"`
	NextMarker string           `json:"NextMarker,omitempty"`
	Truncated  bool             `json:"Truncated"`
}

// ListRetirableGrantsInput is the ListRetirableGrants request.
type ListRetirableGrantsInput struct {
	RetiringPrincipal string `json:"RetiringPrincipal"`
	Limit             *int32 `json:"Limit"`
	Marker            string `json:"Marker"`
}

// RetireGrantInput is the RetireGrant request.
type RetireGrantInput struct {
	GrantToken string `json:"GrantToken"`
	KeyID      string `json:"KeyId"`
	GrantID    string `json:"GrantId"`
	DryRun     bool   `json:"DryRun"`
}

// RevokeGrantInput is the RevokeGrant request.
type RevokeGrantInput struct {
	KeyID   string `json:"KeyId"`
	GrantID string `json:"GrantId"`
	DryRun  bool   `json:"DryRun"`
}

// ---- validation ----

func patternErr(field, v, pattern string) error {
	return svcerr.Validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", v, field, pattern)
}

// isPrincipalChar is \w plus +=,.@:/- (PrincipalIdType's pattern).
func isPrincipalChar(r byte) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || strings.IndexByte("+=,.@:/-", r) >= 0
}

func isGrantNameChar(r byte) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.IndexByte(":/_-", r) >= 0
}

func checkChars(field, v, pattern string, ok func(byte) bool) error {
	for i := 0; i < len(v); i++ {
		if !ok(v[i]) {
			return patternErr(field, v, pattern)
		}
	}
	return nil
}

// checkPrincipal validates a PrincipalIdType member (required says whether
// an empty value is "missing").
func checkPrincipal(field, v string, required bool) error {
	if v == "" && required {
		return svcerr.Missing(field)
	}
	if err := svcerr.CheckLen(field, len(v), 1, maxPrincipalLen); err != nil {
		return err
	}
	return checkChars(field, v, grantPrincipalPattern, isPrincipalChar)
}

// isGrantID reports whether id has the form of the grant IDs Arca issues.
func isGrantID(id string) bool {
	if len(id) != 2*grantIDBytes {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkGrantID validates a GrantId member: its length as the model says,
// then its form, which no grant can lack (InvalidGrantIdException).
func checkGrantID(field, id string) error {
	if err := svcerr.CheckLen(field, len(id), 1, maxGrantIDLen); err != nil {
		return err
	}
	if !isGrantID(id) {
		return svcerr.New(svcerr.InvalidGrantID, "Invalid grant ID: %s", id)
	}
	return nil
}

func checkConstraintMap(field string, m map[string]string) error {
	if len(m) > maxConstraintPairs {
		return svcerr.Validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have at most %d encryption context pairs", field, maxConstraintPairs)
	}
	for k, v := range m {
		if k == "" {
			return svcerr.Validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Encryption context keys must not be empty", field)
		}
		if len(v) > maxConstraintValueLen {
			return svcerr.Validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Encryption context values must have length less than or equal to %d", field, maxConstraintValueLen)
		}
	}
	return nil
}

// normalizeOps validates Operations against the enum and returns them
// deduplicated and sorted, the form grants store.
func normalizeOps(ops []string) ([]string, error) {
	if ops == nil {
		return nil, svcerr.Missing("operations")
	}
	for _, op := range ops {
		if !slices.Contains(grantOperations, op) {
			return nil, svcerr.Validationf("1 validation error detected: Value '[%s]' at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum value set: [%s]]",
				strings.Join(ops, ", "), strings.Join(grantOperations, ", "))
		}
	}
	out := slices.Clone(ops)
	slices.Sort(out)
	out = slices.Compact(out)
	if len(out) == 0 {
		return nil, svcerr.Validationf("1 validation error detected: Value '[]' at 'operations' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(out) == 1 && out[0] == grantOpCreateGrant {
		return nil, svcerr.Validationf(grantOnlyCreateGrantMsg)
	}
	return out, nil
}

// ---- grant tokens ----

// A grant token is base64url (no padding) of
//
//	version(1) ‖ len‖account ‖ len‖region ‖ len‖keyID ‖ grantID(32) ‖ nonce(16) ‖ HMAC-SHA256(32)
//
// where the HMAC is keyed by the grant's secret (stored with the grant,
// under the barrier) over a domain string and everything before it. The
// token names its grant, so RetireGrant can find it without a KeyId; the
// MAC makes it unforgeable; the nonce makes every CreateGrant's token new
// while all of a grant's tokens stay interchangeable, as AWS documents.
type grantToken struct {
	account, region, keyID, grantID string
	signed, mac                     []byte
}

func invalidGrantToken() error {
	return svcerr.New(svcerr.InvalidGrantToken, "Invalid grant token.")
}

func (s *Service) mintGrantToken(g *keystore.Grant) (string, error) {
	id, err := hex.DecodeString(g.ID)
	if err != nil {
		return "", err
	}
	b := []byte{grantTokenVersion}
	for _, f := range []string{g.Account, g.Region, g.KeyID} {
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	b = append(b, id...)
	nonce := make([]byte, grantTokenNonceLen)
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	b = append(b, nonce...)
	b = append(b, grantTokenMAC(g.Secret, b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

func grantTokenMAC(secret, signed []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(grantTokenMACDomain))
	m.Write(signed)
	return m.Sum(nil)
}

// parseGrantToken decodes a token's fields; it does not check the MAC,
// which needs the grant.
func parseGrantToken(tok string) (*grantToken, bool) {
	if len(tok) > maxGrantTokenLen {
		return nil, false
	}
	// Strict: one token string per byte string, so a token cannot be
	// varied in its padding bits.
	b, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(b) < 1 || b[0] != grantTokenVersion {
		return nil, false
	}
	t := &grantToken{}
	rest := b[1:]
	fields := make([]string, 3)
	for i := range fields {
		if len(rest) < 1 || int(rest[0]) == 0 || len(rest) < 1+int(rest[0]) {
			return nil, false
		}
		fields[i] = string(rest[1 : 1+int(rest[0])])
		rest = rest[1+int(rest[0]):]
	}
	if len(rest) != grantIDBytes+grantTokenNonceLen+sha256.Size {
		return nil, false
	}
	t.account, t.region, t.keyID = fields[0], fields[1], fields[2]
	if !arn.IsKeyID(t.keyID) {
		return nil, false
	}
	t.grantID = hex.EncodeToString(rest[:grantIDBytes])
	t.signed = b[:len(b)-sha256.Size]
	t.mac = b[len(b)-sha256.Size:]
	return t, true
}

// verify reports whether t was minted for g.
func (t *grantToken) verify(g *keystore.Grant) bool {
	return g != nil && g.Account == t.account && g.Region == t.region && g.KeyID == t.keyID && g.ID == t.grantID &&
		hmac.Equal(grantTokenMAC(g.Secret, t.signed), t.mac)
}

// checkTokensFor validates the grant tokens of a request on key k: a
// malformed token, or one that names a grant of k but was not minted for it,
// is InvalidGrantTokenException. A well-formed token of another key or of a
// grant that no longer exists is ignored: it grants nothing here, and since
// every stored grant is already effective, a valid token adds nothing either.
func checkTokensFor(k *keystore.Key, set *keystore.GrantSet, tokens []string) error {
	for _, tok := range tokens {
		t, ok := parseGrantToken(tok)
		if !ok {
			return invalidGrantToken()
		}
		if t.account != k.Account || t.region != k.Region || t.keyID != k.ID {
			continue
		}
		if g := set.Get(t.grantID); g != nil && !t.verify(g) {
			return invalidGrantToken()
		}
	}
	return nil
}

// ---- authorization ----

// rootARN is the ARN of an account's root user, the IssuingAccount form.
func (s *Service) rootARN(account string) string {
	return "arn:" + s.partition + ":iam::" + account + ":root"
}

// principalMatches reports whether the grant principal p names c: c's own
// ARN; c.SourceARN, so a grant to a role ARN covers every session of the
// role (AWS matches grantees by the role behind an assumed-role session);
// or the root ARN of c's account. AWS treats an account as grantee as a
// delegation to that account's IAM policies; until Arca evaluates identity
// policies in authorize, an account grantee matches every principal of the
// account, which the lead's policy rewrite must narrow.
func (s *Service) principalMatches(c *auth.Caller, p string) bool {
	if p == "" {
		return false
	}
	if p == c.ARN || (c.SourceARN != "" && p == c.SourceARN) {
		return true
	}
	return c.Account != "" && p == s.rootARN(c.Account)
}

// grantOperation maps an IAM action to its grant operation: the action
// without "kms:", if it is one a grant can allow. ReEncrypt asks for
// kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the
// destination; each GenerateDataKey* variant is its own operation.
func grantOperation(action string) (string, bool) {
	op, ok := strings.CutPrefix(action, "kms:")
	if !ok || !slices.Contains(grantOperations, op) {
		return "", false
	}
	return op, true
}

// grantAllows reports whether a grant on k lets c perform action with the
// request's encryption context (nil when the operation has none).
//
// The caller (authorize) passes the request's EncryptionContext for the
// operations that take one (for ReEncrypt: SourceEncryptionContext with
// kms:ReEncryptFrom, DestinationEncryptionContext with kms:ReEncryptTo) and
// the request's GrantTokens. A malformed or forged token is an
// InvalidGrantTokenException even when no grant would apply. kms:CreateGrant
// is never allowed here: a grant's CreateGrant permission depends on the new
// grant's operations and constraints, so it goes through grantAllowsCreateGrant.
func (s *Service) grantAllows(ctx context.Context, c *auth.Caller, k *keystore.Key, action string, ec map[string]string, grantTokens []string) (bool, error) {
	return s.grantAllowsVia(ctx, c, k, action, ec, grantTokens, func() bool { return true })
}

// grantAllowsVia is grantAllows where a grant to the caller's account root
// counts for a caller other than root only if viaAccount agrees: a grant
// to an account, like a key policy naming it, delegates to the account's
// IAM policies, which authorize supplies.
func (s *Service) grantAllowsVia(ctx context.Context, c *auth.Caller, k *keystore.Key, action string, ec map[string]string, grantTokens []string, viaAccount func() bool) (bool, error) {
	set, err := s.ks.Grants(ctx, k.Account, k.Region, k.ID)
	if err != nil {
		return false, s.storeErr(err, "Key '"+s.keyARN(k)+"'")
	}
	if len(grantTokens) > 0 {
		if err := checkTokensFor(k, set, grantTokens); err != nil {
			return false, err
		}
	}
	if set.Len() == 0 {
		return false, nil
	}
	op, ok := grantOperation(action)
	if !ok || op == grantOpCreateGrant {
		return false, nil
	}
	return s.anyGrantVia(c, set, func(g *keystore.Grant) bool {
		return g.Allows(op) && (!contextOps[op] || constraintsMatch(g, ec))
	}, viaAccount), nil
}

// anyGrant reports whether one of c's grants in set satisfies ok.
func (s *Service) anyGrant(c *auth.Caller, set *keystore.GrantSet, ok func(*keystore.Grant) bool) bool {
	return s.anyGrantVia(c, set, ok, func() bool { return true })
}

// anyGrantVia is anyGrant with a grant to the caller's account root
// counting only when viaAccount reports that the caller's IAM policies
// allow the use.
func (s *Service) anyGrantVia(c *auth.Caller, set *keystore.GrantSet, ok func(*keystore.Grant) bool, viaAccount func() bool) bool {
	for _, g := range set.For(c.ARN) {
		if ok(g) {
			return true
		}
	}
	if c.SourceARN != "" && c.SourceARN != c.ARN {
		for _, g := range set.For(c.SourceARN) {
			if ok(g) {
				return true
			}
		}
	}
	if c.Account != "" {
		if r := s.rootARN(c.Account); r != c.ARN && r != c.SourceARN {
			for _, g := range set.For(r) {
				if ok(g) {
					return viaAccount()
				}
			}
		}
	}
	return false
}

// grantAllowsCreateGrant reports whether a grant on k lets c create the
// grant in: one of c's grants allows CreateGrant, every operation of the
// new grant is one of that grant's, and the new grant's constraints are at
// least as strict ("Granting CreateGrant permission", developer guide).
// grantTokens are validated as in grantAllows.
func (s *Service) grantAllowsCreateGrant(ctx context.Context, c *auth.Caller, k *keystore.Key, in *CreateGrantInput) (bool, error) {
	set, err := s.ks.Grants(ctx, k.Account, k.Region, k.ID)
	if err != nil {
		return false, s.storeErr(err, "Key '"+s.keyARN(k)+"'")
	}
	if err := checkTokensFor(k, set, in.GrantTokens); err != nil {
		return false, err
	}
	var subset, equals map[string]string
	if in.Constraints != nil {
		subset, equals = in.Constraints.EncryptionContextSubset, in.Constraints.EncryptionContextEquals
	}
	return s.anyGrant(c, set, func(g *keystore.Grant) bool {
		if !g.Allows(grantOpCreateGrant) {
			return false
		}
		for _, op := range in.Operations {
			if !g.Allows(op) {
				return false
			}
		}
		return atLeastAsStrict(g, subset, equals)
	}), nil
}

// atLeastAsStrict reports whether a child grant with constraints subset and
// equals allows no encryption context that the parent g refuses.
func atLeastAsStrict(g *keystore.Grant, subset, equals map[string]string) bool {
	// The contexts the child allows are those containing subset (if set) and
	// equal to equals (if set). With equals set, the child allows at most
	// the one context `equals`, so it suffices that the parent allows it.
	if equals != nil {
		if subset != nil && !contextContains(equals, subset) {
			return true // the child allows nothing
		}
		return constraintsMatch(g, equals)
	}
	if g.Equals != nil {
		return false // a subset constraint always allows more than one context
	}
	return g.Subset == nil || (subset != nil && contextContains(subset, g.Subset))
}

// constraintsMatch reports whether ec satisfies g's constraints. As the
// GrantConstraints reference says, a constraint's keys match the request's
// keys case-insensitively, its values case-sensitively.
func constraintsMatch(g *keystore.Grant, ec map[string]string) bool {
	if g.Equals != nil && (len(ec) != len(g.Equals) || !contextContains(ec, g.Equals) || !contextContains(g.Equals, ec)) {
		return false
	}
	return g.Subset == nil || contextContains(ec, g.Subset)
}

// contextContains reports whether every pair of want is in have, keys
// compared case-insensitively and values exactly.
func contextContains(have, want map[string]string) bool {
	for wk, wv := range want {
		if v, ok := have[wk]; ok && v == wv {
			continue
		}
		found := false
		for hk, hv := range have {
			if hv == wv && strings.EqualFold(hk, wk) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// GrantConditionKeys returns the condition keys AWS sets for a CreateGrant
// request, for the policy engine: kms:GrantOperations,
// kms:GranteePrincipal, kms:RetiringPrincipal (when given),
// kms:GrantConstraintType (when constraints are given) and
// kms:GrantIsForAWSResource, always "false" since no AWS service calls Arca
// on a principal's behalf.
func GrantConditionKeys(in *CreateGrantInput) map[string][]string {
	m := map[string][]string{
		"kms:GrantOperations":       slices.Clone(in.Operations),
		"kms:GranteePrincipal":      {in.GranteePrincipal},
		"kms:GrantIsForAWSResource": {"false"},
	}
	if in.RetiringPrincipal != nil {
		m["kms:RetiringPrincipal"] = []string{*in.RetiringPrincipal}
	}
	if in.Constraints != nil {
		var types []string
		if in.Constraints.EncryptionContextEquals != nil {
			types = append(types, constraintTypeEquals)
		}
		if in.Constraints.EncryptionContextSubset != nil {
			types = append(types, constraintTypeSubset)
		}
		if types != nil {
			m["kms:GrantConstraintType"] = types
		}
	}
	return m
}

// ---- operations ----

// CreateGrant adds a grant to a key, or returns the existing grant when a
// grant of the same Name and parameters exists (with a new token).
func (s *Service) CreateGrant(ctx context.Context, c *auth.Caller, in *CreateGrantInput) (*CreateGrantOutput, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if err := checkPrincipal("granteePrincipal", in.GranteePrincipal, true); err != nil {
		return nil, err
	}
	retiring := ""
	if in.RetiringPrincipal != nil {
		retiring = *in.RetiringPrincipal
		if err := checkPrincipal("retiringPrincipal", retiring, false); err != nil {
			return nil, err
		}
	}
	ops, err := normalizeOps(in.Operations)
	if err != nil {
		return nil, err
	}
	var subset, equals map[string]string
	if in.Constraints != nil {
		subset, equals = in.Constraints.EncryptionContextSubset, in.Constraints.EncryptionContextEquals
		if err := checkConstraintMap("constraints.encryptionContextSubset", subset); err != nil {
			return nil, err
		}
		if err := checkConstraintMap("constraints.encryptionContextEquals", equals); err != nil {
			return nil, err
		}
	}
	if err := checkGrantTokens(in.GrantTokens); err != nil {
		return nil, err
	}
	name := ""
	if in.Name != nil {
		name = *in.Name
		if err := svcerr.CheckLen("name", len(name), 1, maxGrantNameLen); err != nil {
			return nil, err
		}
		if err := checkChars("name", name, grantNamePattern, isGrantNameChar); err != nil {
			return nil, err
		}
	}
	// The grant's own condition keys (kms:GrantOperations, ...) reach the
	// policies that decide CreateGrant, as AWS documents them.
	// A grant that allows CreateGrant lets its grantee create grants no
	// wider than itself.
	grantKeys := GrantConditionKeys(in)
	k, err := s.resolve(ctx, c, in.KeyID, false)
	if err != nil {
		return nil, err
	}
	err = s.authorizeWith(ctx, c, ActCreateGrant, k, &facts{grantTokens: in.GrantTokens,
		more: func(pc *policy.Context) {
			for name, v := range grantKeys {
				pc.SetMulti(name, v)
			}
		},
		byGrant: func() (bool, error) { return s.grantAllowsCreateGrant(ctx, c, k, in) }})
	if err != nil {
		return nil, err
	}
	if err := s.checkKeyState(k, ActCreateGrant); err != nil {
		return nil, err
	}
	if err := s.checkGrantForKey(k, ops, subset != nil || equals != nil); err != nil {
		return nil, err
	}
	set, err := s.ks.Grants(ctx, k.Account, k.Region, k.ID)
	if err != nil {
		return nil, s.storeErr(err, "Key '"+s.keyARN(k)+"'")
	}
	if err := checkTokensFor(k, set, in.GrantTokens); err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	want := &keystore.Grant{
		KeyARN: s.keyARN(k), Account: k.Account, Region: k.Region, KeyID: k.ID, Name: name,
		Grantee: in.GranteePrincipal, Retiring: retiring, IssuingAccount: s.rootARN(k.Account),
		Operations: ops, Subset: maps.Clone(subset), Equals: maps.Clone(equals),
	}
	g, _, err := s.ks.AddGrant(ctx, k.Account, k.Region, k.ID, func(cur *keystore.Key, grants *keystore.GrantSet) (*keystore.Grant, bool, error) {
		if err := s.checkKeyState(cur, ActCreateGrant); err != nil {
			return nil, false, err
		}
		if name != "" {
			for _, g := range grants.All() {
				if g.Name == name && sameGrant(g, want) {
					return g, false, nil
				}
			}
		}
		if grants.Len() >= s.maxGrantsPerKey() {
			return nil, false, svcerr.New(svcerr.LimitExceeded, "The request was rejected because the number of grants on %s would exceed the quota of %d grants per KMS key.", s.keyARN(cur), s.maxGrantsPerKey())
		}
		g := *want
		id := make([]byte, grantIDBytes)
		secret := make([]byte, 32)
		if _, err := rand.Read(id); err != nil {
			return nil, false, err
		}
		if _, err := rand.Read(secret); err != nil {
			return nil, false, err
		}
		g.ID, g.Secret, g.Created = hex.EncodeToString(id), secret, s.now().UTC()
		return &g, true, nil
	})
	if err != nil {
		return nil, s.storeErr(err, "Key '"+s.keyARN(k)+"'")
	}
	tok, err := s.mintGrantToken(g)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	return &CreateGrantOutput{GrantToken: tok, GrantID: g.ID}, nil
}

// maxGrantsPerKey is AWS's quota of grants per key; tests lower it.
func (s *Service) maxGrantsPerKey() int {
	if s.grantQuota > 0 {
		return s.grantQuota
	}
	return defaultMaxGrantsPerKey
}

// checkGrantForKey applies AWS's rules on what a grant for k may hold: only
// operations the key's type supports, and encryption-context constraints
// only on symmetric encryption keys, whose operations take a context.
func (s *Service) checkGrantForKey(k *keystore.Key, ops []string, constrained bool) error {
	valid := keyGrantOperations(k)
	var bad []string
	for _, op := range ops {
		if !slices.Contains(valid, op) {
			bad = append(bad, op)
		}
	}
	if bad != nil {
		return svcerr.Validationf("Grant operations [%s] are not valid for %s, whose KeySpec is %s and KeyUsage is %s.",
			strings.Join(bad, ", "), s.keyARN(k), k.Spec, k.Usage)
	}
	if constrained && !isSymmetric(k.Spec) {
		return svcerr.Validationf("Grant constraints are not supported for %s: encryption context grant constraints are supported only on symmetric encryption KMS keys.", s.keyARN(k))
	}
	return nil
}

// sameGrant reports whether g has want's parameters (for Name idempotency).
func sameGrant(g, want *keystore.Grant) bool {
	return g.Grantee == want.Grantee && g.Retiring == want.Retiring && slices.Equal(g.Operations, want.Operations) &&
		sameConstraint(g.Subset, want.Subset) && sameConstraint(g.Equals, want.Equals)
}

func sameConstraint(a, b map[string]string) bool {
	return (a == nil) == (b == nil) && maps.Equal(a, b)
}

func (s *Service) grantEntry(g *keystore.Grant) GrantListEntry {
	e := GrantListEntry{
		KeyID: g.KeyARN, GrantID: g.ID, Name: g.Name, CreationDate: epoch.New(g.Created),
		GranteePrincipal: g.Grantee, RetiringPrincipal: g.Retiring, IssuingAccount: g.IssuingAccount,
		Operations: slices.Clone(g.Operations),
	}
	if g.Subset != nil || g.Equals != nil {
		e.Constraints = &GrantConstraints{EncryptionContextSubset: maps.Clone(g.Subset), EncryptionContextEquals: maps.Clone(g.Equals)}
	}
	return e
}

// ListGrants lists a key's grants in GrantId order, optionally only one
// grant or one grantee's.
func (s *Service) ListGrants(ctx context.Context, c *auth.Caller, in *ListGrantsInput) (*ListGrantsOutput, error) {
	limit, err := checkLimit(in.Limit, defaultListGrants, maxListGrants)
	if err != nil {
		return nil, err
	}
	if in.Marker != "" && !isGrantID(in.Marker) {
		return nil, svcerr.New(svcerr.InvalidMarker, "Invalid marker.")
	}
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if in.GrantID != "" {
		if err := checkGrantID("grantId", in.GrantID); err != nil {
			return nil, err
		}
	}
	if in.GranteePrincipal != "" {
		if err := checkPrincipal("granteePrincipal", in.GranteePrincipal, false); err != nil {
			return nil, err
		}
	}
	k, err := s.keyFor(ctx, c, in.KeyID, ActListGrants, false)
	if err != nil {
		return nil, err
	}
	set, err := s.ks.Grants(ctx, k.Account, k.Region, k.ID)
	if err != nil {
		return nil, s.storeErr(err, "Key '"+s.keyARN(k)+"'")
	}
	out := &ListGrantsOutput{Grants: []GrantListEntry{}}
	all := set.All()
	start, found := slices.BinarySearchFunc(all, in.Marker, func(g *keystore.Grant, m string) int { return strings.Compare(g.ID, m) })
	if found {
		start++
	}
	for _, g := range all[start:] {
		if (in.GrantID != "" && g.ID != in.GrantID) || (in.GranteePrincipal != "" && g.Grantee != in.GranteePrincipal) {
			continue
		}
		if len(out.Grants) == limit {
			out.Truncated = true
			out.NextMarker = out.Grants[limit-1].GrantID
			return out, nil
		}
		out.Grants = append(out.Grants, s.grantEntry(g))
	}
	return out, nil
}

// ListRetirableGrants lists the grants in the caller's region, in any
// account, whose retiring principal is the given one.
func (s *Service) ListRetirableGrants(ctx context.Context, c *auth.Caller, in *ListRetirableGrantsInput) (*ListGrantsOutput, error) {
	limit, err := checkLimit(in.Limit, defaultListGrants, maxListGrants)
	if err != nil {
		return nil, err
	}
	if in.Marker != "" && !isRetirableMarker(in.Marker) {
		return nil, svcerr.New(svcerr.InvalidMarker, "Invalid marker.")
	}
	if err := checkPrincipal("retiringPrincipal", in.RetiringPrincipal, true); err != nil {
		return nil, err
	}
	if err := s.authorize(ctx, c, ActListRetirableGrants, nil); err != nil {
		return nil, err
	}
	// The authorized resource is the retiring principal, which must be in
	// the caller's account (API reference, "Cross-account use").
	if p, err := arn.Parse(in.RetiringPrincipal); err == nil && p.Account != "" && p.Account != c.Account {
		return nil, svcerr.New(svcerr.AccessDenied, "User: %s is not authorized to perform: %s on resource: %s",
			c.ARN, ActListRetirableGrants, in.RetiringPrincipal)
	}
	gs, err := s.ks.RetirableGrants(ctx, c.Region, in.RetiringPrincipal, in.Marker, limit+1)
	if err != nil {
		return nil, svcerr.InternalError(err)
	}
	out := &ListGrantsOutput{Grants: []GrantListEntry{}}
	for i, g := range gs {
		if i == limit {
			out.Truncated = true
			out.NextMarker = keystore.RetirableMarker(gs[limit-1])
			break
		}
		out.Grants = append(out.Grants, s.grantEntry(g))
	}
	return out, nil
}

func isRetirableMarker(m string) bool {
	parts := strings.Split(m, "/")
	if len(parts) != 3 || len(parts[0]) != 12 || !arn.IsKeyID(parts[1]) || !isGrantID(parts[2]) {
		return false
	}
	for i := 0; i < 12; i++ {
		if parts[0][i] < '0' || parts[0][i] > '9' {
			return false
		}
	}
	return true
}

// RetireGrant deletes a grant named by its token, or by KeyId and GrantId.
// The grant decides who may: its retiring principal, and its grantee when
// it allows RetireGrant; otherwise the caller needs kms:RetireGrant on the
// key ("Retiring and revoking grants").
func (s *Service) RetireGrant(ctx context.Context, c *auth.Caller, in *RetireGrantInput) (*Empty, error) {
	var tok *grantToken
	keyID, grantID := in.KeyID, in.GrantID
	if in.GrantToken != "" {
		if err := svcerr.CheckLen("grantToken", len(in.GrantToken), 1, maxGrantTokenLen); err != nil {
			return nil, err
		}
		t, ok := parseGrantToken(in.GrantToken)
		if !ok {
			return nil, invalidGrantToken()
		}
		tok = t
	} else if keyID == "" || grantID == "" {
		return nil, svcerr.Validationf("Either a grant token, or both a key ID and a grant ID, must be specified.")
	}
	if keyID != "" {
		if err := checkKeyID("keyId", keyID); err != nil {
			return nil, err
		}
	}
	if grantID != "" {
		if err := checkGrantID("grantId", grantID); err != nil {
			return nil, err
		}
	}
	var k *keystore.Key
	var err error
	if tok != nil {
		if tok.region != c.Region {
			return nil, invalidGrantToken()
		}
		k, err = s.resolve(ctx, c, arn.KeyARN(s.partition, tok.region, tok.account, tok.keyID), false)
		if err != nil {
			return nil, err
		}
		if keyID != "" {
			other, err := s.resolve(ctx, c, keyID, false)
			if err != nil {
				return nil, err
			}
			if other.Account != k.Account || other.ID != k.ID {
				return nil, svcerr.New(svcerr.InvalidGrantID, "The KeyId does not match the grant token.")
			}
		}
		if grantID != "" && grantID != tok.grantID {
			return nil, svcerr.New(svcerr.InvalidGrantID, "The GrantId does not match the grant token.")
		}
		grantID = tok.grantID
	} else if k, err = s.resolve(ctx, c, keyID, false); err != nil {
		return nil, err
	}
	set, err := s.ks.Grants(ctx, k.Account, k.Region, k.ID)
	if err != nil {
		return nil, s.storeErr(err, "Key '"+s.keyARN(k)+"'")
	}
	g := set.Get(grantID)
	if g == nil {
		return nil, grantNotFound(grantID)
	}
	if tok != nil && !tok.verify(g) {
		return nil, invalidGrantToken()
	}
	if !s.mayRetire(c, g) {
		if err := s.authorize(ctx, c, ActRetireGrant, k); err != nil {
			return nil, err
		}
	}
	if err := s.checkKeyState(k, ActRetireGrant); err != nil {
		return nil, err
	}
	if in.DryRun {
		return nil, dryRun()
	}
	return s.deleteGrant(ctx, k, grantID, ActRetireGrant)
}

// mayRetire reports whether the grant itself lets c retire it.
func (s *Service) mayRetire(c *auth.Caller, g *keystore.Grant) bool {
	return s.principalMatches(c, g.Retiring) || (g.Allows(grantOpRetireGrant) && s.principalMatches(c, g.Grantee))
}

// RevokeGrant deletes a grant; it needs kms:RevokeGrant on the key.
func (s *Service) RevokeGrant(ctx context.Context, c *auth.Caller, in *RevokeGrantInput) (*Empty, error) {
	if err := checkKeyID("keyId", in.KeyID); err != nil {
		return nil, err
	}
	if in.GrantID == "" {
		return nil, svcerr.Missing("grantId")
	}
	if err := checkGrantID("grantId", in.GrantID); err != nil {
		return nil, err
	}
	k, err := s.keyFor(ctx, c, in.KeyID, ActRevokeGrant, false)
	if err != nil {
		return nil, err
	}
	set, err := s.ks.Grants(ctx, k.Account, k.Region, k.ID)
	if err != nil {
		return nil, s.storeErr(err, "Key '"+s.keyARN(k)+"'")
	}
	if set.Get(in.GrantID) == nil {
		return nil, grantNotFound(in.GrantID)
	}
	if in.DryRun {
		return nil, dryRun()
	}
	return s.deleteGrant(ctx, k, in.GrantID, ActRevokeGrant)
}

func grantNotFound(id string) error {
	return svcerr.New(svcerr.NotFound, "Grant ID %s not found.", id)
}

// deleteGrant deletes the grant, re-checking the key's state inside the
// transaction.
func (s *Service) deleteGrant(ctx context.Context, k *keystore.Key, id, action string) (*Empty, error) {
	err := s.ks.DeleteGrant(ctx, k.Account, k.Region, k.ID, id, func(cur *keystore.Key, _ *keystore.Grant) error {
		return s.checkKeyState(cur, action)
	})
	if errors.Is(err, keystore.ErrNotFound) {
		// The grant (or the key) went away since it was looked up.
		return nil, grantNotFound(id)
	}
	if err != nil {
		return nil, s.storeErr(err, "Key '"+s.keyARN(k)+"'")
	}
	return &Empty{}, nil
}
