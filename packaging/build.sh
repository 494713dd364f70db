#!/usr/bin/env bash
# Builds one voxgate package with nfpm from binaries already built.
#
#   packaging/build.sh FORMAT ARCH BINDIR OUTDIR VERSION
#
#   FORMAT   deb or rpm
#   ARCH     Go architecture of the binaries: amd64 or arm64
#   BINDIR   holds voxgate and plugins/<name> for every folder of plugins/
#   OUTDIR   where the package is written
#   VERSION  package version, as packaging/version.sh prints it
#
# Environment (all optional):
#   VOXGATE_PKG_CONFIG      file shipped as /etc/voxgate/voxgate.toml
#                           (default packaging/voxgate.toml)
#   VOXGATE_PKG_MAINTAINER  "Name <e-mail>" for the package metadata
#   SOURCE_DATE_EPOCH       time stamp of the files (default: last commit)
#
# Writes OUTDIR/voxgate_VERSION_ARCH.deb or
# OUTDIR/voxgate-VERSION-1.RPMARCH.rpm and prints its path last.
# Normally run by `make deb`, `make rpm` or `make packages`.
set -euo pipefail

die() {
	echo "packaging/build.sh: $*" >&2
	exit 1
}

[[ $# -eq 5 ]] || die "usage: $0 deb|rpm amd64|arm64 BINDIR OUTDIR VERSION"
format=$1 arch=$2 bindir=$3 outdir=$4 version=$5

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

case "$format" in deb | rpm) ;; *) die "unknown format '$format' (deb or rpm)" ;; esac
case "$arch" in
amd64) rpmarch=x86_64 elf_machine=3e ;;
arm64) rpmarch=aarch64 elf_machine=b7 ;;
*) die "unknown architecture '$arch' (amd64 or arm64)" ;;
esac
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] ||
	die "'$version' is not a package version; get one from packaging/version.sh"

config=${VOXGATE_PKG_CONFIG:-packaging/voxgate.toml}
maintainer=${VOXGATE_PKG_MAINTAINER:-voxgate maintainers <voxgate@users.noreply.github.com>}
[[ -f $config ]] || die "config $config does not exist"
[[ -f docs/install.md ]] || die "docs/install.md does not exist"

