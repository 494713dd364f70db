// Package media implements the media plane of a call: SDP offer/answer,
// RTP port allocation and the RTP session that carries G.711 audio and
// RFC 4733 DTMF between a SIP peer and the daemon.
package media

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/voxgate/voxgate/daemon/codec"
)

// Limits that keep a hostile SDP body cheap to refuse.
const (
	maxSDPSize    = 64 << 10
	maxSDPMedia   = 32
	maxSDPFormats = 128
)

// Media direction attributes (RFC 4566 §6, RFC 3264 §5.1).
const (
	DirSendRecv = "sendrecv"
	DirSendOnly = "sendonly"
	DirRecvOnly = "recvonly"
	DirInactive = "inactive"
)

// SDP is the part of a session description (RFC 4566) voxgate uses.
type SDP struct {
	Origin      Origin
	SessionName string
	Connection  *Connection // session-level c=, nil if absent
	Direction   string      // session-level direction attribute, "" if absent
	Attributes  []Attribute // session-level a= lines other than the direction
	Media       []*MediaDesc
}

// Origin is the o= line.
type Origin struct {
	Username       string
	SessionID      string // numeric strings, kept verbatim: they may exceed 64 bits
	SessionVersion string
	NetType        string
	AddrType       string
	Address        string // not necessarily an IP literal
}

// Connection is a c= line. Only IP literals are accepted; a multicast
// TTL/count suffix is dropped.
type Connection struct {
	NetType  string // "IN"
	AddrType string // "IP4" or "IP6"
	Addr     netip.Addr
}

// MediaDesc is one m= section.
type MediaDesc struct {
	Media      string   // "audio", "video", ...
	Port       int      // 0 means the stream is disabled
	NumPorts   int      // the "/n" suffix of the port, 1 if absent
	Proto      string   // "RTP/AVP", "RTP/SAVP", ...
	Formats    []string // payload types for RTP protocols, in the offerer's preference order
	Connection *Connection
	RTPMaps    []RTPMap
	Fmtps      []Fmtp
	Ptime      int    // a=ptime in ms, 0 if absent
	Direction  string // media-level direction attribute, "" if absent
	RTCP       *RTCP  // a=rtcp (RFC 3605), nil if absent
	Attributes []Attribute
}

// RTPMap is an a=rtpmap attribute.
type RTPMap struct {
	PayloadType uint8
	Name        string
	ClockRate   int
	Channels    int // 0 if not given
}

// Fmtp is an a=fmtp attribute.
type Fmtp struct {
	Format string
	Params string
}

// RTCP is an a=rtcp attribute (RFC 3605).
type RTCP struct {
	Port int
	Addr netip.Addr // invalid if only the port was given
}

// Attribute is any other a= line; Value is "" for a flag attribute.
type Attribute struct {
	Key   string
	Value string
}

// RTPMap returns the rtpmap for payload type pt.
func (m *MediaDesc) RTPMap(pt uint8) (RTPMap, bool) {
	for _, r := range m.RTPMaps {
		if r.PayloadType == pt {
			return r, true
		}
	}
	return RTPMap{}, false
}

// Fmtp returns the format parameters for format f, "" if none.
func (m *MediaDesc) Fmtp(f string) string {
	for _, x := range m.Fmtps {
		if x.Format == f {
			return x.Params
		}
	}
	return ""
}

// Attribute returns the value of the first media-level attribute key.
func (m *MediaDesc) Attribute(key string) (string, bool) {
	for _, a := range m.Attributes {
		if strings.EqualFold(a.Key, key) {
			return a.Value, true
		}
	}
	return "", false
}

// isRTP reports whether proto is an RTP profile, whose formats are payload
// type numbers.
func isRTP(proto string) bool {
	return len(proto) >= 4 && strings.EqualFold(proto[:4], "RTP/")
}

// SDPError is a parse failure, with the 1-based line number (0 when the
// problem is not tied to a line).
type SDPError struct {
	Line int
	Msg  string
}

func (e *SDPError) Error() string {
	if e.Line == 0 {
		return "sdp: " + e.Msg
	}
	return fmt.Sprintf("sdp: line %d: %s", e.Line, e.Msg)
}

// quote shortens s for an error message.
func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

