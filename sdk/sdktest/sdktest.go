// Package sdktest runs a voxgate plugin without SIP: in-process over a real
// gRPC connection, or as the built binary over a real go-plugin connection,
// exactly as the daemon launches it. Use it in a plugin's tests.
package sdktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/voxgate/voxgate/sdk"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
	"github.com/voxgate/voxgate/sdk/wire"
)

// Conn is a connection to a plugin under test.
type Conn struct {
	t       testing.TB
	kind    string
	clients *wire.Clients
	dir     string // holds the frame channel's socket

	mu   sync.Mutex
	host *wire.ConnectorHost // the frame channel, opened by the first StartCall
}

// socketDir makes a short private directory for the frame channel's socket:
// a unix socket path must fit in 108 bytes, which t.TempDir (named after the
// test) does not promise.
func socketDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "vxsdk")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// InProcess serves p in this process over a real gRPC connection.
func InProcess(t testing.TB, p sdk.Plugin) *Conn {
	t.Helper()
	kind, srv, err := sdk.WireServers(p)
	if err != nil {
		t.Fatal(err)
	}
	client, _ := goplugin.TestPluginGRPCConn(t, false, wire.PluginSet(kind, srv))
	t.Cleanup(func() { client.Close() })
	raw, err := client.Dispense(kind)
	if err != nil {
		t.Fatalf("dispense %s: %v", kind, err)
	}
	return &Conn{t: t, kind: kind, clients: raw.(*wire.Clients), dir: socketDir(t)}
}

// Binary launches the plugin binary at path as the daemon does (go-plugin
// handshake, gRPC) and expects it to be of the given kind.
func Binary(t testing.TB, path, kind string) *Conn {
	t.Helper()
	c, err := Launch(path, kind, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return &Conn{t: t, kind: kind, clients: c.Clients, dir: socketDir(t)}
}

// Launched is a plugin process started by Launch.
type Launched struct {
	Clients *wire.Clients
	client  *goplugin.Client
}

// Kill stops the plugin process.
func (l *Launched) Kill() { l.client.Kill() }

// Launch starts a plugin binary over go-plugin; stderr receives its log.
func Launch(path, kind string, stderr io.Writer) (*Launched, error) {
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		Plugins:          wire.PluginSet(kind, nil),
		Cmd:              exec.Command(path),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: stderr}),
		Stderr:           stderr,
		SkipHostEnv:      true,
		StartTimeout:     10 * time.Second,
	})
	proto, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("launch %s: %w", path, err)
	}
	raw, err := proto.Dispense(kind)
	if err != nil {
		client.Kill()
		return nil, fmt.Errorf("launch %s: dispense %s: %w", path, kind, err)
	}
	return &Launched{Clients: raw.(*wire.Clients), client: client}, nil
}

func (c *Conn) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// Info asks the plugin for its info.
func (c *Conn) Info() *pluginv1.InfoResponse {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	info, err := c.clients.Plugin.Info(ctx, &pluginv1.InfoRequest{})
	if err != nil {
		c.t.Fatalf("info: %v", err)
	}
	return info
}

// Configure hands the plugin its config table (any JSON-marshalable value).
func (c *Conn) Configure(cfg any) error {
	c.t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		c.t.Fatalf("configure: marshal: %v", err)
	}
	ctx, cancel := c.ctx()
	defer cancel()
	_, err = c.clients.Plugin.Configure(ctx, &pluginv1.ConfigureRequest{ConfigJson: b})
	return err
}

// Route asks a router plugin for a decision.
func (c *Conn) Route(call *sdk.Call) (*sdk.Decision, error) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	d, err := c.clients.Router.Route(ctx, &pluginv1.RouteRequest{Call: sdk.CallToProto(call)})
	if err != nil {
		return nil, err
	}
	return sdk.DecisionFromProto(d), nil
}

// Export hands records to an exporter plugin and returns the acked ids.
func (c *Conn) Export(recs ...*sdk.CallRecord) ([]string, error) {
	c.t.Helper()
	ctx, cancel := c.ctx()
	defer cancel()
	req := &pluginv1.ExportRequest{}
	for _, r := range recs {
		req.Records = append(req.Records, sdk.RecordToProto(r))
	}
	resp, err := c.clients.Exporter.Export(ctx, req)
	if err != nil {
		return nil, err
	}
	return resp.GetAckedIds(), nil
}
