#!/usr/bin/env bash
# Benchmarks onair against nginx answering the same fixed body, in one run on
# one machine, and prints each scenario's throughput as a ratio to nginx, p99
# latency, and each server's CPU time per request (us/r), which is the steadier
# figure when other work shares the machine. Each server runs alone: started, measured, stopped, then the
# other. Raw wrk output, every round's figures (rounds.txt) and a summary go to
# bench/results/<time>/.
#
#   bench/run.sh
#   BENCH_SECONDS=30 bench/run.sh            seconds per wrk run (default 10)
#   BENCH_ROUNDS=3 bench/run.sh              alternate runs, keep each one's best
#   BENCH_ONLY=health,idle_conns bench/run.sh   only these scenarios
#   BENCH_ONLY=events bench/run.sh           GET /events: memory per stream and
#                                            delivery latency (onair only)
#   BENCH_ONLY=map,gig_lifecycle bench/run.sh   the gig scenarios: GET /map with
#                                            10 000 operators online in one city
#                                            (map; map_1k: 1000), and complete gigs/s
#                                            (bench/gig_lifecycle.py, onair only).
#                                            Their accounts are created once (Argon2id:
#                                            ~11 min for 10 000) and cached; see
#                                            bench/gig_setup.py and BENCH_GIG_* below
#   BENCH_ONLY=ping,stream_expiry bench/run.sh   the dealer-stream scenarios: POST /ping
#                                            by 10 000 dealers in turn (ping, against
#                                            nginx), and how late 10 000 silent streams
#                                            expire (stream_expiry, onair only). The
#                                            dealers are created once (Argon2id: ~15 min)
#                                            and cached; see bench/stream_setup.py,
#                                            bench/stream_expiry.py and BENCH_STREAM_* below
#   BENCH_ONLY=stats_small,stats_large,batch_large bench/run.sh   telemetry
#                                            ingest (API.md §6.1): POST /stats of a
#                                            2-party call's 10 s sample (~7 KiB) by
#                                            BENCH_TELEMETRY_PARTICIPANTS SDK clients in
#                                            turn, and 100+ KiB /stats and
#                                            /connection/batch bodies; also MB/s of JSON
#                                            and MB/s per onair core (bench/telemetry_setup.py)
#   BENCH_ONLY=conf_events bench/run.sh      telemetry queries (API.md §6.3): GET
#                                            /conferences/:id/events pages of 50 at
#                                            offsets across a conference of
#                                            BENCH_CONF_EVENTS events (loaded through
#                                            /connection/batch: bench/conf_events_setup.py)
#   BENCH_ONLY=room_message bench/run.sh     POST /room/message by the members of 100
#                                            chat rooms in turn (BENCH_ROOM_PAIRS), against
#                                            nginx; accounts as for ping (cached)
#   BENCH_TARGETS=nginx bench/run.sh         only this server (onair, nginx)
#   ONAIR_BIN=/path/to/onair bench/run.sh    that binary instead of building
#   BENCH_REDIS_ARGS='--appendonly no' bench/run.sh   more redis-server arguments
#                                            after deploy/redis.conf (to see what
#                                            persistence costs, say)
#                                            (bench/gig_driver is still built)
#   BENCH_GIG_DRIVER=python bench/run.sh     gig_lifecycle's generator: the C
#                                            driver (c, the default) or the
#                                            Python loop
#
# Scenarios are declared in scenarios() at the bottom; see scenario() and
# idle_scenario() for their arguments.
# shellcheck disable=SC2317  # shellcheck 0.9 thinks functions run from traps are unreachable
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly ROOT
readonly BENCH_DIR="$ROOT/bench"
readonly DURATION_S="${BENCH_SECONDS:-10}"
readonly ONLY="${BENCH_ONLY:-}"
readonly TARGETS="${BENCH_TARGETS:-onair nginx}"
readonly IDLE_CONNS="${BENCH_IDLE_CONNS:-10000}"
readonly ROUNDS="${BENCH_ROUNDS:-1}"
# The events scenario (bench/events.py): idle streams over accounts, and
# clients (one stream each) receiving events at a rate for BENCH_SECONDS.
readonly EVENTS_ACCOUNTS="${BENCH_EVENTS_ACCOUNTS:-1000}"
readonly EVENTS_STREAMS="${BENCH_EVENTS_STREAMS:-10000}"
readonly EVENTS_CLIENTS="${BENCH_EVENTS_CLIENTS:-1000}"
readonly EVENTS_RATE="${BENCH_EVENTS_RATE:-1000}"
# The gig scenarios (bench/gig_setup.py, bench/gig_lifecycle.py): operators on
# the map; customer/operator pairs and generator processes for the lifecycle;
# seconds of account creation per run for map operators not cached yet (0: no
# limit; the rest are created by later runs), and the cache file.
readonly MAP_OPERATORS="${BENCH_MAP_OPERATORS:-10000}"
readonly GIG_PAIRS="${BENCH_GIG_PAIRS:-200}"
readonly GIG_PROCS="${BENCH_GIG_PROCS:-2}"
readonly GIG_DRIVER="${BENCH_GIG_DRIVER:-c}"
readonly GIG_SETUP_BUDGET_S="${BENCH_GIG_SETUP_BUDGET_S:-180}"
readonly GIG_CACHE="${BENCH_GIG_CACHE:-$BENCH_DIR/results/cache/gig-accounts.json.gz}"
# The dealer-stream scenarios (bench/stream_setup.py, bench/stream_expiry.py):
# dealers that ping (ping) or each stream once (stream_expiry), spread over
# organizations (one more dealer per organization is offered the streams and
# never accepts), GET /events streams watching for `expired`, the ping timeout
# of stream_expiry's server (it must outlast the set-up: see
# bench/stream_expiry.py), seconds of dealer creation per run (0: no limit), and
# the cache file.
readonly STREAM_DEALERS="${BENCH_STREAM_DEALERS:-10000}"
readonly STREAM_ORGS="${BENCH_STREAM_ORGS:-10}"
readonly STREAM_SSE="${BENCH_STREAM_SSE:-2000}"
readonly STREAM_PING_TIMEOUT_MS="${BENCH_STREAM_PING_TIMEOUT_MS:-15000}"
readonly STREAM_SETUP_BUDGET_S="${BENCH_STREAM_SETUP_BUDGET_S:-0}"
readonly STREAM_CACHE="${BENCH_STREAM_CACHE:-$BENCH_DIR/results/cache/stream-dealers.json.gz}"
# The telemetry scenarios (bench/telemetry_setup.py): SDK clients in 2-party
# conferences, how many of them post the large bodies, and their size.
readonly TELEMETRY_PARTICIPANTS="${BENCH_TELEMETRY_PARTICIPANTS:-200}"
readonly TELEMETRY_LARGE="${BENCH_TELEMETRY_LARGE:-16}"
readonly TELEMETRY_LARGE_KIB="${BENCH_TELEMETRY_LARGE_KIB:-110}"
# The telemetry query scenario (bench/conf_events_setup.py): events in its conference.
readonly CONF_EVENTS="${BENCH_CONF_EVENTS:-100000}"
# The map's city (the operators are within 5 km of it).
readonly GIG_CENTER_LAT=10.7769 GIG_CENTER_LONG=106.7009
CLK_TCK=$(getconf CLK_TCK)
readonly CLK_TCK
readonly START_TIMEOUT_S=15
readonly STOP_TIMEOUT_S=30

