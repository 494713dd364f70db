package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/BurntSushi/toml"
)

// maxFileSize bounds what Load reads; a config file is a few KiB.
const maxFileSize = 1 << 20

// Load reads, decodes and validates the config file at name, applies the
// defaults to absent keys and resolves the relative plugin paths, run_dir and
// state_dir against the file's directory. It does not look at the plugin
// binaries: CheckFiles does.
//
// On failure the error is an *Errors listing every problem found, each as
// FILE:LINE: what is wrong and how to fix it. A TOML syntax error stops
// decoding, so it is reported alone.
func Load(name string) (*Config, error) {
	data, err := readFile(name)
	if err != nil {
		return nil, &Errors{List: []Problem{{
			File: name,
			Msg:  fmt.Sprintf("cannot read the config file: %v; check the path given with -c", err),
			err:  err,
		}}}
	}
	abs, err := filepath.Abs(name)
	if err != nil {
		return nil, &Errors{List: []Problem{{
			File: name,
			Msg:  fmt.Sprintf("cannot make the config path absolute: %v; give an absolute path with -c", err),
			err:  err,
		}}}
	}
	return parse(name, abs, data)
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes, which is not a voxgate config", name, maxFileSize)
	}
	return data, nil
}

// parse decodes and validates data, the contents of the file name; abs is
// that file's absolute path, the base of relative paths.
func parse(name, abs string, data []byte) (*Config, error) {
	text := string(data)
	var raw map[string]any
	if _, err := toml.Decode(text, &raw); err != nil {
		return nil, errorsOrNil([]Problem{syntaxProblem(name, text, err)})
	}
	if raw == nil {
		raw = map[string]any{}
	}

	src := &source{name: name, lines: locate(text), state: map[string]keyState{}}
	c := &Config{}
	d := &decoder{src: src}
	d.decode(nil, raw, reflect.ValueOf(c).Elem())
	probs := d.probs
	if len(probs) == 0 {
		probs = crossCheck(text, src)
	}
	applyDefaults(c, src)
	probs = append(probs, validate(c, src)...)
	if err := errorsOrNil(probs); err != nil {
		return nil, err
	}

	c.Path = abs
	c.src = src
	base := filepath.Dir(abs)
	c.Server.RunDir = resolve(base, c.Server.RunDir)
	c.Server.StateDir = resolve(base, c.Server.StateDir)
	if c.CDR.SpoolDir == "" {
		c.CDR.SpoolDir = filepath.Join(c.Server.StateDir, "spool")
	} else {
		c.CDR.SpoolDir = resolve(base, c.CDR.SpoolDir)
	}
	for i := range c.Plugins {
		c.Plugins[i].Path = resolve(base, c.Plugins[i].Path)
	}
	return c, nil
}

func resolve(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// syntaxProblem turns an error of BurntSushi's parser on text into a
// Problem. Its columns are unreliable, so only the line is kept.
func syntaxProblem(name, text string, err error) Problem {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return Problem{File: name, Line: lineOf(err), err: err,
			Msg: fmt.Sprintf("TOML syntax error: %v; fix the file (the format is described at https://toml.io)", err)}
	}
	line := pe.Position.Line
	// An error at the final line end is reported on the line after it.
	if last := strings.Count(strings.TrimSuffix(text, "\n"), "\n") + 1; line > last {
		line = last
	}
	msg := strings.TrimSuffix(strings.TrimSpace(pe.Message), ".")
	msg = strings.ReplaceAll(msg, `'\x00'`, "the end of the file")
	return Problem{File: name, Line: line, err: err,
		Msg: fmt.Sprintf("TOML syntax error: %s; fix this line (the format is described at https://toml.io)", msg)}
}

// lineOf finds the line in an error of BurntSushi that is not a ParseError,
// such as "toml: line 7 (last key ...): incompatible types: ...".
func lineOf(err error) int {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return pe.Position.Line
	}
	var line int
	if _, scanErr := fmt.Sscanf(err.Error(), "toml: line %d", &line); scanErr == nil {
		return line
	}
	return 0
}

