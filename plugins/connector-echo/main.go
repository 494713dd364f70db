// Command connector-echo is a voxgate connector plugin that plays the caller's
// audio back, optionally after a delay, and answers DTMF with the same digit.
// It needs no network and no AI account: use it to check a trunk, the audio
// path and DTMF end to end. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/voxgate/voxgate/sdk"
)

// version is overridden at build time with -ldflags "-X main.version=...".
var version = "1.0.0"

const (
	maxDelayMS     = 5000
	minMarkEveryMS = 20 // one frame
	maxMarkEveryMS = 600_000
)

// config is the plugin's table from voxgate.toml.
type config struct {
	DelayMS     int   `json:"delay_ms"`
	EchoDTMF    *bool `json:"echo_dtmf"`
	MarkEveryMS int   `json:"mark_every_ms"`
}

// settings is a checked config.
type settings struct {
	delay     time.Duration
	echoDTMF  bool
	markEvery time.Duration // 0: no marks
}

var defaults = settings{echoDTMF: true}

type echo struct {
	settings atomic.Pointer[settings]
}

func (e *echo) Info() sdk.Info { return sdk.Info{Name: "connector-echo", Version: version} }

// Configure checks the config; calls that start afterwards use it.
func (e *echo) Configure(_ context.Context, cfg sdk.Config) error {
	var c config
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	var errs []error
	if c.DelayMS < 0 || c.DelayMS > maxDelayMS {
		errs = append(errs, fmt.Errorf("delay_ms %d is out of range: use 0 (no delay) to %d", c.DelayMS, maxDelayMS))
	}
	if c.MarkEveryMS != 0 && (c.MarkEveryMS < minMarkEveryMS || c.MarkEveryMS > maxMarkEveryMS) {
		errs = append(errs, fmt.Errorf("mark_every_ms %d is out of range: use 0 (no marks) or %d to %d",
			c.MarkEveryMS, minMarkEveryMS, maxMarkEveryMS))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	s := defaults
	s.delay = time.Duration(c.DelayMS) * time.Millisecond
	s.markEvery = time.Duration(c.MarkEveryMS) * time.Millisecond
	if c.EchoDTMF != nil {
		s.echoDTMF = *c.EchoDTMF
	}
	e.settings.Store(&s)
	sdk.Log.Info("connector-echo configured", "delay_ms", c.DelayMS, "echo_dtmf", s.echoDTMF, "mark_every_ms", c.MarkEveryMS)
	return nil
}

func (e *echo) current() settings {
	if s := e.settings.Load(); s != nil {
		return *s
	}
	return defaults
}

// Session echoes one call until the caller hangs up.
func (e *echo) Session(ctx context.Context, s *sdk.Session) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	es := newEchoSession(s, e.current())
	es.log.Info("echo session started", "from", s.Call().From.User, "to", s.Call().To.User,
		"delay_ms", es.cfg.delay.Milliseconds(), "echo_dtmf", es.cfg.echoDTMF, "mark_every_ms", es.cfg.markEvery.Milliseconds())

	// Recv blocks, so it runs on its own goroutine; the loop below owns all
	// the session's state.
	events := make(chan sdk.Event)
	recvErr := make(chan error, 1)
	go func() {
		for {
			ev, err := s.Recv(ctx)
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case events <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()

	// One timer serves the whole delay queue: it is set for the frame at the
	// head and fires when that frame is due.
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var due <-chan time.Time
	rearm := func() {
		if at, ok := es.queue.nextDue(); ok {
			timer.Reset(time.Until(at))
			due = timer.C
		} else {
			timer.Stop()
			due = nil
		}
	}

	for {
		var err error
		select {
		case ev := <-events:
			var done bool
			done, err = es.handle(ev)
			if done {
				es.end("caller hung up", ev.Reason)
				return nil
			}
			rearm()
		case <-due:
			err = es.release(time.Now())
			rearm()
		case rerr := <-recvErr:
			if errors.Is(rerr, io.EOF) {
				es.end("session closed by the daemon", "")
			} else {
				es.end("session ended", rerr.Error())
			}
			return nil
		}
		if errors.Is(err, sdk.ErrHungUp) {
			es.end("call ended while sending", "")
			return nil
		}
		if err != nil {
			es.log.Error("echo failed", "err", err)
			return err
		}
	}
}

func main() { sdk.ServeConnector(&echo{}) }
