package sdk

import (
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// Conversions between the SDK's Go types and the wire messages. They are
// exported for tools that speak the wire (sdktest, the daemon); a plugin
// never needs them.

// CallFromProto converts a wire call.
func CallFromProto(c *pluginv1.Call) *Call {
	if c == nil {
		return &Call{}
	}
	dir := Direction("")
	switch c.GetDirection() {
	case pluginv1.Direction_DIRECTION_INBOUND:
		dir = Inbound
	case pluginv1.Direction_DIRECTION_OUTBOUND:
		dir = Outbound
	}
	return &Call{
		ID: c.GetId(), SIPCallID: c.GetSipCallId(), Direction: dir, Trunk: c.GetTrunk(),
		From: partyFromProto(c.GetFrom()), To: partyFromProto(c.GetTo()),
		RequestURI: c.GetRequestUri(), SourceAddr: c.GetSourceAddr(), Transport: c.GetTransport(),
		Headers: c.GetHeaders(), Variables: c.GetVariables(), CollectedDigits: c.GetCollectedDigits(),
	}
}

// CallToProto converts a call to its wire form.
func CallToProto(c *Call) *pluginv1.Call {
	dir := pluginv1.Direction_DIRECTION_UNSPECIFIED
	switch c.Direction {
	case Inbound:
		dir = pluginv1.Direction_DIRECTION_INBOUND
	case Outbound:
		dir = pluginv1.Direction_DIRECTION_OUTBOUND
	}
	return &pluginv1.Call{
		Id: c.ID, SipCallId: c.SIPCallID, Direction: dir, Trunk: c.Trunk,
		From: partyToProto(c.From), To: partyToProto(c.To),
		RequestUri: c.RequestURI, SourceAddr: c.SourceAddr, Transport: c.Transport,
		Headers: c.Headers, Variables: c.Variables, CollectedDigits: c.CollectedDigits,
	}
}

func partyFromProto(p *pluginv1.Party) Party {
	return Party{User: p.GetUser(), Display: p.GetDisplay(), URI: p.GetUri()}
}

func partyToProto(p Party) *pluginv1.Party {
	return &pluginv1.Party{User: p.User, Display: p.Display, Uri: p.URI}
}

// DecisionToProto converts a decision to its wire form.
func DecisionToProto(d *Decision) *pluginv1.RouteDecision {
	out := &pluginv1.RouteDecision{Variables: d.Variables, Rule: d.Rule}
	switch d.Action {
	case ActionAgent:
		out.Action = &pluginv1.RouteDecision_Agent{Agent: &pluginv1.AgentAction{Connector: d.Connector, Params: d.Params}}
	case ActionReject:
		out.Action = &pluginv1.RouteDecision_Reject{Reject: &pluginv1.RejectAction{SipCode: d.SIPCode, Reason: d.Reason}}
	case ActionForward:
		out.Action = &pluginv1.RouteDecision_Forward{Forward: &pluginv1.ForwardAction{Uri: d.URI, Trunk: d.ViaTrunk}}
	case ActionCollect:
		out.Action = &pluginv1.RouteDecision_Collect{Collect: &pluginv1.CollectAction{
			MaxDigits: d.MaxDigits, Terminator: d.Terminator, TimeoutMs: d.TimeoutMS}}
	}
	return out
}

// DecisionFromProto converts a wire decision; an empty action gives a
// decision that fails Validate.
func DecisionFromProto(p *pluginv1.RouteDecision) *Decision {
	d := &Decision{Variables: p.GetVariables(), Rule: p.GetRule()}
	switch a := p.GetAction().(type) {
	case *pluginv1.RouteDecision_Agent:
		d.Action, d.Connector, d.Params = ActionAgent, a.Agent.GetConnector(), a.Agent.GetParams()
	case *pluginv1.RouteDecision_Reject:
		d.Action, d.SIPCode, d.Reason = ActionReject, a.Reject.GetSipCode(), a.Reject.GetReason()
	case *pluginv1.RouteDecision_Forward:
		d.Action, d.URI, d.ViaTrunk = ActionForward, a.Forward.GetUri(), a.Forward.GetTrunk()
	case *pluginv1.RouteDecision_Collect:
		d.Action = ActionCollect
		d.MaxDigits, d.Terminator, d.TimeoutMS = a.Collect.GetMaxDigits(), a.Collect.GetTerminator(), a.Collect.GetTimeoutMs()
	}
	return d
}

// RecordToProto converts a record to its wire form.
func RecordToProto(r *CallRecord) *pluginv1.CallRecord {
	return &pluginv1.CallRecord{
		SchemaVersion: r.SchemaVersion, Id: r.ID, SipCallId: r.SIPCallID, Trunk: r.Trunk,
		Direction: r.Direction, From: partyToProto(r.From), To: partyToProto(r.To),
		StartTime: r.StartTime, AnswerTime: r.AnswerTime, EndTime: r.EndTime,
		DurationMs: r.DurationMS, BillableMs: r.BillableMS, Disposition: r.Disposition,
		SipStatus: r.SIPStatus, HangupSide: r.HangupSide, HangupCause: r.HangupCause,
		Codec: r.Codec, RouteAction: r.RouteAction, RouteRule: r.RouteRule, Connector: r.Connector,
		Variables: r.Variables, Hostname: r.Hostname, SourceAddr: r.SourceAddr,
		DtmfCount: r.DTMFCount, RtpPacketsIn: r.RTPPacketsIn, RtpPacketsOut: r.RTPPacketsOut,
		RingTime: r.RingTime, BillableSeconds: r.BillableSeconds, Mode: r.Mode, FromE164: r.FromE164,
		ToE164: r.ToE164, CallerId: r.CallerID, ConnectorSessionId: r.ConnectorSessionID,
		TransferTarget: r.TransferTarget, TransferResult: r.TransferResult, Legs: legsToProto(r.Legs),
	}
}

func legsToProto(legs []LegQuality) []*pluginv1.LegQuality {
	out := make([]*pluginv1.LegQuality, 0, len(legs))
	for _, l := range legs {
		out = append(out, &pluginv1.LegQuality{Role: l.Role, SipCallId: l.SIPCallID, Codec: l.Codec,
			PacketsIn: l.PacketsIn, PacketsOut: l.PacketsOut, PacketsLost: l.PacketsLost,
			JitterMs: l.JitterMS, RttMs: l.RTTMS, Mos: l.MOS})
	}
	return out
}

func legsFromProto(legs []*pluginv1.LegQuality) []LegQuality {
	var out []LegQuality
	for _, l := range legs {
		out = append(out, LegQuality{Role: l.GetRole(), SIPCallID: l.GetSipCallId(), Codec: l.GetCodec(),
			PacketsIn: l.GetPacketsIn(), PacketsOut: l.GetPacketsOut(), PacketsLost: l.GetPacketsLost(),
			JitterMS: l.GetJitterMs(), RTTMS: l.GetRttMs(), MOS: l.GetMos()})
	}
	return out
}

// RecordFromProto converts a wire record.
func RecordFromProto(p *pluginv1.CallRecord) *CallRecord {
	return &CallRecord{
		SchemaVersion: p.GetSchemaVersion(), ID: p.GetId(), SIPCallID: p.GetSipCallId(), Trunk: p.GetTrunk(),
		Direction: p.GetDirection(), From: partyFromProto(p.GetFrom()), To: partyFromProto(p.GetTo()),
		StartTime: p.GetStartTime(), AnswerTime: p.GetAnswerTime(), EndTime: p.GetEndTime(),
		DurationMS: p.GetDurationMs(), BillableMS: p.GetBillableMs(), Disposition: p.GetDisposition(),
		SIPStatus: p.GetSipStatus(), HangupSide: p.GetHangupSide(), HangupCause: p.GetHangupCause(),
		Codec: p.GetCodec(), RouteAction: p.GetRouteAction(), RouteRule: p.GetRouteRule(), Connector: p.GetConnector(),
		Variables: p.GetVariables(), Hostname: p.GetHostname(), SourceAddr: p.GetSourceAddr(),
		DTMFCount: p.GetDtmfCount(), RTPPacketsIn: p.GetRtpPacketsIn(), RTPPacketsOut: p.GetRtpPacketsOut(),
		RingTime: p.GetRingTime(), BillableSeconds: p.GetBillableSeconds(), Mode: p.GetMode(), FromE164: p.GetFromE164(),
		ToE164: p.GetToE164(), CallerID: p.GetCallerId(), ConnectorSessionID: p.GetConnectorSessionId(),
		TransferTarget: p.GetTransferTarget(), TransferResult: p.GetTransferResult(), Legs: legsFromProto(p.GetLegs()),
	}
}
