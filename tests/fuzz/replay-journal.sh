# Replays the seed corpus through the journal fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_journal" "$top_srcdir"/tests/fuzz/corpus/journal/*
