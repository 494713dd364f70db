package sdk

import "time"

// RecordSchemaVersion is the version of CallRecord (sdk/docs/cdr.md).
const RecordSchemaVersion = 1

// RecordTime formats t as CallRecord times are written: RFC 3339 with
// milliseconds, in UTC.
func RecordTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// CallRecord is one call's CDR, schema v1. Times are RFC 3339 with
// milliseconds in UTC, empty when the event did not happen. The JSON names
// are the documented field names; cdr-jsonl writes exactly this.
type CallRecord struct {
	SchemaVersion uint32            `json:"schema_version"`
	ID            string            `json:"id"`
	SIPCallID     string            `json:"sip_call_id"`
	Trunk         string            `json:"trunk"`
	Direction     string            `json:"direction"`
	From          Party             `json:"from"`
	To            Party             `json:"to"`
	SourceAddr    string            `json:"source_addr"`
	StartTime     string            `json:"start_time"`
	AnswerTime    string            `json:"answer_time,omitempty"`
	EndTime       string            `json:"end_time"`
	DurationMS    int64             `json:"duration_ms"`
	BillableMS    int64             `json:"billable_ms"`
	Disposition   string            `json:"disposition"`
	SIPStatus     uint32            `json:"sip_status"`
	HangupSide    string            `json:"hangup_side"`
	HangupCause   string            `json:"hangup_cause"`
	Codec         string            `json:"codec,omitempty"`
	RouteAction   string            `json:"route_action"`
	RouteRule     string            `json:"route_rule,omitempty"`
	Connector     string            `json:"connector,omitempty"`
	Variables     map[string]string `json:"variables,omitempty"`
	Hostname      string            `json:"hostname"`
	DTMFCount     uint32            `json:"dtmf_count"`
	RTPPacketsIn  int64             `json:"rtp_packets_in"`
	RTPPacketsOut int64             `json:"rtp_packets_out"`

	RingTime           string       `json:"ring_time,omitempty"`
	BillableSeconds    int64        `json:"billable_seconds"`
	Mode               string       `json:"mode"`
	FromE164           string       `json:"from_e164,omitempty"`
	ToE164             string       `json:"to_e164,omitempty"`
	CallerID           string       `json:"caller_id,omitempty"`
	ConnectorSessionID string       `json:"connector_session_id,omitempty"`
	TransferTarget     string       `json:"transfer_target,omitempty"`
	TransferResult     string       `json:"transfer_result,omitempty"`
	Legs               []LegQuality `json:"legs,omitempty"`
}

// LegQuality is one call leg's media and quality. JitterMS, RTTMS and MOS
// come from RTCP and are 0 until the media engine reads it.
type LegQuality struct {
	Role        string  `json:"role"`
	SIPCallID   string  `json:"sip_call_id"`
	Codec       string  `json:"codec,omitempty"`
	PacketsIn   int64   `json:"packets_in"`
	PacketsOut  int64   `json:"packets_out"`
	PacketsLost int64   `json:"packets_lost"`
	JitterMS    float64 `json:"jitter_ms"`
	RTTMS       float64 `json:"rtt_ms"`
	MOS         float64 `json:"mos"`
}
