package secrets

import (
	"context"
	"time"
)

// RotationStatus is one secret's rotation state, for posture findings. It
// carries no secret value.
type RotationStatus struct {
	ARN, Name, Region string
	// Enabled reports a rotation schedule.
	Enabled bool
	// LastRotated is the last successful rotation (zero: never).
	LastRotated time.Time
	// Failed reports a rotation that started and whose last attempt
	// failed, at FailStep with FailMessage (the rotator's client-safe
	// message), on FailDate.
	Failed      bool
	FailStep    string
	FailMessage string
	FailDate    time.Time
}

// RotationStatuses returns the rotation state of every secret of account
// in the regions served, except secrets scheduled for deletion and replicas
// (a replica is rotated through its primary).
func (s *Service) RotationStatuses(ctx context.Context, account string) ([]RotationStatus, error) {
	var out []RotationStatus
	for _, region := range s.regions {
		recs, err := s.st.list(ctx, account, region)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.deleted() || r.PrimaryRegion != "" {
				continue
			}
			rt := r.Rotation
			out = append(out, RotationStatus{ARN: s.secretARN(r), Name: r.Name, Region: r.Region, Enabled: rt.Enabled,
				LastRotated: rt.LastRotated, Failed: rt.Pending != "" && !rt.FailDate.IsZero(),
				FailStep: rt.FailStep, FailMessage: rt.FailMessage, FailDate: rt.FailDate})
		}
	}
	return out, nil
}
