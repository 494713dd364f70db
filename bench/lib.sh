# Shared by the bench scripts: start voxgate with a bench config on
# 127.0.0.1:25060 and read process CPU/RSS from /proc.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=$ROOT/bin
SIP_PORT=${SIP_PORT:-25060}
OUT=${OUT:-$(mktemp -d /tmp/voxgate-bench.XXXXXX)}
mkdir -p "$OUT"

start_voxgate() { # $1 = media_timeout
  cat >"$OUT/voxgate.toml" <<TOML
[server]
listen = [{ transport = "udp", addr = "127.0.0.1:$SIP_PORT" }]
allowed_sources = ["127.0.0.0/8"]
drain_timeout = "5s"
run_dir = "run"
state_dir = "state"
[media]
rtp_port_min = 40000
rtp_port_max = 59999
rtp_ip = "127.0.0.1"
codecs = ["PCMU", "PCMA"]
media_timeout = "${1:-30s}"
[[plugin]]
name = "router-static"
kind = "router"
path = "$BIN/plugins/router-static"
[plugin.config]
default = { action = "agent", connector = "connector-echo" }
[[plugin]]
name = "connector-echo"
kind = "connector"
path = "$BIN/plugins/connector-echo"
[[plugin]]
name = "cdr-jsonl"
kind = "exporter"
path = "$BIN/plugins/cdr-jsonl"
[plugin.config]
path = "$OUT/cdr.jsonl"
[routing]
router = "router-static"
[routing.fallback]
action = "agent"
connector = "connector-echo"
[cdr]
exporters = ["cdr-jsonl"]
[log]
level = "warn"
TOML
  ( cd "$OUT" && exec env VOXGATE_PPROF="${VOXGATE_PPROF:-}" "$BIN/voxgate" run -c "$OUT/voxgate.toml" ) 2>"$OUT/voxgate.log" &
  VG_PID=$!
  for _ in $(seq 1 100); do
    [ "$(ls "$OUT"/run/pids 2>/dev/null | wc -l)" = 3 ] && break
    sleep 0.1
  done
  sleep 0.5
  kill -0 "$VG_PID" || { cat "$OUT/voxgate.log"; echo "voxgate did not start"; exit 1; }
}

stop_voxgate() {
  kill -TERM "$VG_PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$VG_PID" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$VG_PID" 2>/dev/null || true
}

plugin_pid() { cat "$OUT/run/pids/$1.pid"; }

# cpu_ticks PID: utime+stime in clock ticks
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)
