//go:build e2e

package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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

type capture struct {
	t    *testing.T
	file string
	port int
	cmd  *exec.Cmd
}

// startCapture records UDP traffic to and from port on lo with tshark, an
// independent observer of what the daemon really sends.
func startCapture(t *testing.T, port int) *capture {
	t.Helper()
	c := &capture{t: t, file: filepath.Join(t.TempDir(), "rtp.pcap"), port: port}
	c.cmd = exec.Command("tshark", "-q", "-i", "lo", "-f", fmt.Sprintf("udp port %d", port), "-w", c.file,
		"-a", "duration:60")
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tshark: %v", err)
	}
	t.Cleanup(func() { c.cmd.Process.Kill(); c.cmd.Wait() })
	time.Sleep(2 * time.Second) // tshark needs a moment before it really captures
	return c
}

// stop ends the capture and decodes the RTP packets.
func (c *capture) stop() []rtpPacket {
	c.t.Helper()
	time.Sleep(500 * time.Millisecond)
	c.cmd.Process.Signal(syscall.SIGINT)
	c.cmd.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tshark", "-r", c.file, "-d", fmt.Sprintf("udp.port==%d,rtp", c.port),
		"-T", "fields", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "rtp.p_type", "-e", "rtp.seq",
		"-e", "rtp.payload", "-Y", "rtp").Output()
	if err != nil {
		c.t.Fatalf("tshark -r: %v", err)
	}
	var pkts []rtpPacket
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 5 {
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
