#!/usr/bin/env bash
# Drives a running Arca with the aws CLI (v1 or v2) through the Secrets
# Manager commands, checking each output with --query / --output text.
#
# Needs in the environment:
#   ARCA_ENDPOINT                 e.g. http://127.0.0.1:4599
#   AWS_SHARED_CREDENTIALS_FILE   the data dir's credentials file (dev mode)
#   AWS_CONFIG_FILE               the data dir's config file (dev mode)
# Run by test/e2e's TestAWSCLISecretsManager; usable by hand against
# `arca server --dev`.
set -euo pipefail
: "${ARCA_ENDPOINT:?set ARCA_ENDPOINT}"
: "${AWS_SHARED_CREDENTIALS_FILE:?set AWS_SHARED_CREDENTIALS_FILE}"
: "${AWS_CONFIG_FILE:?set AWS_CONFIG_FILE}"
export AWS_PAGER=""

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
# awss runs an aws secretsmanager command against ARCA_ENDPOINT with text output.
awss() { aws --endpoint-url "$ARCA_ENDPOINT" --output text secretsmanager "$@"; }
expect_fail() {
  local code=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then fail "$* succeeded; want $code"; fi
  grep -q "$code" "$work/err" || fail "$* failed without $code: $(cat "$work/err")"
}

# has_cmd NAME: this aws CLI knows the secretsmanager command NAME (older
# ones lack the newer operations).
has_cmd() { aws secretsmanager "$1" help >/dev/null 2>&1; }

echo "using $(command -v aws): $(aws --version 2>&1)"

step "create-secret with a string value, description and tags"
arn=$(awss create-secret --name cli/db --description "cli test" --secret-string '{"user":"app","password":"cli-pw-1"}' \
  --tags Key=team,Value=cli --query ARN)
[[ $arn =~ ^arn:aws:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:cli/db-[A-Za-z0-9]{6}$ ]] || fail "create-secret ARN '$arn'"

step "get-secret-value by name, ARN and partial ARN"
for id in cli/db "$arn" "${arn%-??????}"; do
  v=$(awss get-secret-value --secret-id "$id" --query SecretString)
  [[ $v == '{"user":"app","password":"cli-pw-1"}' ]] || fail "get-secret-value $id = '$v'"
done

step "put-secret-value moves AWSCURRENT; AWSPREVIOUS follows"
v2=$(awss put-secret-value --secret-id cli/db --secret-string 'cli-pw-2' --query VersionId)
[[ $(awss get-secret-value --secret-id cli/db --query VersionId) == "$v2" ]] || fail "AWSCURRENT is not the new version"
[[ $(awss get-secret-value --secret-id cli/db --version-stage AWSPREVIOUS --query SecretString) == '{"user":"app","password":"cli-pw-1"}' ]] \
  || fail "AWSPREVIOUS is not the first value"

step "secret-binary from a file"
head -c 300 /dev/urandom >"$work/bin"
awss create-secret --name cli/bin --secret-binary "fileb://$work/bin" >/dev/null
awss get-secret-value --secret-id cli/bin --query SecretBinary | base64 -d >"$work/bin.out"
cmp "$work/bin" "$work/bin.out" || fail "secret-binary round trip"

step "update-secret-version-stage and list-secret-version-ids"
v1=$(awss list-secret-version-ids --secret-id cli/db --query 'Versions[?contains(VersionStages, `AWSPREVIOUS`)].VersionId')
awss update-secret-version-stage --secret-id cli/db --version-stage AWSCURRENT --move-to-version-id "$v1" --remove-from-version-id "$v2" >/dev/null
[[ $(awss get-secret-value --secret-id cli/db --query VersionId) == "$v1" ]] || fail "AWSCURRENT did not move back"
expect_fail InvalidParameterException awss update-secret-version-stage --secret-id cli/db --version-stage AWSCURRENT --move-to-version-id "$v2"

step "describe-secret, update-secret, tag-resource, untag-resource, list-secrets"
awss update-secret --secret-id cli/db --description "changed" >/dev/null
[[ $(awss describe-secret --secret-id cli/db --query Description) == changed ]] || fail "update-secret description"
awss tag-resource --secret-id cli/db --tags Key=env,Value=test
awss untag-resource --secret-id cli/db --tag-keys team
[[ $(awss describe-secret --secret-id cli/db --query 'Tags[].Key') == env ]] || fail "tags after tag/untag"
[[ $(awss list-secrets --filters Key=name,Values=cli/ --query 'length(SecretList)') == 2 ]] || fail "list-secrets name=cli/"
if has_cmd batch-get-secret-value; then
  [[ $(awss batch-get-secret-value --secret-id-list cli/db cli/bin --query 'length(SecretValues)') == 2 ]] || fail "batch-get-secret-value"
else
  echo "(this aws CLI has no batch-get-secret-value)"
fi

step "get-random-password"
pw=$(awss get-random-password --password-length 24 --exclude-punctuation --query RandomPassword)
[[ ${#pw} == 24 && $pw =~ ^[A-Za-z0-9]+$ ]] || fail "get-random-password '$pw'"

step "resource policies"
acct=$(aws --endpoint-url "$ARCA_ENDPOINT" --output text sts get-caller-identity --query Account)
cat >"$work/policy.json" <<JSON
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::$acct:root"},"Action":"secretsmanager:GetSecretValue","Resource":"*"}]}
JSON
[[ $(awss validate-resource-policy --resource-policy "file://$work/policy.json" --query PolicyValidationPassed) == True ]] || fail "validate-resource-policy"
awss put-resource-policy --secret-id cli/db --resource-policy "file://$work/policy.json" --block-public-policy >/dev/null
awss get-resource-policy --secret-id cli/db --query ResourcePolicy | grep secretsmanager:GetSecretValue >/dev/null || fail "get-resource-policy"
echo '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"secretsmanager:*","Resource":"*"}]}' >"$work/public.json"
expect_fail PublicPolicyException awss put-resource-policy --secret-id cli/db --resource-policy "file://$work/public.json" --block-public-policy
awss delete-resource-policy --secret-id cli/db >/dev/null

step "errors"
expect_fail ResourceNotFoundException awss get-secret-value --secret-id cli/missing
expect_fail ResourceExistsException awss create-secret --name cli/db --secret-string x
expect_fail InvalidParameterException awss delete-secret --secret-id cli/db --recovery-window-in-days 3

step "delete-secret with a recovery window, restore-secret, force delete"
awss delete-secret --secret-id cli/db --recovery-window-in-days 7 >/dev/null
expect_fail InvalidRequestException awss get-secret-value --secret-id cli/db
awss describe-secret --secret-id cli/db --query DeletedDate >/dev/null
awss restore-secret --secret-id cli/db >/dev/null
awss get-secret-value --secret-id cli/db --query SecretString >/dev/null
awss delete-secret --secret-id cli/bin --force-delete-without-recovery >/dev/null
expect_fail ResourceNotFoundException awss describe-secret --secret-id cli/bin

echo "OK"
