#!/bin/bash
# bench/queue_scale.sh - what a large queue costs submitd: memory per held
# message, the time a restart takes to load it (after a clean stop, and
# after kill -9, when the journal is replayed), and the spool's disk use.
#
#   bench/queue_scale.sh [--submitd PATH] [--loadgen PATH] [N ...]
#
# For each N (default: 20000 200000): a fresh spool, a smarthost that
# refuses connections (so every message is deferred and held, with a state
# file), N messages of 4 KiB injected by loadgen (C = 20, 100 per
# session); then PSS minus PSS at rest, per message; kill -9 at once and a
# start, timed until the queue is loaded (the journal replayed, if there
# is one); a clean stop and a start, timed likewise.  Prints one table.
# As root (the daemon runs as nobody).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
SUBMITD=$top/build-dev/submitd
LOADGEN=
SIZES=()
while [ $# -gt 0 ]; do
	case $1 in
	--submitd) SUBMITD=$2; shift ;;
	--loadgen) LOADGEN=$2; shift ;;
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	*) SIZES+=("$1") ;;
	esac
	shift
done
[ ${#SIZES[@]} -gt 0 ] || SIZES=(20000 200000)
[ "$(id -u)" = 0 ] || { echo "queue_scale.sh: run as root" >&2; exit 1; }

W=$(mktemp -d /tmp/submitd-qscale.XXXXXX)
chmod 755 "$W"	# the daemon's user reaches the spool and the socket
PID=
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pss_kib() { awk '/^Pss:/ { print $2 }' "/proc/$1/smaps_rollup"; }
ctl() { "${SUBMITD%/*}/submitctl" -s "$W/run/control.sock" "$@"; }
stat_of() { ctl stats | awk -v k="$1" '$1 == k { print $2 }'; }

if [ -z "$LOADGEN" ]; then
	LOADGEN=$W/loadgen
	cc -O2 -o "$LOADGEN" "$top/bench/loadgen.c" $(pkg-config --cflags --libs \
	    libevent libevent_openssl openssl) -lpthread -lm
fi
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$W/key.pem" -out "$W/cert.pem" -days 2 \
    -subj "/CN=relay.example.test" >/dev/null 2>&1
chmod 644 "$W/key.pem"

# Starts the daemon; sets PID, and SECS to the seconds until it is serving
# (its "event=start" line, logged once the queue is loaded: the listening
# socket itself is open, and takes connections into its backlog, earlier).
start() {
	local t0 t1 n
	n=$(grep -c 'event=start version' "$W/submitd.log" 2>/dev/null || true)
	t0=$(date +%s.%N)
	setsid "$SUBMITD" -d -f "$W/submitd.conf" >> "$W/submitd.log" 2>&1 < /dev/null &
	PID=$!
	until [ "$(grep -c 'event=start version' "$W/submitd.log")" -gt "${n:-0}" ]; do
		if ! kill -0 "$PID" 2>/dev/null ||
		    grep -q '^State:.*Z' "/proc/$PID/status" 2>/dev/null; then
			tail "$W/submitd.log" >&2
			exit 1
		fi
		sleep 0.005
	done
	t1=$(date +%s.%N)
	until [ -S "$W/run/control.sock" ]; do sleep 0.01; done
	SECS=$(awk "BEGIN { printf \"%.2f\", $t1 - $t0 }")
}

stop() {
	kill -TERM "$PID"
	while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
	PID=
}

row() { printf '%-52s %s\n' "$@"; }
out=()
for N in "${SIZES[@]}"; do
	rm -rf "$W/spool" "$W/run" "$W/submitd.log"
	mkdir -p "$W/spool" "$W/run"
	chown nobody:nogroup "$W/spool" "$W/run"
	printf 'bench-Passw0rd' | saslpasswd2 -c -p -f "$W/sasldb2" -u example.test alice
	chown nobody "$W/sasldb2"
	PORT=$(free_port)
	DOWN=$(free_port)	# nothing listens there
	cat > "$W/submitd.conf" <<EOF
hostname       = "relay.example.test"
user           = "nobody"
spool_dir      = "$W/spool"
control_socket = "$W/run/control.sock"
local_domains  = {"example.test"}
listen {
  address = "127.0.0.1"
  port    = $PORT
  tls     = "starttls"
}
tls {
  certificate = "$W/cert.pem"
  key         = "$W/key.pem"
}
auth {
  mechanisms = {"PLAIN"}
  sasldb     = "$W/sasldb2"
  pwcheck    = "auxprop"
}
limits {
  connection_rate     = 0
  messages_per_hour   = 0
  recipients_per_hour = 0
}
relay {
  smarthost = "[127.0.0.1]:$DOWN"
  tls       = "none"
}
queue {
  retry_min = 3600
  retry_max = 3600
}
EOF
	say "N=$N: starting"
	start
	sleep 1
	rest=$(pss_kib "$PID")
	say "N=$N: injecting"
	t0=$(date +%s.%N)
	"$LOADGEN" -p "$PORT" -c 20 -n $((N / 100)) -m 100 -s 4096 \
	    -u alice@example.test -w bench-Passw0rd --max-time 3600 > "$W/loadgen.out"
	t1=$(date +%s.%N)
	# Held: every message tried once (deferred), its state written.
	until [ "$(stat_of deferred)" -ge "$N" ]; do sleep 0.5; done
	sleep 2
	held=$(pss_kib "$PID")
	fsyncs=$(stat_of fsyncs_per_message)
	disk=$(du -sk "$W/spool" | awk '{ print $1 }')
	say "N=$N: kill -9 and restart"
	kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
	segments=$( (ls "$W/spool/journal" 2>/dev/null || true) | wc -l)
	start
	crash=$SECS
	replayed=$(awk '/event=journal-replay/ { for (i = 1; i <= NF; i++)
	    if ($i ~ /^records=/) { sub("records=", "", $i); n += $i } }
	    END { print n + 0 }' "$W/submitd.log")
	until [ "$(stat_of queued)" -ge "$N" ]; do sleep 0.1; done
	say "N=$N: clean restart"
	stop
	start
	clean=$SECS
	until [ "$(stat_of queued)" -ge "$N" ]; do sleep 0.1; done
	sleep 1
	loaded=$(pss_kib "$PID")
	stop
	out+=("$(row "[$N messages held]")")
	out+=("$(row "  injected, messages/s" "$(awk "BEGIN { printf \"%.0f\", $N / ($t1 - $t0) }")")")
	out+=("$(row "  fsyncs per accepted message (stats)" "$fsyncs")")
	out+=("$(row "  PSS KiB per held message (after injection)" "$(awk "BEGIN { printf \"%.2f\", ($held - $rest) / $N }")")")
	out+=("$(row "  PSS KiB per held message (after a restart)" "$(awk "BEGIN { printf \"%.2f\", ($loaded - $rest) / $N }")")")
	out+=("$(row "  start after kill -9 at once, s (queue loaded)" "$crash")")
	out+=("$(row "  start after a clean stop, s (queue loaded)" "$clean")")
	out+=("$(row "  journal at the kill: segments, records replayed" "$segments, $replayed")")
	out+=("$(row "  spool on disk, KiB per message" "$(awk "BEGIN { printf \"%.2f\", $disk / $N }")")")
done
echo "submitd queue scale: $SUBMITD"
printf '%s\n' "${out[@]}"
