package config

import "testing"

func TestLocate(t *testing.T) {
	text := `# comment
top = 1
[server]
listen = [
  { transport = "udp", addr = "127.0.0.1:5060" },

  { transport = "tcp",
    addr = "127.0.0.1:5060" },
]
motd = """
[not.a.table]
key = "not a key"
"""
lit = '''
x = 1
'''
after = "a # not a comment" # comment
[[plugin]]
name = "a"
[plugin.config]
deep.er = 'v'
"quoted key" = { inner = [1, [2, 3]], s = "}" }
[[plugin.config.rules]]
match = "to"
[[plugin]]
name = "b"
[[plugin.config.rules]]
match = "from"
[[plugin.config.rules]]
match = "to"
[ routing . fallback ]
action = "agent"
`
	lines := locate(text)
	tests := []struct {
		p    path
		want int
	}{
		{path{}.key("top"), 2},
		{path{}.key("server"), 3},
		{path{}.key("server").key("listen"), 4},
		{path{}.key("server").key("listen").idx(0), 5},
		{path{}.key("server").key("listen").idx(0).key("addr"), 5},
		{path{}.key("server").key("listen").idx(1), 7},
		{path{}.key("server").key("listen").idx(1).key("addr"), 8},
		{path{}.key("server").key("motd"), 10},
		{path{}.key("server").key("lit"), 14},
		{path{}.key("server").key("after"), 17},
		{path{}.key("plugin"), 18},
		{path{}.key("plugin").idx(0), 18},
		{path{}.key("plugin").idx(0).key("name"), 19},
		{path{}.key("plugin").idx(0).key("config"), 20},
		{path{}.key("plugin").idx(0).key("config").key("deep").key("er"), 21},
		{path{}.key("plugin").idx(0).key("config").key("quoted key").key("inner").idx(1).idx(1), 22},
		{path{}.key("plugin").idx(0).key("config").key("quoted key").key("s"), 22},
		{path{}.key("plugin").idx(0).key("config").key("rules").idx(0).key("match"), 24},
		{path{}.key("plugin").idx(1).key("name"), 26},
		{path{}.key("plugin").idx(1).key("config").key("rules").idx(0).key("match"), 28},
		{path{}.key("plugin").idx(1).key("config").key("rules").idx(1).key("match"), 30},
		{path{}.key("routing").key("fallback").key("action"), 32},
	}
	for _, tt := range tests {
		if got := lines[tt.p.id()]; got != tt.want {
			t.Errorf("line of %s = %d, want %d", tt.p, got, tt.want)
		}
	}
	notKeys := []path{
		path{}.key("not"),
		path{}.key("server").key("key"),
		path{}.key("server").key("x"),
		path{}.key("plugin").idx(2),
	}
	for _, p := range notKeys {
		if got, ok := lines[p.id()]; ok {
			t.Errorf("%s located at line %d, but it is not a key", p, got)
		}
	}
}

func TestLocateBOMAndCRLF(t *testing.T) {
	lines := locate("\ufeff[media]\r\n\r\nptime = 20\r\n")
	if got := lines[path{}.key("media").key("ptime").id()]; got != 3 {
		t.Errorf("line of media.ptime = %d, want 3", got)
	}
}

func TestPathString(t *testing.T) {
	p := path{}.key("plugin").idx(1).key("config").key("a b").key("")
	if got, want := p.String(), `plugin[1].config."a b".""`; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	if got, want := p.header(), `plugin.config."a b".""`; got != want {
		t.Errorf("header() = %s, want %s", got, want)
	}
	if dotted, nested := (path{}).key("a.b"), (path{}).key("a").key("b"); dotted.id() == nested.id() {
		t.Error("ids of a.b and \"a.b\" collide")
	}
}
