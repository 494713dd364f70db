// Package cdr makes sure every call's record reaches every exporter: records
// go into a durable on-disk spool (fsynced before a call's teardown
// completes), and each exporter is fed from the spool independently, in
// batches, retrying with exponential backoff and jitter, so that one slow
// exporter never blocks another or the calls. Export is at-least-once: an
// exporter's position advances only past records it acknowledged.
package cdr

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// Exporter is what the dispatcher needs of an exporter plugin.
type Exporter interface {
	Export(ctx context.Context, recs []*pluginv1.CallRecord) ([]string, error)
}

// MaxBatch is how many records one Export call carries at most.
const MaxBatch = 100

// Dispatcher stores records in the spool and feeds the exporters.
type Dispatcher struct {
	log       *slog.Logger
	spool     *Spool
	exporters map[string]Exporter
	wg        sync.WaitGroup
}

// New creates a dispatcher over an open spool.
func New(log *slog.Logger, spool *Spool, exporters map[string]Exporter) *Dispatcher {
	return &Dispatcher{log: log, spool: spool, exporters: exporters}
}

// Store puts a record into the spool and returns once it is on disk.
func (d *Dispatcher) Store(ctx context.Context, rec *pluginv1.CallRecord) error {
	b, err := proto.Marshal(rec)
	if err != nil {
		return err
	}
	return d.spool.Append(ctx, b)
}

// Full reports whether new calls must be refused because the spool is at
// its bound (reject-calls policy).
func (d *Dispatcher) Full() bool { return d.spool.Full() }

// Run feeds every exporter until ctx ends; then each gets a last attempt
// bounded by drain. What is not exported stays in the spool for next time.
func (d *Dispatcher) Run(ctx context.Context, drain time.Duration) {
	for name, e := range d.exporters {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			f := &feeder{name: name, exp: e, spool: d.spool, log: d.log.With("exporter", name)}
			f.run(ctx, drain)
		}()
	}
	d.wg.Wait()
}

// Pending reports, per exporter, the bytes of records not yet acknowledged.
func (d *Dispatcher) Pending() map[string]int64 { return d.spool.Lag() }

type feeder struct {
	name  string
	exp   Exporter
	spool *Spool
	log   *slog.Logger
}

func (f *feeder) run(ctx context.Context, drain time.Duration) {
	backoff := 100 * time.Millisecond
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	for {
		ok, more := f.once(ctx)
		switch {
		case ok && more:
			backoff = 100 * time.Millisecond
			continue
		case ok:
			backoff = 100 * time.Millisecond
			select {
			case <-ctx.Done():
				f.final(drain)
				return
			case <-f.spool.Kick(f.name):
			case <-poll.C:
			}
		default:
			// Full jitter, so exporters coming back are not stampeded.
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, 30*time.Second)
			select {
			case <-ctx.Done():
				f.final(drain)
				return
			case <-time.After(wait):
			}
		}
	}
}

// once exports one batch from the acknowledged position. ok is false when
// the export failed (retry later); more is true when a full batch was sent.
func (f *feeder) once(ctx context.Context) (ok, more bool) {
	from := f.spool.Position(f.name)
	entries, err := f.spool.Read(f.name, from, MaxBatch)
	if err != nil && len(entries) == 0 {
		if err != ErrClosed {
			f.log.Error("cannot read the cdr spool", "err", err)
		}
		return false, false
	}
	if len(entries) == 0 {
		return true, false
	}
	recs := make([]*pluginv1.CallRecord, 0, len(entries))
	index := make([]int, 0, len(entries)) // entry index of each record
	for i, e := range entries {
		if e.Payload == nil {
			continue // a damaged record the spool skipped (and logged)
		}
		r := &pluginv1.CallRecord{}
		if err := proto.Unmarshal(e.Payload, r); err != nil {
			f.log.Error("undecodable record in the cdr spool skipped", "err", err)
			continue
		}
		recs = append(recs, r)
		index = append(index, i)
	}
	var acked []string
	if len(recs) > 0 {
		ectx, cancel := context.WithTimeout(ctx, 30*time.Second)
		acked, err = f.exp.Export(ectx, recs)
		cancel()
	}
	ackSet := make(map[string]struct{}, len(acked))
	for _, id := range acked {
		ackSet[id] = struct{}{}
	}
	// Advance past the longest acknowledged prefix; the rest is sent again.
	commit := -1
	next := 0
	for i := range entries {
		if next < len(index) && index[next] == i {
			if _, ok := ackSet[recs[next].GetId()]; !ok {
				break
			}
			next++
		}
		commit = i
	}
	if commit >= 0 {
		if cerr := f.spool.Commit(f.name, entries[commit].End); cerr != nil {
			f.log.Error("cannot save the export position", "err", cerr)
			return false, false
		}
	}
	if err != nil {
		f.log.Warn("export failed; will retry", "records", len(recs), "acked", len(acked), "err", err)
		return false, false
	}
	if commit < len(entries)-1 {
		f.log.Warn("exporter acknowledged part of a batch; will retry the rest", "records", len(recs), "acked", len(acked))
		return false, false
	}
	return true, len(entries) == MaxBatch
}

func (f *feeder) final(drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	for ctx.Err() == nil {
		ok, more := f.once(ctx)
		if !ok || !more {
			break
		}
	}
	if lag := f.spool.Lag()[f.name]; lag > 0 {
		f.log.Warn("records left in the spool at shutdown; they are exported at the next start", "bytes", lag)
	}
}

// Recover stores an "interrupted" record for every call the live-call
// journal shows in progress when the daemon last died, unless the spool
// already holds that call's record (the daemon died between storing it and
// journalling the end). It returns how many it stored.
func (d *Dispatcher) Recover(ctx context.Context, recs []*pluginv1.CallRecord) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	want := make(map[string]bool, len(recs))
	for _, r := range recs {
		want[r.GetId()] = true
	}
	err := d.spool.Scan(func(p []byte) {
		r := &pluginv1.CallRecord{}
		if proto.Unmarshal(p, r) == nil && want[r.GetId()] {
			want[r.GetId()] = false
		}
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range recs {
		if !want[r.GetId()] {
			continue
		}
		if err := d.Store(ctx, r); err != nil {
			return n, err
		}
		d.log.Warn("call was in progress when the daemon stopped; recorded as interrupted", "call_id", r.GetId(),
			"sip_call_id", r.GetSipCallId(), "start_time", r.GetStartTime())
		n++
	}
	return n, nil
}
