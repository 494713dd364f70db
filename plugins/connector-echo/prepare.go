package main

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/voxgate/voxgate/sdk"
)

// maxAnswerDelay bounds the answer_delay_ms call parameter.
const maxAnswerDelay = 60 * time.Second

// Prepare keeps the caller ringing for the router's answer_delay_ms
// parameter before the call is answered: a stand-in for an AI connector
// that first connects to its cloud agent, and a way to test CANCEL and ring
// timeouts. Without the parameter the call is answered at once.
func (e *echo) Prepare(ctx context.Context, s *sdk.Session) error {
	v, ok := s.Params()["answer_delay_ms"]
	if !ok {
		return nil
	}
	ms, err := strconv.Atoi(v)
	if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > maxAnswerDelay {
		return fmt.Errorf("answer_delay_ms %q: want 0 to %d", v, maxAnswerDelay.Milliseconds())
	}
	sdk.Log.Info("delaying the answer", "call_id", s.Call().ID, "answer_delay_ms", ms)
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
