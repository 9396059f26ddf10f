#!/bin/sh
# tests/ci.sh - the README's test command (and what .ci/run calls): installs
# what the build and the tests need, then builds from scratch and runs the
# whole suite twice, plainly and under ASan+UBSan, plus make distcheck and a
# short libFuzzer run of every fuzz entry point.  Exits non-zero on any
# failure; the last line is "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
jobs=$(nproc)

./install-deps.sh test

autoreconf -fi >/dev/null 2>&1

passed=0
failed=0
count() {
	# Sums automake's per-suite counts into the final line.
	log=$1/test-suite.log
	[ -f "$log" ] || return 0
	p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
	f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
	e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0} + ${e:-0}))
}

status=0
suite() {
	name=$1; shift
	dir=$top/build-ci-$name
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "== $name: configure $*"
	(cd "$dir" && "$top/configure" -q --enable-werror "$@" &&
	    make -s -j"$jobs" >/dev/null && make -s -j"$jobs" check) || status=1
	[ -f "$dir/test-suite.log" ] && sed -n '/^# TOTAL/,/^# ERROR/p' "$dir/test-suite.log"
	if [ "$status" != 0 ] && [ -f "$dir/test-suite.log" ]; then
		cat "$dir/test-suite.log"
	fi
	count "$dir"
}

suite plain
suite sanitizers --enable-sanitizers

echo "== systemd unit"
(cd "$top/build-ci-plain" && top_builddir=$PWD sh "$top/tests/unit_security.sh") ||
    true	# counted in make check; printed here for the record

echo "== distcheck"
(cd "$top/build-ci-plain" && make -s distcheck >/dev/null 2>&1) || {
	echo "distcheck FAILED"; status=1; failed=$((failed + 1)); }
[ "$status" = 0 ] && passed=$((passed + 1))

echo "== debian package (dpkg-buildpackage -b, lintian)"
debdir=$top/build-ci-deb
rm -rf "$debdir"
mkdir -p "$debdir/submitd"
# From the files git knows, as a clean clone has them.
(cd "$top" && git ls-files -z | tar --null -cf - -T -) | tar -xf - -C "$debdir/submitd"
if (cd "$debdir/submitd" && dpkg-buildpackage -us -uc -b >"$debdir/build.log" 2>&1); then
	lintian --tag-display-limit 0 --allow-root "$debdir"/submitd_*_amd64.deb \
	    >"$debdir/lintian.log" 2>&1 || true
	cat "$debdir/lintian.log"
	if grep -q '^E: ' "$debdir/lintian.log"; then
		echo "lintian: errors"; status=1; failed=$((failed + 1))
	else
		echo "built $(basename "$debdir"/submitd_*_amd64.deb)"
		passed=$((passed + 1))
	fi
else
	tail -40 "$debdir/build.log"
	echo "dpkg-buildpackage FAILED"; status=1; failed=$((failed + 1))
fi

echo "== fuzz smoke run (libFuzzer)"
fuzzdir=$top/build-ci-fuzz
mkdir -p "$fuzzdir"
for target in smtp_parse message headers auth_parse mta_sts dns_msg dkim spf jwt proxy \
    xtext journal; do
	clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined \
	    -include "$top/build-ci-plain/autoconf.h" -I"$top/src" \
	    "$top/src/smtp_parse.c" "$top/src/message.c" "$top/src/headers.c" \
	    "$top/src/auth_parse.c" "$top/src/util/netaddr.c" \
	    "$top/src/mta_sts.c" "$top/src/dns_msg.c" "$top/src/dkim_canon.c" \
	    "$top/src/spf.c" "$top/src/certmap.c" "$top/src/jwt.c" \
	    "$top/src/proxy.c" "$top/src/utf8.c" "$top/src/xtext.c" \
	    "$top/src/journal_rec.c" "$top/src/util/crc32c.c" \
	    "$top/tests/fuzz/fuzz_$target.c" -o "$fuzzdir/fuzz_$target" \
	    -ljansson -lunistring
	mkdir -p "$fuzzdir/corpus-$target"
	if "$fuzzdir/fuzz_$target" -max_total_time="${FUZZ_SECONDS:-30}" \
	    "$fuzzdir/corpus-$target" "$top/tests/fuzz/corpus/$target" \
	    >"$fuzzdir/$target.log" 2>&1; then
		passed=$((passed + 1))
		echo "fuzz_$target: $(grep -c . "$fuzzdir/$target.log" >/dev/null; tail -1 "$fuzzdir/$target.log")"
	else
		failed=$((failed + 1))
		status=1
		tail -40 "$fuzzdir/$target.log"
	fi
done

echo "$passed passed, $failed failed"
exit $status
