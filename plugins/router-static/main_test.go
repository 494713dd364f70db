package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/voxgate/voxgate/sdk"
	"github.com/voxgate/voxgate/sdk/sdktest"
)

// testConfig exercises every kind of match and action.
const testConfig = `{
  "rules": [
    {"name": "vip", "match": "from", "exact": "+4917000000", "action": "agent", "connector": "premium",
     "params": {"voice": "sage"}, "variables": {"tier": "vip"}},
    {"name": "sales", "match": "to", "prefix": "+49301", "action": "agent", "connector": "openai",
     "params": {"voice": "alloy"}},
    {"match": "header", "header": "X-Customer-Tier", "exact": "gold", "action": "agent", "connector": "premium"},
    {"name": "spam", "match": "from", "regexp": "^(anonymous|\\+1900)", "action": "reject", "sip_code": 603, "reason": "declined"},
    {"name": "pbx", "match": "request_uri", "regexp": "@pbx\\.example\\.com$", "action": "forward",
     "uri": "sip:100@pbx.example.com", "trunk": "pbx"},
    {"name": "menu", "match": "to", "exact": "1000", "action": "collect", "max_digits": 1, "terminator": "#"},
    {"name": "menu-1", "match": "digits", "exact": "1", "action": "agent", "connector": "sales-bot"},
    {"name": "menu-other", "match": "to", "exact": "1000", "action": "reject", "sip_code": 404, "reason": "no such option"}
  ],
  "default": {"action": "reject", "sip_code": 480, "reason": "try later", "variables": {"why": "default"}}
}`

func configured(t *testing.T, cfg string) *sdktest.Conn {
	t.Helper()
	conn := sdktest.InProcess(t, &router{})
	if err := conn.Configure(json.RawMessage(cfg)); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return conn
}

func call(from, to string) *sdk.Call {
	return &sdk.Call{ID: "c", From: sdk.Party{User: from}, To: sdk.Party{User: to},
		RequestURI: "sip:" + to + "@edge.example.com"}
}

func TestRoute(t *testing.T) {
	conn := configured(t, testConfig)
	tests := []struct {
		name string
		call *sdk.Call
		want sdk.Decision
	}{
		{"exact from, first rule wins over a later match", call("+4917000000", "+49301555"),
			sdk.Decision{Action: sdk.ActionAgent, Connector: "premium", Params: map[string]string{"voice": "sage"},
				Variables: map[string]string{"tier": "vip"}, Rule: "vip"}},
		{"prefix on to", call("+4940111", "+49301555"),
			sdk.Decision{Action: sdk.ActionAgent, Connector: "openai", Params: map[string]string{"voice": "alloy"}, Rule: "sales"}},
		{"prefix needs the start", call("+4940111", "+4930201555"),
			sdk.Decision{Action: sdk.ActionReject, SIPCode: 480, Reason: "try later", Variables: map[string]string{"why": "default"}, Rule: "default"}},
		{"header, case-insensitive name, unnamed rule", &sdk.Call{Headers: map[string]string{"x-customer-tier": "gold"}},
			sdk.Decision{Action: sdk.ActionAgent, Connector: "premium", Rule: "rule 3"}},
		{"header value must be exact", &sdk.Call{Headers: map[string]string{"X-Customer-Tier": "golden"}},
			sdk.Decision{Action: sdk.ActionReject, SIPCode: 480, Reason: "try later", Variables: map[string]string{"why": "default"}, Rule: "default"}},
		{"regexp on from", call("anonymous", "+4940"),
			sdk.Decision{Action: sdk.ActionReject, SIPCode: 603, Reason: "declined", Rule: "spam"}},
		{"regexp anchored by the pattern", call("+1900555", "+4940"),
			sdk.Decision{Action: sdk.ActionReject, SIPCode: 603, Reason: "declined", Rule: "spam"}},
		{"regexp not matching in the middle", call("+44+1900", "+4940"),
			sdk.Decision{Action: sdk.ActionReject, SIPCode: 480, Reason: "try later", Variables: map[string]string{"why": "default"}, Rule: "default"}},
		{"request uri", &sdk.Call{RequestURI: "sip:200@pbx.example.com"},
			sdk.Decision{Action: sdk.ActionForward, URI: "sip:100@pbx.example.com", ViaTrunk: "pbx", Rule: "pbx"}},
		{"collect", call("+4940", "1000"),
			sdk.Decision{Action: sdk.ActionCollect, MaxDigits: 1, Terminator: "#", TimeoutMS: defaultCollectTimeoutMS,
				Variables: map[string]string{collectedVar: "menu"}, Rule: "menu"}},
		{"after collect: the digits route", &sdk.Call{To: sdk.Party{User: "1000"}, CollectedDigits: "1",
			Variables: map[string]string{collectedVar: "menu"}},
			sdk.Decision{Action: sdk.ActionAgent, Connector: "sales-bot", Rule: "menu-1"}},
		{"after collect: the collect rule does not match again", &sdk.Call{To: sdk.Party{User: "1000"}, CollectedDigits: "9",
			Variables: map[string]string{collectedVar: "menu"}},
			sdk.Decision{Action: sdk.ActionReject, SIPCode: 404, Reason: "no such option", Rule: "menu-other"}},
		{"nothing matches: default", call("+4940", "+4941"),
			sdk.Decision{Action: sdk.ActionReject, SIPCode: 480, Reason: "try later", Variables: map[string]string{"why": "default"}, Rule: "default"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := conn.Route(tt.call)
			if err != nil {
				t.Fatal(err)
			}
			if !sameDecision(got, &tt.want) {
				t.Fatalf("Route() = %+v\nwant      %+v", *got, tt.want)
			}
		})
	}
}

