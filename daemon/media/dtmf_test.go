package media

import (
	"bytes"
	"testing"
)

func TestDTMFPayload(t *testing.T) {
	// Digit 5, end bit, volume 10, duration 800 (RFC 4733 §2.3).
	wire := []byte{0x05, 0x8A, 0x03, 0x20}
	e, err := ParseDTMF(wire)
	if err != nil {
		t.Fatal(err)
	}
	if e != (DTMFEvent{Event: 5, End: true, Volume: 10, Duration: 800}) {
		t.Fatalf("parsed %+v", e)
	}
	if got := AppendDTMF(nil, e); !bytes.Equal(got, wire) {
		t.Fatalf("encoded % x, want % x", got, wire)
	}
	// The reserved bit is ignored on receipt.
	if e, _ := ParseDTMF([]byte{11, 0x40 | 0x3F, 0, 160}); e.End || e.Volume != 63 || e.Event != 11 || e.Duration != 160 {
		t.Fatalf("parsed %+v", e)
	}
	if _, err := ParseDTMF([]byte{1, 2, 3}); err != ErrShortDTMF {
		t.Fatalf("short payload: %v", err)
	}
}

func TestDTMFDigits(t *testing.T) {
	for i := range 16 {
		d, ok := DTMFDigit(uint8(i))
		if !ok {
			t.Fatalf("event %d has no digit", i)
		}
		c, ok := DTMFEventCode(d)
		if !ok || c != uint8(i) {
			t.Fatalf("digit %q -> %d, %v", d, c, ok)
		}
	}
	if d, _ := DTMFDigit(10); d != '*' {
		t.Errorf("10 = %q", d)
	}
	if d, _ := DTMFDigit(11); d != '#' {
		t.Errorf("11 = %q", d)
	}
	if _, ok := DTMFDigit(16); ok {
		t.Error("flash (16) reported as a digit")
	}
	if c, ok := DTMFEventCode('b'); !ok || c != 13 {
		t.Error("lowercase b")
	}
	for _, bad := range []byte{'E', 'e', ' ', 'x', '+'} {
		if _, ok := DTMFEventCode(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// feed runs a detector over (timestamp, event) packets and returns the
// digits it reports.
func feed(d *dtmfDetector, pkts ...struct {
	ts uint32
	e  DTMFEvent
}) string {
	var out []byte
	for _, p := range pkts {
		digits, n := d.packet(p.ts, p.e)
		out = append(out, digits[:n]...)
	}
	return string(out)
}

type tsEvent = struct {
	ts uint32
	e  DTMFEvent
}

// eventPackets is what a sender emits for one digit: updates, then the end
// packet three times.
func eventPackets(ts uint32, event uint8, updates int, ends int) []tsEvent {
	var p []tsEvent
	for i := 1; i <= updates; i++ {
		p = append(p, tsEvent{ts, DTMFEvent{Event: event, Duration: uint16(160 * i)}})
	}
	for range ends {
		p = append(p, tsEvent{ts, DTMFEvent{Event: event, End: true, Duration: uint16(160 * updates)}})
	}
	return p
}

func TestDTMFDetector(t *testing.T) {
	var d dtmfDetector
	var pkts []tsEvent
	pkts = append(pkts, eventPackets(1000, 1, 5, 3)...)
	pkts = append(pkts, eventPackets(3000, 11, 4, 3)...)
	pkts = append(pkts, eventPackets(3000, 11, 0, 2)...) // late retransmissions
	pkts = append(pkts, eventPackets(1000, 1, 0, 1)...)  // an old event's end, reordered
	pkts = append(pkts, eventPackets(5000, 15, 1, 1)...) // D with a single update
	if got := feed(&d, pkts...); got != "1#D" {
		t.Fatalf("got %q, want %q", got, "1#D")
	}

	// No end bit ever: reported when the next event starts.
	d.reset()
	pkts = append(eventPackets(100, 7, 5, 0), eventPackets(2000, 8, 3, 3)...)
	if got := feed(&d, pkts...); got != "78" {
		t.Fatalf("got %q, want 78", got)
	}

	// Every end packet lost, then only the end of the next one.
	d.reset()
	pkts = append(eventPackets(100, 3, 2, 0), eventPackets(2000, 3, 0, 1)...)
	if got := feed(&d, pkts...); got != "33" {
		t.Fatalf("got %q, want 33", got)
	}

	// Non-digit events (flash hook) are not reported and do not swallow
	// the next digit.
	d.reset()
	pkts = append(eventPackets(100, 16, 3, 3), eventPackets(2000, 0, 3, 3)...)
	if got := feed(&d, pkts...); got != "0" {
		t.Fatalf("got %q, want 0", got)
	}

	// Timestamps wrapping around 2^32.
	d.reset()
	pkts = append(eventPackets(0xFFFFFF00, 4, 2, 3), eventPackets(0x00000200, 5, 2, 3)...)
	if got := feed(&d, pkts...); got != "45" {
		t.Fatalf("got %q, want 45", got)
	}
}

func TestDTMFSenderTimeline(t *testing.T) {
	var s dtmfSender
	if err := s.enqueue("5x"); err == nil || s.busy() {
		t.Fatal("invalid digit accepted or partly queued")
	}
	if err := s.enqueue("5#"); err != nil {
		t.Fatal(err)
	}
	type pkt struct {
		tick   int
		e      DTMFEvent
		ts     uint32
		marker bool
	}
	var got []pkt
	var starts []int
	tick := 0
	for ; s.busy() && tick < 100; tick++ {
		e, ts, marker, started, ok := s.tick(uint32(10000 + tick*160))
		if started {
			starts = append(starts, tick)
		}
		if ok {
			got = append(got, pkt{tick, e, ts, marker})
		}
	}
	// Digit 1: ticks 0-7, then a 3-tick gap; digit 2: ticks 11-18.
	if len(starts) != 2 || starts[0] != 0 || starts[1] != 11 {
		t.Fatalf("digits started at ticks %v", starts)
	}
	if tick != 19 {
		t.Fatalf("sender busy for %d ticks, want 19", tick)
	}
	if len(got) != 16 {
		t.Fatalf("%d packets, want 16", len(got))
	}
	for i, p := range got {
		digit := i / 8
		k := i % 8
		wantEvent := []uint8{5, 11}[digit]
		wantTS := uint32(10000 + starts[digit]*160)
		if p.e.Event != wantEvent || p.ts != wantTS || p.e.Volume != dtmfVolume {
			t.Errorf("packet %d: %+v", i, p)
		}
		if p.marker != (k == 0) {
			t.Errorf("packet %d: marker %v", i, p.marker)
		}
		if k < 5 {
			if p.e.End || p.e.Duration != uint16(160*(k+1)) {
				t.Errorf("packet %d: %+v, want update of %d", i, p.e, 160*(k+1))
			}
		} else if !p.e.End || p.e.Duration != 800 {
			t.Errorf("packet %d: %+v, want end of 800", i, p.e)
		}
	}
	if err := s.enqueue(string(bytes.Repeat([]byte{'1'}, maxDTMFQueue+1))); err == nil {
		t.Error("unbounded queue")
	}
}

func FuzzDTMF(f *testing.F) {
	f.Add([]byte{0x05, 0x8A, 0x03, 0x20}, uint32(1000))
	f.Add([]byte{0x0B, 0x00, 0x00, 0xA0, 0x0B, 0x80, 0x00, 0xA0}, uint32(0xFFFFFFFF))
	f.Add([]byte{}, uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, ts uint32) {
		e, err := ParseDTMF(b)
		if err != nil {
			if len(b) >= DTMFPayloadSize {
				t.Fatalf("error on %d bytes: %v", len(b), err)
			}
			return
		}
		enc := AppendDTMF(nil, e)
		if len(enc) != DTMFPayloadSize || enc[0] != b[0] || enc[1] != b[1]&^0x40 || enc[2] != b[2] || enc[3] != b[3] {
			t.Fatalf("re-encoded % x from % x", enc, b[:4])
		}
		// Drive the detector with the payload split into 4-byte events on
		// successive timestamps: it reports each digit at most once.
		var d dtmfDetector
		reported := 0
		events := 0
		for i := 0; i+4 <= len(b); i += 4 {
			e, _ := ParseDTMF(b[i:])
			evTS := ts + uint32(i/8)*1000
			digits, n := d.packet(evTS, e)
			for _, c := range digits[:n] {
				if _, ok := DTMFEventCode(c); !ok {
					t.Fatalf("reported %q", c)
				}
			}
			reported += n
			events++
		}
		if reported > events {
			t.Fatalf("%d digits from %d packets", reported, events)
		}
	})
}
