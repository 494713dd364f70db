package wire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFrameRoundTrip(t *testing.T) {
	big := bytes.Repeat([]byte{0xAB}, MaxFramePayload)
	frames := []Frame{
		{Type: FrameAudio, Session: 1, Payload: []byte{1, 2, 3, 4}},
		{Type: FrameMark, Session: 1<<64 - 1, Payload: []byte("greeting-done")},
		{Type: FrameClear, Session: 42, Payload: []byte{}},
		{Type: FrameAudio, Session: 0x0102030405060708, Payload: big},
		{Type: 200, Session: 7, Payload: []byte("unknown types pass through")},
	}
	var stream []byte
	for _, f := range frames {
		stream = AppendFrame(stream, f.Type, f.Session, f.Payload)
	}
	r := bytes.NewReader(stream)
	var buf []byte
	for i, want := range frames {
		var got Frame
		var err error
		got, buf, err = ReadFrame(r, buf)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got.Type != want.Type || got.Session != want.Session || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("frame %d: got type %d session %d %d bytes, want type %d session %d %d bytes",
				i, got.Type, got.Session, len(got.Payload), want.Type, want.Session, len(want.Payload))
		}
	}
	if _, _, err := ReadFrame(r, buf); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

// The encoding is the one sdk/docs/frame-channel.md specifies.
func TestFrameBytes(t *testing.T) {
	got := AppendFrame(nil, FrameMark, 0x0102030405060708, []byte("ab"))
	want := []byte{
		0, 0, 0, 11, // length of type + session + payload
		2,                      // type: mark
		1, 2, 3, 4, 5, 6, 7, 8, // session id, big-endian
		'a', 'b',
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendFrame = % x, want % x", got, want)
	}
}

func header(length uint32, typ byte, session uint64) []byte {
	h := make([]byte, 13)
	binary.BigEndian.PutUint32(h, length)
	h[4] = typ
	binary.BigEndian.PutUint64(h[5:], session)
	return h
}

