//go:build e2e

// Package e2e starts the real daemon with the real plugin binaries and
// calls it with SIPp, an independent SIP implementation from Debian. Run it
// with `make test-e2e` (the Makefile builds bin/ first). It needs sipp and
// tshark and root (SIPp plays pcaps on a raw socket; tshark captures on lo);
// .ci/run installs them. Without them the tests fail: they never skip.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ports of the daemon under test; chosen away from the demo's 5060 and the
// peers' usual ports so a running `make run` does not interfere.
const (
	sipPort = 15060
	rtpMin  = 31000
	rtpMax  = 31999
)

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run .ci/run (or apt-get install sip-tester tshark) first", tool)
		}
	}
	if os.Geteuid() != 0 {
		t.Fatalf("e2e tests need root: SIPp plays pcaps on a raw socket and tshark captures on lo")
	}
}

// daemon is a running voxgate under test.
type daemon struct {
	t      *testing.T
	dir    string
	cdr    string
	cmd    *exec.Cmd
	mu     sync.Mutex
	logBuf bytes.Buffer
	done   chan struct{}
}

type daemonOpts struct {
	dir          string // run in this directory (default: a new temp dir)
	mediaTimeout string
	rules        string // TOML for router-static's rules array
	pgDSN        string // if set, cdr-postgres exports there too
}

func startDaemon(t *testing.T, o daemonOpts) *daemon {
	t.Helper()
	root := repoRoot(t)
	bin := filepath.Join(root, "bin")
	for _, b := range []string{"voxgate", "plugins/router-static", "plugins/connector-echo", "plugins/cdr-jsonl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			t.Fatalf("%s is missing: run make build", filepath.Join(bin, b))
		}
	}
	if o.mediaTimeout == "" {
		o.mediaTimeout = "30s"
	}
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	d := &daemon{t: t, dir: dir, cdr: filepath.Join(dir, "cdr.jsonl"), done: make(chan struct{})}
	pgPlugin, exporters := "", `"cdr-jsonl"`
	if o.pgDSN != "" {
		pgPlugin = fmt.Sprintf(`
[[plugin]]
name = "cdr-postgres"
kind = "exporter"
path = "%s/plugins/cdr-postgres"
[plugin.config]
dsn = "%s"
`, bin, o.pgDSN)
		exporters = `"cdr-jsonl", "cdr-postgres"`
	}
	cfg := fmt.Sprintf(`
[server]
listen = [
  { transport = "udp", addr = "127.0.0.1:%[1]d" },
  { transport = "tcp", addr = "127.0.0.1:%[1]d" },
]
allowed_sources = ["127.0.0.0/8"]
drain_timeout = "5s"
run_dir = "run"
state_dir = "state"

[media]
rtp_port_min = %[2]d
rtp_port_max = %[3]d
rtp_ip = "127.0.0.1"
codecs = ["PCMA", "PCMU"]
media_timeout = "%[4]s"
ring_timeout = "10s"

[[plugin]]
name = "router-static"
kind = "router"
path = "%[5]s/plugins/router-static"
deadline = "500ms"
[plugin.config]
rules = %[6]s
default = { action = "agent", connector = "connector-echo" }

[[plugin]]
name = "connector-echo"
kind = "connector"
path = "%[5]s/plugins/connector-echo"
[plugin.config]
echo_dtmf = true

[[plugin]]
name = "cdr-jsonl"
kind = "exporter"
path = "%[5]s/plugins/cdr-jsonl"
[plugin.config]
path = "%[7]s"

%[8]s
[routing]
router = "router-static"
[routing.fallback]
action = "agent"
connector = "connector-echo"
params = { via = "fallback" }

[cdr]
exporters = [%[9]s]

[log]
level = "debug"
`, sipPort, rtpMin, rtpMax, o.mediaTimeout, bin, orDefault(o.rules, "[]"), d.cdr, pgPlugin, exporters)
	cfgPath := filepath.Join(dir, "voxgate.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(filepath.Join(bin, "voxgate"), "run", "-c", cfgPath)
	d.cmd.Dir = dir
	stderr, _ := d.cmd.StderrPipe()
	d.cmd.Stdout = os.Stdout
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start voxgate: %v", err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.logBuf.WriteString(line + "\n")
			d.mu.Unlock()
			if strings.Contains(line, "voxgate ready") {
				once.Do(func() { close(ready) })
			}
		}
		d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log())
		}
	})
	select {
	case <-ready:
	case <-d.done:
		t.Fatalf("voxgate exited before it was ready:\n%s", d.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("voxgate not ready after 20 s:\n%s", d.log())
	}
	return d
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (d *daemon) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logBuf.String()
}

