#!/usr/bin/env bash
# The 2026 season on the built-in broker, on one private RabbitMQ node and on a private
# three-node RabbitMQ cluster (quorum queues), one run each, measured: wall time, messages/s
# and the peak memory of every process (the harness from /usr/bin/time -v, each beam.smp from
# /proc/<pid>/status VmHWM just before its node stops).
#
#   scripts/rabbitmq-season-bench.sh [--scale F] [--season Y] [--out DIR] [--only builtin|single|cluster]
#   scripts/rabbitmq-season-bench.sh --start N     # start N private nodes, print the URLs, wait
#
# Needs Debian's rabbitmq-server (3.x) and a release build (cargo build --release -p
# iplos-harness; the script builds it). The nodes are private, as the tests start them
# (mocks/tests/it/rabbitmq_support.rs): own node names, ports, data, logs, Erlang cookie and
# epmd under a temporary directory, on 127.0.0.1 only; nothing under /etc/rabbitmq or
# /var/lib/rabbitmq is used. Everything is stopped at exit.
set -euo pipefail

cd "$(dirname "$0")/.."
SERVER=/usr/lib/rabbitmq/bin/rabbitmq-server
ADMIN=iplos-admin
ADMIN_PASS=iplos-admin-pass
SCALE=1.0
SEASON=2026
OUT=out/rabbitmq-bench
ONLY=""
START=""
while [ $# -gt 0 ]; do
    case "$1" in
        --scale) SCALE="$2"; shift 2 ;;
        --season) SEASON="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --only) ONLY="$ONLY $2"; shift 2 ;;
        --start) START="$2"; shift 2 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done
[ -z "$ONLY" ] && ONLY="builtin single cluster"
[ -x "$SERVER" ] || { echo "rabbitmq-server is not installed (apt-get install -y rabbitmq-server)" >&2; exit 1; }

TMP=$(mktemp -d /tmp/iplos-rabbit.XXXXXX)
EPMD_PID=""
NODE_DIRS=()
NODE_AMQP=()
NODE_MGMT=()

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

beam_pid() { cat "$1/rabbit.pid" 2>/dev/null || true; }

stop_rabbit() {
    for d in "${NODE_DIRS[@]}"; do
        p=$(beam_pid "$d")
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true
        [ -f "$d/sh.pid" ] && kill "$(cat "$d/sh.pid")" 2>/dev/null || true
    done
    [ -n "$EPMD_PID" ] && kill "$EPMD_PID" 2>/dev/null || true
    NODE_DIRS=(); NODE_AMQP=(); NODE_MGMT=(); EPMD_PID=""
}
cleanup() { stop_rabbit; rm -rf "$TMP"; }
trap cleanup EXIT

# How many nodes the management API of node $1 (its port) sees running.
running() {
    curl -s -u "$ADMIN:$ADMIN_PASS" "http://127.0.0.1:$1/api/nodes" 2>/dev/null |
        python3 -c 'import json,sys
try: print(sum(1 for n in json.load(sys.stdin) if n.get("running")))
except Exception: print(0)'
}

wait_running() { # COUNT
    local deadline=$((SECONDS + 240))
    while :; do
        local ok=1
        for m in "${NODE_MGMT[@]}"; do
            [ "$(running "$m")" -ge "$1" ] || ok=0
        done
        [ $ok = 1 ] && return 0
        [ $SECONDS -gt $deadline ] && { echo "RabbitMQ ($1 nodes) did not start" >&2; exit 1; }
        sleep 0.3
    done
}