# The first-party plugins: every folder of plugins/ with Go code, as the root
# Makefile builds them. The packaged config needs the first three.
plugins=()
for d in plugins/*/; do
	d=${d%/}
	compgen -G "$d/*.go" >/dev/null && plugins+=("$(basename "$d")")
done
for p in router-static connector-echo cdr-jsonl; do
	[[ " ${plugins[*]} " == *" $p "* ]] || die "plugins/$p is missing; the packaged config needs it"
done

# The binaries must exist and be built for ARCH: a package of the wrong
# architecture installs fine and then fails with "Exec format error".
bindir=$(cd "$bindir" 2>/dev/null && pwd) || die "binary directory $3 does not exist; run make build for $arch"
for b in voxgate "${plugins[@]/#/plugins/}"; do
	f=$bindir/$b
	[[ -f $f && -x $f ]] || die "$f is missing or not executable; build it first (make deb/rpm do)"
	magic=$(od -An -tx1 -N4 "$f" | tr -d ' \n')
	[[ $magic == 7f454c46 ]] || die "$f is not an ELF executable"
	machine=$(od -An -tx1 -j18 -N1 "$f" | tr -d ' \n')
	[[ $machine == "$elf_machine" ]] || die "$f is not built for $arch (ELF machine 0x$machine)"
done

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
if [[ $format == deb ]]; then
	target=$outdir/voxgate_${version}_${arch}.deb
else
	target=$outdir/voxgate-${version}-1.${rpmarch}.rpm
fi

if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || true)
	[[ -n $SOURCE_DATE_EPOCH ]] || SOURCE_DATE_EPOCH=$(date +%s)
fi
export SOURCE_DATE_EPOCH

stage=$(mktemp -d "${TMPDIR:-/tmp}/voxgate-pkg.XXXXXX")
trap 'rm -rf "$stage"' EXIT

# Man page and Debian changelog, compressed reproducibly (gzip -n: no name,
# no time stamp).
gzip -9n <packaging/voxgate.1 >"$stage/voxgate.1.gz"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
{
	printf 'voxgate (%s) unstable; urgency=medium\n\n' "$version"
	printf '  * Built from voxgate commit %s.\n\n' "$commit"
	printf ' -- %s  %s\n' "$maintainer" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$stage/changelog.gz"
# The same entry for the rpm's %changelog, in nfpm's chglog format.
changelog=""
if [[ $format == rpm ]]; then
	changelog=$stage/changelog.yaml
	cat >"$changelog" <<EOF
- semver: "$version-1"
  date: "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)"
  packager: "$maintainer"
  changes:
    - note: "Built from voxgate commit $commit."
EOF
fi

# Maintainer scripts: lib.sh pasted in at "# @include lib.sh", the sysusers.d
# line put in for @SYSUSERS_LINE@.
sysusers_line=$(grep -Ev '^[[:space:]]*(#|$)' systemd/sysusers.d/voxgate.conf)
[[ $(printf '%s\n' "$sysusers_line" | wc -l) -eq 1 ]] ||
	die "systemd/sysusers.d/voxgate.conf must have exactly one entry"
[[ $sysusers_line != *"'"* ]] || die "the sysusers.d line must not contain a single quote"
for dir in deb rpm; do
	mkdir -p "$stage/$dir"
	for script in packaging/scripts/$dir/*; do
		out=$stage/$dir/$(basename "$script")
		awk -v lib=packaging/scripts/lib.sh -v line="$sysusers_line" '
			$0 == "# @include lib.sh" {
				while ((getline l < lib) > 0) {
					i = index(l, "@SYSUSERS_LINE@")
					if (i) l = substr(l, 1, i - 1) line substr(l, i + 15)
					print l
				}
				close(lib)
				next
			}
			{ print }' "$script" >"$out"
		chmod 0755 "$out"
		if grep -q -e '@SYSUSERS_LINE@' -e '^# @include' "$out"; then
			die "$out: a placeholder was left unreplaced"
		fi
		sh -n "$out" || die "$out: shell syntax error"
	done
done

# One contents entry per plugin: binary, and README (plain in the deb, %doc
# in the rpm).
for p in "${plugins[@]}"; do
	printf '  - src: %s\n    dst: /usr/lib/voxgate/plugins/%s\n' "$bindir/plugins/$p" "$p"
	printf '    file_info: {mode: 0o755, owner: root, group: root}\n'
	if [[ -f plugins/$p/README.md ]]; then
		printf '  - src: plugins/%s/README.md\n    dst: /usr/share/doc/voxgate/plugins/%s.md\n' "$p" "$p"
		if [[ $format == rpm ]]; then printf '    type: doc\n'; fi
		printf '    file_info: {mode: 0o644, owner: root, group: root}\n'
	fi
done >"$stage/plugins.yaml"
for f in docs/*.md; do
	printf '  - src: %s\n    dst: /usr/share/doc/voxgate/%s\n' "$f" "$(basename "$f")"
	if [[ $format == rpm ]]; then printf '    type: doc\n'; fi
	printf '    file_info: {mode: 0o644, owner: root, group: root}\n'
done >"$stage/docs.yaml"

# The nfpm config with every ${VOXGATE_PKG_...} replaced.
export VOXGATE_PKG_VERSION=$version VOXGATE_PKG_ARCH=$arch VOXGATE_PKG_BINDIR=$bindir \
	VOXGATE_PKG_STAGE=$stage VOXGATE_PKG_MAINTAINER=$maintainer VOXGATE_PKG_CONFIG=$config \
	VOXGATE_PKG_CHANGELOG=$changelog
awk -v plugins="$stage/plugins.yaml" -v docs="$stage/docs.yaml" '
$0 == "  # @PLUGINS@" {
	while ((getline l < plugins) > 0) print l
	next
}
$0 == "  # @DOCS@" {
	while ((getline l < docs) > 0) print l
	next
}
{
	while (match($0, /\$\{VOXGATE_PKG_[A-Z]+\}/)) {
		name = substr($0, RSTART + 2, RLENGTH - 3)
		if (!(name in ENVIRON)) { print "unknown variable " name > "/dev/stderr"; exit 1 }
		$0 = substr($0, 1, RSTART - 1) ENVIRON[name] substr($0, RSTART + RLENGTH)
	}
	print
}' packaging/nfpm.yaml >"$stage/nfpm.yaml" || die "cannot render packaging/nfpm.yaml"

rm -f "$target"
# nfpm runs on this machine: never build it for the packages' GOARCH.
env -u GOOS -u GOARCH -u CGO_ENABLED timeout 900 \
	go tool nfpm package --config "$stage/nfpm.yaml" --packager "$format" --target "$target" >&2 ||
	die "nfpm failed for $format/$arch"
[[ -s $target ]] || die "nfpm wrote no $target"
echo "$target"
