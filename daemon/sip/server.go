// Package sip is the daemon's SIP side, on sipgo: listeners, the inbound
// INVITE path (route, answer, bridge), dialogs, 2xx retransmission until ACK,
// BYE either way, CANCEL, OPTIONS, and the answers for what we do not do.
package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emiago/sipgo"
	sipmsg "github.com/emiago/sipgo/sip"

	"github.com/voxgate/voxgate/daemon/call"
	"github.com/voxgate/voxgate/daemon/cdr"
	"github.com/voxgate/voxgate/daemon/codec"
	"github.com/voxgate/voxgate/daemon/config"
	"github.com/voxgate/voxgate/daemon/media"
	"github.com/voxgate/voxgate/daemon/pluginhost"
	pluginv1 "github.com/voxgate/voxgate/sdk/proto/voxgate/plugin/v1"
)

// Allow lists the methods we answer; anything else gets 405 with this list.
const allowMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS"

// RFC 3261 timers for our own 2xx retransmission (13.3.1.4).
const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
)

// Server answers SIP.
type Server struct {
	cfg      *config.Config
	log      *slog.Logger
	plugins  *pluginhost.Host
	cdr      *cdr.Dispatcher
	journal  *cdr.Journal
	ports    *media.PortPool
	calls    *call.Registry
	allowed  []netip.Prefix
	codecs   []codec.Codec
	rtpIP    netip.Addr
	sdpIP    netip.Addr
	hostname string

	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client

	mu      sync.Mutex
	dialogs map[string]*dialog

	draining atomic.Bool
	wg       sync.WaitGroup
	base     context.Context
	contacts map[string]string // transport -> host:port
}

// dialog is an answered (or being answered) inbound call.
type dialog struct {
	key       string
	call      *call.Call
	invite    *sipmsg.Request
	ok        *sipmsg.Response
	acked     chan struct{}
	ackOnce   sync.Once
	localTag  string
	transport string
	source    string
	answered  atomic.Bool
	byeSent   atomic.Bool
	// inviteTx is kept to end it once the ACK is in: sipgo would otherwise
	// keep every answered INVITE's transaction (request, response, timers)
	// for Timer L, 32 s, which is most of the daemon's memory at high call
	// rates. After the ACK no INVITE retransmission can come (they stop at
	// the first response), so nothing is lost.
	inviteTx sipmsg.ServerTransaction
}

func (d *dialog) ack() {
	d.ackOnce.Do(func() {
		close(d.acked)
		if d.inviteTx != nil {
			d.inviteTx.Terminate()
		}
	})
}

// New prepares the server; Listen starts it.
func New(cfg *config.Config, log *slog.Logger, plugins *pluginhost.Host, disp *cdr.Dispatcher, journal *cdr.Journal) (*Server, error) {
	s := &Server{cfg: cfg, log: log, plugins: plugins, cdr: disp, journal: journal, calls: call.NewRegistry(),
		dialogs: make(map[string]*dialog), contacts: make(map[string]string)}
	for _, a := range cfg.Server.AllowedSources {
		p, err := parsePrefix(a)
		if err != nil {
			return nil, err
		}
		s.allowed = append(s.allowed, p)
	}
	for _, name := range cfg.Media.Codecs {
		c, ok := codec.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("codec %q is not supported", name)
		}
		s.codecs = append(s.codecs, c)
	}
	var err error
	if s.rtpIP, err = netip.ParseAddr(cfg.Media.RTPIP); err != nil {
		return nil, fmt.Errorf("media.rtp_ip: %w", err)
	}
	s.sdpIP = s.rtpIP
	if cfg.Server.PublicIP != "" {
		if s.sdpIP, err = netip.ParseAddr(cfg.Server.PublicIP); err != nil {
			return nil, fmt.Errorf("server.public_ip: %w", err)
		}
	}
	s.hostname, _ = os.Hostname()
	s.ports = media.NewPortPool(cfg.Media.RTPPortMin, cfg.Media.RTPPortMax)

	sipmsg.SetDefaultLogger(log.With("component", "sipgo"))
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.Server.UserAgent))
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	s.ua = ua
	if s.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(log.With("component", "sipgo"))); err != nil {
		return nil, fmt.Errorf("sip server: %w", err)
	}
	if s.client, err = sipgo.NewClient(ua, sipgo.WithClientLogger(log.With("component", "sipgo"))); err != nil {
		return nil, fmt.Errorf("sip client: %w", err)
	}
	s.srv.OnInvite(s.onInvite)
	s.srv.OnAck(s.onAck)
	s.srv.OnBye(s.onBye)
	s.srv.OnCancel(s.onCancel)
	s.srv.OnOptions(s.onOptions)
	s.srv.OnNoRoute(s.onNoRoute)
	return s, nil
}

