package media

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/voxgate/voxgate/daemon/codec"
)

// Framing of the audio handed to and taken from the session: 20 ms of 8 kHz
// mono L16. The session only carries 8 kHz single-byte-per-sample codecs
// (G.711), so one frame is also 160 payload bytes and 160 timestamp units.
const (
	FrameDuration = 20 * time.Millisecond
	FrameSamples  = 160
	FrameBytes    = 2 * FrameSamples

	defaultQueueFrames = 500 // 10 s
	readBufSize        = 4096
	rtpHeaderSize      = 12
	maxMisorder        = 100  // older packets within this many sequence numbers are duplicates or late
	maxGapFill         = 8000 // at most 1 s of silence is inserted for lost packets
	relatchPackets     = 3    // consecutive packets from a new source before re-latching
	relatchIdle        = time.Second
	maxCatchUpTicks    = 5 // a sender this many ticks late skips instead of bursting
)

// Errors of Session.
var (
	ErrClosed           = errors.New("media: session closed")
	ErrQueueFull        = errors.New("media: playout queue full")
	ErrOddLength        = errors.New("media: L16 audio must be a whole number of 16-bit samples")
	ErrNoTelephoneEvent = errors.New("media: peer did not negotiate telephone-event")
)

// Handler receives the session's events. OnAudio and OnDTMF are called
// from the reader goroutine, OnMarkPlayed and OnMediaTimeout from the
// sender, which runs on a pacer goroutine shared by many sessions: two
// methods may run concurrently, but each of the two groups is called
// sequentially. Handlers must not block: a blocked OnMarkPlayed or
// OnMediaTimeout delays every session on its pacer. They may call any
// Session method.
type Handler interface {
	// OnAudio delivers one 20 ms frame (FrameBytes of L16), decoded from
	// the peer's codec and re-framed to 20 ms whatever ptime the peer
	// uses. The slice is only valid during the call.
	OnAudio(frame []byte)
	// OnDTMF reports one RFC 4733 event as its digit: 0-9 * # A-D.
	OnDTMF(digit byte)
	// OnMarkPlayed reports that the paced sender reached a mark queued
	// with Mark, or that the mark was dropped by Clear.
	OnMarkPlayed(name string)
	// OnMediaTimeout reports that no RTP arrived for Config.MediaTimeout.
	OnMediaTimeout()
}

// Config configures a Session.
type Config struct {
	Local        *net.UDPConn // the RTP socket; the session owns it and Close closes it
	LocalPort    int          // its port, for logs
	Neg          Negotiated   // the outcome of the offer/answer
	MediaTimeout time.Duration
	Logger       *slog.Logger // carries the call id; nil discards
	QueueFrames  int          // playout queue bound in 20 ms frames, default 500 (10 s)
}

// Stats are the session's counters.
type Stats struct {
	PacketsIn      uint64 // valid RTP packets accepted from the peer
	PacketsOut     uint64 // RTP packets sent (audio and telephone-event)
	BytesIn        uint64 // RTP bytes (header included) of the accepted packets
	BytesOut       uint64
	DTMFIn         uint64 // digits reported to OnDTMF
	DTMFOut        uint64 // digits started by the sender
	PacketsDropped uint64 // short, malformed, unknown payload type, foreign source, duplicate or late
	PacketsLost    uint64 // sequence numbers skipped by the peer's stream (never arrived, or arrived too late)
	LastRemote     netip.AddrPort
}

// mark is a named position in the playout queue.
type mark struct {
	pos  uint64 // absolute byte offset in the queued stream
	name string
}

// rxState is owned by the reader goroutine (or whoever calls handlePacket).
type rxState struct {
	buf       [readBufSize]byte
	pkt       rtp.Packet
	latched   bool
	ssrc      uint32
	haveSeq   bool
	lastSeq   uint16
	haveAudio bool
	audioTS   uint32 // timestamp just past the last audio packet
	cand      netip.AddrPort
	candCount int
	frame     [FrameBytes]byte
	frameLen  int
	dtmf      dtmfDetector
}

