package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Plugin kinds.
const (
	KindRouter    = "router"
	KindConnector = "connector"
	KindExporter  = "exporter"
)

// Fallback actions.
const (
	ActionAgent  = "agent"
	ActionReject = "reject"
)

var (
	kinds      = []string{KindRouter, KindConnector, KindExporter}
	transports = []string{"udp", "tcp"}
	codecs     = []string{"PCMU", "PCMA"}
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// validator checks a decoded config. Keys of the wrong type were reported by
// the decoder and are skipped here, so one mistake gives one message.
type validator struct {
	c     *Config
	src   *source
	probs []Problem
}

func (v *validator) add(p path, format string, args ...any) {
	v.probs = append(v.probs, Problem{File: v.src.name, Line: v.src.line(p), Msg: fmt.Sprintf(format, args...)})
}

// check reports whether the key at p should be validated: it holds a value
// (given or default) that is not already reported as mistyped.
func (v *validator) check(p path) bool { return !v.src.bad(p) }

func validate(c *Config, src *source) []Problem {
	v := &validator{c: c, src: src}
	v.server()
	v.media()
	v.trunks()
	v.plugins()
	v.routing()
	v.cdr()
	v.log()
	return v.probs
}

func (v *validator) server() {
	s := &v.c.Server
	sv := path{}.key("server")

	if p := sv.key("listen"); v.check(p) {
		if len(s.Listen) == 0 {
			v.add(p, "server.listen is empty, so no SIP would be received; add { transport = \"udp\", addr = %q } or remove the key for the default (udp and tcp on %s)", DefaultSIPAddr, DefaultSIPAddr)
		}
		seen := map[string]int{}
		for i := range s.Listen {
			v.listen(p.idx(i), &s.Listen[i], seen)
		}
	}
	if p := sv.key("public_ip"); s.PublicIP != "" && v.check(p) {
		if ip, err := netip.ParseAddr(s.PublicIP); err != nil {
			v.add(p, "server.public_ip = %q is not an IP address; write the address SIP peers reach this host on, e.g. \"192.0.2.10\", or remove the key to announce the listen address", s.PublicIP)
		} else if ip.IsUnspecified() {
			v.add(p, "server.public_ip = %q cannot be announced to peers; write the host's reachable address, e.g. \"192.0.2.10\", or remove the key", s.PublicIP)
		}
	}
	if p := sv.key("user_agent"); v.check(p) && strings.TrimSpace(s.UserAgent) == "" {
		v.add(p, "server.user_agent is empty; set a name such as %q or remove the key for that default", DefaultUserAgent)
	}
	if p := sv.key("udp_read_buffer"); v.check(p) && s.UDPReadBuffer <= 0 {
		v.add(p, "server.udp_read_buffer = %d must be a positive number of bytes, e.g. %d (4 MiB)", s.UDPReadBuffer, DefaultUDPReadBuffer)
	}
	if p := sv.key("allowed_sources"); v.check(p) {
		for i := range s.AllowedSources {
			v.cidr(p.idx(i), &s.AllowedSources[i])
		}
		if len(s.AllowedSources) == 0 && !v.trunkSources() {
			v.add(p, "server.allowed_sources is empty, so every INVITE would be refused with 403; list the networks SIP peers call from, e.g. allowed_sources = [\"127.0.0.0/8\", \"::1/128\"]")
		}
	}
	v.positive(sv.key("drain_timeout"), "server.drain_timeout", s.DrainTimeout, "30s")
	for _, d := range []struct {
		key, val, example string
	}{
		{"run_dir", s.RunDir, "/run/voxgate"},
		{"state_dir", s.StateDir, "/var/lib/voxgate"},
	} {
		if p := sv.key(d.key); v.check(p) && strings.TrimSpace(d.val) == "" {
			v.add(p, "server.%s is empty; set a directory, e.g. %q, or remove the key for the default next to the config file", d.key, d.example)
		}
	}
}

func (v *validator) listen(p path, l *Listen, seen map[string]int) {
	if tp := p.key("transport"); v.check(tp) {
		l.Transport = strings.ToLower(strings.TrimSpace(l.Transport))
		switch {
		case l.Transport == "":
			v.add(tp, "%s.transport is missing; add transport = \"udp\" or transport = \"tcp\"", p)
		case !slices.Contains(transports, l.Transport):
			v.add(tp, "%s.transport = %q is not supported; use \"udp\" or \"tcp\"", p, l.Transport)
		}
	}
	ap := p.key("addr")
	if !v.check(ap) {
		return
	}
	if l.Addr == "" {
		v.add(ap, "%s.addr is missing; add addr = %q (IP:port)", p, DefaultSIPAddr)
		return
	}
	host, port, err := net.SplitHostPort(l.Addr)
	if err != nil || host == "" {
		v.add(ap, "%s.addr = %q is not IP:port; write an IP address and a port, e.g. %q or \"[::1]:5060\" (use \"0.0.0.0:5060\" for all addresses)", p, l.Addr, DefaultSIPAddr)
		return
	}
	if _, err := netip.ParseAddr(host); err != nil {
		v.add(ap, "%s.addr = %q: %q is not an IP address (host names are not resolved); write e.g. %q", p, l.Addr, host, DefaultSIPAddr)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		v.add(ap, "%s.addr = %q: port must be a number in 1..65535; write e.g. %q", p, l.Addr, DefaultSIPAddr)
		return
	}
	key := l.Transport + " " + l.Addr
	if first, dup := seen[key]; dup {
		v.add(p, "%s repeats %s %s of server.listen[%d]; remove one of the two", p, l.Transport, l.Addr, first)
		return
	}
	seen[key] = p[len(p)-1].index
}

// cidr checks one entry of an allowed_sources list and normalises it to
// CIDR form: a bare address becomes a /32 or /128 prefix.
func (v *validator) cidr(p path, s *string) {
	in := strings.TrimSpace(*s)
	if pr, err := netip.ParsePrefix(in); err == nil {
		*s = pr.Masked().String()
		return
	}
	if ip, err := netip.ParseAddr(in); err == nil {
		*s = netip.PrefixFrom(ip, ip.BitLen()).String()
		return
	}
	v.add(p, "%s = %q is not an IP address or CIDR; write e.g. \"10.0.0.0/8\", \"2001:db8::/32\" or \"192.0.2.10\"", p, *s)
}

func (v *validator) trunkSources() bool {
	for _, t := range v.c.Trunks {
		if len(t.AllowedSources) > 0 {
			return true
		}
	}
	return false
}

// positive checks a duration that must be above zero; what names the key in
// the message.
func (v *validator) positive(p path, what string, d Duration, example string) {
	if v.check(p) && d.Duration <= 0 {
		v.add(p, "%s = %q must be positive; write e.g. %s = %q", what, d.Duration.String(), lastKey(p), example)
	}
}

func (v *validator) media() {
	m := &v.c.Media
	md := path{}.key("media")
	minP, maxP := md.key("rtp_port_min"), md.key("rtp_port_max")

	minOK, maxOK := v.check(minP), v.check(maxP)
	if minOK && (m.RTPPortMin < 1024 || m.RTPPortMin > 65535) {
		v.add(minP, "media.rtp_port_min = %d is outside 1024..65535; use an unprivileged port, e.g. rtp_port_min = %d", m.RTPPortMin, DefaultRTPPortMin)
		minOK = false
	}
	if maxOK && (m.RTPPortMax < 1024 || m.RTPPortMax > 65535) {
		v.add(maxP, "media.rtp_port_max = %d is outside 1024..65535; use an unprivileged port, e.g. rtp_port_max = %d", m.RTPPortMax, DefaultRTPPortMax)
		maxOK = false
	}
	if minOK && m.RTPPortMin%2 != 0 {
		v.add(minP, "media.rtp_port_min = %d must be even (RTP uses the even port, RTCP the odd one above it); use rtp_port_min = %d", m.RTPPortMin, m.RTPPortMin-1)
	}
	if minOK && maxOK && m.RTPPortMin >= m.RTPPortMax {
		at := minP
		if v.src.absent(minP) {
			at = maxP
		}
		v.add(at, "media.rtp_port_min = %d must be below media.rtp_port_max = %d: the range needs at least 2 ports (one RTP/RTCP pair); e.g. %d..%d", m.RTPPortMin, m.RTPPortMax, DefaultRTPPortMin, DefaultRTPPortMax)
	}

	if p := md.key("rtp_ip"); v.check(p) {
		if _, err := netip.ParseAddr(strings.TrimSpace(m.RTPIP)); err != nil {
			v.add(p, "media.rtp_ip = %q is not an IP address; write the address RTP sockets bind to, e.g. %q (or \"0.0.0.0\" for all)", m.RTPIP, DefaultRTPIP)
		}
	}

	if p := md.key("codecs"); v.check(p) {
		if len(m.Codecs) == 0 {
			v.add(p, "media.codecs is empty; list at least one, e.g. codecs = [\"PCMU\", \"PCMA\"]")
		}
		first := map[string]int{}
		for i, name := range m.Codecs {
			up := strings.ToUpper(strings.TrimSpace(name))
			m.Codecs[i] = up
			switch j, dup := first[up]; {
			case !slices.Contains(codecs, up):
				v.add(p.idx(i), "media.codecs[%d] = %q is not supported; use \"PCMU\" and/or \"PCMA\"", i, name)
			case dup:
				v.add(p.idx(i), "media.codecs[%d] = %q repeats media.codecs[%d]; list each codec once", i, name, j)
			default:
				first[up] = i
			}
		}
	}

	if p := md.key("ptime"); v.check(p) && m.Ptime != DefaultPtime {
		v.add(p, "media.ptime = %d is not supported: this version sends and expects 20 ms packets only; set ptime = 20 or remove the key", m.Ptime)
	}
	v.positive(md.key("media_timeout"), "media.media_timeout", m.MediaTimeout, "30s")
	v.positive(md.key("ring_timeout"), "media.ring_timeout", m.RingTimeout, "10s")
	if p := md.key("max_call_duration"); v.check(p) && m.MaxCallDuration.Duration < 0 {
		v.add(p, "media.max_call_duration = %q must not be negative; write e.g. \"4h\", or \"0s\" for no limit", m.MaxCallDuration.Duration.String())
	}
}

func (v *validator) trunks() {
	seen := map[string]int{}
	for i := range v.c.Trunks {
		t := &v.c.Trunks[i]
		p := path{}.key("trunk").idx(i)
		if np := p.key("name"); v.check(np) {
			v.name(np, fmt.Sprintf("trunk #%d", i+1), "trunk", t.Name, seen)
		}
		if sp := p.key("allowed_sources"); v.check(sp) {
			for j := range t.AllowedSources {
				v.cidr(sp.idx(j), &t.AllowedSources[j])
			}
		}
	}
}

// name checks the name of a [[plugin]] or [[trunk]]: set, well-formed, unique.
func (v *validator) name(p path, label, table, name string, seen map[string]int) {
	if name == "" {
		v.add(p, "%s has no name; add name = \"...\" (lowercase letters, digits and \"-\")", label)
		return
	}
	if !validName(name) {
		v.add(p, "%s name %q may use only lowercase letters, digits and \"-\"; e.g. name = %q", table, name, sanitizeName(name))
		return
	}
	if first, dup := seen[name]; dup {
		v.add(p, "%s name %q is already used by the [[%s]] at line %d; give each [[%s]] its own name", table, name, table, first, table)
		return
	}
	seen[name] = v.src.line(p)
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return s != ""
}

// sanitizeName turns s into a valid name, to suggest it.
func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			b.WriteRune(r)
		} else if b.Len() > 0 && !strings.HasSuffix(b.String(), "-") {
			b.WriteByte('-')
		}
	}
	if out := strings.Trim(b.String(), "-"); out != "" {
		return out
	}
	return "my-plugin"
}

