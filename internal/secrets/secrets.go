package secrets

import (
	"context"
	"crypto/subtle"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/epoch"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/svcerr"
)

// plain is a request's secret value: exactly one of str and bin.
type plain struct {
	str *string
	bin []byte
}

func (p plain) bytes() []byte {
	if p.str != nil {
		return []byte(*p.str)
	}
	return p.bin
}

func (p plain) given() bool { return p.str != nil || p.bin != nil }

// sameValue compares a stored version's plaintext with a request's in
// constant time: idempotent retries are recognised without ever keeping a
// fingerprint of the value.
func sameValue(stored []byte, storedBinary bool, p plain) bool {
	return storedBinary == (p.bin != nil) && subtle.ConstantTimeCompare(stored, p.bytes()) == 1
}

func checkTags(tags []Tag) ([]tag, error) {
	if len(tags) > maxTags {
		return nil, svcerr.Validationf("1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to %d", maxTags)
	}
	out := make([]tag, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		if t.Key == nil {
			return nil, svcerr.Missing("tags.member.key")
		}
		k, v := *t.Key, ""
		if t.Value != nil {
			v = *t.Value
		}
		if err := svcerr.CheckLen("tags.member.key", len(k), 1, maxTagKey); err != nil {
			return nil, err
		}
		if err := svcerr.CheckLen("tags.member.value", len(v), 0, maxTagValue); err != nil {
			return nil, err
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, svcerr.New(svcerr.InvalidParameter, "Invalid tag key: the aws: prefix is reserved for AWS use.")
		}
		if seen[k] {
			return nil, svcerr.New(svcerr.InvalidParameter, "Duplicate tag key: %s", k)
		}
		seen[k] = true
		out = append(out, tag{k, v})
	}
	return out, nil
}

func wireTags(tags []tag) []Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]Tag, len(tags))
	for i, t := range tags {
		out[i] = Tag{Key: &t.Key, Value: &t.Value}
	}
	return out
}

