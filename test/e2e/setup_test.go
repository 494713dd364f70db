//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testRules = `[
  { name = "busy", match = "to", exact = "busy", action = "reject", sip_code = 486, reason = "Busy Here" },
  { name = "slow", match = "to", exact = "slow", action = "agent", connector = "connector-echo", params = { answer_delay_ms = "5000" } },
]`

// A CANCEL before answer: SIPp sees 200 for the CANCEL and 487 for the
// INVITE; the CDR says cancelled.
func TestCancelBeforeAnswer(t *testing.T) {
	need(t, "sipp")
	d := startDaemon(t, daemonOpts{rules: testRules})
	code, out := sipp(t, 20*time.Second, "uac_cancel.xml", "slow")
	if code != 0 {
		t.Fatalf("sipp exit %d:\n%s", code, out)
	}
	r := d.records(1, 10*time.Second)[0]
	if r.Disposition != "cancelled" || r.SIPStatus != 487 || r.HangupSide != "caller" {
		t.Fatalf("CDR = %s/%d/%s, want cancelled/487/caller: %+v", r.Disposition, r.SIPStatus, r.HangupSide, r.Raw)
	}
	if r.AnswerTime != "" || r.BillableMS != 0 {
		t.Fatalf("a cancelled call has answer_time %q billable %d: %+v", r.AnswerTime, r.BillableMS, r.Raw)
	}
	if r.RouteRule != "slow" {
		t.Fatalf("route_rule = %q, want slow", r.RouteRule)
	}
}

// A router rule that rejects: the caller gets that status, the CDR says so.
func TestRejectedByRouter(t *testing.T) {
	need(t, "sipp")
	d := startDaemon(t, daemonOpts{rules: testRules})
	code, out := sipp(t, 15*time.Second, "uac_rejected.xml", "busy")
	if code != 0 {
		t.Fatalf("sipp exit %d:\n%s", code, out)
	}
	r := d.records(1, 10*time.Second)[0]
	if r.Disposition != "rejected" || r.SIPStatus != 486 || r.RouteAction != "reject" || r.RouteRule != "busy" {
		t.Fatalf("CDR = %+v, want rejected 486 by rule busy", r.Raw)
	}
}

// The router plugin's process is killed just before a call: the configured
// fallback answers the call, and the host restarts the router.
func TestRouterKilledUsesFallback(t *testing.T) {
	need(t, "sipp")
	d := startDaemon(t, daemonOpts{mediaTimeout: "2s"})
	m := d.waitLog(`plugin=router-static .*msg="plugin ready"|msg="plugin ready" plugin=router-static .*pid=(\d+)`, 5*time.Second)
	pid, err := strconv.Atoi(m[len(m)-1])
	if err != nil || pid <= 1 {
		t.Fatalf("no router pid in the log: %q", m)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill router %d: %v", pid, err)
	}
	code, out := sipp(t, 20*time.Second, "uac_silent.xml", "anyone")
	if code != 0 {
		t.Fatalf("sipp exit %d (the call should be answered by the fallback):\n%s", code, out)
	}
	r := d.records(1, 10*time.Second)[0]
	if r.RouteRule != "fallback" || r.RouteAction != "agent" || r.AnswerTime == "" {
		t.Fatalf("CDR = %+v, want an answered call with route_rule fallback", r.Raw)
	}
	// The router comes back by itself.
	d.waitLog(`msg="plugin is down; restarting" plugin=router-static`, 5*time.Second)
	if got := strings.Count(d.log(), `msg="plugin ready" plugin=router-static`); got < 2 {
		d.waitLog(`(?s)plugin ready" plugin=router-static.*plugin ready" plugin=router-static`, 10*time.Second)
	}
}

// A caller that stops sending RTP is hung up with BYE after the media
// timeout, and the CDR says media-timeout.
func TestMediaTimeoutSendsBye(t *testing.T) {
	need(t, "sipp")
	d := startDaemon(t, daemonOpts{mediaTimeout: "2s"})
	start := time.Now()
	code, out := sipp(t, 20*time.Second, "uac_silent.xml", "echo")
	if code != 0 {
		t.Fatalf("sipp exit %d (it waits for our BYE):\n%s", code, out)
	}
	r := d.records(1, 10*time.Second)[0]
	if r.Disposition != "media-timeout" || r.HangupSide != "system" || r.AnswerTime == "" {
		t.Fatalf("CDR = %+v, want media-timeout by system after answer", r.Raw)
	}
	if r.BillableMS < 1500 {
		t.Fatalf("hung up after %d ms, before the 2 s media timeout (call took %v)", r.BillableMS, time.Since(start))
	}
}

// sendUDP sends one SIP request and returns the first response line and the
// whole response.
func sendUDP(t *testing.T, msg string) (string, string) {
	t.Helper()
	conn, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", sipPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr)
	msg = strings.ReplaceAll(msg, "LOCALPORT", strconv.Itoa(local.Port))
	msg = strings.ReplaceAll(strings.TrimLeft(msg, "\n"), "\n", "\r\n")
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		buf := make([]byte, 4096)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no response to %q: %v", strings.SplitN(msg, "\r\n", 2)[0], err)
		}
		resp := string(buf[:n])
		first := strings.SplitN(resp, "\r\n", 2)[0]
		if strings.Contains(first, " 100 ") {
			continue
		}
		return first, resp
	}
}

func request(method, callID string, toTag string) string {
	to := "<sip:echo@127.0.0.1>"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	return fmt.Sprintf(`
