package wire

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// SessionHandler receives what a connector sends for one call. Methods are
// called from the frame channel's and the stream's goroutines and must not
// block: hand the work off.
type SessionHandler interface {
	OnAudio(l16 []byte) // only valid during the call
	OnMark(name string)
	OnClear()
	OnEvent(ev *pluginv1.ConnectorEvent) // send_dtmf, hangup, transfer
	OnClosed(err error)                  // the session's stream ended
}

// ConnectorHost is the daemon's end of one connector plugin process: the
// frame channel and the sessions multiplexed on it.
type ConnectorHost struct {
	client pluginv1.ConnectorClient
	ln     *FrameListener
	fc     *FrameConn
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.RWMutex
	sessions map[uint64]*HostSession
}

var sessionIDs atomic.Uint64

func init() { sessionIDs.Store(uint64(time.Now().UnixNano())) }

// OpenConnectorHost listens on dir/name, names the socket to the plugin and
// waits for it to dial.
func OpenConnectorHost(ctx context.Context, client pluginv1.ConnectorClient, dir, name string) (*ConnectorHost, error) {
	ln, err := ListenFrames(dir, name)
	if err != nil {
		return nil, err
	}
	actx, acancel := context.WithTimeout(ctx, 10*time.Second)
	defer acancel()
	type accepted struct {
		fc  *FrameConn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		fc, err := ln.Accept(actx)
		ch <- accepted{fc, err}
	}()
	if _, err := client.FrameChannel(actx, &pluginv1.FrameChannelRequest{SocketPath: ln.Path()}); err != nil {
		acancel()
		<-ch
		ln.Close()
		return nil, fmt.Errorf("connector %s: open frame channel: %w", name, err)
	}
	a := <-ch
	if a.err != nil {
		ln.Close()
		return nil, fmt.Errorf("connector %s: %w", name, a.err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	h := &ConnectorHost{client: client, ln: ln, fc: a.fc, cancel: cancel, done: make(chan struct{}),
		sessions: make(map[uint64]*HostSession)}
	go func() {
		defer close(h.done)
		a.fc.Serve(sctx, h.dispatch)
	}()
	return h, nil
}

func (h *ConnectorHost) dispatch(f Frame) {
	h.mu.RLock()
	s := h.sessions[f.Session]
	h.mu.RUnlock()
	if s == nil {
		return // a late frame of an ended call
	}
	switch f.Type {
	case FrameAudio:
		s.handler.OnAudio(f.Payload)
	case FrameMark:
		s.handler.OnMark(string(f.Payload))
	case FrameClear:
		s.handler.OnClear()
	}
}

// Broken reports why the frame channel failed (the plugin stopped reading
// it, or closed it), or nil while it works. The daemon restarts a connector
// whose channel broke.
func (h *ConnectorHost) Broken() error {
	if err := h.fc.Broken(); err != nil {
		return err
	}
	select {
	case <-h.done:
		return errors.New("frame channel closed by the plugin")
	default:
		return nil
	}
}

// Close ends the frame channel; sessions see their streams end.
func (h *ConnectorHost) Close() {
	h.cancel()
	h.fc.Close()
	h.ln.Close()
	<-h.done
}

// Start opens a session for a call and waits until the connector says it is
// ready (Started) or ctx ends. handler may receive audio before Start returns.
func (h *ConnectorHost) Start(ctx context.Context, start *pluginv1.Start, handler SessionHandler) (*HostSession, error) {
	id := sessionIDs.Add(1)
	start.SessionId = id
	sctx, cancel := context.WithCancel(context.Background())
	stream, err := h.client.Session(sctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("connector: open session: %w", err)
	}
	s := &HostSession{id: id, h: h, stream: stream, cancel: cancel, handler: handler}
	// Registered before Start is sent: a connector may send audio (a
	// greeting) right after Started, and the frame channel can deliver it
	// before Started has been read here.
	h.mu.Lock()
	h.sessions[id] = s
	h.mu.Unlock()
	fail := func(err error) (*HostSession, error) {
		s.unregister()
		cancel()
		return nil, err
	}
	if err := stream.Send(&pluginv1.DaemonEvent{Event: &pluginv1.DaemonEvent_Start{Start: start}}); err != nil {
		return fail(fmt.Errorf("connector: send start: %w", err))
	}
	started := make(chan error, 1)
	go func() {
		ev, err := stream.Recv()
		if err != nil {
			started <- fmt.Errorf("connector: waiting for started: %w", err)
			return
		}
		if ev.GetStarted() == nil {
			started <- fmt.Errorf("connector: first event is %T, want started", ev.GetEvent())
			return
		}
		started <- nil
	}()
	select {
	case err := <-started:
		if err != nil {
			return fail(err)
		}
	case <-ctx.Done():
		return fail(fmt.Errorf("connector did not start the session in time: %w", ctx.Err()))
	}
	go s.recvLoop()
	return s, nil
}

// HostSession is one call's session with a connector, daemon side.
type HostSession struct {
	id      uint64
	h       *ConnectorHost
	stream  pluginv1.Connector_SessionClient
	cancel  context.CancelFunc
	handler SessionHandler
	sendMu  sync.Mutex
	closed  atomic.Bool
	// cancelLater cancels a stream the connector did not close after a
	// hangup; stopped as soon as the stream ends, so the session (and the
	// call it references) is not kept for its 2 s.
	cancelLater atomic.Pointer[time.Timer]
}

// ID is the session id that tags this call's frames.
func (s *HostSession) ID() uint64 { return s.id }

func (s *HostSession) recvLoop() {
	for {
		ev, err := s.stream.Recv()
		if err != nil {
			if t := s.cancelLater.Load(); t != nil {
				t.Stop()
			}
			s.cancel()
			s.unregister()
			if s.closed.Load() {
				err = nil
			}
			s.handler.OnClosed(err)
			return
		}
		s.handler.OnEvent(ev)
	}
}

// SendAudio sends one frame of the caller's audio.
func (s *HostSession) SendAudio(l16 []byte) error {
	if s.closed.Load() {
		return errors.New("session closed")
	}
	return s.h.fc.Write(FrameAudio, s.id, l16)
}

// Send sends an event (DTMF, mark played) to the connector.
func (s *HostSession) Send(ev *pluginv1.DaemonEvent) error {
	if s.closed.Load() {
		return errors.New("session closed")
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return s.stream.Send(ev)
}

// Hangup tells the connector the call ended and closes the session. The
// stream is given a moment to deliver the hangup before it is cancelled.
func (s *HostSession) Hangup(reason string) {
	if s.closed.Swap(true) {
		return
	}
	s.sendMu.Lock()
	s.stream.Send(&pluginv1.DaemonEvent{Event: &pluginv1.DaemonEvent_Hangup{Hangup: reason}})
	s.stream.CloseSend()
	s.sendMu.Unlock()
	s.unregister()
	s.cancelLater.Store(time.AfterFunc(2*time.Second, s.cancel))
}

func (s *HostSession) unregister() {
	s.h.mu.Lock()
	delete(s.h.sessions, s.id)
	s.h.mu.Unlock()
}
