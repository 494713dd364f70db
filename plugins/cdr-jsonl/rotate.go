package main

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/voxgate/voxgate/sdk"
)

// rotatedLayout is the UTC timestamp in a rotated file's name:
// <path>.<timestamp>, or <path>.<timestamp>.<n> when that name was taken.
const rotatedLayout = "20060102T150405Z"

// maxSuffix bounds the search for a free rotated name.
const maxSuffix = 100_000

// dayOf is the UTC day of t, in a form that sorts by date.
func dayOf(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// fileDay is the UTC day of the records already in f: that of its last
// modification, or "" when it is empty (the first batch sets the day).
func fileDay(f *os.File) string {
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return ""
	}
	return dayOf(st.ModTime())
}

// rotateIfDue rotates the file before a batch of n bytes is appended when
// that batch would make the file larger than max_bytes, or when the file
// holds records of an earlier UTC day than today and rotate_daily is on. An
// empty file is never rotated: a batch larger than max_bytes goes whole into
// a file of its own.
//
// A rename that fails is logged and the batch goes into the current file:
// storing the records matters more than the file's size. A fresh file that
// cannot be opened after the rename is an error: the batch is not
// acknowledged, and the next batch tries to open the path again.
func (e *exporter) rotateIfDue(n int) error {
	st, err := e.f.Stat()
	if err != nil {
		return fmt.Errorf("%s: %w", e.path, err)
	}
	now := e.now().UTC()
	today := dayOf(now)
	if st.Size() == 0 {
		e.day = today
		return nil
	}
	var why string
	switch {
	case e.opts.maxBytes > 0 && st.Size()+int64(n) > e.opts.maxBytes:
		why = "max_bytes"
	case e.opts.rotateDaily && today > e.day: // a clock stepping back never rotates
		why = "rotate_daily"
	default:
		return nil
	}

	target, err := freeRotatedName(e.path, now)
	if err == nil {
		err = os.Rename(e.path, target)
	}
	if err != nil {
		sdk.Log.Error("cdr-jsonl: cannot rotate the file; appending to it for now", "path", e.path, "err", err)
		return nil
	}
	f, err := openAppend(e.path)
	if err != nil {
		return fmt.Errorf("rotated %s to %s, but cannot start a new file: %w", e.path, target, err)
	}
	e.f.Close()
	e.f, e.day = f, today
	sdk.Log.Info("cdr-jsonl: rotated", "path", e.path, "to", target, "reason", why, "bytes", st.Size())
	e.prune()
	return nil
}

// freeRotatedName is <path>.<now as rotatedLayout>, with a numeric suffix
// when rotations of that second exist already: one above the highest, so
// that a name freed by keep is never reused and the suffixes keep the order
// of the rotations.
func freeRotatedName(path string, now time.Time) (string, error) {
	at := now.UTC().Truncate(time.Second)
	base := path + "." + at.Format(rotatedLayout)
	existing, err := rotatedFiles(path)
	if err != nil {
		return "", err
	}
	n := 0
	for _, f := range existing {
		if f.at.Equal(at) {
			n = max(n, f.n+1)
		}
	}
	for end := n + maxSuffix; n < end; n++ {
		name := base
		if n > 0 {
			name = base + "." + strconv.Itoa(n)
		}
		_, err := os.Lstat(name)
		if errors.Is(err, fs.ErrNotExist) {
			return name, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("no free name for a rotated file from %s on", base)
}

// rotatedFile is a file in the path's directory named as a rotation of it.
type rotatedFile struct {
	name string // full path
	at   time.Time
	n    int // the numeric suffix, 0 without one
}

// rotatedFiles lists the regular files named <path>.<timestamp>[.<n>],
// oldest first. Other files (compressed by someone else, say) are not
// listed, so never deleted.
func rotatedFiles(path string) ([]rotatedFile, error) {
	dir, prefix := filepath.Dir(path), filepath.Base(path)+"."
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []rotatedFile
	for _, ent := range entries {
		rest, ok := strings.CutPrefix(ent.Name(), prefix)
		if !ok || !ent.Type().IsRegular() || len(rest) < len(rotatedLayout) {
			continue
		}
		at, err := time.Parse(rotatedLayout, rest[:len(rotatedLayout)])
		if err != nil {
			continue
		}
		n := 0
		if suffix := rest[len(rotatedLayout):]; suffix != "" {
			digits, ok := strings.CutPrefix(suffix, ".")
			if !ok || !allDigits(digits) {
				continue
			}
			if n, err = strconv.Atoi(digits); err != nil {
				continue
			}
		}
		out = append(out, rotatedFile{name: filepath.Join(dir, ent.Name()), at: at, n: n})
	}
	slices.SortFunc(out, func(a, b rotatedFile) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.n, b.n))
	})
	return out, nil
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// prune deletes the oldest rotated files beyond keep. Failures are logged:
// they never cost a record.
func (e *exporter) prune() {
	if e.opts.keep == 0 {
		return
	}
	files, err := rotatedFiles(e.path)
	if err != nil {
		sdk.Log.Error("cdr-jsonl: cannot list rotated files to apply keep", "path", e.path, "err", err)
		return
	}
	for _, old := range files[:max(0, len(files)-e.opts.keep)] {
		if err := os.Remove(old.name); err != nil {
			sdk.Log.Error("cdr-jsonl: cannot delete an old rotated file", "file", old.name, "err", err)
			continue
		}
		sdk.Log.Info("cdr-jsonl: deleted an old rotated file", "file", old.name, "keep", e.opts.keep)
	}
}
