#!/usr/bin/env bash
# The package test: `make test-packages` runs it after building the packages.
#
#   test/packaging/run.sh DIST VERSION BIN
#     DIST     where make put the packages (bin/packages)
#     VERSION  their package version (packaging/version.sh)
#     BIN      where make put the binaries (bin; bin/amd64 is packaged)
#
# What it checks, in this order, printing one line per check:
#   1. the four packages (deb, rpm; amd64, arm64): names, metadata, binaries
#      of the right architecture;
#   2. the unit: the hardening the issue lists, stop timeout above the drain
#      timeout, `systemd-analyze security --offline=true` exposure <= 2.0;
#   3. the packaged config: etc/voxgate.toml with the packaged paths;
#   4. contents: every file of the deb and the rpm with its mode and owner,
#      conffile / %config(noreplace), maintainer scripts;
#   5. lintian on the debs (no errors), rpmlint on the rpms (no errors);
#   6. the deb in a throw-away Debian 12 root (debootstrap, chroot): install,
#      files, user, `voxgate check`, `systemd-analyze verify`, upgrades that
#      keep an edited config, remove keeps state, purge removes it, the
#      useradd fallback without systemd-sysusers;
#   7. the same root booted with systemd-nspawn (in-system.sh): the service
#      with its full sandbox starts, runs its plugins, answers SIP, reloads,
#      restarts on upgrade, is not started with the unedited config;
#   8. the rpm installed into a throw-away root with rpm --root: %pre/%post,
#      owners, upgrade keeps an edited config, erase keeps state.
# It needs root, Debian 12 tools (test/packaging/deps.sh installs them; run
# here when one is missing) and a Debian mirror for debootstrap. It never
# skips: a check that cannot run fails. Ends with "N passed, N failed".
#
# Environment: VOXGATE_PKGTEST_MIRROR (a Debian mirror URL; default: the
# machine's apt source), VOXGATE_PKGTEST_KEEP=1 (keep the work directory).
set -uo pipefail

if [[ $# -ne 3 ]]; then
	echo "usage: $0 DIST VERSION BIN" >&2
	exit 2
fi
dist=$(cd "$1" 2>/dev/null && pwd) || {
	echo "test/packaging: no directory $1; run make packages" >&2
	exit 1
}
version=$2
bin=$(cd "$3" 2>/dev/null && pwd) || {
	echo "test/packaging: no directory $3" >&2
	exit 1
}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1

# ------------------------------------------------------------------ helpers
pass=0
fail=0
failures=()
t_start=$(date +%s)
section() { printf '\n== %s  [%d s]\n' "$*" $(($(date +%s) - t_start)); }
ok() {
	pass=$((pass + 1))
	printf 'ok   %s\n' "$*"
}
nok() {
	fail=$((fail + 1))
	failures+=("$*")
	printf 'FAIL %s\n' "$*"
}
checkout=$(mktemp /tmp/voxgate-pkgtest-check.XXXXXX)
check() { # check DESCRIPTION COMMAND...: its output is shown if it fails
	local d=$1
	shift
	if "$@" >"$checkout" 2>&1; then ok "$d"; else
		nok "$d"
		sed 's/^/    /' "$checkout" | tail -20
	fi
}
expect() { # expect DESCRIPTION WANT GOT
	if [[ $3 == "$2" ]]; then ok "$1"; else nok "$1: want '$2', got '$3'"; fi
}
fails() { ! "$@" >/dev/null 2>&1; } # fails COMMAND...: true when it fails
summary() {
	echo
	if [[ $fail -gt 0 ]]; then
		echo "failed checks:"
		printf '  - %s\n' "${failures[@]}"
	fi
	echo "time: $(($(date +%s) - t_start)) s"
	echo "packaging: $pass passed, $fail failed"
}
die() {
	nok "$*"
	summary
	exit 1
}
# T SECONDS COMMAND...: every command that can hang gets a time limit.
T() { timeout --kill-after=10 "$@"; }

work=""
cleanup() {
	rm -f "$checkout"
	[[ -n $work && -d $work ]] || return 0
	if [[ ${VOXGATE_PKGTEST_KEEP:-0} == 1 ]]; then
		echo "kept $work"
		return 0
	fi
	# Nothing is mounted in there (mounts live in unshare's namespaces), but
	# never let rm cross into another file system.
	local mounts
	mounts=$(findmnt -rn -o TARGET || echo "$work/?")
	if grep -q "^$work/" <<<"$mounts"; then
		echo "test/packaging: something is still mounted under $work; not deleting it" >&2
		return 0
	fi
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

# inroot ROOT COMMAND...: run in the chroot ROOT, in its own mount and pid
# namespace with a private /proc (gone, with every process, when it ends).
inroot() {
	local r=$1
	shift
	T 300 unshare --mount --pid --fork --mount-proc="$r/proc" \
		chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# seconds DURATION: "45s", "2min", "1m30s", "30" -> seconds (systemd and Go
# durations as used in the unit and the config).
seconds() {
	local d=$1 total=0 n u
	[[ $d =~ ^[0-9]+$ ]] && {
		echo "$d"
		return
	}
	while [[ $d =~ ^([0-9]+)(ms|min|s|m|h)(.*)$ ]]; do
		n=${BASH_REMATCH[1]} u=${BASH_REMATCH[2]} d=${BASH_REMATCH[3]}
		case $u in
		ms) ;;
		s) total=$((total + n)) ;;
		m | min) total=$((total + n * 60)) ;;
		h) total=$((total + n * 3600)) ;;
		esac
	done
	[[ -z $d ]] || {
		echo "-1"
		return
	}
	echo "$total"
}

