# packaging/packaging.mk: deb and rpm packages of voxgate, and their test.
# Included by the root Makefile (`include packaging/packaging.mk`).
#
#   make deb             voxgate_<version>_<arch>.deb for this machine's arch
#   make rpm             voxgate-<version>-1.<rpmarch>.rpm, likewise
#   make deb PKG_ARCH=arm64    the same for another architecture
#   make packages        deb and rpm for amd64 and arm64
#   make test-packages   builds them all, then test/packaging/run.sh checks
#                        the unit and the contents, runs lintian and rpmlint,
#                        and installs, upgrades, removes and purges the deb
#                        in a throw-away Debian root, also booted with
#                        systemd-nspawn, and the rpm with rpm --root (needs
#                        root and a Debian mirror; test/packaging/deps.sh
#                        installs the tools)
#
# Packages land in $(PKG_DIST) (bin/packages). Their binaries are built for
# them by the root Makefile's `build` target, once per architecture, into
# bin/<arch>/ with CGO_ENABLED=0 (no shared library needed: the same binary
# on every distribution), stripped (-s -w) and position-independent.
# The package version comes from VERSION (git describe) via
# packaging/version.sh, computed once per make run so that every package and
# the test agree; set PKG_VERSION to override it.

GO ?= go
BIN ?= $(CURDIR)/bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)

PKG_VERSION ?= $(eval PKG_VERSION := $$(shell packaging/version.sh '$$(VERSION)'))$(PKG_VERSION)
PKG_ARCH ?= $(shell $(GO) env GOHOSTARCH)
PKG_ARCHES ?= amd64 arm64
PKG_DIST ?= $(BIN)/packages

PKG_BIN_TARGETS := $(foreach a,$(PKG_ARCHES),pkg-bin-$(a))
PKG_DEB_TARGETS := $(foreach a,$(PKG_ARCHES),pkg-deb-$(a))
PKG_RPM_TARGETS := $(foreach a,$(PKG_ARCHES),pkg-rpm-$(a))

.PHONY: deb rpm packages test-packages $(PKG_BIN_TARGETS) $(PKG_DEB_TARGETS) $(PKG_RPM_TARGETS)

deb: pkg-deb-$(PKG_ARCH)
rpm: pkg-rpm-$(PKG_ARCH)
packages: $(PKG_DEB_TARGETS) $(PKG_RPM_TARGETS)

# The binaries of one architecture, through the root Makefile's build target
# with its own flags plus the packaging ones.
$(PKG_BIN_TARGETS): pkg-bin-%:
	@echo "packaging: building the $* binaries into $(BIN)/$*"
	CGO_ENABLED=0 GOOS=linux GOARCH=$* GOFLAGS="$(strip $(GOFLAGS) -buildmode=pie)" \
		$(MAKE) --no-print-directory build BIN='$(BIN)/$*' VERSION='$(VERSION)' \
		LDFLAGS='-s -w $(LDFLAGS)'

$(PKG_DEB_TARGETS): pkg-deb-%: pkg-bin-%
	@packaging/build.sh deb $* '$(BIN)/$*' '$(PKG_DIST)' '$(PKG_VERSION)'
$(PKG_RPM_TARGETS): pkg-rpm-%: pkg-bin-%
	@packaging/build.sh rpm $* '$(BIN)/$*' '$(PKG_DIST)' '$(PKG_VERSION)'

test-packages: packages
	bash test/packaging/run.sh '$(PKG_DIST)' '$(PKG_VERSION)' '$(BIN)'
