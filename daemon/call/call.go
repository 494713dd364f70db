// Package call holds a call's state from INVITE to CDR, the bridge between
// its RTP session and its connector session, and the registry of live calls.
package call

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/voxgate/voxgate/sdk"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// Dispositions written to the CDR.
const (
	Answered     = "answered"
	Rejected     = "rejected"
	Cancelled    = "cancelled"
	Failed       = "failed"
	MediaTimeout = "media-timeout"
)

// Sides that can end a call.
const (
	SideCaller = "caller"
	SideAgent  = "agent"
	SideSystem = "system"
)

// NewID returns a voxgate call id: "vg-" and 16 random hex digits.
func NewID() string {
	var b [8]byte
	rand.Read(b[:])
	return "vg-" + hex.EncodeToString(b[:])
}

// Call is one call's state. Its fields are written by the SIP layer during
// setup and by the bridge; End is the single point where it finishes.
type Call struct {
	ID  string
	Log *slog.Logger
	// Info is what plugins see of the call.
	Info *pluginv1.Call

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	start     time.Time
	answer    time.Time
	ring      time.Time
	end       time.Time
	ended     bool
	rec       *pluginv1.CallRecord
	dtmfCount atomic.Uint32
	legStats  func() LegStats
	onEnd     []func(side, cause string)
	endedCh   chan struct{}
}

// New starts a call's clock.
func New(parent context.Context, id string, info *pluginv1.Call, log *slog.Logger) *Call {
	ctx, cancel := context.WithCancel(parent)
	c := &Call{ID: id, Log: log, Info: info, ctx: ctx, cancel: cancel, start: time.Now(), endedCh: make(chan struct{})}
	c.rec = &pluginv1.CallRecord{
		SchemaVersion: sdk.RecordSchemaVersion, Id: id, SipCallId: info.GetSipCallId(), Trunk: info.GetTrunk(),
		Direction: "inbound", From: info.GetFrom(), To: info.GetTo(), SourceAddr: info.GetSourceAddr(),
		Mode: "direct", FromE164: E164(info.GetFrom().GetUser()), ToE164: E164(info.GetTo().GetUser()),
	}
	if info.GetTrunk() != "" {
		c.rec.Mode = "trunk"
	}
	return c
}

// Snapshot is a copy of the call's record so far (for the live-call
// journal).
func (c *Call) Snapshot() *pluginv1.CallRecord {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := proto.Clone(c.rec).(*pluginv1.CallRecord)
	r.StartTime = stamp(c.start)
	if !c.answer.IsZero() {
		r.AnswerTime = stamp(c.answer)
	}
	return r
}

// Context ends when the call ends.
func (c *Call) Context() context.Context { return c.ctx }

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.endedCh }

// SetRoute records the routing decision. Its variables become call
// variables: plugins see them from now on, and the CDR holds them.
func (c *Call) SetRoute(action, rule, connector string, vars map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rec.RouteAction, c.rec.RouteRule, c.rec.Connector = action, rule, connector
	if len(vars) > 0 {
		c.Info.Variables = merge(c.Info.Variables, vars)
		c.rec.Variables = merge(c.rec.Variables, vars)
	}
}

// SetRecordVariable sets a variable in the CDR only (plugins do not see it).
func (c *Call) SetRecordVariable(k, v string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rec.Variables = merge(c.rec.Variables, map[string]string{k: v})
}