func parsePrefix(a string) (netip.Prefix, error) {
	if strings.Contains(a, "/") {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return p, fmt.Errorf("allowed source %q: %w", a, err)
		}
		return p.Masked(), nil
	}
	ip, err := netip.ParseAddr(a)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("allowed source %q: %w", a, err)
	}
	return netip.PrefixFrom(ip, ip.BitLen()), nil
}

// Listen opens every configured listener and serves until ctx ends. It
// returns once all listeners are bound (errors then are fatal config errors).
func (s *Server) Listen(ctx context.Context) error {
	s.base = ctx
	for _, l := range s.cfg.Server.Listen {
		switch l.Transport {
		case "udp":
			conn, err := listenUDP(l.Addr, s.cfg.Server.UDPReadBuffer)
			if err != nil {
				return err
			}
			s.contacts["udp"] = conn.LocalAddr().String()
			s.log.Info("SIP listening", "transport", "udp", "addr", conn.LocalAddr().String())
			go func() {
				if err := s.srv.ServeUDP(conn); err != nil && ctx.Err() == nil {
					s.log.Error("SIP UDP listener stopped", "err", err)
				}
			}()
			context.AfterFunc(ctx, func() { conn.Close() })
		case "tcp":
			ln, err := net.Listen("tcp", l.Addr)
			if err != nil {
				return fmt.Errorf("listen tcp %s: %w", l.Addr, err)
			}
			s.contacts["tcp"] = ln.Addr().String()
			s.log.Info("SIP listening", "transport", "tcp", "addr", ln.Addr().String())
			go func() {
				// ServeTCP returns only when the listener is closed.
				err := s.srv.ServeTCP(ln)
				if ctx.Err() == nil {
					s.log.Error("SIP TCP listener stopped", "err", err)
				}
			}()
			context.AfterFunc(ctx, func() { ln.Close() })
		default:
			return fmt.Errorf("transport %q is not supported", l.Transport)
		}
	}
	return nil
}

// listenUDP opens the SIP UDP socket with a large receive buffer: the
// kernel default (~208 KB) drops bursts at a few thousand calls/s.
func listenUDP(addr string, rcvbuf int) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		c.Control(func(fd uintptr) {
			// FORCE works as root or with CAP_NET_ADMIN; otherwise fall back
			// to what net.core.rmem_max allows.
			if err := syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, rcvbuf); err != nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			}
		})
		return serr
	}}
	pc, err := lc.ListenPacket(context.Background(), "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen udp %s: %w", addr, err)
	}
	return pc, nil
}

// Calls is the number of live calls.
func (s *Server) Calls() int { return s.calls.Len() }

// Drain stops taking new calls and waits for the live ones to end, up to
// timeout; then it hangs up what is left and waits for the teardown.
func (s *Server) Drain(timeout time.Duration) {
	s.draining.Store(true)
	deadline := time.Now().Add(timeout)
	for s.calls.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	s.mu.Lock()
	dialogs := make([]*dialog, 0, len(s.dialogs))
	for _, d := range s.dialogs {
		dialogs = append(dialogs, d)
	}
	s.mu.Unlock()
	for _, d := range dialogs {
		s.hangup(d, call.Answered, 200, call.SideSystem, "daemon shutting down")
	}
	// Calls still being set up have no dialog yet; End is a no-op (and
	// finish with it) for those the loop above ended.
	for _, c := range s.calls.All() {
		s.finish(c, c.End(call.Failed, 503, call.SideSystem, "daemon shutting down"))
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.log.Warn("calls still tearing down at shutdown")
	}
}

// Close stops sipgo.
func (s *Server) Close() {
	s.srv.Close()
	s.client.Close()
	s.ua.Close()
}

func (s *Server) respond(tx sipmsg.ServerTransaction, req *sipmsg.Request, code int, reason string, hdrs ...sipmsg.Header) error {
	res := sipmsg.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	return tx.Respond(res)
}

func dialogKey(callID, localTag string) string { return callID + "|" + localTag }

func (s *Server) findDialog(req *sipmsg.Request) *dialog {
	cid := req.CallID()
	to := req.To()
	if cid == nil || to == nil {
		return nil
	}
	tag, _ := to.Params.Get("tag")
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dialogs[dialogKey(cid.Value(), tag)]
}

func (s *Server) onOptions(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.respond(tx, req, 200, "OK",
		sipmsg.NewHeader("Allow", allowMethods),
		sipmsg.NewHeader("Accept", "application/sdp"))
}

func (s *Server) onNoRoute(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	s.log.Debug("method not supported", "method", string(req.Method), "source", req.Source())
	s.respond(tx, req, 405, "Method Not Allowed", sipmsg.NewHeader("Allow", allowMethods))
}

func (s *Server) onCancel(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	// sipgo answers a CANCEL that matches a pending INVITE itself (200 to the
	// CANCEL, 487 to the INVITE, OnCancel hook); one that reaches us matches
	// nothing.
	s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
}

