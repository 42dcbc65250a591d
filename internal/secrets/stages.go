package secrets

import (
	"slices"
	"time"

	"github.com/arca-kms/arca/internal/svcerr"
)

// The staging labels Secrets Manager itself moves.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	StagePending  = "AWSPENDING"
)

// AWS's limits on versions and labels.
const (
	maxStagesPerVersion = 20
	// maxVersions is the number of versions above which deprecated
	// (unlabelled) versions are pruned, oldest first, except those younger
	// than minPruneAge; a secret that still has more refuses new versions.
	maxVersions = 100
	minPruneAge = 24 * time.Hour
)

// addVersion adds version v to r with the given staging labels (AWSCURRENT
// when none are given, and always on a secret's first version), taking each
// label from the version that had it; when AWSCURRENT moves, AWSPREVIOUS
// goes to the version that lost it. It returns the IDs of versions pruned
// to stay within AWS's version limit (their values are to be deleted).
func addVersion(r *record, v *version, stages []string, now time.Time) ([]string, error) {
	if len(stages) == 0 {
		stages = []string{StageCurrent}
	}
	if len(r.Versions) == 0 && !slices.Contains(stages, StageCurrent) {
		stages = append(slices.Clone(stages), StageCurrent)
	}
	if len(stages) > maxStagesPerVersion {
		return nil, svcerr.New(svcerr.LimitExceeded, "A version can have at most %d staging labels.", maxStagesPerVersion)
	}
	r.Versions = append(r.Versions, v)
	for _, s := range stages {
		attach(r, v, s)
	}
	pruned := prune(r, now)
	if len(r.Versions) > maxVersions {
		return nil, svcerr.New(svcerr.LimitExceeded,
			"You have exceeded the maximum number of versions (%d) for this secret: versions without staging labels are removed only once they are 24 hours old.", maxVersions)
	}
	return pruned, nil
}

// attach moves stage to v (from whichever version had it), with AWS's
// AWSPREVIOUS rule for AWSCURRENT.
func attach(r *record, v *version, stage string) {
	if slices.Contains(v.Stages, stage) {
		return
	}
	from := r.staged(stage)
	if from != nil {
		from.Stages = slices.DeleteFunc(from.Stages, func(s string) bool { return s == stage })
	}
	v.Stages = append(v.Stages, stage)
	if stage == StageCurrent && from != nil {
		attach(r, from, StagePrevious)
	}
}

// prune removes the oldest deprecated versions (no staging labels) created
// at least minPruneAge ago while r has more than maxVersions versions.
func prune(r *record, now time.Time) []string {
	var gone []string
	for len(r.Versions) > maxVersions {
		i := slices.IndexFunc(r.Versions, func(v *version) bool {
			return len(v.Stages) == 0 && now.Sub(v.Created) >= minPruneAge
		})
		if i < 0 {
			break
		}
		gone = append(gone, r.Versions[i].ID)
		r.Versions = slices.Delete(r.Versions, i, i+1)
	}
	return gone
}

// moveStage is UpdateSecretVersionStage's rule: stage moves to moveTo
// (when given) and leaves removeFrom (which must then carry it). A label
// already on another version can only be moved by naming that version in
// removeFrom; AWSCURRENT can only be moved, never just removed.
func moveStage(r *record, stage, moveTo, removeFrom string) error {
	holder := r.staged(stage)
	if removeFrom != "" {
		from := r.version(removeFrom)
		if from == nil {
			return svcerr.New(svcerr.ResourceNotFound, "Secrets Manager can't find the specified secret version: %s", removeFrom)
		}
		if holder != from {
			return svcerr.New(svcerr.InvalidParameter, "The staging label %s is not attached to version %s.", stage, removeFrom)
		}
	}
	if moveTo == "" {
		if removeFrom == "" {
			return svcerr.New(svcerr.InvalidParameter, "You must specify MoveToVersionId, RemoveFromVersionId, or both.")
		}
		if stage == StageCurrent {
			return svcerr.New(svcerr.InvalidParameter, "You can't remove the staging label AWSCURRENT from a version without moving it to another version.")
		}
		holder.Stages = slices.DeleteFunc(holder.Stages, func(s string) bool { return s == stage })
		return nil
	}
	to := r.version(moveTo)
	if to == nil {
		return svcerr.New(svcerr.ResourceNotFound, "Secrets Manager can't find the specified secret version: %s", moveTo)
	}
	if holder == to {
		return nil
	}
	if holder != nil && removeFrom == "" {
		return svcerr.New(svcerr.InvalidParameter,
			"The staging label %s is currently attached to version %s. To move it, specify that version in RemoveFromVersionId.", stage, holder.ID)
	}
	if len(to.Stages) >= maxStagesPerVersion {
		return svcerr.New(svcerr.LimitExceeded, "A version can have at most %d staging labels.", maxStagesPerVersion)
	}
	attach(r, to, stage)
	return nil
}

// stagesMap is VersionIdsToStages: every version that has labels.
func stagesMap(r *record) map[string][]string {
	m := make(map[string][]string, len(r.Versions))
	for _, v := range r.Versions {
		if len(v.Stages) > 0 {
			m[v.ID] = slices.Clone(v.Stages)
		}
	}
	return m
}