// txState is owned by the sender: paceTick, under paceMu.
type txState struct {
	seq        uint16
	ssrc       uint32
	tsBase     uint32
	lastAudio  bool // the previous tick sent audio
	frame      [FrameBytes]byte
	pkt        [rtpHeaderSize + FrameSamples]byte
	spare      []string
	timeoutRef int64 // reference point the last timeout was reported for
	sendErrs   uint64
}

// Session is the RTP media of one call: a reader that decodes and
// re-frames the peer's audio and DTMF, and a sender that paces queued audio
// out at 20 ms per packet.
type Session struct {
	cfg    Config
	h      Handler
	log    *slog.Logger
	conn   *net.UDPConn
	decode codec.ConvertFunc
	encode codec.ConvertFunc
	pt     uint8
	dtmfPT int
	epoch  time.Time // monotonic reference for lastRx

	packetsIn, packetsOut, bytesIn, bytesOut atomic.Uint64
	dtmfIn, dtmfOut, dropped, lost           atomic.Uint64
	remote                                   atomic.Pointer[netip.AddrPort]
	lastRx                                   atomic.Int64 // ns since epoch of the last accepted packet, 0 if none

	rx rxState
	tx txState

	mu     sync.Mutex
	ring   []byte
	rpos   uint64
	wpos   uint64
	marks  []mark
	ready  []string // marks reached or dropped, not yet reported
	dtmfTx dtmfSender
	closed bool

	wake chan struct{}

	// The sender's pacing state, guarded by paceMu (see sendLoop).
	paceMu    sync.Mutex
	pacing    bool
	pStart    time.Time
	pRunStart int64
	pNext     int64
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	running   atomic.Bool
}

// NewSession prepares a session; Run starts it. The negotiated codec must be
// one codec.Decoder knows (G.711), or Run fails.
func NewSession(cfg Config, h Handler) *Session {
	if cfg.QueueFrames <= 0 {
		cfg.QueueFrames = defaultQueueFrames
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if h == nil {
		h = nopHandler{}
	}
	s := &Session{
		cfg:    cfg,
		h:      h,
		log:    cfg.Logger,
		conn:   cfg.Local,
		pt:     cfg.Neg.Codec.PayloadType,
		dtmfPT: cfg.Neg.DTMFPayloadType,
		epoch:  time.Now(),
		ring:   make([]byte, initialRingFrames*FrameBytes),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	if s.dtmfPT > 127 || s.dtmfPT == int(s.pt) {
		s.dtmfPT = -1
	}
	s.decode, _ = codec.Decoder(cfg.Neg.Codec)
	s.encode, _ = codec.Encoder(cfg.Neg.Codec)
	s.tx.seq = uint16(rand.Uint32())
	s.tx.ssrc = rand.Uint32()
	s.tx.tsBase = rand.Uint32()
	return s
}

type nopHandler struct{}

func (nopHandler) OnAudio([]byte)      {}
func (nopHandler) OnDTMF(byte)         {}
func (nopHandler) OnMarkPlayed(string) {}
func (nopHandler) OnMediaTimeout()     {}

// Run receives and sends media until ctx is done or Close is called, and
// returns once both of its goroutines have stopped: no handler method is
// called after it returns. It returns nil after Close, ctx.Err() after
// cancellation. Run does not close the socket (Close does); it may be
// called once.
func (s *Session) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("media: Session.Run called twice")
	}
	if s.decode == nil || s.encode == nil {
		return fmt.Errorf("media: unsupported codec %q", s.cfg.Neg.Codec.Name)
	}
	if s.conn == nil {
		return errors.New("media: Config.Local is nil")
	}
	select {
	case <-s.done:
		return nil
	default:
	}
	inner, cancel := context.WithCancel(ctx)
	defer cancel()
	s.log.Debug("rtp session started", "local_port", s.cfg.LocalPort, "remote", s.cfg.Neg.Remote,
		"codec", s.cfg.Neg.Codec.Name, "pt", s.pt, "dtmf_pt", s.dtmfPT, "direction", s.cfg.Neg.Direction)

	var wg sync.WaitGroup
	wg.Go(func() { s.readLoop(inner) })
	wg.Go(func() { s.sendLoop(inner) })
	select {
	case <-ctx.Done():
	case <-s.done:
	}
	cancel()
	_ = s.conn.SetReadDeadline(time.Unix(1, 0)) // wakes the reader; fails harmlessly once closed
	wg.Wait()

	st := s.Stats()
	s.log.Debug("rtp session stopped", "packets_in", st.PacketsIn, "packets_out", st.PacketsOut,
		"dropped", st.PacketsDropped, "dtmf_in", st.DTMFIn, "dtmf_out", st.DTMFOut)
	select {
	case <-s.done:
		return nil
	default:
		_ = s.conn.SetReadDeadline(time.Time{})
		return ctx.Err()
	}
}

