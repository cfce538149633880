#!/usr/bin/env bash
# A hand-started cluster with two masters, to compare two flowfold builds on the same slaves.
#
#   benches/scripts/two_masters.sh NEW_BINARY OLD_BINARY [S1_DATA]
#
# Slaves s1..s3 (127.0.0.11-13) over the distributed benchmark's split
# (WORK/slaves/sN, WORK=/var/cache/flowfold-target/dist-bench: run flowfold-dist-bench once
# first), s1 over S1_DATA instead if given (e.g. the month of benches/python/month_of_hours.py),
# proxy p1 (127.0.0.10) and masters on 127.0.0.40 (NEW_BINARY) and 127.0.0.41 (OLD_BINARY), both
# with one source group over p1 and the slaves. The slaves and the proxy run NEW_BINARY. Then time
# a query on each master, alternately, with benches/python/time_query.py; stop everything with
#   pkill -f 'flowfold.* (slave|proxy|master)'
set -euo pipefail
new=$1 old=$2
work=${WORK:-/var/cache/flowfold-target/dist-bench}
logs=$work/two-masters; mkdir -p "$logs"; rm -f "$logs"/*.ready
export FLOWFOLD_LOG=${FLOWFOLD_LOG:-warn}
for i in 1 2 3; do
  data=$work/slaves/s$i
  [ "$i" = 1 ] && [ -n "${3:-}" ] && data=$3
  "$new" slave --data "$data" --name "s$i" --flows "127.0.0.1$i:0" --metrics "127.0.0.1$i:0" \
    --query "127.0.0.1$i:4210" --query-threads 2 --ready-file "$logs/s$i.ready" > "$logs/s$i.log" 2>&1 &
done
"$new" proxy --query 127.0.0.10:4210 --metrics 127.0.0.10:0 > "$logs/p1.log" 2>&1 &
for m in 40 41; do
  cat > "$logs/m$m.toml" <<TOML
[query]
listen = "127.0.0.$m:4210"
[metrics]
listen = "127.0.0.$m:0"
[control]
listen = "127.0.0.$m:2210"
[[cluster.source_groups]]
name = "site"
[[cluster.source_groups.proxy_groups]]
name = "g1"
priority = 1
proxy = { name = "p1", query = "127.0.0.10:4210" }
slaves = [{ name = "s1", query = "127.0.0.11:4210" }, { name = "s2", query = "127.0.0.12:4210" }, { name = "s3", query = "127.0.0.13:4210" }]
TOML
done
for i in $(seq 1 60); do
  [ -f "$logs/s1.ready" ] && [ -f "$logs/s2.ready" ] && [ -f "$logs/s3.ready" ] && break
  sleep 1
done
"$new" master --config "$logs/m40.toml" --query-threads 2 --ready-file "$logs/m40.ready" > "$logs/m40.log" 2>&1 &
"$old" master --config "$logs/m41.toml" --query-threads 2 --ready-file "$logs/m41.ready" > "$logs/m41.log" 2>&1 &
for i in $(seq 1 30); do
  [ -f "$logs/m40.ready" ] && [ -f "$logs/m41.ready" ] && break
  sleep 1
done
echo "masters: 127.0.0.40:4210 ($new), 127.0.0.41:4210 ($old); logs in $logs"
