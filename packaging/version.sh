#!/bin/sh
# Turns the build version (the Makefile's VERSION: `git describe --tags
# --always --dirty`, or 0.0.0-dev) into a version that dpkg and rpm both
# accept and order the way releases happen:
#
#   v1.2.3                    -> 1.2.3
#   v1.2.3-rc.1               -> 1.2.3~rc.1            (before 1.2.3)
#   v1.2.3-4-gabc1234         -> 1.2.3+git4.gabc1234   (after 1.2.3)
#   v1.2.3-4-gabc1234-dirty   -> 1.2.3+git4.gabc1234.dirty
#   abc1234 (no tag yet)      -> 0.0.0+git.gabc1234
#   0.0.0-dev                 -> 0.0.0~dev
#
# Only [A-Za-z0-9.+~] survive: '-' would split the version in dpkg and is
# forbidden in an rpm Version; '~' sorts before and '+' after in both.
# Usage: version.sh VERSION    (prints the package version)
set -eu

v=${1:-}
if [ -z "$v" ]; then
	echo "usage: $0 VERSION" >&2
	exit 2
fi
v=${v#v}

dirty=""
case "$v" in
*-dirty)
	dirty=".dirty"
	v=${v%-dirty}
	;;
esac

out=""
if printf '%s\n' "$v" | grep -Eq '^[0-9]+(\.[0-9]+)+(-[0-9A-Za-z.]+)?-[0-9]+-g[0-9a-f]+$'; then
	# TAG-N-gHASH: N commits after TAG.
	hash=${v##*-g}
	rest=${v%-g*}
	n=${rest##*-}
	tag=${rest%-*}
	out="$(printf '%s' "$tag" | sed 's/-/~/')+git${n}.g${hash}"
elif printf '%s\n' "$v" | grep -Eq '^[0-9]+(\.[0-9]+)+(-[0-9A-Za-z.]+)?$'; then
	# A release tag, perhaps with a pre-release suffix.
	out=$(printf '%s' "$v" | sed 's/-/~/')
elif printf '%s\n' "$v" | grep -Eq '^[0-9a-f]{4,40}$'; then
	# No tag in the history: only an abbreviated commit.
	out="0.0.0+git.g${v}"
else
	# Anything else: keep what is safe, behind a 0.0.0 that sorts first.
	out="0.0.0~$(printf '%s' "$v" | tr -c 'A-Za-z0-9.\n' '.' | sed 's/^\.*//')"
fi
out="${out}${dirty}"

# With a dirty tree on a tag, "+.dirty" would look odd: use "+dirty".
case "$out" in
*+*) ;;
*.dirty) out="${out%.dirty}+dirty" ;;
esac

if ! printf '%s\n' "$out" | grep -Eq '^[0-9][A-Za-z0-9.+~]*$'; then
	echo "version.sh: cannot turn '$1' into a package version (got '$out')" >&2
	exit 1
fi
printf '%s\n' "$out"
