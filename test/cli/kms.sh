#!/usr/bin/env bash
# Drives a running Arca with the aws CLI. Needs ARCA_ENDPOINT and the data
# dir's AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE in the environment.
# Run by test/e2e's TestAWSCLI; usable by hand against `arca server --dev`.
set -euo pipefail
: "${ARCA_ENDPOINT:?set ARCA_ENDPOINT}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awsk() { aws --endpoint-url "$ARCA_ENDPOINT" --output text kms "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

key=$(awsk create-key --description "cli test" --tags TagKey=team,TagValue=cli --query KeyMetadata.KeyId)
[[ $key =~ ^[0-9a-f-]{36}$ ]] || fail "create-key returned '$key'"
awsk create-alias --alias-name alias/cli --target-key-id "$key"
[ "$(awsk describe-key --key-id alias/cli --query KeyMetadata.KeyId)" = "$key" ] || fail "describe-key by alias"
[ "$(awsk describe-key --key-id "$key" --query KeyMetadata.KeyState)" = "Enabled" ] || fail "key not Enabled"

head -c 3000 /dev/urandom > "$work/plain.bin"
awsk encrypt --key-id alias/cli --plaintext "fileb://$work/plain.bin" --encryption-context purpose=cli \
  --query CiphertextBlob | base64 -d > "$work/cipher.bin"
awsk decrypt --ciphertext-blob "fileb://$work/cipher.bin" --encryption-context purpose=cli \
  --query Plaintext | base64 -d > "$work/back.bin"
cmp "$work/plain.bin" "$work/back.bin" || fail "decrypt did not return the plaintext"
if awsk decrypt --ciphertext-blob "fileb://$work/cipher.bin" 2>"$work/err"; then fail "decrypt without context succeeded"; fi
grep -q InvalidCiphertextException "$work/err" || fail "wrong error without context: $(cat "$work/err")"

awsk generate-data-key --key-id alias/cli --key-spec AES_256 --query Plaintext | base64 -d > "$work/dk.bin"
[ "$(wc -c < "$work/dk.bin")" -eq 32 ] || fail "data key is not 32 bytes"
awsk generate-data-key --key-id "$key" --number-of-bytes 64 --query CiphertextBlob | base64 -d > "$work/dk.enc"
awsk decrypt --ciphertext-blob "fileb://$work/dk.enc" --query Plaintext | base64 -d > "$work/dk2.bin"
[ "$(wc -c < "$work/dk2.bin")" -eq 64 ] || fail "decrypted data key is not 64 bytes"

awsk list-keys --query 'Keys[].KeyId' | grep -q "$key" || fail "list-keys misses the key"
[ "$(awsk list-aliases --key-id "$key" --query 'Aliases[0].AliasName')" = "alias/cli" ] || fail "list-aliases"
awsk tag-resource --key-id "$key" --tags TagKey=env,TagValue=test
[ "$(awsk list-resource-tags --key-id "$key" --query 'Tags[?TagKey==`env`].TagValue')" = "test" ] || fail "list-resource-tags"

awsk schedule-key-deletion --key-id "$key" --pending-window-in-days 7 >/dev/null
[ "$(awsk describe-key --key-id "$key" --query KeyMetadata.KeyState)" = "PendingDeletion" ] || fail "not PendingDeletion"
if awsk encrypt --key-id "$key" --plaintext "fileb://$work/plain.bin" 2>"$work/err"; then fail "encrypt with a key pending deletion"; fi
grep -q KMSInvalidStateException "$work/err" || fail "wrong error: $(cat "$work/err")"
awsk cancel-key-deletion --key-id "$key" >/dev/null
[ "$(awsk describe-key --key-id "$key" --query KeyMetadata.KeyState)" = "Disabled" ] || fail "not Disabled after cancel"
echo "aws CLI: all KMS checks passed"
