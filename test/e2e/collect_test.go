//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const menuRules = `[
  { name = "menu", match = "to", exact = "menu", action = "collect", max_digits = 4, terminator = "#", timeout_ms = 8000 },
  { name = "sales", match = "digits", exact = "12", action = "agent", connector = "connector-echo", variables = { dept = "sales" } },
  { name = "closed", match = "digits", exact = "9", action = "reject", sip_code = 480, reason = "Closed" },
]`

// menuScenario answers, presses the given digits as RFC 4733 events (the
// pcaps of Debian's sip-tester), then either hangs up after a while or
// waits for our BYE.
func menuScenario(t *testing.T, digits []string, expectBye bool) string {
	var presses strings.Builder
	for i, d := range digits {
		fmt.Fprintf(&presses, `  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_%s.pcap"/></action></nop>
`, d)
		// SIPp aborts on a BYE that arrives during a pause: after the
		// last digit a caller expecting our BYE waits for it at once.
		if i < len(digits)-1 || !expectBye {
			presses.WriteString("  <pause milliseconds=\"700\"/>\n")
		}
	}
	end := `  <pause milliseconds="2000"/>
  <send retrans="500"><![CDATA[

      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:caller@[local_ip]:[local_port]>;tag=[pid]VG[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

  ]]></send>
  <recv response="200"/>
`
	if expectBye {
		end = `  <recv request="BYE" timeout="15000"/>
  <send><![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

  ]]></send>
`
	}
	base, err := os.ReadFile(filepath.Join(repoRoot(t), "test/e2e/scenarios/uac_short.xml"))
	if err != nil {
		t.Fatal(err)
	}
	// Keep uac_short's INVITE/200/ACK (with a telephone-event offer) and replace the rest.
	head := string(base[:strings.Index(string(base), `  <pause milliseconds="500"/>`)])
	head = strings.Replace(head, "m=audio [auto_media_port] RTP/AVP 0\n      a=rtpmap:0 PCMU/8000",
		"m=audio [auto_media_port] RTP/AVP 0 101\n      a=rtpmap:0 PCMU/8000\n      a=rtpmap:101 telephone-event/8000", 1)
	head = strings.ReplaceAll(head, "+4930555[call_number]", "caller")
	path := filepath.Join(t.TempDir(), "menu.xml")
	if err := os.WriteFile(path, []byte(head+presses.String()+end+"</scenario>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// A collect decision: the call is answered, the caller presses 1 2 #, the
// router gets the digits and sends the call to the agent.
func TestCollectDigitsThenAgent(t *testing.T) {
	need(t, "sipp")
	d := startDaemon(t, daemonOpts{rules: menuRules})
	if code, out := sipp(t, 30*time.Second, menuScenario(t, []string{"1", "2", "pound"}, false), "menu"); code != 0 {
		t.Fatalf("sipp exit %d:\n%s", code, out)
	}
	r := d.records(1, 10*time.Second)[0]
	if r.Disposition != "answered" || r.RouteAction != "agent" || r.RouteRule != "sales" ||
		r.Connector != "connector-echo" || r.Variables["collected_digits"] != "12" || r.Variables["dept"] != "sales" {
		t.Fatalf("CDR %+v, want answered, routed to the agent by rule sales with digits 12", r.Raw)
	}
	if r.Raw["connector_session_id"] == nil || r.DTMFCount != 3 {
		t.Fatalf("CDR %+v: want a connector session and 3 digits", r.Raw)
	}
	d.waitLog(`msg="digits collected" .*digits=12`, time.Second)
}

// Digits that the router rejects: the answered call is ended with BYE and
// the CDR carries the router's code.
func TestCollectDigitsThenReject(t *testing.T) {
	need(t, "sipp")
	d := startDaemon(t, daemonOpts{rules: menuRules})
	if code, out := sipp(t, 30*time.Second, menuScenario(t, []string{"9", "pound"}, true), "menu"); code != 0 {
		t.Fatalf("sipp exit %d (it waits for our BYE):\n%s", code, out)
	}
	r := d.records(1, 10*time.Second)[0]
	if r.Disposition != "rejected" || r.SIPStatus != 480 || r.RouteRule != "closed" || r.HangupSide != "system" ||
		r.Variables["collected_digits"] != "9" {
		t.Fatalf("CDR %+v, want rejected 480 by rule closed after digits 9", r.Raw)
	}
}