// ParseSDP parses a session description. Lines may end in LF or CRLF and
// blank lines are skipped. It requires a leading v=0 and an o= line, refuses
// malformed lines and malformed o=, c=, m=, a=rtpmap, a=fmtp, a=ptime and
// a=rtcp values, and ignores line types and attributes it has no use for.
func ParseSDP(b []byte) (*SDP, error) {
	if len(b) > maxSDPSize {
		return nil, &SDPError{Msg: fmt.Sprintf("body of %d bytes exceeds %d", len(b), maxSDPSize)}
	}
	s := &SDP{}
	var (
		media   *MediaDesc
		sawV    bool
		sawO    bool
		lineNum int
	)
	rest := string(b)
	for len(rest) > 0 {
		var line string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i], rest[i+1:]
		} else {
			line, rest = rest, ""
		}
		lineNum++
		line = strings.TrimRight(line, " \t\r")
		if line == "" {
			continue
		}
		fail := func(format string, args ...any) error {
			return &SDPError{Line: lineNum, Msg: fmt.Sprintf(format, args...)}
		}
		if len(line) < 2 || line[1] != '=' || line[0] < 'a' || line[0] > 'z' {
			return nil, fail("not a <type>=<value> line: %s", quote(line))
		}
		for i := 0; i < len(line); i++ {
			if c := line[i]; (c < 0x20 && c != '\t') || c == 0x7F {
				return nil, fail("control character %#02x", c)
			}
		}
		typ, val := line[0], line[2:]
		if !sawV {
			if typ != 'v' || strings.TrimSpace(val) != "0" {
				return nil, fail("a session description must start with v=0, got %s", quote(line))
			}
			sawV = true
			continue
		}
		var err error
		switch typ {
		case 'v':
			return nil, fail("repeated v= line")
		case 'o':
			if media != nil || sawO {
				return nil, fail("misplaced o= line")
			}
			f := strings.Fields(val)
			if len(f) != 6 {
				return nil, fail("o= needs 6 fields, got %s", quote(val))
			}
			s.Origin = Origin{f[0], f[1], f[2], f[3], f[4], f[5]}
			sawO = true
		case 's':
			if media == nil {
				s.SessionName = val
			}
		case 'c':
			var c *Connection
			if c, err = parseConnection(val); err != nil {
				return nil, fail("c=: %v", err)
			}
			if media == nil {
				if s.Connection == nil {
					s.Connection = c
				}
			} else if media.Connection == nil {
				media.Connection = c
			}
		case 'm':
			if len(s.Media) == maxSDPMedia {
				return nil, fail("more than %d m= lines", maxSDPMedia)
			}
			if media, err = parseMediaLine(val); err != nil {
				return nil, fail("m=: %v", err)
			}
			s.Media = append(s.Media, media)
		case 'a':
			if err = parseAttribute(s, media, val); err != nil {
				return nil, fail("a=: %v", err)
			}
		}
	}
	if !sawV {
		return nil, &SDPError{Msg: "empty session description"}
	}
	if !sawO {
		return nil, &SDPError{Msg: "missing o= line"}
	}
	return s, nil
}

func parseConnection(val string) (*Connection, error) {
	f := strings.Fields(val)
	if len(f) != 3 {
		return nil, fmt.Errorf("need <nettype> <addrtype> <address>, got %s", quote(val))
	}
	if !strings.EqualFold(f[0], "IN") {
		return nil, fmt.Errorf("unsupported network type %s", quote(f[0]))
	}
	host, _, _ := strings.Cut(f[2], "/") // multicast TTL and count
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Zone() != "" {
		return nil, fmt.Errorf("address %s is not an IP literal", quote(f[2]))
	}
	c := &Connection{NetType: "IN", Addr: addr}
	switch {
	case strings.EqualFold(f[1], "IP4"):
		if !addr.Is4() {
			return nil, fmt.Errorf("address %s is not IPv4", quote(host))
		}
		c.AddrType = "IP4"
	case strings.EqualFold(f[1], "IP6"):
		if !addr.Is6() {
			return nil, fmt.Errorf("address %s is not IPv6", quote(host))
		}
		c.AddrType = "IP6"
	default:
		return nil, fmt.Errorf("unsupported address type %s", quote(f[1]))
	}
	return c, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 || p > 65535 || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("invalid port %s", quote(s))
	}
	return p, nil
}

