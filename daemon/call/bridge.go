package call

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/voxgate/voxgate/daemon/media"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
	"github.com/voxgate/voxgate/sdk/wire"
)

// Bridge joins a call's RTP session and its connector session: caller audio
// and DTMF go to the connector; the connector's audio, marks, clears and DTMF
// go to the caller. Either side ending ends the call.
type Bridge struct {
	call    *Call
	rtp     *media.Session
	agent   atomic.Pointer[wire.HostSession]
	hangup  func(disposition string, status int, side, cause string)
	dropped atomic.Int64
	// marks played, forwarded to the connector in order by forwardMarks:
	// the RTP pacer that reports them must never wait on gRPC.
	marks chan string
	// digits pressed while no connector is attached, for CollectDigits.
	digits chan byte
}

// NewBridge makes a bridge; hangup is how the bridge ends the call (the SIP
// layer sends BYE and writes the CDR).
func NewBridge(c *Call, hangup func(disposition string, status int, side, cause string)) *Bridge {
	b := &Bridge{call: c, hangup: hangup, marks: make(chan string, 16),
		digits: make(chan byte, 64)}
	go b.forwardMarks()
	return b
}

func (b *Bridge) forwardMarks() {
	for {
		select {
		case <-b.call.Context().Done():
			return
		case name := <-b.marks:
			if a := b.agent.Load(); a != nil {
				a.Send(&pluginv1.DaemonEvent{Event: &pluginv1.DaemonEvent_MarkPlayed{MarkPlayed: name}})
			}
		}
	}
}

// SetRTP attaches the RTP session.
func (b *Bridge) SetRTP(s *media.Session) { b.rtp = s }

// SetAgent attaches the connector session once it has started.
func (b *Bridge) SetAgent(s *wire.HostSession) { b.agent.Store(s) }

// CallerHandler receives from the RTP side.
func (b *Bridge) CallerHandler() media.Handler { return (*callerSide)(b) }

// AgentHandler receives from the connector side.
func (b *Bridge) AgentHandler() wire.SessionHandler { return (*agentSide)(b) }

type callerSide Bridge

func (h *callerSide) OnAudio(frame []byte) {
	if a := h.agent.Load(); a != nil {
		if err := a.SendAudio(frame); err != nil {
			h.dropped.Add(1)
		}
	}
}

func (h *callerSide) OnDTMF(digit byte) {
	h.call.CountDTMF()
	h.call.Log.Info("DTMF from caller", "digit", string(digit))
	if a := h.agent.Load(); a != nil {
		a.Send(&pluginv1.DaemonEvent{Event: &pluginv1.DaemonEvent_Dtmf{Dtmf: string(digit)}})
		return
	}
	select {
	case h.digits <- digit:
	default:
	}
}

func (h *callerSide) OnMarkPlayed(name string) {
	select {
	case h.marks <- name:
	default:
		h.call.Log.Warn("connector is not taking mark events; one dropped", "mark", name)
	}
}

func (h *callerSide) OnMediaTimeout() {
	h.call.Log.Warn("no RTP from the caller within the media timeout; hanging up")
	go h.hangup(MediaTimeout, 200, SideSystem, "no RTP received")
}

type agentSide Bridge

func (h *agentSide) OnAudio(l16 []byte) {
	if h.rtp != nil {
		h.rtp.WriteAudio(l16)
	}
}

func (h *agentSide) OnMark(name string) {
	if h.rtp != nil {
		h.rtp.Mark(name)
	}
}

func (h *agentSide) OnClear() {
	if h.rtp != nil {
		h.rtp.Clear()
	}
}

func (h *agentSide) OnEvent(ev *pluginv1.ConnectorEvent) {
	switch e := ev.GetEvent().(type) {
	case *pluginv1.ConnectorEvent_SendDtmf:
		if h.rtp != nil {
			digits := e.SendDtmf
			go func() {
				if err := h.rtp.SendDTMF(digits); err != nil {
					h.call.Log.Warn("cannot send DTMF to the caller", "digits", digits, "err", err)
				}
			}()
		}
	case *pluginv1.ConnectorEvent_Hangup:
		h.call.Log.Info("connector hung up", "reason", e.Hangup)
		go h.hangup(Answered, 200, SideAgent, e.Hangup)
	case *pluginv1.ConnectorEvent_Transfer:
		// Transfer (REFER / re-INVITE) arrives with the trunk work; say so
		// rather than pretend.
		h.call.Log.Warn("connector asked for a transfer; transfers are not supported in this version", "target", e.Transfer.GetTarget())
	}
}

func (h *agentSide) OnClosed(err error) {
	if h.call.IsEnded() {
		return
	}
	cause := "connector ended the session"
	if err != nil {
		h.call.Log.Error("connector session failed; hanging up", "err", err)
		cause = "connector failed: " + err.Error()
	}
	go h.hangup(Answered, 200, SideAgent, cause)
}

// CollectDigits gathers the caller's digits while no connector is attached:
// up to max, ending early at terminator (not included), or when timeout
// passes or ctx ends; it returns what it has then.
func (b *Bridge) CollectDigits(ctx context.Context, max int, terminator string, timeout time.Duration) string {
	t := time.NewTimer(timeout)
	defer t.Stop()
	var got []byte
	for len(got) < max {
		select {
		case d := <-b.digits:
			if terminator != "" && string(d) == terminator {
				return string(got)
			}
			got = append(got, d)
		case <-t.C:
			return string(got)
		case <-ctx.Done():
			return string(got)
		}
	}
	return string(got)
}
