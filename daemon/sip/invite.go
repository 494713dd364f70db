package sip

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/voxgate/voxgate/daemon/call"
	"github.com/voxgate/voxgate/daemon/cdr"
	"github.com/voxgate/voxgate/daemon/media"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// headersForPlugins are passed to the router besides every X- header.
var headersForPlugins = []string{"User-Agent", "Subject", "P-Asserted-Identity", "Remote-Party-ID", "Diversion"}

func (s *Server) onInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onReInvite(req, tx)
		return
	}
	src := req.Source()
	if s.draining.Load() {
		s.respond(tx, req, 503, "Service Unavailable", sipmsg.NewHeader("Retry-After", "30"))
		return
	}
	if s.cdr.Full() {
		s.log.Warn("INVITE refused: the CDR spool is full (exporters behind); see cdr.on_full", "source", src)
		s.respond(tx, req, 503, "Service Unavailable", sipmsg.NewHeader("Retry-After", "60"))
		return
	}
	if !s.allowedSource(src) {
		s.log.Warn("INVITE refused: source not in allowed_sources", "source", src, "sip_call_id", req.CallID().Value())
		s.respond(tx, req, 403, "Forbidden")
		return
	}
	s.respond(tx, req, 100, "Trying")

	id := call.NewID()
	info := s.callInfo(id, req)
	log := s.log.With("call_id", id, "sip_call_id", info.GetSipCallId())
	c := call.New(s.base, id, info, log)
	c.SetHostname(s.hostname)
	c.SetCallerID(callerID(req))
	s.calls.Add(id, c)
	journaled := s.journal.Begin(c.Snapshot())
	log.Info("incoming call", "from", info.GetFrom().GetUri(), "to", info.GetTo().GetUri(), "source", src,
		"transport", info.GetTransport())

	// CANCEL before answer: sipgo sends 200 to the CANCEL and 487 to the
	// INVITE; we stop setting the call up.
	setup, cancelSetup := context.WithCancel(c.Context())
	defer cancelSetup()
	var cancelled bool
	tx.OnCancel(func(*sipmsg.Request) {
		cancelled = true
		cancelSetup()
	})

	fail := func(code int, reason, disposition, cause string) {
		if setup.Err() != nil && cancelled {
			code, disposition, cause = 487, call.Cancelled, "caller cancelled"
		} else {
			s.respond(tx, req, code, reason)
		}
		rec := c.End(disposition, code, call.SideSystem, cause)
		if disposition == call.Cancelled {
			rec.HangupSide = call.SideCaller
		}
		s.calls.Remove(id)
		s.finish(c, rec)
	}

	offer, err := media.ParseSDP(req.Body())
	if err != nil || len(req.Body()) == 0 {
		log.Warn("INVITE without a usable SDP offer", "err", err)
		c.SetRoute("none", "", "", nil)
		fail(488, "Not Acceptable Here", call.Failed, "no usable SDP offer")
		return
	}

	dec, rule := s.route(setup, c)
	c.SetRoute(dec.action, rule, dec.connector, dec.variables)
	switch dec.action {
	case "reject":
		log.Info("call rejected by route", "code", dec.code, "reason", dec.reason, "rule", rule)
		fail(dec.code, dec.reason, call.Rejected, "route rejected: "+dec.reason)
		return
	case "agent", "collect":
	default:
		// forward is part of the plugin contract; the daemon carries it out
		// once trunks (a second SIP leg) exist.
		log.Error("route decision not supported by this version", "action", dec.action, "rule", rule)
		fail(501, "Not Implemented", call.Failed, "route action "+dec.action+" not supported yet")
		return
	}

	if dec.action == "agent" {
		if p := s.plugins.Plugin(dec.connector); p == nil || p.Kind != "connector" {
			log.Error("route names a connector that is not configured", "connector", dec.connector)
			fail(503, "Service Unavailable", call.Failed, "unknown connector "+dec.connector)
			return
		}
	}

	conn, port, err := s.ports.Listen(s.rtpIP)
	if err != nil {
		log.Error("no RTP port", "err", err)
		fail(503, "Service Unavailable", call.Failed, "no RTP port free")
		return
	}
	var releaseOnce sync.Once
	releasePort := func() { releaseOnce.Do(func() { s.ports.Release(port) }) }
	answer, neg, err := media.Answer(offer, s.codecs, s.sdpIP, port, uint64(time.Now().UnixNano()))
	if err != nil {
		conn.Close()
		releasePort()
		log.Warn("SDP offer not acceptable", "err", err)
		fail(488, "Not Acceptable Here", call.Failed, "SDP: "+err.Error())
		return
	}
	c.SetCodec(neg.Codec.Name)

	d := &dialog{call: c, invite: req, acked: make(chan struct{}), localTag: sipmsg.GenerateTagN(16),
		transport: strings.ToLower(req.Transport()), source: src, inviteTx: tx}
	d.key = dialogKey(info.GetSipCallId(), d.localTag)

	bridge := call.NewBridge(c, func(disposition string, status int, side, cause string) {
		s.hangup(d, disposition, status, side, cause)
	})
	rtp := media.NewSession(media.Config{Local: conn, LocalPort: port, Neg: neg,
		MediaTimeout: s.cfg.Media.MediaTimeout.Duration, Logger: log}, bridge.CallerHandler())
	bridge.SetRTP(rtp)
	c.SetStats(func() call.LegStats {
		st := rtp.Stats()
		return call.LegStats{In: int64(st.PacketsIn), Out: int64(st.PacketsOut), Lost: int64(st.PacketsLost)}
	})

	c.OnEnd(func(side, cause string) {
		rtp.Close()
		releasePort()
	})

	if dec.action == "agent" {
		// 180 tells the caller to hear ringback while the connector gets
		// ready (e.g. connects to its cloud agent); same To tag as the 200.
		ringing := sipmsg.NewResponseFromRequest(req, 180, "Ringing", nil)
		ringing.To().Params.Add("tag", d.localTag)
		ringing.AppendHeader(s.contactHeader(d.transport))
		if err := tx.Respond(ringing); err == nil {
			c.Ringing()
		}
		ring, cancelRing := context.WithTimeout(setup, s.cfg.Media.RingTimeout.Duration)
		err := s.startAgent(ring, c, bridge, dec)
		cancelRing()
		if err != nil {
			log.Error("connector could not start the session", "connector", dec.connector, "err", err)
			fail(503, "Service Unavailable", call.Failed, "connector: "+err.Error())
			return
		}
	}

	res := sipmsg.NewResponseFromRequest(req, 200, "OK", answer)
	res.To().Params.Add("tag", d.localTag)
	res.AppendHeader(s.contactHeader(d.transport))
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sipmsg.NewHeader("Allow", allowMethods))
	d.ok = res

	s.mu.Lock()
	s.dialogs[d.key] = d
	s.mu.Unlock()

	// An answered call must be in the live-call journal, so that a crash
	// during it still leaves a CDR (disposition interrupted).
	if err := cdr.Wait(setup, journaled); err != nil && setup.Err() == nil {
		log.Error("cannot journal the call; answering anyway, but a crash during it would lose its CDR", "err", err)
	}

	if err := tx.Respond(res); err != nil || setup.Err() != nil {
		// CANCEL won the race against our 200. Not answered: no BYE.
		log.Info("call cancelled while answering", "err", err)
		s.hangup(d, call.Cancelled, 487, call.SideCaller, "caller cancelled")
		return
	}
	d.answered.Store(true)
	c.Answered()
	s.journal.Answer(c.Snapshot())
	log.Info("call answered", "codec", neg.Codec.Name, "rtp_port", port, "remote_rtp", neg.Remote.String(),
		"connector", dec.connector)

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := rtp.Run(c.Context()); err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("RTP session ended with an error", "err", err)
		}
	}()
	if d.transport == "udp" {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.retransmit200(d)
		}()
	}
	if max := s.cfg.Media.MaxCallDuration.Duration; max > 0 {
		t := time.AfterFunc(max, func() {
			log.Warn("call reached max_call_duration; hanging up", "max", max)
			s.hangup(d, call.Answered, 200, call.SideSystem, "max call duration reached")
		})
		c.OnEnd(func(string, string) { t.Stop() })
	}
	if dec.action == "collect" {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.collect(d, bridge, dec)
		}()
	}
}

