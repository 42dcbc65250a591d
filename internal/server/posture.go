package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/arca-kms/arca/internal/arn"
	"github.com/arca-kms/arca/internal/iam"
	"github.com/arca-kms/arca/internal/keystore"
	"github.com/arca-kms/arca/internal/posture"
	"github.com/arca-kms/arca/internal/secrets"
	"github.com/arca-kms/arca/internal/sigv4"
	"github.com/arca-kms/arca/internal/transport/httpreq"
)

// usedVerifier notes, after each valid signature, that the long-term access
// key signed a request (GetAccessKeyLastUsed semantics: any signed request,
// allowed or not). NoteUsed is an in-memory update; lastUsedFlusher writes
// it to storage periodically. Temporary (ASIA) keys are not tracked: they
// expire, and posture only reports long-term keys.
type usedVerifier struct {
	v   httpreq.Verifier
	ids *iam.Store
	now func() time.Time
}

func (u usedVerifier) Verify(r *http.Request, body []byte) (*sigv4.Result, error) {
	res, err := u.v.Verify(r, body)
	if err == nil && !strings.HasPrefix(res.AccessKeyID, "ASIA") {
		u.ids.NoteUsed(res.AccessKeyID, res.Service, res.Region, u.now())
	}
	return res, err
}

// lastUsedFlushInterval is how often access keys' last use reaches storage.
const lastUsedFlushInterval = time.Minute

// flushLastUsed writes access keys' last use every interval until ctx ends,
// and once more then.
func flushLastUsed(ctx context.Context, ids *iam.Store, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := ids.FlushLastUsed(fctx); err != nil {
				log.Warn("access key last-used dates not saved at shutdown", "error", err)
			}
			return
		case <-t.C:
			if err := ids.FlushLastUsed(ctx); err != nil {
				log.Warn("access key last-used dates not saved; will retry", "error", err)
			}
		}
	}
}

// inventory adapts the key and identity stores to posture.Inventory.
type inventory struct {
	ks        *keystore.Store
	ids       *iam.Store
	regions   []string
	partition string
}

func (v inventory) Keys(ctx context.Context, account string) ([]posture.Key, error) {
	var out []posture.Key
	for _, region := range v.regions {
		after := ""
		for {
			keys, err := v.ks.List(ctx, account, region, after, 500)
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				out = append(out, posture.Key{ARN: arn.KeyARN(v.partition, k.Region, k.Account, k.ID), ID: k.ID,
					Account: k.Account, Region: k.Region, Manager: k.Manager, Spec: string(k.Spec), Usage: k.Usage,
					Origin: k.Origin, State: string(k.State), MultiRegionType: k.MultiRegionType,
					RotationEnabled: k.RotationPeriodInDays > 0, DeletionDate: k.DeletionDate, ValidTo: k.ValidTo, Policy: k.Policy})
				after = k.ID
			}
			if len(keys) < 500 {
				break
			}
		}
	}
	return out, nil
}

func (v inventory) Aliases(ctx context.Context, account string) ([]posture.Alias, error) {
	var out []posture.Alias
	for _, region := range v.regions {
		after := ""
		for {
			as, err := v.ks.ListAliases(ctx, account, region, after, 500)
			if err != nil {
				return nil, err
			}
			for _, a := range as {
				out = append(out, posture.Alias{Name: a.Name, ARN: arn.AliasARN(v.partition, a.Region, a.Account, a.Name),
					Region: a.Region, TargetKeyID: a.TargetKeyID})
				after = a.Name
			}
			if len(as) < 500 {
				break
			}
		}
	}
	return out, nil
}

func (v inventory) AccessKeys(ctx context.Context, account string) ([]posture.AccessKey, error) {
	var out []posture.AccessKey
	err := v.ids.EachAccessKey(ctx, account, func(ak *iam.AccessKey) error {
		lu, err := v.ids.AccessKeyLastUsed(ctx, ak.ID)
		if err != nil {
			return err
		}
		out = append(out, posture.AccessKey{ID: ak.ID, Account: ak.Account, ARN: ak.ARN, UserName: ak.UserName,
			Root: ak.UserName == "", Active: ak.Active, Created: ak.Created, LastUsed: lu.Date,
			RoutineUsed: lu.RoutineDate, RoutineService: lu.RoutineService})
		return nil
	})
	return out, err
}

// secretStatuses adapts Secrets Manager to posture.Secrets.
type secretStatuses struct{ svc *secrets.Service }

func (v secretStatuses) Secrets(ctx context.Context, account string) ([]posture.Secret, error) {
	sts, err := v.svc.RotationStatuses(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make([]posture.Secret, 0, len(sts))
	for _, st := range sts {
		reason := ""
		if st.Failed {
			reason = "step " + st.FailStep + " on " + st.FailDate.UTC().Format(time.RFC3339) + ": " + st.FailMessage
		}
		out = append(out, posture.Secret{ARN: st.ARN, Name: st.Name, Region: st.Region, RotationEnabled: st.Enabled,
			LastRotationFailed: st.Failed, Reason: reason, LastRotated: st.LastRotated})
	}
	return out, nil
}
