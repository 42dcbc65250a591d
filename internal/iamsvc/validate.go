package iamsvc

import (
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// AWS's member constraints (IAM API reference, data types), each a Go
// regexp and the pattern as AWS prints it in messages. Lengths count
// characters.
var (
	reName       = regexp.MustCompile(`^[\w+=,.@-]+$`)
	patName      = `[\w+=,.@-]+`
	rePath       = regexp.MustCompile(`^(?:/|/[\x{21}-\x{7E}]+/)$`)
	patPath      = `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`
	rePathPrefix = regexp.MustCompile(`^/[\x{21}-\x{7E}]*$`)
	patPrefix    = `\u002F[\u0021-\u007E]*`
	reKeyID      = regexp.MustCompile(`^\w+$`)
	patKeyID     = `[\w]+`
	reMarker     = regexp.MustCompile(`^[\x{20}-\x{FF}]+$`)
	patMarker    = `[\u0020-\u00FF]+`
	reDocument   = regexp.MustCompile(`^[\x{09}\x{0A}\x{0D}\x{20}-\x{FF}]+$`)
	patDocument  = `[\u0009\u000A\u000D\u0020-\u00FF]+`
	reDesc       = regexp.MustCompile(`^[\x{09}\x{0A}\x{0D}\x{20}-\x{7E}\x{A1}-\x{FF}]*$`)
	patDesc      = `[\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`
	reTagKey     = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$`)
	patTagKey    = `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`
	reTagValue   = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	patTagValue  = `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`
	reAccountID  = regexp.MustCompile(`^[0-9]{12}$`)
	patAccountID = `[0-9]{12}`
)

// IAM's limits.
const (
	maxUserName           = 64
	maxRoleName           = 64
	maxPolicyName         = 128
	maxPath               = 512
	maxDescription        = 1000
	maxTagsPerResource    = 50
	maxTagKey             = 128
	maxTagValue           = 256
	minSessionDuration    = 3600
	maxSessionDuration    = 43200
	defaultSessionSeconds = 3600
)

// Validation messages follow AWS's fixed form ("1 validation error
// detected: …") and name members in lower camel case, as IAM does.

// checkString checks a present value's length (in characters) and pattern.
// An empty value is below any minimum of 1, as AWS reports it.
func checkString(field, v string, lo, hi int, re *regexp.Regexp, pattern string) error {
	n := utf8.RuneCountInString(v)
	if n < lo {
		return svcerr.Validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to %d", v, field, lo)
	}
	if n > hi {
		return svcerr.Validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", clip(v), field, hi)
	}
	if re != nil && !re.MatchString(v) {
		return svcerr.Validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", clip(v), field, pattern)
	}
	return nil
}

// clip shortens an echoed value; AWS echoes whole values, but a policy
// document or a hostile string need not be sent back in full.
func clip(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func requireName(field, v string, max int) error {
	if v == "" {
		return svcerr.Missing(field)
	}
	return checkString(field, v, 1, max, reName, patName)
}

// optionalUserName checks a UserName that may be omitted.
func optionalUserName(v string) error {
	if v == "" {
		return nil
	}
	return checkString("userName", v, 1, maxUserName, reName, patName)
}

// checkPath returns the path, "/" when none was given.
func checkPath(v string) (string, error) {
	if v == "" {
		return "/", nil
	}
	return v, checkString("path", v, 1, maxPath, rePath, patPath)
}

func checkPathPrefix(v string) (string, error) {
	if v == "" {
		return "/", nil
	}
	return v, checkString("pathPrefix", v, 1, maxPath, rePathPrefix, patPrefix)
}

func checkKeyID(v string) error {
	if v == "" {
		return svcerr.Missing("accessKeyId")
	}
	return checkString("accessKeyId", v, 16, 128, reKeyID, patKeyID)
}

// checkDocument checks a policy document parameter's length and characters
// (the API's member constraints, ValidationError) before it is parsed.
func checkDocument(field, v string) error {
	if v == "" {
		return svcerr.Missing(field)
	}
	if n := utf8.RuneCountInString(v); n > policy.MaxPolicyDocumentChars {
		return svcerr.Validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, policy.MaxPolicyDocumentChars)
	}
	if !reDocument.MatchString(v) {
		return svcerr.Validationf("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: %s", field, patDocument)
	}
	return nil
}

// checkTags validates a request's tags: count, key and value constraints,
// and no key twice (IAM's tag keys are case-insensitive).
func checkTags(tags []Tag) error {
	if len(tags) > maxTagsPerResource {
		return svcerr.Validationf("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", maxTagsPerResource)
	}
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		field := "tags." + strconv.Itoa(i+1) + ".member."
		if t.Key == "" {
			return svcerr.Missing(field + "key")
		}
		if err := checkString(field+"key", t.Key, 1, maxTagKey, reTagKey, patTagKey); err != nil {
			return err
		}
		if err := checkString(field+"value", t.Value, 0, maxTagValue, reTagValue, patTagValue); err != nil {
			return err
		}
		k := strings.ToLower(t.Key)
		if seen[k] {
			return svcerr.New(svcerr.InvalidInput, "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
		}
		seen[k] = true
	}
	return nil
}

func checkTagKeys(keys []string) error {
	if keys == nil {
		return svcerr.Missing("tagKeys")
	}
	if len(keys) > maxTagsPerResource {
		return svcerr.Validationf("1 validation error detected: Value at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to %d", maxTagsPerResource)
	}
	for i, k := range keys {
		if err := checkString("tagKeys."+strconv.Itoa(i+1)+".member", k, 1, maxTagKey, reTagKey, patTagKey); err != nil {
			return err
		}
	}
	return nil
}

// mergeTags adds tags to cur, replacing the value of a key present in any
// case, and refuses a result over the quota (quota names TagsPerUser or
// TagsPerRole).
func mergeTags(cur []iam.Tag, tags []Tag, quota string) ([]iam.Tag, error) {
	out := append([]iam.Tag(nil), cur...)
	for _, t := range tags {
		replaced := false
		for i := range out {
			if strings.EqualFold(out[i].Key, t.Key) {
				out[i] = iam.Tag{Key: t.Key, Value: t.Value}
				replaced = true
				break
			}
		}
		if !replaced {
			out = append(out, iam.Tag{Key: t.Key, Value: t.Value})
		}
	}
	if len(out) > maxTagsPerResource {
		return nil, svcerr.New(svcerr.LimitExceeded, "Cannot exceed quota for %s: %d", quota, maxTagsPerResource)
	}
	return out, nil
}

// removeTags drops the tags whose keys are in keys, in any case.
func removeTags(cur []iam.Tag, keys []string) []iam.Tag {
	out := cur[:0:0]
	for _, t := range cur {
		drop := false
		for _, k := range keys {
			if strings.EqualFold(t.Key, k) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

func toStoreTags(tags []Tag) []iam.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]iam.Tag, len(tags))
	for i, t := range tags {
		out[i] = iam.Tag{Key: t.Key, Value: t.Value}
	}
	return out
}

// pageTags returns up to max tags after the one whose key is marker, in
// key order, and the next marker.
func pageTags(ts []iam.Tag, marker string, max int) (Members[Tag], string) {
	sorted := append([]iam.Tag(nil), ts...)
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && sorted[j].Key < sorted[j-1].Key; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	out := Members[Tag]{}
	for _, t := range sorted {
		if marker != "" && t.Key <= marker {
			continue
		}
		if len(out) == max {
			return out, out[len(out)-1].Key
		}
		out = append(out, Tag{Key: t.Key, Value: t.Value})
	}
	return out, ""
}
