package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The frame channel carries a connector plugin's audio: one unix socket per
// plugin process, every call multiplexed on it, length-prefixed binary frames
// tagged with the session id. sdk/docs/frame-channel.md specifies it byte by
// byte. One frame per 20 ms per call on gRPC costs over a core at 1,000
// calls; this costs a twentieth of that (shared/research/ipc.md).

// Frame types.
const (
	FrameAudio byte = 1 // payload: L16 little-endian samples
	FrameMark  byte = 2 // payload: the mark's name, UTF-8 (plugin to daemon)
	FrameClear byte = 3 // no payload: drop queued audio (plugin to daemon)
)

const (
	frameHeaderLen = 4 + 1 + 8 // length, type, session id
	// MaxFramePayload bounds one frame; a peer that sends more is cut off.
	MaxFramePayload = 16 * 1024
	// hello is written by the plugin right after it dials.
	helloMagic = "VXFC"
	// FlushDelay is how long written frames may wait to be batched.
	FlushDelay = time.Millisecond
	// WriteTimeout bounds a write to the socket: a peer that stops reading
	// (hung, not dead) breaks the channel instead of stalling every call
	// on it. A broken channel fails every later write; see Broken.
	WriteTimeout = 2 * time.Second
)

// ErrFrameTooLarge means the peer sent a frame over MaxFramePayload.
var ErrFrameTooLarge = errors.New("frame channel: frame larger than allowed")

// Frame is one decoded frame. Payload aliases the reader's buffer and is only
// valid until the next read.
type Frame struct {
	Type    byte
	Session uint64
	Payload []byte
}

// AppendFrame encodes one frame onto dst.
func AppendFrame(dst []byte, typ byte, session uint64, payload []byte) []byte {
	var hdr [frameHeaderLen]byte
	binary.BigEndian.PutUint32(hdr[0:4], uint32(1+8+len(payload)))
	hdr[4] = typ
	binary.BigEndian.PutUint64(hdr[5:13], session)
	dst = append(dst, hdr[:]...)
	return append(dst, payload...)
}

// ReadFrame reads one frame from r into buf (which it may grow) and returns
// it with the buffer to reuse next time. With the buffer reused it does not
// allocate; it never allocates more than MaxFramePayload.
func ReadFrame(r io.Reader, buf []byte) (Frame, []byte, error) {
	// The header is read into buf too: a local array would escape to the
	// heap through the io.Reader and cost an allocation per frame.
	if cap(buf) < frameHeaderLen {
		buf = make([]byte, frameHeaderLen)
	}
	hdr := buf[:frameHeaderLen]
	if _, err := io.ReadFull(r, hdr); err != nil {
		return Frame{}, buf, err
	}
	n := binary.BigEndian.Uint32(hdr[0:4])
	typ, session := hdr[4], binary.BigEndian.Uint64(hdr[5:13])
	if n < 9 {
		return Frame{}, buf, fmt.Errorf("frame channel: length %d shorter than the header", n)
	}
	// Compare before converting: on a 32-bit platform int(n-9) can be
	// negative and would slip past the bound.
	if n-9 > MaxFramePayload {
		return Frame{}, buf, fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, n-9)
	}
	plen := int(n - 9)
	if cap(buf) < plen {
		buf = make([]byte, plen, MaxFramePayload)
	}
	buf = buf[:plen]
	if _, err := io.ReadFull(r, buf); err != nil {
		return Frame{}, buf, fmt.Errorf("frame channel: short frame: %w", err)
	}
	return Frame{Type: typ, Session: session, Payload: buf}, buf, nil
}

