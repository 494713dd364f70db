// Package pluginhost launches the plugins named in the config and keeps them
// running: go-plugin handshake, Info and protocol checks, Configure, health
// checks, restart with backoff, optional SHA-256 pinning, plugin logs tagged
// with the plugin name, and no leaking of the daemon's environment.
package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/voxgate/voxgate/daemon/config"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
	"github.com/voxgate/voxgate/sdk/wire"
)

// ErrDown means the plugin is not running right now (crashed and waiting for
// its restart, or failed to start).
var ErrDown = errors.New("plugin is down")

// Host owns every plugin process.
type Host struct {
	log     *slog.Logger
	runDir  string
	plugins map[string]*Plugin
	wg      sync.WaitGroup
}

// Plugin is one configured plugin and its current process, if any.
type Plugin struct {
	Name string
	Kind string
	cfg  config.Plugin
	host *Host
	log  *slog.Logger

	mu       sync.RWMutex
	cur      *instance
	restarts int
}

type instance struct {
	client  *goplugin.Client
	proto   goplugin.ClientProtocol
	clients *wire.Clients
	conn    *wire.ConnectorHost
	info    *pluginv1.InfoResponse
}

// New prepares the host; nothing is launched until Start.
func New(cfg *config.Config, log *slog.Logger) *Host {
	h := &Host{log: log, runDir: cfg.Server.RunDir, plugins: make(map[string]*Plugin)}
	for _, pc := range cfg.Plugins {
		h.plugins[pc.Name] = &Plugin{Name: pc.Name, Kind: pc.Kind, cfg: pc, host: h,
			log: log.With("plugin", pc.Name)}
	}
	return h
}

func (h *Host) socketDir() string { return filepath.Join(h.runDir, "plugins") }
func (h *Host) frameDir() string  { return filepath.Join(h.runDir, "frames") }
func (h *Host) pidFile(name string) string {
	return filepath.Join(h.runDir, "pids", name+".pid")
}

// Start clears what a killed daemon left behind, launches every plugin and
// starts their supervisors. A plugin that cannot start at all (missing
// binary, wrong checksum, wrong protocol, config refused) is an error here:
// the admin must see it at start, not at the first call.
func (h *Host) Start(ctx context.Context) error {
	if err := h.clearLeftovers(); err != nil {
		return err
	}
	var errs []error
	for _, p := range h.plugins {
		if err := p.launch(ctx); err != nil {
			errs = append(errs, fmt.Errorf("plugin %s: %w", p.Name, err))
		}
	}
	if len(errs) > 0 {
		h.Stop()
		return errors.Join(errs...)
	}
	for _, p := range h.plugins {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			p.supervise(ctx)
		}()
	}
	return nil
}

// clearLeftovers kills plugin processes a previous daemon left running (if
// it was killed with SIGKILL) and removes their socket files.
func (h *Host) clearLeftovers() error {
	for _, d := range []string{h.socketDir(), h.frameDir(), filepath.Dir(h.pidFile("x"))} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("plugin run dir: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("plugin run dir: %w", err)
		}
	}
	for _, p := range h.plugins {
		b, err := os.ReadFile(h.pidFile(p.Name))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		want, _ := filepath.Abs(p.cfg.Path)
		if err == nil && (exe == want || strings.TrimSuffix(exe, " (deleted)") == want) {
			h.log.Warn("killing plugin left running by a previous daemon", "plugin", p.Name, "pid", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.Remove(h.pidFile(p.Name))
	}
	for _, d := range []string{h.socketDir(), h.frameDir()} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(d, e.Name()))
		}
	}
	return nil
}

func checksum(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hsh := sha256.New()
	if _, err := io.Copy(hsh, f); err != nil {
		return nil, err
	}
	return hsh.Sum(nil), nil
}

// launch starts the plugin process and makes it ready for calls.
func (p *Plugin) launch(ctx context.Context) error {
	var secure *goplugin.SecureConfig
	if p.cfg.SHA256 != "" {
		want, err := hex.DecodeString(p.cfg.SHA256)
		if err != nil {
			return fmt.Errorf("sha256 %q is not hex: %w", p.cfg.SHA256, err)
		}
		got, err := checksum(p.cfg.Path)
		if err != nil {
			return fmt.Errorf("checksum %s: %w", p.cfg.Path, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s has sha256 %x but the config pins %s: rebuild or update sha256", p.cfg.Path, got, p.cfg.SHA256)
		}
		secure = &goplugin.SecureConfig{Checksum: want, Hash: sha256.New()}
	}
	cmd := exec.Command(p.cfg.Path)
	// Only what the config names: the daemon's environment (which may hold
	// secrets) does not leak into plugins.
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin"}, p.cfg.Env...)
	lw := &logWriter{log: p.log}
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.PluginSet(p.Kind, nil),
		Cmd:              cmd,
		SecureConfig:     secure,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard}),
		Stderr:           lw,
		SkipHostEnv:      true,
		UnixSocketConfig: &goplugin.UnixSocketConfig{TempDir: p.host.socketDir()},
		StartTimeout:     10 * time.Second,
	})
	inst, err := p.handshake(ctx, client)
	if err != nil {
		client.Kill()
		return err
	}
	pid := 0
	if rc := client.ReattachConfig(); rc != nil {
		pid = rc.Pid
		os.WriteFile(p.host.pidFile(p.Name), []byte(strconv.Itoa(pid)), 0o600)
	}
	p.mu.Lock()
	p.cur = inst
	p.mu.Unlock()
	p.log.Info("plugin ready", "kind", p.Kind, "version", inst.info.GetVersion(), "path", p.cfg.Path, "pid", pid)
	return nil
}

