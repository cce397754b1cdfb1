#!/usr/bin/env bash
# Scale-out benchmark (issue #16, docs/scale-out.md): one redis-server (appendonly yes,
# appendfsync always, as the single-process redis figure) and 1, 2 or 3 macp-runtime processes with
# MACP_CLUSTER=1, driven by macp_load over all of them in the same run, next to one process without
# MACP_CLUSTER and the no-op ceiling. A benchmark, not a test: prints figures, asserts nothing.
#   usage: tests/bench/cluster_bench.sh [build dir=build] [seconds=3]
# Every process is started here on a free loopback port and stopped by its PID; each load run is
# bounded by macp_load's --seconds and --max-sends.
set -euo pipefail
build=$(realpath "${1:-build}")
seconds="${2:-3}"
bin="$build/bin/macp-runtime"
load="$build/tests/bench/macp_load"
plugins="$build/plugins"
[ -x "$bin" ] && [ -x "$load" ] || { echo "build first: $bin and $load are needed" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "redis-server is not installed (scripts/install-deps.sh)" >&2; exit 2; }

work=$(mktemp -d)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {  # up to 10 s
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; return 1
}

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --appendonly yes --appendfsync always \
  --save '' --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
trap 'stop_all; kill -TERM $redis_pid 2>/dev/null; wait $redis_pid 2>/dev/null; [ -n "${KEEP_LOGS:-}" ] || rm -rf "$work"' EXIT
wait_port "$redis_port"

common=(MACP_ALLOW_INSECURE=1 MACP_STORAGE_BACKEND=redis "MACP_REDIS_URL=redis://127.0.0.1:$redis_port"
        "MACP_PLUGIN_PATH=$plugins" MACP_MESSAGE_LIMIT_PER_MINUTE=1000000000
        MACP_SESSION_START_LIMIT_PER_MINUTE=1000000000 MACP_CONCURRENCY_LIMIT_PER_CONNECTION=100000
        MACP_MAX_CONCURRENT_STREAMS=10000 RUST_LOG=warn)

# start N CLUSTER(0|1) PREFIX: starts N runtimes; sets $addresses and $pids.
start() {
  local n=$1 cluster=$2 prefix=$3 list=""
  for i in $(seq 1 "$n"); do
    local port; port=$(free_port)
    local extra=()
    [ "$cluster" = 1 ] && extra=(MACP_CLUSTER=1 "MACP_NODE_ID=bench$i")
    env "${common[@]}" "${extra[@]}" "MACP_REDIS_KEY_PREFIX=$prefix:" "MACP_BIND_ADDR=127.0.0.1:$port" \
      "$bin" >"$work/$prefix-$i.log" 2>&1 &
    pids+=($!)
    wait_port "$port"
    list="${list:+$list,}127.0.0.1:$port"
  done
  addresses=$list
}

run() {  # label, address list, extra macp_load flags...
  local label=$1 addr=$2; shift 2
  local pidlist; pidlist=$(IFS=,; echo "${pids[*]}")
  printf '%-34s ' "$label"
  "$load" --address="$addr" --pid="$pidlist" --sessions=64 --depth=1 --channels=6 --seconds="$seconds" \
    --max-sends=5000000 "$@" | tail -n 1
}

echo "# $(date -u +%FT%TZ) $(nproc) cores; redis appendfsync always; 64 sessions x depth 1, 6 channels, ${seconds} s"
noop_line=$("$load" --server=noop --sessions=64 --depth=1 --channels=6 --seconds="$seconds" | tail -n 1)
printf '%-34s %s\n' "no-op ceiling" "$noop_line"

start 1 0 single; run "1 process, no cluster" "$addresses"; stop_all
for n in 1 2 3; do
  start "$n" 1 "cluster$n"
  run "$n process(es), MACP_CLUSTER=1" "$addresses"
  [ "$n" -gt 1 ] && run "$n processes, every Send forwarded" "$addresses" --send-channel-offset=1
  stop_all
done