# Parity with nginx (access_log off, keepalive_requests 1000000): onair logs
# warnings only and does not close busy keep-alive connections mid-run.
export ONAIR_LOG_LEVEL="${ONAIR_LOG_LEVEL:-warn}"
export ONAIR_MAX_REQUESTS_PER_CONN="${ONAIR_MAX_REQUESTS_PER_CONN:-1000000}"
# The scenarios log in far more often than a person would.
export ONAIR_LOGIN_RATE_PER_MIN="${ONAIR_LOGIN_RATE_PER_MIN:-1000000}"
export ONAIR_AUTH_IP_RATE_PER_MIN="${ONAIR_AUTH_IP_RATE_PER_MIN:-1000000}"

onair_bin=""
gig_driver=""
tmp=""
results=""
redis_pid=""
redis_sock=""
server_pid=""
server_port=""
wrk_rps=""
wrk_p99=""
wrk_cpu_us=""
wrk_note=""
wrk_rows=()
idle_rows=()
failures=0
# Extra words for a scenario's notes column, set by its setup hook.
declare -A scenario_info=()

log() {
  echo "bench: $*" >&2
}

die() {
  log "$*"
  exit 1
}

# --- processes ---------------------------------------------------------------

# Waits up to $2 seconds for process $1 to exit; 0 when it did.
wait_exit() {
  local pid=$1 deadline=$((SECONDS + $2))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# Sends SIGTERM to $1 and reaps it, with SIGKILL past the bound.
stop_pid() {
  local pid=$1 name=$2
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_exit "$pid" "$STOP_TIMEOUT_S"; then
    log "$name (pid $pid) did not exit within ${STOP_TIMEOUT_S}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

stop_server() {
  [[ -n "$server_pid" ]] || return 0
  stop_pid "$server_pid" server
  server_pid=""
}

stop_redis() {
  [[ -n "$redis_pid" ]] || return 0
  redis-cli -s "$redis_sock" shutdown nosave >/dev/null 2>&1 || true
  stop_pid "$redis_pid" redis-server
  redis_pid=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  stop_redis
  [[ -n "$tmp" ]] && rm -rf "$tmp"
  exit "$rc"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# True when GET /health on 127.0.0.1:$1 answers 200.
health_ok() {
  # shellcheck disable=SC2016  # $0 expands in the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" &&
    printf "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3 &&
    head -c 12 <&3' "$1" 2>/dev/null | grep -q '^HTTP/1\.[01] 200'
}

start_redis() {
  mkdir -p "$tmp/redis"
  redis_sock="$tmp/redis/redis.sock"
  local extra=()
  read -ra extra <<<"${BENCH_REDIS_ARGS:-}"
  redis-server "$ROOT/deploy/redis.conf" --dir "$tmp/redis" --unixsocket "$redis_sock" \
    --pidfile "" --logfile "$tmp/redis/redis.log" "${extra[@]}" </dev/null &
  redis_pid=$!
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until redis-cli -s "$redis_sock" ping 2>/dev/null | grep -q PONG; do
    kill -0 "$redis_pid" 2>/dev/null || die "redis-server failed to start: $tmp/redis/redis.log"
    ((SECONDS < deadline)) || die "redis-server did not answer PING within ${START_TIMEOUT_S}s"
    sleep 0.1
  done
}

# Starts target $1 (onair or nginx) on a free port and waits for /health.
start_server() {
  local target=$1
  server_port=$(free_port)
  case "$target" in
    onair)
      "$onair_bin" --listen "127.0.0.1:$server_port" --redis "unix://$redis_sock" \
        </dev/null >>"$tmp/onair.log" 2>&1 &
      ;;
    nginx)
      sed -e "s|@TMP@|$tmp|g" -e "s|@PORT@|$server_port|g" \
        "$BENCH_DIR/nginx.conf.in" >"$tmp/nginx.conf"
      nginx -e "$tmp/nginx-error.log" -p "$tmp" -c "$tmp/nginx.conf" </dev/null &
      ;;
    *) die "unknown target $target" ;;
  esac
  server_pid=$!
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until health_ok "$server_port"; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      server_pid=""
      die "$target failed to start (see $tmp/$target*.log)"
    fi
    ((SECONDS < deadline)) || die "$target did not answer GET /health within ${START_TIMEOUT_S}s"
    sleep 0.1
  done
}

# --- scenarios -----------------------------------------------------------------

selected() {
  [[ -z "$ONLY" ]] && return 0
  [[ ",${ONLY// /,}," == *",$1,"* ]]
}

has_target() {
  [[ " $TARGETS " == *" $1 "* ]]
}

# CPU time (user + system, all threads) process $1 has used, in clock ticks.
cpu_ticks() {
  local stat fields
  stat=$(<"/proc/$1/stat")
  read -r -a fields <<<"${stat##*) }" # fields[0] is field 3 (state)
  echo $((fields[11] + fields[12]))     # utime + stime
}

