#!/bin/bash
# compare.sh - run the same submission loads against submitd, Postfix and
# chasquid on this machine, one server at a time, and print one table with
# each figure and the ratio submitd/other.
#
#   bench/compare.sh [--quick] [--servers "submitd postfix chasquid"]
#                    [--submitd PATH] [--no-install] [--perf] [--pin] [--keep]
#
# Run as root on Debian 12.  It installs what it needs with apt-get, builds
# submitd (an optimised build from a copy of this tree) and bench/loadgen,
# and runs every server on 127.0.0.1, on free ports, with its configuration,
# queue and logs in a private directory under /tmp (the same disk for all).
# Every process it starts is stopped by pid at exit; no system service is
# left running.
#
# The same conditions for each server: one self-signed ECDSA P-256
# certificate, TLS 1.2 as the floor, STARTTLS and AUTH PLAIN required on the
# submission port, queue files fsynced before "250", and relaying to the
# same sink (Postfix's smtp-sink): submitd and Postfix through a smarthost
# setting, chasquid by MX through a private dnsmasq (chasquid has no
# smarthost setting; it runs in a mount namespace whose /etc/resolv.conf
# points at that dnsmasq).
#
# Loads (C = 20 concurrent sessions, 4 KiB messages; --quick: smaller):
#   (a) handshake-bound: 2000 sessions x 1 message
#   (b) throughput-bound: 100 sessions x 50 messages
#   (c) end-to-end: time from the start of (b) until all its messages
#       reached the sink
#   (d) memory: PSS of all server processes with 2000 idle authenticated
#       TLS sessions, minus PSS at rest, per session
#   (e) submitd only: 10,000 idle authenticated TLS sessions held, and a
#       fresh session timed while they are
#
# Environment: LOADGEN_THREADS (default 1) event loops in the load
# generator; SUBMITD_EXTRA: extra lines for submitd.conf (e.g. to compare
# settings); HOLD: seconds to hold idle sessions.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
COMMAND="bench/compare.sh${*:+ $*}"
QUICK=0
SERVERS="submitd postfix chasquid"
SUBMITD_BIN=
INSTALL=1
PERF=0
PIN=0
KEEP=0

usage() {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	exit "${1:-2}"
}

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) QUICK=1 ;;
	--servers) SERVERS=$2; shift ;;
	--submitd) SUBMITD_BIN=$2; shift ;;
	--no-install) INSTALL=0 ;;
	--perf) PERF=1 ;;
	--pin) PIN=1 ;;
	--keep) KEEP=1 ;;
	-h|--help) usage 0 ;;
	*) usage ;;
	esac
	shift
done

# ------------------------------------------------------------------ sizes

CONC=20
SIZE=4096
if [ "$QUICK" = 1 ]; then
	A_SESSIONS=200; A2_SESSIONS=100; B_SESSIONS=20; B_MESSAGES=20
	D_IDLE=200; E_IDLE=1000; HOLD=${HOLD:-4}; REPEAT=${REPEAT:-1}
else
	A_SESSIONS=2000; A2_SESSIONS=500; B_SESSIONS=100; B_MESSAGES=50
	D_IDLE=2000; E_IDLE=10000; HOLD=${HOLD:-10}; REPEAT=${REPEAT:-3}
fi
# (f): submitd again with one event loop, when it has more than one CPU
ONE_LOOP=0
[ "$(nproc)" -gt 1 ] && ONE_LOOP=1
# --pin: the server on the last CPU, the load generator and the sink on the
# others, so that each server is measured on a CPU of its own (as with a
# load generator on another machine) instead of sharing with the client.
SRV_PIN=()
CLI_PIN=()
if [ "$PIN" = 1 ]; then
	last=$(( $(nproc) - 1 ))
	[ "$last" -ge 1 ] || { echo "compare.sh: --pin needs two CPUs" >&2; exit 2; }
	SRV_PIN=(taskset -c "$last")
	CLI_PIN=(taskset -c "0-$(( last - 1 ))")
	ONE_LOOP=0
fi
RAMP=64                          # idle sessions setting up at once
THREADS=${LOADGEN_THREADS:-1}
DOMAIN=example.test
LOGIN=alice@$DOMAIN
PASSWORD=bench-Passw0rd
RCPT=bob@example.org             # remote: every server must relay it
HOSTNAME_=relay.example.test

# ---------------------------------------------------------------- helpers

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }
now() { date +%s.%N; }
calc() { awk "BEGIN { v = $1; printf \"%.${2:-1}f\", v }"; }

[ "$(id -u)" = 0 ] || die "run as root (apt-get, private users and the loopback ports)"