func parseMediaLine(val string) (*MediaDesc, error) {
	f := strings.Fields(val)
	if len(f) < 4 {
		return nil, fmt.Errorf("need <media> <port> <proto> <fmt>..., got %s", quote(val))
	}
	if len(f)-3 > maxSDPFormats {
		return nil, fmt.Errorf("more than %d formats", maxSDPFormats)
	}
	m := &MediaDesc{Media: f[0], Proto: f[2], NumPorts: 1}
	portStr, numStr, hasNum := strings.Cut(f[1], "/")
	var err error
	if m.Port, err = parsePort(portStr); err != nil {
		return nil, err
	}
	if hasNum {
		if m.NumPorts, err = strconv.Atoi(numStr); err != nil || m.NumPorts < 1 || m.NumPorts > 65535 {
			return nil, fmt.Errorf("invalid port count %s", quote(numStr))
		}
	}
	m.Formats = f[3:]
	if isRTP(m.Proto) {
		for _, x := range m.Formats {
			if _, err := parsePT(x); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func parsePT(s string) (uint8, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 127 || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("invalid RTP payload type %s", quote(s))
	}
	return uint8(n), nil
}

func parseAttribute(s *SDP, m *MediaDesc, val string) error {
	key, value, _ := strings.Cut(val, ":")
	if key == "" || strings.ContainsAny(key, " \t") {
		return fmt.Errorf("malformed attribute %s", quote(val))
	}
	switch strings.ToLower(key) {
	case DirSendRecv, DirSendOnly, DirRecvOnly, DirInactive:
		dir := strings.ToLower(key)
		if m == nil {
			s.Direction = dir
		} else {
			m.Direction = dir
		}
		return nil
	}
	if m == nil {
		s.Attributes = append(s.Attributes, Attribute{Key: key, Value: value})
		return nil
	}
	switch strings.ToLower(key) {
	case "rtpmap":
		r, err := parseRTPMap(value)
		if err != nil {
			return err
		}
		if _, dup := m.RTPMap(r.PayloadType); !dup {
			m.RTPMaps = append(m.RTPMaps, r)
		}
	case "fmtp":
		f, params, _ := strings.Cut(strings.TrimLeft(value, " \t"), " ")
		if f == "" {
			return fmt.Errorf("fmtp without a format: %s", quote(value))
		}
		m.Fmtps = append(m.Fmtps, Fmtp{Format: f, Params: strings.TrimSpace(params)})
	case "ptime":
		p, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || !(p > 0 && p <= 10000) {
			return fmt.Errorf("invalid ptime %s", quote(value))
		}
		m.Ptime = max(1, int(p+0.5))
	case "rtcp":
		r, err := parseRTCP(value)
		if err != nil {
			return err
		}
		m.RTCP = r
	default:
		m.Attributes = append(m.Attributes, Attribute{Key: key, Value: value})
	}
	return nil
}

// parseRTPMap parses "<pt> <name>/<rate>[/<channels>]".
func parseRTPMap(v string) (RTPMap, error) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return RTPMap{}, fmt.Errorf("rtpmap needs <pt> <encoding>/<rate>, got %s", quote(v))
	}
	pt, err := parsePT(f[0])
	if err != nil {
		return RTPMap{}, err
	}
	parts := strings.Split(f[1], "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return RTPMap{}, fmt.Errorf("rtpmap encoding %s is not <name>/<rate>[/<channels>]", quote(f[1]))
	}
	r := RTPMap{PayloadType: pt, Name: parts[0]}
	if r.ClockRate, err = strconv.Atoi(parts[1]); err != nil || r.ClockRate <= 0 {
		return RTPMap{}, fmt.Errorf("invalid rtpmap clock rate %s", quote(parts[1]))
	}
	if len(parts) == 3 {
		if r.Channels, err = strconv.Atoi(parts[2]); err != nil || r.Channels <= 0 {
			return RTPMap{}, fmt.Errorf("invalid rtpmap channel count %s", quote(parts[2]))
		}
	}
	return r, nil
}