// sameDecision compares decisions, treating nil and empty maps alike (the
// wire does not tell them apart).
func sameDecision(a, b *sdk.Decision) bool {
	norm := func(d sdk.Decision) sdk.Decision {
		if len(d.Params) == 0 {
			d.Params = nil
		}
		if len(d.Variables) == 0 {
			d.Variables = nil
		}
		return d
	}
	return reflect.DeepEqual(norm(*a), norm(*b))
}

func TestNoDefaultRejects404(t *testing.T) {
	conn := configured(t, `{"rules":[{"match":"to","exact":"1","action":"agent","connector":"x"}]}`)
	got, err := conn.Route(call("a", "2"))
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Decision{Action: sdk.ActionReject, SIPCode: 404, Reason: "no route", Rule: labelNoRoute}
	if !sameDecision(got, &want) {
		t.Fatalf("Route() = %+v, want %+v", *got, want)
	}
}

func TestDefaultOnly(t *testing.T) {
	conn := configured(t, `{"default":{"action":"agent","connector":"echo","params":{"a":"b"}}}`)
	got, err := conn.Route(call("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Action != sdk.ActionAgent || got.Connector != "echo" || got.Params["a"] != "b" || got.Rule != "default" {
		t.Fatalf("Route() = %+v", *got)
	}
}

func TestRouteBeforeConfigure(t *testing.T) {
	conn := sdktest.InProcess(t, &router{})
	if _, err := conn.Route(call("a", "b")); err == nil || !strings.Contains(err.Error(), "not configured") {
		t.Fatalf("err = %v, want not configured", err)
	}
}

// A bad config is refused and the rules in use stay in use.
func TestConfigureErrorKeepsRules(t *testing.T) {
	conn := configured(t, `{"default":{"action":"agent","connector":"echo"}}`)
	if err := conn.Configure(json.RawMessage(`{"default":{"action":"agent"}}`)); err == nil {
		t.Fatal("bad config accepted")
	}
	got, err := conn.Route(call("a", "b"))
	if err != nil || got.Connector != "echo" {
		t.Fatalf("after a refused config: %+v, %v", got, err)
	}
}

func TestConfigureErrors(t *testing.T) {
	rule := func(fields string) string {
		return `{"rules":[{"name":"r","match":"to","exact":"1","action":"agent","connector":"c"},{` + fields + `}]}`
	}
	tests := []struct {
		name string
		cfg  string
		want []string // each must appear in the error
	}{
		{"empty", `{}`, []string{`no "rules" and no "default"`}},
		{"unknown key", `{"rules":[],"defualt":{}}`, []string{`"defualt"`}},
		{"unknown key in a rule", rule(`"match":"to","exact":"1","action":"agent","connector":"c","conector":"x"`), []string{`"conector"`}},
		{"wrong type", `{"rules":[{"match":"to","exact":"1","action":"reject","sip_code":"486"}]}`, []string{"sip_code"}},
		{"no match", rule(`"exact":"1","action":"agent","connector":"c"`), []string{`rule 2: "match" is missing`}},
		{"unknown match", rule(`"name":"x","match":"too","exact":"1","action":"agent","connector":"c"`), []string{`rule 2 ("x"): match "too" is unknown`}},
		{"header without name", rule(`"match":"header","exact":"1","action":"agent","connector":"c"`), []string{`rule 2: match = "header" needs "header"`}},
		{"bad header name", rule(`"match":"header","header":"X Foo","exact":"1","action":"agent","connector":"c"`), []string{`header "X Foo" is not a valid header name`}},
		{"header for to", rule(`"match":"to","header":"X-Foo","exact":"1","action":"agent","connector":"c"`), []string{`"header" is only for match = "header"`}},
		{"no pattern", rule(`"match":"to","action":"agent","connector":"c"`), []string{`rule 2: set exactly one of "exact", "prefix" or "regexp" (it has 0)`}},
		{"two patterns", rule(`"match":"to","exact":"1","prefix":"1","action":"agent","connector":"c"`), []string{"(it has 2)"}},
		{"empty prefix", rule(`"match":"to","prefix":"","action":"agent","connector":"c"`), []string{`empty "prefix" matches every call`}},
		{"empty regexp", rule(`"match":"to","regexp":"","action":"agent","connector":"c"`), []string{`empty "regexp" matches every call`}},
		{"bad regexp", rule(`"name":"bad","match":"to","regexp":"(+49","action":"agent","connector":"c"`), []string{`rule 2 ("bad"): regexp "(+49" does not compile`}},
		{"duplicate name", rule(`"name":"r","match":"to","exact":"2","action":"agent","connector":"c"`), []string{`rule 2 ("r"): the name "r" is already used by rule 1`}},
		{"reserved name", rule(`"name":"default","match":"to","exact":"2","action":"agent","connector":"c"`), []string{`the name "default" is reserved`}},
		{"no action", rule(`"match":"to","exact":"2"`), []string{`rule 2: "action" is missing`}},
		{"unknown action", rule(`"match":"to","exact":"2","action":"ring"`), []string{`action "ring" is unknown`}},
		{"agent without connector", rule(`"match":"to","exact":"2","action":"agent"`), []string{`action "agent" needs "connector"`}},
		{"reject without code", rule(`"match":"to","exact":"2","action":"reject"`), []string{`needs "sip_code" between 400 and 699 (got 0)`}},
		{"reject 200", rule(`"match":"to","exact":"2","action":"reject","sip_code":200`), []string{"(got 200)"}},
		{"forward without uri", rule(`"match":"to","exact":"2","action":"forward"`), []string{`action "forward" needs "uri"`}},
		{"forward bad uri", rule(`"match":"to","exact":"2","action":"forward","uri":"pbx:100"`), []string{`uri "pbx:100" must start with sip:, sips: or tel:`}},
		{"collect without max", rule(`"match":"to","exact":"2","action":"collect"`), []string{`"max_digits" between 1 and 32 (got 0)`}},
		{"collect too many", rule(`"match":"to","exact":"2","action":"collect","max_digits":33`), []string{"(got 33)"}},
		{"collect bad terminator", rule(`"match":"to","exact":"2","action":"collect","max_digits":4,"terminator":"##"`), []string{`terminator "##" must be one DTMF digit`}},
		{"collect long timeout", rule(`"match":"to","exact":"2","action":"collect","max_digits":4,"timeout_ms":600000`), []string{"timeout_ms 600000 is over 120000"}},
		{"field of another action", rule(`"match":"to","exact":"2","action":"agent","connector":"c","sip_code":486`), []string{`rule 2: "sip_code" is for action "reject", not "agent": remove it`}},
		{"reserved variable", rule(`"match":"to","exact":"2","action":"agent","connector":"c","variables":{"router_static_collected":"x"}`), []string{`variable "router_static_collected" is set by router-static`}},
		{"bad default", `{"default":{"action":"reject","sip_code":99}}`, []string{`default: action "reject" needs "sip_code"`}},
		{"every problem at once", `{"rules":[{"match":"to"},{"name":"b","match":"x","exact":"1","action":"agent"}],"default":{}}`,
			[]string{`rule 1: set exactly one`, `rule 1: "action" is missing`, `rule 2 ("b"): match "x" is unknown`,
				`rule 2 ("b"): action "agent" needs "connector"`, `default: "action" is missing`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := sdktest.InProcess(t, &router{})
			err := conn.Configure(json.RawMessage(tt.cfg))
			if err == nil {
				t.Fatal("Configure accepted the config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// buildPlugin builds this package's binary as the daemon would run it.
func buildPlugin(t *testing.T) string {
	t.Helper()
	bin := sdktest.Build(t, ".")
	return bin
}

// The built binary over a real go-plugin connection, as the daemon runs it.
func TestBinary(t *testing.T) {
	conn := sdktest.Binary(t, buildPlugin(t), sdk.KindRouter)
	info := conn.Info()
	if info.GetName() != "router-static" || info.GetKind() != sdk.KindRouter || info.GetProtocolVersion() != sdk.ProtocolVersion {
		t.Fatalf("Info() = %v", info)
	}
	if err := conn.Configure(json.RawMessage(`{"rules":[{"match":"to","regexp":"("}]}`)); err == nil ||
		!strings.Contains(err.Error(), `rule 1: regexp "(" does not compile`) {
		t.Fatalf("bad config over the wire: %v", err)
	}
	if err := conn.Configure(json.RawMessage(testConfig)); err != nil {
		t.Fatal(err)
	}
	got, err := conn.Route(call("+4940111", "+49301555"))
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.Decision{Action: sdk.ActionAgent, Connector: "openai", Params: map[string]string{"voice": "alloy"}, Rule: "sales"}
	if !sameDecision(got, &want) {
		t.Fatalf("Route() = %+v, want %+v", *got, want)
	}
	got, err = conn.Route(call("+4940111", "+4941"))
	if err != nil || got.Rule != "default" || got.SIPCode != 480 {
		t.Fatalf("Route() = %+v, %v; want the default", got, err)
	}
}
