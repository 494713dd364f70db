// Package version holds the daemon's version, set at link time by the
// Makefile from git describe.
package version

// Version is overridden with -ldflags "-X .../daemon/version.Version=...".
var Version = "0.0.0-dev"