// Close stops the session's goroutines (without waiting for them: Run
// returns when they are gone) and closes the socket. Queued audio and
// marks are dropped without being reported. Further calls return the first
// result.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.done)
		if s.conn != nil {
			s.closeErr = s.conn.Close()
		}
	})
	return s.closeErr
}

// Stats returns a snapshot of the counters. LastRemote is the peer address
// media is latched to, zero before the first packet.
func (s *Session) Stats() Stats {
	st := Stats{
		PacketsIn:      s.packetsIn.Load(),
		PacketsOut:     s.packetsOut.Load(),
		BytesIn:        s.bytesIn.Load(),
		BytesOut:       s.bytesOut.Load(),
		DTMFIn:         s.dtmfIn.Load(),
		DTMFOut:        s.dtmfOut.Load(),
		PacketsDropped: s.dropped.Load(),
		PacketsLost:    s.lost.Load(),
	}
	if r := s.remote.Load(); r != nil {
		st.LastRemote = *r
	}
	return st
}

// ---- receive path ----

func (s *Session) readLoop(ctx context.Context) {
	for {
		n, src, err := s.conn.ReadFromUDPAddrPort(s.rx.buf[:])
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("rtp read failed", "err", err)
			select { // do not spin on a persistent error
			case <-ctx.Done():
				return
			case <-time.After(5 * time.Millisecond):
			}
			continue
		}
		s.handlePacket(s.rx.buf[:n], src)
	}
}

// handlePacket processes one datagram from src. It is the whole receive
// path below the socket and must only be called from one goroutine at a
// time (the reader's, when Run is active). It never panics on any input.
func (s *Session) handlePacket(b []byte, src netip.AddrPort) {
	rx := &s.rx
	if len(b) < rtpHeaderSize || b[0]>>6 != 2 {
		s.dropped.Add(1)
		return
	}
	if err := rx.pkt.Unmarshal(b); err != nil {
		s.dropped.Add(1)
		return
	}
	pt := rx.pkt.PayloadType
	isDTMF := s.dtmfPT >= 0 && int(pt) == s.dtmfPT
	if pt != s.pt && !isDTMF {
		s.dropped.Add(1)
		return
	}
	now := int64(time.Since(s.epoch)) + 1 // +1 keeps 0 meaning "never"
	ssrc := rx.pkt.SSRC

	switch {
	case !rx.latched:
		s.latch(src, ssrc, "first packet")
	case src != *s.remote.Load():
		sameStream := ssrc == rx.ssrc
		idle := time.Duration(now-s.lastRx.Load()) >= relatchIdle
		if !sameStream && !idle {
			s.dropped.Add(1)
			return
		}
		if src == rx.cand {
			rx.candCount++
		} else {
			rx.cand, rx.candCount = src, 1
		}
		if rx.candCount < relatchPackets {
			s.dropped.Add(1)
			return
		}
		s.latch(src, ssrc, "source changed")
	default:
		rx.candCount = 0
	}
	s.lastRx.Store(now)

	if ssrc != rx.ssrc {
		// A new stream: its sequence and timestamp spaces are unrelated.
		rx.ssrc = ssrc
		rx.haveSeq, rx.haveAudio = false, false
		rx.dtmf.reset()
	}
	seq := rx.pkt.SequenceNumber
	var seqGap int
	if rx.haveSeq {
		d := int(int16(seq - rx.lastSeq))
		if d <= 0 && d > -maxMisorder {
			s.dropped.Add(1) // duplicate or late: in arrival order it would garble audio
			return
		}
		seqGap = d
		if d > 1 {
			s.lost.Add(uint64(d - 1))
		}
	}
	rx.haveSeq, rx.lastSeq = true, seq
	s.packetsIn.Add(1)
	s.bytesIn.Add(uint64(len(b)))

	ts := rx.pkt.Timestamp
	payload := rx.pkt.Payload
	if isDTMF {
		e, err := ParseDTMF(payload)
		if err != nil {
			return
		}
		digits, n := rx.dtmf.packet(ts, e)
		for _, d := range digits[:n] {
			s.dtmfIn.Add(1)
			s.h.OnDTMF(d)
		}
		return
	}
	if rx.haveAudio && seqGap > 1 {
		// Packets were lost: keep the timeline by inserting silence.
		if missing := int32(ts - rx.audioTS); missing > 0 && missing <= maxGapFill {
			s.pushSilence(int(missing))
		}
	}
	rx.haveAudio, rx.audioTS = true, ts+uint32(len(payload))
	s.pushAudio(payload)
}

