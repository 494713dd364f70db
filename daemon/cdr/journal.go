package cdr

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/voxgate/voxgate/sdk"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// The live-call journal lets the daemon account for calls that were in
// progress when it died (kill -9, power loss): every call start and answer
// is appended before the call is answered, every end after its CDR is in the
// spool. At the next start, a call with a start and no end gets a CDR with
// disposition "interrupted". Entries use the spool's record framing, with a
// one-byte kind in front of a CallRecord snapshot.

const (
	jStart  = 'S'
	jAnswer = 'A'
	jEnd    = 'E'
	// journalCompactBytes: above this the journal is rewritten with just
	// the live calls.
	journalCompactBytes = 8 << 20
)

// Interrupted is the disposition of a call cut off by a daemon crash.
const Interrupted = "interrupted"

type jreq struct {
	kind byte
	rec  *pluginv1.CallRecord
	done chan error
}

// Journal is the live-call journal.
type Journal struct {
	path string
	log  *slog.Logger

	mu   sync.Mutex
	live map[string]*pluginv1.CallRecord
	f    *os.File
	size int64

	ch   chan jreq
	stop chan struct{}
	done chan struct{}
}

// RecoverJournal reads the journal a previous run left at path and returns a
// record for every call it left in progress. It changes nothing on disk:
// store the records, then call OpenJournal, which starts a fresh journal.
func RecoverJournal(path string, hostname string) ([]*pluginv1.CallRecord, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("live-call journal: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("live-call journal: %w", err)
	}
	live := map[string]*pluginv1.CallRecord{}
	var order []string
	r := bufio.NewReader(f)
	for {
		payload, _, err := readRecord(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			break // a torn last entry: everything before it counts
		}
		if len(payload) < 1 {
			continue
		}
		rec := &pluginv1.CallRecord{}
		if proto.Unmarshal(payload[1:], rec) != nil || rec.GetId() == "" {
			continue
		}
		switch payload[0] {
		case jStart:
			if _, seen := live[rec.GetId()]; !seen {
				order = append(order, rec.GetId())
			}
			live[rec.GetId()] = rec
		case jAnswer:
			if l := live[rec.GetId()]; l != nil {
				l.AnswerTime = rec.GetAnswerTime()
				l.Codec = rec.GetCodec()
				l.ConnectorSessionId = rec.GetConnectorSessionId()
			}
		case jEnd:
			delete(live, rec.GetId())
		}
	}
	// The journal was last written when the daemon died: its mtime is the
	// best estimate of when these calls ended.
	end := info.ModTime()
	var out []*pluginv1.CallRecord
	for _, id := range order {
		rec := live[id]
		if rec == nil {
			continue
		}
		rec.Disposition = Interrupted
		rec.HangupSide = "system"
		rec.HangupCause = "the daemon stopped unexpectedly (crash or kill) while the call was in progress"
		rec.EndTime = sdk.RecordTime(end)
		if hostname != "" && rec.GetHostname() == "" {
			rec.Hostname = hostname
		}
		if st, err := time.Parse(time.RFC3339Nano, rec.GetStartTime()); err == nil {
			rec.DurationMs = max(0, end.Sub(st).Milliseconds())
		}
		if at, err := time.Parse(time.RFC3339Nano, rec.GetAnswerTime()); err == nil && rec.GetAnswerTime() != "" {
			rec.BillableMs = max(0, end.Sub(at).Milliseconds())
			rec.BillableSeconds = (rec.BillableMs + 999) / 1000
			rec.SipStatus = 200
		}
		out = append(out, rec)
	}
	return out, nil
}

// OpenJournal starts a fresh journal at path (replacing the old one).
func OpenJournal(path string, log *slog.Logger) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("live-call journal: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("live-call journal: %w", err)
	}
	j := &Journal{path: path, log: log, live: map[string]*pluginv1.CallRecord{}, f: f,
		ch: make(chan jreq, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go j.writer()
	return j, nil
}

// Begin journals a call's start. Wait on the result before answering the
// call, so that an answered call is always accounted for after a crash.
func (j *Journal) Begin(rec *pluginv1.CallRecord) <-chan error {
	return j.submit(jStart, rec)
}

// Answer journals that the call was answered (asynchronously).
func (j *Journal) Answer(rec *pluginv1.CallRecord) { j.submit(jAnswer, rec) }

// End journals that the call's CDR is safely in the spool (asynchronously).
func (j *Journal) End(id string) { j.submit(jEnd, &pluginv1.CallRecord{Id: id}) }

func (j *Journal) submit(kind byte, rec *pluginv1.CallRecord) <-chan error {
	done := make(chan error, 1)
	select {
	case j.ch <- jreq{kind: kind, rec: rec, done: done}:
	case <-j.stop:
		done <- ErrClosed
	}
	return done
}

// Wait waits for a Begin, bounded by ctx.
func Wait(ctx context.Context, ch <-chan error) error {
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *Journal) writer() {
	defer close(j.done)
	var buf []byte
	batch := make([]jreq, 0, 512)
	for {
		batch = batch[:0]
		select {
		case <-j.stop:
			return
		case r := <-j.ch:
			batch = append(batch, r)
		}
		batch = drain(j.ch, batch)
		buf = buf[:0]
		j.mu.Lock()
		for _, r := range batch {
			b, _ := proto.Marshal(r.rec)
			buf = encodeRecord(buf, append([]byte{r.kind}, b...))
			switch r.kind {
			case jStart:
				j.live[r.rec.GetId()] = r.rec
			case jAnswer:
				if l := j.live[r.rec.GetId()]; l != nil {
					c := proto.Clone(l).(*pluginv1.CallRecord)
					c.AnswerTime, c.Codec, c.ConnectorSessionId = r.rec.GetAnswerTime(), r.rec.GetCodec(), r.rec.GetConnectorSessionId()
					j.live[r.rec.GetId()] = c
				}
			case jEnd:
				delete(j.live, r.rec.GetId())
			}
		}
		f := j.f
		j.mu.Unlock()
		_, err := f.Write(buf)
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			err = fmt.Errorf("live-call journal: %w", err)
			j.log.Error("cannot write the live-call journal", "err", err)
		}
		j.size += int64(len(buf))
		for _, r := range batch {
			r.done <- err
		}
		if j.size > journalCompactBytes {
			if err := j.compact(); err != nil {
				j.log.Error("cannot compact the live-call journal", "err", err)
			}
		}
	}
}

// compact rewrites the journal with only the live calls.
func (j *Journal) compact() error {
	j.mu.Lock()
	var buf []byte
	for _, rec := range j.live {
		b, _ := proto.Marshal(rec)
		buf = encodeRecord(buf, append([]byte{jStart}, b...))
	}
	j.mu.Unlock()
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		f.Close()
		return err
	}
	f.Close()
	nf, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	j.mu.Lock()
	old := j.f
	j.f = nf
	j.mu.Unlock()
	old.Close()
	j.size = int64(len(buf))
	return nil
}

// Live is the number of calls the journal holds as in progress.
func (j *Journal) Live() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.live)
}

// Close stops the journal. After a clean shutdown every call has ended, so
// the journal holds no live call.
func (j *Journal) Close() error {
	select {
	case <-j.stop:
		return nil
	default:
	}
	// Let queued entries be written first.
	deadline := time.Now().Add(5 * time.Second)
	for len(j.ch) > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	close(j.stop)
	<-j.done
	return j.f.Close()
}
