#!/bin/sh
# demo.sh - the README's run command: from a fresh Debian 12 machine (as root)
# to a running submitd on port 587 with a demo certificate and login.
#
#   ./demo.sh            install, build, set up ./demo-state, run in the foreground
#   PORT=2587 ./demo.sh  listen elsewhere
set -eu
cd "$(dirname "$0")"
top=$(pwd)
state=$top/demo-state
port=${PORT:-587}
login=demo@example.test
password=${DEMO_PASSWORD:-demo-password}

./install-deps.sh

echo "== building in build-demo/"
[ -x configure ] || autoreconf -fi >/dev/null 2>&1
mkdir -p build-demo
(cd build-demo && { [ -f Makefile ] || ../configure -q; } && make -j"$(nproc)" >/dev/null)
bin=$top/build-demo

echo "== setting up $state"
mkdir -p "$state"
if [ ! -f "$state/key.pem" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -days 365 -subj "/CN=relay.example.test" \
	    -keyout "$state/key.pem" -out "$state/cert.pem" 2>/dev/null
fi
printf '%s' "$password" | saslpasswd2 -c -p -f "$state/sasldb2" -u example.test demo

# Started as root, submitd drops to an unprivileged user, which must be able
# to read the sasldb.  If this checkout is somewhere that user cannot reach
# (under /root, say), the demo stays root and says so.
user=submitd
if [ "$(id -u)" = 0 ]; then
	id "$user" >/dev/null 2>&1 || useradd --system --no-create-home \
	    --home-dir /nonexistent --shell /usr/sbin/nologin "$user"
	chown "root:$user" "$state/sasldb2"
	chmod 640 "$state/sasldb2"
	if ! runuser -u "$user" -- test -r "$state/sasldb2"; then
		echo "note: user $user cannot reach $state; the demo runs as root"
		user=root
	fi
else
	user=$(id -un)
fi

cat > "$state/submitd.conf" <<CONF
# Demo configuration written by demo.sh; see submitd.conf(5).
hostname       = "relay.example.test"
user           = "$user"
spool_dir      = "$state/spool"
control_socket = "$state/control.sock"
local_domains  = {"example.test"}
listen {
  address = "0.0.0.0"
  port    = $port
  tls     = "starttls"
}
tls {
  certificate = "$state/cert.pem"
  key         = "$state/key.pem"
  min_version = "1.2"
}
auth {
  mechanisms = {"PLAIN", "LOGIN", "SCRAM-SHA-256"}
  sasldb     = "$state/sasldb2"
}
CONF
"$bin/submitd" -n -f "$state/submitd.conf"

cat <<MSG

== submitd is starting on port $port (Ctrl-C stops it).  In another terminal:

  swaks --server 127.0.0.1:$port --tls --auth PLAIN \\
        --auth-user $login --auth-password '$password' \\
        --from $login --to someone@example.org

  then look at the queue:           build-demo/submitctl -s $state/control.sock queue
  and the counters:                 build-demo/submitctl -s $state/control.sock stats

MSG
exec "$bin/submitd" -d -f "$state/submitd.conf"
