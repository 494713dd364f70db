package main

import (
	"encoding/json"
	"testing"

	"github.com/voxgate/voxgate/sdk"
)

// FuzzConfigure: any config either compiles to rules whose every decision
// passes the SDK's check, or is refused with an error; it never panics.
func FuzzConfigure(f *testing.F) {
	f.Add(testConfig)
	f.Add(`{"default":{"action":"collect","max_digits":4}}`)
	f.Add(`{"rules":[{"match":"header","header":"X-A","regexp":"a|b","action":"forward","uri":"tel:+1"}]}`)
	f.Add(`{"rules":[{"match":"to","prefix":"","action":"agent"}],"default":{}}`)
	f.Fuzz(func(t *testing.T, cfg string) {
		var c config
		if err := (sdk.Config{JSON: []byte(cfg)}).Decode(&c); err != nil {
			return
		}
		tb, err := compile(c)
		if err != nil {
			if tb != nil {
				t.Fatal("a table and an error")
			}
			return
		}
		for _, r := range tb.rules {
			if err := r.decision.Validate(); err != nil {
				t.Fatalf("compiled rule %q has an invalid decision: %v", r.label, err)
			}
		}
		if tb.def != nil {
			if err := tb.def.Validate(); err != nil {
				t.Fatalf("compiled default is invalid: %v", err)
			}
		}
	})
}

// FuzzRoute: whatever the call carries, Route answers a valid decision.
func FuzzRoute(f *testing.F) {
	var c config
	if err := json.Unmarshal([]byte(testConfig), &c); err != nil {
		f.Fatal(err)
	}
	tb, err := compile(c)
	if err != nil {
		f.Fatal(err)
	}
	r := &router{}
	r.table.Store(tb)
	f.Add("+4917000000", "+49301555", "sip:x@pbx.example.com", "gold", "1", "menu")
	f.Add("", "1000", "", "", "", "")
	f.Add("anonymous", "", "", "", "9", "menu,menu")
	f.Fuzz(func(t *testing.T, from, to, ruri, tier, digits, collected string) {
		call := &sdk.Call{From: sdk.Party{User: from}, To: sdk.Party{User: to}, RequestURI: ruri,
			Headers: map[string]string{"X-Customer-Tier": tier}, CollectedDigits: digits,
			Variables: map[string]string{collectedVar: collected}}
		d, err := r.Route(t.Context(), call)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("invalid decision %+v: %v", d, err)
		}
		if d.Rule == "" {
			t.Fatal("decision without a rule label")
		}
	})
}
