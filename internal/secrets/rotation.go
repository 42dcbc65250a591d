package secrets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/secrets/rotator"
	"github.com/arca-kms/arca/internal/secrets/schedule"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/svcerr"
)

// The rotation steps, in order.
var steps = []string{rotator.CreateSecret, rotator.SetSecret, rotator.TestSecret, rotator.FinishSecret}

// stepTimeout bounds one step when the rotator sets no timeout of its own.
const stepTimeout = 5 * time.Minute

var lambdaARN = regexp.MustCompile(`^arn:[a-z-]+:lambda:[a-z0-9-]+:[0-9]{12}:function:([a-zA-Z0-9_-]{1,64})(:[a-zA-Z0-9$_-]+)?$`)

// rotatorName returns the function NAME of a RotationLambdaARN: the name of
// the Arca rotator it selects.
func rotatorName(arn string) (string, bool) {
	m := lambdaARN.FindStringSubmatch(arn)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// parseRules validates rotation rules with schedule's AWS rules and codes.
func parseRules(rt rotation) (*schedule.Schedule, error) {
	sch, err := schedule.Parse(schedule.Rules{AutomaticallyAfterDays: rt.AfterDays, Duration: rt.Duration, ScheduleExpression: rt.Schedule})
	var se *schedule.Error
	if errors.As(err, &se) {
		return nil, svcerr.New(svcerr.Code(se.Code), "%s", se.Message)
	}
	return sch, err
}

// nextRotation is when a secret's next scheduled rotation window opens
// after t (Arca rotates at the window's opening).
func nextRotation(rt rotation, t time.Time) (time.Time, error) {
	sch, err := parseRules(rt)
	if err != nil {
		return time.Time{}, err
	}
	return sch.Next(t).UTC(), nil
}

// RotateSecret configures rotation and, unless RotateImmediately is false,
// starts a rotation now. The rotation runs in the background, as AWS's
// asynchronous Lambda invocation does; DescribeSecret shows its outcome.
func (s *Service) RotateSecret(ctx context.Context, c *auth.Caller, in *RotateSecretInput) (*SecretOutput, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	if err := checkToken("clientRequestToken", in.ClientRequestToken); err != nil {
		return nil, err
	}
	if err := svcerr.CheckLen("rotationLambdaARN", len(in.RotationLambdaARN), 0, 2048); err != nil {
		return nil, err
	}
	if in.RotationLambdaARN != "" {
		if _, ok := rotatorName(in.RotationLambdaARN); !ok {
			return nil, svcerr.New(svcerr.InvalidParameter, "The RotationLambdaARN must be a Lambda function ARN: arn:aws:lambda:REGION:ACCOUNT:function:NAME.")
		}
	}
	var newRules *rotation
	if rr := in.RotationRules; rr != nil {
		newRules = &rotation{}
		if rr.AutomaticallyAfterDays != nil {
			newRules.AfterDays = *rr.AutomaticallyAfterDays
			if newRules.AfterDays == 0 {
				return nil, svcerr.Validationf("1 validation error detected: Value '0' at 'rotationRules.automaticallyAfterDays' failed to satisfy constraint: Member must have value greater than or equal to 1")
			}
		}
		if rr.ScheduleExpression != nil {
			newRules.Schedule = *rr.ScheduleExpression
		}
		if rr.Duration != nil {
			newRules.Duration = *rr.Duration
		}
		if _, err := parseRules(*newRules); err != nil {
			return nil, err
		}
	}
	immediately := in.RotateImmediately == nil || *in.RotateImmediately
	r, err := s.secretFor(ctx, c, in.SecretID, ActRotateSecret, func(pc *policy.Context) {
		if in.RotationLambdaARN != "" {
			pc.Add("secretsmanager:RotationLambdaARN", in.RotationLambdaARN)
		}
		pc.SetBool("secretsmanager:ModifyRotationRules", newRules != nil)
		pc.SetBool("secretsmanager:RotateImmediately", immediately)
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
	lambda := in.RotationLambdaARN
	if lambda == "" {
		lambda = r.Rotation.LambdaARN
	}
	if lambda == "" {
		return nil, svcerr.New(svcerr.InvalidRequest, "No Lambda rotation function ARN is associated with this secret.")
	}
	name, _ := rotatorName(lambda)
	if _, ok := s.rotators[name]; !ok {
		return nil, svcerr.New(svcerr.InvalidRequest, "No rotator named %s is configured in Arca: RotationLambdaARN's function name selects a rotator from the rotators: configuration.", name)
	}
	if immediately && r.staged(StageCurrent) == nil {
		return nil, svcerr.New(svcerr.InvalidRequest, "The secret has no version labelled AWSCURRENT to rotate.")
	}
	token := in.ClientRequestToken
	if token == "" {
		if token, err = newUUID(); err != nil {
			return nil, internalErr(err)
		}
	}
	now := s.now().UTC()
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := liveTx(ctx, tx, r)
		if err != nil {
			return nil, err
		}
		rt := &cur.Rotation
		if immediately && rt.Pending != "" && rt.Pending != token {
			return nil, svcerr.New(svcerr.InvalidRequest, "A previous rotation isn't complete. That rotation will be reattempted.")
		}
		rt.LambdaARN = lambda
		if newRules != nil {
			rt.AfterDays, rt.Schedule, rt.Duration = newRules.AfterDays, newRules.Schedule, newRules.Duration
		}
		rt.Enabled = rt.AfterDays > 0 || rt.Schedule != ""
		if rt.Enabled {
			if rt.Next, err = nextRotation(*rt, now); err != nil {
				return nil, err
			}
		} else {
			rt.Next = time.Time{}
		}
		if immediately {
			rt.Pending, rt.Attempts, rt.FailStep, rt.FailMessage, rt.FailDate, rt.RetryAt = token, 0, "", "", time.Time{}, time.Time{}
		}
		return &change{put: []*record{cur}}, nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	out := &SecretOutput{ARN: s.secretARN(r), Name: r.Name}
	if immediately {
		out.VersionID = token
		s.background.Add(1)
		go func() {
			defer s.background.Done()
			s.runRotation(s.bgCtx, r.Account, r.Region, r.Name, r.UID)
		}()
	}
	return out, nil
}

// CancelRotateSecret turns off automatic rotation. A rotation in progress
// keeps its AWSPENDING version (as in AWS, remove it with
// UpdateSecretVersionStage if it is not wanted); no retry follows.
func (s *Service) CancelRotateSecret(ctx context.Context, c *auth.Caller, in *SecretIDInput) (*SecretOutput, error) {
	r, err := s.secretFor(ctx, c, in.SecretID, ActCancelRotateSecret, nil)
	if err != nil {
		return nil, err
	}
	if err := notDeleted(r); err != nil {
		return nil, err
	}
	if err := notReplica(r); err != nil {
		return nil, err
	}
	var pending string
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
		if err != nil {
			return nil, err
		}
		if cur.UID != r.UID {
			return nil, errNotFound
		}
		rt := &cur.Rotation
		if pv := cur.staged(StagePending); pv != nil {
			pending = pv.ID
		}
		rt.Enabled, rt.Next = false, time.Time{}
		rt.AfterDays, rt.Schedule, rt.Duration = 0, "", ""
		rt.Pending, rt.Attempts, rt.FailStep, rt.FailMessage, rt.FailDate, rt.RetryAt = "", 0, "", "", time.Time{}, time.Time{}
		return &change{put: []*record{cur}}, nil
	})
	if err != nil {
		return nil, storeErr(err)
	}
	return &SecretOutput{ARN: s.secretARN(r), Name: r.Name, VersionID: pending}, nil
}

// runRotation performs the pending rotation of one secret: the four steps
// with the pending version ID as ClientRequestToken. Only one rotation of a
// secret runs at a time in this process. On failure AWSCURRENT is
// untouched, AWSPENDING stays for the retry, and the failure is recorded
// with the time of the next attempt (exponential backoff).
func (s *Service) runRotation(ctx context.Context, account, region, name, uid string) (ran, ok bool) {
	key := secretPath(account, region, name)
	if _, busy := s.rotating.LoadOrStore(key, struct{}{}); busy {
		return false, false
	}
	defer s.rotating.Delete(key)
	r, err := s.st.get(ctx, account, region, name)
	if err != nil || r.UID != uid || r.Rotation.Pending == "" || r.deleted() {
		return false, false
	}
	token := r.Rotation.Pending
	arn := s.secretARN(r)
	rname, _ := rotatorName(r.Rotation.LambdaARN)
	rot := s.rotators[rname]
	eng := &engine{s: s, account: account, region: region}
	step := ""
	if rot == nil {
		err = fmt.Errorf("no rotator named %q is configured", rname)
	} else {
		for _, step = range steps {
			sctx, cancel := context.WithTimeout(ctx, stepTimeout)
			err = rot.Rotate(sctx, eng, rotator.Request{SecretID: arn, ClientRequestToken: token, Step: step})
			cancel()
			if err != nil {
				break
			}
		}
	}
	if err == nil {
		// finishSecret must have made the pending version current.
		if cur, gerr := s.st.get(ctx, account, region, name); gerr == nil {
			if v := cur.staged(StageCurrent); v == nil || v.ID != token {
				err = errors.New("finishSecret returned without moving AWSCURRENT to the new version")
			}
		}
	}
	now := s.now().UTC()
	if err != nil {
		msg := eng.redact(err.Error())
		attempts := 0
		var retry time.Time
		uerr := s.st.update(ctx, func(tx storage.Tx) (*change, error) {
			cur, err := getTx(ctx, tx, account, region, name)
			if err != nil || cur.UID != uid || cur.Rotation.Pending != token {
				return nil, nil
			}
			rt := &cur.Rotation
			rt.Attempts++
			attempts = rt.Attempts
			rt.FailStep, rt.FailMessage, rt.FailDate = step, msg, now
			rt.RetryAt = now.Add(s.backoff(rt.Attempts))
			retry = rt.RetryAt
			return &change{put: []*record{cur}}, nil
		})
		if uerr != nil {
			s.log.Error("could not record a failed secret rotation", "secret", arn, "err", uerr)
		}
		s.log.Warn("secret rotation failed; AWSCURRENT is unchanged and the rotation will be retried",
			"secret", arn, "version", token, "step", step, "attempt", attempts, "next_attempt", retry, "err", msg)
		return true, false
	}
	uerr := s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := getTx(ctx, tx, account, region, name)
		if err != nil || cur.UID != uid {
			return nil, nil
		}
		rt := &cur.Rotation
		rt.LastRotated = now
		rt.Pending, rt.Attempts, rt.FailStep, rt.FailMessage, rt.FailDate, rt.RetryAt = "", 0, "", "", time.Time{}, time.Time{}
		if rt.Enabled {
			if next, err := nextRotation(*rt, now); err == nil {
				rt.Next = next
			}
		}
		return &change{put: []*record{cur}}, nil
	})
	if uerr != nil {
		s.log.Error("could not record a finished secret rotation", "secret", arn, "err", uerr)
	}
	s.log.Info("rotated secret", "secret", arn, "version", token)
	return true, true
}

