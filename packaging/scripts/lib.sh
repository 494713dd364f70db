# Shell functions shared by the maintainer scripts of the deb and the rpm.
#
# Not installed as such: packaging/build.sh pastes this file into every script
# in place of its include line, and puts the entry of
# systemd/sysusers.d/voxgate.conf into voxgate_create_user below, so that the
# user is described in one place.
# POSIX sh only: the scripts run under dash on Debian, bash on RPM systems.

VOXGATE_CONF=/etc/voxgate/voxgate.toml
VOXGATE_UNIT=voxgate.service

# voxgate_create_user: the system group and user voxgate (home
# /var/lib/voxgate, no login shell). systemd-sysusers does it when it is
# there, fed the package's sysusers.d line on stdin, because in a preinst the
# file itself is not unpacked yet (--replace lets an admin's
# /etc/sysusers.d/voxgate.conf win, as it would at boot). groupadd/useradd
# are the fallback, each guarded by getent, so an existing user or group,
# local or from a directory service, is left as it is.
voxgate_create_user() {
	if command -v systemd-sysusers >/dev/null 2>&1; then
		printf '%s\n' '@SYSUSERS_LINE@' |
			systemd-sysusers --replace=/usr/lib/sysusers.d/voxgate.conf - ||
			echo "voxgate: systemd-sysusers failed; creating the user with useradd" >&2
	fi
	if ! getent group voxgate >/dev/null 2>&1; then
		groupadd --system voxgate
	fi
	if ! getent passwd voxgate >/dev/null 2>&1; then
		useradd --system --gid voxgate --home-dir /var/lib/voxgate \
			--no-create-home --shell /usr/sbin/nologin \
			--comment "voxgate SIP edge daemon" voxgate
	fi
	if ! getent passwd voxgate >/dev/null 2>&1; then
		echo "voxgate: could not create the system user voxgate" >&2
		return 1
	fi
}

# voxgate_create_dirs: /var/lib/voxgate and /run/voxgate as tmpfiles.d says
# (0750 voxgate:voxgate). The unit creates them at start as well; doing it now
# lets an admin look at them, and `voxgate check` find them, before the first
# start. Without systemd-tmpfiles, the state directory is made by hand.
voxgate_create_dirs() {
	if command -v systemd-tmpfiles >/dev/null 2>&1; then
		systemd-tmpfiles --create voxgate.conf >/dev/null 2>&1 ||
			echo "voxgate: systemd-tmpfiles --create voxgate.conf failed" >&2
	fi
	if [ ! -d /var/lib/voxgate ]; then
		mkdir -p /var/lib/voxgate
		chown voxgate:voxgate /var/lib/voxgate
		chmod 0750 /var/lib/voxgate
	fi
}

# voxgate_config_ok: true when `voxgate check` accepts the installed config;
# otherwise it says why on stderr. A service is never (re)started with a
# config that fails this: ExecStartPre would refuse it anyway.
voxgate_config_ok() {
	if [ ! -r "$VOXGATE_CONF" ]; then
		echo "voxgate: $VOXGATE_CONF is missing" >&2
		return 1
	fi
	if ! out=$(timeout 60 /usr/bin/voxgate check -c "$VOXGATE_CONF" 2>&1); then
		echo "voxgate: $VOXGATE_CONF does not pass \`voxgate check\`:" >&2
		printf '%s\n' "$out" | sed 's/^/  /' >&2
		return 1
	fi
	return 0
}

# voxgate_systemd_running: true when systemd is the running init (not in a
# chroot, a container build or a system booted with another init).
voxgate_systemd_running() {
	[ -d /run/systemd/system ]
}

voxgate_hint_edit() {
	cat >&2 <<EOF
voxgate: installed, not started. $VOXGATE_CONF as shipped listens on
127.0.0.1 only and answers every call with the echo agent. Edit it (listen,
public_ip, allowed_sources, rtp_ip, routing), then run:
    voxgate check -c $VOXGATE_CONF && systemctl enable --now voxgate
EOF
}
