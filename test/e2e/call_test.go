//go:build e2e

package e2e

import (
	"bytes"
	"testing"
	"time"
)

// A call with G.711 audio from a pcap: 200, the caller's audio comes back
// byte for byte, the DTMF digit comes back, BYE ends it, the CDR is right.
func TestEchoCallAudioDTMFAndCDR(t *testing.T) {
	need(t, "sipp", "tshark")
	d := startDaemon(t, daemonOpts{})
	capt := startCapture(t, 16000)
	code, out := sipp(t, 40*time.Second, "uac_pcap_dtmf.xml", "echo")
	pkts := capt.stop()
	if code != 0 {
		t.Fatalf("sipp exit %d:\n%s", code, out)
	}

	var sent, echoed []byte
	var dtmfBack []rtpPacket
	for _, p := range pkts {
		switch {
		case p.src == 16000 && p.pt == 8:
			sent = append(sent, p.payload...)
		case p.dst == 16000 && p.pt == 8:
			echoed = append(echoed, p.payload...)
		case p.dst == 16000 && p.pt == 101:
			dtmfBack = append(dtmfBack, p)
		}
	}
	// g711a.pcap: 236 packets of 30 ms PCMA.
	if len(sent) != 236*240 {
		t.Fatalf("SIPp sent %d bytes of PCMA, want %d (capture broken?)", len(sent), 236*240)
	}
	if !bytes.Equal(echoed, sent) {
		n := 0
		for n < len(echoed) && n < len(sent) && echoed[n] == sent[n] {
			n++
		}
		t.Fatalf("echoed audio differs from sent audio: sent %d bytes, got back %d, equal for the first %d",
			len(sent), len(echoed), n)
	}
	for _, p := range pkts {
		if p.dst == 16000 && p.pt == 8 && len(p.payload) != 160 {
			t.Fatalf("daemon sent a %d-byte PCMA packet; want 160 (20 ms)", len(p.payload))
		}
	}
	if len(dtmfBack) == 0 {
		t.Fatalf("no RFC 4733 event came back for the DTMF digit")
	}
	if ev := dtmfBack[0].payload[0]; ev != 1 {
		t.Fatalf("DTMF event sent back is %d, want 1", ev)
	}
	var ends int
	for _, p := range dtmfBack {
		if len(p.payload) >= 2 && p.payload[1]&0x80 != 0 {
			ends++
		}
	}
	if ends == 0 {
		t.Fatalf("the DTMF event sent back never has the end bit set")
	}

	recs := d.records(1, 10*time.Second)
	r := recs[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"disposition", r.Disposition, "answered"},
		{"sip_status", r.SIPStatus, 200},
		{"hangup_side", r.HangupSide, "caller"},
		{"codec", r.Codec, "PCMA"},
		{"route_action", r.RouteAction, "agent"},
		{"route_rule", r.RouteRule, "default"},
		{"connector", r.Connector, "connector-echo"},
		{"direction", r.Direction, "inbound"},
		{"to user", r.To.User, "echo"},
		{"from user", r.From.User, "caller"},
		{"dtmf_count", r.DTMFCount, 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("CDR %s = %v, want %v (record %+v)", c.name, c.got, c.want, r.Raw)
		}
	}
	if r.AnswerTime == "" || r.StartTime == "" || r.EndTime == "" {
		t.Errorf("CDR times missing: %+v", r.Raw)
	}
	if r.BillableMS < 8000 || r.DurationMS < r.BillableMS {
		t.Errorf("CDR duration %d ms / billable %d ms: want billable ≥ 8 s (the call played 9 s)", r.DurationMS, r.BillableMS)
	}
	if r.PacketsIn < 236 || r.PacketsOut < 354 {
		t.Errorf("CDR packets in/out = %d/%d, want ≥ 236/354", r.PacketsIn, r.PacketsOut)
	}
}
