package codec

import (
	"encoding/binary"
	"math/bits"
	"slices"
)

// G.711 (ITU-T G.711, 1988) μ-law and A-law.
//
// Decoding uses 256-entry tables. Encoding uses tables indexed by the top
// bits of the 16-bit sample that the laws actually look at: μ-law quantises
// a 14-bit signed value (16384 entries) and A-law a 13-bit one whose first
// step already spans two units, so 12 bits of the sample suffice (4096
// entries). Negative samples are folded with the one's complement, as the
// ITU reference software does, so the law is symmetric: -1 encodes as
// "negative zero" rather than as the next step.
//
// All functions have append semantics: the result is appended to dst and the
// extended slice returned, so nothing is allocated when dst has capacity for
// it. The encoders ignore a trailing odd byte of src.

var (
	ulawDecode [256]int16
	alawDecode [256]int16
	ulawEncode [1 << 14]byte
	alawEncode [1 << 12]byte
)

func init() {
	for i := range 256 {
		ulawDecode[i] = ulawDecodeSample(byte(i))
		alawDecode[i] = alawDecodeSample(byte(i))
	}
	for i := range ulawEncode {
		ulawEncode[i] = ulawEncodeSample(int16(uint16(i) << 2))
	}
	for i := range alawEncode {
		alawEncode[i] = alawEncodeSample(int16(uint16(i) << 4))
	}
}

const ulawBias = 0x84 // 132: the bias added before segmenting, in 16-bit units

// ulawDecodeSample expands one μ-law code to 16-bit linear.
func ulawDecodeSample(code byte) int16 {
	c := ^code
	seg := (c >> 4) & 0x07
	mant := int32(c & 0x0F)
	mag := ((mant<<3)+ulawBias)<<seg - ulawBias
	if c&0x80 != 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// ulawEncodeSample compresses one 16-bit linear sample to μ-law. Only the
// top 14 bits of x matter.
func ulawEncodeSample(x int16) byte {
	var sign byte
	m := int32(x)
	if m < 0 {
		m = ^m // one's complement: -1 folds onto +0
		sign = 0x80
	}
	m = m>>2 + ulawBias>>2 // 14-bit magnitude plus bias (33)
	if m > 0x1FFF {
		m = 0x1FFF
	}
	// m >= 33, so bit 5 is the lowest possible leading bit: segment 0.
	seg := bits.Len32(uint32(m)) - 6
	mant := (m >> (seg + 1)) & 0x0F
	return ^(sign | byte(seg)<<4 | byte(mant))
}

// alawDecodeSample expands one A-law code to 16-bit linear.
func alawDecodeSample(code byte) int16 {
	c := code ^ 0x55 // even bits are inverted on the line
	seg := (c >> 4) & 0x07
	mag := int32(c&0x0F) << 4
	if seg == 0 {
		mag += 8
	} else {
		mag = (mag + 0x108) << (seg - 1)
	}
	if c&0x80 == 0 {
		return int16(-mag)
	}
	return int16(mag)
}

// alawEncodeSample compresses one 16-bit linear sample to A-law. Only the
// top 12 bits of x matter.
func alawEncodeSample(x int16) byte {
	var sign byte = 0x80 // A-law sets the sign bit for positive values
	m := int32(x)
	if m < 0 {
		m = ^m
		sign = 0
	}
	ix := m >> 4 // 0..2047, in units of the smallest quantisation step
	var raw byte
	if ix < 16 {
		raw = byte(ix)
	} else {
		seg := bits.Len32(uint32(ix)) - 4 // 16..31 -> 1, ..., 1024..2047 -> 7
		raw = byte(seg)<<4 | byte((ix>>(seg-1))&0x0F)
	}
	return (sign | raw) ^ 0x55
}

// grow extends dst by n bytes, reallocating only when its capacity is short,
// and returns the extended slice and the new tail.
func grow(dst []byte, n int) ([]byte, []byte) {
	l := len(dst)
	dst = slices.Grow(dst, n)[:l+n]
	return dst, dst[l:]
}

// MulawToL16 appends the L16 decoding of the μ-law bytes in src to dst.
func MulawToL16(dst []byte, src []byte) []byte {
	dst, out := grow(dst, 2*len(src))
	for i, c := range src {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(ulawDecode[c]))
	}
	return dst
}

// AlawToL16 appends the L16 decoding of the A-law bytes in src to dst.
func AlawToL16(dst []byte, src []byte) []byte {
	dst, out := grow(dst, 2*len(src))
	for i, c := range src {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(alawDecode[c]))
	}
	return dst
}

// L16ToMulaw appends the μ-law encoding of the L16 samples in src to dst.
func L16ToMulaw(dst []byte, src []byte) []byte {
	n := len(src) / 2
	dst, out := grow(dst, n)
	for i := range out {
		s := binary.LittleEndian.Uint16(src[2*i:])
		out[i] = ulawEncode[s>>2]
	}
	return dst
}

// L16ToAlaw appends the A-law encoding of the L16 samples in src to dst.
func L16ToAlaw(dst []byte, src []byte) []byte {
	n := len(src) / 2
	dst, out := grow(dst, n)
	for i := range out {
		s := binary.LittleEndian.Uint16(src[2*i:])
		out[i] = alawEncode[s>>4]
	}
	return dst
}

// MulawSilence and AlawSilence are the codes of a zero sample.
const (
	MulawSilence byte = 0xFF
	AlawSilence  byte = 0xD5
)
