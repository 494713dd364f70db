package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
	"github.com/voxgate/voxgate/sdk/wire"
)

// Connector carries calls to an AI agent (or anything that speaks audio).
type Connector interface {
	Plugin
	// Session runs one call. It is called in its own goroutine once the
	// daemon has routed a call to this connector, and the call lasts until
	// Session returns or the caller hangs up (Recv then returns a Hangup
	// event and ctx is cancelled shortly after).
	Session(ctx context.Context, s *Session) error
}

// Preparer is implemented by a connector that needs time before a call can
// be answered, e.g. to connect to a cloud agent. The daemon keeps the caller
// ringing until Prepare returns (bounded by media.ring_timeout); an error
// refuses the call (the caller gets 503). Without it, calls are answered at
// once.
type Preparer interface {
	Prepare(ctx context.Context, s *Session) error
}

// AudioFormat is the format of the audio frames of a session.
type AudioFormat struct {
	Encoding   string // "L16": signed 16-bit little-endian PCM
	SampleRate int    // 8000
	Channels   int    // 1
	FrameMS    int    // 20: frames from the caller are this long
}

// EventType says what an Event carries.
type EventType int

// Event types.
const (
	EventAudio      EventType = iota + 1 // Audio holds one frame from the caller
	EventDTMF                            // Digit holds a digit the caller pressed
	EventMarkPlayed                      // Mark names a mark whose audio has been played
	EventHangup                          // the call ended; Reason says why
)

// Event is something that happened on the caller's side.
type Event struct {
	Type   EventType
	Audio  []byte // EventAudio: owned by the receiver
	Digit  string // EventDTMF
	Mark   string // EventMarkPlayed
	Reason string // EventHangup
}

// ErrHungUp is returned by Session methods after the call has ended.
var ErrHungUp = errors.New("call has ended")

// Session is one call as a connector sees it. Its methods may be called from
// several goroutines.
type Session struct {
	id     uint64
	call   *Call
	params map[string]string
	format AudioFormat

	events  chan Event
	control chan Event // never dropped: DTMF, marks, hangup
	dropped uint64

	srv    *connectorServer
	sendMu sync.Mutex
	stream pluginv1.Connector_SessionServer
	ended  chan struct{}
	once   sync.Once
}

// Call describes the call.
func (s *Session) Call() *Call { return s.call }

// Params are the router's agent parameters for this call.
func (s *Session) Params() map[string]string { return s.params }

// Format is the format of audio in both directions.
func (s *Session) Format() AudioFormat { return s.format }

// Recv waits for the next event. Audio frames arrive every FrameMS; a
// connector that falls behind loses the oldest frames, never control events.
// After the Hangup event it returns io.EOF.
func (s *Session) Recv(ctx context.Context) (Event, error) {
	// Control events first: a hangup must not wait behind queued audio.
	select {
	case ev, ok := <-s.control:
		if !ok {
			return Event{}, io.EOF
		}
		return ev, nil
	default:
	}
	select {
	case ev, ok := <-s.control:
		if !ok {
			return Event{}, io.EOF
		}
		return ev, nil
	case ev := <-s.events:
		return ev, nil
	case <-ctx.Done():
		return Event{}, ctx.Err()
	}
}

// SendAudio queues audio for the caller: L16 in the session's format, any
// length (the daemon plays it out in 20 ms packets, in order).
func (s *Session) SendAudio(l16 []byte) error {
	if s.isEnded() {
		return ErrHungUp
	}
	for len(l16) > 0 {
		n := min(len(l16), wire.MaxFramePayload)
		if err := s.srv.writeFrame(wire.FrameAudio, s.id, l16[:n]); err != nil {
			return err
		}
		l16 = l16[n:]
	}
	return nil
}

// Mark sets a named point after the audio sent so far; an EventMarkPlayed
// with the name arrives when the caller has heard everything before it
// (or when Clear dropped it).
func (s *Session) Mark(name string) error {
	if s.isEnded() {
		return ErrHungUp
	}
	if len(name) == 0 || len(name) > 256 {
		return fmt.Errorf("mark name must be 1-256 bytes, got %d", len(name))
	}
	return s.srv.writeFrame(wire.FrameMark, s.id, []byte(name))
}

// Clear drops audio queued for the caller and not yet played (barge-in).
func (s *Session) Clear() error {
	if s.isEnded() {
		return ErrHungUp
	}
	return s.srv.writeFrame(wire.FrameClear, s.id, nil)
}

// SendDTMF sends digits (0-9 * # A-D) to the caller as RFC 4733 events.
func (s *Session) SendDTMF(digits string) error {
	for _, r := range digits {
		if !isDTMF(r) {
			return fmt.Errorf("%q is not a DTMF digit (0-9 * # A-D)", r)
		}
	}
	return s.send(&pluginv1.ConnectorEvent{Event: &pluginv1.ConnectorEvent_SendDtmf{SendDtmf: digits}})
}

// Transfer asks the daemon to transfer the caller to target (a SIP URI or
// number). Whether and how the daemon does it depends on the trunk.
func (s *Session) Transfer(target string) error {
	return s.send(&pluginv1.ConnectorEvent{Event: &pluginv1.ConnectorEvent_Transfer{Transfer: &pluginv1.Transfer{Target: target}}})
}

// Hangup ends the call. Afterwards the Session's send methods return
// ErrHungUp; Recv still drains what the daemon sent.
func (s *Session) Hangup(reason string) error {
	err := s.send(&pluginv1.ConnectorEvent{Event: &pluginv1.ConnectorEvent_Hangup{Hangup: reason}})
	// Ended even when sending failed: the call is over either way, and the
	// SDK must not send a second hangup when Session returns.
	s.end()
	return err
}

