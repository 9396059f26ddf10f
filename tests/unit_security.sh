# The shipped unit's exposure (systemd-analyze security --offline): printed,
# and at most 2.0 (run by make check; skipped without systemd-analyze).
set -eu
unit="$top_builddir/etc/submitd.service"
command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: no systemd-analyze"; exit 77; }
[ -f "$unit" ] || (cd "$top_builddir" && make -s etc/submitd.service)
out=$(systemd-analyze security --offline=true "$unit" 2>&1) || true
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: exposure $score"
[ -n "$score" ] || { printf '%s\n' "$out"; exit 1; }
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || {
	printf '%s\n' "$out" | grep '✗'; exit 1; }
