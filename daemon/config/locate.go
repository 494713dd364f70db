package config

import (
	"strconv"
	"strings"
)

// BurntSushi/toml does not tell where a key was written (its positions do not
// tell the elements of an array of tables apart), so this file has a small
// scanner that maps every key path of a TOML document to the line it is on.
// It understands table headers, arrays of tables (with their index), dotted
// keys, multi-line strings, arrays and inline tables. It never fails: on text
// it does not understand it skips ahead, so at worst a line is missing and the
// message falls back to the line of the enclosing table.

// seg is one step of a path into the document: a key, or an array index.
type seg struct {
	key   string
	index int // -1 for a key
}

// path addresses a value in the document, e.g. plugin[1].config.
type path []seg

// key returns a new path with the key k appended.
func (p path) key(k string) path {
	q := make(path, len(p), len(p)+1)
	copy(q, p)
	return append(q, seg{key: k, index: -1})
}

// idx returns a new path with the array index i appended.
func (p path) idx(i int) path {
	q := make(path, len(p), len(p)+1)
	copy(q, p)
	return append(q, seg{index: i})
}

// id is a canonical, collision-free form of p used as a map key.
func (p path) id() string {
	var b strings.Builder
	for _, s := range p {
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		b.WriteByte('.')
		b.WriteString(strconv.Quote(s.key))
	}
	return b.String()
}

// String is the path as users read it: media.codecs[1], plugin[0].config.
func (p path) String() string {
	var b strings.Builder
	for i, s := range p {
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(quoteKey(s.key))
	}
	return b.String()
}

// header is the path as a table header names it: plugin.config for
// plugin[1].config.
func (p path) header() string {
	var keys path
	for _, s := range p {
		if s.index < 0 {
			keys = append(keys, s)
		}
	}
	return keys.String()
}

// quoteKey writes k as TOML would: bare when possible, else quoted.
func quoteKey(k string) string {
	if k == "" {
		return `""`
	}
	for i := 0; i < len(k); i++ {
		if !isBareKeyChar(k[i]) {
			return strconv.Quote(k)
		}
	}
	return k
}

func isBareKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// maxNesting bounds the recursion of the scanner on nested arrays and inline
// tables; deeper values are skipped character by character.
const maxNesting = 64

type locator struct {
	src   string
	i     int
	line  int
	depth int
	lines map[string]int // path id → 1-based line where it first appears
	aot   map[string]int // path id of an array of tables → elements so far
}

// locate maps the path id of every key, table and array element in src to the
// line where it first appears.
func locate(src string) map[string]int {
	l := &locator{src: src, line: 1, lines: map[string]int{}, aot: map[string]int{}}
	if strings.HasPrefix(src, "\ufeff") { // a UTF-8 byte order mark
		l.i = len("\ufeff")
	}
	var table path
	for {
		l.skipBlank(true)
		if l.eof() {
			break
		}
		start := l.i
		if l.peek() == '[' {
			if p, ok := l.header(); ok {
				table = p
			}
		} else {
			l.keyval(table)
		}
		if l.i == start {
			l.advance()
		}
	}
	return l.lines
}

func (l *locator) eof() bool { return l.i >= len(l.src) }

func (l *locator) peek() byte {
	if l.eof() {
		return 0
	}
	return l.src[l.i]
}

func (l *locator) has(prefix string) bool { return strings.HasPrefix(l.src[l.i:], prefix) }

// advance moves one byte on, counting lines.
func (l *locator) advance() {
	if l.eof() {
		return
	}
	if l.src[l.i] == '\n' {
		l.line++
	}
	l.i++
}

func (l *locator) mark(p path, line int) {
	id := p.id()
	if _, ok := l.lines[id]; !ok {
		l.lines[id] = line
	}
}

// skipBlank skips spaces, tabs, comments and, if newlines is set, line ends.
func (l *locator) skipBlank(newlines bool) {
	for !l.eof() {
		switch c := l.src[l.i]; {
		case c == ' ' || c == '\t' || c == '\r':
			l.i++
		case c == '\n' && newlines:
			l.advance()
		case c == '#':
			for !l.eof() && l.src[l.i] != '\n' {
				l.i++
			}
		default:
			return
		}
	}
}

// skipLine moves past the end of the current line.
func (l *locator) skipLine() {
	for !l.eof() {
		c := l.src[l.i]
		l.advance()
		if c == '\n' {
			return
		}
	}
}

