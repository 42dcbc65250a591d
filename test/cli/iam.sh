#!/usr/bin/env bash
# Drives a running Arca with the aws CLI (v1 or v2) through the IAM and STS
# commands: users, access keys and their enforcement, inline policies, roles
# and tags, checking each output with --query / --output text.
#
# Needs in the environment:
#   ARCA_ENDPOINT                 e.g. http://127.0.0.1:4599
#   AWS_SHARED_CREDENTIALS_FILE   the data dir's credentials file (dev mode)
#   AWS_CONFIG_FILE               the data dir's config file (dev mode)
# and nothing else: the root credentials and region come from those files.
# Run by test/e2e's TestAWSCLIIAM; usable by hand against `arca server --dev`
# (it creates and deletes users and roles named cli-*).
set -euo pipefail
: "${ARCA_ENDPOINT:?set ARCA_ENDPOINT}"
: "${AWS_SHARED_CREDENTIALS_FILE:?set AWS_SHARED_CREDENTIALS_FILE}"
: "${AWS_CONFIG_FILE:?set AWS_CONFIG_FILE}"
export AWS_PAGER=""

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
# awsi / awss run aws iam / aws sts against ARCA_ENDPOINT with text output.
awsi() { aws --endpoint-url "$ARCA_ENDPOINT" --output text iam "$@"; }
awss() { aws --endpoint-url "$ARCA_ENDPOINT" --output text sts "$@"; }
# as_user runs a command with the cli-user's access key instead of root's.
as_user() { AWS_ACCESS_KEY_ID=$akid AWS_SECRET_ACCESS_KEY=$secret "$@"; }
# expect_fail ERRORCODE CMD...: CMD must fail with ERRORCODE in its stderr.
expect_fail() {
  local code=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then fail "$* succeeded; want $code"; fi
  grep -q "$code" "$work/err" || fail "$* failed without $code: $(cat "$work/err")"
}

version=$(aws --version 2>&1)
echo "using $(command -v aws): $version"

step "sts get-caller-identity as root"
account=$(awss get-caller-identity --query Account)
[[ $account =~ ^[0-9]{12}$ ]] || fail "get-caller-identity Account '$account'"
[ "$(awss get-caller-identity --query Arn)" = "arn:aws:iam::$account:root" ] || fail "root Arn"

step "create-user, get-user, list-users"
uid=$(awsi create-user --user-name cli-user --path /cli/ --tags Key=team,Value=cli --query User.UserId)
[[ $uid =~ ^AIDA[A-Z2-7]{16}$ ]] || fail "create-user UserId '$uid'"
[ "$(awsi get-user --user-name CLI-USER --query User.Arn)" = "arn:aws:iam::$account:user/cli/cli-user" ] || fail "get-user Arn"
awsi list-users --query 'Users[].UserName' | tr '\t' '\n' | grep -x cli-user >/dev/null || fail "list-users misses cli-user"
[ "$(awsi list-users --path-prefix /cli/ --query 'length(Users)')" = "1" ] || fail "list-users --path-prefix"
expect_fail EntityAlreadyExists awsi create-user --user-name Cli-User
expect_fail NoSuchEntity awsi get-user --user-name cli-nobody
expect_fail ValidationError awsi create-user --user-name 'bad name'