// startAgent opens the connector session of an agent decision and attaches
// it to the call's bridge.
func (s *Server) startAgent(ctx context.Context, c *call.Call, b *call.Bridge, dec decision) error {
	p := s.plugins.Plugin(dec.connector)
	if p == nil || p.Kind != "connector" {
		return fmt.Errorf("connector %q is not configured", dec.connector)
	}
	start := &pluginv1.Start{Call: c.Info, Params: dec.params,
		Format: &pluginv1.AudioFormat{Encoding: "L16", SampleRate: 8000, Channels: 1, FrameMs: 20}}
	agent, err := p.StartSession(ctx, start, b.AgentHandler())
	if err != nil {
		return err
	}
	b.SetAgent(agent)
	c.SetConnectorSession(strconv.FormatUint(agent.ID(), 10))
	c.OnEnd(func(side, cause string) { agent.Hangup(cause) })
	return nil
}

// maxCollectRounds bounds collect decisions per call, so that a router that
// keeps asking for digits cannot hold a call forever.
const maxCollectRounds = 5

// collect carries out a collect decision on an answered call: it gathers
// the caller's DTMF digits, asks the router again with them, and does what
// it says (an agent, another collect, or hanging up).
func (s *Server) collect(d *dialog, b *call.Bridge, dec decision) {
	c := d.call
	for round := 1; ; round++ {
		timeout := time.Duration(dec.timeoutMS) * time.Millisecond
		if timeout <= 0 {
			timeout = 5 * time.Second
		}
		digits := b.CollectDigits(c.Context(), int(dec.maxDigits), dec.terminator, timeout)
		if c.IsEnded() {
			return
		}
		c.Info.CollectedDigits = digits
		c.Log.Info("digits collected", "digits", digits, "round", round)
		next, rule := s.route(c.Context(), c)
		c.SetRoute(next.action, rule, next.connector, next.variables)
		c.SetRecordVariable("collected_digits", digits)
		switch next.action {
		case "agent":
			ctx, cancel := context.WithTimeout(c.Context(), s.cfg.Media.RingTimeout.Duration)
			err := s.startAgent(ctx, c, b, next)
			cancel()
			if err != nil {
				c.Log.Error("connector could not start the session", "connector", next.connector, "err", err)
				s.hangup(d, call.Failed, 200, call.SideSystem, "connector: "+err.Error())
			}
			return
		case "collect":
			if round >= maxCollectRounds {
				s.hangup(d, call.Failed, 200, call.SideSystem, "router asked for digits too many times")
				return
			}
			dec = next
		case "reject":
			// The call is answered: a SIP error cannot be sent any more, so
			// the caller gets a BYE and the CDR the router's code and reason.
			s.hangup(d, call.Rejected, next.code, call.SideSystem, "route rejected after collect: "+next.reason)
			return
		default:
			s.hangup(d, call.Failed, 501, call.SideSystem, "route action "+next.action+" not supported yet")
			return
		}
	}
}

