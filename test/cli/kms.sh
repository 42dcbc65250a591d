#!/usr/bin/env bash
# Drives a running Arca with the aws CLI (v1 or v2) through the KMS
# commands, checking each output with --query / --output text and every
# decrypted byte with cmp.
#
# Needs in the environment:
#   ARCA_ENDPOINT                 e.g. http://127.0.0.1:4599
#   AWS_SHARED_CREDENTIALS_FILE   the data dir's credentials file (dev mode)
#   AWS_CONFIG_FILE               the data dir's config file (dev mode)
# and nothing else: credentials and region come from those two files only.
# Run by test/e2e's TestAWSCLI; usable by hand against `arca server --dev`.
set -euo pipefail
: "${ARCA_ENDPOINT:?set ARCA_ENDPOINT}"
: "${AWS_SHARED_CREDENTIALS_FILE:?set AWS_SHARED_CREDENTIALS_FILE}"
: "${AWS_CONFIG_FILE:?set AWS_CONFIG_FILE}"
export AWS_PAGER=""

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }
# awsk runs an aws kms command against ARCA_ENDPOINT with text output.
awsk() { aws --endpoint-url "$ARCA_ENDPOINT" --output text kms "$@"; }
# expect_fail ERRORCODE CMD...: CMD must fail with ERRORCODE in its stderr.
expect_fail() {
  local code=$1; shift
  if "$@" >"$work/out" 2>"$work/err"; then fail "$* succeeded; want $code"; fi
  grep -q "$code" "$work/err" || fail "$* failed without $code: $(cat "$work/err")"
}
# b64d decodes base64 from stdin (the CLI prints blobs as base64 in text).
b64d() { base64 -d; }

version=$(aws --version 2>&1)
echo "using $(command -v aws): $version"

step "create-key with description and tags"
key=$(awsk create-key --description "cli test" --tags TagKey=team,TagValue=cli --query KeyMetadata.KeyId)
[[ $key =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]] || fail "create-key returned '$key'"
arn=$(awsk describe-key --key-id "$key" --query KeyMetadata.Arn)
[[ $arn == arn:aws:kms:*:*:key/"$key" ]] || fail "describe-key Arn '$arn'"

step "create-alias, describe-key"
awsk create-alias --alias-name alias/cli --target-key-id "$key"
[ "$(awsk describe-key --key-id alias/cli --query KeyMetadata.KeyId)" = "$key" ] || fail "describe-key by alias"
[ "$(awsk describe-key --key-id "$arn" --query 'KeyMetadata.[KeyState,KeySpec,KeyUsage,Description]')" = "$(printf 'Enabled\tSYMMETRIC_DEFAULT\tENCRYPT_DECRYPT\tcli test')" ] ||
  fail "describe-key metadata: $(awsk describe-key --key-id "$arn" --query 'KeyMetadata.[KeyState,KeySpec,KeyUsage,Description]')"

step "encrypt fileb://, decrypt, cmp"
head -c 3000 /dev/urandom >"$work/plain.bin"
awsk encrypt --key-id alias/cli --plaintext "fileb://$work/plain.bin" --encryption-context purpose=cli \
  --query CiphertextBlob | b64d >"$work/cipher.bin"
cmp -s "$work/plain.bin" "$work/cipher.bin" && fail "ciphertext equals plaintext"
awsk decrypt --ciphertext-blob "fileb://$work/cipher.bin" --encryption-context purpose=cli \
  --query Plaintext | b64d >"$work/back.bin"
