# Replays the seed corpus through the dkim fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_dkim" "$top_srcdir"/tests/fuzz/corpus/dkim/*