// latch makes src the peer address for both directions.
func (s *Session) latch(src netip.AddrPort, ssrc uint32, why string) {
	rx := &s.rx
	old := s.remote.Load()
	rx.latched = true
	rx.candCount = 0
	rx.cand = netip.AddrPort{}
	s.remote.Store(&src)
	if old != nil {
		s.log.Info("rtp peer re-latched", "reason", why, "from", *old, "to", src, "ssrc", ssrc)
	} else {
		s.log.Debug("rtp peer latched", "remote", src, "signalled", s.cfg.Neg.Remote, "ssrc", ssrc)
	}
}

// pushAudio decodes payload into the frame being assembled, delivering
// every completed 20 ms frame.
func (s *Session) pushAudio(payload []byte) {
	rx := &s.rx
	for len(payload) > 0 {
		k := min((FrameBytes-rx.frameLen)/2, len(payload))
		s.decode(rx.frame[rx.frameLen:rx.frameLen], payload[:k])
		rx.frameLen += 2 * k
		payload = payload[k:]
		if rx.frameLen == FrameBytes {
			rx.frameLen = 0
			s.h.OnAudio(rx.frame[:])
		}
	}
}

// pushSilence appends n zero samples to the frames being assembled.
func (s *Session) pushSilence(n int) {
	rx := &s.rx
	for n > 0 {
		k := min((FrameBytes-rx.frameLen)/2, n)
		clear(rx.frame[rx.frameLen : rx.frameLen+2*k])
		rx.frameLen += 2 * k
		n -= k
		if rx.frameLen == FrameBytes {
			rx.frameLen = 0
			s.h.OnAudio(rx.frame[:])
		}
	}
}

// ---- send path ----

// WriteAudio queues L16 audio (8 kHz mono, any whole number of samples) for
// the paced sender. It queues all of it or, with ErrQueueFull, none.
func (s *Session) WriteAudio(l16 []byte) error {
	if len(l16)%2 != 0 {
		return ErrOddLength
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	need := s.wpos - s.rpos + uint64(len(l16))
	if need > uint64(s.cfg.QueueFrames*FrameBytes) {
		return ErrQueueFull
	}
	if need > uint64(len(s.ring)) {
		s.growRing(need)
	}
	off := int(s.wpos % uint64(len(s.ring)))
	n := copy(s.ring[off:], l16)
	copy(s.ring, l16[n:])
	s.wpos += uint64(len(l16))
	return nil
}

// initialRingFrames is the playout queue's starting size: a connector that
// streams in real time (the usual case) never queues more than a few frames,
// so most calls keep 5 KiB here instead of the 10 s bound (160 KiB).
const initialRingFrames = 16

// growRing doubles the ring until it holds need bytes (up to the bound),
// keeping the queued audio in order. Called with s.mu held.
func (s *Session) growRing(need uint64) {
	size := uint64(len(s.ring))
	limit := uint64(s.cfg.QueueFrames * FrameBytes)
	for size < need {
		size = min(size*2, limit)
	}
	queued := s.wpos - s.rpos
	ring := make([]byte, size)
	off := int(s.rpos % uint64(len(s.ring)))
	n := copy(ring, s.ring[off:off+int(min(queued, uint64(len(s.ring)-off)))])
	copy(ring[n:queued], s.ring)
	// Re-base positions on the new ring so that rpos maps to offset 0;
	// marks hold absolute positions and shift with it.
	s.ring = ring
	shift := s.rpos
	s.rpos -= shift
	s.wpos -= shift
	for i := range s.marks {
		s.marks[i].pos -= shift
	}
}

// Buffered returns how much audio is queued.
func (s *Session) Buffered() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Duration(s.wpos-s.rpos) / 2 * time.Second / 8000
}

