package media

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/voxgate/voxgate/daemon/codec"
)

// waitTimeout bounds every wait in these tests; it is a hang guard, never
// a speed assertion.
const waitTimeout = 10 * time.Second

// recorder is a Handler that records everything.
type recorder struct {
	mu       sync.Mutex
	audio    []byte
	frames   int
	badFrame int
	digits   []byte
	marks    []string
	markOut  []uint64 // Stats().PacketsOut when each mark fired
	timeouts int
	sess     *Session
	changed  chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) notify() {
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recorder) OnAudio(frame []byte) {
	r.mu.Lock()
	if len(frame) != FrameBytes {
		r.badFrame++
	}
	r.audio = append(r.audio, frame...)
	r.frames++
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) OnDTMF(d byte) {
	r.mu.Lock()
	r.digits = append(r.digits, d)
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) OnMarkPlayed(name string) {
	r.mu.Lock()
	r.marks = append(r.marks, name)
	if r.sess != nil {
		r.markOut = append(r.markOut, r.sess.Stats().PacketsOut)
	}
	r.mu.Unlock()
	r.notify()
}

func (r *recorder) OnMediaTimeout() {
	r.mu.Lock()
	r.timeouts++
	r.mu.Unlock()
	r.notify()
}

// waitFor polls cond (under r.mu) until it holds.
func (r *recorder) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.changed:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func listenLoopback(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

type harness struct {
	sess *Session
	rec  *recorder
	peer *net.UDPConn // the far end
	addr netip.AddrPort
	done chan error
}

// start runs a session on a loopback socket whose negotiated remote is the
// peer socket (unless neg.Remote is already set).
func start(t *testing.T, neg Negotiated, mutate func(*Config)) *harness {
	t.Helper()
	local := listenLoopback(t)
	peer := listenLoopback(t)
	t.Cleanup(func() { peer.Close() })
	if !neg.Remote.IsValid() {
		neg.Remote = addrOf(peer)
	}
	cfg := Config{Local: local, LocalPort: int(addrOf(local).Port()), Neg: neg}
	if mutate != nil {
		mutate(&cfg)
	}
	rec := newRecorder()
	s := NewSession(cfg, rec)
	rec.sess = s
	h := &harness{sess: s, rec: rec, peer: peer, addr: addrOf(local), done: make(chan error, 1)}
	go func() { h.done <- s.Run(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		select {
		case <-h.done:
		case <-time.After(waitTimeout):
			t.Error("Run did not return after Close")
		}
	})
	return h
}

func pcmaNeg() Negotiated {
	return Negotiated{Codec: codec.PCMA, DTMFPayloadType: 101, Ptime: 20, Direction: DirSendRecv}
}

// rtpPacket builds a wire RTP packet.
func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, marker bool, payload []byte) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq,
		Timestamp: ts, SSRC: ssrc, Marker: marker}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

func (h *harness) send(t *testing.T, pkt []byte) {
	t.Helper()
	if _, err := h.peer.WriteToUDPAddrPort(pkt, h.addr); err != nil {
		t.Fatal(err)
	}
}

// recvRTP reads RTP packets from c until n arrived or the guard expires.
func recvRTP(t *testing.T, c *net.UDPConn, n int) ([]rtp.Packet, []netip.AddrPort) {
	t.Helper()
	var pkts []rtp.Packet
	var srcs []netip.AddrPort
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	defer c.SetReadDeadline(time.Time{})
	for len(pkts) < n {
		m, src, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("after %d of %d packets: %v", len(pkts), n, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:m]...)); err != nil {
			t.Fatalf("peer got invalid RTP: %v", err)
		}
		pkts = append(pkts, p)
		srcs = append(srcs, src)
	}
	return pkts, srcs
}

