// Command v2plugin is a router plugin that claims plugin protocol version 2,
// for the test that the host refuses a plugin of another version.
package main

import (
	"context"

	"github.com/voxgate/voxgate/sdk"
	"github.com/voxgate/voxgate/sdk/wire"
)

type router struct{}

func (router) Info() sdk.Info                              { return sdk.Info{Name: "v2plugin", Version: "0"} }
func (router) Configure(context.Context, sdk.Config) error { return nil }
func (router) Route(context.Context, *sdk.Call) (*sdk.Decision, error) {
	return sdk.Reject(503, "test plugin"), nil
}

func main() {
	wire.Handshake.ProtocolVersion = 2
	sdk.ServeRouter(router{})
}
