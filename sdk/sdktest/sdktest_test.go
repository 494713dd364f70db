package sdktest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxgate/voxgate/sdk"
	"github.com/voxgate/voxgate/sdk/sdktest"
)

// A plugin built for another protocol version is refused by the handshake,
// and the error names both versions.
func TestLaunchRefusesOtherProtocolVersion(t *testing.T) {
	bin := sdktest.Build(t, "testdata/v2plugin")
	var stderr bytes.Buffer
	l, err := sdktest.Launch(bin, "router", &stderr)
	if err == nil {
		l.Kill()
		t.Fatal("a plugin of protocol version 2 was accepted")
	}
	msg := err.Error()
	for _, want := range []string{"Plugin version: 2", "Client versions: [1]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	t.Logf("refused as: %v", err)
}

// ---------------------------------------------------------------- router

type router struct{ decision *sdk.Decision }

func (router) Info() sdk.Info                              { return sdk.Info{Name: "test-router", Version: "1.2.3"} }
func (router) Configure(context.Context, sdk.Config) error { return nil }
func (r router) Route(_ context.Context, c *sdk.Call) (*sdk.Decision, error) {
	if c.To.User == "fail" {
		return nil, errors.New("router failure")
	}
	return r.decision, nil
}

func TestInProcessRouter(t *testing.T) {
	conn := sdktest.InProcess(t, router{decision: sdk.Agent("echo", map[string]string{"k": "v"})})
	info := conn.Info()
	if info.GetName() != "test-router" || info.GetKind() != sdk.KindRouter || info.GetVersion() != "1.2.3" ||
		info.GetProtocolVersion() != sdk.ProtocolVersion {
		t.Fatalf("info = %v", info)
	}
	d, err := conn.Route(&sdk.Call{ID: "c1", To: sdk.Party{User: "100"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Action != sdk.ActionAgent || d.Connector != "echo" || d.Params["k"] != "v" {
		t.Fatalf("decision = %+v", d)
	}
	if _, err := conn.Route(&sdk.Call{To: sdk.Party{User: "fail"}}); err == nil || !strings.Contains(err.Error(), "router failure") {
		t.Fatalf("route error = %v", err)
	}
}

// The SDK checks a router's decision before it leaves the plugin.
func TestInvalidDecisionIsAnError(t *testing.T) {
	conn := sdktest.InProcess(t, router{decision: sdk.Reject(200, "ok?")})
	_, err := conn.Route(&sdk.Call{ID: "c1"})
	if err == nil || !strings.Contains(err.Error(), "invalid decision") {
		t.Fatalf("err = %v, want an invalid decision error", err)
	}
}

// ---------------------------------------------------------------- exporter

type exporter struct{ fail map[string]bool }

func (exporter) Info() sdk.Info                              { return sdk.Info{Name: "test-exporter"} }
func (exporter) Configure(context.Context, sdk.Config) error { return nil }
func (e exporter) Export(_ context.Context, recs []*sdk.CallRecord) ([]string, error) {
	var acked []string
	for _, r := range recs {
		if !e.fail[r.ID] {
			acked = append(acked, r.ID)
		}
	}
	if len(acked) < len(recs) {
		return acked, errors.New("some failed")
	}
	return acked, nil
}

func TestInProcessExporter(t *testing.T) {
	conn := sdktest.InProcess(t, exporter{fail: map[string]bool{"b": true}})
	acked, err := conn.Export(&sdk.CallRecord{ID: "a"}, &sdk.CallRecord{ID: "b"}, &sdk.CallRecord{ID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(acked, ",") != "a,c" {
		t.Fatalf("acked %v, want [a c]", acked)
	}
	// Nothing acked and an error: the batch fails as a whole.
	if _, err := conn.Export(&sdk.CallRecord{ID: "b"}); err == nil {
		t.Fatal("want an error when nothing was acked")
	}
}

// ---------------------------------------------------------------- connector

// tagger greets each call with its id, then echoes each audio frame prefixed
// with the call id, so a test can tell calls' audio apart.
type tagger struct{}

func (tagger) Info() sdk.Info                              { return sdk.Info{Name: "tagger"} }
func (tagger) Configure(context.Context, sdk.Config) error { return nil }
func (tagger) Session(ctx context.Context, s *sdk.Session) error {
	id := s.Call().ID
	// Audio sent at once after Started must reach the caller.
	if err := s.SendAudio([]byte("hello " + id)); err != nil {
		return err
	}
	for {
		ev, err := s.Recv(ctx)
		if err != nil {
			return nil
		}
		switch ev.Type {
		case sdk.EventAudio:
			if err := s.SendAudio(append([]byte(id+":"), ev.Audio...)); err != nil {
				return nil
			}
		case sdk.EventDTMF:
			if ev.Digit == "#" {
				return s.Hangup("caller pressed #")
			}
			s.SendDTMF(ev.Digit)
		case sdk.EventMarkPlayed:
			s.Mark("ack-" + ev.Mark)
		case sdk.EventHangup:
			return nil
		}
	}
}

func next(t *testing.T, c *sdktest.Call) sdktest.Received {
	t.Helper()
	r, err := c.Next(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestConnectorSession(t *testing.T) {
	conn := sdktest.InProcess(t, tagger{})
	call := conn.StartCall(&sdk.Call{ID: "c1"}, nil)
	if r := next(t, call); string(r.Audio) != "hello c1" {
		t.Fatalf("first = %+v, want the greeting", r)
	}
	call.SendAudio([]byte("abc"))
	if r := next(t, call); string(r.Audio) != "c1:abc" {
		t.Fatalf("got %+v, want echoed audio", r)
	}
	call.PressDigit("5")
	if r := next(t, call); r.DTMF != "5" {
		t.Fatalf("got %+v, want DTMF 5", r)
	}
	call.MarkPlayed("m1")
	if r := next(t, call); r.Mark != "ack-m1" {
		t.Fatalf("got %+v, want mark ack-m1", r)
	}
	call.PressDigit("#")
	if r := next(t, call); r.Hangup != "caller pressed #" {
		t.Fatalf("got %+v, want the connector's hangup", r)
	}
	if r := next(t, call); !r.Closed {
		t.Fatalf("got %+v, want Closed", r)
	}
}

// Several calls on one Conn share its frame channel; each gets its own audio.
// (Before sdktest kept one channel per Conn, a second call cut off the first.)
func TestConcurrentCallsOnOneConn(t *testing.T) {
	conn := sdktest.InProcess(t, tagger{})
	const calls, frames = 8, 20
	cs := make([]*sdktest.Call, calls)
	for i := range cs {
		cs[i] = conn.StartCall(&sdk.Call{ID: fmt.Sprint("c", i)}, nil)
	}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			id := fmt.Sprint("c", i)
			for f := range frames {
				if err := c.SendAudio([]byte(fmt.Sprint(f))); err != nil {
					t.Errorf("%s: send: %v", id, err)
					return
				}
			}
			want := []string{"hello " + id}
			for f := range frames {
				want = append(want, fmt.Sprintf("%s:%d", id, f))
			}
			for _, w := range want {
				r, err := c.Next(10 * time.Second)
				if err != nil {
					t.Errorf("%s: %v", id, err)
					return
				}
				if string(r.Audio) != w {
					t.Errorf("%s: got %+v, want audio %q", id, r, w)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range cs {
		c.Hangup("done")
		for {
			r := next(t, c)
			if r.Closed {
				break
			}
		}
	}
}
