#!/bin/sh
# install-deps.sh - the Debian packages submitd needs, installed with apt-get.
#
#   ./install-deps.sh        to build and run (the README's run command)
#   ./install-deps.sh test   also what the test suite talks to
set -eu

# netbase: /etc/protocols and /etc/services, which a minimal root (mmdebstrap)
# lacks and without which swaks says "Bad protocol 'tcp'".
build="build-essential autoconf automake pkg-config netbase libssl-dev libevent-dev
	libsasl2-dev libsasl2-modules libsasl2-modules-db sasl2-bin
	libconfuse-dev libjansson-dev libunistring-dev libdb5.3-dev libc-ares-dev libcurl4-openssl-dev zlib1g-dev openssl swaks"
test="clang python3 curl msmtp python3-aiosmtpd dnsmasq-base nmap mandoc
	nsd unbound ldnsutils python3-dkim python3-nacl python3-jwt
	python3-cryptography slapd haproxy prometheus systemd debhelper lintian
	fakeroot"

packages=$build
[ "${1:-}" = test ] && packages="$build $test"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== installing dependencies (apt-get)"
as_root apt-get update -qq
# shellcheck disable=SC2086
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages \
	>/dev/null
