// Package sdk is what a partner imports to write a voxgate plugin in Go.
//
// A plugin is a program whose main calls exactly one of ServeRouter,
// ServeConnector or ServeExporter. The daemon launches it, checks the
// handshake, hands it its configuration and then calls it: a router once per
// call, a connector once per call routed to an agent, an exporter with batches
// of call records. How the bytes travel (go-plugin, gRPC, the frame channel
// that carries audio) is hidden here; sdk/docs describes it for plugins written
// in other languages.
//
// Test a plugin without SIP with the sdktest package.
package sdk
