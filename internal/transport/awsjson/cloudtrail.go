package awsjson

import (
	"github.com/arca-kms/arca/internal/trail"
	"github.com/arca-kms/arca/internal/transport/auditrec"
)

// CloudTrail returns the operation table of the AWS CloudTrail API subset
// Arca serves (LookupEvents), plus Arca's audit-key extensions; signing
// name "cloudtrail".
func CloudTrail(s *trail.Service) *Service {
	svc := NewService("CloudTrail_20131101", "cloudtrail",
		Op("LookupEvents", trail.ActLookupEvents, s.LookupEvents),
		Op("ArcaGetAuditPublicKeys", trail.ActGetAuditPublicKeys, s.ArcaGetAuditPublicKeys),
		Op("ArcaRotateAuditSigningKey", trail.ActRotateAuditSigningKey, s.ArcaRotateAuditSigningKey),
	)
	svc.AltPrefixes = []string{"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"}
	svc.Audit = cloudTrailView
	return svc
}

var cloudTrailView = &auditrec.View{
	EventSource: "cloudtrail.amazonaws.com",
	Members: map[string]auditrec.Class{
		"LookupAttributes": auditrec.Record, "AttributeKey": auditrec.Record, "AttributeValue": auditrec.Record,
		"StartTime": auditrec.Record, "EndTime": auditrec.Record, "EventCategory": auditrec.Record,
		"MaxResults": auditrec.Record, "NextToken": auditrec.Omit, "Events": auditrec.Omit,
		"PublicKeysPem": auditrec.Record,
	},
}