W=$(mktemp -d /tmp/submitd-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$W"
PIDS=()                 # processes to stop at exit (pids, never names)
POSTFIX_DIRS=()         # Postfix instances to "postfix stop"
CREATED_POLICY_RC=0

stop_pid() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
}

cleanup() {
	local d pid
	for d in "${POSTFIX_DIRS[@]}"; do
		postfix -c "$d/etc" stop >/dev/null 2>&1
	done
	for pid in "${PIDS[@]}"; do
		stop_pid "$pid"
	done
	[ "$CREATED_POLICY_RC" = 1 ] && rm -f /usr/sbin/policy-rc.d
	if [ "$KEEP" = 1 ]; then
		say "kept $W"
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A TCP port on 127.0.0.1 that nothing listens on, below the ephemeral range.
USED_PORTS=" "
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		case "$USED_PORTS" in *" $p "*) continue ;; esac
		if [ -z "$(ss -Htln "sport = :$p")" ]; then
			USED_PORTS="$USED_PORTS$p "
			echo "$p"
			return
		fi
	done
}

wait_port() {   # port seconds
	for _ in $(seq $(($2 * 10))); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# Pids of a process and all its descendants.
tree_pids() {
	ps -e -o pid=,ppid= | awk -v root="$1" '
		{ kids[$2] = kids[$2] " " $1 }
		END {
			queue[1] = root; n = 1
			for (i = 1; i <= n; i++) {
				print queue[i]
				m = split(kids[queue[i]], k, " ")
				for (j = 1; j <= m; j++) queue[++n] = k[j]
			}
		}'
}

# PSS in KiB, summed over a process tree.
tree_pss() {
	local pid total=0 v
	for pid in $(tree_pids "$1"); do
		v=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup" 2>/dev/null)
		total=$((total + ${v:-0}))
	done
	echo "$total"
}

# CPU seconds (user + system, reaped children included) of a process tree.
tree_cpu() {
	local pid ticks=0 t hz
	hz=$(getconf CLK_TCK)
	for pid in $(tree_pids "$1"); do
		# fields after the command name: utime stime cutime cstime are 12-15
		t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null |
			awk '{ print $12 + $13 + $14 + $15 }')
		ticks=$((ticks + ${t:-0}))
	done
	calc "$ticks / $hz" 3
}

# value of key=... in the RESULT line of a loadgen output file
result() { sed -n 's/^RESULT //p' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }

sink_count() {
	tr '\r' '\n' < "$W/sink/out" | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -n 1 |
		grep . || echo 0
}

