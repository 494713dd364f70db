// Command slowrouter is a test router that answers after the delay given in
// its config, to test the daemon's routing deadline.
package main

import (
	"context"
	"time"

	"github.com/voxgate/voxgate/sdk"
)

type router struct{ delay time.Duration }

func (r *router) Info() sdk.Info { return sdk.Info{Name: "slowrouter", Version: "test"} }

func (r *router) Configure(_ context.Context, cfg sdk.Config) error {
	var c struct {
		DelayMS int `json:"delay_ms"`
	}
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	r.delay = time.Duration(c.DelayMS) * time.Millisecond
	return nil
}

func (r *router) Route(ctx context.Context, _ *sdk.Call) (*sdk.Decision, error) {
	select {
	case <-time.After(r.delay):
		return sdk.Agent("connector-echo", nil), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func main() { sdk.ServeRouter(&router{}) }
