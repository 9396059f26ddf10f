# Replays the seed corpus through the spf fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_spf" "$top_srcdir"/tests/fuzz/corpus/spf/*
