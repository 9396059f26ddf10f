# Replays the seed corpus through the proxy fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_proxy" "$top_srcdir"/tests/fuzz/corpus/proxy/*