# ------------------------------------------------------------ preconditions
section "0. tools"
[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages into throw-away roots)"
tools=(systemd-analyze systemd-nspawn lintian rpm rpm2cpio debootstrap unshare chroot dpkg-deb cpio findmnt)
missing=()
for t in "${tools[@]}" rpmlint; do command -v "$t" >/dev/null || missing+=("$t"); done
if [[ ${#missing[@]} -gt 0 ]]; then
	echo "missing: ${missing[*]}; running test/packaging/deps.sh"
	T 1800 bash "$here/deps.sh" || die "test/packaging/deps.sh failed"
fi
for t in "${tools[@]}"; do
	command -v "$t" >/dev/null || die "$t is not installed (test/packaging/deps.sh should have installed it)"
done
have_rpmlint=0
if command -v rpmlint >/dev/null; then
	have_rpmlint=1
else
	echo "NOTE: rpmlint is not available from the apt sources: the rpms are checked with rpm -qp queries only"
fi
ok "tools present: ${tools[*]}$([[ $have_rpmlint == 1 ]] && echo ' rpmlint')"

work=$(mktemp -d /var/tmp/voxgate-pkgtest.XXXXXX)
chmod 0755 "$work"

# ------------------------------------------------------------- 1. packages
section "1. packages in $dist (version $version)"
deb_amd64=$dist/voxgate_${version}_amd64.deb
deb_arm64=$dist/voxgate_${version}_arm64.deb
rpm_x86_64=$dist/voxgate-${version}-1.x86_64.rpm
rpm_aarch64=$dist/voxgate-${version}-1.aarch64.rpm
for f in "$deb_amd64" "$deb_arm64" "$rpm_x86_64" "$rpm_aarch64"; do
	[[ -s $f ]] || die "$f was not built"
	ok "built $(basename "$f") ($(du -h "$f" | cut -f1))"
done

# The first-party plugins: every folder of plugins/ with Go code.
plugins=()
for d in plugins/*/; do
	d=${d%/}
	compgen -G "$d/*.go" >/dev/null && plugins+=("$(basename "$d")")
done
echo "first-party plugins: ${plugins[*]}"
elf_machine() { od -An -tx1 -j18 -N1 | tr -d ' \n'; }
for pair in "amd64 3e" "arm64 b7"; do
	set -- $pair
	deb=$dist/voxgate_${version}_$1.deb
	expect "$(basename "$deb"): Package" voxgate "$(dpkg-deb -f "$deb" Package)"
	expect "$(basename "$deb"): Version" "$version" "$(dpkg-deb -f "$deb" Version)"
	expect "$(basename "$deb"): Architecture" "$1" "$(dpkg-deb -f "$deb" Architecture)"
	for b in usr/bin/voxgate "${plugins[@]/#/usr/lib/voxgate/plugins/}"; do
		expect "$(basename "$deb"): /$b is an $1 program" "$2" \
			"$(dpkg-deb --fsys-tarfile "$deb" 2>/dev/null | tar -xO "./$b" | elf_machine)"
	done
done
for pair in "x86_64 3e" "aarch64 b7"; do
	set -- $pair
	rpm=$dist/voxgate-${version}-1.$1.rpm
	expect "$(basename "$rpm"): name version release arch" "voxgate $version 1 $1" \
		"$(rpm -qp --qf '%{NAME} %{VERSION} %{RELEASE} %{ARCH}' "$rpm" 2>/dev/null)"
	# nfpm's cpio has absolute names: never let cpio write them out.
	expect "$(basename "$rpm"): /usr/bin/voxgate is an $1 program" "$2" \
		"$(rpm2cpio "$rpm" | cpio --quiet -i --no-absolute-filenames --to-stdout '*usr/bin/voxgate' 2>/dev/null | elf_machine)"
done

# ----------------------------------------------------------------- 2. unit
section "2. systemd unit"
unit=systemd/voxgate.service
# unit_get KEY: the last value of KEY in [Service] / [Unit].
unit_get() { sed -n "s/^$1=//p" "$unit" | tail -1; }
unit_has() { grep -qx "$1" "$unit"; }
for line in Type=notify NotifyAccess=main 'ExecStartPre=/usr/bin/voxgate check -c /etc/voxgate/voxgate.toml' \
	'ExecStart=/usr/bin/voxgate run -c /etc/voxgate/voxgate.toml' 'ExecReload=kill -HUP $MAINPID' \
	KillMode=mixed User=voxgate Group=voxgate AmbientCapabilities=CAP_NET_BIND_SERVICE \
	CapabilityBoundingSet=CAP_NET_BIND_SERVICE NoNewPrivileges=yes ProtectSystem=strict \
	ReadWritePaths=/var/lib/voxgate PrivateTmp=yes ProtectHome=yes PrivateDevices=yes \
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK' SystemCallFilter=@system-service \
	RuntimeDirectory=voxgate RuntimeDirectoryMode=0750 StateDirectory=voxgate WantedBy=multi-user.target; do
	check "unit has $line" unit_has "$line"
done
watchdog=$(seconds "$(unit_get WatchdogSec)")
check "unit has WatchdogSec ($(unit_get WatchdogSec))" test "$watchdog" -gt 0
nofile=$(unit_get LimitNOFILE)
check "LimitNOFILE=$nofile is enough for thousands of calls (>= 16384)" test "${nofile:-0}" -ge 16384
drain=$(sed -n 's/^drain_timeout = "\(.*\)"/\1/p' packaging/voxgate.toml)
stop=$(unit_get TimeoutStopSec)
check "TimeoutStopSec=$stop is longer than the drain timeout ($drain) plus 10 s for the plugins" \
	test "$(seconds "$stop")" -ge $(($(seconds "${drain:-30s}") + 10))
sec_out=$(T 60 systemd-analyze security --offline=true --no-pager "$unit" 2>&1)
exposure=$(sed -n 's/.*Overall exposure level for voxgate.service: \([0-9.]*\).*/\1/p' <<<"$sec_out")
echo "$sec_out" | grep -E '^✗|^\s*✗' | sed 's/^/    /'
if [[ -n $exposure ]] && awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }'; then
	ok "systemd-analyze security --offline=true: exposure $exposure (<= 2.0)"
else
	nok "systemd-analyze security --offline=true: exposure '${exposure:-?}' (want <= 2.0)"
	echo "$sec_out" | tail -5
fi
for f in systemd/sysusers.d/voxgate.conf systemd/tmpfiles.d/voxgate.conf; do
	check "$f exists" test -s "$f"
done
check "sysusers.d: system user voxgate, home /var/lib/voxgate" \
	grep -Eq '^u voxgate - ".*" /var/lib/voxgate$' systemd/sysusers.d/voxgate.conf
check "tmpfiles.d: d /var/lib/voxgate 0750 voxgate voxgate" \
	grep -Eq '^d /var/lib/voxgate 0750 voxgate voxgate' systemd/tmpfiles.d/voxgate.conf
check "tmpfiles.d: d /run/voxgate 0750 voxgate voxgate" \
	grep -Eq '^d /run/voxgate 0750 voxgate voxgate' systemd/tmpfiles.d/voxgate.conf

# --------------------------------------------------------- 3. config file
section "3. packaged config (packaging/voxgate.toml vs etc/voxgate.toml)"
if T 60 packaging/sync-config.sh --check >"$work/sync.out" 2>&1; then
	ok "packaging/voxgate.toml is etc/voxgate.toml with the packaged paths (packaging/sync-config.sh --check)"
else
	nok "packaging/voxgate.toml is out of date with etc/voxgate.toml: run packaging/sync-config.sh"
	sed 's/^/    /' "$work/sync.out" | head -40
fi
for want in 'run_dir = "/run/voxgate"' 'state_dir = "/var/lib/voxgate"' \
	'path = "/usr/lib/voxgate/plugins/router-static"' 'path = "/usr/lib/voxgate/plugins/connector-echo"' \
	'path = "/usr/lib/voxgate/plugins/cdr-jsonl"' 'path = "/var/lib/voxgate/cdr.jsonl"'; do
	check "packaged config has $want" grep -qxF "$want" packaging/voxgate.toml
done
check "packaged config has no relative path" bash -c '! grep -Eq "^\s*(path|run_dir|state_dir)\s*=\s*\"[^/]" packaging/voxgate.toml'

# ------------------------------------------------------------- 4. contents
section "4. contents"
# Every file and directory of the deb: mode owner/group path.
cat >"$work/deb.want" <<'EOF'
drwxr-xr-x root/root ./etc/
drwxr-x--- root/voxgate ./etc/voxgate/
-rw-r----- root/voxgate ./etc/voxgate/voxgate.toml
drwxr-xr-x root/root ./usr/
drwxr-xr-x root/root ./usr/bin/
-rwxr-xr-x root/root ./usr/bin/voxgate
drwxr-xr-x root/root ./usr/lib/
drwxr-xr-x root/root ./usr/lib/systemd/
drwxr-xr-x root/root ./usr/lib/systemd/system/
-rw-r--r-- root/root ./usr/lib/systemd/system/voxgate.service
drwxr-xr-x root/root ./usr/lib/sysusers.d/
-rw-r--r-- root/root ./usr/lib/sysusers.d/voxgate.conf
drwxr-xr-x root/root ./usr/lib/tmpfiles.d/
-rw-r--r-- root/root ./usr/lib/tmpfiles.d/voxgate.conf
drwxr-xr-x root/root ./usr/lib/voxgate/
drwxr-xr-x root/root ./usr/lib/voxgate/plugins/
drwxr-xr-x root/root ./usr/share/
drwxr-xr-x root/root ./usr/share/doc/
drwxr-xr-x root/root ./usr/share/doc/voxgate/
-rw-r--r-- root/root ./usr/share/doc/voxgate/changelog.gz
-rw-r--r-- root/root ./usr/share/doc/voxgate/copyright
drwxr-xr-x root/root ./usr/share/doc/voxgate/examples/
-rw-r--r-- root/root ./usr/share/doc/voxgate/examples/voxgate.dev.toml
-rw-r--r-- root/root ./usr/share/doc/voxgate/examples/voxgate.toml
drwxr-xr-x root/root ./usr/share/doc/voxgate/plugins/
drwxr-xr-x root/root ./usr/share/lintian/
drwxr-xr-x root/root ./usr/share/lintian/overrides/
-rw-r--r-- root/root ./usr/share/lintian/overrides/voxgate
drwxr-xr-x root/root ./usr/share/man/
drwxr-xr-x root/root ./usr/share/man/man1/
-rw-r--r-- root/root ./usr/share/man/man1/voxgate.1.gz
EOF
# Every file of the rpm: mode owner:group flags path (flags: c config,
# n noreplace, d doc, l license; - none).
cat >"$work/rpm.want" <<'EOF'
drwxr-x--- root:voxgate - /etc/voxgate
-rw-r----- root:voxgate cn /etc/voxgate/voxgate.toml
-rwxr-xr-x root:root - /usr/bin/voxgate
-rw-r--r-- root:root - /usr/lib/systemd/system/voxgate.service
-rw-r--r-- root:root - /usr/lib/sysusers.d/voxgate.conf
-rw-r--r-- root:root - /usr/lib/tmpfiles.d/voxgate.conf
drwxr-xr-x root:root - /usr/lib/voxgate
drwxr-xr-x root:root - /usr/lib/voxgate/plugins
drwxr-xr-x root:root - /usr/share/doc/voxgate
drwxr-xr-x root:root - /usr/share/doc/voxgate/examples
-rw-r--r-- root:root d /usr/share/doc/voxgate/examples/voxgate.dev.toml
-rw-r--r-- root:root d /usr/share/doc/voxgate/examples/voxgate.toml
drwxr-xr-x root:root - /usr/share/doc/voxgate/plugins
-rw-r--r-- root:root l /usr/share/licenses/voxgate/copyright
-rw-r--r-- root:root d /usr/share/man/man1/voxgate.1.gz
drwxr-x--- voxgate:voxgate - /var/lib/voxgate
EOF
# Plus every guide of docs/, and for every first-party plugin its binary and
# its README.
for f in docs/*.md; do
	echo "-rw-r--r-- root/root ./usr/share/doc/voxgate/$(basename "$f")" >>"$work/deb.want"
	echo "-rw-r--r-- root:root d /usr/share/doc/voxgate/$(basename "$f")" >>"$work/rpm.want"
done
for p in "${plugins[@]}"; do
	echo "-rwxr-xr-x root/root ./usr/lib/voxgate/plugins/$p" >>"$work/deb.want"
	echo "-rwxr-xr-x root:root - /usr/lib/voxgate/plugins/$p" >>"$work/rpm.want"
	if [[ -f plugins/$p/README.md ]]; then
		echo "-rw-r--r-- root/root ./usr/share/doc/voxgate/plugins/$p.md" >>"$work/deb.want"
		echo "-rw-r--r-- root:root d /usr/share/doc/voxgate/plugins/$p.md" >>"$work/rpm.want"
	fi
done
for deb in "$deb_amd64" "$deb_arm64"; do
	dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sort >"$work/deb.got"
	if diff <(sort "$work/deb.want") "$work/deb.got" >"$work/deb.diff"; then
		ok "$(basename "$deb"): files, modes and owners as listed"
	else
		nok "$(basename "$deb"): files, modes or owners differ (< want, > got)"
		sed 's/^/    /' "$work/deb.diff"
	fi
	expect "$(basename "$deb"): conffiles" /etc/voxgate/voxgate.toml \
		"$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)"
	expect "$(basename "$deb"): Depends" procps "$(dpkg-deb -f "$deb" Depends)"
	rm -rf "$work/ctrl" && dpkg-deb -e "$deb" "$work/ctrl"
	for s in preinst postinst prerm postrm; do
		check "$(basename "$deb"): $s is a valid sh script" sh -n "$work/ctrl/$s"
	done
	check "$(basename "$deb"): preinst creates the user with systemd-sysusers" \
		grep -qF "$(grep -v '^#' systemd/sysusers.d/voxgate.conf)" "$work/ctrl/preinst"
	check "$(basename "$deb"): preinst falls back to getent-guarded useradd" \
		grep -q 'getent passwd voxgate' "$work/ctrl/preinst"
	check "$(basename "$deb"): postinst enables via deb-systemd-helper" \
		grep -q 'deb-systemd-helper enable' "$work/ctrl/postinst"
	check "$(basename "$deb"): postrm removes state on purge only" \
		bash -c "sed -n '/^purge)/,/;;/p' '$work/ctrl/postrm' | grep -q 'rm -rf /var/lib/voxgate'"
done
for rpm in "$rpm_x86_64" "$rpm_aarch64"; do
	rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null |
		sed 's/^\([^ ]*\) \([^ ]*\)  /\1 \2 - /' | sort >"$work/rpm.got"
	if diff <(sort "$work/rpm.want") "$work/rpm.got" >"$work/rpm.diff"; then
		ok "$(basename "$rpm"): files, modes, owners and flags as listed"
	else
		nok "$(basename "$rpm"): files, modes, owners or flags differ (< want, > got)"
		sed 's/^/    /' "$work/rpm.diff"
	fi
	expect "$(basename "$rpm"): %config(noreplace) files" /etc/voxgate/voxgate.toml "$(rpm -qpc "$rpm" 2>/dev/null)"
	rpm -qp --scripts "$rpm" >"$work/rpm.scripts" 2>/dev/null
	for s in preinstall postinstall preuninstall postuninstall; do
		check "$(basename "$rpm"): has a $s scriptlet" grep -q "^$s scriptlet" "$work/rpm.scripts"
	done
	check "$(basename "$rpm"): %pre creates the user (sysusers, getent fallback)" \
		bash -c "grep -q 'systemd-sysusers --replace' '$work/rpm.scripts' && grep -q 'getent passwd voxgate' '$work/rpm.scripts'"
	check "$(basename "$rpm"): has a %changelog" test -n "$(rpm -qp --changelog "$rpm" 2>/dev/null)"
done

# ----------------------------------------------------------------- 5. lint
section "5. lintian and rpmlint"
for deb in "$deb_amd64" "$deb_arm64"; do
	T 600 lintian --info --pedantic "$deb" >"$work/lintian.out" 2>&1
	rc=$?
	grep -v -e '^N:' -e '^$' -e 'running with root privileges' "$work/lintian.out" | sed 's/^/    /'
	errors=$(grep -c '^E:' "$work/lintian.out")
	warnings=$(grep -c '^W:' "$work/lintian.out")
	if [[ $errors -eq 0 && $rc -eq 0 ]]; then
		ok "lintian $(basename "$deb"): 0 errors, $warnings warnings"
	else
		nok "lintian $(basename "$deb"): $errors errors (exit $rc)"
	fi
done
if [[ $have_rpmlint == 1 ]]; then
	# rpmlint unpacks with `cpio -id`, which writes nfpm's absolute file names
	# to the real / : give it a cpio that keeps them under its directory.
	mkdir -p "$work/cpio-wrapper"
	printf '#!/bin/sh\nexec %s --no-absolute-filenames "$@"\n' "$(command -v cpio)" >"$work/cpio-wrapper/cpio"
	chmod 0755 "$work/cpio-wrapper/cpio"
	pristine=$(ls -d /etc/voxgate /usr/lib/voxgate /usr/bin/voxgate 2>/dev/null)
	for rpm in "$rpm_x86_64" "$rpm_aarch64"; do
		(cd "$work" && PATH=$work/cpio-wrapper:$PATH T 600 rpmlint -c "$repo/packaging/rpmlint.toml" "$rpm") >"$work/rpmlint.out" 2>&1
		rc=$?
		sed -n '/^voxgate/p; /packages and .* checked/p; /Traceback\|Error/p' "$work/rpmlint.out" | sed 's/^/    /'
		errors=$(sed -n 's/.* \([0-9]*\) errors, .*/\1/p' "$work/rpmlint.out")
		if [[ $rc -eq 0 && $errors == 0 ]]; then
			ok "rpmlint $(basename "$rpm"): 0 errors"
		else
			nok "rpmlint $(basename "$rpm"): ${errors:-?} errors (exit $rc)"
		fi
	done
	expect "rpmlint wrote nothing outside its directory" "$pristine" "$(ls -d /etc/voxgate /usr/lib/voxgate /usr/bin/voxgate 2>/dev/null)"
fi

# ------------------------------------------------------ 6. install the deb
section "6. the deb in a throw-away Debian root"
up1=$version+upgradetest1
up2=$version+upgradetest2
check "test versions order after $version" bash -c "dpkg --compare-versions '$up1' gt '$version' && dpkg --compare-versions '$up2' gt '$up1' && [ \"\$(rpm --eval '%{lua: print(rpm.vercmp(\"$up2\", \"$version\"))}')\" = 1 ]"
# Newer builds of the same binaries: up1 with the same default config, up2
# with a default config that differs (so dpkg/rpm must choose).
mkdir -p "$work/dist"
sed '1a # (changed default: upgrade test)' packaging/voxgate.toml >"$work/changed.toml"
for spec in "deb $up1 packaging/voxgate.toml" "deb $up2 $work/changed.toml" \
	"rpm $up2 $work/changed.toml"; do
	set -- $spec
	VOXGATE_PKG_CONFIG=$3 T 900 packaging/build.sh "$1" amd64 "$bin/amd64" "$work/dist" "$2" >/dev/null 2>"$work/build.log" ||
		{
			cat "$work/build.log"
			die "could not build the $1 $2 for the upgrade test"
		}
done
ok "built upgrade packages $up1 and $up2"

# The Debian mirror the machine's apt uses (debootstrap takes the first one).
mirror=${VOXGATE_PKGTEST_MIRROR:-}
if [[ -z $mirror ]]; then
	mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
		/^URIs:/ { u = $2 } /^Suites:/ { for (i = 2; i <= NF; i++) if ($i !~ /-/) s = 1 }
		/^$/ { if (u != "" && s) { print u; exit } u = ""; s = 0 }
		END { if (u != "" && s) print u }' | grep -v security | head -1)
fi
if [[ -z $mirror ]]; then
	mirror=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list 2>/dev/null)
fi
mirror=${mirror:-http://deb.debian.org/debian}
suite=bookworm
base=$work/base
echo "debootstrap --variant=minbase --include=systemd,procps $suite from $mirror"
t0=$(date +%s)
booted=0
for attempt in 1 2; do
	rm -rf --one-file-system "$base"
	if T 600 debootstrap --variant=minbase --include=systemd,procps "$suite" "$base" "$mirror" >"$work/debootstrap.log" 2>&1; then
		booted=1
		break
	fi
	echo "debootstrap attempt $attempt failed:"
	tail -5 "$work/debootstrap.log" | sed 's/^/    /'
done
[[ $booted == 1 ]] || die "debootstrap of $suite from $mirror failed twice"
ok "throw-away Debian $suite root made in $(($(date +%s) - t0)) s"
# In /srv: a booted system mounts a fresh tmpfs on /tmp.
mkdir -p "$base/srv/pkg"
cp "$deb_amd64" "$work/dist/voxgate_${up1}_amd64.deb" "$work/dist/voxgate_${up2}_amd64.deb" "$base/srv/pkg/"
# A copy for the chroot tests; $base stays pristine for the booted test.
R=$work/chroot
cp -a "$base" "$R"
# No service is started in a chroot (there is no running systemd anyway).
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"

V=/srv/pkg/voxgate_${version}_amd64.deb
U1=/srv/pkg/voxgate_${up1}_amd64.deb
U2=/srv/pkg/voxgate_${up2}_amd64.deb
apt_in() { # apt_in LOG ARGS...
	local log=$1
	shift
	inroot "$R" apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >"$log" 2>&1
}
st() { inroot "$R" stat -c '%a %U:%G' "$1" 2>&1; }

if apt_in "$work/install.log" install "$V"; then ok "apt-get install ./$(basename "$V")"; else
	nok "apt-get install ./$(basename "$V")"
	sed 's/^/    /' "$work/install.log"
fi
IFS=: read -r _ _ uid gid _ home shell < <(inroot "$R" getent passwd voxgate)
check "user voxgate exists, system uid ($uid)" test "${uid:-1000}" -lt 1000
expect "user voxgate: home" /var/lib/voxgate "$home"
expect "user voxgate: shell" /usr/sbin/nologin "$shell"
expect "group voxgate is its primary group" "$gid" "$(inroot "$R" getent group voxgate | cut -d: -f3)"
for spec in "/usr/bin/voxgate 755 root:root" "/usr/lib/voxgate/plugins/router-static 755 root:root" \
	"/usr/lib/voxgate/plugins/connector-echo 755 root:root" "/usr/lib/voxgate/plugins/cdr-jsonl 755 root:root" \
	"/etc/voxgate 750 root:voxgate" "/etc/voxgate/voxgate.toml 640 root:voxgate" \
	"/usr/lib/systemd/system/voxgate.service 644 root:root" "/usr/lib/sysusers.d/voxgate.conf 644 root:root" \
	"/usr/lib/tmpfiles.d/voxgate.conf 644 root:root" "/var/lib/voxgate 750 voxgate:voxgate" \
	"/run/voxgate 750 voxgate:voxgate" "/usr/share/doc/voxgate/copyright 644 root:root" \
	"/usr/share/doc/voxgate/install.md 644 root:root" "/usr/share/doc/voxgate/examples/voxgate.toml 644 root:root"; do
	set -- $spec
	expect "installed $1" "$2 $3" "$(st "$1")"
done
check "enabled on install (multi-user.target.wants symlink)" test -L "$R/etc/systemd/system/multi-user.target.wants/voxgate.service"
check "postinst said it did not start the service" grep -q 'installed, not started' "$work/install.log"
check "installed: voxgate version" inroot "$R" /usr/bin/voxgate version
check "installed: voxgate check -c /etc/voxgate/voxgate.toml (root)" inroot "$R" /usr/bin/voxgate check -c /etc/voxgate/voxgate.toml
check "installed: voxgate check as user voxgate (reads the 0640 config through its group)" \
	inroot "$R" runuser -u voxgate -- /usr/bin/voxgate check -c /etc/voxgate/voxgate.toml
check "installed: the config is unreadable to other users" \
	fails inroot "$R" runuser -u nobody -- cat /etc/voxgate/voxgate.toml
verify_out=$(inroot "$R" systemd-analyze verify voxgate.service 2>&1)
rc=$?
if [[ $rc -eq 0 && -z $verify_out ]]; then ok "systemd-analyze verify voxgate.service (installed, in the root)"; else
	nok "systemd-analyze verify voxgate.service: exit $rc"
	sed 's/^/    /' <<<"$verify_out"
fi
inst_exposure=$(inroot "$R" systemd-analyze security --offline=true --no-pager /usr/lib/systemd/system/voxgate.service 2>&1 |
	sed -n 's/.*Overall exposure level for voxgate.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security --offline=true (installed unit): exposure ${inst_exposure:-?} <= 2.0" \
	awk -v e="${inst_exposure:-99}" 'BEGIN { exit !(e <= 2.0) }'

# Upgrade 1: same default config; the admin's edit and the state stay.
inroot "$R" sed -i 's/^level = "info"/level = "debug"/' /etc/voxgate/voxgate.toml
edited=$(md5sum <"$R/etc/voxgate/voxgate.toml")
inroot "$R" runuser -u voxgate -- sh -c 'echo "{\"call\":1}" > /var/lib/voxgate/cdr.jsonl'
if apt_in "$work/up1.log" install "$U1"; then ok "upgrade to $up1"; else
	nok "upgrade to $up1"
	sed 's/^/    /' "$work/up1.log"
fi
expect "installed version after upgrade" "$up1" "$(inroot "$R" dpkg-query -W -f='${Version}' voxgate)"
expect "edited config kept by the upgrade" "$edited" "$(md5sum <"$R/etc/voxgate/voxgate.toml")"
expect "config owner and mode kept" "640 root:voxgate" "$(st /etc/voxgate/voxgate.toml)"
check "state kept by the upgrade" test -s "$R/var/lib/voxgate/cdr.jsonl"
expect "user voxgate unchanged" "$uid" "$(inroot "$R" id -u voxgate)"
# Upgrade 2: the default config changed too; the edited one still wins
# (--force-confold, as unattended upgrades run) and the new default is put
# next to it.
if apt_in "$work/up2.log" install "$U2"; then ok "upgrade to $up2 (changed default config)"; else
	nok "upgrade to $up2"
	sed 's/^/    /' "$work/up2.log"
fi
expect "edited config kept when the default changed too" "$edited" "$(md5sum <"$R/etc/voxgate/voxgate.toml")"
check "new default saved as voxgate.toml.dpkg-dist" test -f "$R/etc/voxgate/voxgate.toml.dpkg-dist"
check "voxgate check passes after the upgrades" inroot "$R" /usr/bin/voxgate check -c /etc/voxgate/voxgate.toml

# Remove: programs and unit go; config, state and user stay.
if apt_in "$work/remove.log" remove voxgate; then ok "apt-get remove voxgate"; else nok "apt-get remove voxgate"; fi
check "remove: /usr/bin/voxgate gone" test ! -e "$R/usr/bin/voxgate"
check "remove: unit gone" test ! -e "$R/usr/lib/systemd/system/voxgate.service"
expect "remove: edited config kept" "$edited" "$(md5sum <"$R/etc/voxgate/voxgate.toml" 2>&1)"
check "remove: state kept" test -s "$R/var/lib/voxgate/cdr.jsonl"
check "remove: user kept" inroot "$R" getent passwd voxgate
expect "remove: dpkg status" "deinstall ok config-files" "$(inroot "$R" dpkg-query -W -f='${Status}' voxgate)"
# Purge: config, state, runtime directory and enablement go.
if apt_in "$work/purge.log" purge voxgate; then ok "apt-get purge voxgate"; else nok "apt-get purge voxgate"; fi
check "purge: /etc/voxgate gone" test ! -e "$R/etc/voxgate"
check "purge: /var/lib/voxgate gone" test ! -e "$R/var/lib/voxgate"
check "purge: /run/voxgate gone" test ! -e "$R/run/voxgate"
check "purge: enablement symlink gone" test ! -L "$R/etc/systemd/system/multi-user.target.wants/voxgate.service"
check "purge: dpkg forgot the package" fails inroot "$R" dpkg-query -W voxgate

# Without systemd-sysusers (a container image without systemd): the
# getent-guarded groupadd/useradd fallback makes the same user.
inroot "$R" userdel voxgate >/dev/null 2>&1
inroot "$R" groupdel voxgate >/dev/null 2>&1
sysusers=$(inroot "$R" sh -c 'command -v systemd-sysusers')
inroot "$R" dpkg-divert --local --rename --divert "$sysusers.pkgtest" --add "$sysusers" >/dev/null
check "systemd-sysusers hidden for the fallback test" fails inroot "$R" sh -c 'command -v systemd-sysusers'
if apt_in "$work/fallback.log" install "$V"; then ok "install without systemd-sysusers"; else
	nok "install without systemd-sysusers"
	sed 's/^/    /' "$work/fallback.log"
fi
IFS=: read -r _ _ fuid _ _ fhome fshell < <(inroot "$R" getent passwd voxgate)
check "fallback: system user voxgate created ($fuid)" test "${fuid:-1000}" -lt 1000
expect "fallback: home and shell" "/var/lib/voxgate /usr/sbin/nologin" "$fhome $fshell"
expect "fallback: config group" "640 root:voxgate" "$(st /etc/voxgate/voxgate.toml)"
check "fallback: voxgate check as user voxgate" inroot "$R" runuser -u voxgate -- /usr/bin/voxgate check -c /etc/voxgate/voxgate.toml
apt_in "$work/purge2.log" purge voxgate || nok "purge after the fallback test"
inroot "$R" dpkg-divert --local --rename --remove "$sysusers" >/dev/null
inroot "$R" userdel voxgate >/dev/null 2>&1
inroot "$R" groupdel voxgate >/dev/null 2>&1

# ---------------------------------------------- 7. booted with systemd
section "7. the deb on a running systemd (systemd-nspawn --boot, private network)"
cp "$here/in-system.sh" "$base/root/in-system.sh"
chmod 0755 "$base/root/in-system.sh"
cat >"$base/etc/systemd/system/voxgate-pkgtest.service" <<EOF
[Unit]
Description=voxgate package test
After=multi-user.target
# Whatever happens, the container powers off when the test ends.
SuccessAction=poweroff
FailureAction=poweroff
[Service]
Type=oneshot
StandardOutput=append:/var/tmp/voxgate-pkgtest.log
StandardError=append:/var/tmp/voxgate-pkgtest.log
TimeoutStartSec=600
ExecStart=/root/in-system.sh $V $U1 $U2
[Install]
WantedBy=multi-user.target
EOF
ln -s /etc/systemd/system/voxgate-pkgtest.service "$base/etc/systemd/system/multi-user.target.wants/voxgate-pkgtest.service"
echo "voxgate-pkgtest" >"$base/etc/hostname"
t0=$(date +%s)
T 600 systemd-nspawn --quiet --directory="$base" --machine="voxgate-pkgtest-$$" --boot \
	--private-network --register=no --keep-unit --console=pipe >"$work/nspawn.log" 2>&1
rc=$?
log=$base/var/tmp/voxgate-pkgtest.log
if [[ -s $log ]]; then
	while IFS= read -r line; do
		case $line in
		"ok   "*) ok "${line#ok   }" ;;
		"FAIL "*) nok "${line#FAIL }" ;;
		END) ;;
		*) echo "    $line" ;;
		esac
	done <"$log"