// parseRTCP parses "<port> [<nettype> <addrtype> <address>]".
func parseRTCP(v string) (*RTCP, error) {
	f := strings.Fields(v)
	if len(f) != 1 && len(f) != 4 {
		return nil, fmt.Errorf("rtcp needs <port> [<nettype> <addrtype> <address>], got %s", quote(v))
	}
	p, err := parsePort(f[0])
	if err != nil {
		return nil, err
	}
	r := &RTCP{Port: p}
	if len(f) == 4 {
		c, err := parseConnection(strings.Join(f[1:], " "))
		if err != nil {
			return nil, fmt.Errorf("rtcp: %v", err)
		}
		r.Addr = c.Addr
	}
	return r, nil
}

// Errors of Answer. The SIP layer answers ErrNoCommonCodec, ErrNoAudio and
// ErrUnsupportedTransport with 488 Not Acceptable Here.
var (
	ErrNoCommonCodec        = errors.New("media: no common codec")
	ErrNoAudio              = errors.New("media: offer has no usable audio stream")
	ErrUnsupportedTransport = errors.New("media: unsupported media transport (only RTP/AVP)")
	ErrNoConnection         = errors.New("media: no connection address for the audio stream")
)

// Negotiated is the outcome of the offer/answer exchange for the audio
// stream.
type Negotiated struct {
	Codec           codec.Codec    // our codec, with the payload type the offer uses for it
	DTMFPayloadType int            // telephone-event payload type, -1 if none
	Remote          netip.AddrPort // where the offerer wants to receive RTP (c= and m=)
	Ptime           int            // the offer's a=ptime, 20 if absent
	Direction       string         // OUR direction, as written in the answer
}

// CanSend reports whether the negotiated direction lets us send media.
func (n Negotiated) CanSend() bool {
	return n.Direction != DirRecvOnly && n.Direction != DirInactive
}

// CanReceive reports whether the negotiated direction has the peer send
// media to us.
func (n Negotiated) CanReceive() bool {
	return n.Direction != DirSendOnly && n.Direction != DirInactive
}

// answerPtime is the packetisation we send and announce.
const answerPtime = 20

