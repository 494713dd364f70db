package sdktest

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/voxgate/voxgate/sdk"
)

// Build compiles the plugin's Go package in dir ("." for the package under
// test) into a temporary directory and returns the binary's path, for Binary.
func Build(t testing.TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), filepath.Base(abs))
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = abs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	return bin
}

// SampleRecord is a CDR with every field of schema v1 set, including text
// that needs escaping, for exporter tests.
func SampleRecord(id string) *sdk.CallRecord {
	return &sdk.CallRecord{
		SchemaVersion: sdk.RecordSchemaVersion, ID: id, SIPCallID: id + "@198.51.100.7", Trunk: "carrier",
		Direction:  "inbound",
		From:       sdk.Party{User: "+4917000000", Display: "Ada <&> Lovelace", URI: "sip:+4917000000@198.51.100.7"},
		To:         sdk.Party{User: "+4930123456", URI: "sip:+4930123456@edge.example.com"},
		SourceAddr: "198.51.100.7:5060", StartTime: "2026-11-25T10:00:00.000Z", AnswerTime: "2026-11-25T10:00:01.250Z",
		EndTime: "2026-11-25T10:02:01.250Z", DurationMS: 121250, BillableMS: 120000, Disposition: "answered",
		SIPStatus: 200, HangupSide: "caller", HangupCause: "bye", Codec: "PCMU", RouteAction: "agent",
		RouteRule: "sales", Connector: "openai", Variables: map[string]string{"tier": "gold", "ünïcode": "✓"},
		Hostname: "edge-1", DTMFCount: 3, RTPPacketsIn: 6000, RTPPacketsOut: 5990,
		RingTime: "2026-11-25T10:00:00.020Z", BillableSeconds: 120, Mode: "trunk",
		FromE164: "+4917000000", ToE164: "+4930123456", CallerID: "+4917000000", ConnectorSessionID: "42",
		TransferTarget: "sip:100@pbx", TransferResult: "failed: 603",
		Legs: []sdk.LegQuality{{Role: "caller", SIPCallID: id + "@198.51.100.7", Codec: "PCMU",
			PacketsIn: 6000, PacketsOut: 5990, PacketsLost: 2, JitterMS: 1.5, RTTMS: 20.25, MOS: 4.3}},
	}
}
