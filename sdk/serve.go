package sdk

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
	"github.com/voxgate/voxgate/sdk/wire"
)

// Router decides what happens to each new call.
type Router interface {
	Plugin
	// Route is called once per new call (and again with CollectedDigits set
	// after a Collect decision). It must answer within the deadline the
	// daemon's config gives (500 ms by default); otherwise the daemon uses
	// its fallback decision.
	Route(ctx context.Context, call *Call) (*Decision, error)
}

// Exporter ships call records somewhere durable.
type Exporter interface {
	Plugin
	// Export stores records and returns the ids of those stored durably.
	// Records not acknowledged are offered again later: export is
	// at-least-once, so make storing a record twice harmless.
	Export(ctx context.Context, records []*CallRecord) (acked []string, err error)
}

// ServeRouter runs r as a plugin process. Call it from main; it returns only
// when the daemon is done with the plugin.
func ServeRouter(r Router) {
	serve(KindRouter, r, &wire.Servers{Router: &routerServer{impl: r}})
}

// ServeExporter runs e as a plugin process.
func ServeExporter(e Exporter) {
	serve(KindExporter, e, &wire.Servers{Exporter: &exporterServer{impl: e}})
}

// ServeConnector runs c as a plugin process.
func ServeConnector(c Connector) {
	serve(KindConnector, c, &wire.Servers{Connector: newConnectorServer(c)})
}

// Log is the plugin's logger. Its lines reach the daemon's log tagged with
// the plugin's name. Never write to stdout: it carries the handshake.
var Log = newLogger(os.Stderr)

// hclogTimeFormat is the only timestamp layout go-plugin's host accepts in a
// plugin's JSON log line; a line it cannot parse is logged as raw text at
// debug level, losing its level and fields.
const hclogTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// newLogger writes JSON lines in the shape of hclog's JSON format, which is
// what go-plugin's host parses from a plugin's stderr.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				a.Key = "@timestamp"
				if t, ok := a.Value.Any().(time.Time); ok {
					a.Value = slog.StringValue(t.Format(hclogTimeFormat))
				}
			case slog.LevelKey:
				a.Key = "@level"
				if l, ok := a.Value.Any().(slog.Level); ok {
					a.Value = slog.StringValue(levelName(l))
				}
			case slog.MessageKey:
				a.Key = "@message"
			}
			return a
		},
	}))
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	default:
		return "error"
	}
}

func serve(kind string, p Plugin, srv *wire.Servers) {
	srv.Plugin = &pluginServer{kind: kind, impl: p}
	go exitWithParent()
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         wire.PluginSet(kind, srv),
		GRPCServer:      goplugin.DefaultGRPCServer,
		Logger:          hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr, JSONFormat: true}),
	})
}

// exitWithParent ends the plugin when the daemon is gone. go-plugin leaves a
// plugin running under PID 1 when its host is killed with SIGKILL; the
// daemon also sets a parent-death signal, and this covers what that misses
// (it fires on the death of the forking thread, not of the process).
func exitWithParent() {
	parent := os.Getppid()
	for {
		time.Sleep(500 * time.Millisecond)
		if os.Getppid() != parent {
			Log.Warn("daemon is gone; plugin exits", "old_parent", parent)
			os.Exit(0)
		}
	}
}

type pluginServer struct {
	pluginv1.UnimplementedPluginServer
	kind string
	impl Plugin
}

func (s *pluginServer) Info(context.Context, *pluginv1.InfoRequest) (*pluginv1.InfoResponse, error) {
	i := s.impl.Info()
	return &pluginv1.InfoResponse{Name: i.Name, Kind: s.kind, Version: i.Version, ProtocolVersion: ProtocolVersion}, nil
}

func (s *pluginServer) Configure(ctx context.Context, req *pluginv1.ConfigureRequest) (*pluginv1.ConfigureResponse, error) {
	if err := s.impl.Configure(ctx, Config{JSON: req.GetConfigJson()}); err != nil {
		return nil, err
	}
	return &pluginv1.ConfigureResponse{}, nil
}

type routerServer struct {
	pluginv1.UnimplementedRouterServer
	impl Router
}

func (s *routerServer) Route(ctx context.Context, req *pluginv1.RouteRequest) (*pluginv1.RouteDecision, error) {
	d, err := s.impl.Route(ctx, CallFromProto(req.GetCall()))
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("router returned an invalid decision: %w", err)
	}
	return DecisionToProto(d), nil
}

type exporterServer struct {
	pluginv1.UnimplementedExporterServer
	impl Exporter
}

func (s *exporterServer) Export(ctx context.Context, req *pluginv1.ExportRequest) (*pluginv1.ExportResponse, error) {
	recs := make([]*CallRecord, 0, len(req.GetRecords()))
	for _, r := range req.GetRecords() {
		recs = append(recs, RecordFromProto(r))
	}
	acked, err := s.impl.Export(ctx, recs)
	if err != nil && len(acked) == 0 {
		return nil, err
	}
	if err != nil {
		Log.Warn("export partly failed", "acked", len(acked), "of", len(recs), "err", err)
	}
	return &pluginv1.ExportResponse{AckedIds: acked}, nil
}

// WireServers builds the gRPC services for p (its kind found from the
// interfaces it implements). It is what Serve* run; sdktest uses it to serve
// a plugin in-process. Plugins call Serve* instead.
func WireServers(p Plugin) (kind string, srv *wire.Servers, err error) {
	switch impl := p.(type) {
	case Router:
		kind, srv = KindRouter, &wire.Servers{Router: &routerServer{impl: impl}}
	case Connector:
		kind, srv = KindConnector, &wire.Servers{Connector: newConnectorServer(impl)}
	case Exporter:
		kind, srv = KindExporter, &wire.Servers{Exporter: &exporterServer{impl: impl}}
	default:
		return "", nil, fmt.Errorf("%T is not a Router, Connector or Exporter", p)
	}
	srv.Plugin = &pluginServer{kind: kind, impl: p}
	return kind, srv, nil
}
