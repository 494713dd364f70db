package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzLoad(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "etc", "voxgate.toml")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		base,
		"[media]\nrtp_prot_min = 1\n",
		"[[plugin]]\n[[plugin.config.rules]]\n[plugin]\n",
		"a = [[[{b = {c = [1, {d = \"\"\"x\n\"\"\"}]}}]]]\n",
		"[server]\nlisten = [{ transport = 1 }, \"x\", []]\nallowed_sources = [1, \"::/0\", \"x\"]\n",
		"x = '''\n'''\"\"\"\n[",
		"\"\\u00e9\" = 1\n'a'.\"b\" = 2\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = locate(string(data)) // also on text that is not TOML
		c, err := parse("voxgate.toml", "/etc/voxgate/voxgate.toml", data)
		if err == nil {
			if c == nil {
				t.Fatal("no config and no error")
			}
			_ = c.PluginByName("x")
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(errs.List) == 0 {
			t.Fatalf("error %T without problems: %v", err, err)
		}
		if c != nil {
			t.Fatal("config returned with problems")
		}
		for _, p := range errs.List {
			if p.File != "voxgate.toml" || p.Msg == "" || p.Line < 0 {
				t.Fatalf("bad problem %+v", p)
			}
		}
		_ = err.Error()
	})
}
