// Command voxgate is the voxgate daemon and its CLI.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/voxgate/voxgate/daemon/cdr"
	"github.com/voxgate/voxgate/daemon/config"
	"github.com/voxgate/voxgate/daemon/pluginhost"
	"github.com/voxgate/voxgate/daemon/service"
	"github.com/voxgate/voxgate/daemon/sip"
	"github.com/voxgate/voxgate/daemon/version"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
	"github.com/voxgate/voxgate/sdk/wire"
)

const usage = `voxgate — SIP edge appliance for AI voice

Usage:
  voxgate run   [-c FILE]   run the daemon (default FILE: /etc/voxgate/voxgate.toml)
  voxgate check [-c FILE]   validate FILE without side effects; prints every
                            problem as FILE:LINE: message and exits 1 if any
  voxgate version           print the version and the plugin protocol version
  voxgate help              this text

Signals (run):
  SIGTERM, SIGINT   stop taking calls, wait up to server.drain_timeout for live
                    calls to end, hang up the rest, flush CDRs, exit
  SIGHUP            re-read and validate the config file (logged; see docs)

Files:
  /etc/voxgate/voxgate.toml   configuration (docs/configuration.md)
  /usr/lib/voxgate/plugins/   first-party plugins

Exit status: 0 ok, 1 invalid config or runtime failure, 2 usage error.
`

const defaultConfig = "/etc/voxgate/voxgate.toml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "version", "--version":
		fmt.Fprintf(stdout, "voxgate %s (plugin protocol %d)\n", version.Version, wire.ProtocolVersion)
		return 0
	case "check", "run":
	default:
		fmt.Fprintf(stderr, "voxgate: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("c", defaultConfig, "configuration file")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	cfg, err := loadAndCheck(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cmd == "check" {
		fmt.Fprintf(stdout, "%s: ok\n", *path)
		return 0
	}
	log := newLogger(cfg, stderr)
	if err := serve(cfg, log); err != nil {
		log.Error("voxgate stopped", "err", err)
		return 1
	}
	return 0
}

func loadAndCheck(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := config.CheckFiles(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(cfg *config.Config, log *slog.Logger) error {
	log.Info("voxgate starting", "version", version.Version, "config", cfg.Path)
	startProfiler(log)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()

	plugins := pluginhost.New(cfg, log)
	if err := plugins.Start(ctx); err != nil {
		return fmt.Errorf("plugins: %w", err)
	}
	defer plugins.Stop()

	cdrLog := log.With("component", "cdr")
	spool, err := cdr.OpenSpool(cfg.CDR.SpoolDir, cfg.CDR.Exporters, cdr.SpoolOptions{
		SegmentBytes: cfg.CDR.SegmentBytes,
		MaxBytes:     cfg.CDR.MaxSpoolBytes,
		DropOldest:   cfg.CDR.OnFull == "drop-oldest",
		OnDrop: func(p []byte) {
			r := &pluginv1.CallRecord{}
			proto.Unmarshal(p, r)
			cdrLog.Error("cdr spool full: record dropped before every exporter had it", "call_id", r.GetId(),
				"sip_call_id", r.GetSipCallId(), "start_time", r.GetStartTime())
		},
	}, cdrLog)
	if err != nil {
		return err
	}
	defer spool.Close()
	exporters := map[string]cdr.Exporter{}
	for _, name := range cfg.CDR.Exporters {
		exporters[name] = plugins.Plugin(name)
	}
	disp := cdr.New(cdrLog, spool, exporters)

	// Calls that were in progress when the daemon last died get their CDR
	// now, before new calls start.
	hostname, _ := os.Hostname()
	if err := os.MkdirAll(cfg.Server.StateDir, 0o750); err != nil {
		return fmt.Errorf("server.state_dir: %w", err)
	}
	journalPath := filepath.Join(cfg.Server.StateDir, "live-calls.journal")
	interrupted, err := cdr.RecoverJournal(journalPath, hostname)
	if err != nil {
		return err
	}
	if n, err := disp.Recover(ctx, interrupted); err != nil {
		return fmt.Errorf("recording interrupted calls: %w", err)
	} else if n > 0 {
		log.Warn("recorded calls interrupted by the last stop", "calls", n)
	}
	journal, err := cdr.OpenJournal(journalPath, cdrLog)
	if err != nil {
		return err
	}
	defer journal.Close()

	cdrCtx, stopCDR := context.WithCancel(context.Background())
	cdrDone := make(chan struct{})
	go func() { disp.Run(cdrCtx, 10*time.Second); close(cdrDone) }()

	srv, err := sip.New(cfg, log, plugins, disp, journal)
	if err != nil {
		stopCDR()
		return err
	}
	sipCtx, stopSIP := context.WithCancel(ctx)
	if err := srv.Listen(sipCtx); err != nil {
		stopSIP()
		stopCDR()
		return err
	}
	service.Ready()
	go service.Watchdog(ctx, log, func() bool { return true })
	log.Info("voxgate ready")

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			service.Reloading()
			if _, err := loadAndCheck(cfg.Path); err != nil {
				log.Error("reload: config is invalid; keeping the running config", "err", err)
			} else {
				log.Warn("reload: config is valid; changes take effect at the next restart (live reload is not supported yet)")
			}
			service.Ready()
			continue
		}
		log.Info("stopping: draining calls", "signal", sig.String(), "live_calls", srv.Calls(),
			"drain_timeout", cfg.Server.DrainTimeout.Duration)
		service.Stopping()
		break
	}
	srv.Drain(cfg.Server.DrainTimeout.Duration)
	stopSIP()
	srv.Close()
	stopCDR()
	<-cdrDone
	stop()
	plugins.Wait()
	log.Info("voxgate stopped")
	return nil
}
