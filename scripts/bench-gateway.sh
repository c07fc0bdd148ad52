#!/usr/bin/env bash
# The LLM gateway's added latency (docs/benchmarks.md): the same small chat request sent
# straight to the scripted provider and through the node's gateway (`flightdeck serve`,
# POST /v1/chat/completions, route `bench` -> `sp/m` with retries armed, the default circuit
# breaker, a rate limit that never bites, a price, and the ledger), side by side in one run,
# at 1 and 32 connections, whole and streamed: requests/s and p50/p99 (wrk), the gateway
# minus direct difference at each percentile, the node's CPU time per call and its RSS.
# Release builds. Prints figures; asserts nothing.
#
#   scripts/bench-gateway.sh             8 runs of DURATION seconds (default 10) after a warm-up
#   SOAK=600 scripts/bench-gateway.sh    only the soak: 32 connections on the gateway (16 whole,
#                                        16 streamed) for SOAK seconds, the node's RSS every
#                                        SAMPLE seconds (default 30)
#   PIN=0                                no pinning (default on 2+ cores: wrk on CPU 0, the
#                                        scripted provider and the node on CPU 1)
#   NO_BUILD=1                           use target/release as it is (`make bench` builds first)
#   KEEP=1                               keep the temporary directory (wrk outputs, node logs)
#   BUDGETS=1                            with three blocking budgets covering every call
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
SOAK=${SOAK:-}
SAMPLE=${SAMPLE:-30}
PIN=${PIN:-1}
TOKEN=bench-gateway-token-0123456789abcdef
LUA=benches/gateway/chat.lua

command -v wrk >/dev/null || { sudo_=""; [ "$(id -u)" != 0 ] && sudo_=sudo; $sudo_ apt-get install -y -q --no-install-recommends wrk; }
if [ -z "${NO_BUILD:-}" ]; then
  cargo build --release --locked -p flightdeck-node -p flightdeck-scripted-provider
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# Pinning: the load generator on one core, both servers on the other, so wrk's own work does
# not land on the cores it measures (a 2-core machine runs all three).
if [ "$PIN" = 1 ] && [ "$(nproc)" -ge 2 ]; then
  wrk_on=(taskset -c 0); srv_on=(taskset -c 1)
  pinning="wrk on CPU 0; scripted-provider and node on CPU 1"
else
  wrk_on=(); srv_on=(); pinning="none"
fi
hz=$(getconf CLK_TCK)

ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; } # utime + stime, all threads
writer_ticks() { # the same, of the node's SQLite writer thread (the ledger's commits)
  local t sum=0
  for t in /proc/"$1"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = flightdeck-writ ] || continue
    sum=$((sum + $(sed 's/^.*) //' "$t/stat" | awk '{print $12 + $13}')))
  done
  echo "$sum"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
active_opens() { awk '/^Tcp:/ {n++; if (n == 1) {for (i = 1; i <= NF; i++) if ($i == "ActiveOpens") c = i} else print $c}' /proc/net/snmp; } # whole machine
anon_kib() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
wait_listening() { # file pid
  for _ in $(seq 100); do
    grep -q "listening on" "$1" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "did not start; its output:" >&2; cat "$1" "${1%.out}.err" >&2; exit 1
}
field() { sed -n 's/^BENCH //p' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; } # wrk output, key

# --- the scripted provider and the node
"${srv_on[@]}" target/release/scripted-provider --listen 127.0.0.1:0 >"$tmp/sp.out" 2>"$tmp/sp.err" &
sp_pid=$!; pids+=("$sp_pid")
wait_listening "$tmp/sp.out" "$sp_pid"
sp_addr=$(sed -n '1s/^listening on http:\/\///p' "$tmp/sp.out")

cat >"$tmp/flightdeck.toml" <<EOF
[providers.sp]
kind = "openai"
base_url = "http://$sp_addr/v1"
retry = { max_attempts = 3 }
rate_limit = { requests_per_minute = 100000000 }