// backoff is the wait before retry attempt n+1: RetryBase doubling per
// attempt, at most RetryMax.
func (s *Service) backoff(attempts int) time.Duration {
	d := s.retryBase
	for i := 1; i < attempts && d < s.retryMax; i++ {
		d *= 2
	}
	return min(d, s.retryMax)
}

// SweepReport counts what one sweep did.
type SweepReport struct {
	Deleted, Rotated, Failed int
}

// Sweep destroys secrets past their recovery window and runs every rotation
// due at the service's clock: scheduled ones and retries of failed ones.
// Each condition is re-checked when acted on, so sweeps are idempotent and
// catch up after downtime. The scheduler calls it under its lease.
func (s *Service) Sweep(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	now := s.now().UTC()
	recs, err := s.st.all(ctx)
	if err != nil {
		return rep, err
	}
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if r.deleted() {
			if r.DeleteAt.After(now) {
				continue
			}
			err := s.st.update(ctx, func(tx storage.Tx) (*change, error) {
				cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
				if err != nil || cur.UID != r.UID || !cur.deleted() || cur.DeleteAt.After(now) {
					return nil, nil
				}
				return &change{del: []*record{cur}}, nil
			})
			if err != nil {
				return rep, err
			}
			rep.Deleted++
			s.log.Info("deleted secret after its recovery window", "secret", s.secretARN(r), "deletion_date", r.DeleteAt)
			continue
		}
		if r.PrimaryRegion != "" {
			continue
		}
		rt := r.Rotation
		retry := rt.Pending != "" && !rt.RetryAt.After(now)
		scheduled := rt.Pending == "" && rt.Enabled && !rt.Next.IsZero() && !rt.Next.After(now)
		if !retry && !scheduled {
			continue
		}
		if scheduled && !s.startScheduled(ctx, r, now) {
			continue
		}
		switch ran, ok := s.runRotation(ctx, r.Account, r.Region, r.Name, r.UID); {
		case ok:
			rep.Rotated++
		case ran:
			rep.Failed++
		}
	}
	return rep, nil
}

