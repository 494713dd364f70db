package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
)

// ErrNoPorts is returned by Listen when no RTP port could be bound.
var ErrNoPorts = errors.New("media: no free RTP port")

// maxBindAttempts bounds the bind(2) calls of one Listen.
const maxBindAttempts = 64

// PortPool hands out RTP ports from a range. Every port it hands out is
// even (RFC 3550 §11); the odd port above it is kept free for RTCP: the pool
// never hands it out, but does not bind it either. Safe for concurrent use.
type PortPool struct {
	first, last int // even RTP ports: first, first+2, ..., last

	mu    sync.Mutex
	inUse map[int]struct{}
}

// NewPortPool returns a pool of the RTP ports in [lo, hi]; an RTP port is
// only used when its RTCP port (+1) is in the range too. An empty or invalid
// range yields a pool whose Listen always fails with ErrNoPorts.
func NewPortPool(lo, hi int) *PortPool {
	first := max(lo, 1)
	if first%2 == 1 {
		first++
	}
	last := min(hi, 65535) - 1 // the RTCP port last+1 must be <= hi
	if last%2 == 1 {
		last--
	}
	return &PortPool{first: first, last: last, inUse: make(map[int]struct{})}
}

// size is the number of RTP ports in the range.
func (p *PortPool) size() int {
	if p.last < p.first {
		return 0
	}
	return (p.last-p.first)/2 + 1
}

// Listen binds a UDP socket on ip and an even port of the range not already
// in use, starting from a random port and skipping ports the OS refuses,
// with a bounded number of bind attempts. An invalid ip binds all
// interfaces. The port stays taken until Release(port); closing the
// connection is the caller's business.
func (p *PortPool) Listen(ip netip.Addr) (*net.UDPConn, int, error) {
	n := p.size()
	if n == 0 {
		return nil, 0, fmt.Errorf("%w: empty range", ErrNoPorts)
	}
	network := "udp"
	var laddr net.UDPAddr
	if ip.IsValid() {
		ip = ip.Unmap()
		laddr.IP = ip.AsSlice()
		laddr.Zone = ip.Zone()
		if ip.Is4() {
			network = "udp4"
		} else {
			network = "udp6"
		}
	}
	start := rand.IntN(n)
	attempts := 0
	var lastErr error
	for i := 0; i < n && attempts < maxBindAttempts; i++ {
		port := p.first + 2*((start+i)%n)
		if !p.reserve(port) {
			continue
		}
		attempts++
		laddr.Port = port
		conn, err := net.ListenUDP(network, &laddr)
		if err != nil {
			p.Release(port)
			lastErr = err
			continue
		}
		return conn, port, nil
	}
	if lastErr != nil {
		return nil, 0, fmt.Errorf("%w after %d attempts: %v", ErrNoPorts, attempts, lastErr)
	}
	return nil, 0, fmt.Errorf("%w: all %d ports in use", ErrNoPorts, n)
}

func (p *PortPool) reserve(port int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, taken := p.inUse[port]; taken {
		return false
	}
	p.inUse[port] = struct{}{}
	return true
}

// Release returns port to the pool. Releasing a port that is not taken is
// a no-op.
func (p *PortPool) Release(port int) {
	p.mu.Lock()
	delete(p.inUse, port)
	p.mu.Unlock()
}

// InUse returns how many ports are taken.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.inUse)
}
