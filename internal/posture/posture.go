// Package posture evaluates an account's security posture: rules over its
// KMS keys, aliases, access keys and (once Secrets Manager lands) secrets,
// producing findings with an ID, a severity, the resource's ARN and a
// remedy. Evaluation is pure: the data comes through the small Inventory
// and Secrets interfaces defined here, which the server implements over
// the key and identity stores. Service adds the ArcaListFindings operation
// (authorization and wire shapes) on top.
package posture

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/policy"
)

// Severity is a finding's severity, in Security Hub's labels.
type Severity string

// Severities, highest first.
const (
	Critical Severity = "CRITICAL"
	High     Severity = "HIGH"
	Medium   Severity = "MEDIUM"
	Low      Severity = "LOW"
	Info     Severity = "INFORMATIONAL"
)

// Rank orders severities: Critical is 5, Info 1, anything else 0.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 5
	case High:
		return 4
	case Medium:
		return 3
	case Low:
		return 2
	case Info:
		return 1
	}
	return 0
}

// Rule IDs. Key-policy findings carry the policy linter's IDs (ARCA-POL-…).
const (
	RuleKeyRotation       = "ARCA-KMS-001" // customer key without automatic rotation
	RuleKeyPendingDelete  = "ARCA-KMS-002" // key scheduled for deletion
	RuleDisabledWithAlias = "ARCA-KMS-003" // disabled key still named by aliases
	RuleImportExpiring    = "ARCA-KMS-004" // imported material expires within 30 days
	RuleAccessKeyUnused   = "ARCA-IAM-001" // active access key unused for 90 days
	RuleAccessKeyOld      = "ARCA-IAM-002" // active access key older than the maximum age
	RuleRootRoutineUse    = "ARCA-IAM-003" // root credentials used for routine calls
	RuleSecretNoRotation  = "ARCA-SM-001"  // secret without automatic rotation
	RuleSecretRotationBad = "ARCA-SM-002"  // secret whose last rotation failed
)

// Finding is one posture problem.
type Finding struct {
	ID           string   `json:"Id"`
	Severity     Severity `json:"Severity"`
	Title        string   `json:"Title"`
	ResourceArn  string   `json:"ResourceArn"`
	ResourceType string   `json:"ResourceType"`
	Region       string   `json:"Region,omitempty"`
	// Detail gives the facts (dates, alias names, the policy statement).
	Detail string `json:"Detail"`
	Remedy string `json:"Remedy"`
}

// Key is what the rules need of a KMS key.
type Key struct {
	ARN, ID, Account, Region string
	// Manager is CUSTOMER or AWS.
	Manager string
	// Spec is the KeySpec, Usage the KeyUsage, Origin AWS_KMS or EXTERNAL.
	Spec, Usage, Origin string
	// State is the KeyState (Enabled, Disabled, PendingDeletion, ...).
	State string
	// MultiRegionType is MultiRegionPrimary, MultiRegionReplica or "".
	MultiRegionType string
	// RotationEnabled reports automatic rotation.
	RotationEnabled bool
	// DeletionDate is set while the key is pending deletion.
	DeletionDate time.Time
	// ValidTo is when imported material expires (zero: never, or none).
	ValidTo time.Time
	// Policy is the key policy document.
	Policy string
}

// Alias is a KMS alias.
type Alias struct {
	Name, ARN, Region, TargetKeyID string
}

// AccessKey is an access key with its last use.
type AccessKey struct {
	ID, Account string
	// ARN is the owner's: the user's, or the account root's.
	ARN      string
	UserName string
	Root     bool
	Active   bool
	Created  time.Time
	// LastUsed is the last signed request (zero: never); RoutineUsed the
	// last one for a service other than iam and sts, and RoutineService
	// that service.
	LastUsed       time.Time
	RoutineUsed    time.Time
	RoutineService string
}

// Secret is what the secret rules need. Secrets Manager implements Secrets
// when it lands.
type Secret struct {
	ARN, Name, Region string
	RotationEnabled   bool
	// LastRotationFailed reports that the last rotation attempt failed,
	// with its Reason (never a secret value).
	LastRotationFailed bool
	Reason             string
	// LastRotated is the last successful rotation (zero: never).
	LastRotated time.Time
}

// Inventory is the account's resources, read-only.
type Inventory interface {
	Keys(ctx context.Context, account string) ([]Key, error)
	Aliases(ctx context.Context, account string) ([]Alias, error)
	AccessKeys(ctx context.Context, account string) ([]AccessKey, error)
}

// Secrets is the account's secrets, read-only. Nothing implements it yet:
// the Secrets Manager engineer adds it, and the secret rules run as soon
// as the server passes one in Options.Secrets.
type Secrets interface {
	Secrets(ctx context.Context, account string) ([]Secret, error)
}

