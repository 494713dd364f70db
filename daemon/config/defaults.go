package config

import "time"

// Defaults, applied by Load to keys the file does not set. A key that is set
// is never replaced, even when it is empty or zero: it is validated instead.
const (
	DefaultSIPAddr         = "127.0.0.1:5060"
	DefaultUserAgent       = "voxgate"
	DefaultUDPReadBuffer   = 4 << 20 // bytes
	DefaultDrainTimeout    = 30 * time.Second
	DefaultMaxSpoolBytes   = 1 << 30  // 1 GiB
	DefaultSegmentBytes    = 16 << 20 // 16 MiB
	DefaultOnFull          = "reject-calls"
	DefaultRunDir          = "run"   // relative to the config file's directory
	DefaultStateDir        = "state" // relative to the config file's directory
	DefaultRTPPortMin      = 10000
	DefaultRTPPortMax      = 20000
	DefaultRTPIP           = "127.0.0.1"
	DefaultPtime           = 20 // ms; the only value supported
	DefaultMediaTimeout    = 30 * time.Second
	DefaultRingTimeout     = 10 * time.Second
	DefaultMaxCallDuration = 4 * time.Hour
	DefaultPluginDeadline  = 500 * time.Millisecond
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "text"
)

// defaultAllowedSources, defaultCodecs and defaultFallback return fresh
// values, so that no two configs share a slice.
func defaultAllowedSources() []string { return []string{"127.0.0.0/8", "::1/128"} }

func defaultCodecs() []string { return []string{"PCMU", "PCMA"} }

func defaultListen() []Listen {
	return []Listen{{Transport: "udp", Addr: DefaultSIPAddr}, {Transport: "tcp", Addr: DefaultSIPAddr}}
}

// defaultFallback is used when the file has no [routing.fallback]: calls the
// router cannot route are rejected with 503.
func defaultFallback() Decision {
	return Decision{Action: "reject", SIPCode: 503, Reason: "router unavailable"}
}

// Default returns the configuration an empty file gets before validation:
// every default set, no plugins, no router, relative run_dir and state_dir.
func Default() *Config {
	c := &Config{}
	applyDefaults(c, nil)
	return c
}

// applyDefaults sets every key that src says was absent from the file (all of
// them when src is nil).
func applyDefaults(c *Config, src *source) {
	absent := func(p path) bool { return src.absent(p) }
	sv, md := path{}.key("server"), path{}.key("media")

	if absent(sv.key("listen")) {
		c.Server.Listen = defaultListen()
	}
	if absent(sv.key("user_agent")) {
		c.Server.UserAgent = DefaultUserAgent
	}
	if absent(sv.key("udp_read_buffer")) {
		c.Server.UDPReadBuffer = DefaultUDPReadBuffer
	}
	if absent(sv.key("allowed_sources")) {
		c.Server.AllowedSources = defaultAllowedSources()
	}
	if absent(sv.key("drain_timeout")) {
		c.Server.DrainTimeout = Duration{DefaultDrainTimeout}
	}
	if absent(sv.key("run_dir")) {
		c.Server.RunDir = DefaultRunDir
	}
	if absent(sv.key("state_dir")) {
		c.Server.StateDir = DefaultStateDir
	}

	if absent(md.key("rtp_port_min")) {
		c.Media.RTPPortMin = DefaultRTPPortMin
	}
	if absent(md.key("rtp_port_max")) {
		c.Media.RTPPortMax = DefaultRTPPortMax
	}
	if absent(md.key("rtp_ip")) {
		c.Media.RTPIP = DefaultRTPIP
	}
	if absent(md.key("codecs")) {
		c.Media.Codecs = defaultCodecs()
	}
	if absent(md.key("ptime")) {
		c.Media.Ptime = DefaultPtime
	}
	if absent(md.key("media_timeout")) {
		c.Media.MediaTimeout = Duration{DefaultMediaTimeout}
	}
	if absent(md.key("ring_timeout")) {
		c.Media.RingTimeout = Duration{DefaultRingTimeout}
	}
	if absent(md.key("max_call_duration")) {
		c.Media.MaxCallDuration = Duration{DefaultMaxCallDuration}
	}

	for i := range c.Plugins {
		if absent(path{}.key("plugin").idx(i).key("deadline")) {
			c.Plugins[i].Deadline = Duration{DefaultPluginDeadline}
		}
	}

	if absent(path{}.key("routing").key("fallback")) {
		c.Routing.Fallback = defaultFallback()
	}

	cd := path{}.key("cdr")
	if absent(cd.key("max_spool_bytes")) {
		c.CDR.MaxSpoolBytes = DefaultMaxSpoolBytes
	}
	if absent(cd.key("segment_bytes")) {
		c.CDR.SegmentBytes = DefaultSegmentBytes
	}
	if absent(cd.key("on_full")) {
		c.CDR.OnFull = DefaultOnFull
	}

	if absent(path{}.key("log").key("level")) {
		c.Log.Level = DefaultLogLevel
	}
	if absent(path{}.key("log").key("format")) {
		c.Log.Format = DefaultLogFormat
	}
}