# Runs wrk once against target $1; sets wrk_rps, wrk_p99, wrk_cpu_us (server
# CPU time per request, which contention on the machine barely moves) and
# wrk_note ("-" when clean). Runs in this shell, not a subshell, so the EXIT
# trap sees the server.
run_wrk() {
  local target=$1 name=$2 path=$3 lua=$4 out=$5
  shift 5
  local opts=() script_args=() ticks0 ticks1
  while (($#)); do
    if [[ "$1" == -- ]]; then
      shift
      script_args=("$@")
      break
    fi
    opts+=("$1")
    shift
  done
  [[ "$lua" == - ]] || opts+=(-s "$BENCH_DIR/$lua")
  start_server "$target"
  # A scenario may prepare the server (accounts, tokens) and add script args.
  if declare -F "setup_$name" >/dev/null; then
    "setup_$name" "$target"
  fi
  log "$name: $target: wrk ${opts[*]} -d${DURATION_S}s"
  ticks0=$(cpu_ticks "$server_pid")
  if ! wrk --latency --timeout 5s -d"${DURATION_S}s" "${opts[@]}" \
    "http://127.0.0.1:$server_port$path" "${script_args[@]}" >"$out" 2>&1; then
    stop_server
    cat "$out" >&2
    die "$name: wrk failed against $target"
  fi
  ticks1=$(cpu_ticks "$server_pid")
  stop_server
  read -r wrk_rps wrk_p99 wrk_cpu_us wrk_note < <(awk -v ticks=$((ticks1 - ticks0)) -v hz="$CLK_TCK" '
    / requests in / { n = $1 }
    /^Requests\/sec:/ { rps = $2 }
    # wrk 4.1 sometimes prints 0.00us for high percentiles (its coordinated-
    # omission correction files samples below the recorded minimum, which its
    # percentile walk never reaches; worst with pipelining): no figure then.
    $1 == "99%" { p99 = ($2 == "0.00us" ? "n/a" : $2) }
    /Non-2xx or 3xx responses:/ { note = note "non2xx=" $NF ";" }
    /Socket errors:/ { gsub(/,/, ""); note = note "errors(c/r/w/t)=" $4 "/" $6 "/" $8 "/" $10 ";" }
    END {
      if (note == "") note = "-"
      sub(/;$/, "", note)
      printf "%s %s %s %s\n", rps, p99, (n > 0 ? sprintf("%.2f", ticks * 1e6 / hz / n) : "-"), note
    }
  ' "$out")
}

# scenario NAME PATH LUA MIN_RATIO [wrk options...] [-- script args...]
# Runs wrk with the same arguments against each target in turn, BENCH_ROUNDS
# times alternating, and keeps each target's fastest clean run. LUA is a script
# under bench/ used for both targets ("-" for none: plain GET PATH); nginx
# answers the fixed body to any method and path, so a script may POST.
# MIN_RATIO is the budget for onair/nginx ("-" for none).
scenario() {
  local name=$1 path=$2 lua=$3 min_ratio=$4
  shift 4
  selected "$name" || return 0
  local -A rps=([onair]=- [nginx]=-) p99=([onair]=- [nginx]=-) cpu=([onair]=- [nginx]=-)
  local -A note=([onair]=- [nginx]=-)
  local target round out
  for ((round = 1; round <= ROUNDS; round++)); do
    for target in onair nginx; do
      has_target "$target" || continue
      out="$results/$name.$target.txt"
      ((ROUNDS == 1)) || out="$results/$name.$target.$round.txt"
      run_wrk "$target" "$name" "$path" "$lua" "$out" "$@"
      # Every round's figures, not only the kept one: the spread is the
      # honest figure on a shared machine.
      printf '%s %s round %d: %s req/s, p99 %s, %s us/r, %s\n' "$name" "$target" "$round" \
        "${wrk_rps:--}" "${wrk_p99:--}" "${wrk_cpu_us:--}" "${wrk_note:--}" | tee -a "$results/rounds.txt" >&2
      if [[ -z "$wrk_rps" || "$wrk_note" != - ]]; then
        log "$name: $target: ${wrk_note:-no result} (see $out)"
        failures=$((failures + 1))
        note[$target]=${wrk_note:-no-result}
      fi
      # A run with errors or non-2xx answers is reported, never kept as the best:
      # refusals answered fast would pass for throughput.
      if [[ -n "$wrk_rps" && "$wrk_note" == - ]] && { [[ "${rps[$target]}" == - ]] ||
        awk -v a="$wrk_rps" -v b="${rps[$target]}" 'BEGIN { exit !(a > b) }'; }; then
        rps[$target]=$wrk_rps p99[$target]=$wrk_p99 cpu[$target]=$wrk_cpu_us
      fi
    done
  done
  local ratio=- verdict=-
  if [[ "${rps[onair]}" != - && "${rps[nginx]}" != - ]]; then
    ratio=$(awk -v a="${rps[onair]}" -v b="${rps[nginx]}" 'BEGIN { printf "%.2fx", a / b }')
    if [[ "$min_ratio" != - ]]; then
      verdict=$(awk -v r="${ratio%x}" -v m="$min_ratio" 'BEGIN { print (r >= m ? "ok" : "BELOW") }')
    fi
  fi
  local notes="onair:${note[onair]} nginx:${note[nginx]}"
  [[ "$notes" == "onair:- nginx:-" ]] && notes=-
  if [[ -n "${scenario_info[$name]:-}" ]]; then
    [[ "$notes" == - ]] && notes=${scenario_info[$name]} || notes+=" ${scenario_info[$name]}"
  fi
  wrk_rows+=("$name|${rps[onair]}|${rps[nginx]}|$ratio|>=${min_ratio}x $verdict|${p99[onair]}|${p99[nginx]}|${cpu[onair]}|${cpu[nginx]}|$notes")
}

# idle_scenario NAME PATH COUNT MAX_KIB
# RSS per idle keep-alive connection: bench/idle_conns.py opens COUNT
# connections (one GET PATH each, then idle) to each target in turn.
# MAX_KIB is the budget for onair ("-" for none).
idle_scenario() {
  local name=$1 path=$2 count=$3 max_kib=$4
  selected "$name" || return 0
  local -A kib=([onair]=- [nginx]=-) rss=([onair]=- [nginx]=-)
  local target out line
  for target in onair nginx; do
    has_target "$target" || continue
    out="$results/$name.$target.txt"
    start_server "$target"
    log "$name: $target: $count idle connections"
    if ! "$BENCH_DIR/idle_conns.py" --pid "$server_pid" --port "$server_port" \
      --count "$count" --path "$path" >"$out" 2>&1; then
      stop_server
      cat "$out" >&2
      log "$name: $target: failed"
      failures=$((failures + 1))
      continue
    fi
    stop_server
    line=$(tail -n 1 "$out")
    kib[$target]=$(sed -n 's/.*kib_per_conn=\([0-9.]*\).*/\1/p' <<<"$line")
    rss[$target]="$(sed -n 's/.*rss_before_kib=\([0-9]*\).*/\1/p' <<<"$line")->$(
      sed -n 's/.*rss_after_kib=\([0-9]*\).*/\1/p' <<<"$line")"
  done
  local verdict=-
  if [[ "${kib[onair]}" != - && "$max_kib" != - ]]; then
    verdict=$(awk -v k="${kib[onair]}" -v m="$max_kib" 'BEGIN { print (k <= m ? "ok" : "ABOVE") }')
  fi
  idle_rows+=("$name|$count|${kib[onair]}|${kib[nginx]}|<=$max_kib $verdict|${rss[onair]}|${rss[nginx]}")
}

# events_scenario NAME MAX_KIB MAX_P99_MS
# GET /events on onair (nginx has no equivalent): bench/events.py measures the
# RSS per idle stream (EVENTS_STREAMS over EVENTS_ACCOUNTS accounts) and the
# delivery latency of EVENTS_RATE events/s to EVENTS_CLIENTS streams for
# DURATION_S seconds, published through the test hook POST /_test/notify.
# MAX_KIB and MAX_P99_MS are the budgets.
events_rows=()
events_scenario() {
  local name=$1 max_kib=$2 max_p99=$3
  selected "$name" || return 0
  has_target onair || return 0
  local out="$results/$name.onair.txt" line per_account
  per_account=$(((EVENTS_STREAMS + EVENTS_ACCOUNTS - 1) / EVENTS_ACCOUNTS))
  ONAIR_TEST_HOOKS=1 ONAIR_EVENTS_MAX_PER_ACCOUNT=$((per_account > 5 ? per_account : 5)) \
    start_server onair
  log "$name: onair: $EVENTS_STREAMS idle streams over $EVENTS_ACCOUNTS accounts, then" \
    "$EVENTS_RATE events/s to $EVENTS_CLIENTS streams for ${DURATION_S}s (see $out)"
  if ! "$BENCH_DIR/events.py" --pid "$server_pid" --port "$server_port" --phase both \
    --accounts "$EVENTS_ACCOUNTS" --streams "$EVENTS_STREAMS" --clients "$EVENTS_CLIENTS" \
    --rate "$EVENTS_RATE" --seconds "$DURATION_S" >"$out" 2>&1; then
    stop_server
    cat "$out" >&2
    log "$name: onair: failed"
    failures=$((failures + 1))
  else
    stop_server
  fi
  line=$(tail -n 1 "$out")
  local -A v=()
  local kv kvs=()
  read -r -a kvs <<<"$line"
  for kv in "${kvs[@]}"; do
    if [[ "$kv" == *=* ]]; then
      v[${kv%%=*}]=${kv#*=}
    fi
  done
  local per_stream=${v[kib_per_stream]:--} lat_p99=${v[p99_ms]:--} kib_verdict=- p99_verdict=-
  [[ "$per_stream" == - ]] ||
    kib_verdict=$(awk -v k="$per_stream" -v m="$max_kib" 'BEGIN { print (k <= m ? "ok" : "ABOVE") }')
  [[ "$lat_p99" == - ]] ||
    p99_verdict=$(awk -v p="$lat_p99" -v m="$max_p99" 'BEGIN { print (p <= m ? "ok" : "ABOVE") }')
  events_rows+=("$name|${v[streams]:--}|$per_stream|<=$max_kib $kib_verdict|${v[rss_before_kib]:--}->${v[rss_after_kib]:--}|${v[clients]:--}|${v[rate]:--}|${v[sent]:--}|${v[received]:--}|${v[p50_ms]:--}|$lat_p99|${v[max_ms]:--}|<=${max_p99}ms $p99_verdict")
}

# --- gigs (API.md §4) ----------------------------------------------------------

# The gig scenarios' server keeps its keys under its own prefix, signs with a
# fixed secret and issues year-long tokens, so that the accounts and tokens
# bench/gig_setup.py caches (a DUMP of that prefix) still work in a later run.
readonly GIG_PREFIX=gigbench:
readonly GIG_SECRET=6f6e6169722d62656e63682d676967732d6f6e6c792d6e6f742d612d7365637265742d21
gig_env() {
  ONAIR_KEY_PREFIX=$GIG_PREFIX ONAIR_SECRET=$GIG_SECRET ONAIR_TOKEN_TTL_S=31536000 "$@"
}

# gig_setup ARGS...: bench/gig_setup.py against the running onair (accounts
# from the cache or created, then put online); its log goes to
# $results/gig_setup.log and stderr, its key=value line to $tmp/gig-setup.out,
# the accounts to $tmp/gig-accounts.json.
gig_setup() {
  "$BENCH_DIR/gig_setup.py" --port "$server_port" --redis-sock "$redis_sock" \
    --prefix "$GIG_PREFIX" --cache "$GIG_CACHE" --source-root "$ROOT" \
    --center "$GIG_CENTER_LAT,$GIG_CENTER_LONG" --concurrency 16 \
    --out "$tmp/gig-accounts.json" "$@" 2>&1 >"$tmp/gig-setup.out" |
    tee -a "$results/gig_setup.log" >&2
}

# Prints the value of key $1 in the key=value line in file $2 ("" when absent).
kv() {
  tail -n 1 "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# map_setup TARGET OPERATORS NAME: OPERATORS online around the city and the
# map customer's token for wrk (nginx: a placeholder). Map operators that are
# not cached yet are created for at most GIG_SETUP_BUDGET_S in the whole run,
# so every later round and scenario of the run sees the same ones.
gig_budget_end=""
map_setup() {
  local target=$1 want=$2 name=$3 n budget=0
  if [[ $target != onair ]]; then
    script_args+=(unused)
    return 0
  fi
  if ((GIG_SETUP_BUDGET_S > 0)); then
    [[ -n "$gig_budget_end" ]] || gig_budget_end=$((SECONDS + GIG_SETUP_BUDGET_S))
    budget=$((gig_budget_end - SECONDS))
    ((budget > 0)) || budget=-1
  fi
  log "$name: $want operators online (accounts from $GIG_CACHE, or created)"
  gig_setup --map-operators "$want" --pairs "$GIG_PAIRS" --budget "$budget" \
    --online map || die "$name: bench/gig_setup.py failed (see $results/gig_setup.log)"
  n=$(kv map_operators "$tmp/gig-setup.out")
  script_args+=("$(kv token "$tmp/gig-setup.out")")
  if ((n < want)); then
    log "$name: ONLY $n OF $want OPERATORS: measured with $n (see above)"
    scenario_info[$name]="operators=$n/$want(SHORT)"
  else
    scenario_info[$name]="operators=$n"
  fi
}

setup_map() {
  map_setup "$1" "$MAP_OPERATORS" map
}

setup_map_1k() {
  map_setup "$1" 1000 map_1k
}

# map_city: random points all over the operators' city (the cache's worst
# case: few callers share a cell).
setup_map_city() {
  map_setup "$1" "$MAP_OPERATORS" map_city
  script_args+=("$GIG_CENTER_LAT" "$GIG_CENTER_LONG" 5000)
}

# gig_scenario NAME MIN_GIGS_PER_S
# Complete gigs a second on onair (nginx has no equivalent):
# bench/gig_lifecycle.py drives GIG_PAIRS customer/operator pairs, each in its
# own area, through request -> rated (9 requests a gig) for DURATION_S, in
# GIG_PROCS generator processes (bench/gig_driver, or the Python loop with
# BENCH_GIG_DRIVER=python). MIN_GIGS_PER_S is the budget.
gig_rows=()
gig_scenario() {
  local name=$1 min_gigs=$2
  selected "$name" || return 0
  has_target onair || return 0
  local out="$results/$name.onair.txt" ok=1
  start_server onair
  log "$name: $GIG_PAIRS customer/operator pairs online (accounts from $GIG_CACHE, or created)"
  if ! gig_setup --pairs "$GIG_PAIRS" --online pairs; then
    log "$name: bench/gig_setup.py failed (see $results/gig_setup.log)"
    ok=0
  else
    log "$name: onair: $GIG_PAIRS pairs driving gigs for ${DURATION_S}s in $GIG_PROCS" \
      "process(es) (see $out)"
    if ! "$BENCH_DIR/gig_lifecycle.py" --port "$server_port" --pid "$server_pid" \
      --redis-pid "$redis_pid" --accounts "$tmp/gig-accounts.json" --pairs "$GIG_PAIRS" \
      --procs "$GIG_PROCS" --seconds "$DURATION_S" --driver "$gig_driver" >"$out" 2>&1; then
      cat "$out" >&2
      log "$name: onair: failed"
      ok=0
    fi
  fi
  stop_server
  ((ok)) || failures=$((failures + 1))
  [[ -s "$out" ]] || return 0
  grep '^gig_lifecycle: ' "$out" >&2 || true
  local gigs errors verdict=- notes=-
  gigs=$(kv gigs_per_s "$out")
  errors=$(kv errors "$out")
  [[ -z "$gigs" ]] ||
    verdict=$(awk -v g="$gigs" -v m="$min_gigs" 'BEGIN { print (g >= m ? "ok" : "BELOW") }')
  if [[ -n "$errors" && "$errors" != 0 ]]; then
    notes="errors=$errors"
    failures=$((failures + 1))
  fi
  [[ "$(kv gen_saturated "$out")" != 1 ]] || notes+=" generator-bound"
  gig_rows+=("$name|${GIG_PAIRS}x$GIG_PROCS|${gigs:--}|>=$min_gigs $verdict|$(kv requests_per_s "$out")|${errors:--}|$(kv p50_ms "$out")|$(kv p99_ms "$out")|$(kv server_us_per_gig "$out")|$(kv redis_us_per_gig "$out")|$(kv server_cpu_pct "$out")/$(kv redis_cpu_pct "$out")/$(kv gen_cpu_pct "$out")|${notes# }")
}

# --- dealer streams (API.md §5) -------------------------------------------------

# Like the gig scenarios: their own prefix, a fixed secret and year-long
# tokens so that bench/stream_setup.py's cache works in a later run, and the
# bootstrap admin that makes the organizations and dealers.
readonly STREAM_PREFIX=streambench:
readonly STREAM_SECRET=6f6e6169722d62656e63682d73747265616d732d6f6e6c792d6e6f742d612d73656372
readonly STREAM_ADMIN_EMAIL=streambench-admin@bench.test
readonly STREAM_ADMIN_PASSWORD=streambench-admin-password
stream_env() {
  ONAIR_KEY_PREFIX=$STREAM_PREFIX ONAIR_SECRET=$STREAM_SECRET ONAIR_TOKEN_TTL_S=31536000 \
    ONAIR_ADMIN_EMAIL=$STREAM_ADMIN_EMAIL ONAIR_ADMIN_PASSWORD=$STREAM_ADMIN_PASSWORD "$@"
}

# stream_setup ARGS...: bench/stream_setup.py against the running onair
# (STREAM_DEALERS + STREAM_ORGS dealers from the cache or created); its log
# goes to $results/stream_setup.log and stderr, its key=value line to
# $tmp/stream-setup.out.
stream_setup() {
  "$BENCH_DIR/stream_setup.py" --port "$server_port" --redis-sock "$redis_sock" \
    --prefix "$STREAM_PREFIX" --cache "$STREAM_CACHE" --source-root "$ROOT" \
    --admin-email "$STREAM_ADMIN_EMAIL" --admin-password "$STREAM_ADMIN_PASSWORD" \
    --orgs "$STREAM_ORGS" --dealers $((STREAM_DEALERS + STREAM_ORGS)) \
    --budget "$STREAM_SETUP_BUDGET_S" --concurrency 16 "$@" 2>&1 >"$tmp/stream-setup.out" |
    tee -a "$results/stream_setup.log" >&2
  [[ "$(kv ok "$tmp/stream-setup.out")" == 1 ]]
}

# ping: STREAM_DEALERS dealers' tokens in turn (bench/ping.lua), so each
# request checks another account and records another dealer's ping. nginx gets
# the same requests (the file onair's set-up wrote, when it ran first).
setup_ping() {
  local tokens="$tmp/dealer-tokens.txt" n
  if [[ $1 != onair ]]; then
    script_args+=("$tokens")
    return 0
  fi
  log "ping: $STREAM_DEALERS dealers (accounts from $STREAM_CACHE, or created)"
  stream_setup --tokens-file "$tokens" --tokens "$STREAM_DEALERS" ||
    die "ping: bench/stream_setup.py failed (see $results/stream_setup.log)"
  n=$(kv tokens "$tmp/stream-setup.out")
  script_args+=("$tokens")
  if ((n < STREAM_DEALERS)); then
    log "ping: ONLY $n OF $STREAM_DEALERS DEALERS: measured with $n (see above)"
    scenario_info[ping]="dealers=$n/$STREAM_DEALERS(SHORT)"
  else
    scenario_info[ping]="dealers=$n"
  fi
}

# stream_expiry_scenario NAME MAX_P99_MS
# STREAM_DEALERS streams live at once (each dealer accepted one), then silent:
# bench/stream_expiry.py measures, per stream, endedAt - expiresAt (the
# server's own record of how late its reapers marked it `expired`), and the
# delivery of the `expired` events to STREAM_SSE dealers' GET /events.
# MAX_P99_MS is the budget for the first.
stream_rows=()
stream_expiry_scenario() {
  local name=$1 max_p99=$2
  selected "$name" || return 0
  has_target onair || return 0
  local out="$results/$name.onair.txt" ok=1
  ONAIR_PING_TIMEOUT_MS=$STREAM_PING_TIMEOUT_MS start_server onair
  log "$name: $STREAM_DEALERS dealers (accounts from $STREAM_CACHE, or created)"
  if ! stream_setup --out "$tmp/stream-accounts.json"; then
    log "$name: bench/stream_setup.py failed (see $results/stream_setup.log)"
    ok=0
  else
    log "$name: onair: $STREAM_DEALERS streams, ping timeout ${STREAM_PING_TIMEOUT_MS} ms," \
      "$STREAM_SSE dealers on GET /events (see $out)"
    if ! "$BENCH_DIR/stream_expiry.py" --port "$server_port" --pid "$server_pid" \
      --redis-pid "$redis_pid" --redis-sock "$redis_sock" --prefix "$STREAM_PREFIX" \
      --accounts "$tmp/stream-accounts.json" --streams "$STREAM_DEALERS" \
      --ping-timeout-ms "$STREAM_PING_TIMEOUT_MS" --sse "$STREAM_SSE" >"$out" 2>&1; then
      cat "$out" >&2
      log "$name: onair: failed"
      ok=0
    fi
  fi
  stop_server
  ((ok)) || failures=$((failures + 1))
  [[ -s "$out" ]] || return 0
  grep '^stream_expiry: ' "$out" >&2 || true
  local p99 verdict=-
  p99=$(kv p99_ms "$out")
  [[ -z "$p99" ]] ||
    verdict=$(awk -v p="$p99" -v m="$max_p99" 'BEGIN { print (p <= m ? "ok" : "ABOVE") }')
  stream_rows+=("$name|$(kv streams "$out")|$(kv live "$out")|$(kv expired "$out")|$(kv p50_ms "$out")|${p99:--}|$(kv max_ms "$out")|<=${max_p99}ms $verdict|$(kv sse_received "$out")/$(kv sse "$out")|$(kv sse_p50_ms "$out")|$(kv sse_p99_ms "$out")|$(kv sse_max_ms "$out")|$(kv burst_s "$out")")
}

# --- telemetry ingest (API.md §6.1) ---------------------------------------------

# The SDK routes' per-IP rate limit would stop wrk (one client IP) at once.
telemetry_env() {
  ONAIR_TELEMETRY_RATE_PER_MIN=10000000 "$@"
}

# telemetry_bodies TARGET KIND: the bodies' files for bench/ping.lua,
# made once per run by bench/telemetry_setup.py against the running onair
# (its participants' tokens stay valid for every later onair run on the same
# Redis); for nginx alone, with placeholder tokens. Adds the file for
# scenario $2 (small, large or batch) to the script's arguments.
telemetry_bodies() {
  local target=$1 kind=$2 mode=()
  if [[ ! -s "$tmp/tm-setup.out" ]]; then
    [[ $target == onair ]] && mode=(--port "$server_port") || mode=(--offline)
    log "telemetry: $TELEMETRY_PARTICIPANTS participants (${mode[*]})"
    "$BENCH_DIR/telemetry_setup.py" "${mode[@]}" --participants "$TELEMETRY_PARTICIPANTS" \
      --large "$TELEMETRY_LARGE" --large-kib "$TELEMETRY_LARGE_KIB" \
      --small-out "$tmp/tm-small.txt" --large-out "$tmp/tm-large.txt" \
      --batch-out "$tmp/tm-batch.txt" 2>&1 >"$tmp/tm-setup.out" |
      tee -a "$results/telemetry_setup.log" >&2
    [[ "$(kv ok "$tmp/tm-setup.out")" == 1 ]] ||
      die "telemetry: bench/telemetry_setup.py failed (see $results/telemetry_setup.log)"
  fi
  script_args+=("$tmp/tm-$kind.txt" body)
}
setup_stats_small() { telemetry_bodies "$1" small; }
setup_stats_large() { telemetry_bodies "$1" large; }
setup_batch_large() { telemetry_bodies "$1" batch; }

# ingest_scenario NAME PATH KIND MIN_RATIO MIN_MB_PER_CORE [wrk options...]
# scenario() with bench/ping.lua posting the KIND bodies, then, from
# the same runs: MB/s of JSON ingested (requests/s x the mean body) and MB/s
# per onair core (the mean body / onair's CPU time per request, i.e. MB/s
# divided by onair's CPU utilisation). MIN_MB_PER_CORE is that budget. Also
# Redis's CPU time per onair request over the scenario's onair runs (the
# store's share; the set-up's few hundred requests included).
ingest_rows=()
ingest_scenario() {
  local name=$1 path=$2 kind=$3 min_ratio=$4 min_mb=$5
  shift 5
  selected "$name" || return 0
  local redis0=0 redis_us=- n
  [[ -z "$redis_pid" ]] || redis0=$(cpu_ticks "$redis_pid")
  telemetry_env scenario "$name" "$path" ping.lua "$min_ratio" "$@"
  n=$(cat "$results/$name".onair*.txt 2>/dev/null | awk '/ requests in / { n += $1 } END { print n + 0 }')
  if [[ -n "$redis_pid" ]] && ((n > 0)); then
    redis_us=$(awk -v t=$(($(cpu_ticks "$redis_pid") - redis0)) -v hz="$CLK_TCK" -v n="$n" \
      'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
  fi
  local row f bytes mbs=- per_core=- nginx_mbs=- verdict=-
  row=${wrk_rows[-1]}
  IFS='|' read -r -a f <<<"$row"
  bytes=$(kv "${kind}_bytes" "$tmp/tm-setup.out")
  [[ -n "$bytes" ]] || return 0
  [[ "${f[1]}" == - ]] || mbs=$(awk -v r="${f[1]}" -v b="$bytes" 'BEGIN { printf "%.1f", r * b / 1e6 }')
  [[ "${f[2]}" == - ]] || nginx_mbs=$(awk -v r="${f[2]}" -v b="$bytes" 'BEGIN { printf "%.1f", r * b / 1e6 }')
  if [[ "${f[7]}" != - ]]; then
    per_core=$(awk -v u="${f[7]}" -v b="$bytes" 'BEGIN { printf "%.1f", b / u }')
    verdict=$(awk -v p="$per_core" -v m="$min_mb" 'BEGIN { print (p >= m ? "ok" : "BELOW") }')
  fi
  ingest_rows+=("$name|$bytes|${f[1]}|$mbs|${f[7]}|$per_core|>=$min_mb $verdict|$redis_us|$nginx_mbs|${f[3]}|${f[5]}")
}

# --- telemetry queries (API.md §6.3) --------------------------------------------

# conf_events: one conference of CONF_EVENTS events, loaded once per run
# through the ingest route by bench/conf_events_setup.py against the running
# onair (the conference stays in Redis for later onair runs); nginx gets the
# same requests (placeholders when it runs alone).
setup_conf_events() {
  local mode=() out="$tmp/conf-events.out"
  if [[ ! -s "$out" ]]; then
    [[ $1 == onair ]] && mode=(--port "$server_port") || mode=(--offline)
    log "conf_events: $CONF_EVENTS events (${mode[*]})"
    "$BENCH_DIR/conf_events_setup.py" "${mode[@]}" --events "$CONF_EVENTS" \
      --paths-out "$tmp/conf-events-paths.txt" 2>&1 >"$out" |
      tee -a "$results/conf_events_setup.log" >&2
    [[ "$(kv ok "$out")" == 1 ]] ||
      die "conf_events: bench/conf_events_setup.py failed (see $results/conf_events_setup.log)"
  fi
  script_args+=("$tmp/conf-events-paths.txt" get "$(kv token "$out")")
  scenario_info[conf_events]="events=$CONF_EVENTS p99<=5ms"
}

# --- chat rooms (API.md §8) -----------------------------------------------------

# room_message: ROOM_PAIRS pairs of accounts (bench/stream_setup.py's cached
# dealers, under the stream scenarios' settings), each pair with its room
# (bench/room_setup.py); wrk POSTs /room/message as every member in turn
# (bench/ping.lua, with the messages' bodies), so each request checks another
# token and writes to another room, which tells the other member (an event).
# nginx gets the same requests (the file onair's set-up wrote, when it ran
# first).
readonly ROOM_PAIRS="${BENCH_ROOM_PAIRS:-100}"
setup_room_message() {
  local reqs="$tmp/room-messages.txt"
  script_args+=("$reqs")
  [[ $1 == onair ]] || return 0
  log "room_message: $ROOM_PAIRS rooms of 2 accounts (from $STREAM_CACHE, or created)"
  # A fresh server makes its bootstrap admin a moment after it first answers.
  local deadline=$((SECONDS + START_TIMEOUT_S))
  until post /auth "{\"email\":\"$STREAM_ADMIN_EMAIL\",\"password\":\"$STREAM_ADMIN_PASSWORD\"}" \
    >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "room_message: the bootstrap admin cannot log in"
    sleep 0.2
  done
  "$BENCH_DIR/stream_setup.py" --port "$server_port" --redis-sock "$redis_sock" \
    --prefix "$STREAM_PREFIX" --cache "$STREAM_CACHE" --source-root "$ROOT" \
    --admin-email "$STREAM_ADMIN_EMAIL" --admin-password "$STREAM_ADMIN_PASSWORD" \
    --orgs "$STREAM_ORGS" --dealers $((2 * ROOM_PAIRS)) --out "$tmp/room-accounts.json" \
    2>&1 >/dev/null | tee -a "$results/stream_setup.log" >&2 ||
    die "room_message: bench/stream_setup.py failed (see $results/stream_setup.log)"
  "$BENCH_DIR/room_setup.py" --port "$server_port" --accounts "$tmp/room-accounts.json" \
    --pairs "$ROOM_PAIRS" --out "$reqs" >/dev/null ||
    die "room_message: bench/room_setup.py failed"
}

# The Prosody scenarios (docs/prosody.md): the component's service token, and
# one room (with BENCH_PROSODY_OCCUPANTS occupants) made by their set-up.
# prosody_room reads that room (GET /api/v1/rooms/:session); prosody_join
# has every request join another occupant to it (bench/prosody_join.lua), one
# script call each.
readonly PROSODY_TOKEN=prosody-bench-service-token
readonly PROSODY_OCCUPANTS="${BENCH_PROSODY_OCCUPANTS:-10}"
prosody_env() {
  ONAIR_SERVICE_TOKEN=$PROSODY_TOKEN "$@"
}

# prosody_post PATH JSON: a Prosody call that must answer 200, or 400 (the
# room or occupant is there from an earlier round).
prosody_post() {
  local code
  code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $PROSODY_TOKEN" \
    "http://127.0.0.1:$server_port/api/v1/$1" -d "$2") || code=000
  [[ $code == 200 || $code == 400 ]] || die "prosody: POST /api/v1/$1 answered $code"
}

# setup_prosody_room TARGET: the room bench-room (jid
# bench-room@conference.bench.test) and its occupants, on onair only (nginx
# answers its fixed body anyway); prosody_join joins that room.
setup_prosody_room() {
  [[ $1 == onair ]] || return 0
  local i room='"roomJid":"bench-room@conference.bench.test"'
  prosody_post rooms '{"name":"Bench","session":"bench-room","jid":"bench-room@conference.bench.test"}'
  for ((i = 0; i < PROSODY_OCCUPANTS; i++)); do
    prosody_post occupants "{\"jid\":\"user$i@bench.test/web\",$room,\"nick\":\"User $i\",
      \"role\":\"participant\",\"email\":\"user$i@bench.test\",\"ip\":\"192.0.2.1\"}"
  done
}
setup_prosody_join() {
  setup_prosody_room "$1"
}

# --- report --------------------------------------------------------------------

print_summary() {
  local row
  if ((${#wrk_rows[@]})); then
    local fmt='%-20s %12s %12s %11s %12s %10s %10s %10s %10s  %s\n'
    # shellcheck disable=SC2059  # the format is the variable
    printf "$fmt" scenario "onair req/s" "nginx req/s" onair/nginx target "onair p99" \
      "nginx p99" "onair us/r" "nginx us/r" notes
    for row in "${wrk_rows[@]}"; do
      IFS='|' read -r -a f <<<"$row"
      # shellcheck disable=SC2059
      printf "$fmt" "${f[@]}"
    done
  fi
  if ((${#login_rows[@]})); then
    echo
    printf '%-20s %12s %12s %16s %8s\n' scenario "logins/s" "non-2xx" "/health p99" target
    for row in "${login_rows[@]}"; do
      IFS='|' read -r -a f <<<"$row"
      printf '%-20s %12s %12s %16s %8s\n' "${f[@]}"
    done
  fi
  if ((${#idle_rows[@]})); then
    ((${#wrk_rows[@]} == 0)) || echo
    printf '%-20s %7s %14s %14s %11s %18s %18s\n' scenario conns "onair KiB/conn" \
      "nginx KiB/conn" target "onair RSS KiB" "nginx RSS KiB"
    for row in "${idle_rows[@]}"; do
      IFS='|' read -r -a f <<<"$row"
      printf '%-20s %7s %14s %14s %11s %18s %18s\n' "${f[@]}"
    done
  fi
  if ((${#gig_rows[@]})); then
    ((${#wrk_rows[@]} + ${#login_rows[@]} + ${#idle_rows[@]} == 0)) || echo
    local fmt='%-14s %10s %7s %12s %7s %6s %7s %7s %8s %8s %13s  %s\n'
    # shellcheck disable=SC2059  # the format is the variable
    printf "$fmt" scenario pairsxprocs "gigs/s" target "req/s" errors "p50 ms" "p99 ms" \
      "srv us/g" "rds us/g" "CPU% s/r/gen" notes
    for row in "${gig_rows[@]}"; do
      IFS='|' read -r -a f <<<"$row"
      # shellcheck disable=SC2059
      printf "$fmt" "${f[@]}"
    done
  fi
  if ((${#stream_rows[@]})); then
    ((${#wrk_rows[@]} + ${#login_rows[@]} + ${#idle_rows[@]} + ${#gig_rows[@]} == 0)) || echo
    local fmt='%-14s %7s %6s %8s %7s %7s %7s %11s %11s %8s %8s %8s %8s\n'
    # shellcheck disable=SC2059  # the format is the variable
    printf "$fmt" scenario streams live expired "p50 ms" "p99 ms" "max ms" target \
      "events rcvd" "ev p50" "ev p99" "ev max" "burst s"
    for row in "${stream_rows[@]}"; do
      IFS='|' read -r -a f <<<"$row"
      # shellcheck disable=SC2059
      printf "$fmt" "${f[@]}"
    done
  fi
  if ((${#events_rows[@]})); then
    ((${#wrk_rows[@]} + ${#login_rows[@]} + ${#idle_rows[@]} + ${#gig_rows[@]} + ${#stream_rows[@]} == 0)) || echo
    local fmt='%-10s %7s %10s %9s %17s %7s %7s %6s %8s %7s %7s %7s %11s\n'
    # shellcheck disable=SC2059  # the format is the variable
    printf "$fmt" scenario streams KiB/stream target "RSS KiB" clients "ev/s" sent received \
      "p50 ms" "p99 ms" "max ms" target
    for row in "${events_rows[@]}"; do
      IFS='|' read -r -a f <<<"$row"
      # shellcheck disable=SC2059
      printf "$fmt" "${f[@]}"
    done
  fi
  if ((${#ingest_rows[@]})); then
    echo
    local fmt='%-14s %10s %12s %9s %11s %12s %12s %11s %11s %12s %10s\n'
    # shellcheck disable=SC2059  # the format is the variable
    printf "$fmt" scenario "body bytes" "onair req/s" "MB/s" "onair us/r" "MB/s/core" target \
      "redis us/r" "nginx MB/s" onair/nginx "onair p99"
    for row in "${ingest_rows[@]}"; do
      IFS='|' read -r -a f <<<"$row"
      # shellcheck disable=SC2059
      printf "$fmt" "${f[@]}"
    done
  fi
}

write_meta() {
  {
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -srm), $(nproc) cpus"
    echo "onair: ${onair_bin:-not run}"
    echo "onair source: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown)"
    echo "onair env: ONAIR_LOG_LEVEL=$ONAIR_LOG_LEVEL ONAIR_MAX_REQUESTS_PER_CONN=$ONAIR_MAX_REQUESTS_PER_CONN"
    echo "nginx: $(nginx -v 2>&1)"
    echo "wrk: $(wrk -v 2>&1 | head -n 1)"
    echo "seconds per run: $DURATION_S, rounds: $ROUNDS (best kept)"
    echo "events: $EVENTS_STREAMS streams over $EVENTS_ACCOUNTS accounts;" \
      "$EVENTS_RATE events/s to $EVENTS_CLIENTS clients"
    echo "gigs: $MAP_OPERATORS map operators (map), $GIG_PAIRS pairs in $GIG_PROCS" \
      "generator process(es) (gig_lifecycle, ${gig_driver:-none}); cache $GIG_CACHE"
    echo "streams: $STREAM_DEALERS dealers in $STREAM_ORGS organizations; ping timeout" \
      "${STREAM_PING_TIMEOUT_MS} ms (stream_expiry); $STREAM_SSE on GET /events; cache $STREAM_CACHE"
    echo "telemetry: $TELEMETRY_PARTICIPANTS SDK clients (stats_small), $TELEMETRY_LARGE of them" \
      "posting ${TELEMETRY_LARGE_KIB} KiB bodies (stats_large, batch_large)"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  } >"$results/meta.txt"
}

# POSTs a JSON body to the running server and prints the response body.
post() {
  curl -sf -X POST -H 'Content-Type: application/json' -d "$2" "http://127.0.0.1:$server_port$1"
}

# Creates (or logs into) the bench account on the running onair; prints a token.
bench_token() {
  local body='{"firstName":"Bench","lastName":"Mark","password":"bench-password",
    "identities":[{"type":"email","value":"bench@onair.test"}]}'
  post /accounts "$body" >/dev/null 2>&1 || true
  post /auth '{"email":"bench@onair.test","password":"bench-password"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

# accounts_me: one Redis round trip (token check and account load in one script).
setup_accounts_me() {
  if [[ $1 == onair ]]; then
    script_args+=("$(bench_token)")
  else
    script_args+=(unused)
  fi
}

# login_load: 50 logins at a time (Argon2id on the thread pool) while /health
# is measured: the loop must not wait for the hashes.
login_rows=()
login_scenario() {
  local name=login_load
  selected "$name" || return 0
  has_target onair || return 0
  start_server onair
  bench_token >/dev/null
  local out_login="$results/$name.logins.txt" out_health="$results/$name.health.txt"
  wrk -t1 -c50 -d"$((DURATION_S + 2))s" --timeout 10s -s "$BENCH_DIR/post_json.lua" \
    "http://127.0.0.1:$server_port/auth" \
    -- '{"email":"bench@onair.test","password":"bench-password"}' >"$out_login" 2>&1 &
  local login_pid=$!
  sleep 1
  wrk --latency -t1 -c8 -d"${DURATION_S}s" "http://127.0.0.1:$server_port/health" \
    >"$out_health" 2>&1 || log "$name: wrk /health failed"
  wait "$login_pid" || log "$name: wrk /auth failed"
  stop_server
  local p99 logins non2xx
  p99=$(awk '$1 == "99%" { print $2 }' "$out_health")
  logins=$(awk '/^Requests\/sec:/ { print $2 }' "$out_login")
  non2xx=$(awk '/Non-2xx/ { print $NF }' "$out_login")
  login_rows+=("$name|${logins:--}|${non2xx:-0}|${p99:--}|<=10ms")
}

scenarios() {
  scenario health /health - 1.0 -t2 -c64
  scenario accounts_me /accounts/me auth_get.lua 0.6 -t2 -c64
  login_scenario
  scenario health_pipeline16 /health pipeline.lua 3.0 -t2 -c256 -- 16
  idle_scenario idle_conns /health "$IDLE_CONNS" 2
  events_scenario events 4 50
  gig_env scenario map_1k "/map/$GIG_CENTER_LAT/$GIG_CENTER_LONG" auth_get.lua 0.3 -t2 -c64
  gig_env scenario map "/map/$GIG_CENTER_LAT/$GIG_CENTER_LONG" auth_get.lua 0.3 -t2 -c64
  gig_env scenario map_city /map map_city.lua 0.3 -t2 -c64
  gig_env gig_scenario gig_lifecycle 2000
  stream_env scenario ping /ping ping.lua 0.5 -t2 -c64
  stream_env stream_expiry_scenario stream_expiry 1000
  ingest_scenario stats_small /v1/stats small 0.4 150 -t2 -c64
  ingest_scenario stats_large /v1/stats large - 150 -t2 -c8
  ingest_scenario batch_large /v1/connection/batch batch - 150 -t2 -c4
  telemetry_env scenario conf_events / ping.lua - -t2 -c8
  stream_env scenario room_message /room/message ping.lua 0.4 -t2 -c64
  prosody_env scenario prosody_room /api/v1/rooms/bench-room auth_get.lua - -t2 -c64 -- \
    "$PROSODY_TOKEN"
  prosody_env scenario prosody_join /api/v1/occupants prosody_join.lua - -t2 -c64 -- \
    "$PROSODY_TOKEN"
}

# --- main ----------------------------------------------------------------------

# Builds onair and bench/gig_driver (only the driver when ONAIR_BIN is given).
prepare_onair() {
  has_target onair || return 0
  local only=()
  gig_driver=python
  [[ "$GIG_DRIVER" == python ]] || gig_driver="$ROOT/build/bench/gig_driver"
  if [[ -n "${ONAIR_BIN:-}" ]]; then
    [[ -x "$ONAIR_BIN" ]] || die "ONAIR_BIN=$ONAIR_BIN is not an executable"
    onair_bin=$ONAIR_BIN
    selected gig_lifecycle && [[ "$gig_driver" != python ]] || return 0
    only=(--target gig_driver)
  fi
  log "building (Release)"
  (cd "$ROOT" && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DONAIR_BENCH=ON >&2 &&
    cmake --build build -j "$(nproc)" "${only[@]}" >&2)
  [[ -n "$onair_bin" ]] || onair_bin="$ROOT/build/onair"
}

# Raises the open-file limit (up to 65536, or the hard limit where that cannot
# be raised) for both servers and idle_conns.py, which inherit it.
raise_nofile() {
  local want=65536 hard conns=$IDLE_CONNS need
  selected events && ((EVENTS_STREAMS > conns)) && conns=$EVENTS_STREAMS
  need=$((conns + 256))
  ulimit -Hn "$want" 2>/dev/null || true
  hard=$(ulimit -Hn)
  [[ "$hard" == unlimited ]] || ((hard >= want)) || want=$hard
  ulimit -Sn "$want"
  ((want >= need)) || die "open-file limit $want is below the $need that $conns idle connections need"
}

main() {
  local t
  for t in $TARGETS; do
    [[ "$t" == onair || "$t" == nginx ]] || die "BENCH_TARGETS: unknown target $t"
  done
  [[ "$DURATION_S" =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer"
  [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS must be a positive integer"
  [[ "$GIG_SETUP_BUDGET_S" =~ ^[0-9]+$ ]] || die "BENCH_GIG_SETUP_BUDGET_S must be an integer >= 0"
  [[ "$GIG_DRIVER" == c || "$GIG_DRIVER" == python ]] || die "BENCH_GIG_DRIVER: c or python"
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  "$ROOT/deploy/install-deps.sh" --bench
  prepare_onair
  raise_nofile
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/onair-bench.XXXXXX")
  results="$BENCH_DIR/results/$(date -u +%Y%m%dT%H%M%SZ)"
  mkdir -p "$results"
  write_meta
  has_target onair && start_redis
  scenarios
  print_summary | tee "$results/summary.txt"
  log "raw results in $results"
  ((failures == 0)) || die "$failures run(s) had errors; see the notes above"
}

main "$@"
