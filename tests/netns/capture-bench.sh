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

# shellcheck source=tests/netns/lib.sh
. tests/netns/lib.sh
find_bin "${1:-target/release/tblink}"
SECS=${2:-5}
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
require ip iperf3
require_tun
require_bin
netns_start tbcb tblink-capture-bench

start_hosts() {
    local mtu=$1
    rm -f "$CABLE"
    start_alice alice --net --mtu "$mtu" --control "$DIR/alice.sock"
    until_ok 5 "alice's control socket" test -S "$DIR/alice.sock"
    start_bob bob --net --mtu "$mtu" --control "$DIR/bob.sock"
    until_ok 15 "interfaces" exists_both
    link_up
    ip netns exec "$NS_A" ping -c 3 -i 0.05 -W 1 10.77.0.2 >/dev/null
}

# iperf: TCP alice → bob for SECS s; prints Gbit/s received.
iperf() {
    iperf_server $((SECS + 30)) /dev/null
    ip netns exec "$NS_A" timeout $((SECS + 30)) iperf3 -c 10.77.0.2 -t "$SECS" --json \
        >"$DIR/iperf.json" 2>&1 || true
    stop_pid "$SRV"
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
    start_capture "$DIR/capture.log" --port 1 -w "$out" "$@"
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

for mtu in 1500 65521; do
    start_hosts "$mtu"
    run "$mtu" none
    run "$mtu" "whole packets → file" "$DIR/cap.pcapng"
    run "$mtu" "whole packets → /dev/null" /dev/null
    [ -n "${NO_SNAPLEN:-}" ] || run "$mtu" "--snaplen 128 → file" "$DIR/cap.pcapng" --snaplen 128
    stop_hosts
done
OK=1
