package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// ProtocolVersion is the version of the plugin contract this SDK speaks. The
// daemon refuses a plugin whose version differs from its own.
const ProtocolVersion = 1

// Kinds of plugins.
const (
	KindRouter    = "router"
	KindConnector = "connector"
	KindExporter  = "exporter"
)

// Info names a plugin. Kind and protocol version are filled in by the SDK.
type Info struct {
	Name    string
	Version string
}

// Plugin is what every kind of plugin implements.
type Plugin interface {
	// Info names the plugin and its version.
	Info() Info
	// Configure receives the plugin's own table from the daemon's TOML. It is
	// called once after every start of the plugin process, before any call.
	Configure(ctx context.Context, cfg Config) error
}

// Config is a plugin's configuration table, as JSON.
type Config struct {
	JSON []byte
}

// Decode unmarshals the table into v, refusing keys v does not have so that a
// typo in voxgate.toml is an error rather than a silently ignored setting.
func (c Config) Decode(v any) error {
	if len(c.JSON) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(c.JSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("plugin config: %w", err)
	}
	return nil
}

// Direction of a call as seen from the appliance.
type Direction string

// Directions.
const (
	Inbound  Direction = "inbound"
	Outbound Direction = "outbound"
)

// Party is one end of a call: From or To. The JSON names are those of CDR
// schema v1 (sdk/docs/cdr.md).
type Party struct {
	User    string `json:"user"`    // user part of the URI, e.g. "+4930123456"
	Display string `json:"display"` // display name, may be empty
	URI     string `json:"uri"`     // the whole URI
}

// Call is what a plugin knows about a call.
type Call struct {
	ID              string // voxgate call id
	SIPCallID       string // SIP Call-ID of the leg that created the call
	Direction       Direction
	Trunk           string
	From            Party
	To              Party
	RequestURI      string
	SourceAddr      string // ip:port the INVITE came from
	Transport       string // udp, tcp or tls
	Headers         map[string]string
	Variables       map[string]string
	CollectedDigits string // digits gathered by a Collect decision
}

// Action is what a router decides to do with a call.
type Action string

// Actions.
const (
	ActionAgent   Action = "agent"
	ActionReject  Action = "reject"
	ActionForward Action = "forward"
	ActionCollect Action = "collect"
)

// Decision is a router's answer. Set Action and the fields it uses.
type Decision struct {
	Action Action

	// agent
	Connector string
	Params    map[string]string
	// reject
	SIPCode uint32
	Reason  string
	// forward
	URI      string
	ViaTrunk string
	// collect
	MaxDigits  uint32
	Terminator string
	TimeoutMS  uint32

	// Variables are merged into the call's variables (and its CDR).
	Variables map[string]string
	// Rule names the rule that matched, for logs and the CDR.
	Rule string
}

// Agent sends the call to a connector.
func Agent(connector string, params map[string]string) *Decision {
	return &Decision{Action: ActionAgent, Connector: connector, Params: params}
}

// Reject refuses the call with a SIP status code (400-699).
func Reject(code uint32, reason string) *Decision {
	return &Decision{Action: ActionReject, SIPCode: code, Reason: reason}
}

// Validate reports what is wrong with a decision, so that a router bug shows
// up as a clear log line and the fallback decision rather than a broken call.
func (d *Decision) Validate() error {
	if d == nil {
		return fmt.Errorf("decision is nil")
	}
	switch d.Action {
	case ActionAgent:
		if d.Connector == "" {
			return fmt.Errorf("agent decision without a connector name")
		}
	case ActionReject:
		if d.SIPCode < 400 || d.SIPCode > 699 {
			return fmt.Errorf("reject decision with SIP code %d: use 400-699", d.SIPCode)
		}
	case ActionForward:
		if d.URI == "" {
			return fmt.Errorf("forward decision without a URI")
		}
	case ActionCollect:
		if d.MaxDigits == 0 || d.MaxDigits > 32 {
			return fmt.Errorf("collect decision with max_digits %d: use 1-32", d.MaxDigits)
		}
	default:
		return fmt.Errorf("unknown action %q", d.Action)
	}
	return nil
}