// FrameConn is one end of the frame channel. Writes are buffered and flushed
// about every millisecond, so many calls' frames share one syscall.
type FrameConn struct {
	conn net.Conn

	mu      sync.Mutex
	bw      *bufio.Writer
	pending bool
	err     error
	scratch []byte

	kick   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newFrameConn(c net.Conn) *FrameConn {
	fc := &FrameConn{
		conn:    c,
		bw:      bufio.NewWriterSize(c, 64*1024),
		kick:    make(chan struct{}, 1),
		closed:  make(chan struct{}),
		scratch: make([]byte, 0, 2048),
	}
	go fc.flushLoop()
	return fc
}

// Write queues one frame. It never waits for the peer longer than a buffer
// flush; an error means the channel is gone.
func (fc *FrameConn) Write(typ byte, session uint64, payload []byte) error {
	if len(payload) > MaxFramePayload {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload))
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.err != nil {
		return fc.err
	}
	fc.scratch = AppendFrame(fc.scratch[:0], typ, session, payload)
	if len(fc.scratch) > fc.bw.Available() {
		fc.conn.SetWriteDeadline(time.Now().Add(WriteTimeout)) // the buffer will go to the socket
	}
	if _, err := fc.bw.Write(fc.scratch); err != nil {
		fc.err = fmt.Errorf("frame channel write: %w", err)
		return fc.err
	}
	if !fc.pending {
		fc.pending = true
		select {
		case fc.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

func (fc *FrameConn) flushLoop() {
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-fc.closed:
			return
		case <-fc.kick:
		}
		t.Reset(FlushDelay)
		select {
		case <-fc.closed:
			t.Stop()
			return
		case <-t.C:
		}
		fc.mu.Lock()
		if fc.err == nil {
			fc.conn.SetWriteDeadline(time.Now().Add(WriteTimeout))
			if err := fc.bw.Flush(); err != nil {
				fc.err = fmt.Errorf("frame channel flush: %w", err)
			}
		}
		fc.pending = false
		fc.mu.Unlock()
	}
}

// Broken reports why the channel no longer works, or nil.
func (fc *FrameConn) Broken() error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.err
}

// Serve reads frames until the connection fails or ctx ends, handing each to
// fn. fn must not keep Payload after it returns.
func (fc *FrameConn) Serve(ctx context.Context, fn func(Frame)) error {
	stop := context.AfterFunc(ctx, func() { fc.Close() })
	defer stop()
	r := bufio.NewReaderSize(fc.conn, 64*1024)
	buf := make([]byte, 0, 4096)
	for {
		var f Frame
		var err error
		f, buf, err = ReadFrame(r, buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		fn(f)
	}
}

// Close closes the connection.
func (fc *FrameConn) Close() error {
	var err error
	fc.once.Do(func() {
		close(fc.closed)
		fc.mu.Lock()
		if fc.err == nil {
			fc.err = errors.New("frame channel closed")
		}
		fc.mu.Unlock()
		err = fc.conn.Close()
	})
	return err
}

// DialFrames is the plugin side: it dials the daemon's socket and says hello.
func DialFrames(ctx context.Context, path string) (*FrameConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("frame channel: dial %s: %w", path, err)
	}
	var hello [8]byte
	copy(hello[:4], helloMagic)
	binary.BigEndian.PutUint32(hello[4:], ProtocolVersion)
	if _, err := c.Write(hello[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("frame channel: hello: %w", err)
	}
	return newFrameConn(c), nil
}

// FrameListener is the daemon side: a unix socket in a private directory that
// the plugin dials once per process.
type FrameListener struct {
	ln   *net.UnixListener
	path string
}

// ListenFrames creates dir (0700) if needed and listens on dir/name,
// removing a stale socket file left by a daemon that was killed.
func ListenFrames(dir, name string) (*FrameListener, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("frame channel: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("frame channel: chmod %s: %w", dir, err)
	}
	path := filepath.Join(dir, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("frame channel: remove stale %s: %w", path, err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("frame channel: listen %s: %w", path, err)
	}
	return &FrameListener{ln: ln, path: path}, nil
}

// Path is the socket path to name to the plugin.
func (l *FrameListener) Path() string { return l.path }

// Accept waits for the plugin to dial and checks its hello.
func (l *FrameListener) Accept(ctx context.Context) (*FrameConn, error) {
	stop := context.AfterFunc(ctx, func() { l.ln.SetDeadline(time.Now()) })
	defer stop()
	c, err := l.ln.Accept()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("frame channel: accept: %w", err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hello [8]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("frame channel: read hello: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	if string(hello[:4]) != helloMagic {
		c.Close()
		return nil, fmt.Errorf("frame channel: bad hello %q", hello[:4])
	}
	if v := binary.BigEndian.Uint32(hello[4:]); v != ProtocolVersion {
		c.Close()
		return nil, fmt.Errorf("frame channel: plugin speaks frame protocol %d, daemon %d", v, ProtocolVersion)
	}
	return newFrameConn(c), nil
}

// Close stops listening and removes the socket file.
func (l *FrameListener) Close() error {
	err := l.ln.Close()
	os.Remove(l.path)
	return err
}
