package cdr

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/proto"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// BenchmarkSpoolAppend measures durable appends (each returns after its
// fdatasync) of a realistic CDR, from many goroutines at once as calls end
// concurrently: group commit makes one fsync serve all of them.
// go test -run XXX -bench SpoolAppend -benchtime 5s ./daemon/cdr/
func BenchmarkSpoolAppend(b *testing.B) {
	rec := &pluginv1.CallRecord{SchemaVersion: 1, Id: "vg-0123456789abcdef", SipCallId: "a84b4c76e66710@pc33.example.com",
		Direction: "inbound", From: &pluginv1.Party{User: "+4930123456", Uri: "sip:+4930123456@pbx.example.com"},
		To: &pluginv1.Party{User: "+4940987654", Uri: "sip:+4940987654@voxgate"}, StartTime: "2026-11-25T07:00:00.000Z",
		AnswerTime: "2026-11-25T07:00:01.000Z", EndTime: "2026-11-25T07:03:00.000Z", DurationMs: 180000, BillableMs: 179000,
		Disposition: "answered", SipStatus: 200, HangupSide: "caller", HangupCause: "caller hung up", Codec: "PCMA",
		RouteAction: "agent", RouteRule: "default", Connector: "connector-echo", Hostname: "voxgate-1",
		Variables: map[string]string{"customer": "42", "lang": "de"},
		Legs:      []*pluginv1.LegQuality{{Role: "caller", SipCallId: "a84b4c76e66710@pc33.example.com", Codec: "PCMA", PacketsIn: 9000, PacketsOut: 9000}}}
	payload, _ := proto.Marshal(rec)
	s, err := OpenSpool(b.TempDir(), []string{"x"}, SpoolOptions{SegmentBytes: 64 << 20, MaxBytes: 1 << 40}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.SetParallelism(64) // 64 × GOMAXPROCS concurrent call teardowns
	b.SetBytes(int64(len(payload)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.Append(context.Background(), payload); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkSpoolAppendSerial is one appender at a time: one fsync per record,
// the worst case.
func BenchmarkSpoolAppendSerial(b *testing.B) {
	payload, _ := proto.Marshal(&pluginv1.CallRecord{Id: "vg-0123456789abcdef", Disposition: "answered"})
	s, err := OpenSpool(b.TempDir(), []string{"x"}, SpoolOptions{SegmentBytes: 64 << 20, MaxBytes: 1 << 40}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for i := 0; i < b.N; i++ {
		if err := s.Append(context.Background(), payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
