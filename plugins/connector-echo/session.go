package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/voxgate/voxgate/sdk"
)

// echoSession is one call's state. Only the session loop touches it.
type echoSession struct {
	s   *sdk.Session
	cfg settings
	log *slog.Logger

	queue delayQueue

	bytesPerMS   int // of audio in the session's format
	markBytes    int // audio between marks; 0: no marks
	sinceMark    int // audio bytes sent since the last mark
	marks        int // marks set so far
	markSetAt    map[string]time.Time
	framesEchoed int
	digitsEchoed int
}

func newEchoSession(s *sdk.Session, cfg settings) *echoSession {
	f := s.Format()
	rate, channels := f.SampleRate, f.Channels
	if rate <= 0 {
		rate = 8000
	}
	if channels <= 0 {
		channels = 1
	}
	es := &echoSession{
		s:          s,
		cfg:        cfg,
		log:        sdk.Log.With("call_id", s.Call().ID),
		bytesPerMS: max(rate*channels*2/1000, 1), // L16: two bytes a sample
		markSetAt:  make(map[string]time.Time),
	}
	es.markBytes = int(cfg.markEvery.Milliseconds()) * es.bytesPerMS
	// Bound the queue at twice the delay's worth of audio (plus slack for
	// bursts): a daemon that delivers audio faster than real time must not
	// grow it without limit.
	es.queue.maxBytes = 2*int(cfg.delay.Milliseconds())*es.bytesPerMS + 64*1024
	return es
}

// handle acts on one event from the caller; done means the call is over.
func (es *echoSession) handle(ev sdk.Event) (done bool, err error) {
	switch ev.Type {
	case sdk.EventAudio:
		if es.cfg.delay == 0 {
			return false, es.send(ev.Audio)
		}
		if dropped := es.queue.push(ev.Audio, time.Now().Add(es.cfg.delay)); dropped == 1 {
			// Logged once per overflow episode: the count is in the end line.
			es.log.Warn("echo delay queue full: dropping the oldest audio", "max_bytes", es.queue.maxBytes)
		}
		return false, nil
	case sdk.EventDTMF:
		if !es.cfg.echoDTMF {
			es.log.Debug("digit received, not echoed", "digit", ev.Digit)
			return false, nil
		}
		if err := es.s.SendDTMF(ev.Digit); err != nil {
			if errors.Is(err, sdk.ErrHungUp) {
				return false, err
			}
			// A digit the SDK refuses to send is not worth ending the call.
			es.log.Warn("cannot echo digit", "digit", ev.Digit, "err", err)
			return false, nil
		}
		es.digitsEchoed++
		return false, nil
	case sdk.EventMarkPlayed:
		attrs := []any{"mark", ev.Mark}
		if at, ok := es.markSetAt[ev.Mark]; ok {
			attrs = append(attrs, "after_ms", time.Since(at).Milliseconds())
			delete(es.markSetAt, ev.Mark)
		}
		es.log.Info("mark played", attrs...)
		return false, nil
	case sdk.EventHangup:
		return true, nil
	}
	return false, nil
}

// release sends the frames whose time has come.
func (es *echoSession) release(now time.Time) error {
	for {
		frame, ok := es.queue.popDue(now)
		if !ok {
			return nil
		}
		if err := es.send(frame); err != nil {
			return err
		}
	}
}

// send plays a frame back and sets a mark each time markBytes of audio
// have been sent since the last one.
func (es *echoSession) send(frame []byte) error {
	if err := es.s.SendAudio(frame); err != nil {
		return err
	}
	es.framesEchoed++
	if es.markBytes == 0 {
		return nil
	}
	es.sinceMark += len(frame)
	if es.sinceMark < es.markBytes {
		return nil
	}
	es.sinceMark %= es.markBytes
	es.marks++
	name := fmt.Sprintf("echo-%d", es.marks)
	if err := es.s.Mark(name); err != nil {
		return err
	}
	if len(es.markSetAt) < 1024 { // marks the daemon never reports are not kept forever
		es.markSetAt[name] = time.Now()
	}
	es.log.Debug("mark set", "mark", name)
	return nil
}

func (es *echoSession) end(why, reason string) {
	es.log.Info("echo session ended", "why", why, "reason", reason,
		"frames_echoed", es.framesEchoed, "digits_echoed", es.digitsEchoed, "marks_set", es.marks,
		"frames_dropped_unsent", es.queue.len(), "frames_dropped_overflow", es.queue.dropped)
}

// delayQueue holds frames until they are due, oldest first. Frames are
// pushed in the order they arrive with the same delay, so due times never
// decrease and the head is always the next frame due.
type delayQueue struct {
	frames   []queued
	head     int
	bytes    int
	maxBytes int
	dropped  int // frames dropped because the queue was full
	overflow int // drops in the current overflow episode
}

type queued struct {
	due   time.Time
	frame []byte
}

// push queues a frame; when the queue is over maxBytes the oldest frames go.
// It returns how many frames this overflow episode has dropped so far.
func (q *delayQueue) push(frame []byte, due time.Time) int {
	if q.head > 0 && q.head == len(q.frames) {
		q.frames, q.head = q.frames[:0], 0 // empty: reuse the array from the start
	}
	q.frames = append(q.frames, queued{due: due, frame: frame})
	q.bytes += len(frame)
	dropped := false
	for q.bytes > q.maxBytes && q.len() > 1 {
		q.pop()
		q.dropped++
		q.overflow++
		dropped = true
	}
	if !dropped {
		q.overflow = 0
	}
	return q.overflow
}

func (q *delayQueue) len() int { return len(q.frames) - q.head }

func (q *delayQueue) nextDue() (time.Time, bool) {
	if q.len() == 0 {
		return time.Time{}, false
	}
	return q.frames[q.head].due, true
}

// popDue takes the head frame if it is due at now.
func (q *delayQueue) popDue(now time.Time) ([]byte, bool) {
	if q.len() == 0 || q.frames[q.head].due.After(now) {
		return nil, false
	}
	return q.pop(), true
}

func (q *delayQueue) pop() []byte {
	f := q.frames[q.head].frame
	q.frames[q.head] = queued{} // let the frame be collected
	q.head++
	q.bytes -= len(f)
	// Compact when the consumed part dominates, so the array does not grow
	// with the length of the call.
	if q.head > 64 && q.head*2 > len(q.frames) {
		n := copy(q.frames, q.frames[q.head:])
		clear(q.frames[n:])
		q.frames, q.head = q.frames[:n], 0
	}
	return f
}