// crossCheck runs BurntSushi's typed Decode over a file the strict decoder
// accepted, so that nothing it would reject, or leave undecoded, slips by.
// It finds nothing unless the two decoders disagree.
func crossCheck(text string, src *source) []Problem {
	var c Config
	md, err := toml.Decode(text, &c)
	if err != nil {
		return []Problem{{File: src.name, Line: lineOf(err), err: err,
			Msg: fmt.Sprintf("cannot decode: %v; fix the value of that key", err)}}
	}
	var probs []Problem
	for _, k := range md.Undecoded() {
		if freeForm(k) {
			continue
		}
		var p path
		for _, s := range k {
			p = p.key(s)
		}
		probs = append(probs, Problem{File: src.name, Line: src.line(p),
			Msg: fmt.Sprintf("unknown key %q; remove it", k.String())})
	}
	return probs
}

// freeForm reports whether the key lies inside a value decoded as `any`
// (a plugin's config table), whose keys are not the daemon's business.
func freeForm(k toml.Key) bool {
	t := reflect.TypeFor[Config]()
	for _, name := range k {
		for t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			i, ok := tomlFields(t)[name]
			if !ok || t == durationType {
				return false
			}
			t = t.Field(i).Type
		case reflect.Map:
			t = t.Elem()
		case reflect.Interface:
			return true
		default:
			return false
		}
	}
	return t.Kind() == reflect.Interface
}

// PluginByName returns the plugin with that name, or nil.
func (c *Config) PluginByName(name string) *Plugin {
	for i := range c.Plugins {
		if c.Plugins[i].Name == name {
			return &c.Plugins[i]
		}
	}
	return nil
}

// CheckFiles checks what Load leaves alone: that every plugin binary exists,
// is an executable regular file and, when its sha256 is pinned, has that
// digest. It returns an *Errors listing every problem, or nil. `voxgate check`
// and `voxgate run` call it after Load.
func CheckFiles(c *Config) error {
	if c == nil {
		return &Errors{List: []Problem{{File: "config", Msg: "no config to check; call Load first"}}}
	}
	name := c.Path
	if c.src != nil {
		name = c.src.name
	}
	var probs []Problem
	for i := range c.Plugins {
		pl := &c.Plugins[i]
		at := path{}.key("plugin").idx(i).key("path")
		if msg := checkBinary(pluginLabel(i, pl), pl); msg != "" {
			probs = append(probs, Problem{File: name, Line: c.src.line(at), Msg: msg})
		}
	}
	return errorsOrNil(probs)
}

// checkBinary returns what is wrong with the plugin's binary, or "".
func checkBinary(label string, pl *Plugin) string {
	info, err := os.Stat(pl.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("%s: binary %s does not exist; run `make build` to build the plugins, or fix path", label, pl.Path)
	case err != nil:
		return fmt.Sprintf("%s: cannot use binary %s: %v; check path and the permissions of its directories", label, pl.Path, err)
	case info.IsDir():
		return fmt.Sprintf("%s: %s is a directory; path must name the plugin binary inside it", label, pl.Path)
	case !info.Mode().IsRegular():
		return fmt.Sprintf("%s: %s is not a regular file; path must name the plugin binary", label, pl.Path)
	case info.Mode().Perm()&0o111 == 0:
		return fmt.Sprintf("%s: %s is not executable; run `chmod +x %s` or rebuild it with `make build`", label, pl.Path, pl.Path)
	}
	if pl.SHA256 == "" {
		return ""
	}
	sum, err := fileSHA256(pl.Path)
	if err != nil {
		return fmt.Sprintf("%s: cannot hash %s to check sha256: %v; check its permissions", label, pl.Path, err)
	}
	if !strings.EqualFold(sum, pl.SHA256) {
		return fmt.Sprintf("%s: %s has sha256 %s, but the config pins %s; install the pinned build, or update sha256 once you trust the new binary", label, pl.Path, sum, pl.SHA256)
	}
	return ""
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
