package iamsvc

import (
	"encoding/xml"
	"time"
)

// The request and response shapes below carry AWS's member names: the Query
// transport decodes form parameters into the inputs by `query` tag (or field
// name) and encodes the outputs as XML by `xml` tag. Times are whole
// seconds in UTC, which encoding/xml renders as AWS does
// (2006-01-02T15:04:05Z).

// Members is a list that AWS's Query protocol renders as
// <Name><member>…</member>…</Name>, and as an empty <Name></Name> when it
// has no element, so that clients see an empty list rather than none.
type Members[T any] []T

// MarshalXML renders each element as a <member>.
func (m Members[T]) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	member := xml.StartElement{Name: xml.Name{Local: "member"}}
	for i := range m {
		if err := e.EncodeElement(m[i], member); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// Empty is the output of operations that return nothing.
type Empty struct{}

// Tag is a tag on a user or role.
type Tag struct {
	Key   string `xml:"Key"`
	Value string `xml:"Value"`
}

// User describes an IAM user (or, from GetUser, the root user).
type User struct {
	Path       string       `xml:"Path,omitempty"`
	UserName   string       `xml:"UserName,omitempty"`
	UserID     string       `xml:"UserId"`
	Arn        string       `xml:"Arn"`
	CreateDate time.Time    `xml:"CreateDate"`
	Tags       Members[Tag] `xml:"Tags,omitempty"`
}

// Role describes an IAM role. AssumeRolePolicyDocument is URL-encoded, as
// AWS returns every policy document.
type Role struct {
	Path                     string       `xml:"Path"`
	RoleName                 string       `xml:"RoleName"`
	RoleID                   string       `xml:"RoleId"`
	Arn                      string       `xml:"Arn"`
	CreateDate               time.Time    `xml:"CreateDate"`
	AssumeRolePolicyDocument string       `xml:"AssumeRolePolicyDocument,omitempty"`
	Description              string       `xml:"Description,omitempty"`
	MaxSessionDuration       int32        `xml:"MaxSessionDuration,omitempty"`
	Tags                     Members[Tag] `xml:"Tags,omitempty"`
}

// AccessKey is a new access key with its secret, shown only by
// CreateAccessKey (and Arca's account operations).
type AccessKey struct {
	UserName        string    `xml:"UserName,omitempty"`
	AccessKeyID     string    `xml:"AccessKeyId"`
	Status          string    `xml:"Status"`
	SecretAccessKey string    `xml:"SecretAccessKey"`
	CreateDate      time.Time `xml:"CreateDate"`
}

// AccessKeyMetadata describes an access key without its secret.
type AccessKeyMetadata struct {
	UserName    string    `xml:"UserName,omitempty"`
	AccessKeyID string    `xml:"AccessKeyId"`
	Status      string    `xml:"Status"`
	CreateDate  time.Time `xml:"CreateDate"`
}

// Page is the pagination of a list output.
type Page struct {
	IsTruncated bool   `xml:"IsTruncated"`
	Marker      string `xml:"Marker,omitempty"`
}

// CreateUserInput is the CreateUser request.
type CreateUserInput struct {
	UserName            string
	Path                string
	PermissionsBoundary string
	Tags                []Tag
}

// CreateUserOutput is the CreateUser response.
type CreateUserOutput struct {
	User *User `xml:"User"`
}

// GetUserInput is the GetUser request; no UserName means the caller.
type GetUserInput struct {
	UserName string
}

// GetUserOutput is the GetUser response.
type GetUserOutput struct {
	User *User `xml:"User"`
}

// ListUsersInput is the ListUsers request.
type ListUsersInput struct {
	PathPrefix string
	Marker     string
	MaxItems   *int32
}

// ListUsersOutput is the ListUsers response.
type ListUsersOutput struct {
	Users Members[User] `xml:"Users"`
	Page
}

// UserNameInput is the request of DeleteUser and ListUserTags-like
// operations that name one user.
type UserNameInput struct {
	UserName string
}

// CreateAccessKeyInput is the CreateAccessKey request; no UserName means
// the calling user.
type CreateAccessKeyInput struct {
	UserName string
}

// CreateAccessKeyOutput is the CreateAccessKey response.
type CreateAccessKeyOutput struct {
	AccessKey AccessKey `xml:"AccessKey"`
}

// ListAccessKeysInput is the ListAccessKeys request.
type ListAccessKeysInput struct {
	UserName string
	Marker   string
	MaxItems *int32
}

// ListAccessKeysOutput is the ListAccessKeys response.
type ListAccessKeysOutput struct {
	AccessKeyMetadata Members[AccessKeyMetadata] `xml:"AccessKeyMetadata"`
	Page
}

// UpdateAccessKeyInput is the UpdateAccessKey request.
type UpdateAccessKeyInput struct {
	UserName    string
	AccessKeyID string `query:"AccessKeyId"`
	Status      string
}

// DeleteAccessKeyInput is the DeleteAccessKey request.
type DeleteAccessKeyInput struct {
	UserName    string
	AccessKeyID string `query:"AccessKeyId"`
}

// PutUserPolicyInput is the PutUserPolicy request.
type PutUserPolicyInput struct {
	UserName       string
	PolicyName     string
	PolicyDocument string
}

// UserPolicyInput is the request of GetUserPolicy and DeleteUserPolicy.
type UserPolicyInput struct {
	UserName   string
	PolicyName string
}

// GetUserPolicyOutput is the GetUserPolicy response.
type GetUserPolicyOutput struct {
	UserName       string `xml:"UserName"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

// ListUserPoliciesInput is the ListUserPolicies request.
type ListUserPoliciesInput struct {
	UserName string
	Marker   string
	MaxItems *int32
}

// ListPoliciesOutput is the response of ListUserPolicies and ListRolePolicies.
type ListPoliciesOutput struct {
	PolicyNames Members[string] `xml:"PolicyNames"`
	Page
}

// CreateRoleInput is the CreateRole request.
type CreateRoleInput struct {
	RoleName                 string
	Path                     string
	AssumeRolePolicyDocument string
	Description              string
	MaxSessionDuration       *int32
	PermissionsBoundary      string
	Tags                     []Tag
}

// RoleOutput is the response of CreateRole and GetRole.
type RoleOutput struct {
	Role *Role `xml:"Role"`
}

// RoleNameInput is the request of operations that name one role.
type RoleNameInput struct {
	RoleName string
}

// ListRolesInput is the ListRoles request.
type ListRolesInput struct {
	PathPrefix string
	Marker     string
	MaxItems   *int32
}

// ListRolesOutput is the ListRoles response.
type ListRolesOutput struct {
	Roles Members[Role] `xml:"Roles"`
	Page
}

// UpdateAssumeRolePolicyInput is the UpdateAssumeRolePolicy request.
type UpdateAssumeRolePolicyInput struct {
	RoleName       string
	PolicyDocument string
}

// PutRolePolicyInput is the PutRolePolicy request.
type PutRolePolicyInput struct {
	RoleName       string
	PolicyName     string
	PolicyDocument string
}

// RolePolicyInput is the request of GetRolePolicy and DeleteRolePolicy.
type RolePolicyInput struct {
	RoleName   string
	PolicyName string
}

// GetRolePolicyOutput is the GetRolePolicy response.
type GetRolePolicyOutput struct {
	RoleName       string `xml:"RoleName"`
	PolicyName     string `xml:"PolicyName"`
	PolicyDocument string `xml:"PolicyDocument"`
}

// ListRolePoliciesInput is the ListRolePolicies request.
type ListRolePoliciesInput struct {
	RoleName string
	Marker   string
	MaxItems *int32
}

// TagUserInput is the TagUser request.
type TagUserInput struct {
	UserName string
	Tags     []Tag
}

// UntagUserInput is the UntagUser request.
type UntagUserInput struct {
	UserName string
	TagKeys  []string
}

// ListUserTagsInput is the ListUserTags request.
type ListUserTagsInput struct {
	UserName string
	Marker   string
	MaxItems *int32
}

// TagRoleInput is the TagRole request.
type TagRoleInput struct {
	RoleName string
	Tags     []Tag
}

// UntagRoleInput is the UntagRole request.
type UntagRoleInput struct {
	RoleName string
	TagKeys  []string
}

// ListRoleTagsInput is the ListRoleTags request.
type ListRoleTagsInput struct {
	RoleName string
	Marker   string
	MaxItems *int32
}

// ListTagsOutput is the response of ListUserTags and ListRoleTags.
type ListTagsOutput struct {
	Tags Members[Tag] `xml:"Tags"`
	Page
}

// GetCallerIdentityInput is the STS GetCallerIdentity request.
type GetCallerIdentityInput struct{}

// GetCallerIdentityOutput is the STS GetCallerIdentity response.
type GetCallerIdentityOutput struct {
	UserID  string `xml:"UserId"`
	Account string `xml:"Account"`
	Arn     string `xml:"Arn"`
}

// Account describes an Arca account (tenant).
type Account struct {
	AccountID  string    `xml:"AccountId"`
	Arn        string    `xml:"Arn"`
	CreateDate time.Time `xml:"CreateDate"`
}

// ArcaCreateAccountInput is the ArcaCreateAccount request; without an
// AccountId a random one is chosen.
type ArcaCreateAccountInput struct {
	AccountID string `query:"AccountId"`
}

// ArcaAccountKeyOutput is the response of ArcaCreateAccount and
// ArcaCreateAccountRootAccessKey: the account and its new root access key.
type ArcaAccountKeyOutput struct {
	Account   Account   `xml:"Account"`
	AccessKey AccessKey `xml:"AccessKey"`
}

// ArcaAccountInput is the request of operations that name one account.
type ArcaAccountInput struct {
	AccountID string `query:"AccountId"`
}

// ArcaListAccountsInput is the ArcaListAccounts request.
type ArcaListAccountsInput struct {
	Marker   string
	MaxItems *int32
}

// ArcaListAccountsOutput is the ArcaListAccounts response.
type ArcaListAccountsOutput struct {
	Accounts Members[Account] `xml:"Accounts"`
	Page
}
