// Package config holds the daemon's TOML schema, its defaults and its
// validation. Every problem is reported as FILE:LINE: what is wrong and how to
// fix it, all of them at once, so an admin fixes a file in one pass.
package config

import "time"

// Config is the whole of voxgate.toml.
type Config struct {
	Server  Server   `toml:"server"`
	Media   Media    `toml:"media"`
	Trunks  []Trunk  `toml:"trunk"`
	Plugins []Plugin `toml:"plugin"`
	Routing Routing  `toml:"routing"`
	CDR     CDR      `toml:"cdr"`
	Log     Log      `toml:"log"`

	// Path is the file the config was read from; base for relative paths.
	// Load sets it to an absolute path.
	Path string `toml:"-"`

	// src records where each key was written, for CheckFiles' messages.
	src *source
}

// Server is the SIP side: where to listen and what address to announce.
type Server struct {
	// Listen is one entry per transport, e.g. {transport="udp", addr="127.0.0.1:5060"}.
	Listen []Listen `toml:"listen"`
	// PublicIP is announced in Contact and SDP c=; empty = the listen address.
	PublicIP string `toml:"public_ip"`
	// UserAgent is the User-Agent / Server header value.
	UserAgent string `toml:"user_agent"`
	// UDPReadBuffer is SO_RCVBUF of the UDP SIP socket, in bytes.
	UDPReadBuffer int `toml:"udp_read_buffer"`
	// AllowedSources are CIDRs from which INVITEs are accepted (until trunks
	// with real auth exist). Requests from elsewhere get 403. The file may
	// also list bare addresses; after Load every entry is in CIDR form
	// ("192.0.2.10/32"), so netip.ParsePrefix accepts each.
	AllowedSources []string `toml:"allowed_sources"`
	// DrainTimeout is how long SIGTERM waits for live calls to end.
	DrainTimeout Duration `toml:"drain_timeout"`
	// RunDir holds the plugin sockets (private 0700 directory). Absolute
	// after Load (a relative value is taken from the config file's directory).
	RunDir string `toml:"run_dir"`
	// StateDir holds state that must survive restarts. Absolute after Load,
	// like RunDir.
	StateDir string `toml:"state_dir"`
}

// Listen is one SIP listener.
type Listen struct {
	Transport string `toml:"transport"` // udp or tcp (lowercase after Load)
	Addr      string `toml:"addr"`      // host:port
}

// Media is the RTP side.
type Media struct {
	RTPPortMin   int      `toml:"rtp_port_min"`
	RTPPortMax   int      `toml:"rtp_port_max"`
	RTPIP        string   `toml:"rtp_ip"` // address RTP sockets bind to
	Codecs       []string `toml:"codecs"` // in order of preference: PCMU, PCMA (uppercase after Load)
	Ptime        int      `toml:"ptime"`  // ms, 20
	MediaTimeout Duration `toml:"media_timeout"`
	// RingTimeout bounds how long a connector may take to say Started.
	RingTimeout Duration `toml:"ring_timeout"`
	// MaxCallDuration hangs up calls that last longer (0 = no limit).
	MaxCallDuration Duration `toml:"max_call_duration"`
}

// Trunk is a SIP peer. In this version only the name and inbound source
// filter are used; auth, registration and numbers come with the trunk work.
type Trunk struct {
	Name           string   `toml:"name"`
	AllowedSources []string `toml:"allowed_sources"`
}

// Plugin is one plugin binary the daemon launches.
type Plugin struct {
	Name     string         `toml:"name"`
	Kind     string         `toml:"kind"`     // router, connector, exporter (lowercase after Load)
	Path     string         `toml:"path"`     // the binary; absolute after Load (relative = to the config file's directory)
	SHA256   string         `toml:"sha256"`   // optional pin of the binary (lowercase hex after Load)
	Deadline Duration       `toml:"deadline"` // per call (router: Route)
	Env      []string       `toml:"env"`      // KEY=VALUE passed to the plugin; nothing else is
	Config   map[string]any `toml:"config"`   // handed to the plugin as JSON
}

// Routing names the router and what to do when it cannot answer.
type Routing struct {
	Router   string   `toml:"router"`
	Fallback Decision `toml:"fallback"`
}

// Decision is a routing decision written in the config (the fallback).
type Decision struct {
	Action    string            `toml:"action"` // agent or reject (lowercase after Load)
	Connector string            `toml:"connector"`
	Params    map[string]string `toml:"params"`
	SIPCode   int               `toml:"sip_code"`
	Reason    string            `toml:"reason"`
}

// CDR names the exporters every record is sent to.
type CDR struct {
	Exporters []string `toml:"exporters"`
	// SpoolDir holds the durable spool of records not yet exported by
	// every exporter; relative to the config file; default state_dir/spool.
	SpoolDir string `toml:"spool_dir"`
	// MaxSpoolBytes bounds the spool on disk.
	MaxSpoolBytes int64 `toml:"max_spool_bytes"`
	// SegmentBytes is the size at which a spool segment is closed.
	SegmentBytes int64 `toml:"segment_bytes"`
	// OnFull is what happens at max_spool_bytes: "reject-calls" (new calls
	// get 503 until exporters catch up) or "drop-oldest" (the oldest records
	// are deleted, each logged as an error).
	OnFull string `toml:"on_full"`
}

// Log sets the daemon's logging.
type Log struct {
	Level  string `toml:"level"`  // debug, info, warn, error (lowercase after Load)
	Format string `toml:"format"` // text or json (lowercase after Load)
}

// Duration is a time.Duration written as "500ms", "30s", "1h".
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration back as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
