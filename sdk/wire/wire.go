// Package wire is the transport of the voxgate plugin contract: the go-plugin
// handshake, the plugin set both ends register, and the frame channel that
// carries audio. Both the SDK (plugin side) and the daemon (host side) use it,
// so the two ends cannot drift apart. Partners do not need it: the sdk package
// hides it.
package wire

import (
	"context"
	"fmt"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// ProtocolVersion is the version of the plugin contract (the go-plugin
// handshake's protocol version and InfoResponse.protocol_version).
const ProtocolVersion = 1

// Handshake is shared by the daemon and every plugin. The cookie only keeps a
// plugin binary from being run by hand by mistake; it is not a secret.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "VOXGATE_PLUGIN",
	MagicCookieValue: "a8b7d1c4-voxgate-plugin-v1",
}

// Names under which the plugin kinds are dispensed.
const (
	Router    = "router"
	Connector = "connector"
	Exporter  = "exporter"
)

// Servers is what a plugin process serves: the Plugin service plus the
// service of its kind.
type Servers struct {
	Plugin    pluginv1.PluginServer
	Router    pluginv1.RouterServer
	Connector pluginv1.ConnectorServer
	Exporter  pluginv1.ExporterServer
}

// Clients is what the daemon dispenses from a plugin process.
type Clients struct {
	Plugin    pluginv1.PluginClient
	Router    pluginv1.RouterClient
	Connector pluginv1.ConnectorClient
	Exporter  pluginv1.ExporterClient
}

// GRPCPlugin adapts Servers/Clients to go-plugin. On the plugin side Impl is
// set; on the daemon side it is nil and GRPCClient builds the clients.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	Kind string
	Impl *Servers
}

// GRPCServer registers the plugin's services.
func (p *GRPCPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.Impl == nil || p.Impl.Plugin == nil {
		return fmt.Errorf("plugin %s: no implementation to serve", p.Kind)
	}
	pluginv1.RegisterPluginServer(s, p.Impl.Plugin)
	switch {
	case p.Impl.Router != nil:
		pluginv1.RegisterRouterServer(s, p.Impl.Router)
	case p.Impl.Connector != nil:
		pluginv1.RegisterConnectorServer(s, p.Impl.Connector)
	case p.Impl.Exporter != nil:
		pluginv1.RegisterExporterServer(s, p.Impl.Exporter)
	default:
		return fmt.Errorf("plugin %s: no service of its kind", p.Kind)
	}
	return nil
}

// GRPCClient returns *Clients for the connection.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &Clients{
		Plugin:    pluginv1.NewPluginClient(c),
		Router:    pluginv1.NewRouterClient(c),
		Connector: pluginv1.NewConnectorClient(c),
		Exporter:  pluginv1.NewExporterClient(c),
	}, nil
}

// PluginSet is the go-plugin set for one kind. A plugin process serves
// exactly one kind; the daemon asks for the kind its config names.
func PluginSet(kind string, impl *Servers) goplugin.PluginSet {
	return goplugin.PluginSet{kind: &GRPCPlugin{Kind: kind, Impl: impl}}
}