wait_sink() {   # count seconds -> 0 when reached
	local deadline
	deadline=$(( $(date +%s) + $2 ))
	while [ "$(sink_count)" -lt "$1" ]; do
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# ---------------------------------------------------------------- install

install_packages() {
	local want=(gcc make autoconf automake pkg-config libssl-dev libevent-dev
	    libconfuse-dev libsasl2-dev libc-ares-dev openssl sasl2-bin
	    libsasl2-modules libsasl2-modules-db dnsmasq-base iproute2 util-linux
	    procps)
	local missing=() p
	for p in "${want[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	case " $SERVERS " in *" postfix "*)
		if ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed'; then
			if dpkg-query -W -f='${Status}' chasquid 2>/dev/null | grep -q 'install ok installed'; then
				die "chasquid is installed as a package and conflicts with postfix; remove it or use --servers"
			fi
			missing+=(postfix)
		fi ;;
	esac
	if [ "$PERF" = 1 ] && ! command -v perf >/dev/null; then
		missing+=(linux-perf)
	fi
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing: ${missing[*]}"
	# Package scripts must not start system services (Postfix would).
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		CREATED_POLICY_RC=1
	fi
	echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	apt-get update -q >/dev/null || die "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    "${missing[@]}" > "$W/apt.log" 2>&1 || { tail "$W/apt.log" >&2; die "apt-get install failed"; }
	# Should a system Postfix have started anyway, stop it.
	if [ -s /var/spool/postfix/pid/master.pid ] &&
	    kill -0 "$(tr -d ' ' < /var/spool/postfix/pid/master.pid)" 2>/dev/null; then
		postfix stop >/dev/null 2>&1
	fi
	if [ "$CREATED_POLICY_RC" = 1 ]; then
		rm -f /usr/sbin/policy-rc.d
		CREATED_POLICY_RC=0
	fi
}

# chasquid conflicts with postfix as a Debian package: unpack it privately.
CHASQUID=
fetch_chasquid() {
	if dpkg-query -W -f='${Status}' chasquid 2>/dev/null | grep -q 'install ok installed'; then
		CHASQUID=/usr/bin/chasquid
		return
	fi
	mkdir -p "$W/debs" && chmod 777 "$W/debs"
	(cd "$W/debs" && apt-get download chasquid >/dev/null 2>&1) ||
		{ apt-get update -q >/dev/null; (cd "$W/debs" && apt-get download chasquid >/dev/null 2>&1); } ||
		die "apt-get download chasquid failed"
	dpkg -x "$W"/debs/chasquid_*.deb "$W/chasquid-pkg" || die "dpkg -x chasquid failed"
	CHASQUID=$W/chasquid-pkg/usr/bin/chasquid
}

# ------------------------------------------------------------------ build

build() {
	say "building loadgen"
	mkdir -p "$W/bin"
	# shellcheck disable=SC2046
	gcc -std=c11 -O2 -g -Wall -Wextra -Werror -o "$W/bin/loadgen" "$TOP/bench/loadgen.c" \
	    $(pkg-config --cflags --libs libevent libevent_openssl openssl) -lm -pthread ||
		die "cannot build loadgen"
	LOADGEN=$W/bin/loadgen
	case " $SERVERS " in *" submitd "*) ;; *) return ;; esac
	if [ -n "$SUBMITD_BIN" ]; then
		SUBMITD=$SUBMITD_BIN
		return
	fi
	say "building submitd (optimised, from a copy of $TOP)"
	mkdir -p "$W/src"
	tar -C "$TOP" --exclude=./.git --exclude='./build-*' --exclude=./autom4te.cache \
	    --exclude=./demo-state --exclude='*.o' --exclude='*.a' --warning=no-file-ignored \
	    -cf - . | tar -C "$W/src" -xf - || die "cannot copy the tree"
	(
		cd "$W/src" || exit 1
		[ -f config.status ] && make distclean >/dev/null 2>&1
		autoreconf -fi && mkdir -p build && cd build &&
		    ../configure CFLAGS="-O2 -g" && make -j"$(nproc)" submitd submitctl
	) > "$W/build.log" 2>&1 || { tail -20 "$W/build.log" >&2; die "cannot build submitd"; }
	SUBMITD=$W/src/build/submitd
}

# ------------------------------------------------------------ shared setup

common_setup() {
	mkdir -p "$W/tls" "$W/sink"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -subj "/CN=$HOSTNAME_" -addext "subjectAltName=DNS:$HOSTNAME_" -days 7 \
	    -keyout "$W/tls/key.pem" -out "$W/tls/cert.pem" >/dev/null 2>&1 ||
		die "cannot make the certificate"
	chmod 644 "$W/tls/cert.pem"
	SINK_PORT=$(free_port)
	# smtp-sink: accepts everything, no TLS; -c keeps a message counter.
	setsid "${CLI_PIN[@]}" smtp-sink -c -u nobody -m 2000 "127.0.0.1:$SINK_PORT" 1024 \
	    > "$W/sink/out" 2>&1 < /dev/null &
	PIDS+=($!)
	wait_port "$SINK_PORT" 10 || die "smtp-sink did not start"
}

make_sasldb() {  # path owner
	printf '%s' "$PASSWORD" | saslpasswd2 -c -p -f "$1" -u "$DOMAIN" "${LOGIN%@*}" ||
		die "saslpasswd2 failed"
	chown "$2" "$1"
	chmod 600 "$1"
}

# ---------------------------------------------------------------- servers
# Each start_X sets SERVER_PID (the root of its process tree) and PORT.

start_submitd() {
	local d=$W/submitd
	mkdir -p "$d/spool" "$d/run"
	make_sasldb "$d/sasldb2" nobody
	# Only the spool and the control socket's directory are the daemon's:
	# submitd refuses either under a directory its user could change
	# (submitd(8), Start-up).
	chown nobody:nogroup "$d/spool" "$d/run"
	PORT=$(free_port)
	cat > "$d/submitd.conf" <<EOF
hostname       = "$HOSTNAME_"
user           = "nobody"
spool_dir      = "$d/spool"
control_socket = "$d/run/control.sock"
local_domains  = {"$DOMAIN"}
listen {
  address = "127.0.0.1"
  port    = $PORT
  tls     = "starttls"
}
tls {
  certificate = "$W/tls/cert.pem"
  key         = "$W/tls/key.pem"
  min_version = "1.2"
}
auth {
  mechanisms = {"PLAIN", "LOGIN"}
  sasldb     = "$d/sasldb2"
  pwcheck    = "auxprop"
}
# All the load comes from 127.0.0.1 and one login: lift the per-address and
# per-login limits (Postfix's anvil limits are lifted likewise).
limits {
  connections         = $((E_IDLE + 1000))
  connections_per_ip  = $((E_IDLE + 1000))
  connection_rate     = 0
  messages_per_hour   = 0
  recipients_per_hour = 0
}
relay {
  smarthost = "[127.0.0.1]:$SINK_PORT"
  tls       = "may"
}
${SUBMITD_EXTRA:-}
EOF
	"$SUBMITD" -n -f "$d/submitd.conf" > "$d/check.log" 2>&1 ||
		{ cat "$d/check.log" >&2; die "submitd -n rejected the configuration"; }
	setsid "${SRV_PIN[@]}" "$SUBMITD" -d -f "$d/submitd.conf" > "$d/submitd.log" 2>&1 < /dev/null &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_port "$PORT" 10 || { tail "$d/submitd.log" >&2; die "submitd did not start"; }
}

