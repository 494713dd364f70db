// Command router-static is a voxgate router plugin that decides with an
// ordered list of rules from its config: the first rule that matches the call
// wins, then a default. See README.md.
package main

import (
	"context"
	"errors"
	"sync/atomic"

	"github.com/voxgate/voxgate/sdk"
)

// version is overridden at build time with -ldflags "-X main.version=...".
var version = "1.0.0"

type router struct {
	// table is swapped whole by Configure; Route reads it without locking.
	table atomic.Pointer[table]
}

func (r *router) Info() sdk.Info { return sdk.Info{Name: "router-static", Version: version} }

// Configure checks and compiles the rules. On an error the rules in use, if
// any, stay in use.
func (r *router) Configure(_ context.Context, cfg sdk.Config) error {
	var c config
	if err := cfg.Decode(&c); err != nil {
		return err
	}
	t, err := compile(c)
	if err != nil {
		return err
	}
	r.table.Store(t)
	sdk.Log.Info("router-static configured", "rules", len(t.rules), "default", t.def != nil)
	return nil
}

// Route answers the first rule that matches, else the default, else 404.
func (r *router) Route(_ context.Context, c *sdk.Call) (*sdk.Decision, error) {
	t := r.table.Load()
	if t == nil {
		return nil, errors.New("router-static is not configured")
	}
	for i := range t.rules {
		if t.rules[i].matches(c) {
			return t.rules[i].decide(c), nil
		}
	}
	if t.def != nil {
		d := *t.def
		return &d, nil
	}
	return &sdk.Decision{Action: sdk.ActionReject, SIPCode: 404, Reason: "no route", Rule: labelNoRoute}, nil
}

func main() { sdk.ServeRouter(&router{}) }
