// Package service ties the daemon to systemd: sd_notify READY, RELOADING
// and STOPPING, and the watchdog keep-alive. Outside systemd (no
// NOTIFY_SOCKET) every call is a no-op.
package service

import (
	"context"
	"log/slog"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Ready tells systemd the daemon is serving.
func Ready() { daemon.SdNotify(false, daemon.SdNotifyReady) }

// Stopping tells systemd the daemon is draining.
func Stopping() { daemon.SdNotify(false, daemon.SdNotifyStopping) }

// Reloading tells systemd a reload started; call Ready when it is done.
func Reloading() {
	daemon.SdNotify(false, daemon.SdNotifyReloading+"\nMONOTONIC_USEC="+monotonicUsec())
}

// Watchdog pings systemd at half the WatchdogSec interval until ctx ends,
// as long as healthy() says the daemon can still do its job.
func Watchdog(ctx context.Context, log *slog.Logger, healthy func() bool) {
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if healthy() {
				daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			} else {
				log.Error("health check failed; not feeding the watchdog")
			}
		}
	}
}