func requestTags(pc *policy.Context, tags []tag) {
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

func day(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }

func epochOrNil(t time.Time) *epoch.Time {
	if t.IsZero() {
		return nil
	}
	return epoch.New(t)
}

// CreateSecret creates a secret, with a first version when a value is given.
func (s *Service) CreateSecret(ctx context.Context, c *auth.Caller, in *CreateSecretInput) (*CreateSecretOutput, error) {
	if err := checkName(in.Name); err != nil {
		return nil, err
	}
	if err := checkToken("clientRequestToken", in.ClientRequestToken); err != nil {
		return nil, err
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
		if err := svcerr.CheckLen("description", len(desc), 0, maxDescription); err != nil {
			return nil, err
		}
	}
	if err := svcerr.CheckLen("kmsKeyId", len(in.KmsKeyID), 0, maxKmsKeyID); err != nil {
		return nil, err
	}
	if err := checkValue(in.SecretString, in.SecretBinary, false); err != nil {
		return nil, err
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	if err := s.checkReplicaRegions(c, in.AddReplicaRegions); err != nil {
		return nil, err
	}
	val := plain{in.SecretString, in.SecretBinary}
	token := in.ClientRequestToken
	if token == "" {
		if token, err = newUUID(); err != nil {
			return nil, internalErr(err)
		}
	}
	suffix, err := newSuffix()
	if err != nil {
		return nil, internalErr(err)
	}
	now := s.now().UTC()
	r := &record{
		Account: c.Account, Region: c.Region, Name: in.Name, Suffix: suffix, Description: desc,
		KmsKeyID: in.KmsKeyID, Tags: tags, Created: now, Changed: now,
	}
	if r.UID, err = newUUID(); err != nil {
		return nil, internalErr(err)
	}
	arn := s.secretARN(r)
	if err := s.authorize(ctx, c, ActCreateSecret, nil, arn, func(pc *policy.Context) {
		pc.Add("secretsmanager:Name", in.Name)
		if in.Description != nil {
			pc.Add("secretsmanager:Description", desc)
		}
		if in.KmsKeyID != "" {
			pc.Add("secretsmanager:KmsKeyId", in.KmsKeyID)
		}
		requestTags(pc, tags)
		for _, rr := range in.AddReplicaRegions {
			pc.Add("secretsmanager:AddReplicaRegions", rr.Region)
		}
	}); err != nil {
		return nil, err
	}
	if old, err := s.st.get(ctx, c.Account, c.Region, in.Name); err == nil {
		return s.createRetry(ctx, c, old, token, val)
	} else if err != errNotFound {
		return nil, internalErr(err)
	}
	ch := &change{put: []*record{r}}
	if val.given() {
		keyID, err := s.keyFor(ctx, c.Account, c.Region, in.KmsKeyID)
		if err != nil {
			return nil, err
		}
		v, err := s.seal(ctx, c, c.Region, keyID, arn, token, val.bytes(), val.bin != nil)
		if err != nil {
			return nil, err
		}
		if _, err := addVersion(r, &version{ID: token, Created: now, KeyARN: v.KeyARN}, nil, now); err != nil {
			return nil, err
		}
		ch.value(r, token, v)
	}
	replicas, err := s.replicaChanges(ctx, c, r, in.AddReplicaRegions, in.ForceOverwriteReplicaSecret, val)
	if err != nil {
		return nil, err
	}
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		if _, err := getTx(ctx, tx, c.Account, c.Region, in.Name); err == nil {
			return nil, svcerr.New(svcerr.ResourceExists, "The operation failed because the secret %s already exists.", in.Name)
		} else if err != errNotFound {
			return nil, err
		}
		if err := replicas.check(ctx, tx); err != nil {
			return nil, err
		}
		return replicas.merge(ch), nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	out := &CreateSecretOutput{ARN: arn, Name: r.Name, ReplicationStatus: s.replicationStatus(r)}
	if val.given() {
		out.VersionID = token
	}
	return out, nil
}

// createRetry answers a CreateSecret whose name exists: a retry of the same
// request (same token, same value) succeeds and changes nothing, as AWS's
// idempotency promises; anything else is ResourceExistsException.
func (s *Service) createRetry(ctx context.Context, c *auth.Caller, old *record, token string, val plain) (*CreateSecretOutput, error) {
	if old.deleted() {
		return nil, svcerr.New(svcerr.InvalidRequest, "You can't create this secret because a secret with this name is already scheduled for deletion.")
	}
	exists := svcerr.New(svcerr.ResourceExists, "The operation failed because the secret %s already exists.", old.Name)
	v := old.version(token)
	if v == nil || !val.given() {
		return nil, exists
	}
	same, err := s.versionEquals(ctx, c, old, v, val)
	if err != nil {
		return nil, err
	}
	if !same {
		return nil, exists
	}
	return &CreateSecretOutput{ARN: s.secretARN(old), Name: old.Name, VersionID: token, ReplicationStatus: s.replicationStatus(old)}, nil
}

func (s *Service) versionEquals(ctx context.Context, c *auth.Caller, r *record, v *version, val plain) (bool, error) {
	sv, err := s.st.value(ctx, r, v.ID)
	if err != nil {
		return false, storeErr(err)
	}
	pt, err := s.open(ctx, c, r.Region, s.secretARN(r), v.ID, sv)
	if err != nil {
		return false, err
	}
	defer clear(pt)
	return sameValue(pt, sv.Binary, val), nil
}

// pickVersion finds the version GetSecretValue's VersionId/VersionStage name.
func pickVersion(r *record, versionID, stage string) (*version, error) {
	if versionID != "" {
		v := r.version(versionID)
		if v == nil || (stage != "" && !slices.Contains(v.Stages, stage)) {
			return nil, svcerr.New(svcerr.ResourceNotFound, "Secrets Manager can't find the specified secret value for VersionId: %s", versionID)
		}
		return v, nil
	}
	if stage == "" {
		stage = StageCurrent
	}
	v := r.staged(stage)
	if v == nil {
		return nil, svcerr.New(svcerr.ResourceNotFound, "Secrets Manager can't find the specified secret value for staging label: %s", stage)
	}
	return v, nil
}

// GetSecretValue returns one version's value.
func (s *Service) GetSecretValue(ctx context.Context, c *auth.Caller, in *GetSecretValueInput) (*GetSecretValueOutput, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if err := checkToken("versionId", in.VersionID); err != nil {
		return nil, err
	}
	if err := svcerr.CheckLen("versionStage", len(in.VersionStage), 0, maxStageLen); err != nil {
		return nil, err
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActGetSecretValue, func(pc *policy.Context) {
		if in.VersionID != "" {
			pc.Add("secretsmanager:VersionId", in.VersionID)
		}
		if in.VersionStage != "" {
			pc.Add("secretsmanager:VersionStage", in.VersionStage)
		}
	})
	if err != nil {
		return nil, err
	}
	return s.getValue(ctx, c, r, in.VersionID, in.VersionStage)
}

func (s *Service) getValue(ctx context.Context, c *auth.Caller, r *record, versionID, stage string) (*GetSecretValueOutput, error) {
	if err := notDeleted(r); err != nil {
		return nil, err
	}
	v, err := pickVersion(r, versionID, stage)
	if err != nil {
		return nil, err
	}
	sv, err := s.st.value(ctx, r, v.ID)
	if err != nil {
		return nil, storeErr(err)
	}
	arn := s.secretARN(r)
	pt, err := s.open(ctx, c, r.Region, arn, v.ID, sv)
	if err != nil {
		return nil, err
	}
	s.touch(ctx, r, v.ID)
	out := &GetSecretValueOutput{ARN: arn, Name: r.Name, VersionID: v.ID, VersionStages: slices.Clone(v.Stages), CreatedDate: epoch.New(v.Created)}
	if out.VersionStages == nil {
		out.VersionStages = []string{}
	}
	if sv.Binary {
		out.SecretBinary = pt
	} else {
		str := string(pt)
		clear(pt)
		out.SecretString = &str
	}
	return out, nil
}

// touch records LastAccessedDate (a date, as AWS keeps it) on the secret and
// the version; it writes at most once per secret and version a day, so the
// read path stays read-only. A failure only costs the date.
func (s *Service) touch(ctx context.Context, r *record, versionID string) {
	today := day(s.now())
	v := r.version(versionID)
	if r.Accessed.Equal(today) && v != nil && v.Accessed.Equal(today) {
		return
	}
	err := s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
		if err != nil || cur.UID != r.UID {
			return nil, nil
		}
		cur.Accessed = today
		if cv := cur.version(versionID); cv != nil {
			cv.Accessed = today
		}
		return &change{put: []*record{cur}}, nil
	})
	if err != nil {
		s.log.Warn("could not record a secret's last access date", "secret", s.secretARN(r), "err", err)
	}
}

