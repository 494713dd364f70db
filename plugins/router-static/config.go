package main

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"strings"

	"github.com/voxgate/voxgate/sdk"
)

// config is the plugin's table from voxgate.toml.
type config struct {
	Rules   []ruleConfig  `json:"rules"`
	Default *actionConfig `json:"default"`
}

// actionConfig is what to do with a call: a rule's action or the default.
type actionConfig struct {
	Action     string            `json:"action"`
	Connector  string            `json:"connector"`
	Params     map[string]string `json:"params"`
	SIPCode    uint32            `json:"sip_code"`
	Reason     string            `json:"reason"`
	URI        string            `json:"uri"`
	Trunk      string            `json:"trunk"`
	MaxDigits  uint32            `json:"max_digits"`
	Terminator string            `json:"terminator"`
	TimeoutMS  uint32            `json:"timeout_ms"`
	Variables  map[string]string `json:"variables"`
}

// ruleConfig is one rule: what to match and, embedded, what to do.
type ruleConfig struct {
	Name   string  `json:"name"`
	Match  string  `json:"match"`
	Header string  `json:"header"`
	Exact  *string `json:"exact"`
	Prefix *string `json:"prefix"`
	Regexp *string `json:"regexp"`
	actionConfig
}

// What a rule looks at.
const (
	matchTo         = "to"
	matchFrom       = "from"
	matchRequestURI = "request_uri"
	matchHeader     = "header"
	matchDigits     = "digits"
)

const (
	// defaultCollectTimeoutMS is used when a collect action gives no timeout_ms.
	defaultCollectTimeoutMS = 5000
	maxCollectTimeoutMS     = 120_000
	// collectedVar lists, comma-separated, the collect rules that already
	// fired for a call, so that the call, routed again with its digits, does
	// not match the same collect rule forever.
	collectedVar = "router_static_collected"
	// Rule labels of the decisions no rule made.
	labelDefault = "default"
	labelNoRoute = "no-route"
)

// rule is a checked, compiled rule.
type rule struct {
	label  string // Decision.Rule: the name, or "rule N"
	match  string
	header string
	exact  *string
	prefix *string
	re     *regexp.Regexp
	// decision is the template answered on a match; callers copy it.
	decision sdk.Decision
}

// table is a checked configuration, swapped in whole by Configure.
type table struct {
	rules []rule
	def   *sdk.Decision // nil: reject 404 "no route"
}

