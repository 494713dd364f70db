package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/voxgate/voxgate/daemon/config"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

var binDir string

// TestMain builds the real first-party plugins: the host is tested against
// real binaries over real go-plugin connections.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginhost-test")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for _, p := range []string{"../../plugins/router-static", "../../plugins/connector-echo", "./testdata/slowrouter"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, filepath.Base(p)), p)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			panic("build " + p + ": " + err.Error())
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testConfig(t *testing.T, plugins ...config.Plugin) *config.Config {
	cfg := config.Default()
	cfg.Server.RunDir = t.TempDir()
	for i := range plugins {
		if plugins[i].Deadline.Duration == 0 {
			plugins[i].Deadline.Duration = 500 * time.Millisecond
		}
	}
	cfg.Plugins = plugins
	return cfg
}

func router(extra func(*config.Plugin)) config.Plugin {
	p := config.Plugin{Name: "router-static", Kind: "router", Path: filepath.Join(binDir, "router-static"),
		Config: map[string]any{"default": map[string]any{"action": "reject", "sip_code": 486, "reason": "Busy Here"}}}
	if extra != nil {
		extra(&p)
	}
	return p
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestStartRouteAndRestartAfterCrash(t *testing.T) {
	h := New(testConfig(t, router(nil)), quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); h.Stop(); h.Wait() }()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	p := h.Plugin("router-static")
	d, err := p.Route(ctx, &pluginv1.Call{Id: "vg-1", To: &pluginv1.Party{User: "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if rej := d.GetReject(); rej == nil || rej.GetSipCode() != 486 {
		t.Fatalf("decision %v, want reject 486 from the configured default", d)
	}
	pid := p.PID()
	if pid == 0 {
		t.Fatal("no pid for a running plugin")
	}
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if np := p.PID(); np != 0 && np != pid {
			if _, err := p.Route(ctx, &pluginv1.Call{Id: "vg-2"}); err != nil {
				t.Fatalf("route after restart: %v", err)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("plugin not restarted within 15 s after it was killed")
}

func TestChecksumPin(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(binDir, "router-static"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	good := hex.EncodeToString(sum[:])

	h := New(testConfig(t, router(func(p *config.Plugin) { p.SHA256 = good })), quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.Start(ctx); err != nil {
		t.Fatalf("start with the right sha256: %v", err)
	}
	cancel()
	h.Stop()
	h.Wait()

	bad := strings.Repeat("0", 64)
	h = New(testConfig(t, router(func(p *config.Plugin) { p.SHA256 = bad })), quietLog())
	err = h.Start(context.Background())
	if err == nil {
		h.Stop()
		t.Fatal("a binary whose sha256 differs from the pin was started")
	}
	if !strings.Contains(err.Error(), good) || !strings.Contains(err.Error(), bad) {
		t.Fatalf("error should name both checksums: %v", err)
	}
}

func TestWrongKindIsRefused(t *testing.T) {
	h := New(testConfig(t, router(func(p *config.Plugin) { p.Kind = "exporter"; p.Config = nil })), quietLog())
	err := h.Start(context.Background())
	if err == nil {
		h.Stop()
		t.Fatal("a router binary configured as an exporter was started")
	}
	if !strings.Contains(err.Error(), "router") || !strings.Contains(err.Error(), "exporter") {
		t.Fatalf("error should name both kinds: %v", err)
	}
}

func TestBadPluginConfigIsRefused(t *testing.T) {
	h := New(testConfig(t, router(func(p *config.Plugin) {
		p.Config = map[string]any{"rulez": []any{}}
	})), quietLog())
	err := h.Start(context.Background())
	if err == nil {
		h.Stop()
		t.Fatal("a plugin config with an unknown key was accepted")
	}
	if !strings.Contains(err.Error(), "rulez") {
		t.Fatalf("error should name the bad key: %v", err)
	}
}

// A second host in the same run dir kills a plugin that a killed daemon
// left behind (recorded in the pid file).
func TestLeftoverPluginIsKilled(t *testing.T) {
	cfg := testConfig(t, router(nil))
	h := New(cfg, quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	old := h.Plugin("router-static").PID()
	cancel()
	h.Wait() // supervisors gone, process still running: like a SIGKILLed daemon

	h2 := New(cfg, quietLog())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer func() { cancel2(); h2.Stop(); h2.Wait(); h.Stop() }()
	if err := h2.Start(ctx2); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(old, 0) != nil {
			return
		}
		var ws syscall.WaitStatus
		syscall.Wait4(old, &ws, syscall.WNOHANG, nil) // reap: it is our child here
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("leftover plugin %d still runs", old)
}

// A router slower than its deadline gets an error in time (the SIP layer then
// uses the fallback decision); one within its deadline answers.
func TestRouteDeadline(t *testing.T) {
	slow := config.Plugin{Name: "slow", Kind: "router", Path: filepath.Join(binDir, "slowrouter"),
		Deadline: config.Duration{Duration: 100 * time.Millisecond}, Config: map[string]any{"delay_ms": 2000}}
	fast := config.Plugin{Name: "fast", Kind: "router", Path: filepath.Join(binDir, "slowrouter"),
		Deadline: config.Duration{Duration: 2 * time.Second}, Config: map[string]any{"delay_ms": 10}}
	h := New(testConfig(t, slow, fast), quietLog())
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); h.Stop(); h.Wait() }()
	if err := h.Start(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := h.Plugin("slow").Route(ctx, &pluginv1.Call{Id: "vg-1"})
	if err == nil || !strings.Contains(err.Error(), "DeadlineExceeded") {
		t.Fatalf("slow router: err %v, want a deadline error", err)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Fatalf("the deadline did not cut the call short: %v", took)
	}
	if d, err := h.Plugin("fast").Route(ctx, &pluginv1.Call{Id: "vg-2"}); err != nil || d.GetAgent() == nil {
		t.Fatalf("fast router: %v %v", d, err)
	}
}
