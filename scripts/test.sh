#!/usr/bin/env bash
# make test's go test step: every package with the race detector. A package
# that fails is run once more on its own, and the first failure is printed
# as FLAKY either way: a second failure fails the suite; a pass means a
# timing-sensitive test to fix (the machine is 2 shared cores), never a
# result to ignore. Set TEST_NO_RERUN=1 to fail on the first failure.
set -uo pipefail
go=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
$go test -race -count=1 -timeout 20m ./... 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] && exit 0
failed=$(grep -E '^FAIL[[:space:]]+github.com/' "$out" | awk '{print $2}' | sort -u)
if [ -z "$failed" ] || [ -n "${TEST_NO_RERUN:-}" ]; then
  exit "$status"
fi
echo
echo "== FLAKY? these packages failed; the failing tests were:"
grep -E '^\s*--- FAIL' "$out" | sed 's/^/==   /'
echo "== running each once more on its own:"
rc=0
for pkg in $failed; do
  echo "== $pkg"
  $go test -race -count=1 -timeout 20m "$pkg" || rc=1
done
if [ "$rc" -eq 0 ]; then
  echo "== FLAKY: the failures above did not repeat; fix those tests."
fi
exit "$rc"
