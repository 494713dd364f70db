package sdktest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/voxgate/voxgate/sdk"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
	"github.com/voxgate/voxgate/sdk/wire"
)

// Call is a test call to a connector: the test plays the caller.
type Call struct {
	sess   *wire.HostSession
	events chan Received
	once   sync.Once
}

// Received is something the connector sent to the caller.
type Received struct {
	Audio  []byte // an audio chunk (L16)
	Mark   string
	Clear  bool
	DTMF   string // digits the connector asked to send
	Hangup string // the connector hung up, with this reason
	Closed bool   // the session's stream ended
}

// StartCall opens a session with a connector plugin as the daemon does: frame
// channel (once per Conn, shared by its calls), Start, wait for Started.
func (c *Conn) StartCall(call *sdk.Call, params map[string]string) *Call {
	c.t.Helper()
	host := c.connectorHost()
	ctx, cancel := c.ctx()
	defer cancel()
	tc := &Call{events: make(chan Received, 1024)}
	start := &pluginv1.Start{Call: sdk.CallToProto(call), Params: params,
		Format: &pluginv1.AudioFormat{Encoding: "L16", SampleRate: 8000, Channels: 1, FrameMs: 20}}
	sess, err := host.Start(ctx, start, (*handler)(tc))
	if err != nil {
		c.t.Fatalf("start session: %v", err)
	}
	tc.sess = sess
	c.t.Cleanup(tc.close)
	return tc
}

// connectorHost opens the frame channel on first use. Like the daemon, a Conn
// keeps one channel for all its calls: the plugin replaces its channel when
// asked to open another, which would cut off the calls already on it.
func (c *Conn) connectorHost() *wire.ConnectorHost {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.host != nil {
		return c.host
	}
	ctx, cancel := c.ctx()
	defer cancel()
	host, err := wire.OpenConnectorHost(ctx, c.clients.Connector, c.dir, "frames.sock")
	if err != nil {
		c.t.Fatalf("open frame channel: %v", err)
	}
	c.host = host
	c.t.Cleanup(host.Close)
	return host
}

func (tc *Call) close() {
	tc.once.Do(func() { tc.sess.Hangup("test ended") })
}

// SendAudio sends one frame of caller audio (320 bytes for 20 ms L16 at 8 kHz).
func (tc *Call) SendAudio(l16 []byte) error { return tc.sess.SendAudio(l16) }

// PressDigit sends a DTMF digit from the caller.
func (tc *Call) PressDigit(d string) error {
	return tc.sess.Send(&pluginv1.DaemonEvent{Event: &pluginv1.DaemonEvent_Dtmf{Dtmf: d}})
}

// MarkPlayed tells the connector its mark has been played.
func (tc *Call) MarkPlayed(name string) error {
	return tc.sess.Send(&pluginv1.DaemonEvent{Event: &pluginv1.DaemonEvent_MarkPlayed{MarkPlayed: name}})
}

// Hangup ends the call from the caller's side.
func (tc *Call) Hangup(reason string) { tc.sess.Hangup(reason) }

// Next waits up to timeout for the next thing the connector sent.
func (tc *Call) Next(timeout time.Duration) (Received, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case r := <-tc.events:
		return r, nil
	case <-ctx.Done():
		return Received{}, fmt.Errorf("nothing from the connector in %v", timeout)
	}
}

type handler Call

func (h *handler) push(r Received) {
	select {
	case h.events <- r:
	default:
	}
}
func (h *handler) OnAudio(l16 []byte) { h.push(Received{Audio: append([]byte(nil), l16...)}) }
func (h *handler) OnMark(name string) { h.push(Received{Mark: name}) }
func (h *handler) OnClear()           { h.push(Received{Clear: true}) }
func (h *handler) OnEvent(ev *pluginv1.ConnectorEvent) {
	switch e := ev.GetEvent().(type) {
	case *pluginv1.ConnectorEvent_SendDtmf:
		h.push(Received{DTMF: e.SendDtmf})
	case *pluginv1.ConnectorEvent_Hangup:
		h.push(Received{Hangup: e.Hangup})
	}
}
func (h *handler) OnClosed(error) { h.push(Received{Closed: true}) }
