// Package rotator is the contract between the Secrets Manager rotation engine
// and the code that changes a credential in the system that uses it.
//
// A rotation runs AWS's four steps (createSecret, setSecret, testSecret,
// finishSecret) exactly as an AWS Lambda rotation function sees them: each
// step is one Rotate call with a Request, and the rotator reads and writes the
// secret only through the Secrets interface, acting as the rotation. The
// engine implements Secrets; the built-in rotators (postgres, mysql, webhook)
// implement Rotator.
package rotator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// The four rotation steps, spelled as AWS sends them in the Lambda event's
// "Step" field.
const (
	CreateSecret = "createSecret"
	SetSecret    = "setSecret"
	TestSecret   = "testSecret"
	FinishSecret = "finishSecret"
)

// Request is what an AWS Lambda rotation function receives for one step:
// the secret's ARN, the version ID of the new (AWSPENDING) version, and the
// step to perform.
type Request struct {
	SecretID           string
	ClientRequestToken string
	Step               string
}

// ErrNotFound is returned, wrapped, by Secrets methods when the secret, the
// version or the staging label asked for does not exist. Rotators test for
// it with errors.Is (createSecret's "is AWSPENDING already there?" check).
var ErrNotFound = errors.New("rotator: not found")

// Value is one secret version as GetSecretValue returns it.
type Value struct {
	ARN           string
	Name          string
	VersionID     string
	SecretString  string
	SecretBinary  []byte
	VersionStages []string
}

// Description is the part of DescribeSecret a rotator needs: which version
// carries which staging labels.
type Description struct {
	ARN                string
	Name               string
	VersionIDsToStages map[string][]string
}

// Secrets is the Secrets Manager API as a rotation function uses it. The
// secrets engine implements it acting for the rotation (so a rotator needs no
// credentials of its own); the semantics, including staging-label moves, are
// those of the AWS operations of the same names. Empty strings mean "not
// given".
//
// As in AWS, the engine stages the rotation's ClientRequestToken as
// AWSPENDING before the createSecret step (DescribeSecret lists it, while
// GetSecretValue of that version returns ErrNotFound until createSecret has
// stored a value); the built-in rotators also accept a createSecret whose
// version does not exist yet. The alternating-users strategies read a second
// secret, the master secret named by the secret's "masterarn" field, through
// the same interface.
type Secrets interface {
	// GetSecretValue returns the version named by versionID, or else the one
	// carrying versionStage (AWSCURRENT when both are empty). A missing
	// secret, version or stage returns an error wrapping ErrNotFound.
	GetSecretValue(ctx context.Context, secretID, versionID, versionStage string) (*Value, error)
	// PutSecretValue stores secretString as version clientRequestToken with
	// the given staging labels. Repeating it with the same token and value
	// succeeds and changes nothing.
	PutSecretValue(ctx context.Context, secretID, clientRequestToken, secretString string, versionStages []string) error
	// UpdateSecretVersionStage moves versionStage to moveToVersionID, taking
	// it from removeFromVersionID (which must carry it, if given). Moving
	// AWSCURRENT also moves AWSPREVIOUS to the version that lost AWSCURRENT,
	// as AWS does.
	UpdateSecretVersionStage(ctx context.Context, secretID, versionStage, moveToVersionID, removeFromVersionID string) error
	// DescribeSecret returns the secret's ARN, name and staging labels.
	DescribeSecret(ctx context.Context, secretID string) (*Description, error)
	// GetRandomPassword returns a password of the given length (AWS's
	// default character set), leaving out excludeCharacters.
	GetRandomPassword(ctx context.Context, length int, excludeCharacters string) (string, error)
}

// Rotator performs one rotation step. Every step must be safe to repeat: the
// engine retries a failed rotation from createSecret with the same token.
type Rotator interface {
	Rotate(ctx context.Context, s Secrets, req Request) error
}

// Config configures one named rotator; RotationLambdaARN
// arn:aws:lambda:REGION:ACCOUNT:function:NAME selects the rotator NAME.
type Config struct {
	// Name is the rotator's name, the function name in RotationLambdaARN.
	Name string
	// Type is postgres, mysql or webhook.
	Type string
	// Strategy is single-user or alternating-users (postgres and mysql).
	Strategy string
	// URL is the webhook's endpoint (https, or http to a loopback address).
	URL string
	// HMACSecret signs webhook requests.
	HMACSecret string
	// Timeout bounds one step (its database logins and statements, or the
	// webhook call); zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives one record per step (never a secret value); nil means
	// slog.Default().
	Logger *slog.Logger
}

// Rotator types and strategies accepted in Config.
const (
	TypePostgres     = "postgres"
	TypeMySQL        = "mysql"
	TypeWebhook      = "webhook"
	SingleUser       = "single-user"
	AlternatingUsers = "alternating-users"
)

// DefaultTimeout bounds one step when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// New returns the rotator cfg describes, or an error naming what is wrong
// with cfg (never quoting the HMAC secret).
func New(cfg Config) (Rotator, error) {
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if timeout < 0 {
		return nil, fmt.Errorf("rotator %q: timeout must be positive", cfg.Name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Name == "" {
		return nil, errors.New("rotator: a rotator needs a name (the function name in RotationLambdaARN)")
	}
	var engine dbEngine
	switch cfg.Type {
	case TypePostgres:
		engine = postgres{}
	case TypeMySQL:
		engine = mysqlEngine{}
	case TypeWebhook:
		if cfg.Strategy != "" {
			return nil, fmt.Errorf("rotator %q: a webhook takes no strategy", cfg.Name)
		}
		return newWebhook(cfg, timeout)
	default:
		return nil, fmt.Errorf("rotator %q: unknown type %q (want postgres, mysql or webhook)", cfg.Name, cfg.Type)
	}
	if cfg.URL != "" || cfg.HMACSecret != "" {
		return nil, fmt.Errorf("rotator %q: url and hmac secret are for webhook rotators", cfg.Name)
	}
	r := &dbRotator{name: cfg.Name, engine: engine, timeout: timeout, log: cfg.Logger}
	switch cfg.Strategy {
	case SingleUser, "":
	case AlternatingUsers:
		r.alternating = true
	default:
		return nil, fmt.Errorf("rotator %q: unknown strategy %q (want single-user or alternating-users)", cfg.Name, cfg.Strategy)
	}
	return r, nil
}
