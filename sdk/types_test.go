package sdk

import (
	"strings"
	"testing"
)

func TestDecisionValidate(t *testing.T) {
	tests := []struct {
		name    string
		d       *Decision
		wantErr string // empty: valid
	}{
		{"nil", nil, "nil"},
		{"empty action", &Decision{}, `unknown action ""`},
		{"unknown action", &Decision{Action: "dance"}, `unknown action "dance"`},
		{"agent", Agent("openai", map[string]string{"voice": "alloy"}), ""},
		{"agent without params", Agent("openai", nil), ""},
		{"agent without connector", Agent("", nil), "without a connector"},
		{"reject 486", Reject(486, "busy"), ""},
		{"reject 400 lowest", Reject(400, ""), ""},
		{"reject 699 highest", Reject(699, ""), ""},
		{"reject 399", Reject(399, ""), "SIP code 399"},
		{"reject 700", Reject(700, ""), "SIP code 700"},
		{"reject 200", Reject(200, ""), "use 400-699"},
		{"reject 0", Reject(0, ""), "SIP code 0"},
		{"forward", &Decision{Action: ActionForward, URI: "sip:100@pbx", ViaTrunk: "pbx"}, ""},
		{"forward without trunk", &Decision{Action: ActionForward, URI: "sip:100@pbx"}, ""},
		{"forward without uri", &Decision{Action: ActionForward, ViaTrunk: "pbx"}, "without a URI"},
		{"collect 1", &Decision{Action: ActionCollect, MaxDigits: 1}, ""},
		{"collect 32", &Decision{Action: ActionCollect, MaxDigits: 32, Terminator: "#", TimeoutMS: 5000}, ""},
		{"collect 0", &Decision{Action: ActionCollect}, "max_digits 0"},
		{"collect 33", &Decision{Action: ActionCollect, MaxDigits: 33}, "use 1-32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate() = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// A decision survives the trip to the wire and back.
func TestDecisionProtoRoundTrip(t *testing.T) {
	for _, d := range []*Decision{
		{Action: ActionAgent, Connector: "c", Params: map[string]string{"a": "b"}, Variables: map[string]string{"x": "y"}, Rule: "r"},
		{Action: ActionReject, SIPCode: 603, Reason: "decline", Rule: "default"},
		{Action: ActionForward, URI: "sip:1@h", ViaTrunk: "t"},
		{Action: ActionCollect, MaxDigits: 4, Terminator: "#", TimeoutMS: 3000},
	} {
		got := DecisionFromProto(DecisionToProto(d))
		if got.Action != d.Action || got.Connector != d.Connector || got.SIPCode != d.SIPCode ||
			got.Reason != d.Reason || got.URI != d.URI || got.ViaTrunk != d.ViaTrunk ||
			got.MaxDigits != d.MaxDigits || got.Terminator != d.Terminator || got.TimeoutMS != d.TimeoutMS ||
			got.Rule != d.Rule || len(got.Params) != len(d.Params) || len(got.Variables) != len(d.Variables) {
			t.Errorf("round trip of %+v gave %+v", d, got)
		}
	}
}

func TestConfigDecode(t *testing.T) {
	type conf struct {
		Path  string `json:"path"`
		Count int    `json:"count"`
	}
	var c conf
	if err := (Config{JSON: []byte(`{"path":"/x","count":3}`)}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Path != "/x" || c.Count != 3 {
		t.Fatalf("decoded %+v", c)
	}
	// An absent table leaves the defaults alone.
	c = conf{Count: 7}
	if err := (Config{}).Decode(&c); err != nil || c.Count != 7 {
		t.Fatalf("empty config: %+v, %v", c, err)
	}
	// A typo is an error naming the key.
	err := (Config{JSON: []byte(`{"pth":"/x"}`)}).Decode(&c)
	if err == nil || !strings.Contains(err.Error(), `"pth"`) {
		t.Fatalf("unknown key: got %v, want an error naming \"pth\"", err)
	}
	err = (Config{JSON: []byte(`{"count":"three"}`)}).Decode(&c)
	if err == nil {
		t.Fatal("wrong type: got nil error")
	}
}
