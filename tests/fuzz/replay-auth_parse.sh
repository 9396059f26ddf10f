# Replays the seed corpus through the SASL message parser's fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_auth_parse" "$top_srcdir"/tests/fuzz/corpus/auth_parse/*
