package awsquery

import (
	"strings"

	"github.com/arca-kms/arca/internal/audit"
	"github.com/arca-kms/arca/internal/auth"
	"github.com/arca-kms/arca/internal/transport/auditrec"
)

// iamView is what IAM and STS audit events record, as CloudTrail records
// them: names, paths, ARNs, policy documents, tags; never secret access
// keys, session tokens, passwords or web-identity tokens.
var iamView = &auditrec.View{
	EventSource: "iam.amazonaws.com",
	Members:     iamMembers,
	Resources:   iamResources,
}

// stsView is iamView's table under STS's event source.
var stsView = &auditrec.View{
	EventSource: "sts.amazonaws.com",
	Members:     iamMembers,
	Resources:   iamResources,
}

var iamMembers = func() map[string]auditrec.Class {
	m := map[string]auditrec.Class{}
	set := func(c auditrec.Class, names string) {
		for _, n := range strings.Fields(names) {
			m[n] = c
		}
	}
	set(auditrec.Record, `AccessKey AccessKeyId AccessKeyMetadata Account AccountId Accounts Arn
		AssumeRolePolicyDocument Description Marker MaxItems MaxSessionDuration Page Path PathPrefix PermissionsBoundary
		PolicyDocument PolicyName PolicyNames Role RoleName Roles Status TagKeys Tags User UserId UserName Users
		CreateDate IsTruncated Key RoleId Value RoleLastUsed LastUsedDate Region
		AssumedRoleUser Audience Credentials DurationSeconds PackedPolicySize Policy PolicyArns Provider ProviderId
		RoleArn RoleSessionName SerialNumber SourceIdentity SubjectFromWebIdentityToken TransitiveTagKeys
		AssumedRoleId Expiration arn AccessKeyLastUsed ServiceName`)
	set(auditrec.Hide, `SecretAccessKey SessionToken Password WebIdentityToken SAMLAssertion TokenCode ExternalId`)
	return m
}()

// iamResources names the entity an IAM event concerns by its ARN, when the
// output carries one.
func iamResources(c *auth.Caller, in, out any) []audit.Resource {
	for _, path := range [][]string{{"User", "Arn"}, {"Role", "Arn"}, {"AssumedRoleUser", "Arn"}, {"Arn"}} {
		if arn := auditrec.Field(out, auditrec.QueryName, path...); strings.HasPrefix(arn, "arn:") {
			typ := map[string]string{"User": "AWS::IAM::User", "Role": "AWS::IAM::Role", "AssumedRoleUser": "AWS::STS::AssumedRole"}[path[0]]
			return []audit.Resource{{ARN: arn, AccountID: c.Account, Type: typ}}
		}
	}
	return nil
}