%[1]s sip:echo@127.0.0.1:%[2]d SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:LOCALPORT;branch=z9hG4bK-%[3]s
From: <sip:probe@127.0.0.1>;tag=probe1
To: %[4]s
Call-ID: %[3]s
CSeq: 1 %[1]s
Max-Forwards: 70
Content-Length: 0

`, method, sipPort, callID, to)
}

// OPTIONS gets 200, an unsupported method 405 with Allow, and a BYE for a
// dialog that does not exist 481.
func TestOptionsUnknownMethodUnknownDialog(t *testing.T) {
	startDaemon(t, daemonOpts{})
	if first, resp := sendUDP(t, request("OPTIONS", "opt-1", "")); !strings.HasPrefix(first, "SIP/2.0 200") || !strings.Contains(resp, "Allow: INVITE") {
		t.Fatalf("OPTIONS answered %q:\n%s", first, resp)
	}
	if first, resp := sendUDP(t, request("SUBSCRIBE", "sub-1", "")); !strings.HasPrefix(first, "SIP/2.0 405") || !strings.Contains(resp, "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS") {
		t.Fatalf("SUBSCRIBE answered %q:\n%s", first, resp)
	}
	if first, _ := sendUDP(t, request("BYE", "nodialog-1", "nosuchtag")); !strings.HasPrefix(first, "SIP/2.0 481") {
		t.Fatalf("BYE for an unknown dialog answered %q, want 481", first)
	}
}

// A call over TCP: answered, BYE, CDR — signalling on one TCP connection.
func TestCallOverTCP(t *testing.T) {
	need(t, "sipp")
	d := startDaemon(t, daemonOpts{})
	if code, out := sipp(t, 20*time.Second, "uac_short.xml", "echo", "-t", "t1"); code != 0 {
		t.Fatalf("sipp over TCP exit %d:\n%s", code, out)
	}
	r := d.records(1, 10*time.Second)[0]
	if r.Disposition != "answered" || r.HangupSide != "caller" || r.Raw["source_addr"] == "" {
		t.Fatalf("CDR %+v", r.Raw)
	}
	if !strings.Contains(d.log(), "transport=tcp") {
		t.Fatalf("the daemon did not see a TCP call:\n%s", d.log())
	}
}
