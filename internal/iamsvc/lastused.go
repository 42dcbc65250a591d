package iamsvc

import (
	"context"
	"errors"
	"time"

	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/iam"
)

// ActGetAccessKeyLastUsed is GetAccessKeyLastUsed's IAM action.
const ActGetAccessKeyLastUsed = "iam:GetAccessKeyLastUsed"

// GetAccessKeyLastUsedInput is the GetAccessKeyLastUsed request.
type GetAccessKeyLastUsedInput struct {
	AccessKeyID string `query:"AccessKeyId"`
}

// AccessKeyLastUsed is IAM's AccessKeyLastUsed: "N/A" service and region,
// and no date, for a key never used.
type AccessKeyLastUsed struct {
	LastUsedDate *time.Time `xml:"LastUsedDate,omitempty"`
	ServiceName  string     `xml:"ServiceName"`
	Region       string     `xml:"Region"`
}

// GetAccessKeyLastUsedOutput is the GetAccessKeyLastUsed response.
type GetAccessKeyLastUsedOutput struct {
	UserName          string            `xml:"UserName,omitempty"`
	AccessKeyLastUsed AccessKeyLastUsed `xml:"AccessKeyLastUsed"`
}

// GetAccessKeyLastUsed reports when a key of the caller's account last
// signed a request, for which service and in which region. The root user
// may ask about any key of its account; others need
// iam:GetAccessKeyLastUsed on the owning user. A key of another account is
// reported as not found, as an unknown one is.
func (s *Service) GetAccessKeyLastUsed(ctx context.Context, c *auth.Caller, in *GetAccessKeyLastUsedInput) (*GetAccessKeyLastUsedOutput, error) {
	if err := checkKeyID(in.AccessKeyID); err != nil {
		return nil, err
	}
	ak, err := s.ids.AccessKeyInfo(ctx, in.AccessKeyID)
	if err == nil && ak.Account != c.Account {
		err = iam.ErrNoSuchAccessKey
	}
	if errors.Is(err, iam.ErrNoSuchAccessKey) {
		if err := s.authorize(ctx, c, ActGetAccessKeyLastUsed, s.userARN(c.Account, "/", "*"), nil); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, s.storeErr(err, ref{key: in.AccessKeyID})
	}
	if err := s.authorize(ctx, c, ActGetAccessKeyLastUsed, ak.ARN, nil); err != nil {
		return nil, err
	}
	lu, err := s.ids.AccessKeyLastUsed(ctx, ak.ID)
	if err != nil {
		return nil, s.internal(err)
	}
	out := &GetAccessKeyLastUsedOutput{UserName: ak.UserName, AccessKeyLastUsed: AccessKeyLastUsed{ServiceName: "N/A", Region: "N/A"}}
	if !lu.Date.IsZero() {
		d := lu.Date.UTC()
		out.AccessKeyLastUsed = AccessKeyLastUsed{LastUsedDate: &d, ServiceName: lu.Service, Region: lu.Region}
	}
	return out, nil
}
