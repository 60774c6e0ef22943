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

# shellcheck source=tests/netns/lib.sh
. tests/netns/lib.sh
find_bin "${1:-}"
skip_unless_root "tblink top test"
require ip iperf3 tmux
require_tun
require_bin
POLL=0.1
# Host names are unique per run: `tblink top --host` finds the socket in
# the default places (/run/tblink/NAME.sock).
HOST_A=topalice$$
HOST_B=topbob$$
TMUX_SOCK=tblink-top-$$
netns_start tbt tblink-top

tm() { tmux -L "$TMUX_SOCK" "$@"; }
screen() { tm capture-pane -p -t top 2>/dev/null; }

on_failure() {
    echo "---- screen"
    screen
}
on_exit() { tm kill-server 2>/dev/null; }

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

start_bob "$HOST_B" --net
sleep 0.1
start_alice "$HOST_A" --net
until_ok 15 "interfaces created (both logged in)" exists_both
link_up
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
iperf_server 60 "$DIR/iperf-server.log"
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
stop_pid "$CLI"
stop_pid "$SRV"

# The watched host goes away: top says so and keeps running.
stop_pid "$PID_A"
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

finish "tblink top"