fi
if grep -qx END "$log" 2>/dev/null; then
	ok "booted test ran to its end in $(($(date +%s) - t0)) s (systemd-nspawn exit $rc)"
else
	nok "booted test did not finish (systemd-nspawn exit $rc)"
	tail -30 "$work/nspawn.log" | sed 's/^/    /'
fi

# ---------------------------------------------------- 8. install the rpm
section "8. the rpm in a throw-away root (rpm --root)"
rpmflags=(--root "$R" --nodeps)
# Debian's rpm wants --force-debian to install anything.
rpmhelp=$(rpm --help 2>&1 || true)
grep -q -- --force-debian <<<"$rpmhelp" && rpmflags+=(--force-debian)
rpm_in() { # rpm_in LOG ARGS...
	local log=$1
	shift
	# With the root's /proc mounted, as on a real system, for the scriptlets.
	T 300 unshare --mount --pid --fork --mount-proc="$R/proc" rpm "${rpmflags[@]}" "$@" >"$log" 2>&1
}
T 120 rpm --root "$R" --initdb || nok "rpm --initdb in the root"
if rpm_in "$work/rpm-install.log" -i "$rpm_x86_64"; then ok "rpm -i $(basename "$rpm_x86_64")"; else
	nok "rpm -i $(basename "$rpm_x86_64")"