// Answer builds the answer (RFC 3264) to offer. The audio stream answered
// is the first audio m= line with a non-zero port and the RTP/AVP profile;
// its codec is the first of prefs (our order of preference) the offer
// lists, static payload types matching even without an rtpmap and dynamic
// ones by rtpmap name and clock rate. telephone-event at the codec's clock
// rate is accepted under the offer's payload type. Every other m= line is
// answered with port 0. The answer announces ptime 20, mirrors the
// offer's direction, and treats a connection address of 0.0.0.0 or :: as
// the offerer not wanting to receive (RFC 3264 §8.4 legacy hold).
func Answer(offer *SDP, prefs []codec.Codec, localIP netip.Addr, localPort int, sessID uint64) (answerSDP []byte, neg Negotiated, err error) {
	if offer == nil {
		return nil, Negotiated{}, errors.New("media: nil offer")
	}
	if !localIP.IsValid() {
		return nil, Negotiated{}, errors.New("media: invalid local IP")
	}
	if localPort <= 0 || localPort > 65535 {
		return nil, Negotiated{}, fmt.Errorf("media: invalid local port %d", localPort)
	}
	localIP = localIP.Unmap()

	audio := -1
	var sawAudio bool
	var badProto string
	for i, m := range offer.Media {
		if !strings.EqualFold(m.Media, "audio") {
			continue
		}
		sawAudio = true
		if m.Port == 0 {
			continue
		}
		if !strings.EqualFold(m.Proto, "RTP/AVP") {
			if badProto == "" {
				badProto = m.Proto
			}
			continue
		}
		audio = i
		break
	}
	switch {
	case audio >= 0:
	case badProto != "":
		return nil, Negotiated{}, fmt.Errorf("%w: offer uses %s", ErrUnsupportedTransport, badProto)
	case sawAudio:
		return nil, Negotiated{}, fmt.Errorf("%w: all audio streams are disabled (port 0)", ErrNoAudio)
	default:
		return nil, Negotiated{}, ErrNoAudio
	}
	m := offer.Media[audio]

	conn := m.Connection
	if conn == nil {
		conn = offer.Connection
	}
	if conn == nil {
		return nil, Negotiated{}, ErrNoConnection
	}

	chosen, ok := pickCodec(m, prefs)
	if !ok {
		return nil, Negotiated{}, fmt.Errorf("%w: offered %s", ErrNoCommonCodec, strings.Join(m.Formats, " "))
	}
	neg = Negotiated{
		Codec:           chosen,
		DTMFPayloadType: -1,
		Remote:          netip.AddrPortFrom(conn.Addr, uint16(m.Port)),
		Ptime:           answerPtime,
	}
	if m.Ptime > 0 {
		neg.Ptime = m.Ptime
	} else {
		for _, a := range offer.Attributes { // some offers put ptime at session level
			if p, err := strconv.Atoi(strings.TrimSpace(a.Value)); err == nil && p > 0 && p <= 10000 &&
				strings.EqualFold(a.Key, "ptime") {
				neg.Ptime = p
				break
			}
		}
	}
	for _, f := range m.Formats {
		pt, _ := parsePT(f) // validated by the parser for RTP profiles
		if r, ok := m.RTPMap(pt); ok && pt != chosen.PayloadType &&
			strings.EqualFold(r.Name, "telephone-event") && r.ClockRate == chosen.ClockRate {
			neg.DTMFPayloadType = int(pt)
			break
		}
	}

	offerDir := m.Direction
	if offerDir == "" {
		offerDir = offer.Direction
	}
	if offerDir == "" {
		offerDir = DirSendRecv
	}
	if conn.Addr.IsUnspecified() { // old-style hold: "do not send to me"
		switch offerDir {
		case DirSendRecv:
			offerDir = DirSendOnly
		case DirRecvOnly:
			offerDir = DirInactive
		}
	}
	switch offerDir {
	case DirSendOnly:
		neg.Direction = DirRecvOnly
	case DirRecvOnly:
		neg.Direction = DirSendOnly
	case DirInactive:
		neg.Direction = DirInactive
	default:
		neg.Direction = DirSendRecv
	}

	addrType := "IP4"
	if localIP.Is6() {
		addrType = "IP6"
	}
	var b strings.Builder
	b.Grow(512)
	fmt.Fprintf(&b, "v=0\r\no=voxgate %d %d IN %s %s\r\ns=voxgate\r\nc=IN %s %s\r\nt=0 0\r\n",
		sessID, sessID, addrType, localIP, addrType, localIP)
	for i, om := range offer.Media {
		if i != audio {
			// RFC 3264 §6: a rejected stream keeps its m= line with port 0.
			fmt.Fprintf(&b, "m=%s 0 %s %s\r\n", om.Media, om.Proto, strings.Join(om.Formats, " "))
			continue
		}
		fmt.Fprintf(&b, "m=audio %d RTP/AVP %d", localPort, chosen.PayloadType)
		if neg.DTMFPayloadType >= 0 {
			fmt.Fprintf(&b, " %d", neg.DTMFPayloadType)
		}
		fmt.Fprintf(&b, "\r\na=rtpmap:%d %s/%d\r\n", chosen.PayloadType, chosen.Name, chosen.ClockRate)
		if neg.DTMFPayloadType >= 0 {
			fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/%d\r\na=fmtp:%d 0-15\r\n",
				neg.DTMFPayloadType, chosen.ClockRate, neg.DTMFPayloadType)
		}
		fmt.Fprintf(&b, "a=ptime:%d\r\na=%s\r\n", answerPtime, neg.Direction)
	}
	return []byte(b.String()), neg, nil
}

// pickCodec returns the first codec of prefs that m offers, carrying the
// payload type the offer uses for it.
func pickCodec(m *MediaDesc, prefs []codec.Codec) (codec.Codec, bool) {
	for _, want := range prefs {
		for _, f := range m.Formats {
			pt, err := parsePT(f)
			if err != nil {
				continue
			}
			r, hasMap := m.RTPMap(pt)
			var match bool
			switch {
			case hasMap:
				match = strings.EqualFold(r.Name, want.Name) && r.ClockRate == want.ClockRate &&
					r.Channels <= 1
			case pt < 96:
				// A static payload type without rtpmap means its RFC 3551
				// assignment; only ours are known here.
				match = pt == want.PayloadType && isStatic(want)
			}
			if match {
				c := want
				c.PayloadType = pt
				return c, true
			}
		}
	}
	return codec.Codec{}, false
}

// isStatic reports whether c is one of the static RFC 3551 assignments we
// know (so its payload type may appear without an rtpmap).
func isStatic(c codec.Codec) bool {
	k, ok := codec.Lookup(c.Name)
	return ok && k.PayloadType == c.PayloadType && k.ClockRate == c.ClockRate
}
