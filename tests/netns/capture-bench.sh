#!/usr/bin/env bash
# Measurement, not a test: how much of a bulk TCP stream `tblink capture`
# keeps. The setup of tests/netns/capture.sh (two `tblink host --net` in two
# network namespaces over a shared-memory cable), then for each MTU an
# iperf3 TCP run alice → bob without a capture, with a capture of whole
# packets into a pcapng file in /tmp, the same into /dev/null (no disk),
# and with --snaplen 128 into a file; the capture records alice's port 1.
# Prints one line per run: throughput, packets written, units the host
# dropped, data frames seen.
#
# Usage: tests/netns/capture-bench.sh [path/to/tblink] [seconds]
#        (default target/release/tblink, 5 s). Needs root, ip and iperf3.
# NO_SNAPLEN=1 leaves out the --snaplen run (for builds without it).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=$(readlink -f "${1:-target/release/tblink}")
SECS=${2:-5}
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
for c in ip iperf3; do
    command -v "$c" >/dev/null 2>&1 || { echo "$c not installed"; exit 1; }
done

NS_A=tbcb-a-$$
NS_B=tbcb-b-$$
DIR=$(mktemp -d /tmp/tblink-capture-bench.XXXXXX)
CABLE=$DIR/cable.sock
IF=thunderbolt0
PID_A=
PID_B=
PID_C=

stop_hosts() {
    for p in $PID_C $PID_A $PID_B; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $PID_C $PID_A $PID_B; do wait "$p" 2>/dev/null || true; done
    PID_A= PID_B= PID_C=
}

cleanup() {
    stop_hosts
    for ns in "$NS_A" "$NS_B"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$DIR"
}
trap cleanup EXIT

until_ok() {
    local limit=$1 what=$2 start
    shift 2
    start=$(date +%s%N)
    until "$@"; do
        [ $((($(date +%s%N) - start) / 1000000)) -lt $((limit * 1000)) ] ||
            { echo "$what: not within ${limit} s"; exit 1; }
        sleep 0.01
    done
}

exists_both() {
    ip -n "$NS_A" link show dev "$IF" >/dev/null 2>&1 &&
        ip -n "$NS_B" link show dev "$IF" >/dev/null 2>&1
}
listening() { ip netns exec "$NS_B" ss -ltn 2>/dev/null | grep -q '10.77.0.2:5201'; }

start_hosts() {
    local mtu=$1
    rm -f "$CABLE"
    ip netns exec "$NS_A" "$BIN" host --name alice --net --mtu "$mtu" \
        --control "$DIR/alice.sock" --port "listen:$CABLE" 2>"$DIR/alice.log" &
    PID_A=$!
    until_ok 5 "alice's control socket" test -S "$DIR/alice.sock"
    ip netns exec "$NS_B" "$BIN" host --name bob --net --mtu "$mtu" \
        --control "$DIR/bob.sock" --port "connect:$CABLE" 2>"$DIR/bob.log" &
    PID_B=$!
    until_ok 15 "interfaces" exists_both
    ip -n "$NS_A" addr add 10.77.0.1/24 dev "$IF"
    ip -n "$NS_B" addr add 10.77.0.2/24 dev "$IF"
    ip -n "$NS_A" link set "$IF" up
    ip -n "$NS_B" link set "$IF" up
    ip netns exec "$NS_A" ping -c 3 -i 0.05 -W 1 10.77.0.2 >/dev/null
}

# iperf: TCP alice → bob for SECS s; prints Gbit/s received.
iperf() {
    ip netns exec "$NS_B" timeout $((SECS + 30)) iperf3 -s -1 -B 10.77.0.2 >/dev/null 2>&1 &
    local srv=$!
    until_ok 5 "iperf3 server" listening
    ip netns exec "$NS_A" timeout $((SECS + 30)) iperf3 -c 10.77.0.2 -t "$SECS" --json \
        >"$DIR/iperf.json" 2>&1 || true
    wait "$srv" 2>/dev/null || true
    grep -A20 '"sum_received"' "$DIR/iperf.json" | grep -o '"bits_per_second":[[:space:]]*[0-9.e+-]*' |
        head -1 | grep -o '[0-9.e+-]*$' | awk '{ printf "%.2f", $1 / 1e9 }'
}

# run MTU LABEL [OUT [capture args...]]: one iperf3 run, with a capture
# into OUT unless LABEL is "none".
run() {
    local mtu=$1 label=$2 gbps out=${3:-}
    shift 2
    shift || true
    if [ "$label" = none ]; then
        gbps=$(iperf)
        echo "MTU $mtu, no capture: $gbps Gbit/s"
        return
    fi
    rm -f "$DIR/cap.pcapng"
    "$BIN" capture --control "$DIR/alice.sock" --port 1 -w "$out" "$@" \
        2>"$DIR/capture.log" &
    PID_C=$!
    until_ok 5 "capture started" grep -q 'capturing' "$DIR/capture.log"
    gbps=$(iperf)
    kill -INT "$PID_C"
    wait "$PID_C" || { echo "capture failed: $(cat "$DIR/capture.log")"; exit 1; }
    PID_C=
    local size
    size=$(du -m "$out" | cut -f1)
    echo "MTU $mtu, capture $label: $gbps Gbit/s; $(grep -o '[0-9]* packets ([^)]*)' "$DIR/capture.log"), ${size} MiB;" \
        "$(grep -o '[0-9]* dropped by the host' "$DIR/capture.log"), $(grep -o '[0-9]* data frames seen' "$DIR/capture.log")"
    rm -f "$DIR/cap.pcapng"
}

ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up

for mtu in 1500 65521; do
    start_hosts "$mtu"
    run "$mtu" none
    run "$mtu" "whole packets → file" "$DIR/cap.pcapng"
    run "$mtu" "whole packets → /dev/null" /dev/null
    [ -n "${NO_SNAPLEN:-}" ] || run "$mtu" "--snaplen 128 → file" "$DIR/cap.pcapng" --snaplen 128
    stop_hosts
done