func (v *validator) plugins() {
	seen := map[string]int{}
	for i := range v.c.Plugins {
		pl := &v.c.Plugins[i]
		p := path{}.key("plugin").idx(i)
		label := pluginLabel(i, pl)

		if np := p.key("name"); v.check(np) {
			v.name(np, fmt.Sprintf("plugin #%d", i+1), "plugin", pl.Name, seen)
		}
		if kp := p.key("kind"); v.check(kp) {
			kind := strings.ToLower(strings.TrimSpace(pl.Kind))
			switch {
			case kind == "":
				v.add(kp, "%s has no kind; add kind = \"router\", \"connector\" or \"exporter\"", label)
			case !slices.Contains(kinds, kind):
				hint := ""
				if s := closest(kind, kinds); s != "" {
					hint = fmt.Sprintf("did you mean %q? ", s)
				}
				v.add(kp, "%s: kind = %q is not a plugin kind; %suse \"router\", \"connector\" or \"exporter\"", label, pl.Kind, hint)
			default:
				pl.Kind = kind
			}
		}
		if pp := p.key("path"); v.check(pp) && strings.TrimSpace(pl.Path) == "" {
			example := "../bin/plugins/" + pl.Name
			if !validName(pl.Name) {
				example = "../bin/plugins/my-plugin"
			}
			v.add(pp, "%s has no path; add path = %q (the plugin binary, relative to this file's directory)", label, example)
		}
		if sp := p.key("sha256"); v.check(sp) && pl.SHA256 != "" {
			sum := strings.ToLower(strings.TrimSpace(pl.SHA256))
			if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
				bin := pl.Path
				if bin == "" {
					bin = "PLUGIN-BINARY"
				}
				v.add(sp, "%s: sha256 must be 64 hex digits (got %d characters); compute it with `sha256sum %s`, or remove the key", label, len(pl.SHA256), bin)
			} else {
				pl.SHA256 = sum
			}
		}
		v.positive(p.key("deadline"), label+": deadline", pl.Deadline, "500ms")
		if ep := p.key("env"); v.check(ep) {
			first := map[string]int{}
			for j, kv := range pl.Env {
				k, _, ok := strings.Cut(kv, "=")
				switch jj, dup := first[k]; {
				case !ok:
					v.add(ep.idx(j), "%s: env[%d] = %q must be KEY=VALUE, e.g. \"%s=value\"", label, j, kv, envKeyExample(kv))
				case !validEnvKey(k):
					v.add(ep.idx(j), "%s: env[%d]: %q is not a variable name; use letters, digits and \"_\", not starting with a digit", label, j, k)
				case dup:
					v.add(ep.idx(j), "%s: env[%d] sets %s again (already set by env[%d]); keep one", label, j, k, jj)
				default:
					first[k] = j
				}
			}
		}
	}
}