func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
}

// waitLog waits until the daemon's log matches re.
func (d *daemon) waitLog(re string, timeout time.Duration) []string {
	d.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(d.log()); m != nil {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.t.Fatalf("daemon log never matched %q within %v", re, timeout)
	return nil
}

// record is the part of a CDR line the tests check.
type record struct {
	ID        string `json:"id"`
	SIPCallID string `json:"sip_call_id"`
	Direction string `json:"direction"`
	From      struct {
		User string `json:"user"`
	} `json:"from"`
	To struct {
		User string `json:"user"`
	} `json:"to"`
	StartTime   string            `json:"start_time"`
	AnswerTime  string            `json:"answer_time"`
	EndTime     string            `json:"end_time"`
	DurationMS  int64             `json:"duration_ms"`
	BillableMS  int64             `json:"billable_ms"`
	Disposition string            `json:"disposition"`
	SIPStatus   int               `json:"sip_status"`
	HangupSide  string            `json:"hangup_side"`
	HangupCause string            `json:"hangup_cause"`
	Codec       string            `json:"codec"`
	RouteAction string            `json:"route_action"`
	RouteRule   string            `json:"route_rule"`
	Connector   string            `json:"connector"`
	Variables   map[string]string `json:"variables"`
	DTMFCount   int               `json:"dtmf_count"`
	PacketsIn   int64             `json:"rtp_packets_in"`
	PacketsOut  int64             `json:"rtp_packets_out"`
	Raw         map[string]any    `json:"-"`
}

// records waits until the CDR file holds at least n records and returns them.
func (d *daemon) records(n int, timeout time.Duration) []record {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	var out []record
	for {
		out = out[:0]
		b, _ := os.ReadFile(d.cdr)
		for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			var r record
			if err := json.Unmarshal(line, &r); err != nil {
				d.t.Fatalf("CDR line is not JSON: %v: %s", err, line)
			}
			json.Unmarshal(line, &r.Raw)
			out = append(out, r)
		}
		if len(out) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(out) < n {
		d.t.Fatalf("want %d CDR records in %s, have %d", n, d.cdr, len(out))
	}
	return out
}

// sipp runs one SIPp scenario against the daemon and returns its exit code
// and output. Every run is bounded by timeout.
func sipp(t *testing.T, timeout time.Duration, scenario, service string, extra ...string) (int, string) {
	t.Helper()
	return sippN(t, timeout, scenario, service, 1, 10, extra...)
}

// sippN places calls calls at rate calls/s, up to calls at once.
func sippN(t *testing.T, timeout time.Duration, scenario, service string, calls, rate int, extra ...string) (int, string) {
	t.Helper()
	root := repoRoot(t)
	dir := t.TempDir()
	sf := scenario
	if !filepath.IsAbs(sf) {
		sf = filepath.Join(root, "test/e2e/scenarios", scenario)
	}
	args := []string{"-sf", sf,
		fmt.Sprintf("127.0.0.1:%d", sipPort), "-s", service,
		"-i", "127.0.0.1", "-mi", "127.0.0.1", "-p", "15080", "-mp", "16000",
		"-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", strconv.Itoa(calls), "-cp", "18871", "-nostdin", "-timeout", fmt.Sprintf("%ds", int(timeout.Seconds())),
		"-timeout_error", "-trace_err", "-error_file", filepath.Join(dir, "err.log"),
		"-trace_msg", "-message_file", filepath.Join(dir, "msg.log")}
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), timeout+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", args...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	code := cmd.ProcessState.ExitCode()
	msgs, _ := os.ReadFile(filepath.Join(dir, "msg.log"))
	errs, _ := os.ReadFile(filepath.Join(dir, "err.log"))
	return code, string(out) + "\n--- messages ---\n" + string(msgs) + "\n--- errors ---\n" + string(errs)
}