// PutSecretValue adds a version.
func (s *Service) PutSecretValue(ctx context.Context, c *auth.Caller, in *PutSecretValueInput) (*PutSecretValueOutput, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if err := checkToken("clientRequestToken", in.ClientRequestToken); err != nil {
		return nil, err
	}
	if err := checkValue(in.SecretString, in.SecretBinary, true); err != nil {
		return nil, err
	}
	if err := checkStages(in.VersionStages); err != nil {
		return nil, err
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActPutSecretValue, func(pc *policy.Context) {
		for _, st := range in.VersionStages {
			pc.Add("secretsmanager:VersionStage", st)
		}
	})
	if err != nil {
		return nil, err
	}
	v, err := s.putValue(ctx, c, r, in.ClientRequestToken, plain{in.SecretString, in.SecretBinary}, in.VersionStages, "")
	if err != nil {
		return nil, err
	}
	return &PutSecretValueOutput{ARN: s.secretARN(r), Name: r.Name, VersionID: v.ID, VersionStages: v.Stages}, nil
}

func checkStages(stages []string) error {
	if len(stages) > maxStagesPerVersion {
		return svcerr.Validationf("1 validation error detected: Value at 'versionStages' failed to satisfy constraint: Member must have length less than or equal to %d", maxStagesPerVersion)
	}
	for _, st := range stages {
		if err := checkStage("versionStages.member", st); err != nil {
			return err
		}
	}
	return nil
}

