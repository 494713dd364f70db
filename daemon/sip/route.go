package sip

import (
	"context"

	"github.com/voxgate/voxgate/daemon/call"
	"github.com/voxgate/voxgate/sdk"
)

// decision is a route decision, from the router plugin or the fallback.
type decision struct {
	action    string
	connector string
	params    map[string]string
	code      int
	reason    string
	variables map[string]string
	// collect
	maxDigits  uint32
	terminator string
	timeoutMS  uint32
}

// route asks the router plugin; when it is down, late, failing or answers
// nonsense, the configured fallback decides, so no call is lost to a plugin.
func (s *Server) route(ctx context.Context, c *call.Call) (decision, string) {
	r := s.plugins.Plugin(s.cfg.Routing.Router)
	if r != nil {
		pd, err := r.Route(ctx, c.Info)
		if err == nil {
			d := sdk.DecisionFromProto(pd)
			if verr := d.Validate(); verr == nil {
				return fromSDK(d), d.Rule
			} else {
				err = verr
			}
		}
		c.Log.Warn("router failed; using the fallback decision", "router", s.cfg.Routing.Router, "err", err)
	}
	fb := s.cfg.Routing.Fallback
	d := decision{action: fb.Action, connector: fb.Connector, params: fb.Params, code: fb.SIPCode, reason: fb.Reason}
	return d, "fallback"
}

func fromSDK(d *sdk.Decision) decision {
	return decision{action: string(d.Action), connector: d.Connector, params: d.Params,
		code: int(d.SIPCode), reason: d.Reason, variables: d.Variables,
		maxDigits: d.MaxDigits, terminator: d.Terminator, timeoutMS: d.TimeoutMS}
}
