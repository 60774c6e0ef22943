# Shared set-up for the end-to-end scripts in tests/netns: two `tblink host`
# processes in two network namespaces, joined by a shared-memory cable whose
# Unix socket both can reach. Sourced (not run) from the repository root by
# scripts running under `set -euo pipefail`:
#
#     cd "$(dirname "$0")/../.."
#     . tests/netns/lib.sh
#
# A script that wants more on failure or at exit defines, before it ends:
#   on_failure: run first by the exit trap when OK != 1, while the hosts
#               still run (status, screens);
#   on_exit:    run next by the exit trap, always (its own servers).

# find_bin [PATH]: sets BIN to the absolute path of the tblink binary: PATH,
# else $TBLINK, else target/debug/tblink.
find_bin() {
    BIN=$(readlink -f "${1:-${TBLINK:-target/debug/tblink}}")
}

# skip_unless_root WHAT: prints "skipped: WHAT needs root" and exits 0 when
# not root.
skip_unless_root() {
    if [ "$(id -u)" != 0 ]; then
        echo "skipped: $1 needs root"
        exit 0
    fi
}

# require TOOL...: each TOOL is a command on PATH; "FAIL: TOOL not
# installed" and exit 1 otherwise.
require() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || { echo "FAIL: $c not installed"; exit 1; }
    done
}

# require_tun: /dev/net/tun exists (the hosts' --net interfaces are TAPs).
require_tun() {
    [ -c /dev/net/tun ] || { echo "FAIL: no /dev/net/tun"; exit 1; }
}

# require_bin: $BIN is an executable.
require_bin() {
    [ -x "$BIN" ] || { echo "FAIL: no tblink binary at $BIN"; exit 1; }
}

# fail MESSAGE: "FAIL: MESSAGE", exit 1 (the exit trap cleans up).
fail() {
    echo "FAIL: $*"
    exit 1
}

# pass MESSAGE: "ok: MESSAGE"; counts one more in PASSED.
pass() {
    echo "ok: $*"
    PASSED=$((PASSED + 1))
}

# finish LABEL: the run passed: sets OK=1 (the exit trap then keeps quiet)
# and prints "LABEL: $PASSED passed, 0 failed".
finish() {
    OK=1
    echo "$1: $PASSED passed, 0 failed"
}

# until_ok SECONDS WHAT CMD...: polls CMD every $POLL seconds (default
# 0.01) until it succeeds, and sets LAST_MS to the milliseconds that took;
# fail "WHAT: not within SECONDS s" once SECONDS have passed.
until_ok() {
    local limit=$1 what=$2 start ms
    shift 2
    start=$(date +%s%N)
    until "$@"; do
        ms=$((($(date +%s%N) - start) / 1000000))
        [ "$ms" -lt $((limit * 1000)) ] || fail "$what: not within ${limit} s"
        sleep "${POLL:-0.01}"
    done
    LAST_MS=$((($(date +%s%N) - start) / 1000000))
}

# alive PID: PID is a running process (not gone, not a zombie waiting to be
# reaped).
alive() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    [ "${s%% *}" != Z ]
}