cmp "$work/plain.bin" "$work/back.bin" || fail "decrypt did not return the plaintext"
[ "$(awsk decrypt --ciphertext-blob "fileb://$work/cipher.bin" --encryption-context purpose=cli --query KeyId)" = "$arn" ] ||
  fail "decrypt KeyId is not the key ARN"
expect_fail InvalidCiphertextException awsk decrypt --ciphertext-blob "fileb://$work/cipher.bin"
expect_fail InvalidCiphertextException awsk decrypt --ciphertext-blob "fileb://$work/cipher.bin" --encryption-context purpose=other

step "generate-data-key: plaintext matches its decrypted blob"
awsk generate-data-key --key-id alias/cli --key-spec AES_256 --query '[Plaintext,CiphertextBlob]' >"$work/dk.txt"
cut -f1 "$work/dk.txt" | b64d >"$work/dk.bin"
cut -f2 "$work/dk.txt" | b64d >"$work/dk.enc"
[ "$(wc -c <"$work/dk.bin")" -eq 32 ] || fail "AES_256 data key is not 32 bytes"
awsk decrypt --ciphertext-blob "fileb://$work/dk.enc" --query Plaintext | b64d >"$work/dk2.bin"
cmp "$work/dk.bin" "$work/dk2.bin" || fail "decrypted data key differs from its plaintext"
awsk generate-data-key --key-id "$key" --number-of-bytes 64 --query CiphertextBlob | b64d >"$work/dk64.enc"
awsk decrypt --ciphertext-blob "fileb://$work/dk64.enc" --key-id "$key" --query Plaintext | b64d >"$work/dk64.bin"
[ "$(wc -c <"$work/dk64.bin")" -eq 64 ] || fail "64-byte data key is $(wc -c <"$work/dk64.bin") bytes"
expect_fail ValidationException awsk generate-data-key --key-id "$key"

step "list-keys, list-aliases"
awsk list-keys --query 'Keys[].KeyId' | tr '\t' '\n' | grep -x "$key" >/dev/null || fail "list-keys misses the key"
[ "$(awsk list-aliases --key-id "$key" --query 'Aliases[].AliasName')" = "alias/cli" ] || fail "list-aliases --key-id"
awsk list-aliases --query 'Aliases[].AliasName' | tr '\t' '\n' | grep -x alias/cli >/dev/null || fail "list-aliases misses alias/cli"

step "tag-resource, list-resource-tags"
awsk tag-resource --key-id "$key" --tags TagKey=env,TagValue=test
[ "$(awsk list-resource-tags --key-id "$key" --query 'Tags[?TagKey==`env`].TagValue')" = "test" ] || fail "list-resource-tags env"
[ "$(awsk list-resource-tags --key-id "$key" --query 'Tags[?TagKey==`team`].TagValue')" = "cli" ] || fail "list-resource-tags team"

step "schedule-key-deletion, cancel-key-deletion"
[ "$(awsk schedule-key-deletion --key-id "$key" --pending-window-in-days 7 --query '[KeyState,PendingWindowInDays]')" = "$(printf 'PendingDeletion\t7')" ] ||
  fail "schedule-key-deletion output"
[ "$(awsk describe-key --key-id "$key" --query KeyMetadata.KeyState)" = "PendingDeletion" ] || fail "not PendingDeletion"
expect_fail KMSInvalidStateException awsk encrypt --key-id "$key" --plaintext "fileb://$work/plain.bin"
grep -q "is pending deletion" "$work/err" || fail "KMSInvalidStateException message: $(cat "$work/err")"
[ "$(awsk cancel-key-deletion --key-id "$key" --query KeyId)" = "$arn" ] || fail "cancel-key-deletion KeyId"
[ "$(awsk describe-key --key-id "$key" --query KeyMetadata.KeyState)" = "Disabled" ] || fail "not Disabled after cancel"
expect_fail DisabledException awsk encrypt --key-id "$key" --plaintext "fileb://$work/plain.bin"

step "imported key material: create-key --origin EXTERNAL, get-parameters-for-import, import-key-material"
if ! command -v openssl >/dev/null; then
  [ "${CI:-}" != true ] || fail "openssl is needed (Debian package openssl)"
  echo "openssl not installed (Debian package openssl): import step skipped"
else
ext=$(awsk create-key --origin EXTERNAL --query KeyMetadata.KeyId)
[ "$(awsk describe-key --key-id "$ext" --query KeyMetadata.KeyState)" = "PendingImport" ] || fail "EXTERNAL key not PendingImport"
awsk get-parameters-for-import --key-id "$ext" --wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_2048 \
  --query '[ImportToken,PublicKey]' >"$work/params"
cut -f1 "$work/params" | base64 -d >"$work/token.bin"
cut -f2 "$work/params" | base64 -d >"$work/wrapping.der"
openssl rand -out "$work/material.bin" 32
openssl pkeyutl -encrypt -pubin -keyform DER -inkey "$work/wrapping.der" -in "$work/material.bin" -out "$work/wrapped.bin" \
  -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256
awsk import-key-material --key-id "$ext" --import-token "fileb://$work/token.bin" \
  --encrypted-key-material "fileb://$work/wrapped.bin" --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE >/dev/null
[ "$(awsk describe-key --key-id "$ext" --query KeyMetadata.KeyState)" = "Enabled" ] || fail "not Enabled after import"
awsk encrypt --key-id "$ext" --plaintext "fileb://$work/plain.bin" --query CiphertextBlob | base64 -d >"$work/ext.ct"
awsk decrypt --ciphertext-blob "fileb://$work/ext.ct" --query Plaintext | base64 -d | cmp -s - "$work/plain.bin" ||
  fail "round trip through imported material"
fi

step "endpoint_url from the config file alone"
# endpoint_url in the shared config file is read by CLI v1 >= 1.29 and
# v2 >= 2.13; older CLIs fall back to --endpoint-url.
supports_endpoint_url() {
  local v major minor
  v=$(sed -n 's|^aws-cli/\([0-9]*\)\.\([0-9]*\)\..*|\1 \2|p' <<<"$version")
  read -r major minor <<<"$v"
  [ -n "${major:-}" ] || return 1
  { [ "$major" -eq 1 ] && [ "$minor" -ge 29 ]; } || { [ "$major" -ge 2 ] && { [ "$major" -gt 2 ] || [ "$minor" -ge 13 ]; }; }
}
if supports_endpoint_url; then
  [ "$(aws --output text kms describe-key --key-id alias/cli --query KeyMetadata.KeyId)" = "$key" ] ||
    fail "describe-key with endpoint_url from the config file"
  echo "endpoint_url from config: ok"
else
  [ "$(awsk describe-key --key-id alias/cli --query KeyMetadata.KeyId)" = "$key" ] || fail "describe-key"
  echo "endpoint_url in config not supported by $version; used --endpoint-url"
fi

echo "aws CLI: all KMS checks passed"
