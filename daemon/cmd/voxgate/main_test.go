package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersionAndHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("version exit %d", code)
	}
	if !strings.Contains(out.String(), "plugin protocol 1") {
		t.Fatalf("version output %q does not name the plugin protocol", out.String())
	}
	out.Reset()
	if code := run([]string{"--help"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "voxgate check") {
		t.Fatalf("--help exit %d, output %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, &out, &errb); code != 2 {
		t.Fatalf("unknown command exit %d, want 2", code)
	}
}

// check reports every problem with FILE:LINE and exits 1.
func TestCheckReportsEveryProblemWithLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.toml")
	body := "[server]\nlisten = [{ transport = \"sctp\", addr = \"127.0.0.1:5060\" }]\n\n[media]\nrtp_port_min = 20000\nrtp_port_max = 10000\nbogus_key = 1\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run([]string{"check", "-c", path}, &out, &errb)
	if code != 1 {
		t.Fatalf("check exit %d, want 1; stderr %q", code, errb.String())
	}
	msg := errb.String()
	for _, want := range []string{path + ":2:", path + ":7:", "bogus_key"} {
		if !strings.Contains(msg, want) {
			t.Errorf("check output lacks %q:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, path+":"); n < 3 {
		t.Errorf("check reported %d problems, want at least 3 (transport, port range, unknown key):\n%s", n, msg)
	}
}

func TestCheckMissingFile(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-c", "/nonexistent/voxgate.toml"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(errb.String(), "/nonexistent/voxgate.toml") {
		t.Fatalf("error does not name the file: %q", errb.String())
	}
}