func (s *Session) send(ev *pluginv1.ConnectorEvent) error {
	if s.isEnded() {
		return ErrHungUp
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if err := s.stream.Send(ev); err != nil {
		return fmt.Errorf("session %d: send to daemon: %w", s.id, err)
	}
	return nil
}

func (s *Session) isEnded() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

func (s *Session) end() { s.once.Do(func() { close(s.ended) }) }

// pushAudio hands a frame to the session without ever blocking the frame
// channel reader: when the connector is behind, the oldest frame goes.
func (s *Session) pushAudio(frame []byte) {
	ev := Event{Type: EventAudio, Audio: append([]byte(nil), frame...)}
	for range 2 {
		select {
		case s.events <- ev:
			return
		default:
		}
		select {
		case <-s.events:
			s.dropped++
		default:
		}
	}
}

func isDTMF(r rune) bool {
	return (r >= '0' && r <= '9') || r == '*' || r == '#' || (r >= 'A' && r <= 'D')
}

// connectorServer is the gRPC side of a connector plugin.
type connectorServer struct {
	pluginv1.UnimplementedConnectorServer
	impl Connector

	mu       sync.Mutex
	frames   *wire.FrameConn
	sessions map[uint64]*Session
}

func newConnectorServer(c Connector) *connectorServer {
	return &connectorServer{impl: c, sessions: make(map[uint64]*Session)}
}

func (cs *connectorServer) writeFrame(typ byte, id uint64, payload []byte) error {
	cs.mu.Lock()
	fc := cs.frames
	cs.mu.Unlock()
	if fc == nil {
		return errors.New("frame channel not open")
	}
	return fc.Write(typ, id, payload)
}

func (cs *connectorServer) FrameChannel(ctx context.Context, req *pluginv1.FrameChannelRequest) (*pluginv1.FrameChannelResponse, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	fc, err := wire.DialFrames(dctx, req.GetSocketPath())
	if err != nil {
		return nil, err
	}
	cs.mu.Lock()
	old := cs.frames
	cs.frames = fc
	cs.mu.Unlock()
	if old != nil {
		old.Close()
	}
	go func() {
		err := fc.Serve(context.Background(), cs.dispatch)
		Log.Debug("frame channel closed", "err", err)
	}()
	return &pluginv1.FrameChannelResponse{}, nil
}

func (cs *connectorServer) dispatch(f wire.Frame) {
	if f.Type != wire.FrameAudio {
		return
	}
	cs.mu.Lock()
	s := cs.sessions[f.Session]
	cs.mu.Unlock()
	if s != nil {
		s.pushAudio(f.Payload)
	}
}

func (cs *connectorServer) Session(stream pluginv1.Connector_SessionServer) error {
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("session: waiting for start: %w", err)
	}
	st := first.GetStart()
	if st == nil {
		return errors.New("session: first event must be start")
	}
	f := st.GetFormat()
	s := &Session{
		id:     st.GetSessionId(),
		call:   CallFromProto(st.GetCall()),
		params: st.GetParams(),
		format: AudioFormat{Encoding: f.GetEncoding(), SampleRate: int(f.GetSampleRate()),
			Channels: int(f.GetChannels()), FrameMS: int(f.GetFrameMs())},
		events:  make(chan Event, 64),
		control: make(chan Event, 64),
		srv:     cs,
		stream:  stream,
		ended:   make(chan struct{}),
	}
	cs.mu.Lock()
	cs.sessions[s.id] = s
	cs.mu.Unlock()
	defer func() {
		cs.mu.Lock()
		delete(cs.sessions, s.id)
		cs.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	if p, ok := cs.impl.(Preparer); ok {
		if err := p.Prepare(ctx, s); err != nil {
			return fmt.Errorf("connector refused the call: %w", err)
		}
	}
	if err := s.send(&pluginv1.ConnectorEvent{Event: &pluginv1.ConnectorEvent_Started{Started: &pluginv1.Started{}}}); err != nil {
		return err
	}

	// Events from the daemon, until it closes the stream.
	recvDone := make(chan struct{})
	go func() {
		defer close(recvDone)
		defer close(s.control)
		for {
			ev, err := stream.Recv()
			if err != nil {
				// Closing control makes Recv return io.EOF after what is queued.
				s.end()
				select {
				case s.control <- Event{Type: EventHangup, Reason: "daemon closed the session"}:
				default:
				}
				return
			}
			var out Event
			switch e := ev.GetEvent().(type) {
			case *pluginv1.DaemonEvent_Dtmf:
				out = Event{Type: EventDTMF, Digit: e.Dtmf}
			case *pluginv1.DaemonEvent_MarkPlayed:
				out = Event{Type: EventMarkPlayed, Mark: e.MarkPlayed}
			case *pluginv1.DaemonEvent_Hangup:
				out = Event{Type: EventHangup, Reason: e.Hangup}
			default:
				continue
			}
			select {
			case s.control <- out:
			case <-ctx.Done():
				return
			}
			if out.Type == EventHangup {
				s.end()
				return
			}
		}
	}()

	implDone := make(chan error, 1)
	go func() { implDone <- cs.impl.Session(ctx, s) }()

	select {
	case err := <-implDone:
		// The connector ended the call: say so unless the caller already did.
		if !s.isEnded() {
			reason := "connector ended the session"
			if err != nil {
				reason = err.Error()
			}
			s.Hangup(reason)
			s.end()
		}
		return nil
	case <-recvDone:
		s.end()
		// Give the connector a moment to see the hangup, then cancel it.
		select {
		case <-implDone:
		case <-time.After(2 * time.Second):
			cancel()
			<-implDone
		}
		return nil
	}
}
