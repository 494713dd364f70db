package cdr

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

type fakeExporter struct {
	mu       sync.Mutex
	got      map[string]int
	failures int           // fail this many calls first
	block    chan struct{} // if set, Export waits on it
	ackOdd   bool          // acknowledge only every other record once
}

func (f *fakeExporter) Export(ctx context.Context, recs []*pluginv1.CallRecord) ([]string, error) {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failures > 0 {
		f.failures--
		return nil, errors.New("target down")
	}
	var acked []string
	for i, r := range recs {
		if f.ackOdd && i%2 == 1 {
			continue
		}
		f.got[r.GetId()]++
		acked = append(acked, r.GetId())
	}
	f.ackOdd = false
	return acked, nil
}

func (f *fakeExporter) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stuck exporter does not hold back another one; a failing one gets
// everything after its retries; partial acks are retried.
func TestFanOutIndependentRetryAndPartialAck(t *testing.T) {
	stuck := &fakeExporter{got: map[string]int{}, block: make(chan struct{})}
	flaky := &fakeExporter{got: map[string]int{}, failures: 3}
	partial := &fakeExporter{got: map[string]int{}, ackOdd: true}
	log := slog.New(slog.DiscardHandler)
	sp, err := OpenSpool(t.TempDir(), []string{"stuck", "flaky", "partial"}, SpoolOptions{SegmentBytes: 1 << 20, MaxBytes: 4 << 20}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	d := New(log, sp, map[string]Exporter{"stuck": stuck, "flaky": flaky, "partial": partial})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx, time.Second); close(done) }()

	for _, id := range []string{"a", "b", "c", "d", "e"} {
		if err := d.Store(context.Background(), &pluginv1.CallRecord{Id: id}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "flaky exporter to get all records after its failures", func() bool { return flaky.count() == 5 })
	waitFor(t, "partial exporter to get the rest", func() bool { return partial.count() == 5 })
	if stuck.count() != 0 {
		t.Fatal("stuck exporter should have nothing yet")
	}
	waitFor(t, "positions of the caught-up exporters to be saved", func() bool {
		p := d.Pending()
		return p["flaky"] == 0 && p["partial"] == 0 && p["stuck"] > 0
	})
	close(stuck.block)
	waitFor(t, "stuck exporter to catch up", func() bool { return stuck.count() == 5 })
	cancel()
	<-done
}
