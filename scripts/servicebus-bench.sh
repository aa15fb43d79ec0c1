#!/usr/bin/env bash
# Service bus throughput: our broker (mocks::servicebus) and Debian's RabbitMQ 3.10 with its
# AMQP 1.0 plugin, in the same run, with the same client (mocks/examples/sb_load.rs, fe2o3-amqp)
# and the same messages (10 kB, NHN-shaped, durable), on loopback. Prints a table.
#
#   scripts/servicebus-bench.sh [sb_load run options...]
#
# e.g. scripts/servicebus-bench.sh --messages 20000 --producers 4 --consumers 2
#
# Environment:
#   ROUNDS=N          measured rounds per broker, alternating ours/RabbitMQ (default 3)
#   PIPELINES="broker broker+receiver"  what to measure (default both):
#                     broker: the broker alone, PHASES below, with the options given;
#                     broker+receiver: real signed and encrypted IPLOS messages answered with
#                     AppRecs (CMS included), concurrent phase, RECEIVER_ARGS; three runs per
#                     round: ours with the national receiver (mocks::receiver) in-process,
#                     ours with sb_load's receiver role as an AMQP client, and RabbitMQ with
#                     the same receiver role
#   RECEIVER_ARGS     sb_load options for broker+receiver (default
#                     "--messages 2000 --warmup 200 --producers 1": one kommune sending in
#                     order, so that its notifications chain)
#   PHASES="concurrent split"  the --phase values of the broker runs (default both)
#   RUN_TIMEOUT=SECS  a run that takes longer fails and the next one starts (default 180;
#                     fe2o3-amqp's client has been seen to hang, spinning, now and then)
#   RABBITMQ=0        skip RabbitMQ (ours only)
#   STORES="stock"    our broker's stores to run (sb_load serve --store); stock, the
#                     broker's SqliteStore, is the only one now
#   RABBITMQ_PORT     AMQP port of the temporary RabbitMQ node (default: a free port)
#   KEEP=1            keep the temporary directory (RabbitMQ logs, results.jsonl)
#   CHECK=1           also check on RabbitMQ which AMQP 1.0 address forms work for the
#                     queue, and that the messages are persistent (still there after the
#                     RabbitMQ application is restarted); ROUNDS=0 CHECK=1: only that
#
# Needs: cargo; for RabbitMQ, Debian's rabbitmq-server (apt-get install rabbitmq-server; the
# AMQP 1.0 plugin ships with it). NOT run in CI: it takes minutes and needs Erlang.
#
# RabbitMQ is run as a private node: nodename, config, definitions, data (mnesia), logs,
# enabled-plugins file, Erlang cookie (HOME) and an epmd of its own (on its own port), all in
# a temp directory; it listens on 127.0.0.1 only and is stopped at the end, epmd too.
# Nothing under /etc/rabbitmq or /var/lib/rabbitmq is used.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROUNDS="${ROUNDS:-3}"
PHASES="${PHASES:-concurrent split}"
PIPELINES="${PIPELINES:-broker broker+receiver}"
RECEIVER_ARGS="${RECEIVER_ARGS:---messages 2000 --warmup 200 --producers 1}"
RUN_TIMEOUT="${RUN_TIMEOUT:-180}"
STORES="${STORES:-stock}"
RABBITMQ="${RABBITMQ:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

