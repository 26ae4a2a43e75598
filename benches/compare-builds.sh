#!/usr/bin/env bash
# Alternates two release builds of lp-rfq over the figures docs/performance.md
# tracks: answers/s with every answer on disk, `report` on that blotter,
# peak RSS at 10,000 streams, and the latency pair. Three rounds, base then
# head, so drift on a shared machine hits both alike; take the medians.
#   benches/compare-builds.sh BASE_BINARY HEAD_BINARY [OUT_DIR]
set -u
BASE=${1:?base binary}
HEAD=${2:?head binary}
OUT=${3:-$(mktemp -d)}
mkdir -p "$OUT"
last_json() { python3 -c "import json,sys; d=json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]); print(' '.join(str(d.get(k)) for k in sys.argv[2:]))" "$@"; }
for round in 1 2 3; do
  for who in base head; do
    bin=$BASE; [ "$who" = head ] && bin=$HEAD
    db="$OUT/$who.db"
    rm -f "$db"*
    "$bin" bench --sessions 1000 --lps 10 --duration 5 --poll-ms 0 --blotter "$db" > "$OUT/tp-$who-$round.json" 2>/dev/null
    echo "throughput $who $round: $(last_json "$OUT/tp-$who-$round.json" per_sec valid_answers blotter_rows) (answers/s, valid, on disk)"
    start=$(date +%s.%N)
    "$bin" report --blotter "$db" > "$OUT/report-$who-$round.txt" 2>&1
    end=$(date +%s.%N)
    echo "report $who $round: $(python3 -c "print(round($end - $start, 3))") s"
    rm -f "$db"*
    /usr/bin/time -v "$bin" bench --sessions 10000 --lps 10 --duration 10 --poll-ms 0 > "$OUT/rss-$who-$round.json" 2> "$OUT/rss-$who-$round.time"
    echo "peak rss $who $round: $(awk '/Maximum resident/ {print $6 / 1024}' "$OUT/rss-$who-$round.time") MB"
    "$bin" bench --sessions 1000 --lps 10 --poll-ms 100 --lp-delay-ms 5 --duration 10 > "$OUT/lat-$who-$round.json" 2>/dev/null
    echo "latency $who $round: $(last_json "$OUT/lat-$who-$round.json" first_quote_over_fastest_p50_us first_quote_over_fastest_p99_us ready_to_acted_p50_us ready_to_acted_p99_us) (first quote p50 p99, ready->acted p50 p99, us)"
  done
done
echo "files in $OUT"
