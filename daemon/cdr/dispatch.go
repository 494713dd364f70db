// Package cdr ships call records to the exporter plugins: every exporter
// independently, in batches, retrying with exponential backoff and jitter,
// so one slow exporter never blocks another or the calls.
//
// Records wait in memory here; the durable on-disk spool that survives a
// crash is the next step (issue "CDRs that are never lost").
package cdr

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// Exporter is what the dispatcher needs of an exporter plugin.
type Exporter interface {
	Export(ctx context.Context, recs []*pluginv1.CallRecord) ([]string, error)
}

// Dispatcher fans records out to exporters.
type Dispatcher struct {
	log    *slog.Logger
	queues []*queue
	wg     sync.WaitGroup
}

type queue struct {
	name string
	exp  Exporter
	log  *slog.Logger

	mu      sync.Mutex
	pending []*pluginv1.CallRecord
	kick    chan struct{}
}

// MaxBatch is how many records one Export call carries at most.
const MaxBatch = 100

// maxPending bounds memory when an exporter is down for long.
const maxPending = 100_000

// New creates a dispatcher for the named exporters.
func New(log *slog.Logger, exporters map[string]Exporter) *Dispatcher {
	d := &Dispatcher{log: log}
	for name, e := range exporters {
		d.queues = append(d.queues, &queue{name: name, exp: e, log: log.With("exporter", name), kick: make(chan struct{}, 1)})
	}
	return d
}

// Run exports until ctx ends, then makes a last attempt bounded by drain.
func (d *Dispatcher) Run(ctx context.Context, drain time.Duration) {
	for _, q := range d.queues {
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			q.run(ctx, drain)
		}()
	}
	d.wg.Wait()
}

// Submit queues one record for every exporter. It never blocks.
func (d *Dispatcher) Submit(rec *pluginv1.CallRecord) {
	for _, q := range d.queues {
		q.mu.Lock()
		if len(q.pending) >= maxPending {
			q.log.Error("exporter is far behind; dropping the oldest record", "call_id", q.pending[0].GetId())
			q.pending = q.pending[1:]
		}
		q.pending = append(q.pending, rec)
		q.mu.Unlock()
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
}

// Pending reports records not yet acknowledged per exporter.
func (d *Dispatcher) Pending() map[string]int {
	out := make(map[string]int, len(d.queues))
	for _, q := range d.queues {
		q.mu.Lock()
		out[q.name] = len(q.pending)
		q.mu.Unlock()
	}
	return out
}

func (q *queue) run(ctx context.Context, drain time.Duration) {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			q.final(drain)
			return
		case <-q.kick:
		}
		for {
			if q.flushOnce(ctx) {
				backoff = 100 * time.Millisecond
				q.mu.Lock()
				more := len(q.pending) > 0
				q.mu.Unlock()
				if !more {
					break
				}
				continue
			}
			// Full jitter: spread retries so exporters coming back are not stampeded.
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(backoff*2, 30*time.Second)
			select {
			case <-ctx.Done():
				q.final(drain)
				return
			case <-time.After(wait):
			}
		}
	}
}

// flushOnce exports one batch; false means retry later.
func (q *queue) flushOnce(ctx context.Context) bool {
	q.mu.Lock()
	n := min(len(q.pending), MaxBatch)
	batch := append([]*pluginv1.CallRecord(nil), q.pending[:n]...)
	q.mu.Unlock()
	if n == 0 {
		return true
	}
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	acked, err := q.exp.Export(ectx, batch)
	cancel()
	if len(acked) > 0 {
		q.ack(acked)
	}
	if err != nil {
		q.log.Warn("export failed; will retry", "records", n, "acked", len(acked), "err", err)
		return false
	}
	if len(acked) < n {
		q.log.Warn("exporter acknowledged part of a batch; will retry the rest", "records", n, "acked", len(acked))
		return false
	}
	return true
}

func (q *queue) ack(ids []string) {
	set := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		set[id] = struct{}{}
	}
	q.mu.Lock()
	kept := q.pending[:0]
	for _, r := range q.pending {
		if _, ok := set[r.GetId()]; !ok {
			kept = append(kept, r)
		}
	}
	clear(q.pending[len(kept):])
	q.pending = kept
	q.mu.Unlock()
}

func (q *queue) final(drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	for ctx.Err() == nil {
		q.mu.Lock()
		left := len(q.pending)
		q.mu.Unlock()
		if left == 0 {
			return
		}
		if !q.flushOnce(ctx) {
			break
		}
	}
	q.mu.Lock()
	if len(q.pending) > 0 {
		q.log.Error("records not exported at shutdown", "records", len(q.pending))
	}
	q.mu.Unlock()
}
