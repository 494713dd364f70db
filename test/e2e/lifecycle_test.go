//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Our 200 OK is retransmitted over UDP until the ACK comes; without ACK the
// call is ended with BYE after 64*T1 and the CDR says why.
func TestNoAckRetransmits200ThenBye(t *testing.T) {
	need(t, "sipp")
	// The caller sends no RTP either: keep the media timeout out of the way.
	d := startDaemon(t, daemonOpts{mediaTimeout: "90s"})
	code, out := sipp(t, 60*time.Second, "uac_noack.xml", "echo")
	if code != 0 {
		t.Fatalf("sipp exit %d (it waits for our BYE):\n%s", code, out)
	}
	// SIPp's message log holds every 200 it received, retransmissions too.
	got := strings.Count(out, "SIP/2.0 200 OK")
	if got < 6 {
		t.Fatalf("SIPp saw %d copies of our 200 OK, want ≥ 6 (T1 doubling to T2 over 32 s):\n%s", got, out)
	}
	r := d.records(1, 10*time.Second)[0]
	if r.Disposition != "failed" || r.HangupCause != "no ACK for 200 OK" || r.HangupSide != "system" {
		t.Fatalf("CDR = %+v, want failed / no ACK for 200 OK / system", r.Raw)
	}
	if r.BillableMS < 30000 {
		t.Fatalf("BYE after %d ms; 64*T1 is 32 s", r.BillableMS)
	}
}

func pluginPIDs(t *testing.T, d *daemon) map[string]int {
	t.Helper()
	rx := regexp.MustCompile(`msg="plugin ready" plugin=(\S+) .*pid=(\d+)`)
	out := map[string]int{}
	for _, m := range rx.FindAllStringSubmatch(d.log(), -1) {
		pid, _ := strconv.Atoi(m[2])
		out[m[1]] = pid
	}
	if len(out) != 3 {
		t.Fatalf("want 3 plugin pids in the log, found %v", out)
	}
	return out
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// A daemon killed with SIGKILL takes its plugins with it, and the next start
// in the same run directory comes up cleanly. Plugins never see the daemon's
// environment.
func TestKill9DaemonPluginsExitAndRestartIsClean(t *testing.T) {
	t.Setenv("VOXGATE_TEST_SECRET", "do-not-leak")
	dir := t.TempDir()
	d := startDaemon(t, daemonOpts{dir: dir})
	pids := pluginPIDs(t, d)
	for name, pid := range pids {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatalf("read environ of %s: %v", name, err)
		}
		if bytes.Contains(env, []byte("VOXGATE_TEST_SECRET")) {
			t.Fatalf("plugin %s inherited the daemon's environment", name)
		}
	}
	d.cmd.Process.Kill()
	<-d.done
	deadline := time.Now().Add(5 * time.Second)
	for name, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(pid) {
			t.Fatalf("plugin %s (pid %d) still runs 5 s after the daemon was killed", name, pid)
		}
	}
	d2 := startDaemon(t, daemonOpts{dir: dir})
	pluginPIDs(t, d2)
	if strings.Contains(d2.log(), "level=ERROR") {
		t.Fatalf("restart after kill -9 logged errors:\n%s", d2.log())
	}
}

// The connector plugin crashes during a call: the caller gets a clean BYE,
// the CDR says the agent side failed, and after the host restarts the
// plugin the next call is answered again.
func TestConnectorCrashHangsUpCleanly(t *testing.T) {
	need(t, "sipp")
	d := startDaemon(t, daemonOpts{mediaTimeout: "60s"})
	pid := pluginPIDs(t, d)["connector-echo"]
	done := make(chan struct{})
	var code int
	var out string
	go func() {
		defer close(done)
		code, out = sipp(t, 30*time.Second, "uac_silent.xml", "echo")
	}()
	d.waitLog(`msg="call answered"`, 10*time.Second)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill connector-echo %d: %v", pid, err)
	}
	<-done
	if code != 0 {
		t.Fatalf("sipp exit %d (it waits for our BYE):\n%s", code, out)
	}
	r := d.records(1, 10*time.Second)[0]
	if r.HangupSide != "agent" || !strings.Contains(r.HangupCause, "connector") || r.AnswerTime == "" {
		t.Fatalf("CDR %+v, want hung up on the agent side because the connector failed", r.Raw)
	}
	d.waitLog(`(?s)connector-echo.*plugin is down; restarting.*plugin ready" plugin=connector-echo`, 15*time.Second)
	if code, out := sipp(t, 20*time.Second, "uac_short.xml", "echo"); code != 0 {
		t.Fatalf("call after the connector restarted: sipp exit %d:\n%s", code, out)
	}
	if r := d.records(2, 10*time.Second)[1]; r.Disposition != "answered" || r.HangupSide != "caller" {
		t.Fatalf("second call CDR %+v", r.Raw)
	}
}
