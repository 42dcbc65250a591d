package rotator_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/arca-kms/arca/internal/secrets/rotator"
)

// fakeSecrets is an in-memory Secrets Manager with AWS's staging-label rules,
// enough to run rotations: one label on one version at a time, AWSPREVIOUS
// following AWSCURRENT, and a rotation's version staged AWSPENDING without a
// value until createSecret stores one.
type fakeSecrets struct {
	mu      sync.Mutex
	secrets map[string]*fakeSecret
	// password, when set, replaces the random password generator.
	password func() string
}

type fakeSecret struct {
	values map[string]*string // version → value (nil: staged, no value yet)
	stages map[string]string  // label → version
}

func newFakeSecrets() *fakeSecrets { return &fakeSecrets{secrets: map[string]*fakeSecret{}} }

// create adds a secret whose first version is AWSCURRENT.
func (f *fakeSecrets) create(id, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v := value
	f.secrets[id] = &fakeSecret{values: map[string]*string{"v0": &v}, stages: map[string]string{"AWSCURRENT": "v0"}}
}

// startRotation stages token as AWSPENDING with no value, as RotateSecret does.
func (f *fakeSecrets) startRotation(id, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.secrets[id]
	if _, ok := s.values[token]; !ok {
		s.values[token] = nil
	}
	s.stages["AWSPENDING"] = token
}

// current returns AWSCURRENT's version and value.
func (f *fakeSecrets) current(id string) (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.secrets[id]
	v := s.stages["AWSCURRENT"]
	return v, *s.values[v]
}

// stage returns the version holding label.
func (f *fakeSecrets) stage(id, label string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.secrets[id].stages[label]
}

func (f *fakeSecrets) value(id, version string) *string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.secrets[id].values[version]
}

func (f *fakeSecrets) get(id string) (*fakeSecret, error) {
	s, ok := f.secrets[id]
	if !ok {
		return nil, fmt.Errorf("secret %s: %w", id, rotator.ErrNotFound)
	}
	return s, nil
}

func (s *fakeSecret) labels(version string) []string {
	var out []string
	for l, v := range s.stages {
		if v == version {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func (f *fakeSecrets) GetSecretValue(_ context.Context, id, versionID, stage string) (*rotator.Value, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.get(id)
	if err != nil {
		return nil, err
	}
	if versionID == "" {
		if stage == "" {
			stage = "AWSCURRENT"
		}
		v, ok := s.stages[stage]
		if !ok {
			return nil, fmt.Errorf("secret %s has no version with label %s: %w", id, stage, rotator.ErrNotFound)
		}
		versionID = v
	} else if stage != "" && s.stages[stage] != versionID {
		return nil, fmt.Errorf("version %s of %s does not have label %s: %w", versionID, id, stage, rotator.ErrNotFound)
	}
	val, ok := s.values[versionID]
	if !ok || val == nil {
		return nil, fmt.Errorf("secret %s has no value for version %s: %w", id, versionID, rotator.ErrNotFound)
	}
	return &rotator.Value{ARN: id, Name: id, VersionID: versionID, SecretString: *val, VersionStages: s.labels(versionID)}, nil
}

func (f *fakeSecrets) PutSecretValue(_ context.Context, id, token, value string, stages []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.get(id)
	if err != nil {
		return err
	}
	if old, ok := s.values[token]; ok && old != nil {
		if *old != value {
			return fmt.Errorf("version %s of %s already exists with another value", token, id)
		}
	}
	v := value
	s.values[token] = &v
	for _, l := range stages {
		f.move(s, l, token)
	}
	return nil
}

// move puts label on version; moving AWSCURRENT moves AWSPREVIOUS too.
func (f *fakeSecrets) move(s *fakeSecret, label, version string) {
	if label == "AWSCURRENT" {
		if old, ok := s.stages["AWSCURRENT"]; ok && old != version {
			s.stages["AWSPREVIOUS"] = old
		}
	}
	s.stages[label] = version
}

func (f *fakeSecrets) UpdateSecretVersionStage(_ context.Context, id, label, moveTo, removeFrom string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.get(id)
	if err != nil {
		return err
	}
	if cur, ok := s.stages[label]; ok && cur != moveTo && cur != removeFrom {
		return fmt.Errorf("label %s is on version %s, not on RemoveFromVersionId %s", label, cur, removeFrom)
	}
	if v, ok := s.values[moveTo]; !ok || v == nil {
		return fmt.Errorf("version %s of %s: %w", moveTo, id, rotator.ErrNotFound)
	}
	f.move(s, label, moveTo)
	return nil
}

func (f *fakeSecrets) DescribeSecret(_ context.Context, id string) (*rotator.Description, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, err := f.get(id)
	if err != nil {
		return nil, err
	}
	d := &rotator.Description{ARN: id, Name: id, VersionIDsToStages: map[string][]string{}}
	for v := range maps.Keys(s.values) {
		if l := s.labels(v); len(l) > 0 {
			d.VersionIDsToStages[v] = l
		}
	}
	return d, nil
}

func (f *fakeSecrets) GetRandomPassword(_ context.Context, length int, exclude string) (string, error) {
	if f.password != nil {
		return f.password(), nil
	}
	const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&()*+,-.:;<=>?[]^_`{|}~"
	out := make([]byte, 0, length)
	b := make([]byte, 1)
	for len(out) < length {
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		c := chars[int(b[0])%len(chars)]
		if !containsByte(exclude, c) {
			out = append(out, c)
		}
	}
	return string(out), nil
}

func containsByte(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return true
		}
	}
	return false
}

// rotate runs the four steps for token, as the engine does, stopping at the
// first failure.
func rotate(ctx context.Context, r rotator.Rotator, f *fakeSecrets, id, token string) error {
	f.startRotation(id, token)
	for _, step := range []string{rotator.CreateSecret, rotator.SetSecret, rotator.TestSecret, rotator.FinishSecret} {
		if err := r.Rotate(ctx, f, rotator.Request{SecretID: id, ClientRequestToken: token, Step: step}); err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
	}
	return nil
}
