#!/usr/bin/env bash
# Installs the tools `make test-packages` needs on a Debian 12 machine, as
# root, from the machine's apt sources. Called by .ci/run before `make test`;
# test/packaging/run.sh also calls it when a tool is missing. Runs
# `apt-get update` once, and only when something is missing.
#
#   systemd            systemd-analyze verify/security
#   systemd-container  systemd-nspawn: boots the test root with systemd
#   debootstrap, debian-archive-keyring
#                      the throw-away Debian root the deb is installed into
#   lintian            checks the deb
#   rpm, rpm2cpio      rpm -qp queries; installs the rpm into the test root
#   rpmlint            checks the rpm (if the distribution has it)
#   util-linux, cpio, zstd, ca-certificates
#                      unshare, findmnt; unpacking packages; the mirror
set -euo pipefail

log() { echo "test/packaging/deps.sh: $*"; }

if [[ $(id -u) -ne 0 ]]; then
	log "must run as root (it installs Debian packages)" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null; then
	log "apt-get not found: this script is for Debian-like machines" >&2
	exit 1
fi

wanted=(systemd systemd-container debootstrap debian-archive-keyring lintian
	rpm rpm2cpio rpmlint util-linux cpio zstd ca-certificates)
optional=(rpmlint)

installed() {
	[[ $(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null) == "ii"* ]]
}

missing=()
for p in "${wanted[@]}"; do
	installed "$p" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
	log "all present: ${wanted[*]}"
	exit 0
fi

log "apt-get update (missing: ${missing[*]})"
export DEBIAN_FRONTEND=noninteractive
timeout 600 apt-get update -q

# An optional package the archive does not have is dropped, loudly;
# run.sh then checks the rpm with rpm -qp alone and says so.
install=()
for p in "${missing[@]}"; do
	policy=$(apt-cache policy "$p" 2>/dev/null || true)
	if [[ " ${optional[*]} " == *" $p "* ]] && ! grep -q 'Candidate: [0-9]' <<<"$policy"; then
		log "NOTE: $p is not available from the apt sources; continuing without it"
		continue
	fi
	install+=("$p")
done
if [[ ${#install[@]} -gt 0 ]]; then
	log "installing: ${install[*]}"
	timeout 900 apt-get install -y -q --no-install-recommends "${install[@]}"
fi
log "done"
