package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/voxgate/voxgate/sdk"
)

// maxSIPCallID is how much of the SIP Call-ID the indexed sip_call_id column
// keeps. A b-tree entry holds at most about 2.7 kB, and a Call-ID comes from
// the caller's INVITE; the record column keeps it whole.
const maxSIPCallID = 1024

// row is one record as column values, in the order of columns.
type row struct {
	id   string
	vals []any
}

// makeRow converts a record. A field that PostgreSQL cannot take as it is
// never refuses the record: an unparsable time is stored as NULL, a number
// out of its column's range as NULL, NUL characters (which text and jsonb
// cannot hold) become U+FFFD, a non-finite float in legs becomes 0, and an
// over-long sip_call_id column is cut. problems says what was done, for
// the log. The record column holds the record as sent, except for NULs
// and non-finite floats, which no jsonb can hold.
func makeRow(r *sdk.CallRecord) (row, []string) {
	var b rowBuilder
	if legs, changed := finiteLegs(r.Legs); changed {
		c := *r
		c.Legs = legs
		r = &c
		b.note("legs: a non-finite jitter_ms, rtt_ms or mos is stored as 0")
	}
	sipCallID := b.text("sip_call_id", r.SIPCallID)
	if len(sipCallID) > maxSIPCallID {
		b.note("sip_call_id: %d bytes, the column keeps the first %d (the record column keeps it whole)", len(sipCallID), maxSIPCallID)
		sipCallID = cut(sipCallID, maxSIPCallID)
	}
	var variables, legs any // NULL when empty
	if len(r.Variables) > 0 {
		variables = b.jsonb("variables", r.Variables)
	}
	if len(r.Legs) > 0 {
		legs = b.jsonb("legs", r.Legs)
	}
	vals := []any{
		r.ID, // Export has checked it is not empty
		int64(r.SchemaVersion),
		sipCallID,
		b.text("trunk", r.Trunk),
		b.text("direction", r.Direction),
		b.text("mode", r.Mode),
		b.text("from_user", r.From.User),
		b.text("from_uri", r.From.URI),
		b.text("from_display", r.From.Display),
		b.text("to_user", r.To.User),
		b.text("to_uri", r.To.URI),
		b.text("from_e164", r.FromE164),
		b.text("to_e164", r.ToE164),
		b.text("caller_id", r.CallerID),
		b.time("start_time", r.StartTime),
		b.time("ring_time", r.RingTime),
		b.time("answer_time", r.AnswerTime),
		b.time("end_time", r.EndTime),
		r.DurationMS,
		r.BillableMS,
		r.BillableSeconds,
		b.text("disposition", r.Disposition),
		b.int4("sip_status", r.SIPStatus),
		b.text("hangup_side", r.HangupSide),
		b.text("hangup_cause", r.HangupCause),
		b.text("codec", r.Codec),
		b.text("route_action", r.RouteAction),
		b.text("route_rule", r.RouteRule),
		b.text("connector", r.Connector),
		b.text("connector_session_id", r.ConnectorSessionID),
		b.text("transfer_target", r.TransferTarget),
		b.text("transfer_result", r.TransferResult),
		b.text("hostname", r.Hostname),
		b.text("source_addr", r.SourceAddr),
		int64(r.DTMFCount),
		r.RTPPacketsIn,
		r.RTPPacketsOut,
		variables,
		legs,
		b.jsonb("record", r),
	}
	return row{id: r.ID, vals: vals}, b.problems
}

type rowBuilder struct{ problems []string }

func (b *rowBuilder) note(format string, args ...any) {
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

// text returns s as PostgreSQL text can hold it: valid UTF-8 without NUL.
func (b *rowBuilder) text(col, s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	b.note("%s: invalid UTF-8 or NUL characters stored as U+FFFD", col)
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// time parses an RFC 3339 time; nil (NULL) for "" and for what does not
// parse.
func (b *rowBuilder) time(col, s string) any {
	if s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		b.note("%s: %q is not an RFC 3339 time, stored as NULL", col, short(s))
		return nil
	}
	return t
}

// int4 is v for an integer column, or nil (NULL) when it does not fit.
func (b *rowBuilder) int4(col string, v uint32) any {
	if v > math.MaxInt32 {
		b.note("%s: %d does not fit an integer column, stored as NULL", col, v)
		return nil
	}
	return int32(v)
}

// jsonb marshals v for a jsonb column. jsonb cannot hold the character
// U+0000, so a string holding it gets U+FFFD instead. (json.Marshal already
// turns invalid UTF-8 into U+FFFD.)
func (b *rowBuilder) jsonb(col string, v any) any {
	j, err := json.Marshal(v)
	if err != nil { // not for the types of sdk.CallRecord once floats are finite
		b.note("%s: %v, stored as NULL", col, err)
		return nil
	}
	if bytes.Contains(j, []byte(`\u0000`)) {
		if fixed, ok := withoutNUL(j); ok {
			b.note("%s: NUL characters stored as U+FFFD", col)
			j = fixed
		}
	}
	return json.RawMessage(j)
}

// withoutNUL rewrites JSON with every U+0000 in its strings (and keys)
// replaced by U+FFFD. ok is false when there was none (a `\u0000` that was
// an escaped backslash followed by "u0000").
func withoutNUL(j []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber() // keep integers exact
	var v any
	if err := dec.Decode(&v); err != nil {
		return j, false
	}
	changed := false
	fix := func(s string) string {
		if strings.IndexByte(s, 0) < 0 {
			return s
		}
		changed = true
		return strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			return fix(v)
		case []any:
			for i := range v {
				v[i] = walk(v[i])
			}
			return v
		case map[string]any:
			out := make(map[string]any, len(v))
			for k, e := range v {
				out[fix(k)] = walk(e)
			}
			return out
		}
		return v
	}
	v = walk(v)
	if !changed {
		return j, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		return j, false
	}
	return out, true
}

// finiteLegs returns legs with NaN and ±Inf (which JSON cannot hold) as 0,
// copying only when there is one.
func finiteLegs(legs []sdk.LegQuality) ([]sdk.LegQuality, bool) {
	finite := func(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
	ok := func(l sdk.LegQuality) bool { return finite(l.JitterMS) && finite(l.RTTMS) && finite(l.MOS) }
	if !slices.ContainsFunc(legs, func(l sdk.LegQuality) bool { return !ok(l) }) {
		return legs, false
	}
	out := slices.Clone(legs)
	for i := range out {
		for _, f := range []*float64{&out[i].JitterMS, &out[i].RTTMS, &out[i].MOS} {
			if !finite(*f) {
				*f = 0
			}
		}
	}
	return out, true
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// short quotes at most 64 bytes of a value in a log line.
func short(s string) string {
	if len(s) <= 64 {
		return s
	}
	return cut(s, 64) + "…"
}