// Options tune the rules.
type Options struct {
	// Now is the evaluation time.
	Now time.Time
	// AccessKeyMaxAge flags active access keys older than this (default
	// 90 days).
	AccessKeyMaxAge time.Duration
	// Secrets, if set, adds the secret rules.
	Secrets Secrets
}

// Fixed thresholds, as AWS's and CIS's recommendations state them.
const (
	unusedAfter   = 90 * 24 * time.Hour
	expiryWarning = 30 * 24 * time.Hour
	rootWindow    = 90 * 24 * time.Hour
)

const day = "2006-01-02"

// Evaluate runs every rule over account's resources and returns the
// findings, most severe first, then by rule and resource.
func Evaluate(ctx context.Context, inv Inventory, account string, o Options) ([]Finding, error) {
	if o.AccessKeyMaxAge <= 0 {
		o.AccessKeyMaxAge = 90 * 24 * time.Hour
	}
	keys, err := inv.Keys(ctx, account)
	if err != nil {
		return nil, err
	}
	aliases, err := inv.Aliases(ctx, account)
	if err != nil {
		return nil, err
	}
	aks, err := inv.AccessKeys(ctx, account)
	if err != nil {
		return nil, err
	}
	out := []Finding{}
	out = append(out, keyFindings(keys, aliases, account, o.Now)...)
	out = append(out, accessKeyFindings(aks, o)...)
	if o.Secrets != nil {
		secrets, err := o.Secrets.Secrets(ctx, account)
		if err != nil {
			return nil, err
		}
		out = append(out, secretFindings(secrets)...)
	}
	slices.SortStableFunc(out, func(a, b Finding) int {
		return cmp.Or(b.Severity.Rank()-a.Severity.Rank(), strings.Compare(a.ID, b.ID), strings.Compare(a.ResourceArn, b.ResourceArn))
	})
	return out, nil
}

// rotatable reports whether AWS KMS supports automatic rotation of k:
// symmetric encryption keys with material generated by KMS (and Arca's
// SM4, which rotates the same way).
func rotatable(k Key) bool {
	return k.Origin == "AWS_KMS" && k.Usage == "ENCRYPT_DECRYPT" && (k.Spec == "SYMMETRIC_DEFAULT" || k.Spec == "SM4") &&
		k.MultiRegionType != "MultiRegionReplica"
}

func keyFindings(keys []Key, aliases []Alias, account string, now time.Time) []Finding {
	var out []Finding
	byTarget := map[string][]string{}
	for _, a := range aliases {
		byTarget[a.Region+"/"+a.TargetKeyID] = append(byTarget[a.Region+"/"+a.TargetKeyID], a.Name)
	}
	for _, k := range keys {
		if k.Manager != "CUSTOMER" {
			continue
		}
		f := Finding{ResourceArn: k.ARN, ResourceType: "AWS::KMS::Key", Region: k.Region}
		add := func(id string, sev Severity, title, detail, remedy string) {
			g := f
			g.ID, g.Severity, g.Title, g.Detail, g.Remedy = id, sev, title, detail, remedy
			out = append(out, g)
		}
		pending := k.State == "PendingDeletion" || k.State == "PendingReplicaDeletion"
		if pending {
			when := "when its last replica is deleted"
			if !k.DeletionDate.IsZero() {
				when = "on " + k.DeletionDate.UTC().Format(time.RFC3339)
			}
			add(RuleKeyPendingDelete, High, "KMS key is scheduled for deletion",
				fmt.Sprintf("the key is %s and will be deleted %s; data encrypted under it becomes unrecoverable", k.State, when),
				"If the key is still needed, call CancelKeyDeletion before the deletion date (then EnableKey).")
			continue
		}
		if rotatable(k) && !k.RotationEnabled && (k.State == "Enabled" || k.State == "Disabled") {
			add(RuleKeyRotation, Medium, "Customer managed key without automatic rotation",
				"automatic key rotation is disabled",
				"Call EnableKeyRotation (optionally with RotationPeriodInDays) on the key.")
		}
		if names := byTarget[k.Region+"/"+k.ID]; k.State == "Disabled" && len(names) > 0 {
			slices.Sort(names)
			add(RuleDisabledWithAlias, Medium, "Disabled KMS key is still referenced by aliases",
				"the key is disabled but "+strings.Join(names, ", ")+" still point(s) to it; callers using the alias fail",
				"Point the alias(es) to an enabled key with UpdateAlias, delete them with DeleteAlias, or EnableKey.")
		}
		if !k.ValidTo.IsZero() && k.ValidTo.After(now) && k.ValidTo.Sub(now) <= expiryWarning {
			add(RuleImportExpiring, High, "Imported key material expires within 30 days",
				fmt.Sprintf("the imported key material expires on %s (in %d days); the key then becomes unusable",
					k.ValidTo.UTC().Format(time.RFC3339), int(k.ValidTo.Sub(now).Hours()/24)),
				"Reimport the same key material with a later ValidTo (or KEY_MATERIAL_DOES_NOT_EXPIRE) using GetParametersForImport and ImportKeyMaterial.")
		}
		if k.Policy != "" {
			p, err := policy.ParseWith([]byte(k.Policy), policy.Options{Kind: policy.KindResource})
			if err != nil {
				add("ARCA-POL-000", Medium, "Key policy does not parse", err.Error(),
					"Replace the key policy with PutKeyPolicy; until then the key denies every call.")
				continue
			}
			for _, lf := range policy.Lint(p, policy.KindResource, policy.WithAccount(account)) {
				if lf.Severity < policy.Low {
					// Informational notes (such as kms:* for the account
					// root, which every default key policy has) are the
					// linter's business, not a posture problem.
					continue
				}
				stmt := fmt.Sprintf("statement %d", lf.Statement)
				if lf.Sid != "" {
					stmt += fmt.Sprintf(" (Sid %q)", lf.Sid)
				}
				add(lf.ID, lintSeverity(lf.Severity), "Key policy: "+lf.Message, stmt+": "+lf.Message, lf.Fix)
			}
		}
	}
	return out
}

