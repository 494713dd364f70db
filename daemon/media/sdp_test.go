package media

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/voxgate/voxgate/daemon/codec"
)

// crlf turns a readable multi-line literal into wire SDP.
func crlf(s string) []byte {
	s = strings.TrimLeft(s, "\n")
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}

// The offer SIPp sends in its stock uac scenarios.
const sippOffer = `
v=0
o=user1 53655765 2353687637 IN IP4 10.0.0.5
s=-
c=IN IP4 10.0.0.5
t=0 0
m=audio 6000 RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-11,16
`

// A baresip-style offer.
const baresipOffer = `
v=0
o=- 1928374650 2837465019 IN IP4 192.168.1.20
s=-
c=IN IP4 192.168.1.20
t=0 0
m=audio 10072 RTP/AVP 0 8 9 96 3 101
b=AS:128
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:3 GSM/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=rtcp-rsize
a=rtcp:10073
a=sendrecv
a=label:1
`

func TestParseSDP(t *testing.T) {
	s, err := ParseSDP(crlf(baresipOffer))
	if err != nil {
		t.Fatal(err)
	}
	if s.Origin.SessionID != "1928374650" || s.Origin.Address != "192.168.1.20" || s.Origin.AddrType != "IP4" {
		t.Errorf("origin = %+v", s.Origin)
	}
	if s.Connection == nil || s.Connection.Addr != netip.MustParseAddr("192.168.1.20") {
		t.Fatalf("session c= = %+v", s.Connection)
	}
	if len(s.Media) != 1 {
		t.Fatalf("%d media", len(s.Media))
	}
	m := s.Media[0]
	if m.Media != "audio" || m.Port != 10072 || m.Proto != "RTP/AVP" ||
		strings.Join(m.Formats, " ") != "0 8 9 96 3 101" {
		t.Errorf("m= = %+v", m)
	}
	if r, ok := m.RTPMap(96); !ok || r.Name != "opus" || r.ClockRate != 48000 || r.Channels != 2 {
		t.Errorf("rtpmap 96 = %+v %v", r, ok)
	}
	if got := m.Fmtp("101"); got != "0-15" {
		t.Errorf("fmtp 101 = %q", got)
	}
	if got := m.Fmtp("96"); got != "stereo=1;sprop-stereo=1" {
		t.Errorf("fmtp 96 = %q", got)
	}
	if m.Ptime != 20 || m.Direction != DirSendRecv {
		t.Errorf("ptime %d direction %q", m.Ptime, m.Direction)
	}
	if m.RTCP == nil || m.RTCP.Port != 10073 || m.RTCP.Addr.IsValid() {
		t.Errorf("rtcp = %+v", m.RTCP)
	}
	if _, ok := m.Attribute("rtcp-rsize"); !ok {
		t.Error("rtcp-rsize attribute missing")
	}
	if v, _ := m.Attribute("label"); v != "1" {
		t.Errorf("label = %q", v)
	}

	// The same body with bare LF parses the same.
	s2, err := ParseSDP([]byte(strings.TrimLeft(baresipOffer, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(s2.Media) != 1 || len(s2.Media[0].RTPMaps) != len(m.RTPMaps) {
		t.Error("LF body parsed differently")
	}
}

func TestParseSDPDetails(t *testing.T) {
	s, err := ParseSDP(crlf(`
v=0
o=- 1 2 IN IP6 2001:db8::1
s=x
c=IN IP6 2001:db8::1
t=0 0
a=recvonly
m=audio 4000/2 RTP/AVP 0
c=IN IP4 224.2.1.1/127/3
a=rtcp:53020 IN IP4 126.16.64.4
a=ptime:30.0
m=video 0 RTP/AVP 31
m=application 9 TCP/BFCP *
`))
	if err != nil {
		t.Fatal(err)
	}
	if s.Direction != DirRecvOnly || s.Connection.AddrType != "IP6" {
		t.Errorf("session: %+v", s)
	}
	m := s.Media[0]
	if m.NumPorts != 2 || m.Connection.Addr != netip.MustParseAddr("224.2.1.1") || m.Ptime != 30 {
		t.Errorf("media 0: %+v", m)
	}
	if m.RTCP.Port != 53020 || m.RTCP.Addr != netip.MustParseAddr("126.16.64.4") {
		t.Errorf("rtcp: %+v", m.RTCP)
	}
	if s.Media[2].Formats[0] != "*" {
		t.Error("non-RTP formats are kept verbatim")
	}
}

func TestParseSDPErrors(t *testing.T) {
	cases := map[string]string{
		"empty":             "",
		"only blank lines":  "\r\n\r\n",
		"not sdp":           "hello world",
		"http":              "HTTP/1.1 200 OK\r\n",
		"v not first":       "o=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n",
		"bad version":       "v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\n",
		"missing o":         "v=0\r\ns=-\r\n",
		"short o":           "v=0\r\no=- 1 IN IP4 1.2.3.4\r\n",
		"uppercase type":    "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nM=audio 1 RTP/AVP 0\r\n",
		"no equals":         "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm audio\r\n",
		"bad c addr":        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 300.1.1.1\r\n",
		"c fqdn":            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 pbx.example.com\r\n",
		"c family mismatch": "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=IN IP4 ::1\r\n",
		"c nettype":         "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nc=ATM NSAP 47.0005\r\n",
		"m short":           "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1000 RTP/AVP\r\n",
		"m port":            "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n",
		"m negative port":   "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio -1 RTP/AVP 0\r\n",
		"m bad pt":          "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1000 RTP/AVP 0 128\r\n",
		"m text pt":         "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1000 RTP/AVP PCMU\r\n",
		"rtpmap no rate":    "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n",
		"rtpmap bad pt":     "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1000 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n",
		"bad ptime":         "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1000 RTP/AVP 0\r\na=ptime:fast\r\n",
		"bad rtcp":          "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1000 RTP/AVP 0\r\na=rtcp:abc\r\n",
		"empty attribute":   "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nm=audio 1000 RTP/AVP 0\r\na=\r\n",
		"nul byte":          "v=0\r\no=- 1 1 IN IP4 1.2.3.4\x00\r\n",
		"repeated v":        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\nv=0\r\n",
		"too big":           "v=0\r\n" + strings.Repeat("a=x\r\n", 20000),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := ParseSDP([]byte(body))
			if err == nil {
				t.Fatalf("parsed: %+v", s)
			}
			var se *SDPError
			if !errors.As(err, &se) || !strings.HasPrefix(err.Error(), "sdp: ") {
				t.Errorf("error %q is not an *SDPError", err)
			}
		})
	}
}

var (
	localIP = netip.MustParseAddr("198.51.100.7")
	prefs   = []codec.Codec{codec.PCMU, codec.PCMA}
)

func TestAnswer(t *testing.T) {
	tests := []struct {
		name    string
		offer   string
		prefs   []codec.Codec
		wantErr error
		want    Negotiated
		// lines the answer must contain, and must not
		has, hasNot []string
	}{
		{
			name:  "sipp PCMA + telephone-event",
			offer: sippOffer,
			want: Negotiated{Codec: codec.PCMA, DTMFPayloadType: 101,
				Remote: netip.MustParseAddrPort("10.0.0.5:6000"), Ptime: 20, Direction: DirSendRecv},
			has: []string{"m=audio 4000 RTP/AVP 8 101", "a=rtpmap:8 PCMA/8000",
				"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-15", "a=ptime:20", "a=sendrecv",
				"c=IN IP4 198.51.100.7", "o=voxgate 42 42 IN IP4 198.51.100.7"},
		},
		{
			name:  "baresip: our preference order wins",
			offer: baresipOffer,
			prefs: []codec.Codec{codec.PCMA, codec.PCMU},
			want: Negotiated{Codec: codec.PCMA, DTMFPayloadType: 101,
				Remote: netip.MustParseAddrPort("192.168.1.20:10072"), Ptime: 20, Direction: DirSendRecv},
			has:    []string{"m=audio 4000 RTP/AVP 8 101\r\n"},
			hasNot: []string{"opus", "G722", "rtcp-rsize"},
		},
		{
			name:  "baresip: PCMU first",
			offer: baresipOffer,
			want: Negotiated{Codec: codec.PCMU, DTMFPayloadType: 101,
				Remote: netip.MustParseAddrPort("192.168.1.20:10072"), Ptime: 20, Direction: DirSendRecv},
			has: []string{"m=audio 4000 RTP/AVP 0 101\r\n", "a=rtpmap:0 PCMU/8000"},
		},
		{
			name: "static payload type without rtpmap, ptime 30, no DTMF",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 5004 RTP/AVP 18 8
a=ptime:30
`,
			want: Negotiated{Codec: codec.PCMA, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("10.1.1.1:5004"), Ptime: 30, Direction: DirSendRecv},
			has:    []string{"m=audio 4000 RTP/AVP 8\r\n", "a=ptime:20"},
			hasNot: []string{"telephone-event"},
		},
		{
			name: "session-level ptime",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
a=ptime:40
m=audio 5004 RTP/AVP 0
`,
			want: Negotiated{Codec: codec.PCMU, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("10.1.1.1:5004"), Ptime: 40, Direction: DirSendRecv},
		},
		{
			name: "dynamic payload type matched by rtpmap name",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 5004 RTP/AVP 97 98
a=rtpmap:97 pcmu/8000
a=rtpmap:98 telephone-event/8000
`,
			want: Negotiated{Codec: codec.Codec{Name: "PCMU", ClockRate: 8000, PayloadType: 97}, DTMFPayloadType: 98,
				Remote: netip.MustParseAddrPort("10.1.1.1:5004"), Ptime: 20, Direction: DirSendRecv},
			has: []string{"m=audio 4000 RTP/AVP 97 98", "a=rtpmap:97 PCMU/8000"},
		},
		{
			name: "telephone-event at another clock rate is not taken",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 5004 RTP/AVP 0 100 101
a=rtpmap:100 telephone-event/48000
a=rtpmap:101 telephone-event/8000
`,
			want: Negotiated{Codec: codec.PCMU, DTMFPayloadType: 101,
				Remote: netip.MustParseAddrPort("10.1.1.1:5004"), Ptime: 20, Direction: DirSendRecv},
		},
		{
			name: "no common codec",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 5004 RTP/AVP 9 96 101
a=rtpmap:96 opus/48000/2
a=rtpmap:101 telephone-event/8000
`,
			wantErr: ErrNoCommonCodec,
		},
		{
			name: "static 0 remapped by rtpmap to something else",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 5004 RTP/AVP 0
a=rtpmap:0 G729/8000
`,
			wantErr: ErrNoCommonCodec,
		},
		{
			name: "no audio",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=video 5006 RTP/AVP 96
a=rtpmap:96 H264/90000
`,
			wantErr: ErrNoAudio,
		},
		{
			name: "no media at all",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
t=0 0
`,
			wantErr: ErrNoAudio,
		},
		{
			name: "audio disabled",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 0 RTP/AVP 0
`,
			wantErr: ErrNoAudio,
		},
		{
			name: "SRTP only",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 5004 RTP/SAVP 0 8
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz
`,
			wantErr: ErrUnsupportedTransport,
		},
		{
			name: "no connection line",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
t=0 0
m=audio 5004 RTP/AVP 0
`,
			wantErr: ErrNoConnection,
		},
		{
			name: "IPv6 connection",
			offer: `
v=0
o=- 1 1 IN IP6 2001:db8::10
s=-
c=IN IP6 2001:db8::10
t=0 0
m=audio 7078 RTP/AVP 0
`,
			want: Negotiated{Codec: codec.PCMU, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("[2001:db8::10]:7078"), Ptime: 20, Direction: DirSendRecv},
		},
		{
			name: "media-level c= overrides session-level",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 5004 RTP/AVP 0
c=IN IP4 10.2.2.2
`,
			want: Negotiated{Codec: codec.PCMU, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("10.2.2.2:5004"), Ptime: 20, Direction: DirSendRecv},
		},
		{
			name: "media-level c= only",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
t=0 0
m=audio 5004 RTP/AVP 0
c=IN IP4 10.3.3.3
`,
			want: Negotiated{Codec: codec.PCMU, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("10.3.3.3:5004"), Ptime: 20, Direction: DirSendRecv},
		},
		{
			name: "hold with 0.0.0.0",
			offer: `
v=0
o=- 1 2 IN IP4 10.1.1.1
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 5004 RTP/AVP 0
`,
			want: Negotiated{Codec: codec.PCMU, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("0.0.0.0:5004"), Ptime: 20, Direction: DirRecvOnly},
			has: []string{"a=recvonly"},
		},
		{
			name: "hold with 0.0.0.0 and recvonly",
			offer: `
v=0
o=- 1 2 IN IP4 10.1.1.1
s=-
c=IN IP4 0.0.0.0
t=0 0
m=audio 5004 RTP/AVP 0
a=recvonly
`,
			want: Negotiated{Codec: codec.PCMU, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("0.0.0.0:5004"), Ptime: 20, Direction: DirInactive},
			has: []string{"a=inactive"},
		},
		{
			name: "sendonly offer gets recvonly",
			offer: `
v=0
o=- 1 2 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 5004 RTP/AVP 8
a=sendonly
`,
			want: Negotiated{Codec: codec.PCMA, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("10.1.1.1:5004"), Ptime: 20, Direction: DirRecvOnly},
			has: []string{"a=recvonly"},
		},
		{
			name: "session-level recvonly gets sendonly",
			offer: `
v=0
o=- 1 2 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
a=recvonly
m=audio 5004 RTP/AVP 8
`,
			want: Negotiated{Codec: codec.PCMA, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("10.1.1.1:5004"), Ptime: 20, Direction: DirSendOnly},
			has: []string{"a=sendonly"},
		},
		{
			name: "media-level direction overrides session-level",
			offer: `
v=0
o=- 1 2 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
a=recvonly
m=audio 5004 RTP/AVP 8
a=inactive
`,
			want: Negotiated{Codec: codec.PCMA, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("10.1.1.1:5004"), Ptime: 20, Direction: DirInactive},
		},
		{
			name: "video and a second audio line are rejected with port 0",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=video 5006 RTP/AVP 96 97
a=rtpmap:96 H264/90000
m=audio 5004 RTP/AVP 8
m=audio 5008 RTP/AVP 0
`,
			want: Negotiated{Codec: codec.PCMA, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("10.1.1.1:5004"), Ptime: 20, Direction: DirSendRecv},
			has: []string{"m=video 0 RTP/AVP 96 97\r\nm=audio 4000 RTP/AVP 8\r\n", "m=audio 0 RTP/AVP 0\r\n"},
		},
		{
			name: "SRTP line skipped for a plain RTP one",
			offer: `
v=0
o=- 1 1 IN IP4 10.1.1.1
s=-
c=IN IP4 10.1.1.1
t=0 0
m=audio 5002 RTP/SAVP 0
m=audio 5004 RTP/AVP 0
`,
			want: Negotiated{Codec: codec.PCMU, DTMFPayloadType: -1,
				Remote: netip.MustParseAddrPort("10.1.1.1:5004"), Ptime: 20, Direction: DirSendRecv},
			has: []string{"m=audio 0 RTP/SAVP 0\r\nm=audio 4000 RTP/AVP 0\r\n"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			offer, err := ParseSDP(crlf(tc.offer))
			if err != nil {
				t.Fatalf("parse offer: %v", err)
			}
			p := tc.prefs
			if p == nil {
				p = prefs
			}
			ans, neg, err := Answer(offer, p, localIP, 4000, 42)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if neg != tc.want {
				t.Errorf("negotiated\n got %+v\nwant %+v", neg, tc.want)
			}
			for _, s := range tc.has {
				if !strings.Contains(string(ans), s) {
					t.Errorf("answer lacks %q:\n%s", s, ans)
				}
			}
			for _, s := range tc.hasNot {
				if strings.Contains(string(ans), s) {
					t.Errorf("answer contains %q:\n%s", s, ans)
				}
			}
			// The answer is itself valid SDP with as many m= lines as the
			// offer, and negotiates back to the same codec.
			a, err := ParseSDP(ans)
			if err != nil {
				t.Fatalf("answer does not parse: %v\n%s", err, ans)
			}
			if len(a.Media) != len(offer.Media) {
				t.Fatalf("answer has %d m= lines, offer %d", len(a.Media), len(offer.Media))
			}
			for _, line := range strings.SplitAfter(string(ans), "\n") {
				if line != "" && !strings.HasSuffix(line, "\r\n") {
					t.Errorf("line %q not CRLF-terminated", line)
				}
			}
		})
	}
}

func TestAnswerIPv6Local(t *testing.T) {
	offer, err := ParseSDP(crlf(sippOffer))
	if err != nil {
		t.Fatal(err)
	}
	ans, _, err := Answer(offer, prefs, netip.MustParseAddr("2001:db8::5"), 20000, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"o=voxgate 7 7 IN IP6 2001:db8::5\r\n", "c=IN IP6 2001:db8::5\r\n"} {
		if !strings.Contains(string(ans), want) {
			t.Errorf("answer lacks %q:\n%s", want, ans)
		}
	}
	if _, _, err := Answer(offer, prefs, netip.Addr{}, 20000, 7); err == nil {
		t.Error("invalid local IP accepted")
	}
	if _, _, err := Answer(offer, prefs, localIP, 0, 7); err == nil {
		t.Error("port 0 accepted")
	}
	if _, _, err := Answer(nil, prefs, localIP, 20000, 7); err == nil {
		t.Error("nil offer accepted")
	}
	if _, _, err := Answer(offer, nil, localIP, 20000, 7); !errors.Is(err, ErrNoCommonCodec) {
		t.Errorf("no prefs: %v", err)
	}
}

func FuzzParseSDP(f *testing.F) {
	for _, s := range []string{sippOffer, baresipOffer} {
		f.Add(crlf(s))
		f.Add([]byte(s))
	}
	f.Add([]byte("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\nc=IN IP6 ::\r\nm=audio 1/2 RTP/AVP 0 127\r\na=rtcp:9 IN IP6 ::1\r\na=ptime:0.4\r\n"))
	f.Add([]byte("v=0\no=a b c d e f\nm=x 0 y z\na=rtpmap:0 a/1/1\na=fmtp:\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSDP(b)
		if err != nil {
			if s != nil {
				t.Fatal("non-nil SDP with error")
			}
			return
		}
		ans, neg, err := Answer(s, prefs, localIP, 30000, 1)
		if err != nil {
			return
		}
		if neg.Codec.Name != "PCMU" && neg.Codec.Name != "PCMA" {
			t.Fatalf("negotiated %+v", neg)
		}
		a, err := ParseSDP(ans)
		if err != nil {
			t.Fatalf("answer does not parse: %v\n%q", err, ans)
		}
		if len(a.Media) != len(s.Media) {
			t.Fatalf("answer has %d m= lines for %d", len(a.Media), len(s.Media))
		}
	})
}
