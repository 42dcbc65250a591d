package awsquery

import (
	"slices"
	"testing"

	"github.com/arca-kms/arca/internal/transport/auditrec"
)

// TestAuditViewClassifiesEveryMember: every member of every operation's
// input and output is classified on purpose by its service's audit view,
// so that a new field is never recorded (or hidden) by accident.
func TestAuditViewClassifiesEveryMember(t *testing.T) {
	for _, svc := range []*Service{IAM(nil), STS(nil)} {
		if svc.Audit == nil {
			t.Errorf("%s has no audit view", svc.SigningName)
			continue
		}
		var missing []string
		for _, op := range svc.ops {
			missing = append(missing, auditrec.Unclassified(op.in, auditrec.QueryName, svc.Audit.Members)...)
			missing = append(missing, auditrec.Unclassified(op.out, auditrec.QueryName, svc.Audit.Members)...)
		}
		slices.Sort(missing)
		missing = slices.Compact(missing)
		for _, m := range missing {
			t.Errorf("%s: member %s is not classified in the audit view", svc.SigningName, m)
		}
	}
}