POSTFIX_MAXPROC=
start_postfix() {
	local d=$W/postfix
	mkdir -p "$d/etc/sasl" "$d/queue" "$d/data"
	chown postfix "$d/data"
	make_sasldb "$d/etc/sasl/sasldb2" postfix
	PORT=$(free_port)
	# Postfix's default_process_limit (100) caps concurrent sessions at 100;
	# (d) needs more, so the submission service gets a higher limit.
	POSTFIX_MAXPROC=$((D_IDLE + 100))
	# Debian's Postfix reads Cyrus SASL settings from $config_directory/sasl.
	cat > "$d/etc/sasl/smtpd.conf" <<EOF
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $d/etc/sasl/sasldb2
EOF
	cat > "$d/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
shlib_directory = /usr/lib/postfix
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = $HOSTNAME_
mydomain = $DOMAIN
myorigin = \$mydomain
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:$SINK_PORT
smtp_tls_security_level = may
smtpd_tls_security_level = encrypt
smtpd_tls_chain_files = $W/tls/key.pem, $W/tls/cert.pem
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions = permit_sasl_authenticated, reject
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
maillog_file = $d/data/maillog
maillog_file_prefixes = $d/data
biff = no
EOF
	cat > "$d/etc/master.cf" <<EOF
127.0.0.1:$PORT inet n - n - $POSTFIX_MAXPROC smtpd
  -o syslog_name=postfix/submission
EOF
	cat "$TOP/tests/postfix-master.cf" >> "$d/etc/master.cf"
	POSTFIX_DIRS+=("$d")
	"${SRV_PIN[@]}" postfix -c "$d/etc" start > "$d/start.log" 2>&1 ||
		{ cat "$d/start.log" "$d/data/maillog" >&2 2>/dev/null; die "Postfix did not start"; }
	wait_port "$PORT" 10 || die "Postfix does not listen on $PORT"
	SERVER_PID=$(tr -d ' ' < "$d/queue/pid/master.pid")
}

stop_postfix() {
	postfix -c "$W/postfix/etc" stop >/dev/null 2>&1
	for _ in $(seq 100); do
		kill -0 "$SERVER_PID" 2>/dev/null || return 0
		sleep 0.1
	done
}