// retransmit200 resends our 200 OK over UDP until the ACK comes: T1, then
// doubling up to T2; after 64*T1 without ACK the dialog is ended with BYE
// (RFC 3261 13.3.1.4). sipgo's dialog helper does this differently, so we
// own it.
func (s *Server) retransmit200(d *dialog) {
	interval := timerT1
	giveUp := time.NewTimer(64 * timerT1)
	defer giveUp.Stop()
	for {
		t := time.NewTimer(interval)
		select {
		case <-d.acked:
			t.Stop()
			return
		case <-d.call.Done():
			t.Stop()
			return
		case <-giveUp.C:
			t.Stop()
			d.call.Log.Warn("no ACK for our 200 OK within 64*T1; ending the call")
			s.hangup(d, call.Failed, 408, call.SideSystem, "no ACK for 200 OK")
			return
		case <-t.C:
		}
		if err := s.srv.WriteResponse(d.ok); err != nil {
			d.call.Log.Warn("cannot retransmit 200 OK", "err", err)
		}
		interval = min(interval*2, timerT2)
	}
}

// onReInvite answers a re-INVITE in a known dialog with our current SDP
// (a session refresh keeps the media as it is); hold and media changes come
// with the media engine work.
func (s *Server) onReInvite(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	d := s.findDialog(req)
	if d == nil {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	res := sipmsg.NewResponseFromRequest(req, 200, "OK", d.ok.Body())
	res.AppendHeader(s.contactHeader(d.transport))
	res.AppendHeader(sipmsg.NewHeader("Content-Type", "application/sdp"))
	tx.Respond(res)
}

// callInfo is what plugins see of a new inbound call.
func (s *Server) callInfo(id string, req *sipmsg.Request) *pluginv1.Call {
	info := &pluginv1.Call{Id: id, Direction: pluginv1.Direction_DIRECTION_INBOUND,
		RequestUri: req.Recipient.String(), SourceAddr: req.Source(), Transport: strings.ToLower(req.Transport()),
		Headers: map[string]string{}}
	if cid := req.CallID(); cid != nil {
		info.SipCallId = cid.Value()
	}
	if f := req.From(); f != nil {
		info.From = party(f.Address, f.DisplayName)
	}
	if t := req.To(); t != nil {
		info.To = party(t.Address, t.DisplayName)
	}
	for _, h := range req.Headers() {
		name := h.Name()
		if strings.HasPrefix(strings.ToLower(name), "x-") {
			info.Headers[name] = h.Value()
		}
	}
	for _, name := range headersForPlugins {
		if h := req.GetHeader(name); h != nil {
			info.Headers[name] = h.Value()
		}
	}
	return info
}

// callerID is the identity the caller presents: P-Asserted-Identity, then
// Remote-Party-ID, then From; the user part of its URI.
func callerID(req *sipmsg.Request) string {
	for _, name := range []string{"P-Asserted-Identity", "Remote-Party-ID"} {
		if h := req.GetHeader(name); h != nil {
			var uri sipmsg.Uri
			v := h.Value()
			if i := strings.IndexByte(v, '<'); i >= 0 {
				if j := strings.IndexByte(v[i:], '>'); j > 0 {
					v = v[i+1 : i+j]
				}
			}
			if err := sipmsg.ParseUri(strings.TrimSpace(v), &uri); err == nil && uri.User != "" {
				return uri.User
			}
		}
	}
	if f := req.From(); f != nil {
		return f.Address.User
	}
	return ""
}
