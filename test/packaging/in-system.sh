#!/bin/bash
# The part of the package test that needs a running systemd: run.sh copies
# this script and the debs into a throw-away Debian root, boots that root with
# systemd-nspawn (private network: only its own loopback), and a oneshot unit
# runs this script as root once the system is up (and powers the container
# off when it ends). It prints one line per check ("ok   ..." or
# "FAIL ..."), and "END" when it got to the end; run.sh reads the lines back
# and counts them.
#
#   in-system.sh DEB_V DEB_V_UP1 DEB_V_UP2
#     DEB_V      the package under test
#     DEB_V_UP1  a newer build, same default config
#     DEB_V_UP2  a newer build whose default config differs
set -u

deb_v=$1 deb_up1=$2 deb_up2=$3
conf=/etc/voxgate/voxgate.toml
export DEBIAN_FRONTEND=noninteractive

ok() { echo "ok   [booted] $*"; }
nok() { echo "FAIL [booted] $*"; }
check() { # check DESCRIPTION COMMAND...: its output is shown if it fails
	local d=$1 out
	shift
	if out=$("$@" 2>&1); then ok "$d"; else
		nok "$d"
		printf '%s\n' "$out" | sed 's/^/    /' | tail -20
	fi
}
expect() { # expect DESCRIPTION WANT GOT
	if [[ $3 == "$2" ]]; then ok "$1"; else nok "$1: want '$2', got '$3'"; fi
}
apt_install() { # apt_install LOGFILE ARGS...: apt-get install with a timeout
	local log=$1
	shift
	timeout 300 apt-get install -y -q -o Dpkg::Options::=--force-confdef \
		-o Dpkg::Options::=--force-confold "$@" >"$log" 2>&1
}
active() { systemctl is-active voxgate.service 2>/dev/null; }
mainpid() { systemctl show -p MainPID --value voxgate.service; }
wait_state() { # wait_state STATE: up to 60 s
	local i
	for ((i = 0; i < 120; i++)); do
		[[ $(active) == "$1" ]] && return 0
		sleep 0.5
	done
	return 1
}
plugin_pids() { pgrep -f '^/usr/lib/voxgate/plugins/' || true; }
# sip_options: one SIP OPTIONS over UDP to the daemon; prints the status line.
# (/usr/bin/printf: it writes the request in one datagram, bash's builtin
# writes a datagram per line.)
sip_options() {
	local reply
	reply=$(timeout 10 bash -c '
		exec 3<>/dev/udp/127.0.0.1/5060
		/usr/bin/printf "OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5099;rport;branch=z9hG4bK-pkgtest-1\r\nMax-Forwards: 70\r\nFrom: <sip:pkgtest@127.0.0.1>;tag=pkgtest\r\nTo: <sip:probe@127.0.0.1>\r\nCall-ID: pkgtest-1@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" >&3
		timeout 5 head -c 200 <&3' 2>/dev/null | head -1 | tr -d '\r')
	echo "$reply"
}

echo "booted: $(systemctl --version | head -1), kernel $(uname -r)"

# --- 1. A first install with the shipped config: enabled, not started.
if apt_install /root/install.log "$deb_v"; then ok "apt-get install $(basename "$deb_v")"; else
	nok "apt-get install $(basename "$deb_v")"
	sed 's/^/    /' /root/install.log
fi
expect "unit enabled on install (Debian convention)" enabled "$(systemctl is-enabled voxgate.service 2>&1)"
expect "not started with the shipped, unedited config" inactive "$(active)"
check "postinst said how to start it" grep -q 'installed, not started' /root/install.log

# --- 2. Started by hand: ready (Type=notify), plugins running, sandboxed.
if timeout 90 systemctl start voxgate.service; then ok "systemctl start voxgate"; else nok "systemctl start voxgate"; fi
expect "active after start" active "$(active)"
pid=$(mainpid)
check "main process runs (MainPID=$pid)" test "$pid" -gt 0
expect "main process user" voxgate "$(ps -o user= -p "$pid" | tr -d ' ')"
plugins=$(plugin_pids)
expect "one process per [[plugin]] of the config" "$(grep -c '^\[\[plugin\]\]' "$conf")" "$(echo "$plugins" | grep -c .)"
for p in $plugins; do
	name=$(tr '\0' ' ' </proc/"$p"/cmdline | cut -d' ' -f1)
	expect "plugin $name is a child of the daemon" "$pid" "$(ps -o ppid= -p "$p" | tr -d ' ')"
	expect "plugin $name runs as voxgate" voxgate "$(ps -o user= -p "$p" | tr -d ' ')"
	expect "plugin $name has NoNewPrivs" 1 "$(awk '/^NoNewPrivs:/ {print $2}' /proc/"$p"/status)"
done
expect "daemon: effective capabilities = CAP_NET_BIND_SERVICE only" 0000000000000400 \
	"$(awk '/^CapEff:/ {print $2}' /proc/"$pid"/status)"
expect "daemon: bounding set = CAP_NET_BIND_SERVICE only" 0000000000000400 \
	"$(awk '/^CapBnd:/ {print $2}' /proc/"$pid"/status)"
expect "daemon: seccomp filter on" 2 "$(awk '/^Seccomp:/ {print $2}' /proc/"$pid"/status)"
expect "daemon: NoNewPrivs" 1 "$(awk '/^NoNewPrivs:/ {print $2}' /proc/"$pid"/status)"
rootopts=$(awk '$5 == "/" {print $6}' /proc/"$pid"/mountinfo | tail -1)
check "daemon: / is read-only (ProtectSystem=strict): $rootopts" grep -q '^ro' <<<"$rootopts"
stateopts=$(awk '$5 == "/var/lib/voxgate" {print $6}' /proc/"$pid"/mountinfo | tail -1)
check "daemon: /var/lib/voxgate is writable: $stateopts" grep -q '^rw' <<<"$stateopts"
expect "/run/voxgate (RuntimeDirectory)" "750 voxgate:voxgate" "$(stat -c '%a %U:%G' /run/voxgate)"
check "plugin sockets live in /run/voxgate" test -n "$(find /run/voxgate -type s)"
expect "/var/lib/voxgate (StateDirectory)" "750 voxgate:voxgate" "$(stat -c '%a %U:%G' /var/lib/voxgate)"
status=$(sip_options)
check "SIP OPTIONS to 127.0.0.1:5060 answered: '$status'" grep -q '^SIP/2.0 200' <<<"$status"

# --- 3. Reload (SIGHUP): same process, still active.
if timeout 30 systemctl reload voxgate.service; then ok "systemctl reload voxgate"; else nok "systemctl reload voxgate"; fi
sleep 1
expect "active after reload" active "$(active)"
expect "same main process after reload" "$pid" "$(mainpid)"

# --- 4. Upgrade with an edited config: restarted, config kept.
sed -i 's/^level = "info"/level = "debug"/' "$conf"
sum=$(md5sum <"$conf")
if apt_install /root/up1.log "$deb_up1"; then ok "upgrade to $(basename "$deb_up1")"; else
	nok "upgrade to $(basename "$deb_up1")"
	sed 's/^/    /' /root/up1.log
fi
wait_state active
expect "active after upgrade" active "$(active)"
pid2=$(mainpid)
check "restarted by the upgrade (MainPID $pid -> $pid2)" test "$pid2" != "$pid"
expect "edited config kept by the upgrade" "$sum" "$(md5sum <"$conf")"

# --- 5. Upgrade while the config is broken: not restarted, old one runs on.
cp "$conf" /root/good.toml
echo 'this is not TOML' >>"$conf"
apt_install /root/up2.log "$deb_up2"
expect "running daemon untouched by an upgrade with a broken config" "$pid2" "$(mainpid)"
expect "still active" active "$(active)"
check "postinst said the config does not pass voxgate check" grep -q 'does not pass' /root/up2.log
cp /root/good.toml "$conf"

# --- 6. Stop: SIGTERM, drain, clean exit, plugins gone.
t0=$(date +%s)
if timeout 60 systemctl stop voxgate.service; then ok "systemctl stop voxgate ($(($(date +%s) - t0)) s)"; else nok "systemctl stop voxgate"; fi
expect "inactive after stop" inactive "$(active)"
expect "stop result" success "$(systemctl show -p Result --value voxgate.service)"
expect "no plugin process left after stop" "" "$(plugin_pids)"
check "runtime directory removed on stop" test ! -e /run/voxgate

# --- 7. Remove stops a running service and keeps config and state.
timeout 90 systemctl start voxgate.service
expect "active again" active "$(active)"
echo '{"call":"kept"}' >/var/lib/voxgate/state-marker
if timeout 300 apt-get remove -y -q voxgate >/root/remove.log 2>&1; then ok "apt-get remove voxgate"; else nok "apt-get remove voxgate"; fi
check "service stopped by remove" test "$(active)" != active
expect "no plugin process left after remove" "" "$(plugin_pids)"
check "config kept on remove" test -f "$conf"
check "state kept on remove" test -f /var/lib/voxgate/state-marker

# --- 8. Purge removes config and state; the unit is gone.
if timeout 300 apt-get purge -y -q voxgate >/root/purge.log 2>&1; then ok "apt-get purge voxgate"; else nok "apt-get purge voxgate"; fi
check "state removed on purge" test ! -e /var/lib/voxgate
check "config removed on purge" test ! -e /etc/voxgate
check "unit unknown after purge" test "$(systemctl is-enabled voxgate.service 2>/dev/null)" != enabled

# --- 9. A first install onto a config the admin wrote beforehand (edited,
# valid): started right away.
mkdir -p /etc/voxgate
dpkg-deb --fsys-tarfile "$deb_v" | tar -xO ./etc/voxgate/voxgate.toml |
	sed 's/^level = "info"/level = "debug"/' >"$conf"
if apt_install /root/install2.log "$deb_v"; then ok "install onto a prepared config"; else
	nok "install onto a prepared config"
	sed 's/^/    /' /root/install2.log
fi
wait_state active
expect "started on install when the config was edited and valid" active "$(active)"
expect "prepared config kept" debug "$(sed -n 's/^level = "\(.*\)"/\1/p' "$conf")"
timeout 300 apt-get purge -y -q voxgate >/root/purge2.log 2>&1
expect "stopped and purged" "" "$(plugin_pids)$(pgrep -x voxgate || true)"

echo END