func (s *Server) onAck(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	if d := s.findDialog(req); d != nil {
		d.ack()
	}
}

func (s *Server) onBye(req *sipmsg.Request, tx sipmsg.ServerTransaction) {
	d := s.findDialog(req)
	if d == nil {
		s.respond(tx, req, 481, "Call/Transaction Does Not Exist")
		return
	}
	// sipgo runs each message on its own goroutine, so this BYE may have
	// overtaken the ACK of our 200: a BYE in the dialog proves the caller
	// got the 200, so it counts as the ACK and the call as answered.
	d.ack()
	s.respond(tx, req, 200, "OK")
	// Not kept for Timer J (32 s) either: if our 200 is lost, the caller's
	// retransmitted BYE gets 481, which ends the dialog for it just the same.
	tx.Terminate()
	s.hangup(d, call.Answered, 200, call.SideCaller, "caller hung up")
}

// hangup ends an answered call once: BYE to the caller unless the caller
// ended it, teardown, CDR.
func (s *Server) hangup(d *dialog, disposition string, status int, side, cause string) {
	rec := d.call.End(disposition, status, side, cause)
	if rec == nil {
		return
	}
	s.mu.Lock()
	delete(s.dialogs, d.key)
	s.mu.Unlock()
	s.calls.Remove(d.call.ID)
	if side != call.SideCaller && d.answered.Load() {
		s.sendBye(d)
	}
	s.finish(d.call, rec)
}

// finish stores a finished call's record in the durable spool (fsynced)
// and then clears the call from the live-call journal. It runs before the
// call's teardown is complete.
func (s *Server) finish(c *call.Call, rec *pluginv1.CallRecord) {
	if rec == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.cdr.Store(ctx, rec); err != nil {
		// Left in the journal, so the next start records it as interrupted.
		c.Log.Error("cannot store the call's CDR in the spool", "err", err)
		return
	}
	s.journal.End(c.ID)
}

// sendBye ends the dialog from our side. It goes to where the INVITE came
// from (symmetric signalling: right behind NAT and on the same TCP
// connection), addressed to the caller's Contact.
func (s *Server) sendBye(d *dialog) {
	if d.byeSent.Swap(true) {
		return
	}
	inv := d.invite
	target := inv.Recipient
	if c := inv.Contact(); c != nil {
		target = c.Address
	}
	bye := sipmsg.NewRequest(sipmsg.BYE, target)
	if to := d.ok.To(); to != nil {
		from := to.AsFrom()
		bye.AppendHeader(&from)
	}
	if f := inv.From(); f != nil {
		to := f.AsTo()
		bye.AppendHeader(&to)
	}
	if cid := inv.CallID(); cid != nil {
		bye.AppendHeader(sipmsg.HeaderClone(cid))
	}
	bye.AppendHeader(&sipmsg.CSeqHeader{SeqNo: 1, MethodName: sipmsg.BYE})
	mf := sipmsg.MaxForwardsHeader(70)
	bye.AppendHeader(&mf)
	for _, rr := range inv.GetHeaders("Record-Route") {
		bye.AppendHeader(sipmsg.NewHeader("Route", rr.Value()))
	}
	bye.SetTransport(d.transport)
	bye.SetDestination(d.source)

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
		defer cancel()
		tx, err := s.client.TransactionRequest(ctx, bye)
		if err != nil {
			d.call.Log.Warn("cannot send BYE", "err", err)
			return
		}
		defer tx.Terminate()
		for {
			select {
			case res := <-tx.Responses():
				if res.IsProvisional() {
					continue
				}
				d.call.Log.Debug("BYE answered", "status", res.StatusCode)
				return
			case <-tx.Done():
				if err := tx.Err(); err != nil {
					d.call.Log.Warn("BYE got no answer", "err", err)
				}
				return
			case <-ctx.Done():
				d.call.Log.Warn("BYE got no answer in time")
				return
			}
		}
	}()
}

func (s *Server) allowedSource(src string) bool {
	ap, err := netip.ParseAddrPort(src)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range s.allowed {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func party(uri sipmsg.Uri, display string) *pluginv1.Party {
	return &pluginv1.Party{User: uri.User, Display: display, Uri: uri.String()}
}

// contactHeader is our Contact for the transport the call came in on.
func (s *Server) contactHeader(transport string) sipmsg.Header {
	hp := s.contacts[strings.ToLower(transport)]
	host, port, _ := net.SplitHostPort(hp)
	if s.cfg.Server.PublicIP != "" {
		host = s.cfg.Server.PublicIP
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	uri := "sip:voxgate@" + host + ":" + port
	if t := strings.ToLower(transport); t != "udp" && t != "" {
		uri += ";transport=" + t
	}
	return sipmsg.NewHeader("Contact", "<"+uri+">")
}
