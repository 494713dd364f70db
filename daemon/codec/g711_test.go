package codec

import (
	"encoding/binary"
	"testing"
)

func l16(samples ...int16) []byte {
	b := make([]byte, 2*len(samples))
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	return b
}

func samplesOf(b []byte) []int16 {
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return s
}

func decodeOne(f ConvertFunc, code byte) int16 {
	return samplesOf(f(nil, []byte{code}))[0]
}

func encodeOne(f ConvertFunc, x int16) byte {
	return f(nil, l16(x))[0]
}

// Values from the G.711 tables (decoder output scaled to 16 bits).
func TestKnownValues(t *testing.T) {
	decodes := []struct {
		name string
		f    ConvertFunc
		code byte
		want int16
	}{
		{"ulaw +0", MulawToL16, 0xFF, 0},
		{"ulaw -0", MulawToL16, 0x7F, 0},
		{"ulaw +1 step", MulawToL16, 0xFE, 8},
		{"ulaw -1 step", MulawToL16, 0x7E, -8},
		{"ulaw seg0 top", MulawToL16, 0xF0, 120},
		{"ulaw seg1 bottom", MulawToL16, 0xEF, 132},
		{"ulaw max", MulawToL16, 0x80, 32124},
		{"ulaw min", MulawToL16, 0x00, -32124},
		{"alaw +0", AlawToL16, 0xD5, 8},
		{"alaw -0", AlawToL16, 0x55, -8},
		{"alaw seg0 step", AlawToL16, 0xD4, 24},
		{"alaw seg1 bottom", AlawToL16, 0xC5, 264},
		{"alaw max", AlawToL16, 0xAA, 32256},
		{"alaw min", AlawToL16, 0x2A, -32256},
	}
	for _, tc := range decodes {
		if got := decodeOne(tc.f, tc.code); got != tc.want {
			t.Errorf("%s: decode(%#02x) = %d, want %d", tc.name, tc.code, got, tc.want)
		}
	}
	encodes := []struct {
		name string
		f    ConvertFunc
		x    int16
		want byte
	}{
		{"ulaw 0", L16ToMulaw, 0, 0xFF},
		{"ulaw -1", L16ToMulaw, -1, 0x7F},
		{"ulaw 8", L16ToMulaw, 8, 0xFE},
		{"ulaw 1000", L16ToMulaw, 1000, 0xCE},
		{"ulaw max", L16ToMulaw, 32767, 0x80},
		{"ulaw min", L16ToMulaw, -32768, 0x00},
		{"alaw 0", L16ToAlaw, 0, 0xD5},
		{"alaw -1", L16ToAlaw, -1, 0x55},
		{"alaw 16", L16ToAlaw, 16, 0xD4},
		{"alaw max", L16ToAlaw, 32767, 0xAA},
		{"alaw min", L16ToAlaw, -32768, 0x2A},
	}
	for _, tc := range encodes {
		if got := encodeOne(tc.f, tc.x); got != tc.want {
			t.Errorf("%s: encode(%d) = %#02x, want %#02x", tc.name, tc.x, got, tc.want)
		}
	}
}

func TestAlawRoundTripAllCodes(t *testing.T) {
	for c := range 256 {
		x := decodeOne(AlawToL16, byte(c))
		if got := encodeOne(L16ToAlaw, x); got != byte(c) {
			t.Errorf("alaw: encode(decode(%#02x)=%d) = %#02x", c, x, got)
		}
	}
}

// μ-law has two codes for zero: 0xFF (+0) and 0x7F (-0). Both decode to 0,
// and 0 encodes to 0xFF, so -0 is the one code that does not survive.
func TestMulawRoundTripAllCodes(t *testing.T) {
	for c := range 256 {
		x := decodeOne(MulawToL16, byte(c))
		want := byte(c)
		if c == 0x7F {
			want = 0xFF
		}
		if got := encodeOne(L16ToMulaw, x); got != want {
			t.Errorf("ulaw: encode(decode(%#02x)=%d) = %#02x, want %#02x", c, x, got, want)
		}
	}
}

// Every 16-bit input must land on a code whose reconstruction is
// monotonic in the input and within one quantisation step of it.
func TestEncodeAllSamples(t *testing.T) {
	laws := []struct {
		name     string
		enc, dec ConvertFunc
		maxErr   int
	}{
		{"ulaw", L16ToMulaw, MulawToL16, 1024}, // segment 7 step is 1024
		{"alaw", L16ToAlaw, AlawToL16, 1024},
	}
	for _, law := range laws {
		all := make([]int16, 0, 65536)
		for x := -32768; x <= 32767; x++ {
			all = append(all, int16(x))
		}
		codes := law.enc(nil, l16(all...))
		if len(codes) != len(all) {
			t.Fatalf("%s: %d codes for %d samples", law.name, len(codes), len(all))
		}
		back := samplesOf(law.dec(nil, codes))
		prev := int16(-32768)
		for i, x := range all {
			y := back[i]
			if y < prev {
				t.Fatalf("%s: not monotonic at %d: %d after %d", law.name, x, y, prev)
			}
			prev = y
			if d := int(x) - int(y); d > law.maxErr || -d > law.maxErr {
				t.Fatalf("%s: %d reconstructs as %d", law.name, x, y)
			}
			// Small signals must be reproduced finely (segment 0 steps).
			if x > -256 && x < 256 {
				if d := int(x) - int(y); d > 16 || d < -16 {
					t.Fatalf("%s: small %d reconstructs as %d", law.name, x, y)
				}
			}
		}
	}
}