// startScheduled records a new pending rotation for a scheduled one.
func (s *Service) startScheduled(ctx context.Context, r *record, now time.Time) bool {
	token, err := newUUID()
	if err != nil {
		return false
	}
	started := false
	err = s.st.update(ctx, func(tx storage.Tx) (*change, error) {
		cur, err := getTx(ctx, tx, r.Account, r.Region, r.Name)
		if err != nil || cur.UID != r.UID || cur.deleted() {
			return nil, nil
		}
		rt := &cur.Rotation
		if rt.Pending != "" || !rt.Enabled || rt.Next.After(now) || cur.staged(StageCurrent) == nil {
			return nil, nil
		}
		rt.Pending = token
		started = true
		return &change{put: []*record{cur}}, nil
	})
	return err == nil && started
}

// engine is rotator.Secrets for one rotation: the Secrets Manager API acting
// for the rotation (the account's root, via Secrets Manager, as AWS's
// rotation function acts with its own role). It remembers the values it
// hands out so that a rotator's error text can be scrubbed of them before
// it is logged or recorded.
type engine struct {
	s               *Service
	account, region string
	seen            [][]byte
}

var _ rotator.Secrets = (*engine)(nil)

func (e *engine) caller() *auth.Caller {
	return &auth.Caller{
		Principal: auth.Principal{Type: auth.Root, Account: e.account, UserID: e.account,
			ARN: "arn:" + e.s.partition + ":iam::" + e.account + ":root"},
		Region: e.region,
	}
}