func pluginLabel(i int, pl *Plugin) string {
	if pl.Name != "" {
		return fmt.Sprintf("plugin %q", pl.Name)
	}
	return fmt.Sprintf("plugin #%d", i+1)
}

func validEnvKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '_' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return k != ""
}

func envKeyExample(kv string) string {
	if validEnvKey(kv) {
		return kv
	}
	return "KEY"
}

// ref checks that name, set at p, names a plugin of the given kind.
func (v *validator) ref(p path, name, kind string) {
	var (
		pl     *Plugin
		ofKind []string
	)
	for i := range v.c.Plugins {
		if v.c.Plugins[i].Kind == kind && v.c.Plugins[i].Name != "" {
			ofKind = append(ofKind, v.c.Plugins[i].Name)
		}
		if v.c.Plugins[i].Name == name {
			pl = &v.c.Plugins[i]
		}
	}
	useOne := fmt.Sprintf("use one of the plugins of kind %q: %s", kind, quoteList(ofKind))
	switch {
	case pl == nil:
		candidates := ofKind
		if len(candidates) == 0 {
			candidates = v.pluginNames()
		}
		switch s := closest(name, candidates); {
		case s != "":
			v.add(p, "%s = %q names no [[plugin]]; did you mean %q?", p, name, s)
		case len(ofKind) > 0:
			v.add(p, "%s = %q names no [[plugin]]; %s", p, name, useOne)
		default:
			v.add(p, "%s = %q names no [[plugin]]; define a [[plugin]] with name = %q and kind = %q", p, name, name, kind)
		}
	case pl.Kind != kind && slices.Contains(kinds, pl.Kind): // a bad kind is reported with the plugin
		if len(ofKind) == 0 {
			useOne = fmt.Sprintf("add a [[plugin]] with kind = %q and name it here", kind)
		}
		v.add(p, "%s = %q names a plugin of kind %q, but it needs one of kind %q; %s", p, name, pl.Kind, kind, useOne)
	}
}