start_chasquid() {
	local d=$W/chasquid dns_ip port_smtp
	mkdir -p "$d/etc/certs/$HOSTNAME_" "$d/etc/domains/$DOMAIN" "$d/data" "$d/log"
	cp "$W/tls/cert.pem" "$d/etc/certs/$HOSTNAME_/fullchain.pem"
	cp "$W/tls/key.pem" "$d/etc/certs/$HOSTNAME_/privkey.pem"
	PORT=$(free_port)
	port_smtp=$(free_port)
	cat > "$d/etc/chasquid.conf" <<EOF
hostname: "$HOSTNAME_"
smtp_address: "127.0.0.1:$port_smtp"
submission_address: "127.0.0.1:$PORT"
submission_over_tls_address: ""
mail_delivery_agent_bin: "/bin/true"
data_dir: "$d/data"
mail_log_path: "$d/log/mail.log"
EOF
	"$(dirname "$CHASQUID")/chasquid-util" -C="$d/etc" user-add "$LOGIN" \
	    --password="$PASSWORD" > /dev/null || die "chasquid-util user-add failed"
	chown -R mail:mail "$d"
	chmod 600 "$d/etc/certs/$HOSTNAME_/privkey.pem"

	# DNS for chasquid's MX lookups: example.org MX -> mx.sink.test -> 127.0.0.1,
	# served on port 53 (resolv.conf has no port) of a loopback address that
	# nothing else uses.
	for _ in $(seq 100); do
		dns_ip=127.0.$((RANDOM % 200 + 20)).$((RANDOM % 200 + 20))
		ss -Htlnu 'sport = :53' | awk '{ print $5 }' |
		    grep -qE "^(0\.0\.0\.0|\*|\[::\]|$dns_ip):53$" || break
	done
	setsid dnsmasq -k --conf-file=/dev/null --no-resolv --no-hosts --bind-interfaces \
	    --listen-address="$dns_ip" --port=53 --user=nobody --pid-file= \
	    --mx-host=example.org,mx.sink.test,10 --host-record=mx.sink.test,127.0.0.1 \
	    > "$W/dnsmasq.log" 2>&1 < /dev/null &
	PIDS+=($!)
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$dns_ip" > "$d/resolv.conf"
	sleep 0.3
	kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$W/dnsmasq.log" >&2; die "dnsmasq did not start"; }

	# chasquid delivers to port 25 of the MX; its testing flag points it at
	# the sink's port instead.  It runs as "mail", like Debian's unit.
	setsid "${SRV_PIN[@]}" unshare -m --propagation private sh -c \
	    "mount --bind '$d/resolv.conf' /etc/resolv.conf &&
	     exec setpriv --reuid=mail --regid=mail --init-groups '$CHASQUID' \
	     -config_dir '$d/etc' -testing__outgoing_smtp_port=$SINK_PORT \
	     -logfile '$d/log/chasquid.log'" > "$d/out.log" 2>&1 < /dev/null &
	SERVER_PID=$!
	PIDS+=("$SERVER_PID")
	wait_port "$PORT" 15 || { cat "$d/out.log" >&2; die "chasquid did not start"; }
}

stop_server() {
	case "$1" in
	postfix) stop_postfix ;;
	*) stop_pid "$SERVER_PID" ;;
	esac
}

# ------------------------------------------------------------------ loads

declare -A R            # R[server.key] = figure

loadgen() {   # output-file args...
	local out=$1
	shift
	TIMEFORMAT='%U %S'
	{ time "${CLI_PIN[@]}" "$LOADGEN" -h 127.0.0.1 -p "$PORT" -u "$LOGIN" -w "$PASSWORD" -t "$RCPT" -j "$THREADS" \
	    "$@" > "$out" 2> "$out.err"; } 2> "$out.time"
	local rc=$?
	[ $rc -ne 0 ] && say "  loadgen: $(grep -m1 '^errors' "$out")"
	return $rc
}

perf_start() {  # name
	PERF_PID=
	[ "$PERF" = 1 ] && [ "$S" = submitd ] || return 0
	perf record -F 999 -p "$SERVER_PID" -o "$W/perf-$1.data" > "$W/perf-$1.log" 2>&1 &
	PERF_PID=$!
	sleep 0.5
}

perf_stop() {   # name
	[ -n "${PERF_PID:-}" ] || return 0
	kill -INT "$PERF_PID" 2>/dev/null
	wait "$PERF_PID" 2>/dev/null
	{
		perf report -i "$W/perf-$1.data" --stdio --sort dso 2>/dev/null |
		    grep '%' | grep -v '^#' | head -12
		echo
		perf report -i "$W/perf-$1.data" --stdio --sort dso,symbol 2>/dev/null |
		    grep '%' | grep -v '^#' | head -30
	} > "$W/perf-$1.txt"
	mkdir -p "$RESULTS"
	cp "$W/perf-$1.txt" "$RESULTS/"
	PERF_PID=
}

