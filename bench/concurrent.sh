#!/usr/bin/env bash
# N concurrent echo calls with G.711 both ways for about 64 s each: SIPp
# plays PCMA into every call, voxgate decodes it, sends it through
# connector-echo over the frame channel and plays it back paced at 20 ms.
# Measures, over a 30 s window when all calls are up: CPU (% of one core) and
# RSS of the daemon and of each plugin, per call; and the RTP packet counts
# from the CDRs. Usage: bench/concurrent.sh [N...]   (root; `make build` first)
# SIPp's own media stops keeping up at about 400 calls on this machine kind.
source "$(dirname "$0")/lib.sh"
COUNTS=${*:-50 100 200}
printf '%-6s %-9s %-9s %-9s %-11s %-11s %-11s %-12s %-12s\n' calls answered vg_cpu% echo_cpu% vg_rss_MiB echo_rss_MiB vg_KiB/call pkts_in/call pkts_out/call
for n in $COUNTS; do
  start_voxgate 30s
  ECHO=$(plugin_pid connector-echo)
  # SIPp binds 26000-26003 itself; the media ports it announces for the
  # other calls (26004, 26008, ...) are held by a sink so that voxgate's
  # packets do not draw ICMP errors (see tools/udpsink.py).
  SINK=
  if command -v python3 >/dev/null; then
    python3 "$ROOT/bench/tools/udpsink.py" 26004 $((26000 + 4 * n + 4)) 200 >"$OUT/sink_$n.out" 2>&1 &
    SINK=$!
    sleep 2
  fi
  rate=$(( n < 50 ? n : 50 ))
  timeout 200 sipp -sf "$ROOT/bench/scenarios/uac_pcap_loop.xml" 127.0.0.1:$SIP_PORT -s echo -i 127.0.0.1 -mi 127.0.0.1 \
    -p 25080 -mp 26000 -r "$rate" -m "$n" -l "$n" -cp 28873 -nostdin -timeout 150s >"$OUT/sipp_conc_$n.out" 2>&1 &
  SIPP=$!
  base_rss=$(rss_kib "$VG_PID")
  sleep $(( n / rate + 5 ))           # all calls up
  v0=$(cpu_ticks "$VG_PID"); e0=$(cpu_ticks "$ECHO"); s0=$(date +%s.%N)
  sleep 30
  v1=$(cpu_ticks "$VG_PID"); e1=$(cpu_ticks "$ECHO"); s1=$(date +%s.%N)
  vr=$(rss_kib "$VG_PID"); er=$(rss_kib "$ECHO")
  wait $SIPP || true
  [ -n "$SINK" ] && kill "$SINK" 2>/dev/null
  sleep 3
  stop_voxgate
  ans=$(grep -c '"disposition":"answered"' "$OUT/cdr.jsonl" || true)
  pin=$(grep -o '"rtp_packets_in":[0-9]*' "$OUT/cdr.jsonl" | awk -F: '{s+=$2} END{print s+0}')
  pout=$(grep -o '"rtp_packets_out":[0-9]*' "$OUT/cdr.jsonl" | awk -F: '{s+=$2} END{print s+0}')
  el=$(echo "$s1 - $s0" | bc -l)
  printf '%-6s %-9s %-9.1f %-9.1f %-11s %-11s %-11s %-12s %-12s\n' "$n" "$ans" \
    "$(echo "($v1-$v0)/$HZ/$el*100" | bc -l)" "$(echo "($e1-$e0)/$HZ/$el*100" | bc -l)" \
    $((vr/1024)) $((er/1024)) $(( (vr-base_rss)/n )) $(( pin/(ans>0?ans:1) )) $(( pout/(ans>0?ans:1) ))
  mv "$OUT/cdr.jsonl" "$OUT/cdr_$n.jsonl"
done
echo "outputs in $OUT"