[prices."sp/m"]
input = 1
output = 2

[routes.bench]
chain = ["sp/m"]
EOF
if [ -n "${BUDGETS:-}" ]; then
  # Three blocking budgets cover every call (global, the route, the model): each call reserves
  # its worst case against all three before the provider is called, and settles after. The
  # limits are never reached.
  cat >>"$tmp/flightdeck.toml" <<EOF
[budgets.all]
limit_usd = 1000000000
period = "monthly"
action = "block"
[budgets.route]
limit_usd = 1000000000
period = "daily"
action = "block"
route = "bench"
[budgets.model]
limit_usd = 1000000000
period = "weekly"
action = "block"
model = "sp/m"
EOF
fi
FLIGHTDECK_API_TOKEN=$TOKEN "${srv_on[@]}" target/release/flightdeck --data-dir "$tmp/node" \
  --config "$tmp/flightdeck.toml" --secrets env serve --listen 127.0.0.1:0 >"$tmp/node.out" 2>"$tmp/node.err" &
node_pid=$!; pids+=("$node_pid")
wait_listening "$tmp/node.out" "$node_pid"
node_addr=$(sed -n 's/.*listening on http:\/\///p' "$tmp/node.out" | head -1)

direct_url="http://$sp_addr/v1/chat/completions"
gateway_url="http://$node_addr/v1/chat/completions"

# One request each way, to fail early (and show what is measured).
check() { # name url model token
  local code
  code=$(curl -s -o "$tmp/check.json" -w '%{http_code}' -H 'Content-Type: application/json' \
    ${4:+-H "Authorization: Bearer $4"} -d "{\"model\":\"$3\",\"messages\":[{\"role\":\"user\",\"content\":\"hello there\"}]}" "$2")
  if [ "$code" != 200 ]; then echo "$1: HTTP $code: $(cat "$tmp/check.json")" >&2; exit 1; fi
  echo "$1: $(head -c 300 "$tmp/check.json")"
}
check direct "$direct_url" m ""
check gateway "$gateway_url" bench "$TOKEN"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
echo "pinning: $pinning; CLK_TCK $hz; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