fi
sed 's/^/    /' "$work/rpm-install.log"
check "rpm: user voxgate created by %pre" inroot "$R" getent passwd voxgate
for spec in "/usr/bin/voxgate 755 root:root" "/etc/voxgate 750 root:voxgate" \
	"/etc/voxgate/voxgate.toml 640 root:voxgate" "/var/lib/voxgate 750 voxgate:voxgate" \
	"/usr/lib/systemd/system/voxgate.service 644 root:root"; do
	set -- $spec
	expect "rpm: installed $1" "$2 $3" "$(st "$1")"
done
check "rpm: voxgate check as user voxgate" inroot "$R" runuser -u voxgate -- /usr/bin/voxgate check -c /etc/voxgate/voxgate.toml
check "rpm -V: installed files match the package" T 120 rpm --root "$R" -V voxgate
inroot "$R" sed -i 's/^level = "info"/level = "debug"/' /etc/voxgate/voxgate.toml
edited=$(md5sum <"$R/etc/voxgate/voxgate.toml")
inroot "$R" runuser -u voxgate -- sh -c 'echo "{\"call\":1}" > /var/lib/voxgate/cdr.jsonl'
if rpm_in "$work/rpm-up.log" -U "$work/dist/voxgate-${up2}-1.x86_64.rpm"; then ok "rpm -U to $up2 (changed default config)"; else
	nok "rpm -U to $up2"
	sed 's/^/    /' "$work/rpm-up.log"
fi
expect "rpm: version after upgrade" "$up2" "$(T 60 rpm --root "$R" -q --qf '%{VERSION}' voxgate)"
expect "rpm: edited config kept (noreplace)" "$edited" "$(md5sum <"$R/etc/voxgate/voxgate.toml")"
check "rpm: new default saved as voxgate.toml.rpmnew" test -f "$R/etc/voxgate/voxgate.toml.rpmnew"
if rpm_in "$work/rpm-erase.log" -e voxgate; then ok "rpm -e voxgate"; else nok "rpm -e voxgate"; fi
check "rpm -e: /usr/bin/voxgate gone" test ! -e "$R/usr/bin/voxgate"
check "rpm -e: edited config saved as voxgate.toml.rpmsave" test -f "$R/etc/voxgate/voxgate.toml.rpmsave"
check "rpm -e: state kept" test -s "$R/var/lib/voxgate/cdr.jsonl"

summary
[[ $fail -eq 0 ]]
