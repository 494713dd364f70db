package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/voxgate/voxgate/sdk"
	"github.com/voxgate/voxgate/sdk/sdktest"
)

// frame is 20 ms of L16 audio at 8 kHz whose every sample tells which call
// and which frame it belongs to.
func frame(call, n int) []byte {
	f := make([]byte, 320)
	for i := 0; i < len(f); i += 2 {
		binary.LittleEndian.PutUint16(f[i:], uint16(call<<12|n<<4|i%16))
	}
	return f
}

const wait = 10 * time.Second

// collect reads what the connector sends until it has n audio chunks and the
// given DTMF digits, in any interleaving; it fails on anything else.
func collect(t *testing.T, c *sdktest.Call, n int, digits string) (audio [][]byte, marks []string) {
	t.Helper()
	var gotDigits string
	for len(audio) < n || len(gotDigits) < len(digits) {
		r, err := c.Next(wait)
		if err != nil {
			t.Fatalf("after %d of %d frames and digits %q: %v", len(audio), n, gotDigits, err)
		}
		switch {
		case r.Audio != nil:
			audio = append(audio, r.Audio)
		case r.DTMF != "":
			gotDigits += r.DTMF
		case r.Mark != "":
			marks = append(marks, r.Mark)
		default:
			t.Fatalf("unexpected %+v", r)
		}
	}
	if gotDigits != digits {
		t.Fatalf("DTMF back = %q, want %q", gotDigits, digits)
	}
	return audio, marks
}

// hangupAndDrain hangs up as the caller and returns everything the connector
// sent until its session ended.
func hangupAndDrain(t *testing.T, c *sdktest.Call) []sdktest.Received {
	t.Helper()
	c.Hangup("caller hung up")
	var got []sdktest.Received
	for {
		r, err := c.Next(wait)
		if err != nil {
			t.Fatalf("session did not end after hangup: %v", err)
		}
		if r.Closed {
			return got
		}
		got = append(got, r)
	}
}

