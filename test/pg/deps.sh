#!/usr/bin/env bash
# Installs what test/pg/pg.sh needs on a Debian 12 machine, as root: the
# `postgresql` package (the server binaries in /usr/lib/postgresql/*/bin and
# the `postgres` user). Called by .ci/run before `make test`. Runs
# `apt-get update` and `apt-get install` only when initdb is missing.
#
# The package's own cluster (main, on port 5432) is not needed by the tests,
# which start their own throw-away servers with pg.sh; it is left as the
# package sets it up.
set -euo pipefail

log() { echo "test/pg/deps.sh: $*"; }

have_initdb() {
	local f
	for f in /usr/lib/postgresql/*/bin/initdb; do
		[[ -x $f ]] && return 0
	done
	return 1
}

if have_initdb; then
	log "present: $(ls -d /usr/lib/postgresql/*/bin/initdb | tr '\n' ' ')"
	exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
	log "initdb is missing and installing it needs root: run 'apt-get install postgresql' as root" >&2
	exit 1
fi
if ! command -v apt-get >/dev/null; then
	log "apt-get not found: install PostgreSQL's server binaries another way" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log "apt-get update (initdb missing)"
timeout 600 apt-get update -q
log "installing: postgresql"
timeout 900 apt-get install -y -q --no-install-recommends postgresql
have_initdb || {
	log "postgresql installed but no /usr/lib/postgresql/*/bin/initdb" >&2
	exit 1
}
log "done"