// noise returns n bytes of pseudo-random data.
func noise(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestReceive30msPCMAAs20msFrames(t *testing.T) {
	h := start(t, pcmaNeg(), nil)
	const packets = 10 // 300 ms = 15 frames
	payload := noise(1, packets*240)
	for i := range packets {
		h.send(t, rtpPacket(8, uint16(60000+i), uint32(1000+i*240), 0xC0FFEE, i == 0, payload[i*240:(i+1)*240]))
	}
	want := codec.AlawToL16(nil, payload)
	h.rec.waitFor(t, "15 frames", func() bool { return h.rec.frames >= 15 })
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if h.rec.badFrame != 0 {
		t.Fatalf("%d frames were not %d bytes", h.rec.badFrame, FrameBytes)
	}
	if !bytes.Equal(h.rec.audio, want) {
		t.Fatal("decoded audio differs from the A-law decoding of what was sent")
	}
	if back := codec.L16ToAlaw(nil, h.rec.audio); !bytes.Equal(back, payload) {
		t.Fatal("audio does not round-trip to the A-law bytes sent")
	}
	st := h.sess.Stats()
	if st.PacketsIn != packets || st.BytesIn != packets*(12+240) || st.LastRemote != addrOf(h.peer) {
		t.Fatalf("stats %+v", st)
	}
}

func TestSendPacedAndLatched(t *testing.T) {
	// The signalled address is a decoy: once the peer sends from another
	// port, media must follow it.
	decoy := listenLoopback(t)
	defer decoy.Close()
	neg := pcmaNeg()
	neg.Remote = addrOf(decoy)
	h := start(t, neg, nil)

	// Before latching, audio goes to the signalled address.
	if err := h.sess.WriteAudio(make([]byte, FrameBytes)); err != nil {
		t.Fatal(err)
	}
	recvRTP(t, decoy, 1)

	h.send(t, rtpPacket(8, 1, 160, 0xABCD, true, make([]byte, 160)))
	h.rec.waitFor(t, "latch", func() bool { return h.sess.Stats().LastRemote == addrOf(h.peer) })

	const frames = 10
	pcm := noise(2, frames*FrameBytes)
	if err := h.sess.WriteAudio(pcm); err != nil {
		t.Fatal(err)
	}
	h.sess.Mark("end")
	pkts, srcs := recvRTP(t, h.peer, frames)
	want := codec.L16ToAlaw(nil, pcm)
	for i, p := range pkts {
		if p.PayloadType != 8 || len(p.Payload) != 160 {
			t.Fatalf("packet %d: pt %d, %d bytes", i, p.PayloadType, len(p.Payload))
		}
		if !bytes.Equal(p.Payload, want[i*160:(i+1)*160]) {
			t.Fatalf("packet %d payload is not the A-law of frame %d", i, i)
		}
		if srcs[i] != h.addr {
			t.Fatalf("packet %d from %v, want %v", i, srcs[i], h.addr)
		}
		if i > 0 {
			prev := pkts[i-1]
			// A sender stalled for more than maxCatchUpTicks (a loaded
			// test machine) skips ahead: the timestamp follows wall time
			// and the marker bit flags the discontinuity.
			dts := p.Timestamp - prev.Timestamp
			skipped := p.Marker && dts > maxCatchUpTicks*160 && dts%160 == 0
			if p.Marker && !skipped {
				t.Fatalf("packet %d of a continuous stream has the marker bit", i)
			}
			if p.SequenceNumber != prev.SequenceNumber+1 || (dts != 160 && !skipped) || p.SSRC != prev.SSRC {
				t.Fatalf("packet %d: seq %d ts %d ssrc %x after seq %d ts %d ssrc %x", i,
					p.SequenceNumber, p.Timestamp, p.SSRC, prev.SequenceNumber, prev.Timestamp, prev.SSRC)
			}
		}
	}
	h.rec.waitFor(t, "mark", func() bool { return len(h.rec.marks) == 1 })
	h.rec.mu.Lock()
	if h.rec.marks[0] != "end" || h.rec.markOut[0] < frames+1 {
		t.Errorf("mark %q fired after %d packets, want >= %d", h.rec.marks[0], h.rec.markOut[0], frames+1)
	}
	h.rec.mu.Unlock()

	// After silence, the next packet has the marker bit, the timestamp has
	// advanced with wall time and the sequence number by one.
	time.Sleep(100 * time.Millisecond)
	if err := h.sess.WriteAudio(pcm[:FrameBytes]); err != nil {
		t.Fatal(err)
	}
	more, _ := recvRTP(t, h.peer, 1)
	last := pkts[frames-1]
	if !more[0].Marker || more[0].SequenceNumber != last.SequenceNumber+1 ||
		int32(more[0].Timestamp-last.Timestamp) < 2*160 || more[0].Timestamp%160 != last.Timestamp%160 {
		t.Fatalf("after silence: marker %v seq %d ts %d (last seq %d ts %d)", more[0].Marker,
			more[0].SequenceNumber, more[0].Timestamp, last.SequenceNumber, last.Timestamp)
	}
}

func TestMarksInOrderAfterAudio(t *testing.T) {
	h := start(t, pcmaNeg(), nil)
	h.sess.Mark("empty") // nothing queued: fires right away
	h.rec.waitFor(t, "immediate mark", func() bool { return len(h.rec.marks) == 1 })

	h.sess.WriteAudio(make([]byte, 3*FrameBytes))
	h.sess.Mark("a")
	h.sess.WriteAudio(make([]byte, FrameBytes+100)) // a partial frame is padded
	h.sess.Mark("b")
	h.sess.Mark("c")
	h.rec.waitFor(t, "marks", func() bool { return len(h.rec.marks) == 4 })
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if got := h.rec.marks; got[0] != "empty" || got[1] != "a" || got[2] != "b" || got[3] != "c" {
		t.Fatalf("marks %v", got)
	}
	if h.rec.markOut[1] < 3 || h.rec.markOut[2] < 5 || h.rec.markOut[3] < 5 {
		t.Fatalf("marks fired before their audio was sent: packets out %v", h.rec.markOut)
	}
}

func TestClearDropsQueuedAudio(t *testing.T) {
	h := start(t, pcmaNeg(), nil)
	if err := h.sess.WriteAudio(make([]byte, 250*FrameBytes)); err != nil { // 5 s
		t.Fatal(err)
	}
	h.sess.Mark("x")
	h.sess.Mark("y")
	recvRTP(t, h.peer, 3)
	if h.sess.Buffered() == 0 {
		t.Fatal("queue drained too early")
	}
	h.sess.Clear()
	h.rec.waitFor(t, "dropped marks", func() bool { return len(h.rec.marks) == 2 })
	if h.sess.Buffered() != 0 {
		t.Fatal("queue not empty after Clear")
	}
	h.rec.mu.Lock()
	if h.rec.marks[0] != "x" || h.rec.marks[1] != "y" {
		t.Errorf("marks %v", h.rec.marks)
	}
	h.rec.mu.Unlock()
	// Once the dropped marks have fired, nothing more is sent.
	sent := h.sess.Stats().PacketsOut
	time.Sleep(150 * time.Millisecond)
	if now := h.sess.Stats().PacketsOut; now != sent {
		t.Fatalf("%d packets sent after Clear", now-sent)
	}
	if sent >= 250 {
		t.Fatalf("the whole queue was sent (%d packets)", sent)
	}
}

func TestQueueBound(t *testing.T) {
	h := start(t, pcmaNeg(), func(c *Config) { c.QueueFrames = 4 })
	if err := h.sess.WriteAudio(make([]byte, 5*FrameBytes)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("oversized write: %v", err)
	}
	if err := h.sess.WriteAudio(make([]byte, 3)); !errors.Is(err, ErrOddLength) {
		t.Fatalf("odd write: %v", err)
	}
	if err := h.sess.WriteAudio(make([]byte, 4*FrameBytes)); err != nil {
		t.Fatal(err)
	}
}

func TestReceiveDTMF(t *testing.T) {
	h := start(t, pcmaNeg(), nil)
	seq := uint16(100)
	next := func() uint16 { seq++; return seq }
	ts := uint32(8000)
	for _, d := range []byte{1, 11, 12} {
		h.send(t, rtpPacket(8, next(), ts, 7, false, make([]byte, 160)))
		ts += 160
		for i := 1; i <= 5; i++ {
			h.send(t, rtpPacket(101, next(), ts, 7, i == 1, AppendDTMF(nil, DTMFEvent{Event: d, Volume: 10, Duration: uint16(160 * i)})))
		}
		for range 3 {
			h.send(t, rtpPacket(101, next(), ts, 7, false, AppendDTMF(nil, DTMFEvent{Event: d, End: true, Volume: 10, Duration: 800})))
		}
		ts += 800
	}
	h.rec.waitFor(t, "digits", func() bool { return len(h.rec.digits) >= 3 })
	time.Sleep(50 * time.Millisecond) // let any duplicate show up
	h.rec.mu.Lock()
	defer h.rec.mu.Unlock()
	if string(h.rec.digits) != "1#A" {
		t.Fatalf("digits %q, want \"1#A\"", h.rec.digits)
	}
	if st := h.sess.Stats(); st.DTMFIn != 3 {
		t.Fatalf("DTMFIn %d", st.DTMFIn)
	}
}

func TestSendDTMF(t *testing.T) {
	h := start(t, pcmaNeg(), nil)
	// Audio is playing when the digits are requested.
	if err := h.sess.WriteAudio(make([]byte, 50*FrameBytes)); err != nil {
		t.Fatal(err)
	}
	audioBefore, _ := recvRTP(t, h.peer, 2)
	if err := h.sess.SendDTMF("9*"); err != nil {
		t.Fatal(err)
	}
	if err := h.sess.SendDTMF("Z"); err == nil {
		t.Fatal("invalid digit accepted")
	}
	var events []rtp.Packet
	var audioAfter []rtp.Packet
	for len(audioAfter) < 2 {
		p, _ := recvRTP(t, h.peer, 1)
		switch {
		case p[0].PayloadType == 101:
			events = append(events, p[0])
		case len(events) == 0:
			audioBefore = append(audioBefore, p[0])
		default:
			audioAfter = append(audioAfter, p[0])
			if len(events) != 16 {
				t.Fatalf("audio interleaved with DTMF after %d event packets", len(events))
			}
		}
	}
	for i, p := range events {
		e, err := ParseDTMF(p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		k := i % 8
		wantEvent := []uint8{9, 10}[i/8]
		if e.Event != wantEvent || p.Timestamp != events[i/8*8].Timestamp {
			t.Fatalf("packet %d: event %d ts %d", i, e.Event, p.Timestamp)
		}
		if p.Marker != (k == 0) || e.End != (k >= 5) {
			t.Fatalf("packet %d: marker %v end %v", i, p.Marker, e.End)
		}
		if (k < 5 && e.Duration != uint16(160*(k+1))) || (k >= 5 && e.Duration != 800) {
			t.Fatalf("packet %d: duration %d", i, e.Duration)
		}
		if i > 0 && p.SequenceNumber != events[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: seq gap", i)
		}
	}
	if d := int32(events[8].Timestamp - events[0].Timestamp); d < 800+3*160 {
		t.Fatalf("second digit starts %d units after the first", d)
	}
	lastAudio := audioBefore[len(audioBefore)-1]
	if events[0].SequenceNumber != lastAudio.SequenceNumber+1 ||
		audioAfter[0].SequenceNumber != events[15].SequenceNumber+1 {
		t.Fatal("DTMF and audio do not share one sequence")
	}
	if events[0].SSRC != lastAudio.SSRC || !audioAfter[0].Marker {
		t.Fatal("DTMF not in the audio stream, or audio resumed without marker")
	}
	if int32(audioAfter[0].Timestamp-events[8].Timestamp) < 800 {
		t.Fatal("audio resumed inside the second event")
	}
	if st := h.sess.Stats(); st.DTMFOut != 2 {
		t.Fatalf("DTMFOut %d", st.DTMFOut)
	}

	noDTMF := pcmaNeg()
	noDTMF.DTMFPayloadType = -1
	if err := NewSession(Config{Neg: noDTMF}, nil).SendDTMF("1"); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Fatalf("without telephone-event: %v", err)
	}
}

func TestMediaTimeout(t *testing.T) {
	h := start(t, pcmaNeg(), func(c *Config) { c.MediaTimeout = 200 * time.Millisecond })
	h.rec.waitFor(t, "timeout after start", func() bool { return h.rec.timeouts == 1 })
	// Once per silence: media resumes, stops, and the timeout fires again.
	h.send(t, rtpPacket(8, 1, 0, 5, true, make([]byte, 160)))
	h.rec.waitFor(t, "second timeout", func() bool { return h.rec.timeouts == 2 })

	// A session we told the peer not to send to never times out.
	neg := pcmaNeg()
	neg.Direction = DirSendOnly
	h2 := start(t, neg, func(c *Config) { c.MediaTimeout = 50 * time.Millisecond })
	time.Sleep(300 * time.Millisecond)
	h2.rec.mu.Lock()
	defer h2.rec.mu.Unlock()
	if h2.rec.timeouts != 0 {
		t.Fatal("sendonly session timed out")
	}
}

func TestRecvOnlySendsNothing(t *testing.T) {
	neg := pcmaNeg()
	neg.Direction = DirRecvOnly
	h := start(t, neg, nil)
	h.sess.WriteAudio(make([]byte, 3*FrameBytes))
	h.sess.Mark("m")
	h.rec.waitFor(t, "mark", func() bool { return len(h.rec.marks) == 1 })
	if st := h.sess.Stats(); st.PacketsOut != 0 {
		t.Fatalf("recvonly session sent %d packets", st.PacketsOut)
	}
}

func TestRunStopsOnContextAndClose(t *testing.T) {
	local := listenLoopback(t)
	s := NewSession(Config{Local: local, Neg: pcmaNeg()}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(30 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run ignored cancellation")
	}
	// Run does not close the socket: it still works.
	if _, err := local.WriteToUDPAddrPort([]byte("x"), addrOf(local)); err != nil {
		t.Fatalf("socket closed by Run: %v", err)
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("second Run accepted")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.WriteAudio(make([]byte, 2)); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteAudio after Close: %v", err)
	}
	if err := NewSession(Config{Neg: Negotiated{Codec: codec.Codec{Name: "opus"}}, Local: listenLoopback(t)}, nil).Run(context.Background()); err == nil {
		t.Fatal("unsupported codec accepted")
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	peer := listenLoopback(t)
	defer peer.Close()
	for i := range 40 {
		local := listenLoopback(t)
		neg := pcmaNeg()
		neg.Remote = addrOf(peer)
		s := NewSession(Config{Local: local, Neg: neg, MediaTimeout: time.Second}, newRecorder())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		s.WriteAudio(make([]byte, 10*FrameBytes))
		s.Mark("m")
		s.SendDTMF("1")
		peer.WriteToUDPAddrPort(rtpPacket(8, 1, 1, 1, true, make([]byte, 160)), addrOf(local))
		time.Sleep(time.Millisecond)
		if i%2 == 0 {
			cancel()
		} else {
			s.Close()
		}
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Fatal("Run did not return")
		}
		cancel()
		s.Close()
	}
	deadline := time.Now().Add(waitTimeout)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, baseline %d\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The sender driven tick by tick: marker bit after silence, timestamps
// following the tick clock, sequence numbers following the packets.
func TestSenderTicks(t *testing.T) {
	local, peer := listenLoopback(t), listenLoopback(t)
	defer local.Close()
	defer peer.Close()
	neg := pcmaNeg()
	neg.Remote = addrOf(peer)
	rec := newRecorder()
	s := NewSession(Config{Local: local, Neg: neg}, rec)
	s.WriteAudio(make([]byte, 2*FrameBytes))
	s.Mark("two")
	s.tick(0)
	s.tick(1)
	s.tick(2) // empty: nothing sent, the timestamp moves on
	s.tick(3)
	s.WriteAudio(make([]byte, FrameBytes))
	s.tick(4)
	s.tick(5)
	pkts, _ := recvRTP(t, peer, 3)
	want := []struct {
		marker bool
		dts    uint32
		dseq   uint16
	}{{true, 0, 0}, {false, 160, 1}, {true, 4 * 160, 2}}
	for i, w := range want {
		p := pkts[i]
		if p.Marker != w.marker || p.Timestamp-pkts[0].Timestamp != w.dts || p.SequenceNumber-pkts[0].SequenceNumber != w.dseq {
			t.Errorf("packet %d: marker %v ts +%d seq +%d, want %+v", i, p.Marker,
				p.Timestamp-pkts[0].Timestamp, p.SequenceNumber-pkts[0].SequenceNumber, w)
		}
	}
	if len(rec.marks) != 1 || rec.markOut != nil {
		t.Fatalf("marks %v", rec.marks)
	}
	if st := s.Stats(); st.PacketsOut != 3 || st.BytesOut != 3*172 {
		t.Fatalf("stats %+v", st)
	}
}

// ---- the packet path without sockets ----

var (
	srcA = netip.MustParseAddrPort("192.0.2.1:4000")
	srcB = netip.MustParseAddrPort("192.0.2.2:5000")
	srcC = netip.MustParseAddrPort("192.0.2.3:6000")
)

func offline(rec *recorder) *Session {
	return NewSession(Config{Neg: pcmaNeg(), QueueFrames: 1}, rec)
}

func TestLatchAndRelatch(t *testing.T) {
	rec := newRecorder()
	s := offline(rec)
	seq := uint16(0)
	pkt := func(ssrc uint32) []byte {
		seq++
		return rtpPacket(8, seq, uint32(seq)*160, ssrc, false, make([]byte, 160))
	}
	s.handlePacket(pkt(1), srcA)
	if s.Stats().LastRemote != srcA {
		t.Fatal("did not latch to the first source")
	}
	// Two packets of the same stream from a new address: not yet.
	s.handlePacket(pkt(1), srcB)
	s.handlePacket(pkt(1), srcB)
	if s.Stats().LastRemote != srcA {
		t.Fatal("re-latched after two packets")
	}
	// A packet from the latched address resets the count.
	s.handlePacket(pkt(1), srcA)
	s.handlePacket(pkt(1), srcB)
	s.handlePacket(pkt(1), srcB)
	if s.Stats().LastRemote != srcA {
		t.Fatal("count not reset")
	}
	s.handlePacket(pkt(1), srcB)
	if s.Stats().LastRemote != srcB {
		t.Fatal("did not re-latch after three packets")
	}
	// Another stream from another address is ignored while ours is alive.
	for range 10 {
		s.handlePacket(pkt(2), srcC)
	}
	if s.Stats().LastRemote != srcB {
		t.Fatal("foreign stream hijacked the session")
	}
	st := s.Stats()
	if st.PacketsIn != 3 || st.PacketsDropped != 14 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPacketValidation(t *testing.T) {
	rec := newRecorder()
	s := offline(rec)
	good := rtpPacket(8, 10, 1600, 9, false, make([]byte, 160))
	bad := map[string][]byte{
		"short":       good[:11],
		"version 1":   append([]byte{0x40}, good[1:]...),
		"unknown pt":  rtpPacket(0, 11, 1760, 9, false, make([]byte, 160)),
		"comfort":     rtpPacket(13, 12, 1760, 9, false, []byte{40}),
		"bad padding": append(append([]byte{0xA0}, good[1:12]...), 0),
		"bad csrc":    append([]byte{0x8F}, good[1:20]...),
	}
	for name, p := range bad {
		s.handlePacket(p, srcA)
		if st := s.Stats(); st.PacketsIn != 0 || st.LastRemote.IsValid() {
			t.Fatalf("%s accepted", name)
		}
	}
	if st := s.Stats(); st.PacketsDropped != uint64(len(bad)) {
		t.Fatalf("dropped %d of %d", st.PacketsDropped, len(bad))
	}
	s.handlePacket(good, srcA)
	s.handlePacket(good, srcA) // duplicate
	s.handlePacket(rtpPacket(8, 5, 800, 9, false, make([]byte, 160)), srcA)
	if st := s.Stats(); st.PacketsIn != 1 || rec.frames != 1 {
		t.Fatalf("duplicate/late accepted: %+v, %d frames", st, rec.frames)
	}
	s.handlePacket(rtpPacket(8, 11, 1760, 9, false, make([]byte, 160)), srcA)
	if rec.frames != 2 {
		t.Fatalf("%d frames", rec.frames)
	}
	// A big jump back is a restarted sender, not a late packet.
	s.handlePacket(rtpPacket(8, 60000, 99, 9, false, make([]byte, 160)), srcA)
	if st := s.Stats(); st.PacketsIn != 3 {
		t.Fatalf("restart rejected: %+v", st)
	}
}

func TestLossIsFilledWithSilence(t *testing.T) {
	rec := newRecorder()
	s := offline(rec)
	loud := bytes.Repeat([]byte{0xAA}, 160) // A-law maximum
	s.handlePacket(rtpPacket(8, 1, 0, 3, false, loud), srcA)
	// Packets 2 and 3 are lost.
	s.handlePacket(rtpPacket(8, 4, 480, 3, false, loud), srcA)
	if rec.frames != 4 {
		t.Fatalf("%d frames, want 4", rec.frames)
	}
	for i := 1; i <= 2; i++ {
		if !bytes.Equal(rec.audio[i*FrameBytes:(i+1)*FrameBytes], make([]byte, FrameBytes)) {
			t.Fatalf("frame %d is not silence", i)
		}
	}
	if bytes.Equal(rec.audio[3*FrameBytes:], make([]byte, FrameBytes)) {
		t.Fatal("frame 3 should carry audio")
	}
}

// FuzzRTPInput feeds a sequence of arbitrary datagrams, each prefixed by a
// length byte and a source selector, to the receive path.
func FuzzRTPInput(f *testing.F) {
	seed := func(parts ...[]byte) []byte {
		var b []byte
		for i, p := range parts {
			b = append(b, byte(len(p)), byte(i))
			b = append(b, p...)
		}
		return b
	}
	f.Add(seed(rtpPacket(8, 1, 0, 1, true, make([]byte, 160)), rtpPacket(8, 2, 160, 1, false, make([]byte, 240))))
	f.Add(seed(rtpPacket(101, 1, 0, 1, true, AppendDTMF(nil, DTMFEvent{Event: 3})),
		rtpPacket(101, 2, 0, 1, false, AppendDTMF(nil, DTMFEvent{Event: 3, End: true}))))
	f.Add(seed([]byte{0x90, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xBE, 0xDE, 0, 1, 0x10, 0xFF, 0, 0}))
	f.Add([]byte{0x80})
	srcs := []netip.AddrPort{srcA, srcB, srcC}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec := newRecorder()
		s := offline(rec)
		for len(data) >= 2 {
			n, src := int(data[0]), srcs[int(data[1])%len(srcs)]
			data = data[2:]
			n = min(n, len(data))
			s.handlePacket(data[:n], src)
			data = data[n:]
		}
		if rec.badFrame != 0 {
			t.Fatal("frame of the wrong size")
		}
		for _, d := range rec.digits {
			if _, ok := DTMFEventCode(d); !ok {
				t.Fatalf("digit %q", d)
			}
		}
		st := s.Stats()
		if st.DTMFIn != uint64(len(rec.digits)) {
			t.Fatal("DTMF count mismatch")
		}
	})
}

// ---- allocations and benchmarks ----

type discard struct{ n int }

func (d *discard) OnAudio(f []byte)    { d.n += len(f) }
func (d *discard) OnDTMF(byte)         {}
func (d *discard) OnMarkPlayed(string) {}
func (d *discard) OnMediaTimeout()     {}

// packetStream produces consecutive packets of one stream in place.
type packetStream struct {
	buf []byte
	seq uint16
	ts  uint32
	n   int
}

func newPacketStream(pt uint8, samples int) *packetStream {
	return &packetStream{buf: rtpPacket(pt, 0, 0, 0x1234, false, noise(3, samples)), n: samples}
}

func (p *packetStream) next() []byte {
	p.seq++
	p.ts += uint32(p.n)
	p.buf[2], p.buf[3] = byte(p.seq>>8), byte(p.seq)
	p.buf[4], p.buf[5], p.buf[6], p.buf[7] = byte(p.ts>>24), byte(p.ts>>16), byte(p.ts>>8), byte(p.ts)
	return p.buf
}

func TestPacketPathZeroAllocs(t *testing.T) {
	for _, samples := range []int{160, 240} {
		s := NewSession(Config{Neg: pcmaNeg(), QueueFrames: 1}, &discard{})
		ps := newPacketStream(8, samples)
		for range 10 {
			s.handlePacket(ps.next(), srcA) // latch, warm up
		}
		if n := testing.AllocsPerRun(1000, func() { s.handlePacket(ps.next(), srcA) }); n != 0 {
			t.Errorf("%d-sample packets: %v allocs per packet", samples, n)
		}
	}
	// DTMF packets too.
	s := NewSession(Config{Neg: pcmaNeg(), QueueFrames: 1}, &discard{})
	ps := &packetStream{buf: rtpPacket(101, 0, 0, 1, false, AppendDTMF(nil, DTMFEvent{Event: 1, End: true})), n: 160}
	if n := testing.AllocsPerRun(1000, func() { s.handlePacket(ps.next(), srcA) }); n != 0 {
		t.Errorf("DTMF: %v allocs per packet", n)
	}
	// And the send path: queue a frame, encode and send it.
	local, sink := listenLoopback(t), listenLoopback(t)
	defer local.Close()
	defer sink.Close()
	neg := pcmaNeg()
	neg.Remote = addrOf(sink)
	s = NewSession(Config{Local: local, Neg: neg}, &discard{})
	frame := make([]byte, FrameBytes)
	var tick int64
	step := func() {
		s.WriteAudio(frame)
		s.tick(tick)
		tick++
	}
	for range 10 {
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("send: %v allocs per packet", n)
	}
}

func benchReceive(b *testing.B, pt uint8, payload []byte) {
	s := NewSession(Config{Neg: pcmaNeg(), QueueFrames: 1}, &discard{})
	ps := &packetStream{buf: rtpPacket(pt, 0, 0, 0x1234, false, payload), n: len(payload)}
	s.handlePacket(ps.next(), srcA)
	b.SetBytes(int64(len(ps.buf)))
	b.ReportAllocs()
	for b.Loop() {
		s.handlePacket(ps.next(), srcA)
	}
}

func BenchmarkReceivePCMA20ms(b *testing.B) { benchReceive(b, 8, noise(4, 160)) }
func BenchmarkReceivePCMA30ms(b *testing.B) { benchReceive(b, 8, noise(4, 240)) }
func BenchmarkReceiveDTMF(b *testing.B) {
	benchReceive(b, 101, AppendDTMF(nil, DTMFEvent{Event: 5, Duration: 160}))
}

func BenchmarkSendFrame(b *testing.B) {
	local, sink := listenLoopback(b), listenLoopback(b)
	defer local.Close()
	defer sink.Close()
	neg := pcmaNeg()
	neg.Remote = addrOf(sink)
	s := NewSession(Config{Local: local, Neg: neg}, &discard{})
	frame := noise(5, FrameBytes)
	var tick int64
	b.ReportAllocs()
	for b.Loop() {
		s.WriteAudio(frame)
		s.tick(tick)
		tick++
	}
}

// The playout ring starts small and grows; audio queued across a growth
// comes out in order, marks keep their place, and the bound still holds.
func TestRingGrowsKeepingOrderAndMarks(t *testing.T) {
	s := NewSession(Config{QueueFrames: 100}, nil)
	frame := func(i int) []byte {
		b := make([]byte, FrameBytes)
		for j := range b {
			b[j] = byte(i)
		}
		return b
	}
	// Wrap the small ring first so growth must unwrap it.
	for i := 0; i < 10; i++ {
		if err := s.WriteAudio(frame(i)); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	s.rpos += 8 * FrameBytes // as if the sender had played 8 frames
	s.mu.Unlock()
	s.Mark("after-11")
	_ = s.WriteAudio(frame(10))
	s.mu.Lock()
	s.marks[0].pos = s.wpos // put the mark after frame 10 explicitly
	s.mu.Unlock()
	for i := 11; i < 60; i++ {
		if err := s.WriteAudio(frame(i)); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if got := (s.wpos - s.rpos) / FrameBytes; got != 52 {
		t.Fatalf("queued %d frames, want 52", got)
	}
	for i := 8; i < 60; i++ {
		off := int((s.rpos + uint64(i-8)*FrameBytes) % uint64(len(s.ring)))
		if s.ring[off] != byte(i) {
			t.Fatalf("frame %d comes out as %d after growth", i, s.ring[off])
		}
	}
	if len(s.marks) != 1 || s.marks[0].pos != s.rpos+3*FrameBytes {
		t.Fatalf("mark moved: %+v (rpos %d)", s.marks, s.rpos)
	}
	s.mu.Unlock()
	err := s.WriteAudio(make([]byte, 49*FrameBytes))
	s.mu.Lock()
	if err != ErrQueueFull {
		t.Fatalf("writing past the 100-frame bound: %v, want ErrQueueFull", err)
	}
}
