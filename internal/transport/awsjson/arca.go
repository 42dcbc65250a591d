package awsjson

import "github.com/arca-kms/arca/internal/posture"

// Arca returns the operation table of Arca's own JSON API: target prefix
// "ArcaService", SigV4 signing name "arca". Its operations are Arca
// extensions, named Arca<Operation> like the IAM account actions, and
// authorized by arca:<Operation> actions.
func Arca(p *posture.Service) *Service {
	return NewService("ArcaService", "arca",
		Op("ArcaListFindings", posture.ActListFindings, p.ListFindings),
	)
}