// Mark queues a named point after the audio written so far. OnMarkPlayed
// fires with its name once the sender has sent that audio, or right away
// (from the sender) if nothing is queued. Marks fire in the order
// they were queued.
func (s *Session) Mark(name string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.wpos == s.rpos {
		s.ready = append(s.ready, name)
		s.mu.Unlock()
		s.poke()
		return
	}
	s.marks = append(s.marks, mark{pos: s.wpos, name: name})
	s.mu.Unlock()
}

// Clear drops all queued audio (barge-in). Marks queued with it are not
// lost: they fire OnMarkPlayed right away, in order, as if played, so a
// caller waiting on a mark is always released. A telephone-event in
// progress is not interrupted.
func (s *Session) Clear() {
	s.mu.Lock()
	s.rpos = s.wpos
	var poke bool
	if len(s.marks) > 0 {
		for _, m := range s.marks {
			s.ready = append(s.ready, m.name)
		}
		clear(s.marks)
		s.marks = s.marks[:0]
		poke = true
	}
	s.mu.Unlock()
	if poke {
		s.poke()
	}
}

// SendDTMF queues digits (0-9 * # A-D) to be sent as RFC 4733 events with
// the negotiated telephone-event payload type: per digit 100 ms of event
// updates every 20 ms, the end packet three times, then a 60 ms pause
// before the next digit. Queued audio waits while digits are sent. It
// queues all digits or, on error, none.
func (s *Session) SendDTMF(digits string) error {
	if s.dtmfPT < 0 {
		return ErrNoTelephoneEvent
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return s.dtmfTx.enqueue(digits)
}

func (s *Session) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// sendLoop hands the session to a pacer shard, which runs its sender
// (paceTick), and reports marks that need no waiting (poke) itself. Both go
// through paceMu, so the sender's state and the handler's OnMarkPlayed and
// OnMediaTimeout calls stay sequential, and no callback runs after it
// returns.
func (s *Session) sendLoop(ctx context.Context) {
	s.paceMu.Lock()
	s.pStart = time.Now()
	s.pRunStart = int64(time.Since(s.epoch)) + 1
	s.pNext = 0
	s.pacing = true
	s.paceMu.Unlock()
	sh := pace(s)
	defer func() {
		s.paceMu.Lock()
		s.pacing = false
		s.paceMu.Unlock()
		sh.remove(s)
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			s.paceMu.Lock()
			s.fireReady()
			s.paceMu.Unlock()
		}
	}
}

// paceTick runs every tick due by now: tick n is due at start + n*20ms.
func (s *Session) paceTick() {
	s.paceMu.Lock()
	defer s.paceMu.Unlock()
	if !s.pacing {
		return
	}
	due := int64(time.Since(s.pStart) / FrameDuration)
	if due-s.pNext > maxCatchUpTicks {
		// Far behind (a stall): skip rather than burst. The RTP timestamp
		// still follows wall time.
		s.pNext = due
		s.tx.lastAudio = false
	}
	for ; s.pNext <= due; s.pNext++ {
		s.tick(s.pNext)
	}
	s.checkTimeout(s.pRunStart)
}