func (v *validator) pluginNames() []string {
	names := make([]string, 0, len(v.c.Plugins))
	for _, pl := range v.c.Plugins {
		if pl.Name != "" {
			names = append(names, pl.Name)
		}
	}
	return names
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

func (v *validator) routing() {
	r := &v.c.Routing
	rp := path{}.key("routing")

	if p := rp.key("router"); v.check(p) {
		if r.Router == "" {
			example := "router-static"
			for _, pl := range v.c.Plugins {
				if pl.Kind == KindRouter && pl.Name != "" {
					example = pl.Name
					break
				}
			}
			v.add(p, "routing.router is not set; name the [[plugin]] of kind \"router\" that routes each call: add [routing] router = %q", example)
		} else {
			v.ref(p, r.Router, KindRouter)
		}
	}

	fp := rp.key("fallback")
	if !v.check(fp) {
		return
	}
	f := &r.Fallback
	if ap := fp.key("action"); v.check(ap) {
		f.Action = strings.ToLower(strings.TrimSpace(f.Action))
		switch f.Action {
		case "":
			v.add(ap, "routing.fallback.action is missing; add action = \"agent\" (with connector = \"...\") or action = \"reject\" (with sip_code = 503)")
		case ActionAgent:
			if cp := fp.key("connector"); v.check(cp) {
				if f.Connector == "" {
					if v.src.absent(cp) {
						cp = ap
					}
					v.add(cp, "routing.fallback.action = \"agent\" needs a connector; add connector = \"<name of a [[plugin]] of kind \\\"connector\\\">\"")
				} else {
					v.ref(cp, f.Connector, KindConnector)
				}
			}
		case ActionReject:
			if cp := fp.key("sip_code"); v.check(cp) && (f.SIPCode < 400 || f.SIPCode > 699) {
				if v.src.absent(cp) {
					v.add(cp, "routing.fallback.action = \"reject\" needs a SIP error code; add sip_code = 503 (any of 400..699)")
				} else {
					v.add(cp, "routing.fallback.sip_code = %d is not a SIP error code; use one in 400..699, e.g. sip_code = 503", f.SIPCode)
				}
			}
		default:
			v.add(ap, "routing.fallback.action = %q is not valid; use \"agent\" or \"reject\"", f.Action)
		}
	}
}

func (v *validator) cdr() {
	cd := path{}.key("cdr")
	c := &v.c.CDR
	if p := cd.key("segment_bytes"); v.check(p) && (c.SegmentBytes < 64<<10 || c.SegmentBytes > 1<<30) {
		v.add(p, "cdr.segment_bytes = %d is out of range; use 65536 (64 KiB) to 1073741824 (1 GiB), e.g. 16777216", c.SegmentBytes)
	}
	if p := cd.key("max_spool_bytes"); v.check(p) && c.MaxSpoolBytes < 2*c.SegmentBytes {
		v.add(p, "cdr.max_spool_bytes = %d must be at least twice cdr.segment_bytes (%d); e.g. max_spool_bytes = 1073741824", c.MaxSpoolBytes, c.SegmentBytes)
	}
	if p := cd.key("on_full"); v.check(p) && c.OnFull != "reject-calls" && c.OnFull != "drop-oldest" {
		v.add(p, "cdr.on_full = %q is not valid; use \"reject-calls\" (new calls get 503 until exporters catch up) or \"drop-oldest\"", c.OnFull)
	}
	p := cd.key("exporters")
	if !v.check(p) {
		return
	}
	first := map[string]int{}
	for i, name := range v.c.CDR.Exporters {
		if j, dup := first[name]; dup {
			v.add(p.idx(i), "cdr.exporters[%d] = %q repeats cdr.exporters[%d]; list each exporter once", i, name, j)
			continue
		}
		first[name] = i
		v.ref(p.idx(i), name, KindExporter)
	}
}

func (v *validator) log() {
	l := &v.c.Log
	lp := path{}.key("log")
	if p := lp.key("level"); v.check(p) {
		l.Level = strings.ToLower(strings.TrimSpace(l.Level))
		if !slices.Contains(logLevels, l.Level) {
			v.add(p, "log.level = %q is not valid; use \"debug\", \"info\", \"warn\" or \"error\"", l.Level)
		}
	}
	if p := lp.key("format"); v.check(p) {
		l.Format = strings.ToLower(strings.TrimSpace(l.Format))
		if !slices.Contains(logFormats, l.Format) {
			v.add(p, "log.format = %q is not valid; use \"text\" or \"json\"", l.Format)
		}
	}
}
