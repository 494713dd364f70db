package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// RFC 4733 §2.3 telephone-event payload:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+

// DTMFPayloadSize is the size of one telephone-event block.
const DTMFPayloadSize = 4

// ErrShortDTMF is returned for a telephone-event payload under 4 bytes.
var ErrShortDTMF = errors.New("media: telephone-event payload shorter than 4 bytes")

// DTMFEvent is one RFC 4733 telephone-event block.
type DTMFEvent struct {
	Event    uint8  // event code: 0-9, 10 '*', 11 '#', 12-15 'A'-'D', others are non-DTMF events
	End      bool   // E bit: the last packet(s) of the event
	Volume   uint8  // power level in -dBm0, 0..63
	Duration uint16 // in RTP timestamp units since the event's timestamp
}

// ParseDTMF decodes the first telephone-event block of an RTP payload.
// Further blocks (RFC 4733 §2.5.1.5 redundancy) are ignored; the reserved
// bit is ignored as the RFC requires of receivers.
func ParseDTMF(b []byte) (DTMFEvent, error) {
	if len(b) < DTMFPayloadSize {
		return DTMFEvent{}, ErrShortDTMF
	}
	return DTMFEvent{
		Event:    b[0],
		End:      b[1]&0x80 != 0,
		Volume:   b[1] & 0x3F,
		Duration: binary.BigEndian.Uint16(b[2:4]),
	}, nil
}

// AppendDTMF appends the 4-byte encoding of e to b. The volume is truncated
// to its 6 bits and the reserved bit is sent as zero.
func AppendDTMF(b []byte, e DTMFEvent) []byte {
	flags := e.Volume & 0x3F
	if e.End {
		flags |= 0x80
	}
	return binary.BigEndian.AppendUint16(append(b, e.Event, flags), e.Duration)
}

const dtmfDigits = "0123456789*#ABCD"

// DTMFDigit maps an event code to its digit ('0'-'9', '*', '#', 'A'-'D');
// false for event codes that are not DTMF digits.
func DTMFDigit(event uint8) (byte, bool) {
	if int(event) < len(dtmfDigits) {
		return dtmfDigits[event], true
	}
	return 0, false
}

// DTMFEventCode maps a digit to its event code; lowercase 'a'-'d' are
// accepted. False for any other byte.
func DTMFEventCode(digit byte) (uint8, bool) {
	switch {
	case digit >= '0' && digit <= '9':
		return digit - '0', true
	case digit == '*':
		return 10, true
	case digit == '#':
		return 11, true
	case digit >= 'A' && digit <= 'D':
		return 12 + digit - 'A', true
	case digit >= 'a' && digit <= 'd':
		return 12 + digit - 'a', true
	}
	return 0, false
}

// dtmfDetector turns a stream of telephone-event packets into digits, one
// per event. An event is identified by its RTP timestamp (RFC 4733 §2.5.2):
// it is reported on its first packet with the E bit, or, if none arrives,
// when a packet with a later timestamp starts the next event. Packets of an
// event already reported, and packets older than the current event, are
// ignored. Not safe for concurrent use.
type dtmfDetector struct {
	active   bool   // an event has been seen
	ts       uint32 // its RTP timestamp
	digit    byte   // its digit, 0 if the event is not a DTMF digit
	reported bool   // it has been reported (or it is not reportable)
}

// reset forgets the current event, e.g. after an SSRC change.
func (d *dtmfDetector) reset() { *d = dtmfDetector{} }

// packet processes one telephone-event packet with RTP timestamp ts and
// returns up to two digits to report, in order (the previous event that
// never ended, then this one if it ended); n is how many.
func (d *dtmfDetector) packet(ts uint32, e DTMFEvent) (out [2]byte, n int) {
	if d.active && ts != d.ts {
		if int32(ts-d.ts) < 0 {
			return out, 0 // a late packet of an older event
		}
		if !d.reported && d.digit != 0 {
			out[n] = d.digit
			n++
		}
		d.active = false
	}
	if !d.active {
		digit, ok := DTMFDigit(e.Event)
		if !ok {
			digit = 0
		}
		*d = dtmfDetector{active: true, ts: ts, digit: digit, reported: !ok}
	}
	if e.End && !d.reported {
		out[n] = d.digit
		n++
		d.reported = true
	}
	return out, n
}

// Sender-side timing of SendDTMF, in 20 ms packet intervals.
const (
	dtmfToneTicks = 5  // 100 ms of event packets
	dtmfEndTicks  = 3  // the final packet is sent three times (RFC 4733 §2.5.1.4)
	dtmfGapTicks  = 3  // ≥50 ms of silence before the next digit
	dtmfVolume    = 10 // -10 dBm0
	maxDTMFQueue  = 64 // digits waiting to be sent
)

// dtmfSender is the sender's state machine for outgoing digits. It is
// stepped once per 20 ms tick while it has work.
type dtmfSender struct {
	pending []byte // event codes still to send, the first is in progress when step > 0
	step    int    // ticks spent on pending[0]
	ts      uint32 // RTP timestamp of the event in progress
}

func (d *dtmfSender) busy() bool { return len(d.pending) > 0 }

// enqueue validates all digits first and queues them, or queues nothing.
func (d *dtmfSender) enqueue(digits string) error {
	if len(d.pending)+len(digits) > maxDTMFQueue {
		return fmt.Errorf("media: too many DTMF digits queued (max %d)", maxDTMFQueue)
	}
	codes := make([]byte, 0, len(digits))
	for i := 0; i < len(digits); i++ {
		c, ok := DTMFEventCode(digits[i])
		if !ok {
			return fmt.Errorf("media: invalid DTMF digit %q", digits[i])
		}
		codes = append(codes, c)
	}
	d.pending = append(d.pending, codes...)
	return nil
}

// tick advances one interval at media timestamp now. It returns the event
// block to send (ok false when this tick is silent), whether it is the first
// packet of the event (marker bit), its RTP timestamp, and whether a new
// digit started.
func (d *dtmfSender) tick(now uint32) (e DTMFEvent, ts uint32, marker, started, ok bool) {
	if len(d.pending) == 0 {
		return DTMFEvent{}, 0, false, false, false
	}
	if d.step == 0 {
		d.ts = now
		started = true
	}
	d.step++
	step := d.step
	e = DTMFEvent{Event: d.pending[0], Volume: dtmfVolume}
	switch {
	case step <= dtmfToneTicks:
		e.Duration = uint16(step * 160)
		ok, marker = true, step == 1
	case step <= dtmfToneTicks+dtmfEndTicks:
		e.Duration = dtmfToneTicks * 160
		e.End = true
		ok = true
	}
	last := len(d.pending) == 1
	done := step == dtmfToneTicks+dtmfEndTicks && last ||
		step == dtmfToneTicks+dtmfEndTicks+dtmfGapTicks
	if done {
		d.pending = d.pending[1:]
		d.step = 0
		if len(d.pending) == 0 {
			d.pending = nil
		}
	}
	return e, d.ts, marker, started, ok
}
