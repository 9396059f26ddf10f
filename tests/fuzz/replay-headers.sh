# Replays the seed corpus through the headers fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_headers" "$top_srcdir"/tests/fuzz/corpus/headers/*