// echoes checks one call: audio back byte-identical and in order, a digit
// back as DTMF, and the session ends on hangup.
func echoes(t *testing.T, conn *sdktest.Conn, id, frames int) {
	t.Helper()
	call := conn.StartCall(&sdk.Call{ID: fmt.Sprint("call-", id)}, nil)
	for n := range frames {
		if err := call.SendAudio(frame(id, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := call.PressDigit("7"); err != nil {
		t.Fatal(err)
	}
	audio, _ := collect(t, call, frames, "7")
	for n, a := range audio {
		if !bytes.Equal(a, frame(id, n)) {
			t.Fatalf("call %d: chunk %d is not frame %d", id, n, n)
		}
	}
	if rest := hangupAndDrain(t, call); len(rest) != 0 {
		t.Fatalf("call %d: after the echo: %+v", id, rest)
	}
}

func TestEcho(t *testing.T) {
	conn := sdktest.InProcess(t, &echo{})
	if err := conn.Configure(map[string]any{}); err != nil {
		t.Fatal(err)
	}
	echoes(t, conn, 1, 50)
}

// Calls at once on one plugin each get their own audio back.
func TestConcurrentCalls(t *testing.T) {
	conn := sdktest.InProcess(t, &echo{})
	if err := conn.Configure(map[string]any{"delay_ms": 20}); err != nil {
		t.Fatal(err)
	}
	calls := make([]*sdktest.Call, 10)
	for i := range calls {
		calls[i] = conn.StartCall(&sdk.Call{ID: fmt.Sprint("call-", i)}, nil)
	}
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Go(func() {
			for n := range 30 {
				c.SendAudio(frame(i, n))
			}
		})
	}
	wg.Wait()
	for i, c := range calls {
		audio, _ := collect(t, c, 30, "")
		for n, a := range audio {
			if !bytes.Equal(a, frame(i, n)) {
				t.Fatalf("call %d: chunk %d is not its frame %d", i, n, n)
			}
		}
	}
}

// With delay_ms, audio comes back in order and never sooner than the delay
// after it was sent. (A lower bound only: it cannot flake on a slow machine.)
// Digits are not delayed.
func TestDelay(t *testing.T) {
	const delay = 100 * time.Millisecond
	conn := sdktest.InProcess(t, &echo{})
	if err := conn.Configure(map[string]any{"delay_ms": delay.Milliseconds()}); err != nil {
		t.Fatal(err)
	}
	call := conn.StartCall(&sdk.Call{ID: "delayed"}, nil)
	const frames = 10
	sent := make([]time.Time, frames)
	for n := range frames {
		sent[n] = time.Now()
		if err := call.SendAudio(frame(1, n)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // spread the frames over the delay
	}
	call.PressDigit("#")
	var digits string
	for n := 0; n < frames; {
		r, err := call.Next(wait)
		if err != nil {
			t.Fatal(err)
		}
		if r.DTMF != "" {
			digits += r.DTMF
			continue
		}
		if since := time.Since(sent[n]); since < delay {
			t.Fatalf("frame %d came back after %v, before the %v delay", n, since, delay)
		}
		if !bytes.Equal(r.Audio, frame(1, n)) {
			t.Fatalf("chunk %d is not frame %d: %+v", n, n, r)
		}
		n++
	}
	if digits == "" {
		r, err := call.Next(wait)
		if err != nil || r.DTMF != "#" {
			t.Fatalf("digit: %+v, %v", r, err)
		}
	}
}

// Frames still waiting out the delay when the caller hangs up are dropped,
// and the session ends.
func TestHangupDuringDelay(t *testing.T) {
	conn := sdktest.InProcess(t, &echo{})
	if err := conn.Configure(map[string]any{"delay_ms": 5000}); err != nil {
		t.Fatal(err)
	}
	call := conn.StartCall(&sdk.Call{ID: "short"}, nil)
	for n := range 5 {
		call.SendAudio(frame(1, n))
	}
	for _, r := range hangupAndDrain(t, call) {
		if r.Audio != nil {
			// Possible only if the hangup took the whole delay to arrive.
			t.Logf("audio after hangup: %d bytes", len(r.Audio))
		}
	}
}

// The answer_delay_ms agent parameter keeps the caller ringing: the session
// starts no sooner than that. (A lower bound only, so it cannot flake.)
func TestAnswerDelay(t *testing.T) {
	conn := sdktest.InProcess(t, &echo{})
	if err := conn.Configure(map[string]any{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	call := conn.StartCall(&sdk.Call{ID: "late"}, map[string]string{"answer_delay_ms": "150"})
	if since := time.Since(start); since < 150*time.Millisecond {
		t.Fatalf("answered after %v, want at least 150ms", since)
	}
	call.SendAudio(frame(1, 0))
	audio, _ := collect(t, call, 1, "")
	if !bytes.Equal(audio[0], frame(1, 0)) {
		t.Fatal("no echo after a delayed answer")
	}
}

func TestNoDTMFEcho(t *testing.T) {
	conn := sdktest.InProcess(t, &echo{})
	if err := conn.Configure(map[string]any{"echo_dtmf": false}); err != nil {
		t.Fatal(err)
	}
	call := conn.StartCall(&sdk.Call{ID: "quiet"}, nil)
	call.PressDigit("1")
	call.SendAudio(frame(1, 0))
	collect(t, call, 1, "")
	// A digit echoed before the audio would be in the stream before it ends.
	for _, r := range hangupAndDrain(t, call) {
		if r.DTMF != "" {
			t.Fatalf("digit echoed with echo_dtmf = false: %+v", r)
		}
	}
}

// Marks follow the audio they close on the same channel, so their place in
// the stream is exact: with 20 ms frames and mark_every_ms = 40, a mark after
// every second frame.
func TestMarks(t *testing.T) {
	conn := sdktest.InProcess(t, &echo{})
	if err := conn.Configure(map[string]any{"mark_every_ms": 40}); err != nil {
		t.Fatal(err)
	}
	call := conn.StartCall(&sdk.Call{ID: "marks"}, nil)
	for n := range 5 {
		call.SendAudio(frame(1, n))
	}
	var got []string
	for len(got) < 7 {
		r, err := call.Next(wait)
		if err != nil {
			t.Fatalf("got %v: %v", got, err)
		}
		switch {
		case r.Audio != nil:
			got = append(got, "audio")
		case r.Mark != "":
			got = append(got, r.Mark)
		default:
			t.Fatalf("unexpected %+v", r)
		}
	}
	want := "audio audio echo-1 audio audio echo-2 audio"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
	}
	// The daemon reports marks played; the connector logs them.
	if err := call.MarkPlayed("echo-1"); err != nil {
		t.Fatal(err)
	}
	hangupAndDrain(t, call)
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		cfg  string
		want string // empty: accepted
	}{
		{`{}`, ""},
		{`{"delay_ms":0,"echo_dtmf":true,"mark_every_ms":0}`, ""},
		{`{"delay_ms":5000,"mark_every_ms":20}`, ""},
		{`{"delay_ms":5001}`, "delay_ms 5001 is out of range: use 0 (no delay) to 5000"},
		{`{"delay_ms":-1}`, "delay_ms -1 is out of range"},
		{`{"mark_every_ms":10}`, "mark_every_ms 10 is out of range: use 0 (no marks) or 20 to 600000"},
		{`{"delay_ms":-1,"mark_every_ms":-5}`, "mark_every_ms -5"},
		{`{"delay":100}`, `unknown field "delay"`},
		{`{"echo_dtmf":"yes"}`, "echo_dtmf"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg, func(t *testing.T) {
			conn := sdktest.InProcess(t, &echo{})
			err := conn.Configure(json.RawMessage(tt.cfg))
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDelayQueue(t *testing.T) {
	var q delayQueue
	q.maxBytes = 1000
	t0 := time.Now()
	for i := range 200 {
		q.push([]byte{byte(i)}, t0.Add(time.Duration(i)*time.Millisecond))
		if i%3 == 2 { // pop as we go, so the queue compacts along the way
			if _, ok := q.popDue(t0.Add(time.Hour)); !ok {
				t.Fatal("nothing due")
			}
		}
	}
	var order []byte
	for {
		f, ok := q.popDue(t0.Add(time.Hour))
		if !ok {
			break
		}
		order = append(order, f[0])
	}
	if len(order) != 200-66 || q.len() != 0 || q.bytes != 0 {
		t.Fatalf("drained %d, len %d, bytes %d", len(order), q.len(), q.bytes)
	}
	for i := 1; i < len(order); i++ {
		if order[i] != order[i-1]+1 {
			t.Fatalf("out of order at %d: %v", i, order)
		}
	}
	// Not due yet.
	q.push([]byte{1}, t0.Add(time.Second))
	if _, ok := q.popDue(t0); ok {
		t.Fatal("popped a frame before it was due")
	}
	// Over maxBytes: the oldest go.
	q = delayQueue{maxBytes: 3}
	for i := range 5 {
		q.push([]byte{byte(i)}, t0)
	}
	if q.len() != 3 || q.dropped != 2 {
		t.Fatalf("len %d dropped %d, want 3 and 2", q.len(), q.dropped)
	}
	if f, _ := q.popDue(t0); f[0] != 2 {
		t.Fatalf("head is frame %d, want 2", f[0])
	}
}

func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := sdktest.Build(t, ".")
	return bin
}

// The built binary over a real go-plugin connection and frame channel.
func TestBinary(t *testing.T) {
	conn := sdktest.Binary(t, buildPlugin(t), sdk.KindConnector)
	if info := conn.Info(); info.GetName() != "connector-echo" || info.GetKind() != sdk.KindConnector {
		t.Fatalf("Info() = %v", info)
	}
	if err := conn.Configure(map[string]any{"delay_ms": 9000}); err == nil || !strings.Contains(err.Error(), "delay_ms 9000") {
		t.Fatalf("bad config over the wire: %v", err)
	}
	if err := conn.Configure(map[string]any{"delay_ms": 0}); err != nil {
		t.Fatal(err)
	}
	// Calls one after the other, then at once, on the one frame channel.
	echoes(t, conn, 1, 50)
	calls := map[int]*sdktest.Call{}
	for id := 2; id < 5; id++ {
		calls[id] = conn.StartCall(&sdk.Call{ID: fmt.Sprint("call-", id)}, nil)
	}
	var wg sync.WaitGroup
	for id, call := range calls {
		wg.Go(func() {
			for n := range 40 {
				call.SendAudio(frame(id, n))
			}
		})
	}
	wg.Wait()
	for id, call := range calls {
		audio, _ := collect(t, call, 40, "")
		for n, a := range audio {
			if !bytes.Equal(a, frame(id, n)) {
				t.Fatalf("call %d: chunk %d is not frame %d", id, n, n)
			}
		}
		hangupAndDrain(t, call)
	}
}