// header reads [a.b] or [[a.b]] and returns the table path it opens, with
// the index of the current element for every array of tables on the way.
func (l *locator) header() (path, bool) {
	line := l.line
	aot := l.has("[[")
	closing := "]"
	if aot {
		closing = "]]"
		l.i += 2
	} else {
		l.i++
	}
	keys, ok := l.keys()
	l.skipBlank(false)
	if !ok || !l.has(closing) {
		l.skipLine()
		return nil, false
	}
	l.i += len(closing)

	var p path
	for n, k := range keys {
		p = p.key(k)
		id := p.id()
		if aot && n == len(keys)-1 {
			count := l.aot[id]
			l.aot[id] = count + 1
			l.mark(p, line)
			p = p.idx(count)
		} else if count := l.aot[id]; count > 0 {
			p = p.idx(count - 1)
		}
		l.mark(p, line)
	}
	return p, true
}

// keys reads a possibly dotted key: a.b."c d".'e'.
func (l *locator) keys() ([]string, bool) {
	var ks []string
	for {
		l.skipBlank(false)
		k, ok := l.simpleKey()
		if !ok {
			return ks, false
		}
		ks = append(ks, k)
		l.skipBlank(false)
		if l.peek() != '.' {
			return ks, true
		}
		l.i++
	}
}

func (l *locator) simpleKey() (string, bool) {
	switch l.peek() {
	case '"':
		j := l.i + 1
		for j < len(l.src) && l.src[j] != '"' && l.src[j] != '\n' {
			if l.src[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(l.src) || l.src[j] != '"' {
			return "", false
		}
		raw := l.src[l.i : j+1]
		l.i = j + 1
		if s, err := strconv.Unquote(raw); err == nil {
			return s, true
		}
		return raw[1 : len(raw)-1], true
	case '\'':
		j := strings.IndexAny(l.src[l.i+1:], "'\n")
		if j < 0 || l.src[l.i+1+j] != '\'' {
			return "", false
		}
		k := l.src[l.i+1 : l.i+1+j]
		l.i += j + 2
		return k, true
	default:
		start := l.i
		for !l.eof() && isBareKeyChar(l.src[l.i]) {
			l.i++
		}
		return l.src[start:l.i], l.i > start
	}
}

// keyval reads key = value, marking the key (and every dotted prefix) with
// the current line.
func (l *locator) keyval(table path) {
	line := l.line
	keys, ok := l.keys()
	l.skipBlank(false)
	if !ok || l.peek() != '=' {
		l.skipLine()
		return
	}
	l.i++
	p := table
	for _, k := range keys {
		p = p.key(k)
		l.mark(p, line)
	}
	l.skipBlank(false)
	l.value(p)
}

// value skips one value, marking the elements of arrays and the keys of
// inline tables under p.
func (l *locator) value(p path) {
	switch {
	case l.eof():
	case l.has(`"""`):
		l.i += 3
		l.multiline('"', true)
	case l.has("'''"):
		l.i += 3
		l.multiline('\'', false)
	case l.peek() == '"' || l.peek() == '\'':
		q := l.peek()
		l.i++
		for !l.eof() && l.src[l.i] != q && l.src[l.i] != '\n' {
			if q == '"' && l.src[l.i] == '\\' {
				l.i++
				if l.peek() == '\n' {
					break
				}
			}
			l.i++
		}
		if l.peek() == q {
			l.i++
		}
	case l.peek() == '[':
		if l.depth < maxNesting {
			l.depth++
			l.array(p)
			l.depth--
		}
	case l.peek() == '{':
		if l.depth < maxNesting {
			l.depth++
			l.inlineTable(p)
			l.depth--
		}
	default: // number, boolean, date-time: up to a delimiter
		for !l.eof() && strings.IndexByte(",]}#\n", l.src[l.i]) < 0 {
			l.i++
		}
	}
}

// multiline skips the rest of a triple-quoted string, after its opening
// quotes; q is the quote character.
func (l *locator) multiline(q byte, escapes bool) {
	closing := strings.Repeat(string(q), 3)
	for !l.eof() {
		if escapes && l.src[l.i] == '\\' {
			l.advance()
			l.advance()
			continue
		}
		if l.has(closing) {
			l.i += 3
			// Up to two more quotes belong to the content: """a""""".
			for n := 0; n < 2 && l.peek() == q; n++ {
				l.i++
			}
			return
		}
		l.advance()
	}
}

func (l *locator) array(p path) {
	l.i++ // [
	for n := 0; ; {
		l.skipBlank(true)
		switch l.peek() {
		case 0:
			if l.eof() {
				return
			}
		case ']':
			l.i++
			return
		case ',':
			l.i++
			continue
		}
		start := l.i
		el := p.idx(n)
		l.mark(el, l.line)
		l.value(el)
		n++
		if l.i == start {
			l.advance()
		}
	}
}

func (l *locator) inlineTable(p path) {
	l.i++ // {
	for {
		l.skipBlank(true)
		switch l.peek() {
		case 0:
			if l.eof() {
				return
			}
		case '}':
			l.i++
			return
		case ',':
			l.i++
			continue
		}
		start := l.i
		l.keyval(p)
		if l.i == start {
			l.advance()
		}
	}
}