# stop_pid PID: SIGTERM to our child PID (nothing when empty), SIGKILL if
# it is still there after 5 s, then reaps it; its exit status is ignored.
stop_pid() {
    local p=$1 i
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        alive "$p" || break
        sleep 0.1
    done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

# stop_hosts: stops the capture and both hosts (stop_pid on PID_C, PID_A,
# PID_B) and empties those variables.
stop_hosts() {
    stop_pid "$PID_C"
    stop_pid "$PID_A"
    stop_pid "$PID_B"
    PID_A= PID_B= PID_C=
}

# netns_start PREFIX TMPNAME: sets NS_A=PREFIX-a-$$ and NS_B=PREFIX-b-$$,
# DIR (a fresh /tmp/TMPNAME.XXXXXX), CABLE=$DIR/cable.sock, IF=thunderbolt0,
# OK=0, PASSED=0 and empty PID_A, PID_B, PID_C (alice, bob, a capture);
# installs the exit trap (cleanup), then creates both namespaces with
# loopback up.
netns_start() {
    NS_A=$1-a-$$
    NS_B=$1-b-$$
    DIR=$(mktemp -d "/tmp/$2.XXXXXX")
    CABLE=$DIR/cable.sock
    IF=thunderbolt0
    OK=0
    PASSED=0
    PID_A= PID_B= PID_C=
    trap cleanup EXIT
    ip netns add "$NS_A"
    ip netns add "$NS_B"
    ip -n "$NS_A" link set lo up
    ip -n "$NS_B" link set lo up
}

# cleanup: the exit trap: on_failure (when OK != 1) and on_exit if the
# script defines them, stop_hosts, SIGKILL to whatever else still runs in
# the namespaces, deletes them; when OK != 1 prints the tail of every
# $DIR/*.log, *.txt and *.json and keeps DIR, else removes DIR.
cleanup() {
    local ns p f
    if [ "$OK" != 1 ] && declare -F on_failure >/dev/null; then
        on_failure || true
    fi
    if declare -F on_exit >/dev/null; then
        on_exit || true
    fi
    stop_hosts
    for ns in "$NS_A" "$NS_B"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ "$OK" = 1 ]; then
        rm -rf "$DIR"
        return 0
    fi
    for f in "$DIR"/*.log "$DIR"/*.txt "$DIR"/*.json; do
        [ -f "$f" ] || continue
        echo "---- $f"
        tail -n 40 "$f"
    done
    echo "---- files kept in $DIR"
}

in_a() { ip netns exec "$NS_A" "$@"; }
in_b() { ip netns exec "$NS_B" "$@"; }

# start_host a|b NAME ARGS...: `tblink host --name NAME ARGS...` in the
# background with stderr to $DIR/NAME.log: "a" in NS_A listening on the
# cable, sets PID_A; "b" in NS_B connecting to it (a connecting end waits
# for its listener), sets PID_B. ip netns exec execs the host, so the pid is
# the host's own.
start_host() {
    local side=$1 name=$2 ns=$NS_A role=listen
    shift 2
    [ "$side" = a ] || { ns=$NS_B; role=connect; }
    ip netns exec "$ns" "$BIN" host --name "$name" "$@" --port "$role:$CABLE" \
        2>"$DIR/$name.log" &
    if [ "$side" = a ]; then PID_A=$!; else PID_B=$!; fi
}
start_alice() { start_host a "$@"; }
start_bob() { start_host b "$@"; }

# exists_both: $IF exists in both namespaces (the hosts logged in).
exists_both() {
    ip -n "$NS_A" link show dev "$IF" >/dev/null 2>&1 &&
        ip -n "$NS_B" link show dev "$IF" >/dev/null 2>&1
}

# carrier NS on|off: $IF's carrier in NS as `ip -j link` shows it.
carrier() {
    local j
    j=$(ip -n "$1" -j link show dev "$IF" 2>/dev/null) || return 1
    if [ "$2" = on ]; then
        grep -q '"LOWER_UP"' <<<"$j"
    else
        grep -q '"NO-CARRIER"' <<<"$j"
    fi
}

# both on|off: carrier on (off) in both namespaces.
both() { carrier "$NS_A" "$1" && carrier "$NS_B" "$1"; }

# link_up [SECONDS]: once both interfaces exist: 10.77.0.1/24 on alice's,
# 10.77.0.2/24 on bob's, both up; fails unless both carriers are on within
# SECONDS (default 5).
link_up() {
    local limit=${1:-5}
    ip -n "$NS_A" addr add 10.77.0.1/24 dev "$IF"
    ip -n "$NS_B" addr add 10.77.0.2/24 dev "$IF"
    ip -n "$NS_A" link set "$IF" up
    ip -n "$NS_B" link set "$IF" up
    until_ok "$limit" "both carriers on" both on
}

# ping_ok NS ARGS...: ping ARGS from NS with 0% loss; sets RTT to its
# min/avg/max/mdev figures.
ping_ok() {
    local ns=$1 out
    shift
    out=$(ip netns exec "$ns" ping "$@" 2>&1) || fail "ping $*: $out"
    grep -q ' 0% packet loss' <<<"$out" || fail "ping $*: loss: $out"
    RTT=$(grep -o 'rtt [^ ]* = [0-9./]*' <<<"$out" | awk '{print $4}')
}

listening() { ip netns exec "$NS_B" ss -ltn 2>/dev/null | grep -q '10.77.0.2:5201'; }

# iperf_server SECONDS LOG: a one-shot iperf3 server on 10.77.0.2 in NS_B,
# ended by timeout after SECONDS, output to LOG; sets SRV to its pid once it
# listens.
iperf_server() {
    ip netns exec "$NS_B" timeout "$1" iperf3 -s -1 -B 10.77.0.2 >"$2" 2>&1 &
    SRV=$!
    until_ok 5 "iperf3 server listening" listening
}

# start_capture LOG ARGS...: `tblink capture --control $DIR/alice.sock
# ARGS...` in the background, stderr to LOG; sets PID_C once LOG says it is
# capturing.
start_capture() {
    local log=$1
    shift
    "$BIN" capture --control "$DIR/alice.sock" "$@" 2>"$log" &
    PID_C=$!
    until_ok 5 "capture started ($log)" grep -q 'capturing' "$log"
}
