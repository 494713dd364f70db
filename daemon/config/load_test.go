package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// base is the smallest valid file: one router, routed to by name.
const base = `
[[plugin]]
name = "router-static"
kind = "router"
path = "router-static"

[routing]
router = "router-static"
`

// loadText writes text to voxgate.toml in a fresh directory, makes that the
// working directory and loads it, so messages read as users see them.
func loadText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("voxgate.toml", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load("voxgate.toml")
}

func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var errs *Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want *Errors: %v", err, err)
	}
	if got := strings.Split(err.Error(), "\n"); len(got) != len(errs.List) {
		t.Errorf("Error() has %d lines for %d problems", len(got), len(errs.List))
	}
	out := make([]string, len(errs.List))
	for i, p := range errs.List {
		out[i] = p.String()
	}
	return out
}

func TestLoadProblems(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{
			name: "unknown key with suggestion",
			text: "[media]\nrtp_prot_min = 10000\n" + base,
			want: []string{`voxgate.toml:2: unknown key "rtp_prot_min" in [media]; did you mean "rtp_port_min"?`},
		},
		{
			name: "unknown key of another table",
			text: "[server]\nrtp_ip = \"127.0.0.1\"\n" + base,
			want: []string{`voxgate.toml:2: unknown key "rtp_ip" in [server]; "rtp_ip" belongs in [media], move it there`},
		},
		{
			name: "unknown key in a plugin",
			text: base + "\n[[plugin]]\nname = \"echo\"\nkind = \"connector\"\npath = \"echo\"\ndelay_ms = 5\n",
			want: []string{`voxgate.toml:14: unknown key "delay_ms" in [[plugin]] "echo"; settings for the plugin itself go in its [plugin.config] table`},
		},
		{
			name: "unknown table",
			text: "[mediaa]\nptime = 20\n" + base,
			want: []string{`voxgate.toml:1: unknown table "mediaa" at the top level; did you mean "media"?`},
		},
		{
			name: "unknown key without a near match",
			text: "[log]\ncolour = true\n" + base,
			want: []string{`voxgate.toml:2: unknown key "colour" in [log]; remove it (known keys here: format, level)`},
		},
		{
			name: "bad CIDR",
			text: "[server]\nallowed_sources = [\n  \"127.0.0.0/8\",\n  \"10.0.0.0/33\",\n]\n" + base,
			want: []string{`voxgate.toml:4: server.allowed_sources[1] = "10.0.0.0/33" is not an IP address or CIDR; write e.g. "10.0.0.0/8", "2001:db8::/32" or "192.0.2.10"`},
		},
		{
			name: "port range reversed",
			text: "[media]\nrtp_port_min = 20000\nrtp_port_max = 10000\n" + base,
			want: []string{`voxgate.toml:2: media.rtp_port_min = 20000 must be below media.rtp_port_max = 10000: the range needs at least 2 ports (one RTP/RTCP pair); e.g. 10000..20000`},
		},
		{
			name: "port range against the default minimum",
			text: "[media]\nrtp_port_max = 5000\n" + base,
			want: []string{`voxgate.toml:2: media.rtp_port_min = 10000 must be below media.rtp_port_max = 5000: the range needs at least 2 ports (one RTP/RTCP pair); e.g. 10000..20000`},
		},
		{
			name: "port range out of bounds and odd",
			text: "[media]\nrtp_port_min = 1001\nrtp_port_max = 70000\n[media.x]\n" + base,
			want: []string{
				`voxgate.toml:2: media.rtp_port_min = 1001 is outside 1024..65535; use an unprivileged port, e.g. rtp_port_min = 10000`,
				`voxgate.toml:3: media.rtp_port_max = 70000 is outside 1024..65535; use an unprivileged port, e.g. rtp_port_max = 20000`,
				`voxgate.toml:4: unknown table "x" in [media]; remove it (known keys here: codecs, max_call_duration, media_timeout, ptime, ring_timeout, rtp_ip, rtp_port_max, rtp_port_min)`,
			},
		},
		{
			name: "odd minimum port",
			text: "[media]\nrtp_port_min = 10001\n" + base,
			want: []string{`voxgate.toml:2: media.rtp_port_min = 10001 must be even (RTP uses the even port, RTCP the odd one above it); use rtp_port_min = 10000`},
		},
		{
			name: "duplicate plugin",
			text: base + "\n[[plugin]]\nname = \"router-static\"\nkind = \"router\"\npath = \"other\"\n",
			want: []string{`voxgate.toml:11: plugin name "router-static" is already used by the [[plugin]] at line 3; give each [[plugin]] its own name`},
		},
		{
			name: "router names a missing plugin",
			text: "[[plugin]]\nname = \"router-static\"\nkind = \"router\"\npath = \"r\"\n[routing]\nrouter = \"router-statik\"\n",
			want: []string{`voxgate.toml:6: routing.router = "router-statik" names no [[plugin]]; did you mean "router-static"?`},
		},
		{
			name: "router names nothing close",
			text: "[[plugin]]\nname = \"router-static\"\nkind = \"router\"\npath = \"r\"\n[routing]\nrouter = \"lcr\"\n",
			want: []string{`voxgate.toml:6: routing.router = "lcr" names no [[plugin]]; use one of the plugins of kind "router": "router-static"`},
		},
		{
			name: "router names a plugin of another kind",
			text: base + "[[plugin]]\nname = \"echo\"\nkind = \"connector\"\npath = \"e\"\n[routing.fallback]\naction = \"agent\"\nconnector = \"router-static\"\n",
			want: []string{`voxgate.toml:15: routing.fallback.connector = "router-static" names a plugin of kind "router", but it needs one of kind "connector"; use one of the plugins of kind "connector": "echo"`},
		},
		{
			name: "router not set",
			text: "[[plugin]]\nname = \"r\"\nkind = \"router\"\npath = \"r\"\n",
			want: []string{`voxgate.toml: routing.router is not set; name the [[plugin]] of kind "router" that routes each call: add [routing] router = "r"`},
		},
		{
			name: "syntax error",
			text: "[media]\nrtp_port_min =\n" + base,
			want: []string{`voxgate.toml:2: TOML syntax error: expected value but found '\n' instead; fix this line (the format is described at https://toml.io)`},
		},
		{
			name: "syntax error on the last line",
			text: base + "[log",
			want: []string{`voxgate.toml:9: TOML syntax error: expected '.' or ']' to end table name, but got the end of the file instead; fix this line (the format is described at https://toml.io)`},
		},
		{
			name: "type errors",
			text: "[media]\nrtp_port_min = \"10000\"\nptime = 20.0\ncodecs = \"PCMU\"\nmedia_timeout = 30\nring_timeout = \"10 sec\"\n" + base,
			want: []string{
				`voxgate.toml:2: media.rtp_port_min must be a whole number, got string "10000"; remove the quotes: rtp_port_min = 10000`,
				`voxgate.toml:3: media.ptime must be a whole number, got float 20; drop the decimal point: ptime = 20`,
				`voxgate.toml:4: media.codecs must be an array, got string "PCMU"; write a list in brackets, e.g. codecs = ["PCMU"]`,
				`voxgate.toml:5: media.media_timeout must be a duration in quotes, got integer 30; write it with a unit, e.g. media_timeout = "30s" (units: ms, s, m, h)`,
				`voxgate.toml:6: media.ring_timeout = "10 sec" is not a duration; write a number with a unit, e.g. ring_timeout = "10s" (units: ms, s, m, h)`,
			},
		},
		{
			name: "type errors of strings and tables",
			text: "[server]\nuser_agent = 7\n[routing]\nrouter = \"router-static\"\nfallback = \"reject\"\n[[plugin]]\nname = \"router-static\"\nkind = \"router\"\npath = \"r\"\nconfig = 1\n",
			want: []string{
				`voxgate.toml:2: server.user_agent must be a string, got integer 7; put the value in double quotes, e.g. user_agent = "7"`,
				`voxgate.toml:5: routing.fallback must be a table, got string "reject"; write it as a [routing.fallback] section or as { key = value, ... }`,
				`voxgate.toml:10: plugin[0].config must be a table, got integer 1; write it as a [plugin.config] section or as { key = value, ... }`,
			},
		},
		{
			name: "single table instead of array of tables",
			text: "[plugin]\nname = \"r\"\n[routing]\nrouter = \"r\"\n",
			want: []string{
				`voxgate.toml:1: plugin must be an array of tables, got a single table; write [[plugin]] (double brackets) above each entry`,
				`voxgate.toml:4: routing.router = "r" names no [[plugin]]; define a [[plugin]] with name = "r" and kind = "router"`,
			},
		},
		{
			name: "plugin without name, kind and path",
			text: base + "\n[[plugin]]\nsha256 = \"abc\"\ndeadline = \"0s\"\nenv = [\"A=1\", \"B\", \"A=2\", \"9=x\"]\n",
			want: []string{
				`voxgate.toml:10: plugin #2 has no name; add name = "..." (lowercase letters, digits and "-")`,
				`voxgate.toml:10: plugin #2 has no kind; add kind = "router", "connector" or "exporter"`,
				`voxgate.toml:10: plugin #2 has no path; add path = "../bin/plugins/my-plugin" (the plugin binary, relative to this file's directory)`,
				`voxgate.toml:11: plugin #2: sha256 must be 64 hex digits (got 3 characters); compute it with ` + "`sha256sum PLUGIN-BINARY`" + `, or remove the key`,
				`voxgate.toml:12: plugin #2: deadline = "0s" must be positive; write e.g. deadline = "500ms"`,
				`voxgate.toml:13: plugin #2: env[1] = "B" must be KEY=VALUE, e.g. "B=value"`,
				`voxgate.toml:13: plugin #2: env[2] sets A again (already set by env[0]); keep one`,
				`voxgate.toml:13: plugin #2: env[3]: "9" is not a variable name; use letters, digits and "_", not starting with a digit`,
			},
		},
		{
			name: "plugin name and kind invalid",
			text: base + "[[plugin]]\nname = \"My_Plugin\"\nkind = \"routr\"\npath = \"p\"\n",
			want: []string{
				`voxgate.toml:10: plugin name "My_Plugin" may use only lowercase letters, digits and "-"; e.g. name = "my-plugin"`,
				`voxgate.toml:11: plugin "My_Plugin": kind = "routr" is not a plugin kind; did you mean "router"? use "router", "connector" or "exporter"`,
			},
		},
		{
			name: "fallback agent without connector",
			text: base + "[routing.fallback]\naction = \"agent\"\n",
			want: []string{`voxgate.toml:10: routing.fallback.action = "agent" needs a connector; add connector = "<name of a [[plugin]] of kind \"connector\">"`},
		},
		{
			name: "fallback reject without code",
			text: base + "[routing.fallback]\naction = \"reject\"\n",
			want: []string{`voxgate.toml:9: routing.fallback.action = "reject" needs a SIP error code; add sip_code = 503 (any of 400..699)`},
		},
		{
			name: "fallback reject with a bad code",
			text: base + "[routing.fallback]\naction = \"reject\"\nsip_code = 200\n",
			want: []string{`voxgate.toml:11: routing.fallback.sip_code = 200 is not a SIP error code; use one in 400..699, e.g. sip_code = 503`},
		},
		{
			name: "fallback bad action",
			text: base + "fallback = { action = \"answer\" }\n",
			want: []string{`voxgate.toml:9: routing.fallback.action = "answer" is not valid; use "agent" or "reject"`},
		},
		{
			name: "fallback without action",
			text: base + "[routing.fallback]\nreason = \"busy\"\n",
			want: []string{`voxgate.toml:9: routing.fallback.action is missing; add action = "agent" (with connector = "...") or action = "reject" (with sip_code = 503)`},
		},
		{
			name: "cdr exporters",
			text: base + "[cdr]\nexporters = [\"cdr-jsonl\", \"router-static\", \"cdr-jsonl\"]\n",
			want: []string{
				`voxgate.toml:10: cdr.exporters[0] = "cdr-jsonl" names no [[plugin]]; define a [[plugin]] with name = "cdr-jsonl" and kind = "exporter"`,
				`voxgate.toml:10: cdr.exporters[1] = "router-static" names a plugin of kind "router", but it needs one of kind "exporter"; add a [[plugin]] with kind = "exporter" and name it here`,
				`voxgate.toml:10: cdr.exporters[2] = "cdr-jsonl" repeats cdr.exporters[0]; list each exporter once`,
			},
		},
		{
			name: "codecs and ptime",
			text: "[media]\ncodecs = [\"pcmu\", \"G729\", \"PCMU\"]\nptime = 30\n" + base,
			want: []string{
				`voxgate.toml:2: media.codecs[1] = "G729" is not supported; use "PCMU" and/or "PCMA"`,
				`voxgate.toml:2: media.codecs[2] = "PCMU" repeats media.codecs[0]; list each codec once`,
				`voxgate.toml:3: media.ptime = 30 is not supported: this version sends and expects 20 ms packets only; set ptime = 20 or remove the key`,
			},
		},
		{
			name: "empty codecs",
			text: "[media]\ncodecs = []\n" + base,
			want: []string{`voxgate.toml:2: media.codecs is empty; list at least one, e.g. codecs = ["PCMU", "PCMA"]`},
		},
		{
			name: "listeners",
			text: "[server]\npublic_ip = \"example.com\"\n" +
				"[[server.listen]]\ntransport = \"sctp\"\naddr = \"127.0.0.1:5060\"\n" +
				"[[server.listen]]\ntransport = \"udp\"\naddr = \"localhost:5060\"\n" +
				"[[server.listen]]\ntransport = \"tcp\"\naddr = \"127.0.0.1:70000\"\n" +
				"[[server.listen]]\ntransport = \"UDP\"\naddr = \"127.0.0.1\"\n" +
				"[[server.listen]]\ntransport = \"tcp\"\naddr = \"[::1]:5060\"\n" +
				"[[server.listen]]\ntransport = \"tcp\"\naddr = \"[::1]:5060\"\n" +
				"[[server.listen]]\ntransprt = \"tcp\"\n" + base,
			want: []string{
				`voxgate.toml:2: server.public_ip = "example.com" is not an IP address; write the address SIP peers reach this host on, e.g. "192.0.2.10", or remove the key to announce the listen address`,
				`voxgate.toml:4: server.listen[0].transport = "sctp" is not supported; use "udp" or "tcp"`,
				`voxgate.toml:8: server.listen[1].addr = "localhost:5060": "localhost" is not an IP address (host names are not resolved); write e.g. "127.0.0.1:5060"`,
				`voxgate.toml:11: server.listen[2].addr = "127.0.0.1:70000": port must be a number in 1..65535; write e.g. "127.0.0.1:5060"`,
				`voxgate.toml:14: server.listen[3].addr = "127.0.0.1" is not IP:port; write an IP address and a port, e.g. "127.0.0.1:5060" or "[::1]:5060" (use "0.0.0.0:5060" for all addresses)`,
				`voxgate.toml:18: server.listen[5] repeats tcp [::1]:5060 of server.listen[4]; remove one of the two`,
				`voxgate.toml:21: server.listen[6].transport is missing; add transport = "udp" or transport = "tcp"`,
				`voxgate.toml:21: server.listen[6].addr is missing; add addr = "127.0.0.1:5060" (IP:port)`,
				`voxgate.toml:22: unknown key "transprt" in [[server.listen]] #7; did you mean "transport"?`,
			},
		},
		{
			name: "server values",
			text: "[server]\nlisten = []\nuser_agent = \"\"\nudp_read_buffer = 0\nallowed_sources = []\ndrain_timeout = \"-1s\"\nrun_dir = \"\"\n" + base,
			want: []string{
				`voxgate.toml:2: server.listen is empty, so no SIP would be received; add { transport = "udp", addr = "127.0.0.1:5060" } or remove the key for the default (udp and tcp on 127.0.0.1:5060)`,
				`voxgate.toml:3: server.user_agent is empty; set a name such as "voxgate" or remove the key for that default`,
				`voxgate.toml:4: server.udp_read_buffer = 0 must be a positive number of bytes, e.g. 4194304 (4 MiB)`,
				`voxgate.toml:5: server.allowed_sources is empty, so every INVITE would be refused with 403; list the networks SIP peers call from, e.g. allowed_sources = ["127.0.0.0/8", "::1/128"]`,
				`voxgate.toml:6: server.drain_timeout = "-1s" must be positive; write e.g. drain_timeout = "30s"`,
				`voxgate.toml:7: server.run_dir is empty; set a directory, e.g. "/run/voxgate", or remove the key for the default next to the config file`,
			},
		},
		{
			name: "media values",
			text: "[media]\nrtp_ip = \"any\"\nmedia_timeout = \"0s\"\nmax_call_duration = \"-1h\"\n" + base,
			want: []string{
				`voxgate.toml:2: media.rtp_ip = "any" is not an IP address; write the address RTP sockets bind to, e.g. "127.0.0.1" (or "0.0.0.0" for all)`,
				`voxgate.toml:3: media.media_timeout = "0s" must be positive; write e.g. media_timeout = "30s"`,
				`voxgate.toml:4: media.max_call_duration = "-1h0m0s" must not be negative; write e.g. "4h", or "0s" for no limit`,
			},
		},
		{
			name: "log",
			text: base + "[log]\nlevel = \"verbose\"\nformat = \"xml\"\n",
			want: []string{
				`voxgate.toml:10: log.level = "verbose" is not valid; use "debug", "info", "warn" or "error"`,
				`voxgate.toml:11: log.format = "xml" is not valid; use "text" or "json"`,
			},
		},
		{
			name: "trunks",
			text: base + "[[trunk]]\nname = \"pbx\"\nallowed_sources = [\"10.1.2.3/40\"]\n[[trunk]]\nname = \"pbx\"\n",
			want: []string{
				`voxgate.toml:11: trunk[0].allowed_sources[0] = "10.1.2.3/40" is not an IP address or CIDR; write e.g. "10.0.0.0/8", "2001:db8::/32" or "192.0.2.10"`,
				`voxgate.toml:13: trunk name "pbx" is already used by the [[trunk]] at line 10; give each [[trunk]] its own name`,
			},
		},
		{
			name: "several problems at once",
			text: "[server]\nallowed_sources = [\"10.0.0.300\"]\n\n[media]\nrtp_prot_min = 10000\nrtp_port_max = \"20000\"\n\n" +
				"[[plugin]]\nname = \"router-static\"\nkind = \"router\"\npath = \"r\"\n\n" +
				"[[plugin]]\nname = \"router-static\"\nkind = \"connector\"\npath = \"c\"\n\n" +
				"[routing]\nrouter = \"no-such-router\"\n",
			want: []string{
				`voxgate.toml:2: server.allowed_sources[0] = "10.0.0.300" is not an IP address or CIDR; write e.g. "10.0.0.0/8", "2001:db8::/32" or "192.0.2.10"`,
				`voxgate.toml:5: unknown key "rtp_prot_min" in [media]; did you mean "rtp_port_min"?`,
				`voxgate.toml:6: media.rtp_port_max must be a whole number, got string "20000"; remove the quotes: rtp_port_max = 20000`,
				`voxgate.toml:14: plugin name "router-static" is already used by the [[plugin]] at line 9; give each [[plugin]] its own name`,
				`voxgate.toml:19: routing.router = "no-such-router" names no [[plugin]]; use one of the plugins of kind "router": "router-static"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadText(t, tt.text)
			got := problems(t, err)
			if c != nil {
				t.Errorf("Load returned a config along with problems")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDefaultFileLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "etc", "voxgate.toml"))
	if err != nil {
		t.Fatalf("etc/voxgate.toml: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, "etc", "voxgate.toml"); c.Path != want {
		t.Errorf("Path = %q, want %q", c.Path, want)
	}
	for name, kind := range map[string]string{"router-static": KindRouter, "connector-echo": KindConnector, "cdr-jsonl": KindExporter} {
		pl := c.PluginByName(name)
		if pl == nil {
			t.Errorf("no plugin %q", name)
			continue
		}
		if pl.Kind != kind {
			t.Errorf("plugin %q: kind %q, want %q", name, pl.Kind, kind)
		}
		if want := filepath.Join(root, "bin", "plugins", name); pl.Path != want {
			t.Errorf("plugin %q: path %q, want %q", name, pl.Path, want)
		}
		if pl.Deadline.Duration != DefaultPluginDeadline {
			t.Errorf("plugin %q: deadline %v", name, pl.Deadline)
		}
	}
	if got := c.PluginByName("cdr-jsonl").Config["path"]; got != "var/cdr.jsonl" {
		t.Errorf("cdr-jsonl config path = %v, want it left as written", got)
	}
	if c.Server.RunDir != filepath.Join(root, "var", "run") || c.Server.StateDir != filepath.Join(root, "var", "state") {
		t.Errorf("run_dir %q, state_dir %q", c.Server.RunDir, c.Server.StateDir)
	}
	if c.Routing.Router != "router-static" || c.Routing.Fallback.Action != ActionAgent || c.Routing.Fallback.Connector != "connector-echo" {
		t.Errorf("routing = %+v", c.Routing)
	}
	if !reflect.DeepEqual(c.CDR.Exporters, []string{"cdr-jsonl"}) {
		t.Errorf("cdr.exporters = %q", c.CDR.Exporters)
	}

	// The file writes every default out: it must equal the built-in ones.
	def := Default()
	if !reflect.DeepEqual(c.Server.Listen, def.Server.Listen) || !reflect.DeepEqual(c.Media, def.Media) ||
		c.Server.UserAgent != def.Server.UserAgent || c.Server.UDPReadBuffer != def.Server.UDPReadBuffer ||
		!reflect.DeepEqual(c.Server.AllowedSources, def.Server.AllowedSources) ||
		c.Server.DrainTimeout != def.Server.DrainTimeout || c.Log != def.Log {
		t.Errorf("etc/voxgate.toml differs from the defaults:\nfile:    %+v %+v %+v\ndefault: %+v %+v %+v",
			c.Server, c.Media, c.Log, def.Server, def.Media, def.Log)
	}
}

func TestDefaults(t *testing.T) {
	c, err := loadText(t, base)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Server: Server{
			Listen:         []Listen{{"udp", "127.0.0.1:5060"}, {"tcp", "127.0.0.1:5060"}},
			UserAgent:      "voxgate",
			UDPReadBuffer:  4 << 20,
			AllowedSources: []string{"127.0.0.0/8", "::1/128"},
			DrainTimeout:   Duration{30 * time.Second},
			RunDir:         filepath.Join(dir, "run"),
			StateDir:       filepath.Join(dir, "state"),
		},
		Media: Media{
			RTPPortMin: 10000, RTPPortMax: 20000, RTPIP: "127.0.0.1",
			Codecs: []string{"PCMU", "PCMA"}, Ptime: 20,
			MediaTimeout:    Duration{30 * time.Second},
			RingTimeout:     Duration{10 * time.Second},
			MaxCallDuration: Duration{4 * time.Hour},
		},
		Plugins: []Plugin{{
			Name: "router-static", Kind: "router", Path: filepath.Join(dir, "router-static"),
			Deadline: Duration{500 * time.Millisecond},
		}},
		Routing: Routing{
			Router:   "router-static",
			Fallback: Decision{Action: "reject", SIPCode: 503, Reason: "router unavailable"},
		},
		CDR: CDR{SpoolDir: filepath.Join(dir, "state", "spool"), MaxSpoolBytes: 1 << 30,
			SegmentBytes: 16 << 20, OnFull: "reject-calls"},
		Log:  Log{Level: "info", Format: "text"},
		Path: filepath.Join(dir, "voxgate.toml"),
	}
	c.src = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

func TestSetKeysAreNotDefaulted(t *testing.T) {
	c, err := loadText(t, "[media]\nmax_call_duration = \"0s\"\n"+base+
		"fallback = { action = \"reject\", sip_code = 486 }\n"+
		"[[plugin]]\nname = \"e\"\nkind = \"connector\"\npath = \"/opt/e\"\ndeadline = \"2s\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Media.MaxCallDuration.Duration != 0 {
		t.Errorf("max_call_duration = %v, want 0 (no limit) as written", c.Media.MaxCallDuration)
	}
	if want := (Decision{Action: "reject", SIPCode: 486}); !reflect.DeepEqual(c.Routing.Fallback, want) {
		t.Errorf("fallback = %+v, want %+v", c.Routing.Fallback, want)
	}
	if e := c.PluginByName("e"); e == nil || e.Deadline.Duration != 2*time.Second || e.Path != "/opt/e" {
		t.Errorf("plugin e = %+v", e)
	}
}

func TestNormalise(t *testing.T) {
	c, err := loadText(t, "[server]\nlisten = [{ transport = \"UDP\", addr = \"[::1]:5060\" }]\n"+
		"allowed_sources = [\"192.0.2.10\", \"10.1.2.3/8\", \"2001:db8::1\"]\n"+
		"[media]\ncodecs = [\"pcma\"]\n[log]\nlevel = \"DEBUG\"\nformat = \"JSON\"\n"+base+
		"[[plugin]]\nname = \"x\"\nkind = \"Exporter\"\npath = \"x\"\nsha256 = \""+strings.Repeat("AB", 32)+"\"\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Server.Listen[0].Transport; got != "udp" {
		t.Errorf("transport = %q", got)
	}
	if want := []string{"192.0.2.10/32", "10.0.0.0/8", "2001:db8::1/128"}; !reflect.DeepEqual(c.Server.AllowedSources, want) {
		t.Errorf("allowed_sources = %q, want %q", c.Server.AllowedSources, want)
	}
	if !reflect.DeepEqual(c.Media.Codecs, []string{"PCMA"}) {
		t.Errorf("codecs = %q", c.Media.Codecs)
	}
	if c.Log.Level != "debug" || c.Log.Format != "json" {
		t.Errorf("log = %+v", c.Log)
	}
	if x := c.PluginByName("x"); x.Kind != KindExporter || x.SHA256 != strings.Repeat("ab", 32) {
		t.Errorf("plugin x = %+v", x)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"))
	var errs *Errors
	if !errors.As(err, &errs) || len(errs.List) != 1 {
		t.Fatalf("err = %v, want one problem", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
	if !strings.Contains(err.Error(), "nope.toml: cannot read the config file:") {
		t.Errorf("message %q", err)
	}
}

func TestLoadTooLarge(t *testing.T) {
	_, err := loadText(t, strings.Repeat("# padding\n", maxFileSize/10+1))
	if err == nil || !strings.Contains(err.Error(), "is larger than") {
		t.Errorf("err = %v", err)
	}
}

func TestPluginByName(t *testing.T) {
	c := &Config{Plugins: []Plugin{{Name: "a"}, {Name: "b"}}}
	if p := c.PluginByName("b"); p != &c.Plugins[1] {
		t.Errorf("PluginByName(b) = %p, want %p", p, &c.Plugins[1])
	}
	if p := c.PluginByName("c"); p != nil {
		t.Errorf("PluginByName(c) = %+v, want nil", p)
	}
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", 0o755)
	write("plain", 0o644)
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	// A well-formed digest that is not the file's.
	const sum = "ae1a7ea4f2e0ff8fdd1f5ef4d3ae4cd4c6e2aaa4dff25b8e4e1c2a77a49e1bf3"
	realSum, err := fileSHA256(good)
	if err != nil {
		t.Fatal(err)
	}
	if realSum == sum {
		t.Fatal("test digest should differ from the real one")
	}

	text := "[[plugin]]\nname = \"r\"\nkind = \"router\"\npath = \"good\"\n" +
		"[[plugin]]\nname = \"pinned\"\nkind = \"connector\"\npath = \"good\"\nsha256 = \"" + realSum + "\"\n" +
		"[[plugin]]\nname = \"missing\"\nkind = \"connector\"\npath = \"missing\"\n" +
		"[[plugin]]\nname = \"plain\"\nkind = \"connector\"\npath = \"plain\"\n" +
		"[[plugin]]\nname = \"dir\"\nkind = \"connector\"\npath = \"sub\"\n" +
		"[[plugin]]\nname = \"wrong-pin\"\nkind = \"exporter\"\npath = \"good\"\nsha256 = \"" + sum + "\"\n" +
		"[routing]\nrouter = \"r\"\n"
	cfgFile := filepath.Join(dir, "voxgate.toml")
	if err := os.WriteFile(cfgFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckFiles(c)
	got := strings.ReplaceAll(strings.Join(problems(t, err), "\n"), dir+string(filepath.Separator), "")
	want := strings.Join([]string{
		"voxgate.toml:13: plugin \"missing\": binary missing does not exist; run `make build` to build the plugins, or fix path",
		"voxgate.toml:17: plugin \"plain\": plain is not executable; run `chmod +x plain` or rebuild it with `make build`",
		"voxgate.toml:21: plugin \"dir\": sub is a directory; path must name the plugin binary inside it",
		"voxgate.toml:25: plugin \"wrong-pin\": good has sha256 " + realSum + ", but the config pins " + sum + "; install the pinned build, or update sha256 once you trust the new binary",
	}, "\n")
	if got != want {
		t.Errorf("CheckFiles:\n%s\nwant:\n%s", got, want)
	}
	c.Plugins = c.Plugins[:2]
	if err := CheckFiles(c); err != nil {
		t.Errorf("CheckFiles on good binaries: %v", err)
	}
	if err := CheckFiles(&Config{Plugins: []Plugin{{Name: "x", Path: good}}}); err != nil {
		t.Errorf("CheckFiles on a hand-made config: %v", err)
	}
	if err := CheckFiles(nil); err == nil {
		t.Error("CheckFiles(nil) = nil")
	}
}

// The strict decoder and BurntSushi's Decode must fill Config alike.
func TestDecodersAgree(t *testing.T) {
	text := `
[server]
listen = [{ transport = "udp", addr = "127.0.0.1:5060" }]
public_ip = "192.0.2.1"
user_agent = "ua"
udp_read_buffer = 1024
allowed_sources = ["10.0.0.0/8"]
drain_timeout = "1m"
run_dir = "/r"
state_dir = "/s"
[media]
rtp_port_min = 2000
rtp_port_max = 3000
rtp_ip = "0.0.0.0"
codecs = ["PCMA"]
ptime = 20
media_timeout = "5s"
ring_timeout = "6s"
max_call_duration = "7h"
[[trunk]]
name = "t"
allowed_sources = ["192.0.2.0/24"]
[[plugin]]
name = "p"
kind = "router"
path = "/bin/p"
sha256 = "00"
deadline = "1s"
env = ["A=1"]
[plugin.config]
n = 1
nested = { deep = { deeper = [1, 2] } }
list = [{ a = 1 }, { b = "x" }]
[[plugin.config.rules]]
match = "to"
[routing]
router = "p"
[routing.fallback]
action = "agent"
connector = "c"
params = { k = "v" }
sip_code = 480
reason = "r"
[cdr]
exporters = ["e"]
[log]
level = "warn"
format = "json"
`
	var want Config
	md, err := toml.Decode(text, &want)
	if err != nil {
		t.Fatal(err)
	}
	if u := md.Undecoded(); len(u) == 0 {
		t.Error("expected BurntSushi to leave the plugin config's nested keys undecoded")
	}
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		t.Fatal(err)
	}
	src := &source{name: "f", lines: locate(text), state: map[string]keyState{}}
	d := &decoder{src: src}
	var got Config
	d.decode(nil, raw, reflect.ValueOf(&got).Elem())
	if len(d.probs) > 0 {
		t.Fatalf("strict decoder: %v", d.probs)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("strict decoder:\n%+v\nBurntSushi:\n%+v", got, want)
	}
	if p := crossCheck(text, src); len(p) > 0 {
		t.Errorf("crossCheck: %v", p)
	}
}

func TestClosest(t *testing.T) {
	keys := []string{"rtp_port_min", "rtp_port_max", "rtp_ip", "codecs", "ptime"}
	for in, want := range map[string]string{
		"rtp_prot_min": "rtp_port_min",
		"RTP_PORT_MAX": "rtp_port_max",
		"codec":        "codecs",
		"ptim":         "ptime",
		"colour":       "",
		"x":            "",
		"":             "",
	} {
		if got := closest(in, keys); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := editDistance("ab", "ba"); d != 1 {
		t.Errorf("editDistance(ab, ba) = %d, want 1", d)
	}
	if d := editDistance("kitten", "sitting"); d != 3 {
		t.Errorf("editDistance(kitten, sitting) = %d, want 3", d)
	}
}

func TestErrorsFormat(t *testing.T) {
	e := &Errors{List: []Problem{
		{File: "a.toml", Line: 3, Msg: "x"},
		{File: "a.toml", Msg: "y"},
	}}
	if got, want := e.Error(), "a.toml:3: x\na.toml: y"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if err := errorsOrNil(nil); err != nil {
		t.Errorf("errorsOrNil(nil) = %v", err)
	}
}

func TestSpoolSettingsValidated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "voxgate.toml")
	body := "[routing]\nrouter = \"r\"\n[[plugin]]\nname = \"r\"\nkind = \"router\"\npath = \"r\"\n" +
		"[cdr]\nsegment_bytes = 10\nmax_spool_bytes = 5\non_full = \"explode\"\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil {
		t.Fatal("bad spool settings accepted")
	}
	for _, want := range []string{":8: cdr.segment_bytes = 10", ":9: cdr.max_spool_bytes = 5", `:10: cdr.on_full = "explode"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}
