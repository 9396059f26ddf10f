# Replays the seed corpus through the smtp_parse fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_smtp_parse" "$top_srcdir"/tests/fuzz/corpus/smtp_parse/*
