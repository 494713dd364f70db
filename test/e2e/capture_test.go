//go:build e2e

package e2e

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rtpPacket is one RTP packet seen on the wire by tshark.
type rtpPacket struct {
	src, dst int
	pt       int
	seq      int
	payload  []byte
}

// capture watches UDP traffic to and from one port on lo with tshark, an
// independent observer of what the daemon really sends.
type capture struct {
	t     *testing.T
	port  int
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func startCapture(t *testing.T, port int) *capture {
	t.Helper()
	c := &capture{t: t, port: port, done: make(chan struct{})}
	c.cmd = exec.Command("tshark", "-l", "-n", "-q", "-i", "lo", "-f", fmt.Sprintf("udp port %d", port),
		"-d", fmt.Sprintf("udp.port==%d,rtp", port), "-a", "duration:90",
		"-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "rtp.p_type", "-e", "rtp.seq", "-e", "rtp.payload")
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tshark: %v", err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })

	// tshark takes a while before it really captures: probe until it sees us.
	probe, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	me := strconv.Itoa(probe.LocalAddr().(*net.UDPAddr).Port)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		probe.Write([]byte("capture probe"))
		time.Sleep(100 * time.Millisecond)
		c.mu.Lock()
		for _, l := range c.lines {
			if strings.HasPrefix(l, me+"\t") {
				c.mu.Unlock()
				return c
			}
		}
		c.mu.Unlock()
	}
	t.Fatalf("tshark did not start capturing on lo within 30 s")
	return nil
}

// stop ends the capture and returns the RTP packets it saw.
func (c *capture) stop() []rtpPacket {
	c.t.Helper()
	time.Sleep(500 * time.Millisecond)
	c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var pkts []rtpPacket
	for _, line := range c.lines {
		f := strings.Split(line, "\t")
		if len(f) < 5 || f[2] == "" {
			continue
		}
		var p rtpPacket
		p.src, _ = strconv.Atoi(f[0])
		p.dst, _ = strconv.Atoi(f[1])
		p.pt, _ = strconv.Atoi(f[2])
		p.seq, _ = strconv.Atoi(f[3])
		p.payload, _ = hex.DecodeString(strings.ReplaceAll(f[4], ":", ""))
		pkts = append(pkts, p)
	}
	return pkts
}