work="$(mktemp -d /tmp/sb-bench.XXXXXX)"
results="$work/results.jsonl"
rabbit_pid=""
epmd_pid=""

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cleanup() {
    set +e
    if [ -n "$rabbit_pid" ]; then
        echo "stopping RabbitMQ" >&2
        rmq rabbitmqctl stop >/dev/null 2>&1 || kill "$rabbit_pid" 2>/dev/null
        for _ in $(seq 1 60); do kill -0 "$rabbit_pid" 2>/dev/null || break; sleep 0.5; done
        kill -0 "$rabbit_pid" 2>/dev/null && kill -9 "$rabbit_pid" 2>/dev/null
    fi
    if [ -n "$epmd_pid" ]; then
        kill "$epmd_pid" 2>/dev/null
        wait "$epmd_pid" 2>/dev/null
        # An Erlang CLI node may have started "epmd -daemon" on our private port meanwhile.
        ERL_EPMD_PORT="$EPMD_PORT" epmd -kill >/dev/null 2>&1
    fi
    if [ "${KEEP:-0}" = 1 ]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

echo "building the load driver (release)" >&2
(cd "$here" && cargo build --release -q -p iplos-mocks --example sb_load)
driver="$CARGO_TARGET_DIR/release/examples/sb_load"

# ---------------------------------------------------------------------------------------
# RabbitMQ: a private node on loopback
# ---------------------------------------------------------------------------------------
RMQ_USER_P=kommune0301 RMQ_PASS_P=load-kommune
RMQ_USER_C=kpr RMQ_PASS_C=load-kpr
VHOST=iplos NS=NHNTESTServiceBus QUEUE=131725_async REPLY_QUEUE=123_async

rmq() {
    # Runs a RabbitMQ tool against the private node.
    local tool="$1"; shift
    env HOME="$work/rabbit" \
        RABBITMQ_NODENAME="iplosbench@localhost" \
        RABBITMQ_CONF_ENV_FILE="$work/rabbit/rabbitmq-env.conf" \
        RABBITMQ_CONFIG_FILE="$work/rabbit/rabbitmq.conf" \
        RABBITMQ_ADVANCED_CONFIG_FILE="$work/rabbit/advanced.config" \
        RABBITMQ_MNESIA_BASE="$work/rabbit/mnesia" \
        RABBITMQ_LOG_BASE="$work/rabbit/log" \
        RABBITMQ_ENABLED_PLUGINS_FILE="$work/rabbit/enabled_plugins" \
        RABBITMQ_PID_FILE="$work/rabbit/rabbit.pid" \
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
        RABBITMQ_NODE_PORT="$RABBITMQ_PORT" \
        RABBITMQ_DIST_PORT="$DIST_PORT" \
        ERL_EPMD_PORT="$EPMD_PORT" \
        ERL_EPMD_ADDRESS=127.0.0.1 \
        "/usr/lib/rabbitmq/bin/$tool" "$@"
}

start_rabbitmq() {
    if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]; then
        echo "RabbitMQ is not installed: apt-get install -y rabbitmq-server (or RABBITMQ=0)" >&2
        exit 2
    fi
    RABBITMQ_PORT="${RABBITMQ_PORT:-$(free_port)}"
    DIST_PORT="$(free_port)"
    EPMD_PORT="$(free_port)"
    mkdir -p "$work/rabbit/mnesia" "$work/rabbit/log"
    : >"$work/rabbit/rabbitmq-env.conf"
    echo "[]." >"$work/rabbit/advanced.config"
    # The AMQP 1.0 plugin, enabled offline (the file rabbitmq-plugins --offline writes).
    echo "[rabbitmq_amqp1_0]." >"$work/rabbit/enabled_plugins"
    # Users, a vhost, NHN's namespace as a durable direct exchange and the KPR queue and the
    # kommune's queue (for AppRecs) as durable classic queues bound to it by their names:
    # the addresses are then the same as for our broker (/exchange/NHNTESTServiceBus/
    # 131725_async, /amq/queue/131725_async). Both users may read and write (the kommune
    # reads its AppRecs, KPR's receiver role writes them).
    cat >"$work/rabbit/definitions.json" <<EOF
{
  "users": [
    {"name": "$RMQ_USER_P", "password": "$RMQ_PASS_P", "tags": ""},
    {"name": "$RMQ_USER_C", "password": "$RMQ_PASS_C", "tags": ""}
  ],
  "vhosts": [{"name": "$VHOST"}],
  "permissions": [
    {"user": "$RMQ_USER_P", "vhost": "$VHOST", "configure": "", "write": ".*", "read": ".*"},
    {"user": "$RMQ_USER_C", "vhost": "$VHOST", "configure": "", "write": ".*", "read": ".*"}
  ],
  "exchanges": [
    {"name": "$NS", "vhost": "$VHOST", "type": "direct", "durable": true,
     "auto_delete": false, "internal": false, "arguments": {}}
  ],
  "queues": [
    {"name": "$QUEUE", "vhost": "$VHOST", "durable": true, "auto_delete": false,
     "arguments": {}},
    {"name": "$REPLY_QUEUE", "vhost": "$VHOST", "durable": true, "auto_delete": false,
     "arguments": {}}
  ],
  "bindings": [
    {"source": "$NS", "vhost": "$VHOST", "destination": "$QUEUE",
     "destination_type": "queue", "routing_key": "$QUEUE", "arguments": {}},
    {"source": "$NS", "vhost": "$VHOST", "destination": "$REPLY_QUEUE",
     "destination_type": "queue", "routing_key": "$REPLY_QUEUE", "arguments": {}}
  ]
}
EOF
    cat >"$work/rabbit/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$RABBITMQ_PORT
definitions.import_backend = local_filesystem
definitions.local.path = $work/rabbit/definitions.json
amqp1_0.default_user = none
amqp1_0.default_vhost = $VHOST
disk_free_limit.absolute = 100MB
log.console = false
log.file.level = warning
EOF
    # An epmd of our own on a port of our own, in the foreground (Erlang's own "epmd -daemon"
    # start does not survive in some sandboxes), stopped at the end.
    ERL_EPMD_ADDRESS=127.0.0.1 epmd -port "$EPMD_PORT" >"$work/rabbit/epmd.log" 2>&1 &
    epmd_pid=$!
    for _ in $(seq 1 50); do
        ERL_EPMD_PORT="$EPMD_PORT" epmd -names >/dev/null 2>&1 && break
        sleep 0.1
    done
    echo "starting RabbitMQ 3.10 (AMQP 1.0 plugin) on 127.0.0.1:$RABBITMQ_PORT" >&2
    rmq rabbitmq-server >"$work/rabbit/stdout.log" 2>&1 &
    rabbit_pid=$!
    # `rabbitmqctl wait` waits for the pid file, then for the node to have booted.
    if ! rmq rabbitmqctl --timeout 180 wait "$work/rabbit/rabbit.pid" >"$work/rabbit/wait.log" 2>&1; then
        echo "RabbitMQ did not start:" >&2
        tail -n 30 "$work/rabbit/wait.log" "$work/rabbit/stdout.log" >&2 || true
        exit 1
    fi
    beam_pid="$(cat "$work/rabbit/rabbit.pid")"
    rmq rabbitmqctl -q list_queues -p "$VHOST" name durable >&2
}