func TestAppendSemantics(t *testing.T) {
	prefix := []byte{1, 2, 3}
	got := AlawToL16(append([]byte(nil), prefix...), []byte{0xD5, 0x55})
	if string(got[:3]) != string(prefix) || len(got) != 7 {
		t.Fatalf("AlawToL16 did not append: %v", got)
	}
	// A trailing odd byte is ignored by the encoders.
	if got := L16ToMulaw(nil, []byte{0, 0, 7}); len(got) != 1 || got[0] != 0xFF {
		t.Fatalf("L16ToMulaw odd input: %v", got)
	}
	if got := L16ToAlaw(nil, nil); len(got) != 0 {
		t.Fatalf("L16ToAlaw(nil) = %v", got)
	}
}

func TestZeroAllocs(t *testing.T) {
	pcm := make([]byte, 320)
	g711 := make([]byte, 160)
	out := make([]byte, 0, 320)
	funcs := map[string]struct {
		f   ConvertFunc
		src []byte
	}{
		"MulawToL16": {MulawToL16, g711},
		"AlawToL16":  {AlawToL16, g711},
		"L16ToMulaw": {L16ToMulaw, pcm},
		"L16ToAlaw":  {L16ToAlaw, pcm},
	}
	for name, tc := range funcs {
		if n := testing.AllocsPerRun(100, func() { out = tc.f(out[:0], tc.src) }); n != 0 {
			t.Errorf("%s: %v allocs per run", name, n)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"PCMU", "pcmu", "PcMu"} {
		if c, ok := Lookup(name); !ok || c != PCMU {
			t.Errorf("Lookup(%q) = %v, %v", name, c, ok)
		}
	}
	if c, ok := Lookup("pcma"); !ok || c.PayloadType != 8 || c.ClockRate != 8000 {
		t.Errorf("Lookup(pcma) = %v, %v", c, ok)
	}
	if _, ok := Lookup("opus"); ok {
		t.Error("Lookup(opus) succeeded")
	}
	if _, ok := Decoder(Codec{Name: "G722"}); ok {
		t.Error("Decoder(G722) succeeded")
	}
	if _, ok := Encoder(Codec{Name: "g722"}); ok {
		t.Error("Encoder(G722) succeeded")
	}
	for _, c := range []Codec{PCMU, PCMA} {
		enc, ok1 := Encoder(c)
		dec, ok2 := Decoder(c)
		if !ok1 || !ok2 {
			t.Fatalf("%s: no encoder/decoder", c.Name)
		}
		pcm := l16(0, 1000, -1000, 20000)
		back := samplesOf(dec(nil, enc(nil, pcm)))
		if len(back) != 4 {
			t.Fatalf("%s: round trip length %d", c.Name, len(back))
		}
	}
}

func FuzzG711(f *testing.F) {
	f.Add([]byte{0, 0, 0xff, 0x7f, 0, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range []struct{ enc, dec ConvertFunc }{{L16ToMulaw, MulawToL16}, {L16ToAlaw, AlawToL16}} {
			codes := p.enc(nil, b)
			if len(codes) != len(b)/2 {
				t.Fatalf("encode length %d for %d bytes", len(codes), len(b))
			}
			pcm := p.dec(nil, codes)
			// Decoded values are fixed points of encode∘decode, except μ-law -0.
			again := p.enc(nil, pcm)
			for i := range codes {
				if again[i] != codes[i] && codes[i] != 0x7F {
					t.Fatalf("code %#02x re-encodes as %#02x", codes[i], again[i])
				}
			}
		}
	})
}

var sink []byte

func benchConvert(b *testing.B, f ConvertFunc, src []byte) {
	dst := make([]byte, 0, 2*len(src))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		dst = f(dst[:0], src)
	}
	sink = dst
}

func frame20ms() []byte {
	s := make([]int16, 160)
	for i := range s {
		s[i] = int16((i*977)%65536 - 32768)
	}
	return l16(s...)
}

func BenchmarkL16ToMulaw(b *testing.B) { benchConvert(b, L16ToMulaw, frame20ms()) }
func BenchmarkL16ToAlaw(b *testing.B)  { benchConvert(b, L16ToAlaw, frame20ms()) }
func BenchmarkMulawToL16(b *testing.B) { benchConvert(b, MulawToL16, L16ToMulaw(nil, frame20ms())) }
func BenchmarkAlawToL16(b *testing.B)  { benchConvert(b, AlawToL16, L16ToAlaw(nil, frame20ms())) }