// compile checks the whole configuration and reports every problem at once,
// each naming the rule and the fix.
func compile(cfg config) (*table, error) {
	var errs []error
	t := &table{}
	if len(cfg.Rules) == 0 && cfg.Default == nil {
		errs = append(errs, errors.New(`no "rules" and no "default": every call would be rejected 404; add rules or a default`))
	}
	names := make(map[string]int)
	for i, rc := range cfg.Rules {
		n := i + 1 // rules count from 1, in the order of the file
		where := fmt.Sprintf("rule %d", n)
		label := where
		if rc.Name != "" {
			where = fmt.Sprintf("rule %d (%q)", n, rc.Name)
			label = rc.Name
		}
		fail := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
		}
		r := rule{label: label, match: rc.Match, header: rc.Header, exact: rc.Exact, prefix: rc.Prefix}

		switch {
		case rc.Name == labelDefault || rc.Name == labelNoRoute:
			fail("the name %q is reserved for decisions no rule made: choose another name", rc.Name)
		case strings.Contains(rc.Name, ","):
			fail("the name must not contain a comma: choose another name")
		case rc.Name != "":
			if prev, ok := names[rc.Name]; ok {
				fail("the name %q is already used by rule %d: give each rule its own name", rc.Name, prev)
			}
			names[rc.Name] = n
		}

		switch rc.Match {
		case matchTo, matchFrom, matchRequestURI, matchDigits:
			if rc.Header != "" {
				fail(`"header" is only for match = "header": remove it or set match = "header"`)
			}
		case matchHeader:
			if rc.Header == "" {
				fail(`match = "header" needs "header", the header's name, e.g. "X-Customer"`)
			} else if !validHeaderName(rc.Header) {
				fail("header %q is not a valid header name: use letters, digits and '-'", rc.Header)
			}
		case "":
			fail(`"match" is missing: set it to to, from, request_uri, header or digits`)
		default:
			fail(`match %q is unknown: use to, from, request_uri, header or digits`, rc.Match)
		}

		set := 0
		for _, p := range []*string{rc.Exact, rc.Prefix, rc.Regexp} {
			if p != nil {
				set++
			}
		}
		if set != 1 {
			fail(`set exactly one of "exact", "prefix" or "regexp" (it has %d)`, set)
		}
		if rc.Prefix != nil && *rc.Prefix == "" {
			fail(`an empty "prefix" matches every call: remove the rule and use "default" instead`)
		}
		if rc.Regexp != nil {
			if *rc.Regexp == "" {
				fail(`an empty "regexp" matches every call: remove the rule and use "default" instead`)
			} else if re, err := regexp.Compile(*rc.Regexp); err != nil {
				fail("regexp %q does not compile: %v: fix the expression (Go RE2 syntax)", *rc.Regexp, err)
			} else {
				r.re = re
			}
		}

		d, derrs := buildDecision(rc.actionConfig, where)
		errs = append(errs, derrs...)
		if d != nil {
			d.Rule = label
			r.decision = *d
		}
		t.rules = append(t.rules, r)
	}
	if cfg.Default != nil {
		d, derrs := buildDecision(*cfg.Default, "default")
		errs = append(errs, derrs...)
		if d != nil {
			d.Rule = labelDefault
			t.def = d
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return t, nil
}

// buildDecision checks one action and turns it into a decision; it returns
// nil and the problems when there are any.
func buildDecision(a actionConfig, where string) (*sdk.Decision, []error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
	}
	// Each field and the one action it belongs to: a field set for another
	// action is a mistake, never silently ignored.
	owner := []struct {
		field  string
		set    bool
		action sdk.Action
	}{
		{"connector", a.Connector != "", sdk.ActionAgent},
		{"params", a.Params != nil, sdk.ActionAgent},
		{"sip_code", a.SIPCode != 0, sdk.ActionReject},
		{"reason", a.Reason != "", sdk.ActionReject},
		{"uri", a.URI != "", sdk.ActionForward},
		{"trunk", a.Trunk != "", sdk.ActionForward},
		{"max_digits", a.MaxDigits != 0, sdk.ActionCollect},
		{"terminator", a.Terminator != "", sdk.ActionCollect},
		{"timeout_ms", a.TimeoutMS != 0, sdk.ActionCollect},
	}
	action := sdk.Action(a.Action)
	switch action {
	case sdk.ActionAgent, sdk.ActionReject, sdk.ActionForward, sdk.ActionCollect:
		for _, o := range owner {
			if o.set && o.action != action {
				fail("%q is for action %q, not %q: remove it", o.field, o.action, action)
			}
		}
	case "":
		fail(`"action" is missing: set it to agent, reject, forward or collect`)
	default:
		fail("action %q is unknown: use agent, reject, forward or collect", a.Action)
	}

	d := &sdk.Decision{Action: action, Variables: a.Variables}
	switch action {
	case sdk.ActionAgent:
		if a.Connector == "" {
			fail(`action "agent" needs "connector", the name of a connector plugin in voxgate.toml`)
		}
		d.Connector, d.Params = a.Connector, a.Params
	case sdk.ActionReject:
		if a.SIPCode < 400 || a.SIPCode > 699 {
			fail(`action "reject" needs "sip_code" between 400 and 699 (got %d), e.g. 486 busy or 404 not found`, a.SIPCode)
		}
		d.SIPCode, d.Reason = a.SIPCode, a.Reason
	case sdk.ActionForward:
		switch {
		case a.URI == "":
			fail(`action "forward" needs "uri", e.g. "sip:100@pbx.example.com"`)
		case !hasScheme(a.URI, "sip:", "sips:", "tel:"):
			fail(`uri %q must start with sip:, sips: or tel:`, a.URI)
		}
		d.URI, d.ViaTrunk = a.URI, a.Trunk
	case sdk.ActionCollect:
		if a.MaxDigits < 1 || a.MaxDigits > 32 {
			fail(`action "collect" needs "max_digits" between 1 and 32 (got %d)`, a.MaxDigits)
		}
		if a.Terminator != "" && (len(a.Terminator) != 1 || !isDTMF(a.Terminator[0])) {
			fail(`terminator %q must be one DTMF digit (0-9 * # A-D), e.g. "#"`, a.Terminator)
		}
		if a.TimeoutMS > maxCollectTimeoutMS {
			fail("timeout_ms %d is over %d: use a shorter timeout", a.TimeoutMS, maxCollectTimeoutMS)
		}
		d.MaxDigits, d.Terminator, d.TimeoutMS = a.MaxDigits, a.Terminator, a.TimeoutMS
		if d.TimeoutMS == 0 {
			d.TimeoutMS = defaultCollectTimeoutMS
		}
	}
	for k := range a.Variables {
		if k == "" {
			fail(`"variables" has an empty name: name every variable`)
		}
		if k == collectedVar {
			fail("variable %q is set by router-static itself: use another name", k)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if err := d.Validate(); err != nil { // the SDK's own check, in case it is stricter
		return nil, []error{fmt.Errorf("%s: %w", where, err)}
	}
	return d, nil
}

// matches reports whether the rule applies to the call.
func (r *rule) matches(c *sdk.Call) bool {
	var v string
	switch r.match {
	case matchTo:
		v = c.To.User
	case matchFrom:
		v = c.From.User
	case matchRequestURI:
		v = c.RequestURI
	case matchDigits:
		v = c.CollectedDigits
	case matchHeader:
		var ok bool
		if v, ok = header(c.Headers, r.header); !ok {
			return false // an absent header matches nothing, not even ""
		}
	}
	if r.decision.Action == sdk.ActionCollect && collectedBy(c, r.label) {
		return false // this collect already ran for the call
	}
	switch {
	case r.exact != nil:
		return v == *r.exact
	case r.prefix != nil:
		return strings.HasPrefix(v, *r.prefix)
	default:
		return r.re.MatchString(v)
	}
}

// decide is the rule's decision for one call.
func (r *rule) decide(c *sdk.Call) *sdk.Decision {
	d := r.decision
	if d.Action == sdk.ActionCollect {
		vars := make(map[string]string, len(d.Variables)+1)
		maps.Copy(vars, d.Variables)
		prev := c.Variables[collectedVar]
		if prev == "" {
			vars[collectedVar] = r.label
		} else {
			vars[collectedVar] = prev + "," + r.label
		}
		d.Variables = vars
	}
	return &d
}

func collectedBy(c *sdk.Call, label string) bool {
	for l := range strings.SplitSeq(c.Variables[collectedVar], ",") {
		if l == label {
			return true
		}
	}
	return false
}

// header looks a header up by name, ignoring case as SIP does.
func header(h map[string]string, name string) (string, bool) {
	if v, ok := h[name]; ok {
		return v, true
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return s != ""
}

func hasScheme(uri string, schemes ...string) bool {
	for _, s := range schemes {
		if len(uri) > len(s) && strings.EqualFold(uri[:len(s)], s) {
			return true
		}
	}
	return false
}

func isDTMF(c byte) bool {
	return c >= '0' && c <= '9' || c == '*' || c == '#' || c >= 'A' && c <= 'D'
}
