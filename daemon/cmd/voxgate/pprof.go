package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

// startProfiler serves Go's pprof on the loopback address in VOXGATE_PPROF
// (e.g. 127.0.0.1:6060), for developers measuring the daemon under load
// (bench/README.md). Off unless set; refuses non-loopback addresses.
func startProfiler(log *slog.Logger) {
	addr := os.Getenv("VOXGATE_PPROF")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Error("VOXGATE_PPROF must be a loopback host:port; profiler not started", "value", addr)
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("profiler not started", "err", err)
		return
	}
	log.Warn("pprof profiler listening (VOXGATE_PPROF)", "addr", ln.Addr().String())
	go http.Serve(ln, mux)
}