// tick runs the sender for interval n: one telephone-event packet, one
// 20 ms audio packet or nothing. Only paceTick calls it (under paceMu).
func (s *Session) tick(n int64) {
	tx := &s.tx
	ts := tx.tsBase + uint32(n)*FrameSamples
	var (
		pkt    []byte
		marker bool
		pt     uint8
	)
	s.mu.Lock()
	switch {
	case s.dtmfTx.busy():
		e, evTS, first, started, ok := s.dtmfTx.tick(ts)
		if started {
			s.dtmfOut.Add(1)
		}
		if ok {
			ts, marker, pt = evTS, first, uint8(s.dtmfPT)
			pkt = AppendDTMF(tx.pkt[:rtpHeaderSize], e)
		}
		tx.lastAudio = false
	case s.wpos > s.rpos:
		k := int(min(uint64(FrameBytes), s.wpos-s.rpos))
		off := int(s.rpos % uint64(len(s.ring)))
		c := copy(tx.frame[:k], s.ring[off:])
		copy(tx.frame[c:k], s.ring)
		clear(tx.frame[k:]) // pad a partial last frame with silence
		s.rpos += uint64(k)
		for len(s.marks) > 0 && s.marks[0].pos <= s.rpos {
			s.ready = append(s.ready, s.marks[0].name)
			s.marks[0] = mark{}
			s.marks = s.marks[1:]
		}
		if len(s.marks) == 0 {
			s.marks = s.marks[:0:0] // let the backing array go
		}
		s.mu.Unlock()
		pkt = s.encode(tx.pkt[:rtpHeaderSize], tx.frame[:])
		marker, pt = !tx.lastAudio, s.pt
		tx.lastAudio = true
		s.mu.Lock()
	default:
		tx.lastAudio = false
	}
	s.mu.Unlock()

	if pkt != nil {
		s.send(pkt, pt, marker, ts)
	}
	s.fireReady()
}

// send fills in the RTP header of pkt (whose payload follows the first 12
// bytes) and sends it to the peer, if we may send and know where to.
func (s *Session) send(pkt []byte, pt uint8, marker bool, ts uint32) {
	tx := &s.tx
	h := rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    pt,
		SequenceNumber: tx.seq,
		Timestamp:      ts,
		SSRC:           tx.ssrc,
	}
	if _, err := h.MarshalTo(pkt[:rtpHeaderSize]); err != nil {
		return
	}
	dst, ok := s.dest()
	if !ok || !s.cfg.Neg.CanSend() || s.conn == nil {
		return
	}
	tx.seq++
	if _, err := s.conn.WriteToUDPAddrPort(pkt, dst); err != nil {
		tx.sendErrs++
		if tx.sendErrs == 1 || tx.sendErrs%500 == 0 {
			s.log.Warn("rtp send failed", "remote", dst, "err", err, "failures", tx.sendErrs)
		}
		return
	}
	s.packetsOut.Add(1)
	s.bytesOut.Add(uint64(len(pkt)))
}

// dest is where RTP goes: the latched peer, else the signalled address
// unless it is a hold address.
func (s *Session) dest() (netip.AddrPort, bool) {
	if r := s.remote.Load(); r != nil {
		return *r, true
	}
	r := s.cfg.Neg.Remote
	if !r.IsValid() || r.Port() == 0 || r.Addr().IsUnspecified() {
		return netip.AddrPort{}, false
	}
	return r, true
}

// fireReady reports the marks that were reached or dropped, in order.
func (s *Session) fireReady() {
	s.mu.Lock()
	if len(s.ready) == 0 || s.closed {
		s.mu.Unlock()
		return
	}
	names := s.ready
	s.ready = s.tx.spare[:0]
	s.mu.Unlock()
	for _, name := range names {
		s.h.OnMarkPlayed(name)
	}
	clear(names)
	s.tx.spare = names[:0]
}

// checkTimeout reports a media timeout once per silence: measured from the
// last packet, or from runStart before any.
func (s *Session) checkTimeout(runStart int64) {
	if s.cfg.MediaTimeout <= 0 || !s.cfg.Neg.CanReceive() {
		return
	}
	ref := max(s.lastRx.Load(), runStart)
	now := int64(time.Since(s.epoch)) + 1
	if time.Duration(now-ref) < s.cfg.MediaTimeout || s.tx.timeoutRef == ref {
		return
	}
	s.tx.timeoutRef = ref
	s.log.Info("rtp media timeout", "timeout", s.cfg.MediaTimeout, "packets_in", s.packetsIn.Load())
	s.h.OnMediaTimeout()
}
