# Replays the seed corpus through the message fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_message" "$top_srcdir"/tests/fuzz/corpus/message/*