# ---------------------------------------------------------------------------------------
# The runs: ours and RabbitMQ alternately, same options
# ---------------------------------------------------------------------------------------
[ "$RABBITMQ" = 1 ] && start_rabbitmq

echo "machine: $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
rabbit_args=(--url "amqp://$RMQ_USER_P:$RMQ_PASS_P@127.0.0.1:${RABBITMQ_PORT:-0}"
    --consumer-url "amqp://$RMQ_USER_C:$RMQ_PASS_C@127.0.0.1:${RABBITMQ_PORT:-0}"
    --hostname "vhost:$VHOST" --broker-pid "${beam_pid:-0}")
for pipeline in $PIPELINES; do
  if [ "$pipeline" = broker ]; then
    for phase in $PHASES; do
      for round in $(seq 1 "$ROUNDS"); do
        echo "== broker alone, $phase, round $round/$ROUNDS" >&2
        for store in $STORES; do
            label=ours
            [ "$store" = stock ] || label="ours-$store"
            "$driver" run --label "$label" --spawn-ours --store "$store" --phase "$phase" \
                --json "$results" --timeout "$RUN_TIMEOUT" "$@" || echo "!! $label $phase round $round failed" >&2
        done
        if [ "$RABBITMQ" = 1 ]; then
            "$driver" run --label rabbitmq-3.10 --phase "$phase" --json "$results" --timeout "$RUN_TIMEOUT" \
                "${rabbit_args[@]}" "$@" \
                || echo "!! rabbitmq $phase round $round failed" >&2
        fi
      done
    done
  else
    for round in $(seq 1 "$ROUNDS"); do
        echo "== broker + receiver, round $round/$ROUNDS" >&2
        # shellcheck disable=SC2086 # RECEIVER_ARGS is a list of options
        "$driver" run --label ours+national-receiver --spawn-ours --pipeline broker+receiver \
            --json "$results" --timeout "$RUN_TIMEOUT" $RECEIVER_ARGS || echo "!! ours+national round $round failed" >&2
        # shellcheck disable=SC2086
        "$driver" run --label ours --spawn-ours --pipeline broker+receiver --receiver client \
            --json "$results" --timeout "$RUN_TIMEOUT" $RECEIVER_ARGS || echo "!! ours round $round failed" >&2
        if [ "$RABBITMQ" = 1 ]; then
            # shellcheck disable=SC2086
            "$driver" run --label rabbitmq-3.10 --pipeline broker+receiver --json "$results" --timeout "$RUN_TIMEOUT" \
                "${rabbit_args[@]}" $RECEIVER_ARGS \
                || echo "!! rabbitmq broker+receiver round $round failed" >&2
        fi
    done
  fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