start_rabbit() { # COUNT NAME
    local count=$1 dir="$TMP/$2"
    mkdir -p "$dir/home"
    printf 'IPLOSBENCH%s' "$$" >"$dir/home/.erlang.cookie"
    chmod 400 "$dir/home/.erlang.cookie"
    local epmd_port
    epmd_port=$(free_port)
    ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$epmd_port" >/dev/null 2>&1 &
    EPMD_PID=$!
    local names=() i
    for i in $(seq 0 $((count - 1))); do names+=("iplosbench$$${2}n$i@localhost"); done
    for i in $(seq 0 $((count - 1))); do
        local name=${names[$i]} nd="$dir/n$i"
        local amqp mgmt dist
        amqp=$(free_port); mgmt=$(free_port); dist=$(free_port)
        mkdir -p "$nd/mnesia" "$nd/log"
        echo '[rabbitmq_amqp1_0,rabbitmq_management].' >"$nd/enabled_plugins"
        cat >"$nd/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$amqp
management.tcp.port = $mgmt
management.tcp.ip = 127.0.0.1
default_user = $ADMIN
default_pass = $ADMIN_PASS
default_user_tags.administrator = true
loopback_users = none
amqp1_0.default_user = none
disk_free_limit.absolute = 50MB
log.console = false
log.file.level = warning
EOF
        if [ "$count" -gt 1 ]; then
            {
                echo "cluster_formation.peer_discovery_backend = classic_config"
                local j=1
                for n in "${names[@]}"; do echo "cluster_formation.classic_config.nodes.$j = $n"; j=$((j + 1)); done
            } >>"$nd/rabbitmq.conf"
        fi
        : >"$nd/rabbitmq-env.conf"
        echo '[].' >"$nd/advanced.config"
        (
            export HOME="$dir/home" RABBITMQ_NODENAME="$name" \
                RABBITMQ_CONF_ENV_FILE="$nd/rabbitmq-env.conf" RABBITMQ_CONFIG_FILE="$nd/rabbitmq.conf" \
                RABBITMQ_ADVANCED_CONFIG_FILE="$nd/advanced.config" RABBITMQ_MNESIA_BASE="$nd/mnesia" \
                RABBITMQ_LOG_BASE="$nd/log" RABBITMQ_ENABLED_PLUGINS_FILE="$nd/enabled_plugins" \
                RABBITMQ_PID_FILE="$nd/rabbit.pid" RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
                RABBITMQ_NODE_PORT="$amqp" RABBITMQ_DIST_PORT="$dist" \
                ERL_EPMD_PORT="$epmd_port" ERL_EPMD_ADDRESS=127.0.0.1
            exec "$SERVER" >"$nd/stdout.log" 2>&1 </dev/null
        ) &
        echo $! >"$nd/sh.pid"
        NODE_DIRS+=("$nd"); NODE_AMQP+=("$amqp"); NODE_MGMT+=("$mgmt")
        # The first node alone, then the others join it.
        [ "$i" = 0 ] && wait_running 1
    done
    wait_running "$count"
}

broker_url() {
    local nodes=() p
    for p in "${NODE_AMQP[@]}"; do nodes+=("127.0.0.1:$p"); done
    local IFS=,
    echo "amqp://$ADMIN:$ADMIN_PASS@${nodes[*]}"
}
management_url() { echo "http://$ADMIN:$ADMIN_PASS@127.0.0.1:${NODE_MGMT[0]}"; }

if [ -n "$START" ]; then
    start_rabbit "$START" manual
    echo "--broker $(broker_url) --broker-management $(management_url)"
    echo "running; Ctrl-C stops the nodes"
    while :; do sleep 3600; done
fi

cargo build --release -p iplos-harness
BIN=target/release/iplos-harness
mkdir -p "$OUT"
RESULTS="$OUT/results.tsv"
printf 'config\twall_s\tmessages\tmsg_per_s\tharness_peak_kb\tbeam_peak_kb\n' >"$RESULTS"

# Messages over the service bus: every message the register received and every answer it
# published, from the run store (the same file on both brokers).
messages() { # STATE_DIR
    python3 - "$1" <<'EOF'
import sqlite3, sys, os
c = sqlite3.connect(os.path.join(sys.argv[1], "run.sqlite"))
rows = c.execute("select count(*) from rcv_message").fetchone()[0]
replies = c.execute("select count(*) from rcv_message where reply is not null").fetchone()[0]
print(rows + replies)
EOF
}

run_one() { # CONFIG [BROKER ARGS...]
    local config=$1; shift
    local dir="$OUT/$config"
    rm -rf "$dir"; mkdir -p "$dir"
    echo "== $config: rehearse --season $SEASON --scale $SCALE $*"
    local t0=$SECONDS
    /usr/bin/time -v -o "$dir/time.txt" "$BIN" rehearse --season "$SEASON" --scale "$SCALE" \
        --out "$dir/out" "$@" >"$dir/stdout.txt" 2>"$dir/stderr.txt" ||
        { echo "$config failed (see $dir/stderr.txt)"; tail -5 "$dir/stderr.txt"; }
    local wall harness_kb beams="" d
    wall=$(python3 -c "import json; print(round(json.load(open('$dir/out/report.json'))['timing']['wall_seconds'],1))" 2>/dev/null || echo $((SECONDS - t0)))
    harness_kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$dir/time.txt")
    for d in "${NODE_DIRS[@]}"; do
        p=$(beam_pid "$d")
        beams="$beams$(awk '/VmHWM/ {print $2}' "/proc/$p/status" 2>/dev/null || echo '?') "
    done
    local n
    n=$(messages "$dir/out/state" 2>/dev/null || echo '?')
    local rate
    rate=$(python3 -c "print(round($n/$wall,1))" 2>/dev/null || echo '?')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$config" "$wall" "$n" "$rate" "$harness_kb" "${beams:--}" >>"$RESULTS"
    tail -1 "$RESULTS"
}

for c in $ONLY; do
    case "$c" in
        builtin) run_one builtin ;;
        single)
            start_rabbit 1 single
            run_one single --broker "$(broker_url)" --broker-management "$(management_url)"
            stop_rabbit ;;
        cluster)
            start_rabbit 3 cluster
            run_one cluster --broker "$(broker_url)" --broker-management "$(management_url)"
            stop_rabbit ;;
        *) echo "unknown configuration: $c" >&2; exit 2 ;;
    esac
done
echo
column -t "$RESULTS"
