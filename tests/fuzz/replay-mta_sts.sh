# Replays the seed corpus through the mta_sts fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_mta_sts" "$top_srcdir"/tests/fuzz/corpus/mta_sts/*