wrk_run() { # out-file url model stream conns seconds token
  local threads=1 TIMEFORMAT='WRKCPU %U %S'
  [ "$5" -gt 1 ] && [ ${#wrk_on[@]} -eq 0 ] && threads=2
  { time BENCH_MODEL=$3 BENCH_STREAM=$4 BENCH_TOKEN=$7 "${wrk_on[@]}" \
    wrk -t"$threads" -c"$5" -d"$6"s --latency -s "$LUA" "$2" >"$1" 2>&1; } 2>>"$1" || true
}
# Busy jiffies of the whole machine (user, nice, system, irq, softirq), to tell how much CPU
# processes other than these three took during a run: the noise of a shared machine.
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
wrk_ticks() { awk -v hz="$hz" '/^WRKCPU/ {printf "%.0f", ($2 + $3) * hz}' "$1"; }

idle_rss=$(rss_kib "$node_pid")
# Warm-up: connections, the upstream pool, first-use initialisations.
wrk_run "$tmp/warm1.txt" "$direct_url" m 0 32 2 ""
wrk_run "$tmp/warm2.txt" "$gateway_url" bench 0 32 2 "$TOKEN"
wrk_run "$tmp/warm3.txt" "$gateway_url" bench 1 32 2 "$TOKEN"

# --- the soak: memory over a long run
if [ -n "$SOAK" ]; then
  echo "soak: ${SOAK} s, 32 connections on the gateway (16 whole, 16 streamed), RSS every ${SAMPLE} s"
  echo "node RSS idle after start: $(mib "$idle_rss") MiB; after the warm-up: $(mib "$(rss_kib "$node_pid")") MiB"
  series="| t (s) | node RSS (MiB) | of which anonymous | node CPU over the interval | data dir (MiB) |\n| --- | --- | --- | --- | --- |\n"
  series+="| 0 | $(mib "$(rss_kib "$node_pid")") | $(mib "$(anon_kib "$node_pid")") | | $(du -sm "$tmp/node" | cut -f1) |\n"
  c_prev=$(ticks "$node_pid"); t_prev=0; start=$(date +%s.%N)
  # wrk itself in the background (taskset execs it), so the cleanup can stop it.
  BENCH_MODEL=bench BENCH_STREAM=0 BENCH_TOKEN=$TOKEN "${wrk_on[@]}" \
    wrk -t1 -c16 -d"$SOAK"s --latency -s "$LUA" "$gateway_url" >"$tmp/soak-whole.txt" 2>&1 &
  w1=$!; pids+=("$w1")
  BENCH_MODEL=bench BENCH_STREAM=1 BENCH_TOKEN=$TOKEN "${wrk_on[@]}" \
    wrk -t1 -c16 -d"$SOAK"s --latency -s "$LUA" "$gateway_url" >"$tmp/soak-stream.txt" 2>&1 &
  w2=$!; pids+=("$w2")
  t=$SAMPLE
  while [ "$t" -le "$SOAK" ]; do
    sleep "$(awk -v s="$start" -v t="$t" -v now="$(date +%s.%N)" 'BEGIN {d = s + t - now; print (d > 0 ? d : 0)}')"
    c=$(ticks "$node_pid")
    cpu=$(awk -v a="$c_prev" -v b="$c" -v hz="$hz" -v dt=$((t - t_prev)) 'BEGIN {printf "%.0f%%", 100 * (b - a) / hz / dt}')
    series+="| $t | $(mib "$(rss_kib "$node_pid")") | $(mib "$(anon_kib "$node_pid")") | $cpu | $(du -sm "$tmp/node" | cut -f1) |\n"
    printf '  t=%4d s  RSS %s MiB  CPU %s\n' "$t" "$(mib "$(rss_kib "$node_pid")")" "$cpu"
    c_prev=$c; t_prev=$t; t=$((t + SAMPLE))
  done
  wait "$w1" "$w2" || true
  sleep 5
  after_rss=$(rss_kib "$node_pid")
  echo
  echo "## soak results"
  printf '%b' "$series"
  echo
  for f in soak-whole soak-stream; do
    r=$(field "$tmp/$f.txt" requests); d=$(field "$tmp/$f.txt" duration_us)
    [ -n "$r" ] || { echo "$f: no result:"; cat "$tmp/$f.txt"; continue; }
    printf '%s: %s requests, %s req/s, p50 %s µs, p99 %s µs, non-2xx %s, socket errors %s\n' "$f" "$r" \
      "$(awk -v r="$r" -v d="$d" 'BEGIN {printf "%.0f", r / d * 1e6}')" "$(field "$tmp/$f.txt" p50_us)" \
      "$(field "$tmp/$f.txt" p99_us)" "$(field "$tmp/$f.txt" non2xx)" "$(field "$tmp/$f.txt" sockerr)"
  done
  echo "node RSS 5 s after the load: $(mib "$after_rss") MiB (anonymous $(mib "$(anon_kib "$node_pid")")); peak (VmHWM): $(mib "$(hwm_kib "$node_pid")") MiB"
  echo "ledger journal segments left: $(find "$tmp/node/ledger-journal" -name '*.jsonl' | wc -l); node log: $(wc -l <"$tmp/node.err") lines"
  exit 0
fi

# --- side by side: direct, then through the gateway, for each case
results=$tmp/results.tsv
: >"$results"
for stream in 0 1; do
  for conns in 1 32; do
    for path in direct gateway; do
      if [ "$path" = direct ]; then url=$direct_url model=m token=""; else url=$gateway_url model=bench token=$TOKEN; fi
      out="$tmp/$path-s$stream-c$conns.txt"
      rss0=$(rss_kib "$node_pid"); n0=$(ticks "$node_pid"); s0=$(ticks "$sp_pid"); w0=$(writer_ticks "$node_pid"); o0=$(active_opens); b0=$(busy)
      wrk_run "$out" "$url" "$model" "$stream" "$conns" "$DURATION" "$token"
      sleep 1 # the ledger's commit of the last rows is the node's work too
      rss1=$(rss_kib "$node_pid"); n1=$(ticks "$node_pid"); s1=$(ticks "$sp_pid"); w1=$(writer_ticks "$node_pid"); o1=$(active_opens); b1=$(busy)
      req=$(field "$out" requests)
      if [ -z "$req" ] || [ "$req" = 0 ]; then echo "no result for $path stream=$stream c=$conns:"; cat "$out"; continue; fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stream" "$conns" "$path" "$req" \
        "$(field "$out" duration_us)" "$(field "$out" p50_us)" "$(field "$out" p99_us)" \
        "$(field "$out" non2xx)" "$(field "$out" sockerr)" $((n1 - n0)) $((s1 - s0)) "$rss0" "$rss1" "$(field "$out" p90_us)" $((w1 - w0)) $((o1 - o0)) $((b1 - b0 - (n1 - n0) - (s1 - s0) - $(wrk_ticks "$out"))) >>"$results"
      echo "done: $path, $([ "$stream" = 1 ] && echo streamed || echo whole), $conns connection(s): $req requests"
    done
  done
done
after_rss=$(rss_kib "$node_pid")

echo
echo "## results (${DURATION} s per run; latencies in µs; CPU per call = (utime + stime) / requests)"
echo
awk -F'\t' -v hz="$hz" '
  BEGIN {
    print "| request | conns | path | req/s | p50 | p90 | p99 | non-2xx / socket errors | TCP connections opened | provider CPU/call | node CPU/call | node RSS before → after (MiB) | other processes |"
    print "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  }
  {
    kind = ($1 == 1 ? "streamed" : "whole")
    rps = $4 / $5 * 1e6
    sp = $11 / hz * 1e6 / $4
    node = ($3 == "gateway") ? sprintf("%.1f µs (writer %.1f)", $10 / hz * 1e6 / $4, $15 / hz * 1e6 / $4) : "–"
    rss = ($3 == "gateway") ? sprintf("%.1f → %.1f", $12 / 1024, $13 / 1024) : "–"
    other = $17 / hz / ($5 / 1e6 + 1) * 100
    printf "| %s | %s | %s | %.0f | %d | %d | %d | %d / %d | %d | %.1f µs | %s | %s | %.0f%% |\n", kind, $2, $3, rps, $6, $14, $7, $8, $9, $16, sp, node, rss, (other > 0 ? other : 0)
    key = $1 "-" $2
    if ($3 == "direct") { dp50[key] = $6; dp99[key] = $7; drps[key] = rps }
    else { gp50[key] = $6; gp99[key] = $7; grps[key] = rps; gcpu[key] = $10 / hz * 1e6 / $4; order[++n] = key; kinds[key] = kind; cs[key] = $2 }
  }
  END {
    print ""
    print "| request | conns | added p50 | added p99 | req/s direct → gateway | node CPU/call |"
    print "| --- | --- | --- | --- | --- | --- |"
    for (i = 1; i <= n; i++) {
      k = order[i]
      if (!(k in dp50)) continue
      printf "| %s | %s | %+d µs | %+d µs | %.0f → %.0f | %.1f µs |\n", kinds[k], cs[k], gp50[k] - dp50[k], gp99[k] - dp99[k], drps[k], grps[k], gcpu[k]
    }
  }' "$results"
echo
echo "node RSS: $(mib "$idle_rss") MiB idle after start, $(mib "$after_rss") MiB after all runs, peak (VmHWM) $(mib "$(hwm_kib "$node_pid")") MiB"
echo "provider CPU/call: the scripted provider's own time per request. TCP connections opened: ActiveOpens of the"
echo "whole machine during the run (wrk's own connections, plus the node's new upstream connections). Other"
echo "processes: CPU the rest of the machine used during the run, in % of one core (noise; should be ~0%)."
