#!/usr/bin/env bash
# `tblink top` driven in tmux against two `tblink host --net` processes in
# two network namespaces over a shared-memory cable:
#   * the screen shows the watched host, the peer's host name, its
#     `network` service bound to thunderbolt-net, and the interface logged in;
#   * during iperf3 traffic the interface's TX and RX figures are non-zero;
#   * when the watched host stops, the screen says "host not reachable" and
#     top keeps running;
#   * `q` quits: top is gone, the pane is back at the shell, out of the
#     alternate screen, with the terminal in canonical mode with echo.
#
# Usage: tests/netns/top.sh [path/to/tblink]   (default target/debug/tblink)
# Needs root, /dev/net/tun, ip, iperf3 and tmux; prints "skipped: …" and
# exits 0 only when not root.
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${1:-${TBLINK:-target/debug/tblink}}
BIN=$(readlink -f "$BIN")
if [ "$(id -u)" != 0 ]; then
    echo "skipped: tblink top test needs root"
    exit 0
fi
for c in ip iperf3 tmux; do
    command -v "$c" >/dev/null 2>&1 || { echo "FAIL: $c not installed"; exit 1; }
done
[ -c /dev/net/tun ] || { echo "FAIL: no /dev/net/tun"; exit 1; }
[ -x "$BIN" ] || { echo "FAIL: no tblink binary at $BIN"; exit 1; }

NS_A=tbt-a-$$
NS_B=tbt-b-$$
# Host names are unique per run: `tblink top --host` finds the socket in
# the default places (/run/tblink/NAME.sock).
HOST_A=topalice$$
HOST_B=topbob$$
DIR=$(mktemp -d /tmp/tblink-top.XXXXXX)
CABLE=$DIR/cable.sock
TMUX_SOCK=tblink-top-$$
PID_A=
PID_B=
OK=0
IF=thunderbolt0
PASSED=0

tm() { tmux -L "$TMUX_SOCK" "$@"; }
screen() { tm capture-pane -p -t top 2>/dev/null; }

