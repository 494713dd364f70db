#!/usr/bin/env bash
# Call setups through the echo path at rising rates: SIPp's built-in UAC
# (INVITE with SDP, 200, ACK, hold HOLD_MS, BYE) against voxgate with the
# router plugin in the loop, a connector session and RTP port per call, and a
# CDR per call. Prints, per rate, calls, failed calls, retransmissions and
# the daemon's CPU; the answer is the highest rate with 0 failed calls.
# Usage: bench/setup-rate.sh [SECONDS_PER_STEP] [RATES...]   (run `make build` first)
source "$(dirname "$0")/lib.sh"
STEP=${1:-20}; shift || true
RATES=${*:-100 200 400 600 800 1000 1200}
HOLD_MS=${HOLD_MS:-1000}
start_voxgate 30s
trap stop_voxgate EXIT
printf '%-6s %-7s %-7s %-8s %-10s %-10s\n' rate calls failed retrans vg_cpu% vg_rss_MiB
for r in $RATES; do
  n=$((r * STEP))
  t0=$(cpu_ticks "$VG_PID"); s0=$(date +%s.%N)
  timeout $((STEP + 60)) sipp -sn uac 127.0.0.1:$SIP_PORT -i 127.0.0.1 -mi 127.0.0.1 -p 25080 \
    -r "$r" -m "$n" -l $((r * 5)) -d "$HOLD_MS" -cp 28872 -nostdin -timeout $((STEP + 40))s \
    -trace_stat -stf "$OUT/stat_$r.csv" -fd 1 -max_socket 5000 >"$OUT/sipp_$r.out" 2>&1 || true
  t1=$(cpu_ticks "$VG_PID"); s1=$(date +%s.%N)
  last=$(tail -n1 "$OUT/stat_$r.csv")
  hdr=$(head -n1 "$OUT/stat_$r.csv")
  idx() { echo "$hdr" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
  ok=$(echo "$last" | cut -d';' -f"$(idx 'SuccessfulCall(C)')")
  fail=$(echo "$last" | cut -d';' -f"$(idx 'FailedCall(C)')")
  retr=$(echo "$last" | cut -d';' -f"$(idx 'Retransmissions(C)')")
  cpu=$(echo "($t1 - $t0) / $HZ / ($s1 - $s0) * 100" | bc -l)
  printf '%-6s %-7s %-7s %-8s %-10.1f %-10s\n' "$r" "$ok" "$fail" "$retr" "$cpu" "$(( $(rss_kib "$VG_PID") / 1024 ))"
  sleep 2
done
echo "outputs in $OUT"
