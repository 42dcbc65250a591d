package iamsvc

import (
	"context"
	"crypto/rand"
	"math/big"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/policy"
	"github.com/arca-kms/arca/internal/svcerr"
)

// Arca's account administration is not part of AWS's API. It is served as
// extra actions of the iam service (ArcaCreateAccount, …) and allowed only
// to the deployment operator: the root user of the deployment's default
// account. No policy can grant it to anyone else.

func (s *Service) operatorOnly(c *auth.Caller, action string) error {
	if c.Type == auth.Root && c.Account == s.operator && !c.Temporary {
		return nil
	}
	d := policy.Decision{Policy: policy.IdentityPolicy}
	return svcerr.New(svcerr.AccessDenied, "%s", d.Message(c.ARN, action, "*"))
}

func (s *Service) accountOut(a *iam.Account) Account {
	return Account{AccountID: a.ID, Arn: "arn:" + s.partition + ":iam::" + a.ID + ":root", CreateDate: a.Created}
}

func checkAccountID(v string) error {
	if v == "" {
		return svcerr.Missing("accountId")
	}
	return checkString("accountId", v, 12, 12, reAccountID, patAccountID)
}

// newAccountID returns 12 random decimal digits, not starting with 0.
func newAccountID() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(900_000_000_000))
	if err != nil {
		return "", err
	}
	return n.Add(n, big.NewInt(100_000_000_000)).String(), nil
}

// ArcaCreateAccount creates an account (AccountId, or a random one) with a
// root access key, whose secret only this response shows.
func (s *Service) ArcaCreateAccount(ctx context.Context, c *auth.Caller, in *ArcaCreateAccountInput) (*ArcaAccountKeyOutput, error) {
	if in.AccountID != "" {
		if err := checkAccountID(in.AccountID); err != nil {
			return nil, err
		}
	}
	if err := s.operatorOnly(c, ActCreateAccount); err != nil {
		return nil, err
	}
	id := in.AccountID
	if id == "" {
		var err error
		if id, err = newAccountID(); err != nil {
			return nil, s.internal(err)
		}
	}
	a, ak, err := s.ids.CreateAccount(ctx, id, s.nowSec())
	if err != nil {
		return nil, s.storeErr(err, ref{account: id})
	}
	return &ArcaAccountKeyOutput{Account: s.accountOut(a), AccessKey: AccessKey{AccessKeyID: ak.ID,
		Status: statusOf(ak.Active), SecretAccessKey: string(ak.Secret), CreateDate: a.Created}}, nil
}

// ArcaListAccounts lists the accounts in ID order.
func (s *Service) ArcaListAccounts(ctx context.Context, c *auth.Caller, in *ArcaListAccountsInput) (*ArcaListAccountsOutput, error) {
	max, err := page(in.Marker, in.MaxItems)
	if err != nil {
		return nil, err
	}
	if err := s.operatorOnly(c, ActListAccounts); err != nil {
		return nil, err
	}
	as, next, err := s.ids.ListAccounts(ctx, in.Marker, max)
	if err != nil {
		return nil, s.internal(err)
	}
	out := &ArcaListAccountsOutput{Accounts: make(Members[Account], len(as)), Page: pageOut(next)}
	for i := range as {
		out.Accounts[i] = s.accountOut(&as[i])
	}
	return out, nil
}

// ArcaDeleteAccount deletes an account that has no users or roles, and its
// root access key. The operator's own account cannot be deleted.
func (s *Service) ArcaDeleteAccount(ctx context.Context, c *auth.Caller, in *ArcaAccountInput) (*Empty, error) {
	if err := checkAccountID(in.AccountID); err != nil {
		return nil, err
	}
	if err := s.operatorOnly(c, ActDeleteAccount); err != nil {
		return nil, err
	}
	if in.AccountID == s.operator {
		return nil, svcerr.New(svcerr.DeleteConflict, "Cannot delete the deployment's default account %s.", s.operator)
	}
	if err := s.ids.DeleteAccount(ctx, in.AccountID); err != nil {
		return nil, s.storeErr(err, ref{account: in.AccountID})
	}
	return &Empty{}, nil
}

// ArcaCreateAccountRootAccessKey replaces an account's root access key with
// a new one; the old key stops working at once.
func (s *Service) ArcaCreateAccountRootAccessKey(ctx context.Context, c *auth.Caller, in *ArcaAccountInput) (*ArcaAccountKeyOutput, error) {
	if err := checkAccountID(in.AccountID); err != nil {
		return nil, err
	}
	if err := s.operatorOnly(c, ActCreateAccountRootAccessKey); err != nil {
		return nil, err
	}
	a, err := s.ids.GetAccount(ctx, in.AccountID)
	if err != nil {
		return nil, s.storeErr(err, ref{account: in.AccountID})
	}
	ak, err := s.ids.IssueRootAccessKey(ctx, in.AccountID)
	if err != nil {
		return nil, s.storeErr(err, ref{account: in.AccountID})
	}
	return &ArcaAccountKeyOutput{Account: s.accountOut(a), AccessKey: AccessKey{AccessKeyID: ak.ID,
		Status: statusOf(ak.Active), SecretAccessKey: string(ak.Secret), CreateDate: s.nowSec()}}, nil
}

// GetCallerIdentity is STS's: who signed this request. It needs no
// permission, as in AWS.
func (s *Service) GetCallerIdentity(_ context.Context, c *auth.Caller, _ *GetCallerIdentityInput) (*GetCallerIdentityOutput, error) {
	return &GetCallerIdentityOutput{UserID: c.UserID, Account: c.Account, Arn: c.ARN}, nil
}