stop_host() {
    local p=$1
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

cleanup() {
    if [ "$OK" != 1 ]; then
        echo "---- screen"
        screen || true
    fi
    tm kill-server 2>/dev/null || true
    stop_host "$PID_A"
    stop_host "$PID_B"
    for ns in "$NS_A" "$NS_B"; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    if [ "$OK" != 1 ]; then
        for f in "$DIR"/*.log; do
            [ -f "$f" ] || continue
            echo "---- $f"
            tail -n 30 "$f"
        done
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*"
    exit 1
}

pass() {
    echo "ok: $*"
    PASSED=$((PASSED + 1))
}

# until_ok SECONDS WHAT CMD...: poll CMD every 100 ms.
until_ok() {
    local limit=$1 what=$2 i
    shift 2
    for ((i = 0; i < limit * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    fail "$what: not within ${limit} s"
}

exists_both() {
    ip -n "$NS_A" link show dev "$IF" >/dev/null 2>&1 &&
        ip -n "$NS_B" link show dev "$IF" >/dev/null 2>&1
}

carrier_both() {
    ip -n "$NS_A" -j link show dev "$IF" | grep -q '"LOWER_UP"' &&
        ip -n "$NS_B" -j link show dev "$IF" | grep -q '"LOWER_UP"'
}

# The line of the interface in top's Interfaces table.
if_row() { screen | grep -m1 "^│$IF " || true; }

# Bit rates shown on a line, in bit/s, one per line (TX first, then RX).
bit_rates() {
    grep -oE '[0-9]+(\.[0-9]+)? [kMG]?bit/s' <<<"$1" | awk '
        { v = $1; u = $2
          if (u ~ /^k/) v *= 1e3; else if (u ~ /^M/) v *= 1e6; else if (u ~ /^G/) v *= 1e9
          print v }'
}

# Both the TX and the RX figure of the interface are above zero.
nonzero_traffic() {
    local row r
    row=$(if_row)
    [ -n "$row" ] || return 1
    mapfile -t r < <(bit_rates "$row")
    [ "${#r[@]}" -ge 2 ] || return 1
    awk -v t="${r[0]}" -v x="${r[1]}" 'BEGIN { exit !(t > 0 && x > 0) }'
}

ip netns add "$NS_A"
ip netns add "$NS_B"
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up

rm -f "$CABLE"
ip netns exec "$NS_B" "$BIN" host --name "$HOST_B" --net --port "connect:$CABLE" 2>"$DIR/b.log" &
PID_B=$!
sleep 0.1
ip netns exec "$NS_A" "$BIN" host --name "$HOST_A" --net --port "listen:$CABLE" 2>"$DIR/a.log" &
PID_A=$!
until_ok 15 "interfaces created (both logged in)" exists_both
ip -n "$NS_A" addr add 10.77.0.1/24 dev "$IF"
ip -n "$NS_B" addr add 10.77.0.2/24 dev "$IF"
ip -n "$NS_A" link set "$IF" up
ip -n "$NS_B" link set "$IF" up
until_ok 5 "both carriers on" carrier_both
pass "two hosts logged in, $IF up in both namespaces"

# A shell in a 160x50 tmux pane, then top in it.
tm new-session -d -s top -x 160 -y 50 "env PS1='top-test\$ ' bash --norc --noprofile"
until_ok 5 "shell prompt in tmux" bash -c "tmux -L '$TMUX_SOCK' capture-pane -p -t top | grep -q 'top-test\\$'"
tm send-keys -t top "$BIN top --host $HOST_A" Enter
shows() { screen | grep -qF -- "$1"; }
until_ok 10 "top shows host $HOST_A" shows "tblink top  host $HOST_A"
until_ok 10 "top shows the interface logged in" bash -c "tmux -L '$TMUX_SOCK' capture-pane -p -t top | grep '^│$IF ' | grep -q 'logged in'"
peer=$(screen | grep -m1 '^│0-1 ' || true)
for want in "$HOST_B" enumerated "network (thunderbolt-net)"; do
    grep -qF -- "$want" <<<"$peer" || fail "peers table lacks '$want': $peer"
done
grep -qF -- "$HOST_B" <<<"$(if_row)" || fail "interface row lacks the peer name: $(if_row)"
pass "top shows peer $HOST_B (enumerated, network bound to thunderbolt-net) and $IF logged in"

# Traffic: iperf3 alice -> bob for up to 30 s (room for a loaded machine);
# top must show it meanwhile, then iperf3 is stopped.
ip netns exec "$NS_B" timeout 60 iperf3 -s -1 -B 10.77.0.2 >"$DIR/iperf-server.log" 2>&1 &
SRV=$!
listening() { ip netns exec "$NS_B" ss -ltn 2>/dev/null | grep -q '10.77.0.2:5201'; }
until_ok 5 "iperf3 server listening" listening
ip netns exec "$NS_A" timeout 60 iperf3 -c 10.77.0.2 -t 30 >"$DIR/iperf-client.log" 2>&1 &
CLI=$!
client_running() { kill -0 "$CLI" 2>/dev/null; }
traffic_shown() {
    nonzero_traffic && return 0
    client_running || fail "iperf3 client ended: $(tail -n 5 "$DIR/iperf-client.log")"
    return 1
}
until_ok 30 "non-zero TX and RX throughput on $IF" traffic_shown
row=$(if_row)
pass "during traffic: $(sed 's/  */ /g; s/│//g' <<<"$row")"
# `timeout` passes the signal on to iperf3; the one-off server then ends.
kill -TERM "$CLI" 2>/dev/null || true
wait "$CLI" 2>/dev/null || true
kill -TERM "$SRV" 2>/dev/null || true
wait "$SRV" 2>/dev/null || true

# The watched host goes away: top says so and keeps running.
stop_host "$PID_A"
PID_A=
until_ok 5 "top says host not reachable" shows "host not reachable"
pass "host stopped: top shows 'host not reachable' and keeps running"

# q quits and gives the terminal back.
tm send-keys -t top q
# Back at the shell: the pane's foreground process is bash again.
gone() { [ "$(tm display-message -p -t top '#{pane_current_command}')" = bash ]; }
until_ok 5 "top exits on q" gone
[ "$(tm display-message -p -t top '#{alternate_on}')" = 0 ] || fail "pane still in the alternate screen"
tm send-keys -t top "stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo stty-done" Enter
until_ok 5 "shell answers after top" shows "icanon echo stty-done"
! shows "tblink top  host" || fail "top's screen still shown after quitting"
pass "q: top exited, the pane is back at the shell in canonical mode with echo"

OK=1
echo "tblink top: $PASSED passed, 0 failed"