if [ "$RABBITMQ" = 1 ] && [ "${CHECK:-0}" = 1 ]; then
    rabbit_run() {
        "$driver" run --label check --messages 50 --warmup 0 --json /dev/null \
            --url "amqp://$RMQ_USER_P:$RMQ_PASS_P@127.0.0.1:$RABBITMQ_PORT" \
            --consumer-url "amqp://$RMQ_USER_C:$RMQ_PASS_C@127.0.0.1:$RABBITMQ_PORT" \
            --hostname "vhost:$VHOST" --timeout 30 "$@" >/dev/null 2>"$work/check.err"
    }
    echo "== RabbitMQ address forms (send to TARGET, receive from /amq/queue/$QUEUE and back)" >&2
    for target in "/exchange/$NS/$QUEUE" "/amq/queue/$QUEUE" "/queue/$QUEUE" "$QUEUE" \
        "/exchange/amq.default/$QUEUE"; do
        if rabbit_run --target "$target"; then r=ok; else r="FAILED: $(tail -n 1 "$work/check.err")"; fi
        echo "   target $target: $r" >&2
    done
    for source in "/queue/$QUEUE" "$QUEUE"; do
        if rabbit_run --source "$source"; then r=ok; else r="FAILED: $(tail -n 1 "$work/check.err")"; fi
        echo "   source $source: $r" >&2
    done
    echo "   (the same, with configure permission for both users: these forms declare the queue)" >&2
    rmq rabbitmqctl -q set_permissions -p "$VHOST" "$RMQ_USER_P" ".*" ".*" "" >/dev/null
    rmq rabbitmqctl -q set_permissions -p "$VHOST" "$RMQ_USER_C" ".*" "" ".*" >/dev/null
    for target in "/queue/$QUEUE" "$QUEUE"; do
        if rabbit_run --target "$target"; then r=ok; else r="FAILED: $(tail -n 1 "$work/check.err")"; fi
        echo "   target $target: $r" >&2
    done
    for source in "/queue/$QUEUE" "$QUEUE"; do
        if rabbit_run --source "$source"; then r=ok; else r="FAILED: $(tail -n 1 "$work/check.err")"; fi
        echo "   source $source: $r" >&2
    done
    echo "== RabbitMQ persistence: 100 messages left in $QUEUE, then stop_app/start_app" >&2
    rabbit_run --messages 100 --produce-only || echo "   produce failed" >&2
    rmq rabbitmqctl -q list_queues -p "$VHOST" name durable messages messages_persistent >&2
    rmq rabbitmqctl -q stop_app >/dev/null && rmq rabbitmqctl -q start_app >/dev/null
    rmq rabbitmqctl -q list_queues -p "$VHOST" name durable messages messages_persistent >&2
fi
echo
if [ -s "$results" ]; then
    "$driver" report "$results"
fi
