# Replays the seed corpus through the jwt fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_jwt" "$top_srcdir"/tests/fuzz/corpus/jwt/*
