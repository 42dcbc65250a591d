package awsquery

import (
	"github.com/arca-kms/arca/internal/iamsvc"
	"github.com/arca-kms/arca/internal/sts"
	"github.com/arca-kms/arca/internal/svcerr"
)

// IAM API version and response namespace.
const (
	IAMVersion   = "2010-05-08"
	IAMNamespace = "https://iam.amazonaws.com/doc/2010-05-08/"
	STSVersion   = "2011-06-15"
	STSNamespace = "https://sts.amazonaws.com/doc/2011-06-15/"
)

// IAM is the operation table of the iam service: the subset of AWS IAM Arca
// implements, and Arca's own account administration (the Arca* actions).
func IAM(s *iamsvc.Service) *Service {
	svc := NewService("iam", IAMVersion, IAMNamespace,
		Op("CreateUser", s.CreateUser),
		Op("GetUser", s.GetUser),
		Op("ListUsers", s.ListUsers),
		Op("DeleteUser", s.DeleteUser),
		Op("CreateAccessKey", s.CreateAccessKey),
		Op("ListAccessKeys", s.ListAccessKeys),
		Op("UpdateAccessKey", s.UpdateAccessKey),
		Op("DeleteAccessKey", s.DeleteAccessKey),
		Op("GetAccessKeyLastUsed", s.GetAccessKeyLastUsed),
		Op("PutUserPolicy", s.PutUserPolicy),
		Op("GetUserPolicy", s.GetUserPolicy),
		Op("DeleteUserPolicy", s.DeleteUserPolicy),
		Op("ListUserPolicies", s.ListUserPolicies),
		Op("TagUser", s.TagUser),
		Op("UntagUser", s.UntagUser),
		Op("ListUserTags", s.ListUserTags),
		Op("CreateRole", s.CreateRole),
		Op("GetRole", s.GetRole),
		Op("ListRoles", s.ListRoles),
		Op("DeleteRole", s.DeleteRole),
		Op("UpdateAssumeRolePolicy", s.UpdateAssumeRolePolicy),
		Op("PutRolePolicy", s.PutRolePolicy),
		Op("GetRolePolicy", s.GetRolePolicy),
		Op("DeleteRolePolicy", s.DeleteRolePolicy),
		Op("ListRolePolicies", s.ListRolePolicies),
		Op("TagRole", s.TagRole),
		Op("UntagRole", s.UntagRole),
		Op("ListRoleTags", s.ListRoleTags),
		Op("ArcaCreateAccount", s.ArcaCreateAccount),
		Op("ArcaListAccounts", s.ArcaListAccounts),
		Op("ArcaDeleteAccount", s.ArcaDeleteAccount),
		Op("ArcaCreateAccountRootAccessKey", s.ArcaCreateAccountRootAccessKey),
	)
	svc.FaultCode = "ServiceFailure"
	svc.Audit = iamView
	return svc
}

// STS is the operation table of the sts service. AssumeRoleWithWebIdentity
// is served unsigned, as AWS serves it: the web identity token is the
// credential. STS's model names its own codes for some errors (the SDKs'
// sts types match them): ExpiredTokenException, where IAM's is ExpiredToken.
func STS(s *sts.Service) *Service {
	svc := NewService("sts", STSVersion, STSNamespace,
		Op("GetCallerIdentity", s.GetCallerIdentity),
		Op("GetSessionToken", s.GetSessionToken),
		Op("AssumeRole", s.AssumeRole),
		Unsigned(Op("AssumeRoleWithWebIdentity", s.AssumeRoleWithWebIdentity)),
	)
	svc.Codes = map[svcerr.Code]string{svcerr.ExpiredToken: "ExpiredTokenException"}
	svc.Audit = stsView
	return svc
}