// countingReader counts how much of the stream the reader consumed.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestReadFrameRefusesOversize(t *testing.T) {
	for _, length := range []uint32{9 + MaxFramePayload + 1, 1 << 31, 1<<32 - 1} {
		t.Run(fmt.Sprint(length), func(t *testing.T) {
			// The payload is never read, let alone allocated.
			cr := &countingReader{r: io.MultiReader(bytes.NewReader(header(length, FrameAudio, 1)), zeroReader{})}
			f, buf, err := ReadFrame(cr, nil)
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("err = %v, want ErrFrameTooLarge", err)
			}
			if cr.n != 13 {
				t.Errorf("read %d bytes, want only the 13-byte header", cr.n)
			}
			if f.Payload != nil || cap(buf) > 13 {
				t.Errorf("allocated a buffer of %d bytes for a refused frame", cap(buf))
			}
		})
	}
	// The largest allowed frame is read.
	p := bytes.Repeat([]byte{1}, MaxFramePayload)
	f, _, err := ReadFrame(bytes.NewReader(AppendFrame(nil, FrameAudio, 1, p)), nil)
	if err != nil || len(f.Payload) != MaxFramePayload {
		t.Fatalf("max-size frame: %d bytes, %v", len(f.Payload), err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestReadFrameRefusesShortLengthAndTruncation(t *testing.T) {
	for length := range uint32(9) {
		_, _, err := ReadFrame(bytes.NewReader(header(length, FrameAudio, 1)), nil)
		if err == nil || !strings.Contains(err.Error(), "shorter than the header") {
			t.Errorf("length %d: err = %v, want a short-length error", length, err)
		}
	}
	// A frame cut in its payload.
	whole := AppendFrame(nil, FrameAudio, 1, make([]byte, 100))
	_, _, err := ReadFrame(bytes.NewReader(whole[:50]), nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated payload: err = %v, want io.ErrUnexpectedEOF", err)
	}
	// A frame cut in its header.
	_, _, err = ReadFrame(bytes.NewReader(whole[:5]), nil)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated header: err = %v, want io.ErrUnexpectedEOF", err)
	}
}

// ReadFrame reuses the caller's buffer instead of allocating per frame.
func TestReadFrameReusesBuffer(t *testing.T) {
	var stream []byte
	for range 100 {
		stream = AppendFrame(stream, FrameAudio, 1, make([]byte, 320))
	}
	r := bytes.NewReader(stream)
	buf := make([]byte, 0, 4096)
	allocs := testing.AllocsPerRun(1, func() {
		r.Reset(stream)
		for range 100 {
			var err error
			if _, buf, err = ReadFrame(r, buf); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations reading 100 frames into a big enough buffer, want 0", allocs)
	}
}

// FuzzReadFrame: whatever bytes arrive, ReadFrame never panics, never holds
// more than MaxFramePayload, and a frame it accepts re-encodes to the bytes
// it consumed.
func FuzzReadFrame(f *testing.F) {
	f.Add(AppendFrame(nil, FrameAudio, 1, []byte{1, 2, 3, 4}))
	f.Add(AppendFrame(AppendFrame(nil, FrameMark, 9, []byte("m")), FrameClear, 9, nil))
	f.Add(header(9+MaxFramePayload, FrameAudio, 1))
	f.Add(header(9+MaxFramePayload+1, FrameAudio, 1))
	f.Add(header(1<<32-1, FrameAudio, 1))
	f.Add(header(0, 0, 0))
	f.Add([]byte("VXFC\x00\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		var buf []byte
		consumed := 0
		for {
			fr, nbuf, err := ReadFrame(r, buf)
			if cap(nbuf) > MaxFramePayload && cap(nbuf) != cap(buf) {
				t.Fatalf("ReadFrame allocated %d bytes", cap(nbuf))
			}
			buf = nbuf
			if err != nil {
				return
			}
			if len(fr.Payload) > MaxFramePayload {
				t.Fatalf("payload of %d bytes", len(fr.Payload))
			}
			n := 13 + len(fr.Payload)
			if re := AppendFrame(nil, fr.Type, fr.Session, fr.Payload); !bytes.Equal(re, data[consumed:consumed+n]) {
				t.Fatalf("re-encoding differs from the input")
			}
			consumed += n
		}
	})
}

// socketDir is short: a unix socket path must fit in 108 bytes.
func socketDir(t testing.TB) string {
	dir, err := os.MkdirTemp("", "vxfc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// pair opens a frame channel over a real unix socket: daemon end, plugin end.
func pair(t testing.TB) (daemon, plugin *FrameConn) {
	t.Helper()
	ln, err := ListenFrames(filepath.Join(socketDir(t), "run"), "frames.sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	accepted := make(chan error, 1)
	go func() {
		var err error
		daemon, err = ln.Accept(ctx)
		accepted <- err
	}()
	plugin, err = DialFrames(ctx, ln.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Close(); plugin.Close() })
	return daemon, plugin
}

func TestListenFramesMakesPrivateDir(t *testing.T) {
	dir := filepath.Join(socketDir(t), "run")
	ln, err := ListenFrames(dir, "x.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode %v, want 0700", st.Mode().Perm())
	}
	// A stale socket left by a killed daemon does not stop a new listener.
	ln.ln.SetUnlinkOnClose(false)
	ln.ln.Close()
	ln2, err := ListenFrames(dir, "x.sock")
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	ln2.Close()
	if _, err := os.Stat(ln2.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left the socket file: %v", err)
	}
}

// Many sessions multiplexed on one channel, both ways at once: every frame
// arrives, intact, in the order its session sent it.
func TestFrameChannelMultiplexesSessions(t *testing.T) {
	const sessions, perSession = 200, 100
	daemon, plugin := pair(t)

	payload := func(session uint64, seq int) []byte {
		p := make([]byte, 320)
		binary.BigEndian.PutUint64(p, session)
		binary.BigEndian.PutUint32(p[8:], uint32(seq))
		for i := 12; i < len(p); i++ {
			p[i] = byte(int(session) + seq + i)
		}
		return p
	}
	// receive checks order and content per session and reports when all
	// frames have arrived.
	receive := func(fc *FrameConn) (<-chan struct{}, *atomic.Value) {
		done := make(chan struct{})
		var failure atomic.Value
		next := make(map[uint64]int)
		total := 0
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go fc.Serve(ctx, func(f Frame) {
			want := payload(f.Session, next[f.Session])
			if f.Type != FrameAudio || !bytes.Equal(f.Payload, want) {
				failure.CompareAndSwap(nil, fmt.Sprintf("session %d frame %d: type %d, payload differs", f.Session, next[f.Session], f.Type))
			}
			next[f.Session]++
			if total++; total == sessions*perSession {
				close(done)
			}
		})
		return done, &failure
	}
	atDaemon, daemonFailure := receive(daemon)
	atPlugin, pluginFailure := receive(plugin)

	var wg sync.WaitGroup
	for s := range uint64(sessions) {
		for _, fc := range []*FrameConn{daemon, plugin} {
			wg.Go(func() {
				for seq := range perSession {
					if err := fc.Write(FrameAudio, s+1, payload(s+1, seq)); err != nil {
						t.Errorf("session %d write: %v", s+1, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	for name, ch := range map[string]<-chan struct{}{"daemon": atDaemon, "plugin": atPlugin} {
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s did not receive all %d frames", name, sessions*perSession)
		}
	}
	for _, f := range []*atomic.Value{daemonFailure, pluginFailure} {
		if msg := f.Load(); msg != nil {
			t.Fatal(msg)
		}
	}
}

func TestFrameConnWriteAfterClose(t *testing.T) {
	daemon, plugin := pair(t)
	plugin.Close()
	if err := plugin.Write(FrameAudio, 1, []byte{1}); err == nil {
		t.Fatal("write on a closed channel succeeded")
	}
	if err := daemon.Write(FrameAudio, 1, make([]byte, MaxFramePayload+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize write: %v, want ErrFrameTooLarge", err)
	}
	// The daemon's reader sees the channel end.
	err := daemon.Serve(context.Background(), func(Frame) {})
	if err == nil {
		t.Fatal("Serve returned nil after the peer closed")
	}
}

// The daemon refuses a peer that does not say hello properly.
func TestAcceptChecksHello(t *testing.T) {
	for _, tc := range []struct {
		name, hello, want string
	}{
		{"wrong magic", "HTTP\x00\x00\x00\x01", "bad hello"},
		{"other version", "VXFC\x00\x00\x00\x02", "frame protocol 2, daemon 1"},
		{"short", "VXF", "read hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := ListenFrames(socketDir(t), "f.sock")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				c, err := net.Dial("unix", ln.Path())
				if err != nil {
					return
				}
				c.Write([]byte(tc.hello))
				c.(*net.UnixConn).CloseWrite()
				io.Copy(io.Discard, c)
				c.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			fc, err := ln.Accept(ctx)
			if err == nil {
				fc.Close()
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDialFramesSaysHello(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(socketDir(t), "h.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b := make([]byte, 8)
		io.ReadFull(c, b)
		got <- b
	}()
	fc, err := DialFrames(context.Background(), ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Close()
	if b := <-got; string(b) != "VXFC\x00\x00\x00\x01" {
		t.Fatalf("hello = %q, want \"VXFC\\x00\\x00\\x00\\x01\"", b)
	}
	if _, err := DialFrames(context.Background(), filepath.Join(socketDir(t), "none.sock")); err == nil {
		t.Fatal("dialing a missing socket succeeded")
	}
}

// BenchmarkFrameChannel measures the channel end to end over a real unix
// socket: 20 ms L16 frames (320 bytes) from 100 sessions, written by the
// plugin end, read and dispatched by the daemon end.
func BenchmarkFrameChannel(b *testing.B) {
	const sessions = 100
	daemon, plugin := pair(b)
	var got atomic.Int64
	done := make(chan struct{})
	want := int64(b.N)
	go daemon.Serve(context.Background(), func(Frame) {
		if got.Add(1) == want {
			close(done)
		}
	})
	frame := make([]byte, 320)
	b.SetBytes(int64(13 + len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := plugin.Write(FrameAudio, uint64(i%sessions)+1, frame); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkReadFrame is the daemon's per-frame decoding cost alone.
func BenchmarkReadFrame(b *testing.B) {
	var stream []byte
	for range 1000 {
		stream = AppendFrame(stream, FrameAudio, 7, make([]byte, 320))
	}
	r := bytes.NewReader(stream)
	br := bufio.NewReader(r)
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(stream) / 1000))
	b.ReportAllocs()
	for i := range b.N {
		if i%1000 == 0 {
			r.Reset(stream)
			br.Reset(r)
		}
		var err error
		if _, buf, err = ReadFrame(br, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// A peer that stops reading breaks the channel (write deadline) instead of
// blocking the writer for ever; Broken then says why.
func TestFrameConnPeerStopsReading(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	fc := newFrameConn(a)
	defer fc.Close()
	frame := make([]byte, 320)
	var err error
	for i := 0; i < 10_000 && err == nil; i++ {
		err = fc.Write(FrameAudio, 1, frame)
	}
	if err == nil {
		t.Fatal("10,000 frames to a peer that never reads were all accepted")
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write error %v, want a deadline error", err)
	}
	if fc.Broken() == nil {
		t.Fatal("Broken() is nil after a failed write")
	}
	if err := fc.Write(FrameAudio, 1, frame); err == nil {
		t.Fatal("a broken channel accepted another frame")
	}
}
