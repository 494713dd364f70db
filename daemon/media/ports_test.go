package media

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
)

var loopback = netip.MustParseAddr("127.0.0.1")

func TestPortPoolEvenAndRelease(t *testing.T) {
	p := NewPortPool(41001, 41020) // RTP ports 41002..41018
	seen := map[int]bool{}
	var conns []*net.UDPConn
	for {
		c, port, err := p.Listen(loopback)
		if err != nil {
			if !errors.Is(err, ErrNoPorts) {
				t.Fatalf("unexpected error: %v", err)
			}
			break
		}
		conns = append(conns, c)
		if port%2 != 0 || port < 41002 || port > 41018 {
			t.Errorf("port %d outside the even range", port)
		}
		if seen[port] {
			t.Errorf("port %d handed out twice", port)
		}
		seen[port] = true
		if got := c.LocalAddr().(*net.UDPAddr).Port; got != port {
			t.Errorf("bound %d, reported %d", got, port)
		}
	}
	// Ports other processes hold are skipped, so do not insist on all 9.
	if len(seen) < 5 {
		t.Fatalf("only %d ports from a range of 9", len(seen))
	}
	if p.InUse() != len(seen) {
		t.Errorf("InUse %d, want %d", p.InUse(), len(seen))
	}
	// Releasing one port makes exactly that one available again.
	var freed int
	for port := range seen {
		freed = port
		break
	}
	for i, c := range conns {
		if c.LocalAddr().(*net.UDPAddr).Port == freed {
			c.Close()
			conns[i] = nil
		}
	}
	p.Release(freed)
	c, port, err := p.Listen(loopback)
	if err != nil || port != freed {
		t.Fatalf("after release got %d, %v; want %d", port, err, freed)
	}
	conns = append(conns, c)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

func TestPortPoolSkipsPortsTheOSRefuses(t *testing.T) {
	// Occupy the first RTP port of a two-port range outside the pool.
	p := NewPortPool(41100, 41103) // RTP ports 41100, 41102
	blocker, err := net.ListenUDP("udp4", &net.UDPAddr{IP: loopback.AsSlice(), Port: 41100})
	if err != nil {
		t.Fatalf("cannot occupy port 41100 for the test (something else holds it?): %v", err)
	}
	defer blocker.Close()
	for range 5 {
		c, port, err := p.Listen(loopback)
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		if port != 41102 {
			t.Fatalf("got port %d, want 41102", port)
		}
		c.Close()
		p.Release(port)
	}
	if p.InUse() != 0 {
		t.Fatalf("refused port left reserved: %d in use", p.InUse())
	}
}

func TestPortPoolEmptyRange(t *testing.T) {
	for _, r := range [][2]int{{5000, 5000}, {5001, 5002}, {6000, 5000}, {65535, 70000}} {
		if _, _, err := NewPortPool(r[0], r[1]).Listen(loopback); !errors.Is(err, ErrNoPorts) {
			t.Errorf("range %v: %v", r, err)
		}
	}
}

func TestPortPoolConcurrent(t *testing.T) {
	p := NewPortPool(42000, 42400)
	var mu sync.Mutex
	held := map[int]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				c, port, err := p.Listen(loopback)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if held[port] {
					t.Errorf("port %d held twice", port)
				}
				held[port] = true
				mu.Unlock()
				mu.Lock()
				delete(held, port)
				mu.Unlock()
				c.Close()
				p.Release(port)
			}
		})
	}
	wg.Wait()
	if p.InUse() != 0 {
		t.Fatalf("%d ports leaked", p.InUse())
	}
}