step "create-access-key; the key signs requests as the user"
awsi create-access-key --user-name cli-user --query '[AccessKey.AccessKeyId,AccessKey.SecretAccessKey]' >"$work/key"
akid=$(cut -f1 "$work/key")
secret=$(cut -f2 "$work/key")
[[ $akid =~ ^AKIA[A-Z2-7]{16}$ ]] && [ ${#secret} -eq 40 ] || fail "create-access-key returned '$akid'"
[ "$(as_user awss get-caller-identity --query Arn)" = "arn:aws:iam::$account:user/cli/cli-user" ] || fail "user get-caller-identity"
[ "$(as_user awss get-caller-identity --query UserId)" = "$uid" ] || fail "user get-caller-identity UserId"

step "no policy: AccessDenied; put-user-policy: allowed"
expect_fail AccessDenied as_user awsi create-user --user-name cli-friend
grep -q "is not authorized to perform: iam:CreateUser" "$work/err" || fail "AccessDenied message: $(cat "$work/err")"
cat >"$work/allow.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:CreateUser","iam:DeleteUser"],"Resource":"arn:aws:iam::$account:user/cli-friend"}]}
EOF
awsi put-user-policy --user-name cli-user --policy-name allow-friend --policy-document "file://$work/allow.json"
[ "$(as_user awsi create-user --user-name cli-friend --query User.UserName)" = "cli-friend" ] || fail "user create-user with a policy"
as_user awsi delete-user --user-name cli-friend
expect_fail AccessDenied as_user awsi create-user --user-name cli-other
[ "$(awsi get-user-policy --user-name cli-user --policy-name allow-friend --query 'PolicyDocument.Statement[0].Effect')" = "Allow" ] ||
  fail "get-user-policy document"
[ "$(awsi list-user-policies --user-name cli-user --query 'PolicyNames')" = "allow-friend" ] || fail "list-user-policies"
expect_fail MalformedPolicyDocument awsi put-user-policy --user-name cli-user --policy-name bad \
  --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iam:*"}]}'
expect_fail NoSuchEntity awsi get-user-policy --user-name cli-user --policy-name nope

step "update-access-key Inactive refuses the key; at most two keys"
awsi update-access-key --user-name cli-user --access-key-id "$akid" --status Inactive
expect_fail InvalidClientTokenId as_user awss get-caller-identity
[ "$(awsi list-access-keys --user-name cli-user --query 'AccessKeyMetadata[0].Status')" = "Inactive" ] || fail "list-access-keys status"
awsi update-access-key --user-name cli-user --access-key-id "$akid" --status Active
as_user awss get-caller-identity >/dev/null || fail "reactivated key refused"
akid2=$(awsi create-access-key --user-name cli-user --query AccessKey.AccessKeyId)
expect_fail LimitExceeded awsi create-access-key --user-name cli-user
expect_fail DeleteConflict awsi delete-user --user-name cli-user

step "tag-user, list-user-tags, untag-user"
awsi tag-user --user-name cli-user --tags Key=env,Value=test
[ "$(awsi list-user-tags --user-name cli-user --query 'Tags[?Key==`env`].Value')" = "test" ] || fail "list-user-tags env"
awsi untag-user --user-name cli-user --tag-keys env team
[ "$(awsi list-user-tags --user-name cli-user --query 'length(Tags)')" = "0" ] || fail "untag-user"

step "roles: create-role, get-role, list-roles, update-assume-role-policy, inline policies, tags"
cat >"$work/trust.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::$account:root"},"Action":"sts:AssumeRole"}]}
EOF
rid=$(awsi create-role --role-name cli-role --assume-role-policy-document "file://$work/trust.json" \
  --description "cli role" --max-session-duration 7200 --query Role.RoleId)
[[ $rid =~ ^AROA[A-Z2-7]{16}$ ]] || fail "create-role RoleId '$rid'"
[ "$(awsi get-role --role-name cli-role --query 'Role.[MaxSessionDuration,Description]')" = "$(printf '7200\tcli role')" ] ||
  fail "get-role: $(awsi get-role --role-name cli-role --query 'Role.[MaxSessionDuration,Description]')"
[ "$(awsi get-role --role-name cli-role --query 'Role.AssumeRolePolicyDocument.Statement[0].Action')" = "sts:AssumeRole" ] ||
  fail "get-role trust policy"
awsi list-roles --query 'Roles[].RoleName' | tr '\t' '\n' | grep -x cli-role >/dev/null || fail "list-roles"
expect_fail MalformedPolicyDocument awsi create-role --role-name cli-bad --assume-role-policy-document "file://$work/allow.json"
awsi update-assume-role-policy --role-name cli-role --policy-document \
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
[ "$(awsi get-role --role-name cli-role --query 'Role.AssumeRolePolicyDocument.Statement[0].Principal.Service')" = "ec2.amazonaws.com" ] ||
  fail "update-assume-role-policy"
