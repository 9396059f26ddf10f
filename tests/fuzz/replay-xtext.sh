# Replays the seed corpus through the xtext fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_xtext" "$top_srcdir"/tests/fuzz/corpus/xtext/*