func lintSeverity(s policy.Severity) Severity {
	switch s {
	case policy.High:
		return High
	case policy.Medium:
		return Medium
	case policy.Low:
		return Low
	}
	return Info
}

func accessKeyFindings(aks []AccessKey, o Options) []Finding {
	var out []Finding
	for _, ak := range aks {
		if !ak.Active {
			continue
		}
		f := Finding{ResourceArn: ak.ARN, ResourceType: "AWS::IAM::AccessKey"}
		who := "user " + ak.UserName
		if ak.Root {
			who = "the account root user"
		}
		add := func(id string, sev Severity, title, detail, remedy string) {
			g := f
			g.ID, g.Severity, g.Title, g.Detail, g.Remedy = id, sev, title, detail, remedy
			out = append(out, g)
		}
		last := ak.LastUsed
		if last.IsZero() {
			last = ak.Created
		}
		if o.Now.Sub(last) >= unusedAfter {
			used := "never used (created " + ak.Created.UTC().Format(day) + ")"
			if !ak.LastUsed.IsZero() {
				used = "last used " + ak.LastUsed.UTC().Format(day)
			}
			add(RuleAccessKeyUnused, Medium, "Access key unused for 90 days or more",
				fmt.Sprintf("access key %s of %s is active and %s", ak.ID, who, used),
				"Deactivate the key (UpdateAccessKey --status Inactive) and delete it (DeleteAccessKey) once nothing breaks.")
		}
		if age := o.Now.Sub(ak.Created); age > o.AccessKeyMaxAge {
			add(RuleAccessKeyOld, Medium, "Access key older than the maximum age",
				fmt.Sprintf("access key %s of %s was created %s, %d days ago (maximum %d days)", ak.ID, who,
					ak.Created.UTC().Format(day), int(age.Hours()/24), int(o.AccessKeyMaxAge.Hours()/24)),
				"Rotate it: CreateAccessKey, move the callers to the new key, then deactivate and delete the old one.")
		}
		if ak.Root && !ak.RoutineUsed.IsZero() && o.Now.Sub(ak.RoutineUsed) < rootWindow {
			add(RuleRootRoutineUse, High, "Root credentials used for routine calls",
				fmt.Sprintf("the root access key %s signed %s calls, most recently on %s", ak.ID, ak.RoutineService, ak.RoutineUsed.UTC().Format(time.RFC3339)),
				"Create an IAM user or role with only the permissions the workload needs, move the workload to it, and keep the root key for account administration.")
		}
	}
	return out
}

func secretFindings(secrets []Secret) []Finding {
	var out []Finding
	for _, s := range secrets {
		f := Finding{ResourceArn: s.ARN, ResourceType: "AWS::SecretsManager::Secret", Region: s.Region}
		if !s.RotationEnabled {
			g := f
			g.ID, g.Severity, g.Title = RuleSecretNoRotation, Medium, "Secret without automatic rotation"
			g.Detail = "secret " + s.Name + " has no rotation schedule"
			g.Remedy = "Configure rotation with RotateSecret (a rotation function and RotationRules)."
			out = append(out, g)
		}
		if s.LastRotationFailed {
			g := f
			g.ID, g.Severity, g.Title = RuleSecretRotationBad, High, "Secret rotation failed"
			g.Detail = "the last rotation of secret " + s.Name + " failed"
			if s.Reason != "" {
				g.Detail += ": " + s.Reason
			}
			g.Remedy = "Fix the cause (the target system's credentials or reachability) and call RotateSecret again."
			out = append(out, g)
		}
	}
	return out
}