func (p *Plugin) handshake(ctx context.Context, client *goplugin.Client) (*instance, error) {
	proto, err := client.Client()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w (the daemon speaks plugin protocol %d)", p.cfg.Path, err, wire.ProtocolVersion)
	}
	raw, err := proto.Dispense(p.Kind)
	if err != nil {
		return nil, fmt.Errorf("dispense %s: %w", p.Kind, err)
	}
	inst := &instance{client: client, proto: proto, clients: raw.(*wire.Clients)}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	info, err := inst.clients.Plugin.Info(cctx, &pluginv1.InfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("info: %w", err)
	}
	if info.GetProtocolVersion() != wire.ProtocolVersion {
		return nil, fmt.Errorf("plugin speaks protocol version %d, the daemon speaks %d: rebuild the plugin with a matching SDK",
			info.GetProtocolVersion(), wire.ProtocolVersion)
	}
	if info.GetKind() != p.Kind {
		return nil, fmt.Errorf("%s is a %s plugin but the config says kind = %q", p.cfg.Path, info.GetKind(), p.Kind)
	}
	inst.info = info
	cfgJSON, err := json.Marshal(p.cfg.Config)
	if err != nil {
		return nil, fmt.Errorf("encode config table: %w", err)
	}
	if p.cfg.Config == nil {
		cfgJSON = []byte("{}")
	}
	if _, err := inst.clients.Plugin.Configure(cctx, &pluginv1.ConfigureRequest{ConfigJson: cfgJSON}); err != nil {
		return nil, fmt.Errorf("the plugin refused its [plugin.config]: %w", err)
	}
	if p.Kind == wire.Connector {
		conn, err := wire.OpenConnectorHost(cctx, inst.clients.Connector, p.host.frameDir(), p.Name+".sock")
		if err != nil {
			return nil, err
		}
		inst.conn = conn
	}
	return inst, nil
}

// supervise checks the plugin every second and restarts it with backoff
// (200 ms doubling to 30 s) after it died or stopped answering.
func (p *Plugin) supervise(ctx context.Context) {
	backoff := 200 * time.Millisecond
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if p.healthy() {
			backoff = 200 * time.Millisecond
			continue
		}
		p.down()
		for ctx.Err() == nil {
			p.log.Warn("plugin is down; restarting", "in", backoff, "restarts", p.restarts)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			p.restarts++
			err := p.launch(ctx)
			if err == nil {
				break
			}
			p.log.Error("plugin restart failed", "err", err)
			backoff = min(backoff*2, 30*time.Second)
		}
	}
}

func (p *Plugin) healthy() bool {
	p.mu.RLock()
	inst := p.cur
	p.mu.RUnlock()
	if inst == nil || inst.client.Exited() {
		return false
	}
	if inst.conn != nil {
		if err := inst.conn.Broken(); err != nil {
			p.log.Error("connector's frame channel is broken; restarting the plugin", "err", err)
			return false
		}
	}
	return inst.proto.Ping() == nil
}

// down forgets the current process; connector sessions on it end.
func (p *Plugin) down() {
	p.mu.Lock()
	inst := p.cur
	p.cur = nil
	p.mu.Unlock()
	if inst == nil {
		return
	}
	if inst.conn != nil {
		inst.conn.Close()
	}
	inst.client.Kill()
}

func (p *Plugin) current() (*instance, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.cur == nil {
		return nil, fmt.Errorf("plugin %s: %w", p.Name, ErrDown)
	}
	return p.cur, nil
}

// Stop kills every plugin.
func (h *Host) Stop() {
	for _, p := range h.plugins {
		p.down()
		os.Remove(h.pidFile(p.Name))
	}
}

// Wait waits for the supervisors after the Start context ended.
func (h *Host) Wait() { h.wg.Wait() }

// Plugin returns a configured plugin by name.
func (h *Host) Plugin(name string) *Plugin { return h.plugins[name] }

// PID is the process id of the running plugin, 0 when down. Tests and
// `voxgate ctl` use it.
func (p *Plugin) PID() int {
	inst, err := p.current()
	if err != nil {
		return 0
	}
	if rc := inst.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// Route asks a router plugin for a decision within the plugin's deadline.
func (p *Plugin) Route(ctx context.Context, call *pluginv1.Call) (*pluginv1.RouteDecision, error) {
	inst, err := p.current()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Deadline.Duration)
	defer cancel()
	d, err := inst.clients.Router.Route(ctx, &pluginv1.RouteRequest{Call: call})
	if err != nil {
		return nil, fmt.Errorf("router %s: %w", p.Name, err)
	}
	return d, nil
}

// StartSession opens a connector session for a call.
func (p *Plugin) StartSession(ctx context.Context, start *pluginv1.Start, h wire.SessionHandler) (*wire.HostSession, error) {
	inst, err := p.current()
	if err != nil {
		return nil, err
	}
	if inst.conn == nil {
		return nil, fmt.Errorf("plugin %s is a %s, not a connector", p.Name, p.Kind)
	}
	return inst.conn.Start(ctx, start, h)
}

// Export hands records to an exporter plugin.
func (p *Plugin) Export(ctx context.Context, recs []*pluginv1.CallRecord) ([]string, error) {
	inst, err := p.current()
	if err != nil {
		return nil, err
	}
	resp, err := inst.clients.Exporter.Export(ctx, &pluginv1.ExportRequest{Records: recs})
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", p.Name, err)
	}
	return resp.GetAckedIds(), nil
}
