# Replays the seed corpus through the dns_msg fuzz entry point (run by make check).
set -e
exec "$top_builddir/tests/fuzz/fuzz_dns_msg" "$top_srcdir"/tests/fuzz/corpus/dns_msg/*