// putValue stores val as version token (a new UUID when empty) of r with
// stages, encrypted under keyID when given, else under r's key. It is
// PutSecretValue's and UpdateSecret's core and the rotation's
// PutSecretValue, and keeps AWS's idempotency: the same token with the same
// value succeeds and changes nothing; with another value it is refused.
func (s *Service) putValue(ctx context.Context, c *auth.Caller, r *record, token string, val plain, stages []string, keyID string) (*version, error) {
	if err := notDeleted(r); err != nil {
		return nil, err
	}
	if err := notReplica(r); err != nil {
		return nil, err
	}
	var err error
	if token == "" {
		if token, err = newUUID(); err != nil {
			return nil, internalErr(err)
		}
	}
	if old := r.version(token); old != nil {
		same, err := s.versionEquals(ctx, c, r, old, val)
		if err != nil {
			return nil, err
		}
		if !same {
			return nil, svcerr.New(svcerr.ResourceExists, "You can't modify an existing version, you can only create a new version.")
		}
		return &version{ID: old.ID, Stages: slices.Clone(old.Stages)}, nil
	}
	if keyID == "" {
		if keyID, err = s.keyFor(ctx, r.Account, r.Region, r.KmsKeyID); err != nil {
			return nil, err
		}
	}
	sv, err := s.seal(ctx, c, r.Region, keyID, s.secretARN(r), token, val.bytes(), val.bin != nil)
	if err != nil {
		return nil, err
	}
	regionVals, err := s.sealForReplicas(ctx, c, r, token, val.bytes(), val.bin != nil)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	var added *version
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := liveTx(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		if cur.version(token) != nil {
			return nil, svcerr.New(svcerr.ResourceExists, "You can't modify an existing version, you can only create a new version.")
		}
		added = &version{ID: token, Created: now, KeyARN: sv.KeyARN}
		pruned, err := addVersion(cur, added, stages, now)
		if err != nil {
			return nil, err
		}
		cur.Changed = now
		ch := &change{put: []*record{cur}}
		ch.value(cur, token, sv)
		for _, id := range pruned {
			ch.delValues = append(ch.delValues, valuePath(cur.Account, cur.Region, cur.UID, id))
		}
		if err := s.syncReplicas(ctx, tx, cur, ch, token, regionVals, pruned); err != nil {
			return nil, err
		}
		return ch, nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &version{ID: added.ID, Stages: slices.Clone(added.Stages)}, nil
}

// UpdateSecret changes a secret's description or KMS key, and adds a version
// (labelled AWSCURRENT) when a value is given.
func (s *Service) UpdateSecret(ctx context.Context, c *auth.Caller, in *UpdateSecretInput) (*SecretOutput, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if err := checkToken("clientRequestToken", in.ClientRequestToken); err != nil {
		return nil, err
	}
	if in.Description != nil {
		if err := svcerr.CheckLen("description", len(*in.Description), 0, maxDescription); err != nil {
			return nil, err
		}
	}
	if err := svcerr.CheckLen("kmsKeyId", len(in.KmsKeyID), 0, maxKmsKeyID); err != nil {
		return nil, err
	}
	if err := checkValue(in.SecretString, in.SecretBinary, false); err != nil {
		return nil, err
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActUpdateSecret, func(pc *policy.Context) {
		if in.Description != nil {
			pc.Add("secretsmanager:Description", *in.Description)
		}
		if in.KmsKeyID != "" {
			pc.Add("secretsmanager:KmsKeyId", in.KmsKeyID)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := notDeleted(r); err != nil {
		return nil, err
	}
	if err := notReplica(r); err != nil {
		return nil, err
	}
	out := &SecretOutput{ARN: s.secretARN(r), Name: r.Name}
	val := plain{in.SecretString, in.SecretBinary}
	keyChanged := in.KmsKeyID != "" && in.KmsKeyID != r.KmsKeyID
	// Re-encrypt the labelled versions under a new key, as AWS does, so
	// the old key can be retired; deprecated versions keep the old key.
	reenc := map[string]*value{}
	if keyChanged {
		for _, v := range r.Versions {
			if !slices.ContainsFunc(v.Stages, func(st string) bool {
				return st == StageCurrent || st == StagePrevious || st == StagePending
			}) {
				continue
			}
			old, err := s.st.value(ctx, r, v.ID)
			if err != nil {
				return nil, storeErr(err)
			}
			pt, err := s.open(ctx, c, r.Region, out.ARN, v.ID, old)
			if err != nil {
				return nil, err
			}
			nv, err := s.seal(ctx, c, r.Region, in.KmsKeyID, out.ARN, v.ID, pt, old.Binary)
			clear(pt)
			if err != nil {
				return nil, err
			}
			reenc[v.ID] = nv
		}
	}
	now := s.now().UTC()
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := liveTx(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		if in.Description != nil {
			cur.Description = *in.Description
		}
		ch := &change{put: []*record{cur}}
		if keyChanged {
			cur.KmsKeyID = in.KmsKeyID
			for id, nv := range reenc {
				if v := cur.version(id); v != nil {
					v.KeyARN = nv.KeyARN
					ch.value(cur, id, nv)
				}
			}
		}
		cur.Changed = now
		if err := s.syncReplicas(ctx, tx, cur, ch, "", nil, nil); err != nil {
			return nil, err
		}
		return ch, nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if val.given() {
		r, err = s.st.get(ctx, r.Account, r.Region, r.Name)
		if err != nil {
			return nil, storeErr(err)
		}
		v, err := s.putValue(ctx, c, r, in.ClientRequestToken, val, nil, "")
		if err != nil {
			return nil, err
		}
		out.VersionID = v.ID
	}
	return out, nil
}

// DescribeSecret returns a secret's metadata, never its value.
func (s *Service) DescribeSecret(ctx context.Context, c *auth.Caller, in *SecretIDInput) (*DescribeSecretOutput, error) {
	r, err := s.secretFor(ctx, c, in.SecretID, ActDescribeSecret, nil)
	if err != nil {
		return nil, err
	}
	e := s.listEntry(r)
	out := &DescribeSecretOutput{
		ARN: e.ARN, Name: e.Name, Description: e.Description, KmsKeyID: e.KmsKeyID,
		RotationEnabled: e.RotationEnabled, RotationLambdaARN: e.RotationLambdaARN, RotationRules: e.RotationRules,
		LastRotatedDate: e.LastRotatedDate, LastChangedDate: e.LastChangedDate, LastAccessedDate: e.LastAccessedDate,
		DeletedDate: e.DeletedDate, NextRotationDate: e.NextRotationDate, Tags: e.Tags,
		VersionIDsToStages: e.SecretVersionsToStages, CreatedDate: e.CreatedDate, PrimaryRegion: e.PrimaryRegion,
		ReplicationStatus: s.replicationStatus(r),
	}
	if rt := r.Rotation; rt.Pending != "" && rt.Attempts > 0 {
		out.ArcaRotationFailure = &RotationFailure{
			Step: rt.FailStep, Message: rt.FailMessage, Date: epochOrNil(rt.FailDate), Attempts: rt.Attempts,
			NextAttemptDate: epochOrNil(rt.RetryAt), VersionID: rt.Pending,
		}
	}
	return out, nil
}

func (s *Service) listEntry(r *record) SecretListEntry {
	e := SecretListEntry{
		ARN: s.secretARN(r), Name: r.Name, Description: r.Description, KmsKeyID: r.KmsKeyID,
		LastChangedDate: epochOrNil(r.Changed), LastAccessedDate: epochOrNil(r.Accessed),
		DeletedDate: epochOrNil(r.Deleted), Tags: wireTags(r.Tags), CreatedDate: epoch.New(r.Created),
		SecretVersionsToStages: stagesMap(r), PrimaryRegion: r.PrimaryRegion,
	}
	if r.PrimaryRegion == "" && len(r.Replicas) > 0 {
		e.PrimaryRegion = r.Region
	}
	rt := r.Rotation
	if rt.LambdaARN != "" || rt.Enabled {
		enabled := rt.Enabled
		e.RotationEnabled = &enabled
		e.RotationLambdaARN = rt.LambdaARN
		e.RotationRules = rt.rules()
		e.LastRotatedDate = epochOrNil(rt.LastRotated)
		if rt.Enabled {
			e.NextRotationDate = epochOrNil(rt.Next)
		}
	}
	return e
}

func (rt rotation) rules() *RotationRules {
	if rt.AfterDays == 0 && rt.Schedule == "" && rt.Duration == "" {
		return nil
	}
	out := &RotationRules{}
	d := rt.AfterDays
	if sch, err := parseRules(rt); err == nil {
		d = sch.AfterDays()
	}
	if d > 0 {
		out.AutomaticallyAfterDays = &d
	}
	if rt.Schedule != "" {
		sch := rt.Schedule
		out.ScheduleExpression = &sch
	}
	if rt.Duration != "" {
		d := rt.Duration
		out.Duration = &d
	}
	return out
}

// ListSecretVersionIDs lists a secret's versions (deprecated ones on request).
func (s *Service) ListSecretVersionIDs(ctx context.Context, c *auth.Caller, in *ListSecretVersionIDsInput) (*ListSecretVersionIDsOutput, error) {
	limit, err := checkMaxResults(in.MaxResults, maxListResults)
	if err != nil {
		return nil, err
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActListSecretVersionIds, nil)
	if err != nil {
		return nil, err
	}
	var all []SecretVersionsListEntry
	for i := len(r.Versions) - 1; i >= 0; i-- {
		v := r.Versions[i]
		if len(v.Stages) == 0 && !in.IncludeDeprecated {
			continue
		}
		all = append(all, SecretVersionsListEntry{
			VersionID: v.ID, VersionStages: slices.Clone(v.Stages), LastAccessedDate: epochOrNil(v.Accessed),
			CreatedDate: epoch.New(v.Created), KmsKeyIDs: []string{v.KeyARN},
		})
	}
	page, next, err := paginate(all, in.NextToken, limit)
	if err != nil {
		return nil, err
	}
	if page == nil {
		page = []SecretVersionsListEntry{}
	}
	return &ListSecretVersionIDsOutput{Versions: page, NextToken: next, ARN: s.secretARN(r), Name: r.Name}, nil
}

func checkMaxResults(m *int32, hi int) (int, error) {
	if m == nil {
		return hi, nil
	}
	if err := svcerr.CheckRange("maxResults", int64(*m), 1, int64(hi)); err != nil {
		return 0, err
	}
	return int(*m), nil
}

// paginate returns the page of all starting at the offset the token names.
// Tokens are opaque to clients; Arca's are offsets, which is enough for the
// snapshot a paginating client sees (a list that changes between pages may
// repeat or skip an entry, as AWS warns its lists may).
func paginate[T any](all []T, token string, limit int) ([]T, string, error) {
	off := 0
	if token != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(token, "arca:"))
		if err != nil || n < 0 || !strings.HasPrefix(token, "arca:") || n > len(all) {
			return nil, "", svcerr.New(svcerr.InvalidNextToken, "The NextToken value is invalid.")
		}
		off = n
	}
	end := min(off+limit, len(all))
	next := ""
	if end < len(all) {
		next = "arca:" + strconv.Itoa(end)
	}
	return all[off:end], next, nil
}

// UpdateSecretVersionStage moves a staging label between versions.
func (s *Service) UpdateSecretVersionStage(ctx context.Context, c *auth.Caller, in *UpdateSecretVersionStageInput) (*SecretOutput, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if err := checkStage("versionStage", in.VersionStage); err != nil {
		return nil, err
	}
	if err := checkToken("removeFromVersionId", in.RemoveFromVersionID); err != nil {
		return nil, err
	}
	if err := checkToken("moveToVersionId", in.MoveToVersionID); err != nil {
		return nil, err
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActUpdateSecretVersionStage, func(pc *policy.Context) {
		pc.Add("secretsmanager:VersionStage", in.VersionStage)
	})
	if err != nil {
		return nil, err
	}
	if err := s.moveStage(ctx, r, in.VersionStage, in.MoveToVersionID, in.RemoveFromVersionID); err != nil {
		return nil, err
	}
	return &SecretOutput{ARN: s.secretARN(r), Name: r.Name}, nil
}

func (s *Service) moveStage(ctx context.Context, r *record, stage, moveTo, removeFrom string) error {
	if err := notDeleted(r); err != nil {
		return err
	}
	if err := notReplica(r); err != nil {
		return err
	}
	now := s.now().UTC()
	err := s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := liveTx(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		if err := moveStage(cur, stage, moveTo, removeFrom); err != nil {
			return nil, err
		}
		cur.Changed = now
		ch := &change{put: []*record{cur}}
		if err := s.syncReplicas(ctx, tx, cur, ch, "", nil, nil); err != nil {
			return nil, err
		}
		return ch, nil
	})
	return storeErr(err)
}

// DeleteSecret schedules a secret's deletion after its recovery window
// (7–30 days, default 30), or deletes it at once with
// ForceDeleteWithoutRecovery.
func (s *Service) DeleteSecret(ctx context.Context, c *auth.Caller, in *DeleteSecretInput) (*DeleteSecretOutput, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	force := in.ForceDeleteWithoutRecovery != nil && *in.ForceDeleteWithoutRecovery
	if in.RecoveryWindowInDays != nil && force {
		return nil, svcerr.New(svcerr.InvalidParameter, "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
	}
	days := int64(defaultRecovery)
	if in.RecoveryWindowInDays != nil {
		days = *in.RecoveryWindowInDays
		if days < minRecoveryDays || days > maxRecoveryDays {
			return nil, svcerr.New(svcerr.InvalidParameter, "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).")
		}
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActDeleteSecret, func(pc *policy.Context) {
		pc.SetBool("secretsmanager:ForceDeleteWithoutRecovery", force)
		if in.RecoveryWindowInDays != nil {
			pc.Add("secretsmanager:RecoveryWindowInDays", strconv.FormatInt(days, 10))
		}
	})
	if err != nil {
		return nil, err
	}
	if err := notReplica(r); err != nil {
		return nil, err
	}
	if len(r.Replicas) > 0 {
		return nil, svcerr.New(svcerr.InvalidRequest, "You can't delete secret %s because it's replicated to other Regions. First remove replication with RemoveRegionsFromReplication.", r.Name)
	}
	now := s.now().UTC()
	var out *DeleteSecretOutput
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
		if err != nil {
			return nil, err
		}
		if cur.UID != r.UID {
			return nil, errNotFound
		}
		if force {
			out = &DeleteSecretOutput{ARN: s.secretARN(cur), Name: cur.Name, DeletionDate: epoch.New(now)}
			return &change{del: []*record{cur}}, nil
		}
		if cur.deleted() {
			return nil, svcerr.New(svcerr.InvalidRequest, "You can't delete secret %s because it's already scheduled for deletion.", cur.Name)
		}
		cur.Deleted = now
		cur.DeleteAt = now.Add(time.Duration(days) * 24 * time.Hour)
		out = &DeleteSecretOutput{ARN: s.secretARN(cur), Name: cur.Name, DeletionDate: epoch.New(cur.DeleteAt)}
		return &change{put: []*record{cur}}, nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	if force {
		s.log.Info("deleted secret without recovery", "secret", out.ARN)
	}
	return out, nil
}

// RestoreSecret cancels a scheduled deletion.
func (s *Service) RestoreSecret(ctx context.Context, c *auth.Caller, in *SecretIDInput) (*SecretOutput, error) {
	r, err := s.secretFor(ctx, c, in.SecretID, ActRestoreSecret, nil)
	if err != nil {
		return nil, err
	}
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
		if err != nil {
			return nil, err
		}
		if cur.UID != r.UID {
			return nil, errNotFound
		}
		cur.Deleted, cur.DeleteAt = time.Time{}, time.Time{}
		return &change{put: []*record{cur}}, nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &SecretOutput{ARN: s.secretARN(r), Name: r.Name}, nil
}

// TagResource adds or replaces tags.
func (s *Service) TagResource(ctx context.Context, c *auth.Caller, in *TagResourceInput) (*Empty, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, svcerr.Missing("tags")
	}
	tags, err := checkTags(in.Tags)
	if err != nil {
		return nil, err
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActTagResource, func(pc *policy.Context) { requestTags(pc, tags) })
	if err != nil {
		return nil, err
	}
	return &Empty{}, s.editTags(ctx, r, func(cur *record) error {
		for _, t := range tags {
			if i := slices.IndexFunc(cur.Tags, func(x tag) bool { return x.Key == t.Key }); i >= 0 {
				cur.Tags[i].Value = t.Value
			} else {
				cur.Tags = append(cur.Tags, t)
			}
		}
		if len(cur.Tags) > maxTags {
			return svcerr.New(svcerr.LimitExceeded, "A secret can have at most %d tags.", maxTags)
		}
		return nil
	})
}

// UntagResource removes tags by key.
func (s *Service) UntagResource(ctx context.Context, c *auth.Caller, in *UntagResourceInput) (*Empty, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if in.TagKeys == nil {
		return nil, svcerr.Missing("tagKeys")
	}
	for _, k := range in.TagKeys {
		if err := svcerr.CheckLen("tagKeys.member", len(k), 1, maxTagKey); err != nil {
			return nil, err
		}
	}
	r, err := s.secretFor(ctx, c, in.SecretID, ActUntagResource, func(pc *policy.Context) {
		if len(in.TagKeys) > 0 {
			pc.SetMulti("aws:TagKeys", in.TagKeys)
		}
	})
	if err != nil {
		return nil, err
	}
	return &Empty{}, s.editTags(ctx, r, func(cur *record) error {
		cur.Tags = slices.DeleteFunc(cur.Tags, func(t tag) bool { return slices.Contains(in.TagKeys, t.Key) })
		return nil
	})
}

func (s *Service) editTags(ctx context.Context, r *record, fn func(cur *record) error) error {
	if err := notDeleted(r); err != nil {
		return err
	}
	err := s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
		if err != nil {
			return nil, err
		}
		if cur.UID != r.UID {
			return nil, errNotFound
		}
		if err := fn(cur); err != nil {
			return nil, err
		}
		ch := &change{put: []*record{cur}}
		if err := s.syncReplicas(ctx, tx, cur, ch, "", nil, nil); err != nil {
			return nil, err
		}
		return ch, nil
	})
	return storeErr(err)
}
