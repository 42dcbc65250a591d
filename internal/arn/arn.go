// Package arn parses and formats Amazon Resource Names and the KMS key
// identifiers that appear in requests: key IDs, key ARNs, alias names and
// alias ARNs.
//
// It is pure and imports nothing of Arca's.
package arn

import (
	"errors"
	"strings"
)

// ErrInvalid is returned for a string that is not a well-formed ARN.
var ErrInvalid = errors.New("arn: invalid ARN")

// ARN is arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.
type ARN struct {
	Partition string
	Service   string
	Region    string
	Account   string
	Resource  string
}

// Parse splits s into its six parts. The resource may itself contain colons.
func Parse(s string) (ARN, error) {
	if !strings.HasPrefix(s, "arn:") {
		return ARN{}, ErrInvalid
	}
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[1] == "" || parts[2] == "" || parts[5] == "" {
		return ARN{}, ErrInvalid
	}
	return ARN{Partition: parts[1], Service: parts[2], Region: parts[3], Account: parts[4], Resource: parts[5]}, nil
}

// String formats a as arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.
func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// KeyARN returns the ARN of the KMS key keyID.
func KeyARN(partition, region, account, keyID string) string {
	return "arn:" + partition + ":kms:" + region + ":" + account + ":key/" + keyID
}

// AliasARN returns the ARN of the alias name (which starts with "alias/").
func AliasARN(partition, region, account, name string) string {
	return "arn:" + partition + ":kms:" + region + ":" + account + ":" + name
}

// IsKeyID reports whether s is a KMS key ID: a lower- or upper-case UUID, or a
// multi-Region key ID ("mrk-" followed by 32 hex digits).
func IsKeyID(s string) bool {
	if rest, ok := strings.CutPrefix(s, "mrk-"); ok {
		return len(rest) == 32 && isHex(rest)
	}
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHexByte(s[i]) {
				return false
			}
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isHexByte(s[i]) {
			return false
		}
	}
	return true
}

func isHexByte(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// RefKind says which of the four forms a key reference took.
type RefKind int

// The forms a KMS KeyId parameter can take.
const (
	RefKeyID RefKind = iota + 1
	RefKeyARN
	RefAliasName
	RefAliasARN
)

// KeyRef is a parsed KeyId parameter. For ARN forms, Region and Account name
// where the key or alias lives; for bare forms they are empty (the caller's).
type KeyRef struct {
	Kind      RefKind
	KeyID     string // for RefKeyID and RefKeyARN
	AliasName string // "alias/..." for RefAliasName and RefAliasARN
	Partition string
	Region    string
	Account   string
}

// IsAlias reports whether r names an alias rather than a key.
func (r KeyRef) IsAlias() bool { return r.Kind == RefAliasName || r.Kind == RefAliasARN }

// ParseKeyRef parses a KeyId request parameter. It does not check that the
// key or alias exists. A string that is none of the four forms is an error;
// callers report it the way AWS does for that operation (usually NotFound).
func ParseKeyRef(s string) (KeyRef, error) {
	switch {
	case strings.HasPrefix(s, "arn:"):
		a, err := Parse(s)
		if err != nil || a.Service != "kms" || a.Region == "" || a.Account == "" {
			return KeyRef{}, ErrInvalid
		}
		ref := KeyRef{Partition: a.Partition, Region: a.Region, Account: a.Account}
		if id, ok := strings.CutPrefix(a.Resource, "key/"); ok {
			if !IsKeyID(id) {
				return KeyRef{}, ErrInvalid
			}
			ref.Kind, ref.KeyID = RefKeyARN, id
			return ref, nil
		}
		if strings.HasPrefix(a.Resource, "alias/") && ValidAliasName(a.Resource) == nil {
			ref.Kind, ref.AliasName = RefAliasARN, a.Resource
			return ref, nil
		}
		return KeyRef{}, ErrInvalid
	case strings.HasPrefix(s, "alias/"):
		if err := ValidAliasName(s); err != nil {
			return KeyRef{}, err
		}
		return KeyRef{Kind: RefAliasName, AliasName: s}, nil
	case IsKeyID(s):
		return KeyRef{Kind: RefKeyID, KeyID: s}, nil
	}
	return KeyRef{}, ErrInvalid
}

// Alias name limits, as AWS documents them for CreateAlias.
const (
	AliasMaxLen = 256
	// ReservedAliasPrefix is the prefix of AWS managed keys' aliases, which
	// customers may not create, update or delete.
	ReservedAliasPrefix = "alias/aws/"
)

// ErrInvalidAliasName is returned for an alias name outside AWS's pattern.
var ErrInvalidAliasName = errors.New("arn: invalid alias name")

// ValidAliasName checks name against AWS's pattern: "alias/" followed by at
// least one of [a-zA-Z0-9/_-], at most 256 characters in all.
func ValidAliasName(name string) error {
	rest, ok := strings.CutPrefix(name, "alias/")
	if !ok || rest == "" || len(name) > AliasMaxLen {
		return ErrInvalidAliasName
	}
	for i := 0; i < len(rest); i++ {
		c := rest[i]
		if !(('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '/' || c == '_' || c == '-') {
			return ErrInvalidAliasName
		}
	}
	return nil
}
