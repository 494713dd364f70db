#!/usr/bin/env bash
# Writes packaging/voxgate.toml, the config the packages install as
# /etc/voxgate/voxgate.toml, from the repository's default etc/voxgate.toml:
# the same settings and comments, with a header for the installed file and
# the packaged, absolute paths:
#
#   run_dir            ../var/run             -> /run/voxgate
#   state_dir (etc.)   ../var/state...        -> /var/lib/voxgate...
#   plugin paths       ../bin/plugins/<name>  -> /usr/lib/voxgate/plugins/<name>
#   cdr-jsonl output   var/cdr.jsonl          -> /var/lib/voxgate/cdr.jsonl
#
#   packaging/sync-config.sh           rewrite packaging/voxgate.toml
#   packaging/sync-config.sh --check   exit 1 if it is not what etc/ gives
#                                      (make test-packages runs this)
# When etc/voxgate.toml gains a path this script does not know, it stops and
# says so: add the mapping below.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root/etc/voxgate.toml
dst=$root/packaging/voxgate.toml

header() {
	cat <<'EOF'
# voxgate.toml: the configuration of the installed voxgate service.
#
# The deb and rpm packages install this file as /etc/voxgate/voxgate.toml,
# mode 0640, owner root, group voxgate: it may hold SIP passwords, and the
# daemon (user voxgate) only needs to read it. Upgrades never overwrite it
# once you have edited it (a deb conffile, an rpm %config(noreplace)).
#
# As shipped it is the repository's etc/voxgate.toml with the packaged paths:
# SIP on 127.0.0.1:5060 (UDP and TCP), RTP on 127.0.0.1 ports 10000-20000,
# calls accepted from this host only, every call answered by the echo
# connector, one JSON line per call appended to /var/lib/voxgate/cdr.jsonl.
# That is valid but serves no PBX, so the package does not start the service
# with it. To put voxgate to work, edit at least:
#
#   [server] listen, public_ip, allowed_sources   where SIP peers reach it
#   [media]  rtp_ip                               where RTP flows
#   the router's rules and the connector          where calls go
#
# then check and start it:
#
#     sudo voxgate check -c /etc/voxgate/voxgate.toml
#     sudo systemctl enable --now voxgate      (restart, if it is running)
#
# The service may write only under /var/lib/voxgate (its state directory)
# and /run/voxgate (plugin sockets): keep every path there. Paths in this
# file are absolute. A key left out gets the default named in its comment.
# Durations are strings with a unit: "500ms", "30s", "10m", "4h". Every
# problem `voxgate check` finds is reported as FILE:LINE: what is wrong and
# how to fix it. See /usr/share/doc/voxgate/install.md.

EOF
}

render() {
	header
	# Everything from the first table on, with the packaged paths. The two
	# comment lines above the cdr-jsonl path speak of `make run`.
	sed -n '/^\[/,$p' "$src" | sed \
		-e 's|"\.\./var/run"|"/run/voxgate"|g' \
		-e 's|"\.\./var/state|"/var/lib/voxgate|g' \
		-e 's|"\.\./bin/plugins/|"/usr/lib/voxgate/plugins/|g' \
		-e 's|^path = "var/cdr\.jsonl"|path = "/var/lib/voxgate/cdr.jsonl"|' \
		-e 's|^# File that gets one JSON line per call, relative to the daemon.s working$|# File that gets one JSON line per call, under the state directory (the|' \
		-e 's|^# directory: `make run` runs from the repository root, so \./var/cdr\.jsonl\.$|# service may write nowhere else; a relative path is taken from there).|'
}

out=$(render)
# Every path in the result must be absolute, in settings and in commented
# examples alike.
if bad=$(grep -nE '"\.\./|^\s*#?\s*[a-z_]*(path|dir)\s*=\s*"[^/"]' <<<"$out"); then
	echo "packaging/sync-config.sh: etc/voxgate.toml has a relative path this script does not map:" >&2
	echo "$bad" >&2
	exit 1
fi
if grep -q 'make run' <<<"$out"; then
	echo "packaging/sync-config.sh: a comment about \`make run\` would land in the packaged config:" >&2
	grep -n 'make run' <<<"$out" >&2
	exit 1
fi

if [[ ${1:-} == --check ]]; then
	if ! diff -u "$dst" <(printf '%s\n' "$out"); then
		echo "packaging/voxgate.toml is out of date with etc/voxgate.toml: run packaging/sync-config.sh" >&2
		exit 1
	fi
	exit 0
fi
printf '%s\n' "$out" >"$dst"
echo "wrote $dst"
