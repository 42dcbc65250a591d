package config

import (
	"fmt"
	"regexp"
	"time"
)

// Rotator is one `rotators:` entry: a secret rotator that a secret's
// RotationLambdaARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME) selects
// by NAME. It mirrors internal/secrets/rotator.Config; the server copies it
// over, reading the HMAC secret from the environment variable named here so
// that no secret sits in the YAML file.
type Rotator struct {
	// Name is the function name in RotationLambdaARN.
	Name string `yaml:"name"`
	// Type is postgres, mysql or webhook.
	Type string `yaml:"type"`
	// Strategy is single-user or alternating-users (postgres, mysql).
	Strategy string `yaml:"strategy"`
	// URL is a webhook rotator's endpoint.
	URL string `yaml:"url"`
	// HMACSecretEnv names the environment variable holding the webhook's
	// HMAC signing secret.
	HMACSecretEnv string `yaml:"hmac_secret_env"`
	// Timeout bounds one rotation step (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

var rotatorName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func validateRotators(rs []Rotator) []error {
	var errs []error
	seen := map[string]bool{}
	for i, r := range rs {
		name := fmt.Sprintf("rotators[%d] (%q)", i, r.Name)
		if !rotatorName.MatchString(r.Name) {
			errs = append(errs, fmt.Errorf("%s: name must be 1-64 letters, digits, - or _ (a Lambda function name)", name))
		}
		if seen[r.Name] {
			errs = append(errs, fmt.Errorf("%s: name is listed twice", name))
		}
		seen[r.Name] = true
		switch r.Type {
		case "postgres", "mysql":
			if r.Strategy != "single-user" && r.Strategy != "alternating-users" {
				errs = append(errs, fmt.Errorf("%s: strategy must be single-user or alternating-users", name))
			}
		case "webhook":
			if r.URL == "" {
				errs = append(errs, fmt.Errorf("%s: a webhook rotator needs a url", name))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: type must be postgres, mysql or webhook", name))
		}
		if r.Timeout < 0 {
			errs = append(errs, fmt.Errorf("%s: timeout must not be negative", name))
		}
	}
	return errs
}
