package call

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

func newCall() *Call {
	info := &pluginv1.Call{Id: "vg-1", SipCallId: "abc@host", From: &pluginv1.Party{User: "alice"},
		To: &pluginv1.Party{User: "100"}, Variables: map[string]string{"from_router": "x"}}
	return New(context.Background(), "vg-1", info, slog.New(slog.DiscardHandler))
}

// Racing ends (BYE, media timeout, connector hangup) produce one CDR, with
// the first cause, and teardown runs once.
func TestEndOnceUnderRace(t *testing.T) {
	c := newCall()
	var teardowns int
	var mu sync.Mutex
	c.OnEnd(func(side, cause string) { mu.Lock(); teardowns++; mu.Unlock() })
	c.Answered()
	var wg sync.WaitGroup
	recs := make(chan *pluginv1.CallRecord, 10)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := c.End(Answered, 200, SideCaller, "bye"); r != nil {
				recs <- r
			}
		}()
	}
	wg.Wait()
	close(recs)
	if n := len(recs); n != 1 {
		t.Fatalf("%d records from concurrent End, want 1", n)
	}
	if teardowns != 1 {
		t.Fatalf("teardown ran %d times, want 1", teardowns)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after End")
	}
	if c.Context().Err() == nil {
		t.Fatal("call context not cancelled after End")
	}
}

func TestRecordFields(t *testing.T) {
	c := newCall()
	c.SetRoute("agent", "default", "connector-echo", map[string]string{"lang": "de"})
	c.SetCodec("PCMA")
	c.SetStats(func() LegStats { return LegStats{In: 10, Out: 20, Lost: 2} })
	c.CountDTMF()
	time.Sleep(5 * time.Millisecond)
	c.Answered()
	time.Sleep(5 * time.Millisecond)
	r := c.End(Answered, 200, SideAgent, "done")
	if r.GetDisposition() != "answered" || r.GetHangupSide() != "agent" || r.GetCodec() != "PCMA" ||
		r.GetRouteRule() != "default" || r.GetConnector() != "connector-echo" || r.GetDtmfCount() != 1 ||
		r.GetRtpPacketsIn() != 10 || r.GetRtpPacketsOut() != 20 {
		t.Fatalf("record %v", r)
	}
	if l := r.GetLegs(); len(l) != 1 || l[0].GetPacketsLost() != 2 || l[0].GetRole() != "caller" || r.GetBillableSeconds() != 1 {
		t.Fatalf("legs %v billable_seconds %d", l, r.GetBillableSeconds())
	}
	if r.GetVariables()["lang"] != "de" || r.GetVariables()["from_router"] != "x" {
		t.Fatalf("variables %v", r.GetVariables())
	}
	if r.GetBillableMs() <= 0 || r.GetDurationMs() < r.GetBillableMs() {
		t.Fatalf("duration %d billable %d", r.GetDurationMs(), r.GetBillableMs())
	}
	for _, ts := range []string{r.GetStartTime(), r.GetAnswerTime(), r.GetEndTime()} {
		if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", ts); err != nil || ts[len(ts)-1] != 'Z' {
			t.Fatalf("time %q is not RFC 3339 ms UTC", ts)
		}
	}
}

func TestUnansweredHasNoBillable(t *testing.T) {
	c := newCall()
	r := c.End(Rejected, 486, SideSystem, "busy")
	if r.GetAnswerTime() != "" || r.GetBillableMs() != 0 {
		t.Fatalf("unanswered call: answer %q billable %d", r.GetAnswerTime(), r.GetBillableMs())
	}
}

func TestE164(t *testing.T) {
	cases := map[string]string{
		"+4930123456":       "+4930123456",
		"+1 (555) 010-99":   "",
		"+1(555)010-9999":   "+15550109999",
		"4930123456":        "",
		"+0301234567":       "",
		"+12345":            "",
		"alice":             "",
		"+1234567890123456": "",
		"":                  "",
	}
	for in, want := range cases {
		if got := E164(in); got != want {
			t.Errorf("E164(%q) = %q, want %q", in, got, want)
		}
	}
}
