#!/usr/bin/env bash
# A throw-away PostgreSQL for tests, from Debian's `postgresql` package.
#
#   test/pg/pg.sh start DIR        create the cluster in DIR (if not there yet),
#                                  start it, create database `voxgate`, and
#                                  print its connection string on stdout
#   test/pg/pg.sh stop DIR         fast shutdown (ends sessions, no data lost)
#   test/pg/pg.sh start-again DIR  start the stopped cluster again, same data,
#                                  same socket; prints the connection string
#   test/pg/pg.sh status DIR       prints "running" (exit 0) or "stopped"
#                                  (exit 3)
#
# The server listens only on a unix socket in DIR (listen_addresses = '').
# With PGPORT set when the cluster is created, it also listens on
# 127.0.0.1:PGPORT; the port is fixed when the cluster is created. The
# connection string is, for example:
#
#   host=/tmp/vxpg123 port=5432 dbname=voxgate user=postgres sslmode=disable
#
# Authentication is `trust` (local socket and 127.0.0.1 only). The superuser
# is `postgres`. As root, the server runs as the `postgres` user (initdb
# refuses root), and DIR is given to that user; DIR's parents must be
# searchable by it (/tmp is). DIR must be short: a unix socket path holds at
# most 107 bytes. Every wait is bounded (pg_ctl -w -t 30). Only what the
# command prints goes to stdout; the rest goes to stderr. The server's log is
# DIR/postgresql.log. Remove DIR after `stop` to throw the cluster away.
#
# The binaries come from /usr/lib/postgresql/*/bin (the newest version there;
# PG_BINDIR overrides). Without them this fails: install them with
# `apt-get install postgresql` (test/pg/deps.sh does that).
set -euo pipefail

me="test/pg/pg.sh"
log() { echo "$me: $*" >&2; }
die() {
	log "$*"
	exit 1
}

usage() {
	echo "usage: $me start|stop|start-again|status DIR" >&2
	exit 2
}
[[ $# -eq 2 ]] || usage
cmd=$1
case $cmd in start | stop | start-again | status) ;; *) usage ;; esac

# --- the binaries
bindir=${PG_BINDIR:-}
if [[ -z $bindir ]]; then
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
		[[ -x $d/initdb ]] && bindir=$d
	done
fi
if [[ -z $bindir || ! -x $bindir/initdb || ! -x $bindir/pg_ctl || ! -x $bindir/psql ]]; then
	die "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin: run 'apt-get install postgresql' (test/pg/deps.sh does it)"
fi

# --- the directory
dir=$2
if [[ $dir =~ [[:space:]\'\"\\] ]]; then
	die "DIR '$dir' must not contain spaces, quotes or backslashes"
fi
if [[ $cmd == start ]]; then
	mkdir -p -- "$dir"
fi
[[ -d $dir ]] || die "no directory $dir"
dir=$(cd -- "$dir" && pwd)
data=$dir/data
serverlog=$dir/postgresql.log

# As root, the cluster belongs to `postgres`; otherwise to the caller.
as_pg=()
if [[ $(id -u) -eq 0 ]]; then
	id postgres >/dev/null 2>&1 ||
		die "user 'postgres' does not exist: run 'apt-get install postgresql', which creates it"
	command -v runuser >/dev/null || die "runuser not found (Debian package util-linux)"
	as_pg=(runuser -u postgres --)
fi
pg() { "${as_pg[@]}" "$@"; }

port_of() {
	if [[ -f $dir/port ]]; then
		cat -- "$dir/port"
	else
		echo "${PGPORT:-5432}"
	fi
}

connstring() {
	echo "host=$dir port=$(port_of) dbname=voxgate user=postgres sslmode=disable"
}

initialized() { [[ -f $data/PG_VERSION ]]; }

running() {
	# pg_ctl status: 0 running, 3 not running, 4 no usable data directory.
	pg "$bindir/pg_ctl" status -D "$data" >/dev/null 2>&1
}

server_start() {
	local t0=$SECONDS
	if ! pg "$bindir/pg_ctl" start -D "$data" -l "$serverlog" -w -t 30 -s >&2; then
		log "the server did not start within 30 s; the end of $serverlog:"
		tail -n 30 -- "$serverlog" >&2 || true
		exit 1
	fi
	log "PostgreSQL $(cat -- "$data/PG_VERSION") running in $dir ($((SECONDS - t0)) s to start)"
}

psql_q() {
	"$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$(port_of)" -U postgres -d postgres -tA -c "$1"
}

create_cluster() {
	local port=${PGPORT:-5432} listen=""
	[[ -n ${PGPORT:-} ]] && listen=127.0.0.1
	local sock="$dir/.s.PGSQL.$port"
	if [[ ${#sock} -gt 107 ]]; then
		die "socket path $sock is ${#sock} bytes; a unix socket path holds at most 107: use a shorter DIR"
	fi
	if [[ ${#as_pg[@]} -gt 0 ]]; then
		chown postgres: -- "$dir"
		chmod 0700 -- "$dir"
		pg test -w "$dir" -a -x "$dir" ||
			die "user postgres cannot reach $dir: its parent directories must be searchable (chmod o+x), e.g. use a directory under /tmp"
	fi
	log "initdb in $data ($bindir)"
	if ! pg "$bindir/initdb" -D "$data" -U postgres --auth=trust --encoding=UTF8 --locale=C \
		--no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
		cat -- "$dir/initdb.log" >&2
		die "initdb failed"
	fi
	pg tee -a "$data/postgresql.conf" >/dev/null <<EOF

# test/pg/pg.sh: a throw-away test server
listen_addresses = '$listen'
port = $port
unix_socket_directories = '$dir'
logging_collector = off
EOF
	echo "$port" >"$dir/port"
}

case $cmd in
start)
	if ! initialized; then
		[[ -z $(ls -A -- "$dir" 2>/dev/null | grep -vxE 'port|initdb.log|postgresql.log' || true) ]] ||
			die "$dir is not empty and holds no cluster: use an empty directory"
		create_cluster
	elif [[ -n ${PGPORT:-} && $PGPORT != "$(port_of)" ]]; then
		log "note: the cluster in $dir was created with port $(port_of); PGPORT=$PGPORT is ignored"
	fi
	running || server_start
	if [[ -z $(psql_q "SELECT 1 FROM pg_database WHERE datname = 'voxgate'") ]]; then
		psql_q "CREATE DATABASE voxgate" >&2
	fi
	connstring
	;;
start-again)
	initialized || die "no cluster in $dir: use '$me start $dir' first"
	if running; then
		log "already running in $dir"
	else
		server_start
	fi
	connstring
	;;
stop)
	initialized || die "no cluster in $dir"
	if ! running; then
		log "not running in $dir"
		exit 0
	fi
	if ! pg "$bindir/pg_ctl" stop -D "$data" -m fast -w -t 30 -s >&2; then
		log "the server did not stop within 30 s; the end of $serverlog:"
		tail -n 30 -- "$serverlog" >&2 || true
		exit 1
	fi
	log "stopped in $dir"
	;;
status)
	initialized || die "no cluster in $dir"
	if running; then
		echo running
	else
		echo stopped
		exit 3
	fi
	;;
esac