func (e *engine) secret(ctx context.Context, id string) (*record, error) {
	r, err := e.s.lookup(ctx, e.caller(), id)
	if svcerr.CodeOf(err) == svcerr.ResourceNotFound {
		return nil, fmt.Errorf("%w: secret %s", rotator.ErrNotFound, id)
	}
	return r, err
}

// remember keeps a value (and, for a JSON object, its string members) for
// redact.
func (e *engine) remember(v []byte) {
	if len(v) >= 4 {
		e.seen = append(e.seen, slices.Clone(v))
	}
	var m map[string]any
	if json.Unmarshal(v, &m) == nil {
		for _, x := range m {
			if str, ok := x.(string); ok && len(str) >= 4 {
				e.seen = append(e.seen, []byte(str))
			}
		}
	}
}

// redact removes every value this rotation saw from msg, and bounds it.
func (e *engine) redact(msg string) string {
	b := []byte(msg)
	for _, v := range e.seen {
		b = bytes.ReplaceAll(b, v, []byte("[REDACTED]"))
	}
	const maxMsg = 1024
	if len(b) > maxMsg {
		b = append(b[:maxMsg], "..."...)
	}
	return strings.ToValidUTF8(string(b), "?")
}

func (e *engine) GetSecretValue(ctx context.Context, secretID, versionID, versionStage string) (*rotator.Value, error) {
	r, err := e.secret(ctx, secretID)
	if err != nil {
		return nil, err
	}
	out, err := e.s.getValue(ctx, e.caller(), r, versionID, versionStage)
	if svcerr.CodeOf(err) == svcerr.ResourceNotFound {
		return nil, fmt.Errorf("%w: %s", rotator.ErrNotFound, svcerr.As(err).Msg)
	}
	if err != nil {
		return nil, err
	}
	v := &rotator.Value{ARN: out.ARN, Name: out.Name, VersionID: out.VersionID, SecretBinary: out.SecretBinary, VersionStages: out.VersionStages}
	if out.SecretString != nil {
		v.SecretString = *out.SecretString
		e.remember([]byte(v.SecretString))
	}
	return v, nil
}

func (e *engine) PutSecretValue(ctx context.Context, secretID, token, secretString string, stages []string) error {
	r, err := e.secret(ctx, secretID)
	if err != nil {
		return err
	}
	e.remember([]byte(secretString))
	str := secretString
	_, err = e.s.putValue(ctx, e.caller(), r, token, plain{str: &str}, stages, "")
	return err
}

func (e *engine) UpdateSecretVersionStage(ctx context.Context, secretID, stage, moveTo, removeFrom string) error {
	r, err := e.secret(ctx, secretID)
	if err != nil {
		return err
	}
	return e.s.moveStage(ctx, r, stage, moveTo, removeFrom)
}

func (e *engine) DescribeSecret(ctx context.Context, secretID string) (*rotator.Description, error) {
	r, err := e.secret(ctx, secretID)
	if err != nil {
		return nil, err
	}
	return &rotator.Description{ARN: e.s.secretARN(r), Name: r.Name, VersionIDsToStages: stagesMap(r)}, nil
}

func (e *engine) GetRandomPassword(_ context.Context, length int, exclude string) (string, error) {
	if length <= 0 {
		length = defPassword
	}
	pw, err := randomPassword(passwordSpec{length: length, exclude: exclude, requireEach: true})
	if err == nil {
		e.remember([]byte(pw))
	}
	return pw, err
}
