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
		Op("ArcaExportAuditLog", trail.ActExportAuditLog, s.ArcaExportAuditLog),
	)
	svc.AltPrefixes = []string{"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"}
	svc.Audit = cloudTrailView
	return svc
}

var cloudTrailView = &auditrec.View{
	EventSource: "cloudtrail.amazonaws.com",
	ReadOnly:    map[string]bool{"ArcaExportAuditLog": true},
	Members: map[string]auditrec.Class{
		"LookupAttributes": auditrec.Record, "AttributeKey": auditrec.Record, "AttributeValue": auditrec.Record,
		"StartTime": auditrec.Record, "EndTime": auditrec.Record, "EventCategory": auditrec.Record,
		"MaxResults": auditrec.Record, "NextToken": auditrec.Omit, "Events": auditrec.Omit,
		"PublicKeysPem": auditrec.Record,
		// ArcaExportAuditLog: the lines are the log itself (Omit, as Events).
		"NodeId": auditrec.Record, "Part": auditrec.Record, "ServingNodeId": auditrec.Record, "Nodes": auditrec.Record,
		"Lines": auditrec.Omit, "FirstLine": auditrec.Record, "Anchor": auditrec.Omit,
		"StartAfterSequence": auditrec.Record, "FromEnd": auditrec.Record, "LastSequence": auditrec.Record,
	},
}
