package secrets

import (
	"context"
	"errors"
	"strconv"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/storage"
	"github.com/arca-kms/arca/internal/svcerr"
)

// parseResourcePolicy parses a secret's resource policy with IAM's grammar
// and AWS's size limit.
func parseResourcePolicy(doc string) (*policy.Policy, error) {
	if doc == "" {
		return nil, svcerr.Missing("resourcePolicy")
	}
	if err := svcerr.CheckLen("resourcePolicy", len(doc), 1, maxPolicyLen); err != nil {
		return nil, err
	}
	p, err := policy.ParseWith([]byte(doc), policy.Options{Kind: policy.KindResource, MaxSize: maxPolicyLen})
	if err != nil {
		var me *policy.MalformedError
		if errors.As(err, &me) {
			return nil, svcerr.Wrap(svcerr.MalformedPolicyDocument, err, "%s", me.Reason)
		}
		return nil, svcerr.Wrap(svcerr.MalformedPolicyDocument, err, "%s", policy.ReasonSyntax)
	}
	return p, nil
}

// isPublic reports whether a policy grants to everyone ("*") without a
// condition that narrows who: what BlockPublicPolicy refuses.
func isPublic(p *policy.Policy, account string) bool {
	for _, f := range policy.Lint(p, policy.KindResource, policy.WithAccount(account)) {
		if f.ID == policy.LintPublicPrincipal {
			return true
		}
	}
	return false
}

// PutResourcePolicy attaches a resource policy to a secret.
func (s *Service) PutResourcePolicy(ctx context.Context, c *auth.Caller, in *PutResourcePolicyInput) (*SecretOutput, error) {
	if err := checkSecretID(in.SecretID); err != nil {
		return nil, err
	}
	p, err := parseResourcePolicy(in.ResourcePolicy)
	if err != nil {
		return nil, err
	}
	block := in.BlockPublicPolicy != nil && *in.BlockPublicPolicy
	r, err := s.secretFor(ctx, c, in.SecretID, ActPutResourcePolicy, func(pc *policy.Context) {
		pc.Add("secretsmanager:BlockPublicPolicy", strconv.FormatBool(block))
	})
	if err != nil {
		return nil, err
	}
	if err := notReplica(r); err != nil {
		return nil, err
	}
	if block && isPublic(p, r.Account) {
		return nil, svcerr.New(svcerr.PublicPolicy, "The BlockPublicPolicy parameter is set to true, and the resource policy did not prevent broad access to the secret.")
	}
	if err := s.setPolicy(ctx, r, in.ResourcePolicy); err != nil {
		return nil, err
	}
	return &SecretOutput{ARN: s.secretARN(r), Name: r.Name}, nil
}

func (s *Service) setPolicy(ctx context.Context, r *record, doc string) error {
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
		cur.Policy = doc
		ch := &change{put: []*record{cur}}
		if err := s.syncReplicas(ctx, tx, cur, ch, "", nil, nil); err != nil {
			return nil, err
		}
		return ch, nil
	})
	return storeErr(err)
}

// GetResourcePolicy returns a secret's resource policy, if any.
func (s *Service) GetResourcePolicy(ctx context.Context, c *auth.Caller, in *SecretIDInput) (*GetResourcePolicyOutput, error) {
	r, err := s.secretFor(ctx, c, in.SecretID, ActGetResourcePolicy, nil)
	if err != nil {
		return nil, err
	}
	return &GetResourcePolicyOutput{ARN: s.secretARN(r), Name: r.Name, ResourcePolicy: r.Policy}, nil
}

// DeleteResourcePolicy removes a secret's resource policy.
func (s *Service) DeleteResourcePolicy(ctx context.Context, c *auth.Caller, in *SecretIDInput) (*SecretOutput, error) {
	r, err := s.secretFor(ctx, c, in.SecretID, ActDeleteResourcePolicy, nil)
	if err != nil {
		return nil, err
	}
	if err := notReplica(r); err != nil {
		return nil, err
	}
	if err := s.setPolicy(ctx, r, ""); err != nil {
		return nil, err
	}
	return &SecretOutput{ARN: s.secretARN(r), Name: r.Name}, nil
}

// ValidateResourcePolicy checks a policy document: its grammar, and whether
// it grants broad (public) access, without attaching it.
func (s *Service) ValidateResourcePolicy(ctx context.Context, c *auth.Caller, in *ValidateResourcePolicyInput) (*ValidateResourcePolicyOutput, error) {
	if in.ResourcePolicy == "" {
		return nil, svcerr.Missing("resourcePolicy")
	}
	account := c.Account
	resource := "*"
	var r *record
	if in.SecretID != "" {
		var err error
		if r, err = s.lookup(ctx, c, in.SecretID); err != nil {
			return nil, err
		}
		account, resource = r.Account, s.secretARN(r)
	}
	if err := s.authorize(ctx, c, ActValidateResourcePolicy, r, resource, nil); err != nil {
		return nil, err
	}
	out := &ValidateResourcePolicyOutput{ValidationErrors: []ValidationErrorsEntry{}}
	p, err := parseResourcePolicy(in.ResourcePolicy)
	if err != nil {
		e := svcerr.As(err)
		if e == nil || e.Code != svcerr.MalformedPolicyDocument {
			return nil, err
		}
		out.ValidationErrors = append(out.ValidationErrors, ValidationErrorsEntry{CheckName: "POLICY_SYNTAX", ErrorMessage: e.Msg})
		return out, nil
	}
	if isPublic(p, account) {
		out.ValidationErrors = append(out.ValidationErrors, ValidationErrorsEntry{CheckName: "BROAD_ACCESS",
			ErrorMessage: "The resource policy grants access to every principal (\"*\") without a condition that narrows who."})
	}
	out.PolicyValidationPassed = len(out.ValidationErrors) == 0
	return out, nil
}
