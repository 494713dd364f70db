package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a config file: where it is and what to do.
type Problem struct {
	File string // the config file as named to Load
	Line int    // 1-based; 0 when the problem has no single place in the file
	Msg  string // what is wrong and how to fix it

	err error // underlying error, if any (e.g. from reading the file)
}

// String formats the problem as FILE:LINE: msg (FILE: msg without a line).
func (p Problem) String() string {
	if p.Line <= 0 {
		return fmt.Sprintf("%s: %s", p.File, p.Msg)
	}
	return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
}

// Errors lists every problem found in a config file. Load and CheckFiles
// return it as their error.
type Errors struct {
	List []Problem
}

// Error returns one FILE:LINE: msg line per problem.
func (e *Errors) Error() string {
	if e == nil || len(e.List) == 0 {
		return "config: no problems"
	}
	lines := make([]string, len(e.List))
	for i, p := range e.List {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the underlying errors (such as a file system error), so
// errors.Is(err, fs.ErrNotExist) works on the result of Load.
func (e *Errors) Unwrap() []error {
	if e == nil {
		return nil
	}
	var errs []error
	for _, p := range e.List {
		if p.err != nil {
			errs = append(errs, p.err)
		}
	}
	return errs
}

// errorsOrNil sorts problems by line (those without a line last), drops exact
// duplicates and returns them as *Errors, or a nil error when there are none.
func errorsOrNil(list []Problem) error {
	if len(list) == 0 {
		return nil
	}
	slices.SortStableFunc(list, func(a, b Problem) int {
		if (a.Line <= 0) != (b.Line <= 0) {
			if a.Line <= 0 {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Line, b.Line)
	})
	list = slices.CompactFunc(list, func(a, b Problem) bool {
		return a.File == b.File && a.Line == b.Line && a.Msg == b.Msg
	})
	return &Errors{List: list}
}