// merge copies src into dst, making dst if needed.
func merge(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = make(map[string]string, len(src))
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

// SetCodec records the negotiated codec.
func (c *Call) SetCodec(name string) {
	c.mu.Lock()
	c.rec.Codec = name
	c.mu.Unlock()
}

// LegStats are the caller leg's RTP counters.
type LegStats struct {
	In, Out, Lost int64
}

// SetStats gives the call a way to read the caller leg's RTP counters at
// its end.
func (c *Call) SetStats(f func() LegStats) {
	c.mu.Lock()
	c.legStats = f
	c.mu.Unlock()
}

// SetConnectorSession records the connector's session id.
func (c *Call) SetConnectorSession(id string) {
	c.mu.Lock()
	c.rec.ConnectorSessionId = id
	c.mu.Unlock()
}

// SetCallerID records the caller ID the caller presented.
func (c *Call) SetCallerID(id string) {
	c.mu.Lock()
	c.rec.CallerId = id
	c.mu.Unlock()
}

// Ringing marks the moment the 180 went out.
func (c *Call) Ringing() {
	c.mu.Lock()
	c.ring = time.Now()
	c.mu.Unlock()
}

// Answered marks the moment the 200 OK went out.
func (c *Call) Answered() {
	c.mu.Lock()
	c.answer = time.Now()
	c.mu.Unlock()
}

// CountDTMF counts a received digit.
func (c *Call) CountDTMF() { c.dtmfCount.Add(1) }

// OnEnd registers f to run once when the call ends (teardown of legs). If
// the call has already ended, f runs now, so a leg attached late (after a
// collect, say) is never left behind.
func (c *Call) OnEnd(f func(side, cause string)) {
	c.mu.Lock()
	if c.ended {
		side, cause := c.rec.GetHangupSide(), c.rec.GetHangupCause()
		c.mu.Unlock()
		f(side, cause)
		return
	}
	c.onEnd = append(c.onEnd, f)
	c.mu.Unlock()
}

// IsEnded reports whether End has run.
func (c *Call) IsEnded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ended
}

// End finishes the call once: the first caller wins and later calls are
// ignored, so racing BYEs, timeouts and hangups cannot double-count. It runs
// the teardown hooks and returns the finished CDR (nil if already ended).
func (c *Call) End(disposition string, status int, side, cause string) *pluginv1.CallRecord {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return nil
	}
	c.ended = true
	c.end = time.Now()
	hooks := c.onEnd
	stats := c.legStats
	c.mu.Unlock()

	for _, f := range hooks {
		f(side, cause)
	}
	c.cancel()

	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rec
	r.Disposition, r.SipStatus, r.HangupSide, r.HangupCause = disposition, uint32(status), side, cause
	r.StartTime = stamp(c.start)
	r.EndTime = stamp(c.end)
	r.DurationMs = c.end.Sub(c.start).Milliseconds()
	if !c.answer.IsZero() {
		r.AnswerTime = stamp(c.answer)
		r.BillableMs = c.end.Sub(c.answer).Milliseconds()
		r.BillableSeconds = (r.BillableMs + 999) / 1000
	}
	if !c.ring.IsZero() {
		r.RingTime = stamp(c.ring)
	}
	r.DtmfCount = c.dtmfCount.Load()
	leg := &pluginv1.LegQuality{Role: "caller", SipCallId: r.SipCallId, Codec: r.Codec}
	if stats != nil {
		st := stats()
		r.RtpPacketsIn, r.RtpPacketsOut = st.In, st.Out
		leg.PacketsIn, leg.PacketsOut, leg.PacketsLost = st.In, st.Out, st.Lost
	}
	r.Legs = []*pluginv1.LegQuality{leg}
	if c.Info != nil && len(c.Info.GetVariables()) > 0 {
		if r.Variables == nil {
			r.Variables = map[string]string{}
		}
		for k, v := range c.Info.GetVariables() {
			if _, set := r.Variables[k]; !set {
				r.Variables[k] = v
			}
		}
	}
	close(c.endedCh)
	c.Log.Info("call ended", "disposition", disposition, "sip_status", status, "side", side, "cause", cause,
		"duration_ms", r.DurationMs)
	return r
}

func stamp(t time.Time) string { return sdk.RecordTime(t) }

// SetHostname records the appliance's hostname in the CDR.
func (c *Call) SetHostname(h string) {
	c.mu.Lock()
	c.rec.Hostname = h
	c.mu.Unlock()
}

// E164 returns user if it is a number in E.164 form (+ and 6 to 15
// digits, visual separators removed), else "". Numbers without + need the
// trunk's number format to be read as E.164; that arrives with trunks.
func E164(user string) string {
	if len(user) < 2 || user[0] != '+' {
		return ""
	}
	digits := make([]byte, 0, len(user))
	digits = append(digits, '+')
	for i := 1; i < len(user); i++ {
		switch ch := user[i]; {
		case ch >= '0' && ch <= '9':
			digits = append(digits, ch)
		case ch == '-' || ch == '.' || ch == '(' || ch == ')':
		default:
			return ""
		}
	}
	if n := len(digits) - 1; n < 6 || n > 15 || digits[1] == '0' {
		return ""
	}
	return string(digits)
}
