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
	fakeroot postfix"

packages=$build
[ "${1:-}" = test ] && packages="$build $test"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

echo "== installing dependencies (apt-get)"
as_root apt-get update -qq
# Postfix is a next hop the tests start with their own configuration
# (tests/integration/peers.py): the package gets "No configuration", and
# its scripts may not start the system's instance while it installs.
policy=
if [ "${1:-}" = test ]; then
	echo "postfix postfix/main_mailer_type select No configuration" |
		as_root debconf-set-selections
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
		as_root chmod 755 /usr/sbin/policy-rc.d
		policy=/usr/sbin/policy-rc.d
		trap 'as_root rm -f "$policy"' EXIT
	fi
fi
# shellcheck disable=SC2086
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages \
	>/dev/null