# Runs one load REPEAT times; the run with the median rate gives the
# figures (prefix_*); CPU per item is over all runs.  With --e2e, also
# times each run until its messages reached the sink (prefix_c_*).
measure() {     # tag prefix rate-key item-key [--e2e] -- loadgen args
	local tag=$1 prefix=$2 key=$3 item=$4 e2e=0 r cpu0 cpu1 base t0 t1 n e total=0
	local -a runs=() e2e_secs=()
	shift 4
	[ "$1" = --e2e ] && { e2e=1; shift; }
	[ "$1" = -- ] && shift
	cpu0=$(tree_cpu "$SERVER_PID")
	for r in $(seq "$REPEAT"); do
		base=$(sink_count)
		t0=$(now)
		perf_start "$tag"
		loadgen "$out/$tag.$r" "$@"
		perf_stop "$tag"
		n=$(result "$out/$tag.$r" "$item")
		n=${n:-0}
		total=$((total + n))
		e=$(result "$out/$tag.$r" errors)
		R[$S.${prefix}_errors]=$(( ${R[$S.${prefix}_errors]:-0} + ${e:-1} ))
		if wait_sink $((base + n)) 600; then
			t1=$(now)
			e2e_secs+=("$(calc "$t1 - $t0" 3) $n")
		else
			say "  $tag: only $(( $(sink_count) - base )) of $n messages reached the sink"
		fi
		runs+=("$(result "$out/$tag.$r" "$key") $out/$tag.$r")
	done
	cpu1=$(tree_cpu "$SERVER_PID")
	# the median run (lower median for an even count)
	local med
	med=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(( (REPEAT + 1) / 2 ))p" | cut -d' ' -f2)
	cp "$med" "$out/$tag"
	R[$S.${prefix}_rate]=$(result "$med" "$key")
	R[$S.${prefix}_dot50]=$(result "$med" dot_p50_ms)
	R[$S.${prefix}_dot99]=$(result "$med" dot_p99_ms)
	R[$S.${prefix}_sess50]=$(result "$med" session_p50_ms)
	R[$S.${prefix}_sess99]=$(result "$med" session_p99_ms)
	[ "$total" -gt 0 ] && R[$S.${prefix}_cpu]=$(calc "($cpu1 - $cpu0) * 1000 / $total" 2)
	R[$S.${prefix}_client_cpu]=$(cat "$out/$tag".*.time | awk '{ s += $1 + $2 } END { printf "%.2f", s / NR }')
	if [ "$e2e" = 1 ] && [ ${#e2e_secs[@]} -eq "$REPEAT" ]; then
		local m
		m=$(printf '%s\n' "${e2e_secs[@]}" | sort -n | sed -n "$(( (REPEAT + 1) / 2 ))p")
		R[$S.c_secs]=$(calc "${m% *}" 2)
		R[$S.c_rate]=$(calc "${m#* } / ${m% *}" 1)
	fi
}

# submitd's own counts (submitctl stats): "fsyncs messages records batches".
submitd_counts() {
	local ctl=${SUBMITD%/*}/submitctl
	[ -x "$ctl" ] || return 0
	"$ctl" -s "$W/submitd/run/control.sock" stats 2>/dev/null | awk '
		$1 == "fsyncs" { f = $2 } $1 == "messages" { m = $2 }
		$1 == "journal_records" { r = $2 } $1 == "journal_batches" { b = $2 }
		END { print f + 0, m + 0, r + 0, b + 0 }'
}

# Between two submitd_counts: fsyncs per accepted message and journal
# records per batch (its deliveries to the sink included), into R[submitd.$1_*].
submitd_delta() {	# name before after
	local -a x=($2) y=($3)
	local dm=$(( y[1] - x[1] )) db=$(( y[3] - x[3] ))
	[ "$dm" -gt 0 ] && R[submitd.$1_fsyncs]=$(calc "$(( y[0] - x[0] )) / $dm" 3)
	[ "$db" -gt 0 ] && R[submitd.$1_batch]=$(calc "$(( y[2] - x[2] )) / $db" 1)
	return 0
}

run_loads() {   # server
	local S=$1 out
	out=$W/out-$S
	mkdir -p "$out"
	say "$S: starting"
	"start_$S"
	sleep 1

	local c0 c1 c2
	[ "$S" = submitd ] && c0=$(submitd_counts)
	say "$S: (a) $A_SESSIONS sessions x 1 message, C=$CONC (x$REPEAT)"
	measure a a sessions_per_s sessions -- -c "$CONC" -n "$A_SESSIONS" -m 1 -s "$SIZE"
	say "$S: (a2) the same with Nagle's algorithm left on in the client"
	measure a2 a2 sessions_per_s sessions -- -c "$CONC" -n "$A2_SESSIONS" -m 1 -s "$SIZE" --nagle
	[ "$S" = submitd ] && c1=$(submitd_counts)
	say "$S: (b) $B_SESSIONS sessions x $B_MESSAGES messages, C=$CONC; (c) until the sink has them (x$REPEAT)"
	measure b b messages_per_s messages --e2e -- -c "$CONC" -n "$B_SESSIONS" -m "$B_MESSAGES" -s "$SIZE"
	if [ "$S" = submitd ]; then
		c2=$(submitd_counts)
		submitd_delta a "$c0" "$c1"
		submitd_delta b "$c1" "$c2"
		submitd_delta all "$c0" "$c2"
	fi

	say "$S: (d) $D_IDLE idle authenticated TLS sessions for ${HOLD}s"
	sleep 2
	idle_run d "$D_IDLE"

	if [ "$S" = submitd ]; then
		say "$S: (e) $E_IDLE idle authenticated TLS sessions for ${HOLD}s"
		sleep 1
		idle_run e "$E_IDLE"
	fi
	stop_server "$S"
	say "$S: stopped"

	if [ "$S" = submitd ] && [ "$ONE_LOOP" = 1 ]; then
		# Both cores: the same (a) and (b) with one event loop.
		say "$S: (f) (a) and (b) again with event_loops = 1"
		local extra=${SUBMITD_EXTRA:-}
		SUBMITD_EXTRA="$extra
event_loops = 1"
		S=submitd1
		out=$W/out-$S
		mkdir -p "$out"
		start_submitd
		sleep 1
		measure a a sessions_per_s sessions -- -c "$CONC" -n "$A_SESSIONS" -m 1 -s "$SIZE"
		measure b b messages_per_s messages -- -c "$CONC" -n "$B_SESSIONS" -m "$B_MESSAGES" -s "$SIZE"
		stop_server submitd
		SUBMITD_EXTRA=$extra
		R[submitd.f_a]=${R[submitd1.a_rate]:-}
		R[submitd.f_b]=${R[submitd1.b_rate]:-}
		[ -n "${R[submitd1.a_rate]:-}" ] &&
			R[submitd.f_a_ratio]=$(calc "${R[submitd.a_rate]} / ${R[submitd1.a_rate]}" 2)
		[ -n "${R[submitd1.b_rate]:-}" ] &&
			R[submitd.f_b_ratio]=$(calc "${R[submitd.b_rate]} / ${R[submitd1.b_rate]}" 2)
		say "$S: stopped"
	fi
}

# Holds N idle sessions; records PSS per session, probe time, errors.
idle_run() {    # tag count
	local tag=$1 count=$2 rest held pid
	rest=$(tree_pss "$SERVER_PID")
	# NOOP every 30 s: chasquid closes a session idle for a minute, and
	# its set-up of 2000 sessions takes longer than that.
	loadgen "$out/$tag" -c "$count" --idle "$HOLD" --ramp "$RAMP" --noop 30 &
	pid=$!
	for _ in $(seq 3000); do
		grep -q '^ESTABLISHED' "$out/$tag" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	sleep 1
	held=$(tree_pss "$SERVER_PID")
	wait "$pid"
	R[$S.${tag}_est]=$(result "$out/$tag" established)
	R[$S.${tag}_probe]=$(result "$out/$tag" probe_ms)
	R[$S.${tag}_errors]=$(result "$out/$tag" errors)
	R[$S.${tag}_setup]=$(result "$out/$tag" setup_s)
	R[$S.${tag}_rest]=$rest
	R[$S.${tag}_held]=$held
	local est=${R[$S.${tag}_est]:-0}
	[ "$est" -gt 0 ] && R[$S.${tag}_kib]=$(calc "($held - $rest) / $est" 1)
}

# ------------------------------------------------------------------ table

# row label key better(+ higher / - lower)
row() {
	local label=$1 key=$2 better=$3 s v line ref other ratio
	ref=${R[submitd.$key]:-}
	line=$(printf '%-46s' "$label")
	for s in $SERVERS; do
		v=${R[$s.$key]:-}
		line+=$(printf ' %10s' "${v:--}")
	done
	for other in $SERVERS; do
		[ "$other" = submitd ] && continue
		v=${R[$other.$key]:-}
		ratio=-
		if [ -n "$ref" ] && [ -n "$v" ] && [ -n "$better" ] &&
		    awk "BEGIN { exit !($v > 0 && $ref >= 0) }"; then
			ratio=$(calc "$ref / $v" 2)
		fi
		line+=$(printf ' %12s' "$ratio")
	done
	echo "$line  ${better:+($better)}"
}

print_table() {
	local s other head
	head=$(printf '%-46s' "figure")
	for s in $SERVERS; do head+=$(printf ' %10s' "$s"); done
	for other in $SERVERS; do
		[ "$other" = submitd ] && continue
		head+=$(printf ' %12s' "sd/$other")
	done
	echo "$head"
	echo "$head" | sed 's/./-/g'
	row "(a) sessions/s  [C=$CONC, ${A_SESSIONS}x1x4KiB]" a_rate "higher is better"
	row "(a) session p50 ms" a_sess50 "lower is better"
	row "(a) session p99 ms" a_sess99 "lower is better"
	row "(a) final dot->250 p50 ms" a_dot50 "lower is better"
	row "(a) server CPU ms per session" a_cpu "lower is better"
	row "(a) load generator CPU s per run" a_client_cpu ""
	row "(a) errors" a_errors ""
	row "(a2) sessions/s, client with Nagle on [${A2_SESSIONS}]" a2_rate "higher is better"
	row "(a2) session p50 ms" a2_sess50 "lower is better"
	row "(b) messages/s  [C=$CONC, ${B_SESSIONS}x${B_MESSAGES}x4KiB]" b_rate "higher is better"
	row "(b) final dot->250 p50 ms" b_dot50 "lower is better"
	row "(b) final dot->250 p99 ms" b_dot99 "lower is better"
	row "(b) server CPU ms per message" b_cpu "lower is better"
	row "(b) load generator CPU s per run" b_client_cpu ""
	row "(b) errors" b_errors ""
	row "(c) end-to-end messages/s (to the sink)" c_rate "higher is better"
	row "(c) seconds until all of (b) at the sink" c_secs "lower is better"
	row "(a),(a2) fsyncs per accepted message (stats)" a_fsyncs "lower is better"
	row "(b),(c) fsyncs per accepted message (stats)" b_fsyncs "lower is better"
	row "(a)-(c) fsyncs per accepted message (stats)" all_fsyncs "lower is better"
	row "(a)-(c) journal records per fdatasync (stats)" all_batch ""
	row "(d) PSS KiB per idle TLS session [$D_IDLE]" d_kib "lower is better"
	row "(d) PSS KiB at rest" d_rest "lower is better"
	row "(d) sessions established" d_est ""
	row "(d) probe session ms while held" d_probe "lower is better"
	row "(d) errors" d_errors ""
	row "(e) sessions established [of $E_IDLE]" e_est ""
	row "(e) probe session ms while held" e_probe ""
	row "(e) PSS KiB per idle TLS session" e_kib ""
	row "(e) errors" e_errors ""
	if [ "$ONE_LOOP" = 1 ]; then
		row "(f) (a) sessions/s with event_loops = 1" f_a ""
		row "(f) (a) two loops / one loop" f_a_ratio ""
		row "(f) (b) messages/s with event_loops = 1" f_b ""
		row "(f) (b) two loops / one loop" f_b_ratio ""
	fi
}

versions() {
	local s line
	line="versions: OpenSSL $(openssl version | awk '{ print $2 }')"
	for s in $SERVERS; do
		case "$s" in
		submitd) line+=", $("$SUBMITD" -v 2>/dev/null | head -1)" ;;
		postfix) line+=", Postfix $(postconf -d -h mail_version 2>/dev/null)" ;;
		chasquid) line+=", chasquid $("$CHASQUID" -version 2>/dev/null | awk 'NR == 1 { print $2 }')" ;;
		esac
	done
	echo "$line"
}

# ------------------------------------------------------------------- main

START=$(date +%s)
RESULTS=$W/results
[ "$INSTALL" = 1 ] && install_packages
for tool in gcc pkg-config openssl saslpasswd2 smtp-sink ss setsid; do
	command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || die "$tool missing (run without --no-install)"
done
case " $SERVERS " in *" chasquid "*) fetch_chasquid ;; esac
build

# Enough descriptors for (e): one per session, and some.
ulimit -n "$(ulimit -Hn)" 2>/dev/null
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((E_IDLE + 200)) ]; then
	E_IDLE=$(( $(ulimit -n) - 200 ))
	say "fd limit $(ulimit -n): (e) holds $E_IDLE sessions"
fi

common_setup
for s in $SERVERS; do
	run_loads "$s"
done

{
	echo "submitd benchmark: $COMMAND"
	echo "machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)), $(free -g | awk '/^Mem/ { print $2 }') GiB, Linux $(uname -r)"
	versions
	[ -n "$POSTFIX_MAXPROC" ] &&
		echo "Postfix: submission service process limit raised from 100 (default_process_limit) to $POSTFIX_MAXPROC for (d)"
	[ "$PIN" = 1 ] && echo "pinned: each server on CPU ${SRV_PIN[2]}, load generator and sink on CPU ${CLI_PIN[2]}"
	echo "ratios are submitd/other; read them with the direction in brackets"
	echo
	print_table
	echo
	echo "each of (a), (a2), (b) and (c): median of $REPEAT runs; load generator event loops: $THREADS"
	echo "total time: $(( $(date +%s) - START )) s"
} | tee "$W/table.txt"

if [ "$PERF" = 1 ] && ls "$RESULTS"/perf-*.txt >/dev/null 2>&1; then
	for f in "$RESULTS"/perf-*.txt; do
		echo
		echo "submitd profile during $(basename "$f" .txt | sed 's/perf-//') (perf, self time, top entries):"
		head -25 "$f"
	done
fi
if [ "$KEEP" = 1 ]; then
	say "outputs in $W (out-*/: loadgen reports; */: server logs)"
fi