awsi put-role-policy --role-name cli-role --policy-name decrypt \
  --policy-document '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Decrypt","Resource":"*"}]}'
[ "$(awsi get-role-policy --role-name cli-role --policy-name decrypt --query 'PolicyDocument.Statement[0].Action')" = "kms:Decrypt" ] ||
  fail "get-role-policy"
[ "$(awsi list-role-policies --role-name cli-role --query PolicyNames)" = "decrypt" ] || fail "list-role-policies"
awsi tag-role --role-name cli-role --tags Key=owner,Value=cli
[ "$(awsi list-role-tags --role-name cli-role --query 'Tags[0].Value')" = "cli" ] || fail "list-role-tags"
awsi untag-role --role-name cli-role --tag-keys owner
expect_fail DeleteConflict awsi delete-role --role-name cli-role
awsi delete-role-policy --role-name cli-role --policy-name decrypt
awsi delete-role --role-name cli-role
expect_fail NoSuchEntity awsi get-role --role-name cli-role

step "sts: assume-role, get-session-token, get-caller-identity with temporary credentials"
# as_session FILE CMD... runs CMD with the temporary credentials saved in
# $work/FILE (AccessKeyId, SecretAccessKey, SessionToken, tab-separated).
as_session() {
  local f=$work/$1; shift
  AWS_ACCESS_KEY_ID=$(cut -f1 "$f") AWS_SECRET_ACCESS_KEY=$(cut -f2 "$f") AWS_SESSION_TOKEN=$(cut -f3 "$f") "$@"
}
cat >"$work/trust-user.json" <<EOF
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::$account:user/cli/cli-user"},"Action":"sts:AssumeRole"}]}
EOF
awsi create-role --role-name cli-sts --assume-role-policy-document "file://$work/trust-user.json" >/dev/null
role_arn="arn:aws:iam::$account:role/cli-sts"
as_user awss assume-role --role-arn "$role_arn" --role-session-name cli-session --duration-seconds 900 \
  --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' >"$work/role"
[[ $(cut -f1 "$work/role") =~ ^ASIA[A-Z2-7]{16}$ ]] || fail "assume-role AccessKeyId '$(cut -f1 "$work/role")'"
[ "$(as_session role awss get-caller-identity --query Arn)" = "arn:aws:sts::$account:assumed-role/cli-sts/cli-session" ] ||
  fail "role session get-caller-identity: $(as_session role awss get-caller-identity --query Arn)"
[[ $(as_session role awss get-caller-identity --query UserId) =~ ^AROA[A-Z2-7]{16}:cli-session$ ]] || fail "role session UserId"
expect_fail AccessDenied as_session role awsi list-users
expect_fail AccessDenied awss assume-role --role-arn "$role_arn" --role-session-name root-session
expect_fail ValidationError as_user awss assume-role --role-arn "$role_arn" --role-session-name s2 --duration-seconds 7200
as_user awss get-session-token --duration-seconds 900 --query 'Credentials.[AccessKeyId,SecretAccessKey,SessionToken]' >"$work/gst"
[ "$(as_session gst awss get-caller-identity --query Arn)" = "arn:aws:iam::$account:user/cli/cli-user" ] || fail "session token get-caller-identity"
expect_fail InvalidClientTokenId as_session gst awsi list-users
expect_fail AccessDenied as_session gst awss get-session-token
awsi delete-role --role-name cli-sts
expect_fail InvalidClientTokenId as_session role awss get-caller-identity

step "clean up: keys, policies, user"
awsi delete-access-key --user-name cli-user --access-key-id "$akid"
awsi delete-access-key --user-name cli-user --access-key-id "$akid2"
expect_fail InvalidClientTokenId as_user awss get-caller-identity
expect_fail DeleteConflict awsi delete-user --user-name cli-user
awsi delete-user-policy --user-name cli-user --policy-name allow-friend
awsi delete-user --user-name cli-user
expect_fail NoSuchEntity awsi get-user --user-name cli-user

echo "OK: aws iam and sts commands against $ARCA_ENDPOINT"
