// Package codec describes the audio codecs voxgate negotiates and converts
// between them and linear PCM.
//
// L16 in this package always means signed 16-bit little-endian PCM, 8 kHz
// mono, the format handed to and taken from the rest of the daemon.
package codec

import "strings"

// Codec describes an RTP audio codec as it appears in SDP.
type Codec struct {
	Name        string // encoding name as written in a=rtpmap, e.g. "PCMU"
	ClockRate   int    // RTP clock rate in Hz
	PayloadType uint8  // static payload type, or the negotiated dynamic one
}

// The G.711 codecs with their static payload types (RFC 3551, table 4).
var (
	PCMU = Codec{Name: "PCMU", ClockRate: 8000, PayloadType: 0}
	PCMA = Codec{Name: "PCMA", ClockRate: 8000, PayloadType: 8}
)

// known lists the codecs Lookup resolves.
var known = []Codec{PCMU, PCMA}

// Lookup returns the codec registered under name, compared
// case-insensitively ("pcma" finds PCMA).
func Lookup(name string) (Codec, bool) {
	for _, c := range known {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Codec{}, false
}

// ConvertFunc converts src into dst's spare capacity and returns the extended
// slice, with the append semantics of the G.711 functions in this package.
type ConvertFunc func(dst, src []byte) []byte

// Decoder returns the function turning c's payload into L16, and false when
// this package cannot decode c. Only the codec name is considered.
func Decoder(c Codec) (ConvertFunc, bool) {
	switch {
	case strings.EqualFold(c.Name, PCMU.Name):
		return MulawToL16, true
	case strings.EqualFold(c.Name, PCMA.Name):
		return AlawToL16, true
	}
	return nil, false
}

// Encoder returns the function turning L16 into c's payload, and false when
// this package cannot encode c. Only the codec name is considered.
func Encoder(c Codec) (ConvertFunc, bool) {
	switch {
	case strings.EqualFold(c.Name, PCMU.Name):
		return L16ToMulaw, true
	case strings.EqualFold(c.Name, PCMA.Name):
		return L16ToAlaw, true
	}
	return nil, false
}
